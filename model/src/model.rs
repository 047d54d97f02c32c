//! The stateright [`Model`] over the real roles (SPEC.md "Model checking").
//!
//! Actors: the devices (real [`Client`]s, owner or attacker), the real [`Relay`] and the real
//! [`SingleVault`] inside a host that carries out its outputs one by one, in order (a `Persist`
//! writes the durable record, a reply goes onto the network), may crash (dropping the replica's
//! volatile state and every output not carried out yet) and restarts from its durable record
//! with [`SingleVault::restore_record`]. The network is an unordered multiset: any message may
//! be delivered next (reordering), dropped (when lossy) or duplicated (within a budget).

use std::collections::BTreeMap;

use e2ee_backup::internal::client::{ClientConfig, ClientOutcome, ClientOutput};
use e2ee_backup::internal::crypto::symbolic::{SymbolicFleetSecrets, SymbolicSuite, inspect};
use e2ee_backup::internal::relay::{ConnectionId, RelayConfig, RelayOutput};
use e2ee_backup::internal::vault::{AccountRecord, RecordState, SingleVaultOutput, VaultFault};
use e2ee_backup::internal::wire::{Reply, ReplyBody, VaultReply};
use e2ee_backup::{AccountId, BackupKey, Client, CryptoSuite, FleetId, Relay, SingleVault};
use stateright::{Model, Property};

use crate::config::{Broken, ModelConfig, Op};
use crate::properties::{self, Observations, Observes};
use crate::rng::CounterRng;
use crate::state::{Device, History, ModelState, Packet, RELAY, VaultHost};

/// The owner's password.
pub const OWNER_PASSWORD: &[u8] = b"owner password";
/// The attacker's (wrong) password.
pub const ATTACKER_PASSWORD: &[u8] = b"attacker guess";
/// The owner's backup key.
pub const OWNER_BACKUP_KEY: [u8; 32] = [7; 32];
/// The one account of the model.
pub const ACCOUNT: &[u8] = b"alice";
const FLEET: &[u8] = b"fleet";
/// RNG stream of the vault host (devices use streams 1, 2, …).
const VAULT_STREAM: u32 = 0x100;

/// A step of the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Device `i` starts the next operation of its script.
    Start(usize),
    /// Device `i`'s retry timer fires.
    Timeout(usize),
    /// The network delivers one copy of a message.
    Deliver(Packet),
    /// The network delivers a request to the relay; the vault handles it and its host crashes
    /// after carrying out this many of the replica's outputs, then restarts from its durable
    /// record.
    DeliverThenCrash(Packet, usize),
    /// The network drops one copy of a message.
    Drop(Packet),
    /// The network duplicates a message.
    Duplicate(Packet),
}

/// Most outputs one request makes the vault emit (a write and a reply).
const MAX_OUTPUTS_PER_REQUEST: usize = 2;

/// The model of one configuration.
#[derive(Clone, Debug)]
pub struct VaultModel {
    /// The configuration.
    pub config: ModelConfig,
    account: AccountId,
    fleet: SymbolicFleetSecrets,
}

impl VaultModel {
    /// The model of `config`.
    pub fn new(config: ModelConfig) -> Self {
        Self {
            config,
            account: AccountId::new(ACCOUNT).unwrap_or_else(|_| unreachable!()),
            fleet: SymbolicFleetSecrets::new(
                FleetId::new(FLEET).unwrap_or_else(|_| unreachable!()),
            ),
        }
    }

    /// A device's client. The owner resumes an unfinished login (the production default); an
    /// attacker never does, so the model keeps exploring an attacker who starts a new login
    /// after a lost one.
    fn client(&self, resume_unfinished_login: bool) -> Client<SymbolicSuite> {
        let pinned = SymbolicSuite.fleet_public_keys(&self.fleet);
        let config = ClientConfig {
            retry_interval_ms: 1_000,
            max_sends: self.config.max_sends,
            resume_unfinished_login,
        };
        Client::new(SymbolicSuite, pinned, self.account.clone(), config)
    }

    /// A fresh vault replica (with the broken variant's fault, if any).
    fn new_replica(&self) -> SingleVault<SymbolicSuite> {
        let mut replica = SingleVault::new(SymbolicSuite, self.fleet.clone());
        if self.config.broken == Some(Broken::SharedOprfKey) {
            replica.inject_fault(VaultFault::SharedOprfKey);
        }
        replica
    }

