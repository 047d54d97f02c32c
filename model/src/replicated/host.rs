//! Hosts of the replicated model: carrying out a replica's outputs (with crash points), the
//! relay hop, restarts, and what the history observes at the group's boundary.

use e2ee_backup::GroupId;
use e2ee_backup::internal::consensus::ReplicaId;
use e2ee_backup::internal::crypto::symbolic::{SymbolicSuite, inspect};
use e2ee_backup::internal::relay::{ConnectionId, RelayOutput};
use e2ee_backup::internal::vault::replica_wire::decode_replica_write;
use e2ee_backup::internal::vault::{
    ConsensusStore, OwnedTrustedState, RecordState, ReplicaPlace, ReplicaWrite, ReplicatedVault,
    ReplicatedVaultOutput, VaultFault, open_disk,
};
use e2ee_backup::internal::wire::{ClientReply, Reply, ReplyBody, VaultReply};
use stateright::semantics::ConsistencyTester;

use super::spec::SpecRet;
use super::state::{Packet, ReplicatedState};
use super::{GROUP, Input, ReplicatedModel};
use crate::config::Broken;
use crate::model::{OWNER_BACKUP_KEY, OWNER_PASSWORD};
use crate::state::RELAY;

impl ReplicatedModel {
    /// Starts a replica over `store` and carries out what it emits first.
    pub(super) fn install(
        &self,
        state: &mut ReplicatedState,
        id: u8,
        store: ConsensusStore<OwnedTrustedState>,
    ) {
        let Some(host) = state.replicas.get_mut(usize::from(id)) else {
            return;
        };
        let mut vault = ReplicatedVault::new(SymbolicSuite, self.fleet.clone(), store);
        if self.config.broken == Some(Broken::SharedOprfKey) {
            vault.inject_fault(VaultFault::SharedOprfKey);
        }
        vault.start(&mut host.rng);
        host.vault = Some(vault);
        self.carry_out(state, id, None);
    }

    /// A down replica restarts: from its disk, or (amnesia, or an interrupted recovery left no
    /// meta on disk) without it.
    pub(super) fn restart(&self, state: &mut ReplicatedState, id: u8, amnesia: bool) -> Option<()> {
        let place = ReplicaPlace {
            group: GroupId(GROUP),
            replica: ReplicaId(id),
        };
        let host = state.replicas.get_mut(usize::from(id))?;
        if host.vault.is_some() {
            return None;
        }
        host.incarnation += 1;
        host.rolled_back = false;
        if amnesia {
            host.disk.clear();
            host.disk_accepted = None;
            host.amnesiac = true;
        }
        let disk = host
            .disk
            .iter()
            .map(|(slot, sealed)| (slot, sealed.as_slice()));
        let opened = open_disk(&SymbolicSuite, &self.fleet, place, disk);
        // A write this host made itself always opens.
        if !opened.unusable.is_empty() {
            return None;
        }
        let store = ConsensusStore::start_with_fault(
            GroupId(GROUP),
            ReplicaId(id),
            self.group_config(),
            &opened.image,
            host.trusted,
            host.incarnation,
            host.now_ms,
            self.store_fault(),
        )
        .ok()?;
        if !store.replica().is_voting() {
            // The store did not trust the disk (lost, rolled back, or an interrupted batch of
            // writes): it recovers as an amnesiac and its old writes are void.
            host.amnesiac = true;
            host.disk.clear();
            host.disk_accepted = None;
        }
        state.history.restarted |= !amnesia;
        self.install(state, id, store);
        Some(())
    }

    /// Delivers a packet (the relay's forwarding and the replica's reply folded in); with
    /// `crash = Some(j)` the replica that handles it crashes at crash point `j` of its step.
    pub(super) fn deliver(
        &self,
        state: &mut ReplicatedState,
        packet: Packet,
        crash: Option<usize>,
    ) -> Option<()> {
        match packet {
            Packet::ClientToRelay { connection, bytes } => {
                let now = state.relay_now_ms;
                state.relay.handle_client_message(now, connection, &bytes);
                let crashed = self.relay_outputs(state, crash);
                (crash.is_none() || crashed).then_some(())
            }
            Packet::RelayToClient { connection, bytes } => {
                if crash.is_some() {
                    return None;
                }
                self.device_receives(state, connection, &bytes)
            }
            Packet::Peer { to, bytes, .. } => {
                let up = state
                    .replicas
                    .get(usize::from(to))
                    .is_some_and(|r| r.vault.is_some());
                if !up {
                    // Lost: nobody listens.
                    return crash.is_none().then_some(());
                }
                self.step_replica(state, to, Input::Peer(bytes), crash)
            }
        }
    }

