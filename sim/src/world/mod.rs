//! The world and its core loop: datacenters, relays, vault nodes and users exchange messages
//! through the simulated network, driven by one event queue and one seed.

use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::ClientOutput;
use e2ee_backup::internal::crypto::CryptoSuite as _;
use e2ee_backup::internal::crypto::real::InsecureFastSuite;
use e2ee_backup::internal::relay::{FirstReplica, Relay, RelayConfig, RelayOutput};
use e2ee_backup::internal::wire::ClientRequest;

use e2ee_backup::internal::vault::LinkEnvelope;
use e2ee_backup::internal::vault::replica_link::link_aad;
use e2ee_backup::internal::wire::{ClientReply, VaultRequest};

mod config;
mod result;

pub use config::{
    Broken, EVENTS_MAX, QUEUE_CAPACITY, SimConfig, VAULT_RETRY_MS, VAULT_SENDS_MAX, WorldSize,
};
pub use result::{RunResult, Stats};

use crate::checkers::{
    INV_DURABLE, INV_LINEAR, INV_TAMPER, LIVE, Oracle, SIM_LIMIT, Violation, outcome_name, show,
};
use crate::events::EventQueue;
use crate::faults::{ClockTarget, ExtraFaults, FaultAction, FaultPlan, plan};
use crate::latency::operation_floor_ms;
use crate::network::{DATACENTERS, DISK_WRITE_MS, Dc, Endpoint, Network};
use crate::seed::{derive_rng, draw_chance, draw_range, fleet_secrets};
use crate::time::{NodeClock, START_MS};
use crate::trace::{Trace, TraceKind};
use crate::vault_node::{HostMode, NodeEffect, REPLICAS_PER_GROUP, VaultNode};
use crate::workload::{Role, User, account_name};

#[derive(Clone)]
enum Event {
    PhoneToRelay {
        user: usize,
        relay: usize,
        bytes: Vec<u8>,
    },
    RelayToVault {
        relay: usize,
        node: usize,
        bytes: Vec<u8>,
    },
    ReplicaToReplica {
        node: usize,
        bytes: Vec<u8>,
        /// The network corrupted these bytes (INV-TAMPER: the replica must drop them).
        tampered: bool,
    },
    VaultTimer {
        node: usize,
    },
    RelayTimer {
        relay: usize,
    },
    VaultToRelay {
        relay: usize,
        bytes: Vec<u8>,
        /// The node that sent it (for the latency floor only; not traced).
        node: usize,
    },
    RelayToPhone {
        relay: usize,
        user: usize,
        bytes: Vec<u8>,
    },
    ClientTimer {
        user: usize,
    },
    Wake {
        user: usize,
    },
    DiskDone {
        node: usize,
        epoch: u64,
        sequence: u64,
    },
    Fault(FaultAction),
    RestartNode {
        node: usize,
    },
    Heal,
}

struct RelayHost {
    relay: Relay,
    dc: Dc,
    clock: NodeClock,
    timer_at_ms: Option<u64>,
}

/// The index of replica `replica` of `group` in the world's node list.
fn node_index(group: u32, replica: u8) -> usize {
    (group as usize) * usize::from(REPLICAS_PER_GROUP) + usize::from(replica)
}

struct World {
    config: SimConfig,
    size: WorldSize,
    now_ms: u64,
    heal_ms: u64,
    end_ms: u64,
    queue: EventQueue<Event>,
    trace: Trace,
    net: Network,
    relays: Vec<RelayHost>,
    nodes: Vec<VaultNode>,
    users: Vec<User>,
    oracle: Oracle,
    stats: Stats,
    violations: Vec<Violation>,
    healed: bool,
    mix: String,
    crash_after_reply_per_million: u32,
    group_crash_after_reply_per_million: u32,
    disk_write_ms_max: u64,
    fault_rng: rand_chacha::ChaCha20Rng,
    extra: ExtraFaults,
    /// Draws of the faults of issue 12 (their own stream: the older faults draw as before).
    extra_rng: rand_chacha::ChaCha20Rng,
    /// While a relay handles a replica's reply: the replica's datacenter (replies the relay
    /// forwards to phones then were served by it; for the latency floor only).
    reply_from: Option<Dc>,
}

fn draw_clock(rng: &mut rand_chacha::ChaCha20Rng, plan: &FaultPlan) -> NodeClock {
    let drift = u64::try_from(plan.drift_ppm_max.max(0)).unwrap_or(0);
    let offset = u64::try_from(plan.offset_ms_max.max(0)).unwrap_or(0);
    NodeClock {
        drift_ppm: i64::try_from(draw_range(rng, 0, 2 * drift)).unwrap_or(0)
            - plan.drift_ppm_max.max(0),
        offset_ms: i64::try_from(draw_range(rng, 0, 2 * offset)).unwrap_or(0)
            - plan.offset_ms_max.max(0),
    }
}

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

