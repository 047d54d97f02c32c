//! The stateright model of the REPLICATED vault (SPEC.md "Model checking", "Replicated vault").
//!
//! Actors: the devices (real `Client`s), the real `Relay` with `replicas_per_group = N`, and N
//! real `ReplicatedVault<_, ConsensusStore>` replicas (per-account CASPaxos), each inside a host
//! that carries out its outputs in order (`Persist` writes its disk, `ToReplica` puts a
//! sealed envelope on the network, `ToRelay` reaches the relay at once), may crash after
//! any durable write of a step (or before or after the whole step), stays down until a
//! `Restart` action restores it from its disk, or — when the configuration allows — comes
//! back without its disk (`recover_amnesiac`). Device↔relay and replica↔replica messages share
//! one unordered network that reorders, drops (when lossy) and duplicates (within a budget).
//! Every timer (client retry, relay failover, consensus round timeout and backoff) is a
//! nondeterministic `Timeout` action enabled while the role has a deadline; the host's clock
//! jumps to that deadline. Consensus timeouts are bounded by a budget.

pub mod spec;
pub mod state;

mod host;

use std::collections::BTreeMap;

use e2ee_backup::GroupId;
use e2ee_backup::internal::client::{ClientConfig, ClientOutcome, ClientOutput};
use e2ee_backup::internal::consensus::{Config, FaultInjection, ReplicaId};
use e2ee_backup::internal::crypto::symbolic::{SymbolicFleetSecrets, SymbolicSuite};
use e2ee_backup::internal::relay::{ConnectionId, FirstReplica, RelayConfig};
use e2ee_backup::internal::vault::{ConsensusStore, DurableSlot, OwnedTrustedState, StoreFault};
use e2ee_backup::internal::wire::{ClientRequest, RequestKind};
use e2ee_backup::{AccountId, BackupKey, Client, CryptoSuite, FleetId, Relay};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};
use stateright::{Model, Property};

use crate::config::{Broken, ModelConfig, Op, Replication};
use crate::model::{ACCOUNT, ATTACKER_PASSWORD, OWNER_BACKUP_KEY, OWNER_PASSWORD};
use crate::properties::{self, Observations, Observes};
use crate::rng::CounterRng;
use crate::state::Device;
use spec::{AccountSpec, SpecOp, SpecRet};
use state::{DiskCopy, History, Packet, PendingRequest, ReplicaHost, ReplicatedState};

const FLEET: &[u8] = b"fleet";
/// RNG streams of the replica hosts (devices use 1, 2, …).
const REPLICA_STREAM: u32 = 0x100;
/// The connection of the pre-registration device.
const SETUP_CONNECTION: ConnectionId = ConnectionId(1_000);
/// Crash points a step may offer: after each of its durable writes, after all of its outputs
/// (a step makes at most a few writes).
pub const MAX_CRASH_POINTS: usize = 3;
/// The replica group's id (one group in the model).
pub const GROUP: u32 = 0;
/// `consensus::Config::regenesis_after_ms` in the configurations with re-genesis: a stalled
/// recovery runs its census at its next timer (every timer costs the search a timeout of its
/// budget, and the model explores every order anyway).
const REGENESIS_AFTER_MS: u64 = 1;
/// The linearizability tester's thread of the group's re-genesis (not a device).
const REGENESIS_THREAD: (u8, u8) = (u8::MAX, 0);

/// A step of the replicated model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Device `i` starts the next operation of its script.
    Start(usize),
    /// Device `i`'s retry timer fires.
    Timeout(usize),
    /// The relay's failover timer fires.
    RelayTimeout,
    /// Replica `r`'s consensus timer fires (round timeout, backoff or recovery resend).
    ReplicaTimeout(u8),
    /// The network delivers one copy of a device or relay message.
    Deliver(Packet),
    /// The link delivers its `index`-th oldest message (shown as the packet).
    DeliverPeer(Packet, usize),
    /// As `DeliverPeer`, and the receiving replica crashes at the given crash point.
    DeliverPeerThenCrash(Packet, usize, usize),
    /// The link loses its `index`-th oldest message.
    DropPeer(Packet, usize),
    /// The link duplicates its `index`-th oldest message (the copy arrives after the others).
    DuplicatePeer(Packet, usize),
    /// The network delivers a message; the replica that handles it (for a device request: the
    /// one the relay forwards it to) crashes at the given crash point of that step.
    DeliverThenCrash(Packet, usize),
    /// The network drops one copy of a message.
    Drop(Packet),
    /// The network duplicates a message.
    Duplicate(Packet),
    /// A down replica restarts from its disk.
    Restart(u8),
    /// A down replica restarts without its disk (amnesia) and recovers before it votes.
    RestartAmnesiac(u8),
    /// The operator copies replica `r`'s disk (the HSM's trusted cell is out of reach).
    Snapshot(u8),
    /// The operator stops replica `r` (if it runs) and puts the copy of its disk back; it stays
    /// down until `Restart`.
    Rollback(u8),
}

