//! The world and its core loop: datacenters, relays, vault nodes and users exchange messages
//! through the simulated network, driven by one event queue and one seed.
//!
//! One concern per module: `config` and `result` are what a run is given and gives back;
//! `state` is the `World` itself and the events it schedules; `setup` builds it;
//! `dispatch` is the event loop; `hosts` wires the vault replicas, relays and phones to the
//! network; `tamper` applies the faults to messages in transit and `fault_actions` the faults
//! to hosts (the plan is [`crate::faults`]); `verdict` ends the run with the final checks.
//! Only `state` defines the world's fields; every other module adds `impl World` methods to it
//! and imports `state` (and the value types of `config` and `result`), never another module's
//! behaviour: the methods call each other through `self`, so the imports go one way.
//! (For now `tamper` and `fault_actions` are still the `impl World` below.)

mod config;
mod dispatch;
mod hosts;
mod result;
mod setup;
mod state;
mod verdict;

pub use config::{
    Broken, EVENTS_MAX, QUEUE_CAPACITY, SimConfig, VAULT_RETRY_MS, VAULT_SENDS_MAX, WorldSize,
};
pub use result::{RunResult, Stats};

/// Runs one seed of one scenario.
pub fn run(config: SimConfig) -> RunResult {
    let mut world = state::World::new(config);
    world.run();
    world.finish()
}

use crate::faults::{ClockTarget, FaultAction};
use crate::seed::{draw_chance, draw_range, fleet_secrets};
use crate::trace::TraceKind;
use crate::vault_node::REPLICAS_PER_GROUP;
use crate::workload::Role;
use e2ee_backup::internal::crypto::CryptoSuite as _;
use e2ee_backup::internal::crypto::real::InsecureFastSuite;
use e2ee_backup::internal::vault::LinkEnvelope;
use e2ee_backup::internal::vault::replica_link::link_aad;
use e2ee_backup::internal::wire::{ClientReply, VaultRequest};
use state::{Event, World, node_index};

/// Flips one byte of `bytes` (XOR with a nonzero value); with `routed`, bytes 2–9 (the
/// unauthenticated request or route id after version and code) are left alone.
fn flip_byte(bytes: &mut [u8], routed: bool, rng: &mut rand_chacha::ChaCha20Rng) {
    let skipped = if routed && bytes.len() > 10 { 8 } else { 0 };
    let choices = bytes.len().saturating_sub(skipped) as u64;
    if choices == 0 {
        return;
    }
    let mut at = usize::try_from(draw_range(rng, 0, choices - 1)).unwrap_or(0);
    if skipped > 0 && at >= 2 {
        at += skipped;
    }
    let mask = u8::try_from(draw_range(rng, 1, 255)).unwrap_or(1);
    if let Some(byte) = bytes.get_mut(at) {
        *byte ^= mask;
    }
}

/// `--broken unsealed-links`: opens a replica-link envelope with the fleet's link key, flips
/// one byte of the plaintext and seals it again (a link without an AEAD); envelopes that do
/// not open are left alone.
fn reseal_flipped(bytes: &mut Vec<u8>, seed: u64, rng: &mut rand_chacha::ChaCha20Rng) {
    let Ok(mut envelope) = LinkEnvelope::decode(bytes) else {
        return;
    };
    let fleet = fleet_secrets(seed);
    let aad = link_aad(envelope.group, envelope.from, envelope.to);
    let Ok(plain) = InsecureFastSuite.open_link(&fleet, &aad, &envelope.sealed) else {
        return;
    };
    let mut plain = plain.expose().to_vec();
    flip_byte(&mut plain, false, rng);
    let Ok(sealed) = InsecureFastSuite.seal_link(rng, &fleet, &aad, &plain) else {
        return;
    };
    envelope.sealed = sealed;
    *bytes = envelope.encode();
}

/// `--broken unsealed-links` on a relay's request: opens the sealed request with the fleet's
/// secrets, flips one byte of the plaintext and seals it to the fleet again (a request without
/// integrity); requests that do not decode or open are left alone.
fn reseal_request_flipped(bytes: &mut Vec<u8>, seed: u64, rng: &mut rand_chacha::ChaCha20Rng) {
    let Ok(mut request) = VaultRequest::decode(bytes) else {
        return;
    };
    let fleet = fleet_secrets(seed);
    let aad = e2ee_backup::internal::wire::request_aad(&request.account, request.kind);
    let Ok(opened) = InsecureFastSuite.open_request(&fleet, &aad, &request.sealed) else {
        return;
    };
    let mut plain = opened.plaintext.clone();
    flip_byte(&mut plain, false, rng);
    let public = InsecureFastSuite.fleet_public_keys(&fleet);
    let Ok(sealed) = InsecureFastSuite.seal_request(rng, &public, &aad, &plain) else {
        return;
    };
    request.sealed = sealed.sealed;
    *bytes = request.encode();
}