    /// Carries out the relay's outputs: replies onto the network, forwarded requests straight
    /// into the replica the relay chose (lost if it is down). Returns whether a replica step
    /// took the crash.
    pub(super) fn relay_outputs(
        &self,
        state: &mut ReplicatedState,
        mut crash: Option<usize>,
    ) -> bool {
        let mut crashed = false;
        while let Some(out) = state.relay.poll_output() {
            match out {
                RelayOutput::ToReplica { replica, bytes, .. } => {
                    let up = state
                        .replicas
                        .get(usize::from(replica))
                        .is_some_and(|r| r.vault.is_some());
                    if up {
                        let j = crash.take();
                        let ok = self
                            .step_replica(state, replica, Input::Relay(bytes), j)
                            .is_some();
                        crashed |= j.is_some() && ok;
                    }
                }
                RelayOutput::ToClient { connection, bytes } => {
                    Self::send(state, Packet::RelayToClient { connection, bytes });
                }
            }
        }
        crashed
    }

    /// Replica `id` handles `input`; its host carries out the outputs in order, or crashes at
    /// crash point `crash`. `None` if that crash point does not exist for this step.
    pub(super) fn step_replica(
        &self,
        state: &mut ReplicatedState,
        id: u8,
        input: Input,
        crash: Option<usize>,
    ) -> Option<()> {
        let host = state.replicas.get_mut(usize::from(id))?;
        let now = host.now_ms;
        let vault = host.vault.as_mut()?;
        match input {
            Input::Relay(bytes) => vault.handle_relay_message(now, &mut host.rng, RELAY, &bytes),
            Input::Peer(bytes) => vault.handle_replica_message(now, &mut host.rng, &bytes),
            Input::Timeout => {
                let deadline = vault.poll_timeout()?;
                host.now_ms = host.now_ms.max(deadline);
                vault.handle_timeout(host.now_ms, &mut host.rng);
            }
        }
        self.carry_out(state, id, crash)
    }

    /// Carries out replica `id`'s pending outputs (see [`ReplicatedModel::step_replica`]).
    fn carry_out(&self, state: &mut ReplicatedState, id: u8, crash: Option<usize>) -> Option<()> {
        let host = state.replicas.get_mut(usize::from(id))?;
        let vault = host.vault.as_mut()?;
        let mut outputs = Vec::new();
        while let Some(out) = vault.poll_output() {
            outputs.push(out);
        }
        if self.config.broken == Some(Broken::ReplyBeforePersist) {
            // The broken host acts on sends and replies before the writes queued ahead of them.
            outputs.sort_by_key(|o| matches!(o, ReplicatedVaultOutput::Persist { .. }));
        }
        let carried = match crash {
            None => outputs.len(),
            Some(j) => {
                // Crash points: after each durable write, and after the whole step. (A crash
                // before the step is the crash after this replica's previous step, with this
                // message lost.)
                let mut points = Vec::new();
                for (i, o) in outputs.iter().enumerate() {
                    if matches!(o, ReplicatedVaultOutput::Persist { .. }) {
                        points.push(i + 1);
                    }
                }
                points.push(outputs.len());
                points.dedup();
                *points.get(j)?
            }
        };
        for output in outputs.into_iter().take(carried) {
            match output {
                ReplicatedVaultOutput::Persist { slot, sealed } => {
                    observe_write(state, id, &sealed, self.quorum());
                    if let Some(host) = state.replicas.get_mut(usize::from(id)) {
                        host.disk.insert(slot, sealed);
                    }
                }
                ReplicatedVaultOutput::ToReplica { to, bytes } => {
                    if self.replication.skip_prepare {
                        observe_accept(state, &bytes);
                    }
                    Self::send(
                        state,
                        Packet::Peer {
                            from: id,
                            to: to.0,
                            bytes,
                        },
                    );
                }
                ReplicatedVaultOutput::ToRelay { bytes, .. } => {
                    observe_reply(state, &bytes);
                    let now = state.relay_now_ms;
                    state.relay.handle_vault_message(now, &bytes);
                    self.relay_outputs(state, None);
                }
            }
        }
        if crash.is_some()
            && let Some(host) = state.replicas.get_mut(usize::from(id))
        {
            // The HSM's trusted cell survives the crash.
            if let Some(vault) = host.vault.take() {
                host.trusted = *vault.store().trusted();
            }
        }
        if let Some(host) = state.replicas.get_mut(usize::from(id))
            && host.amnesiac
            && host
                .vault
                .as_ref()
                .is_some_and(|v| v.store().replica().is_voting())
        {
            host.amnesiac = false;
            state.history.amnesiac_recovered = true;
        }
        Some(())
    }