/// The replicated model of one configuration.
#[derive(Clone, Debug)]
pub struct ReplicatedModel {
    /// The configuration.
    pub config: ModelConfig,
    /// Its replication settings.
    pub replication: Replication,
    account: AccountId,
    fleet: SymbolicFleetSecrets,
}

impl ReplicatedModel {
    /// The model of `config`; `None` if it has no replication.
    pub fn new(config: ModelConfig) -> Option<Self> {
        let replication = config.replication?;
        Some(Self {
            config,
            replication,
            account: AccountId::new(ACCOUNT).ok()?,
            fleet: SymbolicFleetSecrets::new(FleetId::new(FLEET).ok()?),
        })
    }

    /// The consensus configuration every replica runs.
    pub fn group_config(&self) -> Config {
        let mut config = Config::new((0..self.replication.replicas).map(ReplicaId));
        config.max_rounds = self.replication.max_rounds;
        // Re-genesis (SPEC.md "Re-genesis") runs only in the configurations made for it, so the
        // others keep their pinned state counts.
        config.regenesis_after_ms = self.replication.regenesis.then_some(REGENESIS_AFTER_MS);
        config.skip_prepare = self.replication.skip_prepare;
        if self.config.broken == Some(Broken::QuorumTooSmall) {
            config.fault = FaultInjection::QuorumTooSmall;
        }
        config
    }

    /// The replicated store's deliberately broken behaviour, if the configuration has one.
    pub fn store_fault(&self) -> StoreFault {
        match self.config.broken {
            Some(Broken::TrustHostDisk) => StoreFault::TrustHostDisk,
            Some(Broken::CensusQuorumTooSmall) => StoreFault::CensusQuorumTooSmall,
            Some(Broken::QuorumTooSmall | Broken::ReplyBeforePersist | Broken::SharedOprfKey)
            | None => StoreFault::None,
        }
    }

    /// The attempt limit of the registration.
    pub fn attempt_limit(&self) -> u32 {
        self.config.attempt_limit
    }

    /// The fleet secrets every replica holds.
    pub fn fleet(&self) -> &SymbolicFleetSecrets {
        &self.fleet
    }

    /// A majority of the group.
    pub fn quorum(&self) -> usize {
        usize::from(self.replication.replicas) / 2 + 1
    }

    /// A device's client. The owner resumes an unfinished login (the production default); an
    /// attacker never does, so the model keeps exploring an attacker who starts a new login
    /// after a lost one.
    fn client(&self, resume_unfinished_login: bool) -> Client<SymbolicSuite> {
        let pinned = SymbolicSuite.fleet_public_keys(&self.fleet);
        let config = ClientConfig {
            retry_interval_ms: 10_000,
            max_sends: self.config.max_sends,
            resume_unfinished_login,
        };
        Client::new(SymbolicSuite, pinned, self.account.clone(), config)
    }

    fn honest(&self, device: usize) -> bool {
        self.config.devices.get(device).is_some_and(|d| d.honest)
    }