    fn password(&self, device: usize) -> &'static [u8] {
        match self.config.devices.get(device) {
            Some(d) if d.honest => OWNER_PASSWORD,
            _ => ATTACKER_PASSWORD,
        }
    }

    fn initial_state(&self) -> ModelState {
        let mut relay = Relay::new(RelayConfig {
            bucket_capacity: 1_000,
            ..RelayConfig::default()
        });
        let devices = (0..self.config.devices.len())
            .map(|i| {
                relay.handle_connection_opened(ConnectionId(i as u64), self.account.clone());
                let honest = self.config.devices.get(i).is_some_and(|d| d.honest);
                Device {
                    client: self.client(honest),
                    rng: CounterRng::new(i as u32 + 1),
                    now_ms: 0,
                    next_op: 0,
                    running: false,
                    outcomes: Vec::new(),
                }
            })
            .collect();
        let mut state = ModelState {
            devices,
            relay,
            vault: VaultHost {
                replica: self.new_replica(),
                durable: None,
                rng: CounterRng::new(VAULT_STREAM),
                crashes: 0,
            },
            network: BTreeMap::new(),
            duplicates_left: self.config.max_duplicates,
            history: History::default(),
        };
        if self.config.preregistered {
            self.preregister(&mut state);
        }
        state
    }

    /// Registers the owner's key over a reliable, in-order path before the model starts (a
    /// setup device, not one of the model's devices).
    fn preregister(&self, state: &mut ModelState) {
        let setup: ConnectionId = ConnectionId(1_000);
        state
            .relay
            .handle_connection_opened(setup, self.account.clone());
        let mut client = self.client(true);
        let mut rng = CounterRng::new(0xffff);
        let key = BackupKey::from_bytes(OWNER_BACKUP_KEY);
        let started =
            client.start_register(0, &mut rng, OWNER_PASSWORD, &key, self.config.attempt_limit);
        assert!(started.is_ok(), "pre-registration starts");
        loop {
            match client.poll_output() {
                Some(ClientOutput::Send { bytes }) => {
                    state.relay.handle_client_message(0, setup, &bytes)
                }
                Some(ClientOutput::Completed { outcome, .. }) => {
                    assert_eq!(outcome, ClientOutcome::Registered { generation: 1 });
                    state.history.acknowledged = 1;
                    break;
                }
                None => panic!("pre-registration stalled"),
            }
            while let Some(out) = state.relay.poll_output() {
                match out {
                    RelayOutput::ToReplica { bytes, .. } => {
                        let replica = &mut state.vault.replica;
                        replica.handle_relay_message(0, &mut state.vault.rng, RELAY, &bytes);
                        while let Some(out) = replica.poll_output() {
                            match out {
                                SingleVaultOutput::Persist { sealed_record, .. } => {
                                    state.vault.durable = Some(sealed_record);
                                }
                                SingleVaultOutput::ToRelay { bytes, .. } => {
                                    state.relay.handle_vault_message(0, &bytes);
                                }
                            }
                        }
                    }
                    RelayOutput::ToClient { bytes, .. } => {
                        client.handle_relay_message(0, &mut rng, &bytes)
                    }
                }
            }
        }
        state.relay.handle_connection_closed(setup);
        // The registration's record (and its OPRF key) is what INV-ATTEMPTS starts from.
        observe_durable(state);
        observe_live(state);
    }

    fn send(state: &mut ModelState, packet: Packet) {
        crate::multiset::put(&mut state.network, packet);
    }

    fn take(state: &mut ModelState, packet: &Packet) -> bool {
        crate::multiset::take(&mut state.network, packet)
    }

    fn drain_device(&self, state: &mut ModelState, i: usize) {
        let crashed_before = state.vault.crashes > 0;
        let Some(device) = state.devices.get_mut(i) else {
            return;
        };
        let mut sends = Vec::new();
        while let Some(out) = device.client.poll_output() {
            match out {
                ClientOutput::Send { bytes } => sends.push(bytes),
                ClientOutput::Completed { outcome, .. } => {
                    device.running = false;
                    let honest = self.config.devices.get(i).is_some_and(|d| d.honest);
                    match &outcome {
                        ClientOutcome::Registered { generation } if honest => {
                            state.history.acknowledged =
                                state.history.acknowledged.max(*generation);
                        }
                        ClientOutcome::Recovered(key)
                            if honest && key == &BackupKey::from_bytes(OWNER_BACKUP_KEY) =>
                        {
                            state.history.observed.recovered = true;
                        }
                        _ => {}
                    }
                    if crashed_before && outcome != ClientOutcome::Unavailable {
                        state.history.observed.completed_after_crash = true;
                    }
                    device.outcomes.push(outcome);
                }
            }
        }
        for bytes in sends {
            Self::send(
                state,
                Packet::ClientToRelay {
                    connection: ConnectionId(i as u64),
                    bytes,
                },
            );
        }
    }

    /// The relay handles a device's request. What it forwards reaches the vault at once, and
    /// the replies the vault host carries out reach the relay at once (the relay–vault link is
    /// folded into the device–relay link, which drops, duplicates and reorders). With
    /// `crash_after = Some(k)` the host crashes after carrying out `k` outputs.
    fn relay_receives(
        &self,
        state: &mut ModelState,
        connection: ConnectionId,
        bytes: &[u8],
        mut crash_after: Option<usize>,
    ) -> Option<()> {
        state.relay.handle_client_message(0, connection, bytes);
        while let Some(out) = state.relay.poll_output() {
            match out {
                RelayOutput::ToReplica { bytes, .. } => {
                    for reply in self.vault_receives(state, &bytes, crash_after.take())? {
                        state.relay.handle_vault_message(0, &reply);
                    }
                }
                RelayOutput::ToClient { connection, bytes } => {
                    Self::send(state, Packet::RelayToClient { connection, bytes });
                }
            }
        }
        // A crash was asked for, but nothing reached the vault: not a distinct step.
        crash_after.is_none().then_some(())
    }

    /// The vault handles a request; its host carries out the outputs in order (the broken host:
    /// replies first), or only the first `crash_after` of them before it crashes and restarts.
    /// Returns the replies sent.
    fn vault_receives(
        &self,
        state: &mut ModelState,
        bytes: &[u8],
        crash_after: Option<usize>,
    ) -> Option<Vec<Vec<u8>>> {
        let replica = &mut state.vault.replica;
        replica.handle_relay_message(0, &mut state.vault.rng, RELAY, bytes);
        let mut outputs = Vec::new();
        while let Some(out) = replica.poll_output() {
            outputs.push(out);
        }
        observe_live(state);
        match self.config.broken {
            // A single replica has no quorum; `run` refuses this combination.
            None
            | Some(
                Broken::QuorumTooSmall
                | Broken::SharedOprfKey
                | Broken::TrustHostDisk
                | Broken::CensusQuorumTooSmall,
            ) => {}
            Some(Broken::ReplyBeforePersist) => {
                outputs.sort_by_key(|o| !matches!(o, SingleVaultOutput::ToRelay { .. }));
            }
        }
        let carried = match crash_after {
            Some(k) if k >= outputs.len() => return None,
            Some(k) => k,
            None => outputs.len(),
        };
        let mut replies = Vec::new();
        for output in outputs.into_iter().take(carried) {
            match output {
                SingleVaultOutput::Persist { sealed_record, .. } => {
                    state.vault.durable = Some(sealed_record);
                    observe_durable(state);
                }
                SingleVaultOutput::ToRelay { bytes, .. } => {
                    observe_reply(state, &bytes);
                    replies.push(bytes);
                }
            }
        }
        if crash_after.is_some() {
            self.crash_and_restart(state);
        }
        Some(replies)
    }

    /// The replica loses its volatile state and restarts from its durable record.
    fn crash_and_restart(&self, state: &mut ModelState) {
        let mut replica = self.new_replica();
        if let Some(sealed) = &state.vault.durable {
            // A record this host wrote itself always restores.
            let _ = replica.restore_record(self.account.clone(), sealed);
        }
        state.vault.replica = replica;
        state.vault.crashes += 1;
        if state.history.acknowledged > 0 {
            state.history.restarted_after_ack = true;
        }
        observe_live(state);
    }
}