impl World {
    /// Schedules one network copy of a message `delay_ms` from now, with the faults of issue
    /// 12 before the heal: the copy may be kept and delivered again much later (a replay), and
    /// it may have one byte flipped in transit.
    pub(super) fn transmit(&mut self, delay_ms: u64, mut event: Event) {
        let extra = self.extra;
        if self.healed {
            self.schedule(delay_ms, event);
            return;
        }
        if extra.replay_per_million > 0
            && draw_chance(&mut self.extra_rng, extra.replay_per_million)
        {
            let later_ms = draw_range(
                &mut self.extra_rng,
                extra.replay_delay_ms_min,
                extra.replay_delay_ms_max,
            );
            self.stats.replays += 1;
            self.schedule(delay_ms.saturating_add(later_ms), event.clone());
        }
        if extra.corrupt_per_million > 0
            && draw_chance(&mut self.extra_rng, extra.corrupt_per_million)
        {
            self.corrupt(&mut event);
        }
        self.schedule(delay_ms, event);
    }

    /// Flips one byte of a message in transit. The relay's and the client's routing ids
    /// (`ClientRequest::request_id`, `VaultRequest::route_id`, bytes 2–9 after version and
    /// code) are left alone: they are unauthenticated labels by design (a flip only misroutes,
    /// as a malicious relay's rewrite does). With `--broken unsealed-links` a replica-link
    /// envelope, or a relay's request to a replica, is opened, a byte of its plaintext flipped,
    /// and sealed again.
    pub(super) fn corrupt(&mut self, event: &mut Event) {
        let unsealed = self.config.broken == Some(Broken::UnsealedLinks);
        let (bytes, routed) = match event {
            Event::RelayToVault { bytes, .. } if unsealed => {
                self.stats.corrupted += 1;
                reseal_request_flipped(bytes, self.config.seed, &mut self.extra_rng);
                return;
            }
            Event::PhoneToRelay { bytes, .. }
            | Event::RelayToVault { bytes, .. }
            | Event::VaultToRelay { bytes, .. }
            | Event::RelayToPhone { bytes, .. } => (bytes, true),
            Event::ReplicaToReplica {
                bytes, tampered, ..
            } => {
                *tampered = true;
                if unsealed {
                    self.stats.corrupted += 1;
                    let seed = self.config.seed;
                    reseal_flipped(bytes, seed, &mut self.extra_rng);
                    return;
                }
                (bytes, false)
            }
            _ => return,
        };
        self.stats.corrupted += 1;
        flip_byte(bytes, routed, &mut self.extra_rng);
    }

    /// The Byzantine replica's lies: a `Promise` it sends claims it accepted nothing, and an
    /// `Accept` it sends as a proposer refunds every counted attempt of an active record. The
    /// envelope is opened and sealed again with the link key the replica holds (a replica whose
    /// code, not its key, is corrupted).
    pub(super) fn byzantine_rewrite(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        use e2ee_backup::internal::consensus::PeerMessage;
        use e2ee_backup::internal::vault::ReplicaBody;
        use e2ee_backup::internal::vault::replica_wire::{
            decode_replica_message, encode_replica_message,
        };
        let Ok(mut envelope) = LinkEnvelope::decode(&bytes) else {
            return bytes;
        };
        let fleet = fleet_secrets(self.config.seed);
        let aad = link_aad(envelope.group, envelope.from, envelope.to);
        let Ok(plain) = InsecureFastSuite.open_link(&fleet, &aad, &envelope.sealed) else {
            return bytes;
        };
        let Ok(mut message) = decode_replica_message(plain.expose()) else {
            return bytes;
        };
        let ReplicaBody::Peer(peer) = &mut message.body else {
            return bytes;
        };
        match peer {
            PeerMessage::Promise { accepted, .. } if accepted.is_some() => *accepted = None,
            PeerMessage::Accept {
                value: Some(record),
                ..
            } => match &mut record.state {
                e2ee_backup::internal::vault::RecordState::Active(active)
                    if active.attempts_used > 0 =>
                {
                    active.attempts_used = 0;
                }
                _ => return bytes,
            },
            _ => return bytes,
        }
        self.stats.byzantine_lies += 1;
        let Ok(sealed) = InsecureFastSuite.seal_link(
            &mut self.extra_rng,
            &fleet,
            &aad,
            &encode_replica_message(&message),
        ) else {
            return bytes;
        };
        envelope.sealed = sealed;
        envelope.encode()
    }