    fn initial_state(&self) -> ReplicatedState {
        let mut relay = Relay::new(RelayConfig {
            bucket_capacity: 1_000,
            replicas_per_group: self.replication.replicas,
            first_replica: FirstReplica::Fixed(0),
            vault_retry_ms: 1_000,
            vault_sends_max: self.replication.relay_sends,
            ..RelayConfig::default()
        });
        let n = self.config.devices.len();
        let devices = (0..n)
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
        let mut state = ReplicatedState {
            devices,
            pending: vec![None; n],
            next_thread: vec![0; n],
            logins: vec![None; n],
            relay,
            relay_now_ms: 0,
            replicas: Vec::new(),
            network: BTreeMap::new(),
            links: BTreeMap::new(),
            duplicates_left: self.config.max_duplicates,
            crashes_left: self.config.max_crashes,
            amnesia_left: self.replication.max_amnesia,
            snapshots_left: self.replication.max_snapshots,
            rollbacks_left: self.replication.max_rollbacks,
            replica_timeouts_left: self.replication.max_replica_timeouts,
            history: History::default(),
            linear: LinearizabilityTester::new(AccountSpec::new(self.config.attempt_limit)),
        };
        for id in 0..self.replication.replicas {
            state.replicas.push(ReplicaHost {
                vault: None,
                trusted: OwnedTrustedState::default(),
                disk: BTreeMap::new(),
                incarnation: 1,
                now_ms: 0,
                rng: CounterRng::new(REPLICA_STREAM + u32::from(id)),
                amnesiac: false,
                disk_accepted: None,
                snapshot: None,
                rolled_back: false,
            });
            let store = ConsensusStore::new(
                GroupId(GROUP),
                ReplicaId(id),
                self.group_config(),
                1,
                OwnedTrustedState::default(),
            );
            if let Ok(mut store) = store {
                store.inject_fault(self.store_fault());
                self.install(&mut state, id, store);
            }
        }
        self.preregister(&mut state);
        self.initial_faults(&mut state);
        state
    }

    /// The faults the configuration starts with, right after the registration: the last
    /// `initial_down` replicas crash (disks intact), and the `initial_amnesiacs` replicas just
    /// before them restart without their disks (replica 0, the relay's first choice, keeps
    /// voting unless every replica is hit).
    fn initial_faults(&self, state: &mut ReplicatedState) {
        let n = self.replication.replicas;
        let down = self.replication.initial_down.min(n);
        let amnesiacs = self.replication.initial_amnesiacs.min(n - down);
        let first_amnesiac = n - down - amnesiacs;
        for id in first_amnesiac..n {
            if let Some(host) = state.replicas.get_mut(usize::from(id))
                && let Some(vault) = host.vault.take()
            {
                // The HSM's trusted cell survives the crash.
                host.trusted = *vault.store().trusted();
            }
        }
        for id in first_amnesiac..n - down {
            let _ = self.restart(state, id, true);
        }
        state.history.majority_impaired = self.majority_impaired(state);
    }

    /// At least a quorum of the replicas is impaired (assumption A1 is broken: the group may
    /// lose its records).
    pub fn majority_impaired(&self, state: &ReplicatedState) -> bool {
        state.replicas.iter().filter(|h| Self::impaired(h)).count() >= self.quorum()
    }

    /// The re-genesis counters (lineages founded or joined, states abandoned) of each running
    /// replica, with its incarnation (the counters are per instance).
    fn regenesis_counters(state: &ReplicatedState) -> Vec<Option<(u64, (u64, u64))>> {
        state
            .replicas
            .iter()
            .map(|h| {
                h.vault
                    .as_ref()
                    .map(|v| (h.incarnation, v.store().regenesis_counts()))
            })
            .collect()
    }

    /// Judges a step's re-genesis events (SPEC.md "Re-genesis", G1): a replica that abandoned
    /// its state or founded or joined a lineage in this step may do so only if a quorum was
    /// impaired at once at some earlier state. The first founding empties the record for
    /// INV-LINEAR (the group's records are lost for good: `NoRecord` from then on).
    fn judge_regenesis(
        &self,
        state: &mut ReplicatedState,
        before: &[Option<(u64, (u64, u64))>],
        majority_impaired_before: bool,
    ) {
        let after = Self::regenesis_counters(state);
        let mut abandoned = false;
        let mut joined = false;
        for (b, a) in before.iter().zip(&after) {
            if let (Some((inc_b, (j_b, ab_b))), Some((inc_a, (j_a, ab_a)))) = (b, a)
                && inc_b == inc_a
            {
                abandoned |= ab_a > ab_b;
                joined |= j_a > j_b;
            }
        }
        if (abandoned || joined) && !majority_impaired_before {
            state.history.regenesis_unjustified = true;
        }
        if joined && !state.history.refounded {
            state.history.refounded = true;
            let _ = state.linear.on_invoke(REGENESIS_THREAD, SpecOp::Refound);
            let _ = state.linear.on_return(REGENESIS_THREAD, SpecRet::Refounded);
        }
        state.history.majority_impaired |= self.majority_impaired(state);
    }