/// The record inside a durable sealed record (symbolic storage seal).
pub fn durable_record(state: &ModelState) -> Option<AccountRecord> {
    let sealed = state.vault.durable.as_ref()?;
    let plain = inspect::storage_plaintext(sealed)?;
    AccountRecord::decode(&plain).ok()
}

fn is_live(record: &AccountRecord) -> bool {
    matches!(
        record.state,
        RecordState::Pending(_) | RecordState::Active(_)
    )
}

/// Checks a record against the history: erased generations stay erased (lockout is
/// permanent), acknowledged registrations stay (INV-DURABLE).
fn check_record(history: &mut History, record: Option<&AccountRecord>) {
    let generation = record.map_or(0, |r| r.generation);
    if generation < history.acknowledged {
        history.durable_violated = true;
    }
    if let Some(record) = record
        && is_live(record)
        && history.erased.contains(&record.generation)
    {
        history.observed.lockout_violated = true;
    }
}

fn observe_durable(state: &mut ModelState) {
    let record = durable_record(state);
    if let Some(r) = &record {
        match r.state {
            RecordState::Locked => {
                state.history.erased.insert(r.generation);
                state.history.observed.locked = true;
            }
            RecordState::Deleted => {
                state.history.erased.insert(r.generation);
            }
            // Exposure and a committed successful login both leave `attempts_used` at 0: the
            // count of challenges starts again (SPEC INV-ATTEMPTS).
            RecordState::Active(ref active) if active.attempts_used == 0 => {
                state.history.observed.challenges.reset(r.generation);
            }
            RecordState::Pending(_) | RecordState::Active(_) => {}
        }
    }
    if let Some(r) = &record {
        state.history.observed.challenges.observe_record(r, true);
    }
    check_record(&mut state.history, record.as_ref());
}