/// Runs one seed of one scenario.
pub fn run(config: SimConfig) -> RunResult {
    let mut world = World::new(config);
    world.run();
    world.finish()
}

impl World {
    fn new(config: SimConfig) -> Self {
        let size = WorldSize::for_mode(config.lite);
        let heal_ms = START_MS + size.safety_ms;
        let end_ms = heal_ms + size.live_ms;
        let plan = plan(
            config.scenario,
            &mut derive_rng(config.seed, "faults"),
            size.groups,
            START_MS + 5_000,
            heal_ms,
        );
        let mut clocks = derive_rng(config.seed, "clocks");
        let mode = match config.broken {
            Some(Broken::ReplyBeforePersist) => HostMode::ReplyBeforePersist,
            Some(Broken::SharedOprfKey) => HostMode::SharedOprfKey,
            Some(Broken::TrustHostDisk) => HostMode::TrustHostDisk,
            Some(Broken::ReplyBeforePersistTrustingDisk) => {
                HostMode::ReplyBeforePersistTrustingDisk
            }
            Some(Broken::UnsealedLinks) | None => HostMode::Correct,
        };
        let mut nodes = Vec::new();
        let mut first_effects = Vec::new();
        for group in 0..size.groups {
            for replica in 0..REPLICAS_PER_GROUP {
                let (mut node, effects) = VaultNode::new(
                    group,
                    replica,
                    fleet_secrets(config.seed),
                    mode,
                    config.trust,
                    DISK_WRITE_MS,
                    derive_rng(config.seed, &format!("vault:{group}:{replica}")),
                )
                .expect("a five-replica group starts");
                node.clock = draw_clock(&mut clocks, &plan);
                first_effects.push((nodes.len(), effects));
                nodes.push(node);
            }
        }
        let relays = (0..DATACENTERS * size.relays_per_dc)
            .map(|index| {
                let dc = index / size.relays_per_dc.max(1);
                let relay_config = RelayConfig {
                    vault_groups: size.groups,
                    replicas_per_group: REPLICAS_PER_GROUP,
                    first_replica: FirstReplica::PerAccount,
                    vault_retry_ms: VAULT_RETRY_MS,
                    vault_sends_max: VAULT_SENDS_MAX,
                    ..RelayConfig::default()
                };
                RelayHost {
                    relay: Relay::new(relay_config),
                    dc,
                    clock: draw_clock(&mut clocks, &plan),
                    timer_at_ms: None,
                }
            })
            .collect();
        let pinned = InsecureFastSuite.fleet_public_keys(&fleet_secrets(config.seed));
        let mut placement = derive_rng(config.seed, "placement");
        let mut users = Vec::new();
        let mut add = |users: &mut Vec<User>, role: Role, account_of: usize, home_dc: Dc| {
            let index = users.len();
            users.push(User::new(
                index,
                role,
                account_name(account_of),
                home_dc,
                pinned.clone(),
                draw_clock(&mut clocks, &plan),
                derive_rng(config.seed, &format!("user:{index}")),
            ));
        };
        let random_dc = |rng: &mut rand_chacha::ChaCha20Rng| {
            usize::try_from(draw_range(rng, 0, DATACENTERS as u64 - 1)).unwrap_or(0)
        };
        for _ in 0..size.honest {
            let dc = random_dc(&mut placement);
            let own = users.len();
            add(&mut users, Role::Honest, own, dc);
        }
        for _ in 0..size.forgetful {
            let dc = random_dc(&mut placement);
            let own = users.len();
            add(&mut users, Role::Forgetful, own, dc);
        }
        for _ in 0..size.victims {
            let victim = users.len();
            let dc = random_dc(&mut placement);
            add(&mut users, Role::Victim, victim, dc);
            for k in 0..size.attackers_per_victim {
                add(
                    &mut users,
                    Role::Attacker { victim },
                    victim,
                    (dc + 1 + k) % DATACENTERS,
                );
            }
            add(
                &mut users,
                Role::Prober { victim },
                victim,
                (dc + 1 + size.attackers_per_victim) % DATACENTERS,
            );
        }
        if config.victims_log_in {
            for user in users.iter_mut().filter(|u| u.role == Role::Victim) {
                let password = user.password;
                user.script.extend([
                    crate::checkers::ModelOp::Recover(password),
                    crate::checkers::ModelOp::Recover(password),
                ]);
            }
        }
        let mut queue = EventQueue::new(QUEUE_CAPACITY);
        for (time_ms, action) in &plan.schedule {
            queue.push(*time_ms, Event::Fault(*action));
        }
        queue.push(heal_ms, Event::Heal);
        for user in &users {
            if user.is_owner() {
                let at_ms = START_MS + draw_range(&mut placement, 0, size.safety_ms / 2);
                queue.push(at_ms, Event::Wake { user: user.index });
            }
        }
        let mut world = Self {
            config,
            size,
            now_ms: START_MS,
            heal_ms,
            end_ms,
            queue,
            trace: Trace::new(),
            net: Network::new(plan.network, derive_rng(config.seed, "network")),
            relays,
            nodes,
            users,
            oracle: Oracle::new(fleet_secrets(config.seed)),
            stats: Stats::default(),
            violations: Vec::new(),
            healed: false,
            mix: plan.mix,
            crash_after_reply_per_million: plan.crash_after_reply_per_million,
            group_crash_after_reply_per_million: plan.group_crash_after_reply_per_million,
            disk_write_ms_max: plan.disk_write_ms_max,
            fault_rng: derive_rng(config.seed, "faults-live"),
            extra: plan.extra,
            extra_rng: derive_rng(config.seed, "faults-extra"),
            reply_from: None,
        };
        for (node, effects) in first_effects {
            world.apply_effects(node, effects);
        }
        world
    }