    /// Registers the owner's key over a reliable, in-order path before the model starts (a
    /// setup device, not one of the model's devices), then delivers every replica message
    /// until the network is empty.
    fn preregister(&self, state: &mut ReplicatedState) {
        state
            .relay
            .handle_connection_opened(SETUP_CONNECTION, self.account.clone());
        let mut client = self.client(true);
        let mut rng = CounterRng::new(0xffff);
        let key = BackupKey::from_bytes(OWNER_BACKUP_KEY);
        let started =
            client.start_register(0, &mut rng, OWNER_PASSWORD, &key, self.config.attempt_limit);
        assert!(started.is_ok(), "pre-registration starts");
        let mut registered = false;
        loop {
            while let Some(out) = client.poll_output() {
                match out {
                    ClientOutput::Send { bytes } => {
                        state
                            .relay
                            .handle_client_message(0, SETUP_CONNECTION, &bytes);
                        self.relay_outputs(state, None);
                    }
                    ClientOutput::Completed { outcome, .. } => {
                        assert_eq!(outcome, ClientOutcome::Registered { generation: 1 });
                        registered = true;
                    }
                }
            }
            let packet = match state.links.keys().next().copied() {
                Some((from, to)) => match Self::take_peer(state, from, to, 0) {
                    Some(bytes) => Packet::Peer { from, to, bytes },
                    None => break,
                },
                None => {
                    let Some(packet) = state.network.keys().next().cloned() else {
                        break;
                    };
                    Self::take(state, &packet);
                    packet
                }
            };
            match packet {
                Packet::RelayToClient { connection, bytes } => {
                    assert_eq!(connection, SETUP_CONNECTION);
                    client.handle_relay_message(0, &mut rng, &bytes);
                }
                Packet::Peer { to, bytes, .. } => {
                    self.step_replica(state, to, Input::Peer(bytes), None);
                }
                Packet::ClientToRelay { .. } => panic!("no device runs during set-up"),
            }
        }
        assert!(registered, "pre-registration completes");
        state.relay.handle_connection_closed(SETUP_CONNECTION);
        state.history.acknowledged = 1;
    }

    fn send(state: &mut ReplicatedState, packet: Packet) {
        match packet {
            Packet::Peer { from, to, bytes } => {
                state.links.entry((from, to)).or_default().push_back(bytes);
            }
            packet => crate::multiset::put(&mut state.network, packet),
        }
    }

    /// Removes the `index`-th oldest message of link (from, to).
    fn take_peer(state: &mut ReplicatedState, from: u8, to: u8, index: usize) -> Option<Vec<u8>> {
        let queue = state.links.get_mut(&(from, to))?;
        let bytes = queue.remove(index)?;
        if queue.is_empty() {
            state.links.remove(&(from, to));
        }
        Some(bytes)
    }

    fn take(state: &mut ReplicatedState, packet: &Packet) -> bool {
        crate::multiset::take(&mut state.network, packet)
    }

    /// Device `i`'s outputs: requests onto the network (recording new vault requests as
    /// invocations for INV-LINEAR), outcomes into the history.
    fn drain_device(&self, state: &mut ReplicatedState, i: usize) {
        let honest = self.honest(i);
        let any_down = state.replicas.iter().any(|r| r.vault.is_none());
        let crashed_before = state.crashes_left < self.config.max_crashes;
        let Some(device) = state.devices.get_mut(i) else {
            return;
        };
        let mut sends = Vec::new();
        let mut outcomes = Vec::new();
        while let Some(out) = device.client.poll_output() {
            match out {
                ClientOutput::Send { bytes } => sends.push(bytes),
                ClientOutput::Completed { outcome, .. } => {
                    device.running = false;
                    device.outcomes.push(outcome.clone());
                    outcomes.push(outcome);
                }
            }
        }
        let next_op = device.next_op;
        for outcome in outcomes {
            if honest
                && outcome == ClientOutcome::Recovered(BackupKey::from_bytes(OWNER_BACKUP_KEY))
            {
                state.history.observed.recovered = true;
                state.history.recovered_after_rollback |= state.history.rolled_back;
            }
            if outcome != ClientOutcome::Unavailable {
                state.history.completed_while_down |= any_down;
                state.history.observed.completed_after_crash |= crashed_before;
            }
        }
        for bytes in sends {
            self.invoke(state, i, next_op, honest, &bytes);
            Self::send(
                state,
                Packet::ClientToRelay {
                    connection: ConnectionId(i as u64),
                    bytes,
                },
            );
        }
    }