    /// A malicious relay's request to a replica: dropped (`None`), or sent with a rewritten
    /// account id or route id, an extra delay (reordering) and perhaps again 1–60 s later.
    /// Returns the bytes and the extra delay.
    pub(super) fn misbehave_to_vault(
        &mut self,
        m: crate::faults::MaliciousRelay,
        relay: usize,
        bytes: Vec<u8>,
    ) -> Option<(Vec<u8>, u64)> {
        let rng = &mut self.extra_rng;
        if draw_chance(rng, m.drop_per_million) {
            self.stats.relay_tampered += 1;
            return None;
        }
        let mut bytes = bytes;
        let rewrite_account = draw_chance(rng, m.rewrite_account_per_million);
        let rewrite_route = draw_chance(rng, m.rewrite_route_per_million);
        if (rewrite_account || rewrite_route)
            && let Ok(mut request) = VaultRequest::decode(&bytes)
        {
            if rewrite_account {
                let other =
                    usize::try_from(draw_range(rng, 0, self.users.len() as u64 - 1)).unwrap_or(0);
                if let Some(user) = self.users.get(other) {
                    request.account = user.account.clone();
                }
            }
            if rewrite_route {
                request.route_id = draw_range(rng, 0, u64::MAX - 1);
            }
            bytes = request.encode();
            self.stats.relay_tampered += 1;
        }
        let extra_ms = draw_range(rng, 0, m.reorder_ms_max);
        if draw_chance(rng, m.replay_per_million) {
            let later_ms = draw_range(rng, 1_000, 60_000);
            self.replay_to_vault_later(later_ms, relay, &bytes);
        }
        Some((bytes, extra_ms))
    }

    /// Keeps a copy of a malicious relay's request to send it again `later_ms` from now, to a
    /// replica of the account's group chosen at random then.
    pub(super) fn replay_to_vault_later(&mut self, later_ms: u64, relay: usize, bytes: &[u8]) {
        let Ok(request) = VaultRequest::decode(bytes) else {
            return;
        };
        let group = e2ee_backup::internal::relay::group_for(&request.account, self.size.groups);
        let replica = u8::try_from(draw_range(
            &mut self.extra_rng,
            0,
            u64::from(REPLICAS_PER_GROUP) - 1,
        ))
        .unwrap_or(0);
        self.stats.replays += 1;
        self.schedule(
            later_ms,
            Event::RelayToVault {
                relay,
                node: node_index(group.0, replica),
                bytes: bytes.to_vec(),
            },
        );
    }

    /// A malicious relay's reply to a phone: dropped (`None`), or delivered to another phone,
    /// late, and perhaps again 1–60 s later. Returns the phone and the extra delay.
    pub(super) fn misbehave_to_phone(
        &mut self,
        m: crate::faults::MaliciousRelay,
        user: usize,
        bytes: &[u8],
    ) -> Option<(usize, u64)> {
        let rng = &mut self.extra_rng;
        if draw_chance(rng, m.drop_per_million) {
            self.stats.relay_tampered += 1;
            return None;
        }
        let mut to_user = user;
        if draw_chance(rng, m.rewrite_route_per_million) {
            to_user = usize::try_from(draw_range(rng, 0, self.users.len() as u64 - 1)).unwrap_or(0);
            self.stats.relay_tampered += 1;
        }
        let extra_ms = draw_range(rng, 0, m.reorder_ms_max);
        if draw_chance(rng, m.replay_per_million) && ClientReply::decode(bytes).is_ok() {
            let later_ms = draw_range(rng, 1_000, 60_000);
            self.stats.replays += 1;
            self.schedule(
                later_ms,
                Event::RelayToPhone {
                    relay: 0,
                    user: to_user,
                    bytes: bytes.to_vec(),
                },
            );
        }
        Some((to_user, extra_ms))
    }
}

impl World {
    /// Crashes `node`; with `torn_write_per_million` its first write in progress may tear.
    pub(super) fn crash_node(&mut self, node: usize) {
        let torn = self.extra.torn_write_per_million;
        let tear_at = (torn > 0 && !self.healed && draw_chance(&mut self.extra_rng, torn))
            .then(|| draw_range(&mut self.extra_rng, 0, u64::from(u32::MAX)));
        if let Some(vault) = self.nodes.get_mut(node) {
            vault.crash_tearing(self.now_ms, tear_at);
        }
    }