    fn run(&mut self) {
        self.trace.record(
            0,
            TraceKind::RunStarted,
            &[self.mix.as_bytes(), &self.config.seed.to_be_bytes()],
        );
        let mut handled = 0u64;
        while let Some((time_ms, _sequence, event)) = self.queue.pop() {
            if time_ms > self.end_ms {
                break;
            }
            handled += 1;
            if handled > EVENTS_MAX {
                self.violate(SIM_LIMIT, format!("more than {EVENTS_MAX} events"));
                break;
            }
            self.now_ms = self.now_ms.max(time_ms);
            self.handle(event);
        }
        self.now_ms = self.end_ms;
    }

    fn violate(&mut self, invariant: &'static str, detail: String) {
        self.violations.push(Violation {
            invariant,
            time_ms: self.now_ms,
            detail,
        });
    }

    fn schedule(&mut self, delay_ms: u64, event: Event) {
        self.queue.push(self.now_ms.saturating_add(delay_ms), event);
    }

    /// Schedules one network copy of a message `delay_ms` from now, with the faults of issue
    /// 12 before the heal: the copy may be kept and delivered again much later (a replay), and
    /// it may have one byte flipped in transit.
    fn transmit(&mut self, delay_ms: u64, mut event: Event) {
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
    fn corrupt(&mut self, event: &mut Event) {
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
    fn byzantine_rewrite(&mut self, bytes: Vec<u8>) -> Vec<u8> {
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

    /// Crashes `node`; with `torn_write_per_million` its first write in progress may tear.
    fn crash_node(&mut self, node: usize) {
        let torn = self.extra.torn_write_per_million;
        let tear_at = (torn > 0 && !self.healed && draw_chance(&mut self.extra_rng, torn))
            .then(|| draw_range(&mut self.extra_rng, 0, u64::from(u32::MAX)));
        if let Some(vault) = self.nodes.get_mut(node) {
            vault.crash_tearing(self.now_ms, tear_at);
        }
    }

    fn handle(&mut self, event: Event) {
        let now = self.now_ms;
        match event {
            Event::PhoneToRelay { user, relay, bytes } => {
                self.trace.record(
                    now,
                    TraceKind::PhoneToRelay,
                    &[
                        &(user as u64).to_be_bytes(),
                        &(relay as u64).to_be_bytes(),
                        &bytes,
                    ],
                );
                let Some(host) = self.relays.get_mut(relay) else {
                    return;
                };
                if self.net.is_down(host.dc) {
                    return;
                }
                let local_ms = host.clock.local_ms(now);
                host.relay
                    .handle_client_message(local_ms, ConnectionId(user as u64), &bytes);
                self.drain_relay(relay);
            }
            Event::RelayToVault { relay, node, bytes } => {
                self.trace.record(
                    now,
                    TraceKind::RelayToVault,
                    &[
                        &(relay as u64).to_be_bytes(),
                        &(node as u64).to_be_bytes(),
                        &bytes,
                    ],
                );
                let Some(vault) = self.nodes.get_mut(node) else {
                    return;
                };
                if self.net.is_down(vault.dc) {
                    return;
                }
                let group = vault.group;
                let (accepted, effects) = vault.handle_request(now, relay, &bytes);
                if let Some((host_route, request)) = accepted {
                    self.oracle
                        .observe_request(now, group, host_route, &request);
                }
                self.apply_effects(node, effects);
            }
            Event::ReplicaToReplica {
                node,
                bytes,
                tampered,
            } => {
                self.trace.record(
                    now,
                    TraceKind::ReplicaToReplica,
                    &[&(node as u64).to_be_bytes(), &bytes],
                );
                let Some(vault) = self.nodes.get_mut(node) else {
                    return;
                };
                if self.net.is_down(vault.dc) {
                    return;
                }
                let running = vault.is_up();
                let drops_before = vault.drops_total();
                let effects = vault.handle_replica_message(now, &bytes);
                let drops_after = vault.drops_total();
                let (group, replica) = (vault.group, vault.replica_id);
                if tampered && running {
                    self.stats.corrupted_link_deliveries += 1;
                    // INV-TAMPER: a corrupted envelope is dropped and counted, never acted on.
                    if drops_after == drops_before {
                        self.violate(
                            INV_TAMPER,
                            format!(
                                "group {group} replica {replica} accepted a corrupted replica \
                                 message without counting a drop"
                            ),
                        );
                    }
                }
                self.apply_effects(node, effects);
            }
            Event::VaultTimer { node } => {
                let Some(vault) = self.nodes.get_mut(node) else {
                    return;
                };
                if vault.timer_at_ms != Some(now) {
                    return;
                }
                self.trace
                    .record(now, TraceKind::VaultTimer, &[&(node as u64).to_be_bytes()]);
                vault.timer_at_ms = None;
                let effects = vault.handle_timeout(now);
                self.apply_effects(node, effects);
            }
            Event::RelayTimer { relay } => {
                let Some(host) = self.relays.get_mut(relay) else {
                    return;
                };
                if host.timer_at_ms != Some(now) {
                    return;
                }
                self.trace
                    .record(now, TraceKind::RelayTimer, &[&(relay as u64).to_be_bytes()]);
                host.timer_at_ms = None;
                // A relay in a datacenter that is down does nothing until it comes back.
                if self.net.is_down(host.dc) {
                    return;
                }
                let local_ms = host.clock.local_ms(now);
                host.relay.handle_timeout(local_ms);
                self.drain_relay(relay);
            }
            Event::VaultToRelay { relay, bytes, node } => {
                self.trace.record(
                    now,
                    TraceKind::VaultToRelay,
                    &[&(relay as u64).to_be_bytes(), &bytes],
                );
                let Some(host) = self.relays.get_mut(relay) else {
                    return;
                };
                if self.net.is_down(host.dc) {
                    return;
                }
                let local_ms = host.clock.local_ms(now);
                host.relay.handle_vault_message(local_ms, &bytes);
                self.reply_from = self.nodes.get(node).map(|n| n.dc);
                self.drain_relay(relay);
                self.reply_from = None;
            }
            Event::RelayToPhone { relay, user, bytes } => {
                self.trace.record(
                    now,
                    TraceKind::RelayToPhone,
                    &[
                        &(relay as u64).to_be_bytes(),
                        &(user as u64).to_be_bytes(),
                        &bytes,
                    ],
                );
                let Some(u) = self.users.get_mut(user) else {
                    return;
                };
                let local_ms = u.clock.local_ms(now);
                u.client.handle_relay_message(local_ms, &mut u.rng, &bytes);
                self.drain_client(user);
            }
            Event::ClientTimer { user } => {
                let Some(u) = self.users.get_mut(user) else {
                    return;
                };
                if u.timer_at_ms != Some(now) {
                    return;
                }
                self.trace
                    .record(now, TraceKind::ClientTimer, &[&(user as u64).to_be_bytes()]);
                u.timer_at_ms = None;
                let local_ms = u.clock.local_ms(now);
                u.client.handle_timeout(local_ms);
                self.drain_client(user);
            }
            Event::Wake { user } => {
                self.trace
                    .record(now, TraceKind::Wake, &[&(user as u64).to_be_bytes()]);
                let Some(u) = self.users.get_mut(user) else {
                    return;
                };
                if u.start_next(now) {
                    if matches!(u.role, Role::Attacker { .. }) {
                        self.stats.guesses += 1;
                    } else {
                        self.stats.attempted += 1;
                    }
                } else if let Some(bytes) = u.probe() {
                    let again = u.probes_left > 0;
                    let think_ms = draw_range(&mut u.rng, 10, 300);
                    self.stats.probes += 1;
                    self.send_from_phone(user, bytes);
                    if again {
                        self.schedule(think_ms, Event::Wake { user });
                    }
                }
                self.drain_client(user);
            }
            Event::DiskDone {
                node,
                epoch,
                sequence,
            } => {
                self.trace.record(
                    now,
                    TraceKind::DiskDone,
                    &[
                        &(node as u64).to_be_bytes(),
                        &epoch.to_be_bytes(),
                        &sequence.to_be_bytes(),
                    ],
                );
                let Some(vault) = self.nodes.get_mut(node) else {
                    return;
                };
                let effects = vault.handle_disk_done(epoch, sequence);
                self.apply_effects(node, effects);
            }
            Event::Fault(action) => {
                self.trace
                    .record(now, TraceKind::Fault, &[format!("{action:?}").as_bytes()]);
                self.apply_fault(action);
            }
            Event::RestartNode { node } => {
                self.trace
                    .record(now, TraceKind::RestartNode, &[&(node as u64).to_be_bytes()]);
                self.restart(node);
            }
            Event::Heal => {
                self.trace.record(now, TraceKind::Heal, &[]);
                self.heal();
            }
        }
    }

    fn apply_fault(&mut self, action: FaultAction) {
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

    fn restart(&mut self, node: usize) {
        let seed = self.config.seed;
        let now = self.now_ms;
        let Some(vault) = self.nodes.get_mut(node) else {
            return;
        };
        if vault.is_up() || self.net.is_down(vault.dc) {
            return;
        }
        let (group, replica) = (vault.group, vault.replica_id);
        match vault.restart(now, fleet_secrets(seed)) {
            Ok((failed, effects)) => {
                if failed > 0 {
                    self.violate(
                        INV_DURABLE,
                        format!(
                            "group {group} replica {replica}: {failed} durable writes did not open"
                        ),
                    );
                }
                self.apply_effects(node, effects);
            }
            Err(error) => self.violate(
                INV_DURABLE,
                format!("group {group} replica {replica} did not restart: {error:?}"),
            ),
        }
    }

    fn heal(&mut self) {
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

    fn apply_effects(&mut self, node: usize, effects: Vec<NodeEffect>) {
        let now = self.now_ms;
        let Some(vault) = self.nodes.get_mut(node) else {
            return;
        };
        vault.note_voting(now);
        let (from, group) = (vault.dc, vault.group);
        for effect in effects {
            match effect {
                NodeEffect::Reply {
                    relay,
                    bytes,
                    host_route,
                } => {
                    self.oracle
                        .observe_reply(self.now_ms, group, host_route, &bytes);
                    if e2ee_backup::internal::wire::VaultReply::decode(&bytes)
                        .is_ok_and(|r| r.body == e2ee_backup::internal::wire::ReplyBody::Rejected)
                    {
                        self.stats.rejected_replies += 1;
                    }
                    let Some(to) = self.relays.get(relay).map(|r| r.dc) else {
                        continue;
                    };
                    for delay_ms in self
                        .net
                        .plan(Endpoint::Datacenter(from), Endpoint::Datacenter(to))
                    {
                        self.transmit(
                            delay_ms,
                            Event::VaultToRelay {
                                relay,
                                bytes: bytes.clone(),
                                node,
                            },
                        );
                    }
                    if !self.healed
                        && draw_chance(&mut self.fault_rng, self.crash_after_reply_per_million)
                    {
                        // Crash right after this send: nothing after it in this batch happens.
                        self.crash_for_a_while(node, TraceKind::CrashAfterReply, 1);
                        return;
                    }
                    if !self.healed
                        && draw_chance(
                            &mut self.fault_rng,
                            self.group_crash_after_reply_per_million,
                        )
                    {
                        // A correlated crash right after this send: every replica of the group.
                        self.crash_group(group);
                        return;
                    }
                }
                NodeEffect::ToReplica { to, bytes } => {
                    let target = node_index(group, to);
                    let byzantine = self.extra.byzantine_replica
                        && !self.healed
                        && self.nodes.get(node).is_some_and(|n| n.replica_id == 0);
                    let bytes = if byzantine {
                        self.byzantine_rewrite(bytes)
                    } else {
                        bytes
                    };
                    let Some((to_dc, slow_ms)) = self.nodes.get(target).map(|n| (n.dc, n.slow_ms))
                    else {
                        continue;
                    };
                    for delay_ms in self
                        .net
                        .plan(Endpoint::Datacenter(from), Endpoint::Datacenter(to_dc))
                    {
                        self.transmit(
                            delay_ms + slow_ms,
                            Event::ReplicaToReplica {
                                node: target,
                                bytes: bytes.clone(),
                                tampered: false,
                            },
                        );
                    }
                }
                NodeEffect::DiskWrite {
                    epoch,
                    sequence,
                    delay_ms,
                } => {
                    let delay_ms = if self.disk_write_ms_max > delay_ms {
                        draw_range(&mut self.fault_rng, delay_ms, self.disk_write_ms_max)
                    } else {
                        delay_ms
                    };
                    // The disk completes writes in order.
                    let Some(vault) = self.nodes.get_mut(node) else {
                        continue;
                    };
                    let done_ms = (self.now_ms + delay_ms).max(vault.disk_busy_until_ms);
                    vault.disk_busy_until_ms = done_ms;
                    self.queue.push(
                        done_ms,
                        Event::DiskDone {
                            node,
                            epoch,
                            sequence,
                        },
                    );
                }
            }
        }
        self.update_node_timer(node);
    }

    /// The first time more than ⌊(N−1)/2⌋ replicas of `group` were impaired at once (lost
    /// their state and not yet recovered: assumption A1 broken), if ever.
    fn a1_broken_from(&self, group: u32) -> Option<u64> {
        let mut edges: Vec<(u64, i32)> = Vec::new();
        for replica in 0..REPLICAS_PER_GROUP {
            if let Some(vault) = self.nodes.get(node_index(group, replica)) {
                for (from, to) in vault.impaired_intervals(self.end_ms) {
                    edges.push((from, 1));
                    edges.push((to, -1));
                }
            }
        }
        // Ends before starts at the same time: `[from, to)`.
        edges.sort_unstable();
        let tolerated = i32::from((REPLICAS_PER_GROUP - 1) / 2);
        let mut impaired = 0;
        for (at_ms, step) in edges {
            impaired += step;
            if impaired > tolerated {
                return Some(at_ms);
            }
        }
        None
    }

    /// Crashes every replica of `group` at once; each restarts from its disk 1–3 s later.
    fn crash_group(&mut self, group: u32) {
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
    fn crash_for_a_while(&mut self, node: usize, trace_kind: TraceKind, down_ms_min: u64) {
        self.crash_node(node);
        let down_ms = draw_range(&mut self.fault_rng, down_ms_min, 3_000);
        self.trace.record(
            self.now_ms,
            trace_kind,
            &[&(node as u64).to_be_bytes(), &down_ms.to_be_bytes()],
        );
        self.schedule(down_ms, Event::RestartNode { node });
    }

    fn update_node_timer(&mut self, node: usize) {
        let now = self.now_ms;
        let Some(vault) = self.nodes.get_mut(node) else {
            return;
        };
        let Some(local_deadline) = vault.poll_timeout() else {
            vault.timer_at_ms = None;
            return;
        };
        let at_ms = vault.clock.global_ms(local_deadline, now);
        if vault.timer_at_ms == Some(at_ms) {
            return;
        }
        vault.timer_at_ms = Some(at_ms);
        self.queue.push(at_ms, Event::VaultTimer { node });
    }

    fn update_relay_timer(&mut self, relay: usize) {
        let now = self.now_ms;
        let Some(host) = self.relays.get_mut(relay) else {
            return;
        };
        let Some(local_deadline) = host.relay.poll_timeout() else {
            host.timer_at_ms = None;
            return;
        };
        let at_ms = host.clock.global_ms(local_deadline, now);
        if host.timer_at_ms == Some(at_ms) {
            return;
        }
        host.timer_at_ms = Some(at_ms);
        self.queue.push(at_ms, Event::RelayTimer { relay });
    }

    fn drain_relay(&mut self, relay: usize) {
        for _ in 0..10_000 {
            let Some(host) = self.relays.get_mut(relay) else {
                return;
            };
            let from = host.dc;
            let Some(output) = host.relay.poll_output() else {
                break;
            };
            let malicious = self
                .extra
                .malicious_relay
                .filter(|m| m.dc == from && !self.healed);
            match output {
                RelayOutput::ToReplica {
                    group,
                    replica,
                    bytes,
                } => {
                    let node = node_index(group.0, replica);
                    let Some(vault) = self.nodes.get(node) else {
                        continue;
                    };
                    let (to, slow_ms) = (vault.dc, vault.slow_ms);
                    let mut bytes = bytes;
                    let mut extra_ms = 0;
                    if let Some(m) = malicious {
                        let Some((rewritten, delay_ms)) = self.misbehave_to_vault(m, relay, bytes)
                        else {
                            continue;
                        };
                        (bytes, extra_ms) = (rewritten, delay_ms);
                    }
                    for delay_ms in self
                        .net
                        .plan(Endpoint::Datacenter(from), Endpoint::Datacenter(to))
                    {
                        self.transmit(
                            delay_ms + slow_ms + extra_ms,
                            Event::RelayToVault {
                                relay,
                                node,
                                bytes: bytes.clone(),
                            },
                        );
                    }
                }
                RelayOutput::ToClient { connection, bytes } => {
                    let mut user = usize::try_from(connection.0).unwrap_or(usize::MAX);
                    if let Some(replica_dc) = self.reply_from
                        && let Ok(reply) = ClientReply::decode(&bytes)
                        && let Some(u) = self.users.get_mut(user)
                    {
                        u.note_served(reply.request_id, from, replica_dc);
                    }
                    let mut extra_ms = 0;
                    if let Some(m) = malicious {
                        let Some((to_user, delay_ms)) = self.misbehave_to_phone(m, user, &bytes)
                        else {
                            continue;
                        };
                        (user, extra_ms) = (to_user, delay_ms);
                    }
                    for delay_ms in self.net.plan(Endpoint::Datacenter(from), Endpoint::Phone) {
                        self.transmit(
                            delay_ms + extra_ms,
                            Event::RelayToPhone {
                                relay,
                                user,
                                bytes: bytes.clone(),
                            },
                        );
                    }
                }
            }
        }
        self.update_relay_timer(relay);
    }

    /// A malicious relay's request to a replica: dropped (`None`), or sent with a rewritten
    /// account id or route id, an extra delay (reordering) and perhaps again 1–60 s later.
    /// Returns the bytes and the extra delay.
    fn misbehave_to_vault(
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
    fn replay_to_vault_later(&mut self, later_ms: u64, relay: usize, bytes: &[u8]) {
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
    fn misbehave_to_phone(
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

    /// The relay a phone reaches: in its home datacenter, else the next one that is up.
    fn pick_relay(&self, user: usize, home_dc: Dc) -> Option<usize> {
        let per_dc = self.size.relays_per_dc.max(1);
        (0..DATACENTERS)
            .map(|k| (home_dc + k) % DATACENTERS)
            .find(|dc| !self.net.is_down(*dc))
            .map(|dc| dc * per_dc + user % per_dc)
    }

    fn drain_client(&mut self, index: usize) {
        for _ in 0..10_000 {
            let Some(user) = self.users.get_mut(index) else {
                return;
            };
            let Some(output) = user.client.poll_output() else {
                break;
            };
            match output {
                ClientOutput::Send { bytes } => {
                    if let (Ok(request), Some(password)) =
                        (ClientRequest::decode(&bytes), user.running_password())
                    {
                        user.note_sent(request.request_id, request.kind);
                        self.oracle.note_sealed(&request.sealed, password);
                    }
                    self.send_from_phone(index, bytes);
                }
                ClientOutput::Completed { operation, outcome } => {
                    let running = user.running;
                    if running.map(|r| r.operation) != Some(operation) {
                        continue;
                    }
                    let owner = user.is_owner();
                    let floor = (operation_floor_ms(&user.served), user.op_resends);
                    let (complaint, wake_ms) = user.finish(&outcome);
                    let account = show(&user.account);
                    if owner && let e2ee_backup::ClientOutcome::Registered { generation } = outcome
                    {
                        let account_id = user.account.clone();
                        self.oracle
                            .note_acknowledged(self.now_ms, &account_id, generation);
                    }
                    if let Some(running) = running
                        && owner
                    {
                        let succeeded = outcome != e2ee_backup::ClientOutcome::Unavailable;
                        if succeeded {
                            self.stats.succeeded += 1;
                            self.stats
                                .latencies_ms
                                .push(self.now_ms.saturating_sub(running.started_ms));
                        }
                        self.stats
                            .ledger
                            .try_ended(&running, succeeded, self.now_ms, floor);
                        let after_heal = running.first_started_ms >= self.heal_ms;
                        let gave_up = !succeeded && running.tries >= crate::workload::TRIES_MAX;
                        let late = self.now_ms.saturating_sub(running.first_started_ms)
                            > self.size.live_bound_ms;
                        if after_heal && (gave_up || (succeeded && late)) {
                            self.violate(LIVE, format!(
                                "account {account}: {:?} started after healing ended {} after {} ms",
                                running.op,
                                outcome_name(&outcome),
                                self.now_ms.saturating_sub(running.first_started_ms)
                            ));
                        }
                    }
                    if let Some(why) = complaint {
                        self.violate(INV_LINEAR, format!("account {account}: {why}"));
                    }
                    if let Some(delay_ms) = wake_ms {
                        self.schedule(delay_ms, Event::Wake { user: index });
                    }
                    // A victim's acknowledged registration lets its attackers loose.
                    if let Some(running) = running
                        && matches!(outcome, e2ee_backup::ClientOutcome::Registered { .. })
                        && matches!(running.op, crate::checkers::ModelOp::Register(..))
                        && self
                            .users
                            .get(index)
                            .is_some_and(|u| u.role == Role::Victim)
                    {
                        let attackers: Vec<usize> = self
                            .users
                            .iter()
                            .filter(|u| {
                                u.role == (Role::Attacker { victim: index })
                                    || u.role == (Role::Prober { victim: index })
                            })
                            .map(|u| u.index)
                            .collect();
                        for attacker in attackers {
                            self.schedule(100, Event::Wake { user: attacker });
                        }
                    }
                }
            }
        }
        self.update_timer(index);
    }

    /// User `index`'s phone sends `bytes` (an encoded `ClientRequest`) to a relay it reaches.
    fn send_from_phone(&mut self, index: usize, bytes: Vec<u8>) {
        let Some(user) = self.users.get(index) else {
            return;
        };
        let Some(relay) = self.pick_relay(index, user.home_dc) else {
            return;
        };
        if let Ok(request) = ClientRequest::decode(&bytes) {
            self.oracle.note_sent(&request.sealed);
        }
        let Some(user) = self.users.get_mut(index) else {
            return;
        };
        if user.connections.insert(relay)
            && let Some(host) = self.relays.get_mut(relay)
        {
            host.relay
                .handle_connection_opened(ConnectionId(index as u64), user.account.clone());
        }
        let to = self.relays.get(relay).map_or(0, |r| r.dc);
        for delay_ms in self.net.plan(Endpoint::Phone, Endpoint::Datacenter(to)) {
            self.transmit(
                delay_ms,
                Event::PhoneToRelay {
                    user: index,
                    relay,
                    bytes: bytes.clone(),
                },
            );
        }
    }

    fn update_timer(&mut self, index: usize) {
        let now = self.now_ms;
        let Some(user) = self.users.get_mut(index) else {
            return;
        };
        let Some(local_deadline) = user.client.poll_timeout() else {
            user.timer_at_ms = None;
            return;
        };
        let at_ms = user.clock.global_ms(local_deadline, now);
        if user.timer_at_ms == Some(at_ms) {
            return;
        }
        user.timer_at_ms = Some(at_ms);
        self.queue.push(at_ms, Event::ClientTimer { user: index });
    }

    fn finish(mut self) -> RunResult {
        // LIVE: after healing, every owner finished everything it set out to do.
        let mut unfinished = Vec::new();
        for user in self.users.iter().filter(|u| u.is_owner()) {
            if !user.is_idle() {
                unfinished.push(format!(
                    "account {} still has {:?} / {} queued",
                    show(&user.account),
                    user.running.map(|r| r.op),
                    user.script.len()
                ));
            }
        }
        self.stats.ops_unfinished = self
            .users
            .iter()
            .filter(|u| u.is_owner() && (u.running.is_some() || u.retry.is_some()))
            .count() as u64;
        for detail in unfinished.into_iter().take(20) {
            self.violate(LIVE, detail);
        }
        // INV-DURABLE (per operation), under assumption A1: findings in a group count only if
        // the group never had more than ⌊(N−1)/2⌋ replicas impaired at once before the reply.
        let a1_broken: Vec<Option<u64>> = (0..self.size.groups)
            .map(|group| self.a1_broken_from(group))
            .collect();
        self.stats.a1_groups = a1_broken.iter().filter(|t| t.is_some()).count() as u64;
        for (group, violation) in std::mem::take(&mut self.oracle.durable_findings) {
            let excused = a1_broken
                .get(group as usize)
                .copied()
                .flatten()
                .is_some_and(|from| from <= violation.time_ms);
            if excused {
                self.stats.durable_excluded += 1;
            } else {
                self.violations.push(violation);
            }
        }
        if self.queue.refused > 0 {
            let refused = self.queue.refused;
            self.violate(
                SIM_LIMIT,
                format!("{refused} events refused by the full queue"),
            );
        }
        let mut violations = std::mem::take(&mut self.oracle.violations);
        violations.append(&mut self.violations);
        self.stats.granted_max = self.oracle.granted_max;
        self.stats.granted_limit = self.oracle.granted_max_limit;
        self.stats.releases = self.oracle.releases;
        self.stats.resets_seen_by_epoch = self.oracle.resets_seen_by_epoch;
        self.stats.registration_tests = self.oracle.registration_tests;
        self.stats.durable_checks = self.oracle.durable_checks;
        self.stats.legacy_attempt_violations = self.oracle.legacy_attempt_violations;
        self.stats.replica_drops = self.nodes.iter().map(VaultNode::drops_over_run).sum();
        self.stats.relay_drops = self.relays.iter().map(|r| r.relay.drops().total()).sum();
        self.stats.client_drops = self.users.iter().map(|u| u.client.drops().total()).sum();
        self.stats.torn_writes = self.nodes.iter().map(|n| n.torn_writes).sum();
        self.stats.disks_lost = self.nodes.iter().map(|n| n.disks_lost).sum();
        RunResult {
            config: self.config,
            trace_hash: self.trace.hash(),
            events: self.trace.events,
            simulated_ms: self.end_ms - START_MS,
            mix: self.mix,
            stats: self.stats,
            violations,
        }
    }
}