    /// Records a device's first send of a login request as an invocation (INV-LINEAR).
    fn invoke(
        &self,
        state: &mut ReplicatedState,
        i: usize,
        next_op: usize,
        honest: bool,
        bytes: &[u8],
    ) {
        let Ok(request) = ClientRequest::decode(bytes) else {
            return;
        };
        let resend = state
            .pending
            .get(i)
            .and_then(|p| p.as_ref())
            .is_some_and(|p| p.request_id == request.request_id);
        if resend {
            return;
        }
        let device = i as u8;
        let op = match request.kind {
            RequestKind::LoginStart => {
                let login = (device, next_op as u8);
                if let Some(slot) = state.logins.get_mut(i) {
                    *slot = Some(login);
                }
                SpecOp::LoginStart { login }
            }
            RequestKind::LoginFinish => {
                let Some(Some(login)) = state.logins.get(i).cloned() else {
                    return;
                };
                SpecOp::LoginFinish {
                    login,
                    verified: honest,
                }
            }
            _ => return,
        };
        let Some(seq) = state.next_thread.get_mut(i) else {
            return;
        };
        let thread = (device, *seq);
        // The same request may be carried out more than once (relay failover, duplicates,
        // a retried Accept round): a second thread holds the same operation, invoked at the
        // same time and never returning, so the tester may place one extra application of it
        // anywhere after the invocation (SPEC "Replicated vault", INV-LINEAR).
        let ghost = (device, seq.wrapping_add(1));
        *seq = seq.wrapping_add(2);
        let _ = state.linear.on_invoke(thread, op.clone());
        let _ = state.linear.on_invoke(ghost, op);
        if let Some(slot) = state.pending.get_mut(i) {
            *slot = Some(PendingRequest {
                thread,
                request_id: request.request_id,
            });
        }
    }

    fn password(&self, device: usize) -> &'static [u8] {
        if self.honest(device) {
            OWNER_PASSWORD
        } else {
            ATTACKER_PASSWORD
        }
    }

    /// Whether replica `id` is impaired: it lost its disk and has not finished recovery.
    pub fn impaired(host: &ReplicaHost) -> bool {
        match &host.vault {
            Some(vault) => !vault.store().replica().is_voting(),
            None => host.rolled_back || !host.disk.contains_key(&DurableSlot::Meta),
        }
    }

    fn start_op(&self, state: &mut ReplicatedState, i: usize) -> Option<()> {
        let op = *self
            .config
            .devices
            .get(i)?
            .script
            .get(state.devices.get(i)?.next_op)?;
        let password = self.password(i);
        let limit = self.config.attempt_limit;
        let device = state.devices.get_mut(i)?;
        if op == Op::ProbeRegister {
            let pinned = SymbolicSuite.fleet_public_keys(&self.fleet);
            let bytes = crate::probe::register_start(
                &mut device.rng,
                &pinned,
                &self.account,
                password,
                device.next_op,
            )?;
            device.next_op += 1;
            Self::send(
                state,
                Packet::ClientToRelay {
                    connection: ConnectionId(i as u64),
                    bytes,
                },
            );
            return Some(());
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
        self.drain_device(state, i);
        state.devices.get_mut(i)?.next_op += 1;
        Some(())
    }
}

/// What a replica step handles.
pub(crate) enum Input {
    /// A request the relay forwards.
    Relay(Vec<u8>),
    /// A sealed envelope from another replica.
    Peer(Vec<u8>),
    /// The replica's timer fired (its clock jumps to the deadline).
    Timeout,
}

impl Model for ReplicatedModel {
    type State = ReplicatedState;
    type Action = Action;