    /// Applies one scheduled action of the fault plan.
    pub(super) fn apply_fault(&mut self, action: FaultAction) {
        let now = self.now_ms;
        match action {
            FaultAction::Crash { group, replica } => self.crash_node(node_index(group, replica)),
            FaultAction::Restart { group, replica } => self.restart(node_index(group, replica)),
            FaultAction::DcDown { dc } => {
                self.net.set_down(dc, true);
                for node in 0..self.nodes.len() {
                    if self.nodes.get(node).is_some_and(|n| n.dc == dc) {
                        self.crash_node(node);
                    }
                }
            }
            FaultAction::DcUp { dc } => {
                self.net.set_down(dc, false);
                for relay in 0..self.relays.len() {
                    if self.relays.get(relay).is_some_and(|r| r.dc == dc) {
                        self.update_relay_timer(relay);
                    }
                }
                for node in 0..self.nodes.len() {
                    if self.nodes.get(node).is_some_and(|n| n.dc == dc) {
                        self.restart(node);
                    }
                }
            }
            FaultAction::Cut { from, to } => self.net.cut(from, to),
            FaultAction::Uncut { from, to } => self.net.uncut(from, to),
            FaultAction::Clog { from, to, extra_ms } => self.net.clog(from, to, extra_ms),
            FaultAction::Unclog { from, to } => self.net.unclog(from, to),
            FaultAction::CopyDisk { group, replica } => {
                if let Some(node) = self.nodes.get_mut(node_index(group, replica)) {
                    node.copy_disk();
                }
            }
            FaultAction::RestoreDisk { group, replica } => {
                if let Some(node) = self.nodes.get_mut(node_index(group, replica)) {
                    node.crash(now);
                    node.restore_disk_copy();
                }
            }
            FaultAction::ClockJump { target, jump_ms } => {
                self.stats.clock_jumps += 1;
                match target {
                    ClockTarget::Replica { group, replica } => {
                        let node = node_index(group, replica);
                        if let Some(vault) = self.nodes.get_mut(node) {
                            vault.clock.offset_ms = vault.clock.offset_ms.saturating_add(jump_ms);
                        }
                        self.update_node_timer(node);
                    }
                    ClockTarget::Relay { relay } => {
                        if let Some(host) = self.relays.get_mut(relay) {
                            host.clock.offset_ms = host.clock.offset_ms.saturating_add(jump_ms);
                        }
                        self.update_relay_timer(relay);
                    }
                }
            }
            FaultAction::LoseDisk { group, replica } => {
                let node = node_index(group, replica);
                if let Some(vault) = self.nodes.get_mut(node) {
                    vault.lose_disk(now);
                }
                let down_ms = draw_range(&mut self.extra_rng, 1_000, 3_000);
                self.schedule(down_ms, Event::RestartNode { node });
            }
            FaultAction::Slow {
                group,
                replica,
                extra_ms,
            } => {
                if let Some(node) = self.nodes.get_mut(node_index(group, replica)) {
                    node.slow_ms = extra_ms;
                }
            }
        }
    }

    /// Ends the safety phase: faults off, every replica restarted, and one more recovery queued
    /// for every account owner (the liveness probes).
    pub(super) fn heal(&mut self) {
        self.healed = true;
        self.disk_write_ms_max = 0;
        self.net.heal();
        for relay in 0..self.relays.len() {
            self.update_relay_timer(relay);
        }
        for node in 0..self.nodes.len() {
            self.restart(node);
            if let Some(vault) = self.nodes.get_mut(node) {
                vault.slow_ms = 0;
            }
        }
        // Liveness probes: every account owner recovers once more with its current password.
        for index in 0..self.users.len() {
            let Some(user) = self.users.get_mut(index) else {
                continue;
            };
            if matches!(user.role, Role::Attacker { .. }) {
                // The attack is part of the safety phase: attackers stop probing now.
                user.lock_probes_left = 0;
                user.script.clear();
            }
            if !user.is_owner() {
                continue;
            }
            let password = user.password;
            user.script
                .push_back(crate::checkers::ModelOp::Recover(password));
            let delay_ms = draw_range(&mut user.rng, 0, 1_000);
            if user.running.is_none() && user.retry.is_none() {
                self.schedule(delay_ms, Event::Wake { user: index });
            }
        }
    }

    /// Crashes every replica of `group` at once; each restarts from its disk 1–3 s later.
    pub(super) fn crash_group(&mut self, group: u32) {
        for replica in 0..REPLICAS_PER_GROUP {
            let node = node_index(group, replica);
            let Some(vault) = self.nodes.get_mut(node) else {
                continue;
            };
            if vault.is_up() {
                self.crash_for_a_while(node, TraceKind::GroupCrash, 1_000);
            }
        }
    }

    /// Crashes `node` and schedules its restart from disk between `down_ms_min` and 3 s later
    /// (traced as `trace_kind`).
    pub(super) fn crash_for_a_while(
        &mut self,
        node: usize,
        trace_kind: TraceKind,
        down_ms_min: u64,
    ) {
        self.crash_node(node);
        let down_ms = draw_range(&mut self.fault_rng, down_ms_min, 3_000);
        self.trace.record(
            self.now_ms,
            trace_kind,
            &[&(node as u64).to_be_bytes(), &down_ms.to_be_bytes()],
        );
        self.schedule(down_ms, Event::RestartNode { node });
    }
}