    /// A device receives a reply; the first reply to its pending login request returns it
    /// (INV-LINEAR).
    fn device_receives(
        &self,
        state: &mut ReplicatedState,
        connection: ConnectionId,
        bytes: &[u8],
    ) -> Option<()> {
        let i = usize::try_from(connection.0).ok()?;
        if let Ok(reply) = ClientReply::decode(bytes)
            && let Some(Some(pending)) = state.pending.get(i).cloned()
            && pending.request_id == reply.request_id
            && let ReplyBody::Sealed(sealed) = &reply.body
            && let Some(plain) = inspect::reply_plaintext(sealed)
            && let Ok(body) = Reply::decode_padded(&plain)
            && let Some(ret) = spec_ret(&body)
        {
            let _ = state.linear.on_return(pending.thread, ret);
            state.history.returns = state.history.returns.saturating_add(1);
            if let Some(slot) = state.pending.get_mut(i) {
                *slot = None;
            }
        }
        let device = state.devices.get_mut(i)?;
        let now = device.now_ms;
        device
            .client
            .handle_relay_message(now, &mut device.rng, bytes);
        self.drain_device(state, i);
        Some(())
    }
}

/// The specification's view of a reply; `None` for replies that say "retry later" (the
/// request stays in flight for the tester).
fn spec_ret(reply: &Reply) -> Option<SpecRet> {
    match reply {
        Reply::LoginChallenge {
            attempts_remaining, ..
        } => Some(SpecRet::Challenge {
            remaining: *attempts_remaining,
        }),
        Reply::KeyReleased { .. } => Some(SpecRet::Released),
        Reply::LoginFailed { attempts_remaining } => Some(SpecRet::Failed {
            remaining: *attempts_remaining,
        }),
        Reply::Locked => Some(SpecRet::Locked),
        Reply::UnknownLogin => Some(SpecRet::UnknownLogin),
        Reply::NoRecord => Some(SpecRet::NoRecord),
        Reply::RegistrationResponse { .. }
        | Reply::Registered { .. }
        | Reply::RegistrationStale { .. }
        | Reply::Exposed { .. }
        | Reply::ProofRejected
        | Reply::Deleted
        | Reply::Busy
        | Reply::InvalidRequest
        | Reply::Status { .. }
        | Reply::LoginStale { .. }
        | Reply::OutcomeUnknown => None,
    }
}

/// Skip-Prepare configurations: an `Accept` at a ballot that an earlier `Accept` announced as
/// its `next` skipped phase 1 (next ballots are fresh: no `Prepare` ever named them).
fn observe_accept(state: &mut ReplicatedState, bytes: &[u8]) {
    use e2ee_backup::internal::consensus::PeerMessage;
    use e2ee_backup::internal::vault::ReplicaBody;
    let Some(message) = super::state::peer_message(bytes) else {
        return;
    };
    let ReplicaBody::Peer(PeerMessage::Accept { ballot, next, .. }) = message.body else {
        return;
    };
    let history = &mut state.history;
    if history.announced_next.contains(&ballot) {
        history.skipped_prepare = true;
    }
    if let Some(next) = next {
        history.announced_next.insert(next);
    }
}