    fn init_states(&self) -> Vec<Self::State> {
        vec![self.initial_state()]
    }

    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>) {
        let timers =
            self.replication.eager_timers || (state.network.is_empty() && state.links.is_empty());
        for (i, device) in state.devices.iter().enumerate() {
            let script_len = self.config.devices.get(i).map_or(0, |d| d.script.len());
            if !device.running && device.next_op < script_len {
                actions.push(Action::Start(i));
            }
            if timers && device.client.poll_timeout().is_some() {
                actions.push(Action::Timeout(i));
            }
        }
        if timers && state.relay.poll_timeout().is_some() {
            actions.push(Action::RelayTimeout);
        }
        let down = state.replicas.iter().filter(|r| r.vault.is_none()).count();
        let any_impaired = state.replicas.iter().any(Self::impaired);
        for (id, host) in state.replicas.iter().enumerate() {
            let id = id as u8;
            match &host.vault {
                Some(vault)
                    if timers
                        && state.replica_timeouts_left > 0
                        && vault.poll_timeout().is_some() =>
                {
                    actions.push(Action::ReplicaTimeout(id));
                }
                Some(_) => {}
                None if timers => {
                    actions.push(Action::Restart(id));
                    if state.amnesia_left > 0 && !any_impaired {
                        actions.push(Action::RestartAmnesiac(id));
                    }
                }
                None => {}
            }
        }
        for (id, host) in state.replicas.iter().enumerate() {
            let id = id as u8;
            let at_start = state.devices.iter().all(|d| !d.running && d.next_op == 0);
            let may_copy = at_start || !self.replication.snapshot_at_start_only;
            if state.snapshots_left > 0 && host.snapshot.is_none() && may_copy {
                actions.push(Action::Snapshot(id));
            }
            let may_stop = host.vault.is_none() || down < usize::from(self.replication.max_down);
            if state.rollbacks_left > 0 && host.snapshot.is_some() && may_stop {
                actions.push(Action::Rollback(id));
            }
        }
        let may_crash = state.crashes_left > 0 && down < usize::from(self.replication.max_down);
        for packet in state.network.keys() {
            actions.push(Action::Deliver(packet.clone()));
            let target_up = match packet.peer_target() {
                Some(to) => state
                    .replicas
                    .get(usize::from(to))
                    .is_some_and(|r| r.vault.is_some()),
                None => matches!(packet, Packet::ClientToRelay { .. }),
            };
            if may_crash && target_up {
                for j in 0..MAX_CRASH_POINTS {
                    actions.push(Action::DeliverThenCrash(packet.clone(), j));
                }
            }
            if self.config.lossy {
                actions.push(Action::Drop(packet.clone()));
            }
            if state.duplicates_left > 0 {
                actions.push(Action::Duplicate(packet.clone()));
            }
        }
        for (&(from, to), queue) in &state.links {
            let target_up = state
                .replicas
                .get(usize::from(to))
                .is_some_and(|r| r.vault.is_some());
            for (index, bytes) in queue
                .iter()
                .take(self.replication.reorder_window)
                .enumerate()
            {
                let packet = Packet::Peer {
                    from,
                    to,
                    bytes: bytes.clone(),
                };
                if may_crash && target_up {
                    for j in 0..MAX_CRASH_POINTS {
                        actions.push(Action::DeliverPeerThenCrash(packet.clone(), index, j));
                    }
                }
                if self.config.lossy {
                    actions.push(Action::DropPeer(packet.clone(), index));
                }
                if state.duplicates_left > 0 {
                    actions.push(Action::DuplicatePeer(packet.clone(), index));
                }
                actions.push(Action::DeliverPeer(packet, index));
            }
        }
    }

    fn next_state(&self, last: &Self::State, action: Self::Action) -> Option<Self::State> {
        let mut state = self.step(last, action)?;
        if self.replication.regenesis {
            let before = Self::regenesis_counters(last);
            let majority_before = last.history.majority_impaired || self.majority_impaired(last);
            self.judge_regenesis(&mut state, &before, majority_before);
        }
        Some(state)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        property_list(self)
    }
}