fn observe_live(state: &mut ModelState) {
    let record = state
        .vault
        .replica
        .store()
        .records()
        .values()
        .next()
        .cloned();
    // The live record may be ahead of the durable one (and lost in a crash): it can make a
    // registration live, never end one.
    if let Some(r) = &record {
        state.history.observed.challenges.observe_record(r, false);
    }
    check_record(&mut state.history, record.as_ref());
}

/// Records what a reply leaving the vault releases (INV-ATTEMPTS, INV-DISCLOSE).
fn observe_reply(state: &mut ModelState, bytes: &[u8]) {
    let Ok(reply) = VaultReply::decode(bytes) else {
        return;
    };
    let ReplyBody::Sealed(sealed) = &reply.body else {
        return;
    };
    let Some(plain) = inspect::reply_plaintext(sealed) else {
        return;
    };
    let Ok(body) = Reply::decode_padded(&plain) else {
        return;
    };
    let history = &mut state.history;
    match body {
        Reply::LoginChallenge {
            login_id,
            generation,
            credential_response,
            ..
        } => {
            history
                .observed
                .challenges
                .record(login_id, generation, &credential_response);
        }
        // INV-ATTEMPTS: an answer to a `RegisterStart` under the live record's OPRF key is a
        // password test too (the broken `shared-oprf-key` vault).
        Reply::RegistrationResponse {
            registration_response,
            ..
        } => {
            history
                .observed
                .challenges
                .record_registration_response(&registration_response);
        }
        Reply::KeyReleased { sealed_wrapped_key } => {
            let release = inspect::release(&sealed_wrapped_key);
            let generation = release
                .as_ref()
                .and_then(|r| history.observed.challenges.generation_of(&r.login_id));
            let ok = match (&release, generation) {
                (Some(r), Some(g)) => {
                    r.session_password == OWNER_PASSWORD
                        && r.backup_key == OWNER_BACKUP_KEY
                        && !history.erased.contains(&g)
                }
                _ => false,
            };
            if !ok {
                history.observed.disclose_violated = true;
            }
        }
        _ => {}
    }
}

impl Model for VaultModel {
    type State = ModelState;
    type Action = Action;