/// Records a durable acceptor write: once a majority durably accepted one ballot its value is
/// chosen; a chosen record with `attempts_used = 0` (exposure or a verified login took effect)
/// starts a new window of attempts (INV-ATTEMPTS).
fn observe_write(state: &mut ReplicatedState, id: u8, sealed: &[u8], quorum: usize) {
    let Some(plain) = inspect::storage_plaintext(sealed) else {
        return;
    };
    let Ok(ReplicaWrite::Register {
        state: acceptor, ..
    }) = decode_replica_write(&plain).map(|c| c.write)
    else {
        return;
    };
    let Some(accepted) = acceptor.accepted else {
        return;
    };
    if let Some(host) = state.replicas.get_mut(usize::from(id)) {
        host.disk_accepted = Some((
            accepted.ballot,
            accepted.value.as_ref().map(|r| r.generation),
        ));
    }
    let history = &mut state.history;
    // Any record an acceptor holds durably may be chosen: its registration's OPRF key is live
    // (INV-ATTEMPTS counts every answer under it); only a chosen record ends a registration.
    if let Some(record) = &accepted.value {
        history.observed.challenges.observe_record(record, false);
    }
    if history.highest_chosen.is_some_and(|c| accepted.ballot <= c) {
        return;
    }
    let acceptors = history.accepts.entry(accepted.ballot).or_default();
    acceptors.insert(id);
    if acceptors.len() < quorum {
        return;
    }
    history.highest_chosen = Some(accepted.ballot);
    history.accepts.retain(|b, _| *b > accepted.ballot);
    if let Some(record) = &accepted.value {
        history.observed.challenges.observe_record(record, true);
    }
    if let Some(record) = accepted.value
        && let RecordState::Active(active) = &record.state
        && active.attempts_used == 0
    {
        history.observed.challenges.reset(record.generation);
    }
}

/// Records what a reply leaving a replica releases (INV-ATTEMPTS, INV-DISCLOSE, lockout,
/// INV-DURABLE).
fn observe_reply(state: &mut ReplicatedState, bytes: &[u8]) {
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
    // The replicated configurations pre-register one generation; `Locked` names none.
    let current = history.acknowledged.max(1);
    match body {
        Reply::LoginChallenge {
            login_id,
            generation,
            credential_response,
            ..
        } => {
            if generation < history.acknowledged {
                history.durable_violated = true;
            }
            if history.erased.contains(&generation) {
                history.observed.lockout_violated = true;
            }
            history
                .observed
                .challenges
                .record(login_id, generation, &credential_response);
        }
        Reply::KeyReleased { sealed_wrapped_key } => {
            let release = inspect::release(&sealed_wrapped_key);
            let generation = release
                .as_ref()
                .and_then(|r| history.observed.challenges.generation_of(&r.login_id));
            match (&release, generation) {
                (Some(r), Some(g))
                    if r.session_password == OWNER_PASSWORD
                        && r.backup_key == OWNER_BACKUP_KEY
                        && !history.erased.contains(&g) => {}
                _ => history.observed.disclose_violated = true,
            }
            if generation.is_some_and(|g| history.erased.contains(&g)) {
                history.observed.lockout_violated = true;
            }
        }
        Reply::Locked => {
            history.erased.insert(current);
            history.observed.locked = true;
        }
        Reply::NoRecord => {
            if history.acknowledged > 0 {
                history.durable_violated = true;
            }
        }
        // INV-ATTEMPTS: an answer to a `RegisterStart` under the live record's OPRF key is a
        // password test too (the broken `shared-oprf-key` vault).
        Reply::RegistrationResponse {
            registration_response,
            ..
        } => history
            .observed
            .challenges
            .record_registration_response(&registration_response),
        Reply::LoginFailed { .. }
        | Reply::UnknownLogin
        | Reply::Registered { .. }
        | Reply::RegistrationStale { .. }
        | Reply::Exposed { .. }
        | Reply::ProofRejected
        | Reply::Deleted
        | Reply::Busy
        | Reply::InvalidRequest
        | Reply::Status { .. }
        | Reply::LoginStale { .. }
        | Reply::OutcomeUnknown => {}
    }
}