impl ReplicatedModel {
    /// The state after `action`, without the re-genesis judgement.
    fn step(&self, last: &ReplicatedState, action: Action) -> Option<ReplicatedState> {
        let mut state = last.clone();
        match action {
            Action::Start(i) => self.start_op(&mut state, i)?,
            Action::Timeout(i) => {
                let device = state.devices.get_mut(i)?;
                let deadline = device.client.poll_timeout()?;
                device.now_ms = device.now_ms.max(deadline);
                device.client.handle_timeout(device.now_ms);
                self.drain_device(&mut state, i);
            }
            Action::RelayTimeout => {
                let deadline = state.relay.poll_timeout()?;
                state.relay_now_ms = state.relay_now_ms.max(deadline);
                state.relay.handle_timeout(state.relay_now_ms);
                self.relay_outputs(&mut state, None);
            }
            Action::ReplicaTimeout(id) => {
                state.replica_timeouts_left = state.replica_timeouts_left.checked_sub(1)?;
                self.step_replica(&mut state, id, Input::Timeout, None)?;
            }
            Action::Restart(id) => self.restart(&mut state, id, false)?,
            Action::RestartAmnesiac(id) => {
                state.amnesia_left = state.amnesia_left.checked_sub(1)?;
                self.restart(&mut state, id, true)?;
            }
            Action::Snapshot(id) => {
                state.snapshots_left = state.snapshots_left.checked_sub(1)?;
                let host = state.replicas.get_mut(usize::from(id))?;
                host.snapshot = Some(DiskCopy {
                    disk: host.disk.clone(),
                    disk_accepted: host.disk_accepted,
                });
            }
            Action::Rollback(id) => {
                state.rollbacks_left = state.rollbacks_left.checked_sub(1)?;
                let host = state.replicas.get_mut(usize::from(id))?;
                // The HSM's trusted cell survives; only the host's disk goes back.
                if let Some(vault) = host.vault.take() {
                    host.trusted = *vault.store().trusted();
                }
                let copy = host.snapshot.clone()?;
                host.disk = copy.disk;
                host.disk_accepted = copy.disk_accepted;
                host.rolled_back = true;
                state.history.rolled_back = true;
            }
            Action::Deliver(packet) | Action::DeliverThenCrash(packet, _)
                if !Self::take(&mut state, &packet) =>
            {
                return None;
            }
            Action::Deliver(packet) => self.deliver(&mut state, packet, None)?,
            Action::DeliverThenCrash(packet, j) => {
                state.crashes_left = state.crashes_left.checked_sub(1)?;
                self.deliver(&mut state, packet, Some(j))?;
            }
            Action::DeliverPeer(Packet::Peer { from, to, .. }, index) => {
                let bytes = Self::take_peer(&mut state, from, to, index)?;
                self.deliver(&mut state, Packet::Peer { from, to, bytes }, None)?;
            }
            Action::DeliverPeerThenCrash(Packet::Peer { from, to, .. }, index, j) => {
                state.crashes_left = state.crashes_left.checked_sub(1)?;
                let bytes = Self::take_peer(&mut state, from, to, index)?;
                self.deliver(&mut state, Packet::Peer { from, to, bytes }, Some(j))?;
            }
            Action::DropPeer(Packet::Peer { from, to, .. }, index) => {
                Self::take_peer(&mut state, from, to, index)?;
            }
            Action::DuplicatePeer(Packet::Peer { from, to, .. }, index) => {
                state.duplicates_left = state.duplicates_left.checked_sub(1)?;
                let bytes = state.links.get(&(from, to))?.get(index)?.clone();
                Self::send(&mut state, Packet::Peer { from, to, bytes });
            }
            Action::DeliverPeer(..)
            | Action::DeliverPeerThenCrash(..)
            | Action::DropPeer(..)
            | Action::DuplicatePeer(..) => return None,
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

    /// Whether the tester has found the history not linearizable.
    pub fn linearizable(state: &ReplicatedState) -> bool {
        state.linear.is_consistent()
    }
}

impl Observes for ReplicatedModel {
    fn attempt_limit(&self) -> usize {
        usize::try_from(self.config.attempt_limit).unwrap_or(usize::MAX)
    }

    fn observed(state: &ReplicatedState) -> &Observations {
        &state.history.observed
    }
}

impl ReplicatedModel {
    /// INV-DURABLE on the disks of `s` ([`properties::every_quorum_holds_the_registration`]).
    pub fn every_quorum_holds_the_registration(&self, s: &ReplicatedState) -> bool {
        let disks: Vec<Option<properties::DiskSummary>> = s
            .replicas
            .iter()
            .map(|host| (!Self::impaired(host)).then_some(host.disk_accepted))
            .collect();
        properties::every_quorum_holds_the_registration(
            s.history.acknowledged,
            self.quorum(),
            &disks,
        )
    }
}

/// Every property of `model`, in report order.
fn property_list(model: &ReplicatedModel) -> Vec<Property<ReplicatedModel>> {
    let honest = model.config.devices.iter().any(|d| d.honest);
    // A guesser who logs in (a prober alone never locks the record).
    let attacker = model
        .config
        .devices
        .iter()
        .any(|d| !d.honest && d.script.contains(&Op::Recover));
    let crashes = model.config.max_crashes > 0;
    // A group that starts with a majority impaired never serves the record again (it waits
    // for a re-genesis): no login is answered, so the siblings that need one are left out;
    // REGENESIS_HAPPENS shows that configuration is not vacuous.
    let serves = usize::from(model.replication.initial_amnesiacs) < model.quorum();
    let mut list = vec![properties::inv_attempts()];
    if serves {
        list.push(properties::attempt_limit_reached());
    }
    list.push(properties::inv_disclose());
    if honest && serves {
        list.push(properties::recovery_succeeds());
    }
    list.push(properties::lockout_permanent());
    if attacker {
        list.push(properties::lockout_happens());
    }
    list.push(Property::always(
        properties::INV_LINEAR,
        |_, s: &ReplicatedState| ReplicatedModel::linearizable(s),
    ));
    if serves {
        list.push(Property::sometimes(
            properties::LINEAR_HISTORY,
            |_, s: &ReplicatedState| s.history.returns >= 2 && ReplicatedModel::linearizable(s),
        ));
    }
    list.push(Property::always(
        properties::INV_DURABLE,
        |m: &ReplicatedModel, s: &ReplicatedState| {
            // Under assumption A1 only: a group with a majority impaired may lose records.
            s.history.majority_impaired
                || (!s.history.durable_violated && m.every_quorum_holds_the_registration(s))
        },
    ));
    if model.replication.skip_prepare {
        list.push(Property::sometimes(
            properties::SKIPS_PREPARE,
            |_, s: &ReplicatedState| s.history.skipped_prepare,
        ));
    }
    if model.replication.regenesis {
        list.push(Property::always(
            properties::INV_REGENESIS,
            |_, s: &ReplicatedState| !s.history.regenesis_unjustified,
        ));
        if usize::from(model.replication.initial_amnesiacs) >= model.quorum() {
            list.push(Property::sometimes(
                properties::REGENESIS_HAPPENS,
                |_, s: &ReplicatedState| s.history.refounded,
            ));
        }
    }
    if crashes {
        list.push(Property::sometimes(
            properties::REPLICA_RESTARTS,
            |_, s: &ReplicatedState| s.history.restarted,
        ));
        list.push(properties::completes_after_crash());
    }
    if crashes && model.replication.max_down > 0 {
        list.push(Property::sometimes(
            properties::COMPLETES_WHILE_DOWN,
            |_, s: &ReplicatedState| s.history.completed_while_down,
        ));
    }
    if model.replication.max_amnesia > 0 {
        list.push(Property::sometimes(
            properties::AMNESIAC_RECOVERS,
            |_, s: &ReplicatedState| s.history.amnesiac_recovered,
        ));
    }
    if model.replication.max_rollbacks > 0 {
        list.push(Property::sometimes(
            properties::ROLLBACK_HAPPENS,
            |_, s: &ReplicatedState| s.history.rolled_back,
        ));
        if honest {
            list.push(Property::sometimes(
                properties::RECOVERS_AFTER_ROLLBACK,
                |_, s: &ReplicatedState| s.history.recovered_after_rollback,
            ));
        }
    }
    list.push(Property::eventually(
        properties::SCRIPTS_END,
        |m: &ReplicatedModel, s: &ReplicatedState| {
            s.devices.iter().enumerate().all(|(i, d)| {
                !d.running && d.next_op >= m.config.devices.get(i).map_or(0, |c| c.script.len())
            })
        },
    ));
    list
}