    fn init_states(&self) -> Vec<Self::State> {
        vec![self.initial_state()]
    }

    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>) {
        for (i, device) in state.devices.iter().enumerate() {
            let script_len = self.config.devices.get(i).map_or(0, |d| d.script.len());
            if !device.running && device.next_op < script_len {
                actions.push(Action::Start(i));
            }
            if device.client.poll_timeout().is_some() {
                actions.push(Action::Timeout(i));
            }
        }
        let may_crash = state.vault.crashes < self.config.max_crashes;
        for packet in state.network.keys() {
            actions.push(Action::Deliver(packet.clone()));
            if may_crash && matches!(packet, Packet::ClientToRelay { .. }) {
                for k in 0..MAX_OUTPUTS_PER_REQUEST {
                    actions.push(Action::DeliverThenCrash(packet.clone(), k));
                }
            }
            if self.config.lossy {
                actions.push(Action::Drop(packet.clone()));
            }
            if state.duplicates_left > 0 {
                actions.push(Action::Duplicate(packet.clone()));
            }
        }
    }

    fn next_state(&self, last: &Self::State, action: Self::Action) -> Option<Self::State> {
        let mut state = last.clone();
        match action {
            Action::Start(i) => {
                let op = *self
                    .config
                    .devices
                    .get(i)?
                    .script
                    .get(state.devices.get(i)?.next_op)?;
                let password = self.password(i);
                let limit = self.config.attempt_limit;
                let device = state.devices.get_mut(i)?;
                device.next_op += 1;
                if op == Op::ProbeRegister {
                    let pinned = SymbolicSuite.fleet_public_keys(&self.fleet);
                    let bytes = crate::probe::register_start(
                        &mut device.rng,
                        &pinned,
                        &self.account,
                        password,
                        device.next_op,
                    )?;
                    Self::send(
                        &mut state,
                        Packet::ClientToRelay {
                            connection: ConnectionId(i as u64),
                            bytes,
                        },
                    );
                    return Some(state);
                }
                device.running = true;
                let now = device.now_ms;
                let started = match op {
                    Op::Register => {
                        let key = BackupKey::from_bytes(OWNER_BACKUP_KEY);
                        device
                            .client
                            .start_register(now, &mut device.rng, password, &key, limit)
                    }
                    Op::Recover => device.client.start_recover(now, &mut device.rng, password),
                    Op::ProbeRegister => return None,
                };
                started.ok()?;
                self.drain_device(&mut state, i);
            }
            Action::Timeout(i) => {
                let device = state.devices.get_mut(i)?;
                let deadline = device.client.poll_timeout()?;
                device.now_ms = device.now_ms.max(deadline);
                device.client.handle_timeout(device.now_ms);
                self.drain_device(&mut state, i);
            }
            Action::Deliver(packet) | Action::DeliverThenCrash(packet, _)
                if !Self::take(&mut state, &packet) =>
            {
                return None;
            }
            Action::Deliver(Packet::ClientToRelay { connection, bytes }) => {
                self.relay_receives(&mut state, connection, &bytes, None)?;
            }
            Action::DeliverThenCrash(Packet::ClientToRelay { connection, bytes }, k) => {
                self.relay_receives(&mut state, connection, &bytes, Some(k))?;
            }
            Action::DeliverThenCrash(Packet::RelayToClient { .. }, _) => return None,
            Action::Deliver(Packet::RelayToClient { connection, bytes }) => {
                let i = usize::try_from(connection.0).ok()?;
                let device = state.devices.get_mut(i)?;
                let now = device.now_ms;
                device
                    .client
                    .handle_relay_message(now, &mut device.rng, &bytes);
                self.drain_device(&mut state, i);
            }
            Action::Drop(packet) => {
                if !Self::take(&mut state, &packet) {
                    return None;
                }
            }
            Action::Duplicate(packet) => {
                state.duplicates_left = state.duplicates_left.checked_sub(1)?;
                Self::send(&mut state, packet);
            }
        }
        Some(state)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            properties::inv_attempts(),
            properties::attempt_limit_reached(),
            properties::inv_disclose(),
            properties::recovery_succeeds(),
            properties::lockout_permanent(),
            properties::lockout_happens(),
            Property::always(properties::INV_DURABLE, |_, s: &ModelState| {
                !s.history.durable_violated
            }),
            Property::sometimes(properties::RESTART_AFTER_ACK, |_, s: &ModelState| {
                s.history.restarted_after_ack
            }),
            properties::completes_after_crash(),
        ]
    }
}

impl Observes for VaultModel {
    fn attempt_limit(&self) -> usize {
        usize::try_from(self.config.attempt_limit).unwrap_or(usize::MAX)
    }

    fn observed(state: &ModelState) -> &Observations {
        &state.history.observed
    }
}
