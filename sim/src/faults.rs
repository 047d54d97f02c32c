//! Fault schedules: named scenarios and swarm draws. Each scenario yields network settings, clock
//! drift bounds and a time-ordered list of fault actions for the safety phase; at the end of the
//! safety phase the world heals everything (restarts every replica, ends every partition).

use std::fmt::Write as _;

use rand_chacha::ChaCha20Rng;

use crate::network::{DATACENTERS, Dc, NetworkConfig};
use crate::seed::{draw_chance, draw_range};

/// A named scenario (the report has one row each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// A healthy network and fleet.
    NoFaults,
    /// One replica (of group 0) is down for the whole safety phase.
    OneReplicaDown,
    /// Datacenter 0 is down for the whole safety phase.
    OneDcDown,
    /// Datacenter 0 is down and one more replica (in another datacenter) has crashed.
    DcDownPlusReplica,
    /// Datacenters 0, 1 and 2 go down, then come back in the middle of the safety phase.
    ThreeDcsDownHealed,
    /// Datacenters are cut off and single links cut one way, again and again.
    FlappingPartitions,
    /// Replicas crash and restart from their durable state, again and again.
    CrashRestart,
    /// Correlated crashes: every replica of a group crashes at once, right after one of them
    /// sent a reply, while disks are slow (writes take up to `disk_write_ms_max`).
    GroupCrashes,
    /// The operator rolls disks back (SPEC.md "Threat model"): it copies the disks of one or two
    /// replicas of every group, lets attempts be counted by a quorum that includes them (the
    /// others down), then puts the copies back and takes down the replicas that saw the count,
    /// so that a stale quorum answers; then the witnesses return.
    Rollback,
    /// As `Rollback`, but all five disks of every group are copied and put back at once.
    RollbackAll,
    /// Bytes flipped in transit on every kind of link (phone→relay, relay→replica,
    /// replica→replica and every reply): the receivers must drop them (INV-TAMPER).
    Corruption,
    /// The network keeps a sample of old messages of every link and delivers them again
    /// 20–120 s later (long-delayed replays, across the heal).
    Replays,
    /// Replica and relay clocks jump forward and back by up to two minutes.
    ClockJumps,
    /// Crashes with real disk semantics: a write is durable only once it completes (its sync);
    /// at a crash the writes in progress are lost and the first of them may land torn (its
    /// slot then holds neither the old nor the new bytes); disks also vanish at any time (the
    /// replica restarts as an amnesiac).
    TornWrites,
    /// The relays of one datacenter are malicious during the safety phase: they drop, replay
    /// and reorder messages both ways, rewrite account ids and route ids of requests and send
    /// replies to the wrong phones.
    MaliciousRelay,
    /// Each seed draws its own fault mix.
    Swarm,
    /// Not in [`Scenario::ALL`] (it breaks safety by design): replica 0 of every group is
    /// Byzantine. It sends well-formed consensus messages under its own link key, but every
    /// `Promise` it sends claims it accepted nothing (an acceptor that hides what it accepted),
    /// and every `Accept` it sends as a proposer sets an active record's `attempts_used` to 0;
    /// partitions flap as in `flapping-partitions` so that other replicas become proposers.
    ByzantineReplica,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 16] = [
        Scenario::NoFaults,
        Scenario::OneReplicaDown,
        Scenario::OneDcDown,
        Scenario::DcDownPlusReplica,
        Scenario::ThreeDcsDownHealed,
        Scenario::FlappingPartitions,
        Scenario::CrashRestart,
        Scenario::GroupCrashes,
        Scenario::Rollback,
        Scenario::RollbackAll,
        Scenario::Corruption,
        Scenario::Replays,
        Scenario::ClockJumps,
        Scenario::TornWrites,
        Scenario::MaliciousRelay,
        Scenario::Swarm,
    ];

    /// Scenarios outside [`Scenario::ALL`] (not run by `--scenario all`, nor in `swarm`): their
    /// faults are beyond what the design tolerates (SPEC.md "Simulation", Byzantine replica).
    pub const BEYOND_DESIGN: [Scenario; 1] = [Scenario::ByzantineReplica];

    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::NoFaults => "no-faults",
            Scenario::OneReplicaDown => "one-replica-down",
            Scenario::OneDcDown => "one-dc-down",
            Scenario::DcDownPlusReplica => "dc-down-plus-replica",
            Scenario::ThreeDcsDownHealed => "three-dcs-down-healed",
            Scenario::FlappingPartitions => "flapping-partitions",
            Scenario::CrashRestart => "crash-restart",
            Scenario::GroupCrashes => "group-crashes",
            Scenario::Rollback => "rollback",
            Scenario::RollbackAll => "rollback-all",
            Scenario::Corruption => "corruption",
            Scenario::Replays => "replays",
            Scenario::ClockJumps => "clock-jumps",
            Scenario::TornWrites => "torn-writes",
            Scenario::MaliciousRelay => "malicious-relay",
            Scenario::Swarm => "swarm",
            Scenario::ByzantineReplica => "byzantine-replica",
        }
    }

    /// The scenario named `name`.
    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL
            .into_iter()
            .chain(Scenario::BEYOND_DESIGN)
            .find(|s| s.name() == name)
    }
}

/// One fault action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Replica `replica` of `group` crashes (volatile state lost).
    Crash {
        /// Replica group.
        group: u32,
        /// Replica (and datacenter) index.
        replica: u8,
    },
    /// Replica `replica` of `group` restarts from its disk.
    Restart {
        /// Replica group.
        group: u32,
        /// Replica (and datacenter) index.
        replica: u8,
    },
    /// Datacenter `dc` goes down: its replicas crash, nothing reaches it.
    DcDown {
        /// Datacenter.
        dc: Dc,
    },
    /// Datacenter `dc` comes back: its replicas restart from disk.
    DcUp {
        /// Datacenter.
        dc: Dc,
    },
    /// Messages from `from` to `to` are dropped.
    Cut {
        /// Sending datacenter.
        from: Dc,
        /// Receiving datacenter.
        to: Dc,
    },
    /// The link from `from` to `to` works again.
    Uncut {
        /// Sending datacenter.
        from: Dc,
        /// Receiving datacenter.
        to: Dc,
    },
    /// Messages from `from` to `to` take `extra_ms` longer.
    Clog {
        /// Sending datacenter.
        from: Dc,
        /// Receiving datacenter.
        to: Dc,
        /// Extra delay.
        extra_ms: u64,
    },
    /// The link from `from` to `to` is no longer clogged.
    Unclog {
        /// Sending datacenter.
        from: Dc,
        /// Receiving datacenter.
        to: Dc,
    },
    /// The operator copies the disk of replica `replica` of `group` (what it holds now).
    CopyDisk {
        /// Replica group.
        group: u32,
        /// Replica (and datacenter) index.
        replica: u8,
    },
    /// The operator stops replica `replica` of `group` (if it runs) and puts its last copy of
    /// the disk back; the replica stays down until a `Restart`.
    RestoreDisk {
        /// Replica group.
        group: u32,
        /// Replica (and datacenter) index.
        replica: u8,
    },
    /// The clock of `target` jumps by `jump_ms` (negative: backward) and keeps its drift.
    ClockJump {
        /// Whose clock.
        target: ClockTarget,
        /// The step, milliseconds.
        jump_ms: i64,
    },
    /// The disk of replica `replica` of `group` vanishes: the replica crashes, its disk is
    /// replaced by an empty one, and it restarts 1–3 s later (an amnesiac).
    LoseDisk {
        /// Replica group.
        group: u32,
        /// Replica (and datacenter) index.
        replica: u8,
    },
    /// Replica `replica` of `group` handles messages `extra_ms` late (0: normal speed).
    Slow {
        /// Replica group.
        group: u32,
        /// Replica (and datacenter) index.
        replica: u8,
        /// Extra delay.
        extra_ms: u64,
    },
}

/// Whose clock a [`FaultAction::ClockJump`] moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockTarget {
    /// Replica `replica` of `group`.
    Replica {
        /// Replica group.
        group: u32,
        /// Replica (and datacenter) index.
        replica: u8,
    },
    /// Relay number `relay` (relays are numbered by datacenter).
    Relay {
        /// Relay index.
        relay: usize,
    },
}

/// What a malicious relay does to the messages it sends, each a chance per million per message
/// (SPEC.md "Simulation", malicious relay).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaliciousRelay {
    /// The datacenter whose relays are malicious.
    pub dc: Dc,
    /// A message is dropped.
    pub drop_per_million: u32,
    /// A message is sent again 1–60 s later.
    pub replay_per_million: u32,
    /// Most extra delay of a message (reordering).
    pub reorder_ms_max: u64,
    /// A request is sent with another account's id.
    pub rewrite_account_per_million: u32,
    /// A request is sent with a random route id, or a reply to another phone.
    pub rewrite_route_per_million: u32,
}

/// Faults added by issue 12 (all off by default; drawn from their own RNG, `faults-extra`, so
/// that the scenarios before them run exactly as they did).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtraFaults {
    /// Chance, per million, that a message copy has one byte flipped in transit (before the
    /// heal; never the relay's or client's unauthenticated routing ids, which a flip would
    /// merely misroute).
    pub corrupt_per_million: u32,
    /// Chance, per million, that a message copy is also kept and delivered again later.
    pub replay_per_million: u32,
    /// Earliest delay of a replayed copy.
    pub replay_delay_ms_min: u64,
    /// Latest delay of a replayed copy.
    pub replay_delay_ms_max: u64,
    /// Chance, per million, that a crash tears the first write in progress (the slot then
    /// holds a mix of the old and new bytes).
    pub torn_write_per_million: u32,
    /// Malicious relays, if any.
    pub malicious_relay: Option<MaliciousRelay>,
    /// Replica 0 of every group hides what it accepted in every `Promise` it sends and refunds
    /// the counted attempts in every `Accept` it sends.
    pub byzantine_replica: bool,
}

/// A scenario drawn for one seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultPlan {
    /// Network settings.
    pub network: NetworkConfig,
    /// Most clock drift of a node, parts per million.
    pub drift_ppm_max: i64,
    /// Most clock offset of a node.
    pub offset_ms_max: i64,
    /// Chance, per million, that a replica crashes right after it sent a reply (a crash at the
    /// worst moment for a host that replies before its writes complete).
    pub crash_after_reply_per_million: u32,
    /// Chance, per million, that every replica of a group crashes at once right after one of
    /// them sent a reply (a correlated crash: power loss, a bad deploy); each restarts from its
    /// disk 1–3 s later.
    pub group_crash_after_reply_per_million: u32,
    /// Each durable write takes between `DISK_WRITE_MS` and this long (slow disks); `0`: always
    /// `DISK_WRITE_MS`.
    pub disk_write_ms_max: u64,
    /// The faults of issue 12 (corruption, replays, torn writes, malicious relays).
    pub extra: ExtraFaults,
    /// Fault actions by virtual time (sorted).
    pub schedule: Vec<(u64, FaultAction)>,
    /// What was drawn, for the log.
    pub mix: String,
}

/// Most fault actions one plan holds.
pub const FAULT_ACTIONS_MAX: usize = 10_000;

/// Replicas in each group: one in every datacenter (replica `i` is in datacenter `i`).
const REPLICAS: u64 = DATACENTERS as u64;

/// Draws the plan of `scenario` for a safety phase `[start_ms, end_ms)` over `groups` groups.
pub fn plan(
    scenario: Scenario,
    rng: &mut ChaCha20Rng,
    groups: u32,
    start_ms: u64,
    end_ms: u64,
) -> FaultPlan {
    let faulty_network = NetworkConfig {
        loss_per_million: 2_000,
        duplicate_per_million: 2_000,
        jitter_ms_max: 20,
        client_latency_ms_max: 40,
    };
    let mut plan = FaultPlan {
        network: faulty_network,
        drift_ppm_max: 100,
        offset_ms_max: 500,
        crash_after_reply_per_million: 0,
        group_crash_after_reply_per_million: 0,
        disk_write_ms_max: 0,
        extra: ExtraFaults::default(),
        schedule: Vec::new(),
        mix: String::new(),
    };
    let mid_ms = start_ms + (end_ms - start_ms) / 2;
    match scenario {
        Scenario::NoFaults => {
            plan.network = NetworkConfig {
                loss_per_million: 0,
                duplicate_per_million: 0,
                jitter_ms_max: 0,
                client_latency_ms_max: 40,
            };
            plan.drift_ppm_max = 0;
            plan.offset_ms_max = 0;
        }
        Scenario::OneReplicaDown => {
            plan.schedule.push((
                start_ms,
                FaultAction::Crash {
                    group: 0,
                    replica: 0,
                },
            ));
        }
        Scenario::OneDcDown => {
            plan.schedule
                .push((start_ms, FaultAction::DcDown { dc: 0 }));
        }
        Scenario::DcDownPlusReplica => {
            plan.schedule
                .push((start_ms, FaultAction::DcDown { dc: 0 }));
            // Group 0 loses two of its five replicas: a quorum of three is left.
            plan.schedule.push((
                start_ms,
                FaultAction::Crash {
                    group: 0,
                    replica: 1,
                },
            ));
        }
        Scenario::ThreeDcsDownHealed => {
            for dc in 0..3 {
                plan.schedule.push((start_ms, FaultAction::DcDown { dc }));
                plan.schedule.push((mid_ms, FaultAction::DcUp { dc }));
            }
        }
        Scenario::FlappingPartitions => flapping(rng, &mut plan, start_ms, end_ms, 2_000, 8_000),
        Scenario::CrashRestart => {
            crashes(rng, &mut plan, groups, start_ms, end_ms, 1_000, 5_000);
            plan.crash_after_reply_per_million = 30_000;
        }
        Scenario::GroupCrashes => {
            plan.group_crash_after_reply_per_million = 20_000;
            plan.disk_write_ms_max = 250;
        }
        Scenario::Rollback => {
            let mix = rollbacks(rng, &mut plan, groups, start_ms, end_ms, &[1, 2]);
            plan.mix = mix;
        }
        Scenario::RollbackAll => {
            let mix = rollbacks(rng, &mut plan, groups, start_ms, end_ms, &[5]);
            plan.mix = mix;
        }
        Scenario::Corruption => {
            plan.extra.corrupt_per_million = 20_000;
            plan.mix = format!("corruption({}ppm)", plan.extra.corrupt_per_million);
        }
        Scenario::Replays => {
            plan.extra.replay_per_million = 5_000;
            plan.extra.replay_delay_ms_min = 20_000;
            plan.extra.replay_delay_ms_max = 120_000;
            plan.mix = format!("replays({}ppm,20-120s)", plan.extra.replay_per_million);
        }
        Scenario::ClockJumps => {
            let jumps = clock_jumps(rng, &mut plan, groups, start_ms, end_ms, 2_000, 120_000);
            plan.mix = format!("clock-jumps({jumps},|jump|<=120s)");
        }
        Scenario::TornWrites => {
            crashes(rng, &mut plan, groups, start_ms, end_ms, 1_000, 5_000);
            plan.crash_after_reply_per_million = 30_000;
            plan.disk_write_ms_max = 100;
            plan.extra.torn_write_per_million = 500_000;
            let lost = disk_losses(rng, &mut plan, groups, start_ms, end_ms, 10_000);
            plan.mix = format!(
                "torn-writes(crashes,torn={}ppm,disk<=100ms,disks-lost={lost})",
                plan.extra.torn_write_per_million
            );
        }
        Scenario::MaliciousRelay => {
            let relay = MaliciousRelay {
                dc: usize::try_from(draw_range(rng, 0, DATACENTERS as u64 - 1)).unwrap_or(0),
                drop_per_million: 50_000,
                replay_per_million: 50_000,
                reorder_ms_max: 2_000,
                rewrite_account_per_million: 50_000,
                rewrite_route_per_million: 50_000,
            };
            plan.mix = format!("{relay:?}");
            plan.extra.malicious_relay = Some(relay);
        }
        Scenario::Swarm => swarm(rng, &mut plan, groups, start_ms, end_ms),
        Scenario::ByzantineReplica => {
            flapping(rng, &mut plan, start_ms, end_ms, 2_000, 8_000);
            plan.extra.byzantine_replica = true;
            plan.mix = "byzantine(replica 0 of every group hides accepted values)".to_owned();
        }
    }
    plan.schedule.truncate(FAULT_ACTIONS_MAX);
    plan.schedule.sort_by_key(|(time_ms, _)| *time_ms);
    if plan.mix.is_empty() {
        plan.mix = format!(
            "loss={}ppm dup={}ppm jitter<={}ms drift<={}ppm crash-after-reply={}ppm \
             group-crash-after-reply={}ppm disk<={}ms actions={}",
            plan.network.loss_per_million,
            plan.network.duplicate_per_million,
            plan.network.jitter_ms_max,
            plan.drift_ppm_max,
            plan.crash_after_reply_per_million,
            plan.group_crash_after_reply_per_million,
            plan.disk_write_ms_max,
            plan.schedule.len()
        );
    }
    plan
}

fn flapping(
    rng: &mut ChaCha20Rng,
    plan: &mut FaultPlan,
    start_ms: u64,
    end_ms: u64,
    gap_ms_max: u64,
    outage_ms_max: u64,
) {
    let mut at_ms = start_ms;
    for _ in 0..FAULT_ACTIONS_MAX / 16 {
        at_ms += draw_range(rng, 200, gap_ms_max);
        if at_ms >= end_ms {
            break;
        }
        let until_ms = (at_ms + draw_range(rng, 500, outage_ms_max)).min(end_ms);
        let dc = usize::try_from(draw_range(rng, 0, DATACENTERS as u64 - 1)).unwrap_or(0);
        if draw_chance(rng, 500_000) {
            // The whole datacenter is cut off, both ways.
            for other in (0..DATACENTERS).filter(|o| *o != dc) {
                for (from, to) in [(dc, other), (other, dc)] {
                    plan.schedule.push((at_ms, FaultAction::Cut { from, to }));
                    plan.schedule
                        .push((until_ms, FaultAction::Uncut { from, to }));
                }
            }
        } else {
            // One link, one direction.
            let to = (dc + 1 + usize::try_from(draw_range(rng, 0, 3)).unwrap_or(0)) % DATACENTERS;
            plan.schedule
                .push((at_ms, FaultAction::Cut { from: dc, to }));
            plan.schedule
                .push((until_ms, FaultAction::Uncut { from: dc, to }));
        }
    }
}

fn crashes(
    rng: &mut ChaCha20Rng,
    plan: &mut FaultPlan,
    groups: u32,
    start_ms: u64,
    end_ms: u64,
    gap_ms_max: u64,
    down_ms_max: u64,
) {
    let mut at_ms = start_ms;
    for _ in 0..FAULT_ACTIONS_MAX / 4 {
        at_ms += draw_range(rng, 20, gap_ms_max);
        if at_ms >= end_ms {
            break;
        }
        let group = u32::try_from(draw_range(rng, 0, u64::from(groups.max(1)) - 1)).unwrap_or(0);
        let replica = u8::try_from(draw_range(rng, 0, REPLICAS - 1)).unwrap_or(0);
        let until_ms = (at_ms + draw_range(rng, 1, down_ms_max)).min(end_ms);
        plan.schedule
            .push((at_ms, FaultAction::Crash { group, replica }));
        plan.schedule
            .push((until_ms, FaultAction::Restart { group, replica }));
    }
}

/// Rollback cycles over the safety phase, each on every group at once. A cycle draws how many
/// replicas of a group the operator rolls back (`k`, one of `sizes`: 1, 2 or 5) and runs, with
/// `R` = the rolled-back replicas `0..k`, `W` = the witnesses `k..3` that complete a first
/// quorum with them and `O` = the others (replica `i` lives in datacenter `i`): copy the disks
/// of `R` and cut `O`'s datacenters off (the attempts of the next seconds are counted by
/// `R ∪ W`); then crash `R`, put the copies back, cut `W` off instead of `O` and restart `R` (a
/// quorum `R ∪ O` that never saw the count, unless the replicas notice); after a while `W`
/// returns. Returns the mix.
fn rollbacks(
    rng: &mut ChaCha20Rng,
    plan: &mut FaultPlan,
    groups: u32,
    start_ms: u64,
    end_ms: u64,
    sizes: &[u8],
) -> String {
    let isolate = |plan: &mut FaultPlan, at_ms: u64, dc: Dc, cut: bool| {
        for other in (0..DATACENTERS).filter(|o| *o != dc) {
            for (from, to) in [(dc, other), (other, dc)] {
                let action = if cut {
                    FaultAction::Cut { from, to }
                } else {
                    FaultAction::Uncut { from, to }
                };
                plan.schedule.push((at_ms, action));
            }
        }
    };
    let mut at_ms = start_ms;
    let mut drawn = [0u32; 3];
    for _ in 0..FAULT_ACTIONS_MAX / (64 * groups.max(1) as usize) {
        let counted_ms = draw_range(rng, 1_000, 6_000);
        let stale_ms = draw_range(rng, 3_000, 10_000);
        if at_ms + counted_ms + stale_ms + 1_000 >= end_ms {
            break;
        }
        let pick = draw_range(rng, 0, sizes.len().saturating_sub(1) as u64);
        let k = sizes
            .get(usize::try_from(pick).unwrap_or(0))
            .copied()
            .unwrap_or(1);
        let kind = match k {
            1 => 0,
            2 => 1,
            _ => 2,
        };
        if let Some(n) = drawn.get_mut(kind) {
            *n += 1;
        }
        let rolled: Vec<u8> = (0..k).collect();
        let witnesses: Vec<u8> = (k..3).collect();
        let others: Vec<u8> = (k.max(3)..5).collect();
        let swap_ms = at_ms + counted_ms;
        let heal_ms = swap_ms + stale_ms;
        for &replica in &others {
            isolate(plan, at_ms, usize::from(replica), true);
            isolate(plan, swap_ms, usize::from(replica), false);
        }
        for &replica in &witnesses {
            isolate(plan, swap_ms, usize::from(replica), true);
            isolate(plan, heal_ms, usize::from(replica), false);
        }
        for group in 0..groups {
            for &replica in &rolled {
                plan.schedule
                    .push((at_ms, FaultAction::CopyDisk { group, replica }));
                plan.schedule
                    .push((swap_ms, FaultAction::RestoreDisk { group, replica }));
                plan.schedule
                    .push((swap_ms + 1, FaultAction::Restart { group, replica }));
            }
        }
        at_ms = heal_ms + draw_range(rng, 500, 3_000);
    }
    let [one, two, all] = drawn;
    format!("rollbacks(one={one},two={two},all={all})")
}

/// Clock jumps of random replicas and relays, one every up to `gap_ms_max`, each by up to
/// `jump_ms_max` either way. Returns how many.
fn clock_jumps(
    rng: &mut ChaCha20Rng,
    plan: &mut FaultPlan,
    groups: u32,
    start_ms: u64,
    end_ms: u64,
    gap_ms_max: u64,
    jump_ms_max: u64,
) -> usize {
    let mut at_ms = start_ms;
    let mut jumps = 0;
    for _ in 0..FAULT_ACTIONS_MAX / 4 {
        at_ms += draw_range(rng, 100, gap_ms_max);
        if at_ms >= end_ms {
            break;
        }
        let target = if draw_chance(rng, 700_000) {
            ClockTarget::Replica {
                group: u32::try_from(draw_range(rng, 0, u64::from(groups.max(1)) - 1)).unwrap_or(0),
                replica: u8::try_from(draw_range(rng, 0, REPLICAS - 1)).unwrap_or(0),
            }
        } else {
            // Relay indices `0..DATACENTERS` exist in every world size.
            ClockTarget::Relay {
                relay: usize::try_from(draw_range(rng, 0, DATACENTERS as u64 - 1)).unwrap_or(0),
            }
        };
        let size = i64::try_from(draw_range(rng, 1, jump_ms_max)).unwrap_or(1);
        let jump_ms = if draw_chance(rng, 500_000) {
            size
        } else {
            -size
        };
        plan.schedule
            .push((at_ms, FaultAction::ClockJump { target, jump_ms }));
        jumps += 1;
    }
    jumps
}

/// Disks of random replicas vanish, one every up to `gap_ms_max`. Returns how many.
fn disk_losses(
    rng: &mut ChaCha20Rng,
    plan: &mut FaultPlan,
    groups: u32,
    start_ms: u64,
    end_ms: u64,
    gap_ms_max: u64,
) -> usize {
    let mut at_ms = start_ms;
    let mut lost = 0;
    for _ in 0..FAULT_ACTIONS_MAX / 4 {
        at_ms += draw_range(rng, 1_000, gap_ms_max);
        if at_ms >= end_ms {
            break;
        }
        let group = u32::try_from(draw_range(rng, 0, u64::from(groups.max(1)) - 1)).unwrap_or(0);
        let replica = u8::try_from(draw_range(rng, 0, REPLICAS - 1)).unwrap_or(0);
        plan.schedule
            .push((at_ms, FaultAction::LoseDisk { group, replica }));
        lost += 1;
    }
    lost
}

fn swarm(rng: &mut ChaCha20Rng, plan: &mut FaultPlan, groups: u32, start_ms: u64, end_ms: u64) {
    plan.network = NetworkConfig {
        loss_per_million: u32::try_from(draw_range(rng, 0, 50_000)).unwrap_or(0),
        duplicate_per_million: u32::try_from(draw_range(rng, 0, 50_000)).unwrap_or(0),
        jitter_ms_max: draw_range(rng, 0, 300),
        client_latency_ms_max: draw_range(rng, 10, 120),
    };
    plan.drift_ppm_max = i64::try_from(draw_range(rng, 0, 500)).unwrap_or(0);
    plan.offset_ms_max = i64::try_from(draw_range(rng, 0, 5_000)).unwrap_or(0);
    let mut mix = format!(
        "swarm: loss={}ppm dup={}ppm jitter<={}ms phone<={}ms drift<={}ppm offset<={}ms",
        plan.network.loss_per_million,
        plan.network.duplicate_per_million,
        plan.network.jitter_ms_max,
        plan.network.client_latency_ms_max,
        plan.drift_ppm_max,
        plan.offset_ms_max
    );
    if draw_chance(rng, 500_000) {
        let gap_ms_max = draw_range(rng, 1_000, 20_000);
        let outage_ms_max = draw_range(rng, 500, 15_000);
        flapping(rng, plan, start_ms, end_ms, gap_ms_max, outage_ms_max);
        let _ = write!(
            mix,
            " partitions(gap<={gap_ms_max}ms,outage<={outage_ms_max}ms)"
        );
    }
    if draw_chance(rng, 500_000) {
        let gap_ms_max = draw_range(rng, 200, 20_000);
        let down_ms_max = draw_range(rng, 10, 10_000);
        crashes(rng, plan, groups, start_ms, end_ms, gap_ms_max, down_ms_max);
        plan.crash_after_reply_per_million = u32::try_from(draw_range(rng, 0, 30_000)).unwrap_or(0);
        let _ = write!(
            mix,
            " crashes(gap<={gap_ms_max}ms,down<={down_ms_max}ms,after-reply={}ppm)",
            plan.crash_after_reply_per_million
        );
    }
    if draw_chance(rng, 300_000) {
        plan.group_crash_after_reply_per_million =
            u32::try_from(draw_range(rng, 1_000, 20_000)).unwrap_or(0);
        plan.disk_write_ms_max = draw_range(rng, 8, 250);
        let _ = write!(
            mix,
            " group-crashes(after-reply={}ppm,disk<={}ms)",
            plan.group_crash_after_reply_per_million, plan.disk_write_ms_max
        );
    }
    if draw_chance(rng, 300_000) {
        let dc = usize::try_from(draw_range(rng, 0, DATACENTERS as u64 - 1)).unwrap_or(0);
        let at_ms = draw_range(rng, start_ms, end_ms);
        let until_ms = draw_range(rng, at_ms, end_ms);
        plan.schedule.push((at_ms, FaultAction::DcDown { dc }));
        plan.schedule.push((until_ms, FaultAction::DcUp { dc }));
        let _ = write!(mix, " dc{dc}-down({}s)", (until_ms - at_ms) / 1_000);
    }
    if draw_chance(rng, 400_000) {
        let from = usize::try_from(draw_range(rng, 0, DATACENTERS as u64 - 1)).unwrap_or(0);
        let to = (from + 1) % DATACENTERS;
        let extra_ms = draw_range(rng, 100, 3_000);
        plan.schedule
            .push((start_ms, FaultAction::Clog { from, to, extra_ms }));
        plan.schedule
            .push((end_ms, FaultAction::Unclog { from, to }));
        let _ = write!(mix, " clog(dc{from}->dc{to},+{extra_ms}ms)");
    }
    if draw_chance(rng, 400_000) {
        let group = u32::try_from(draw_range(rng, 0, u64::from(groups.max(1)) - 1)).unwrap_or(0);
        let replica = u8::try_from(draw_range(rng, 0, REPLICAS - 1)).unwrap_or(0);
        let extra_ms = draw_range(rng, 50, 2_000);
        plan.schedule.push((
            start_ms,
            FaultAction::Slow {
                group,
                replica,
                extra_ms,
            },
        ));
        let _ = write!(mix, " slow(group{group}/replica{replica},+{extra_ms}ms)");
    }
    if draw_chance(rng, 300_000) {
        let mut rollback_plan = FaultPlan {
            schedule: Vec::new(),
            mix: String::new(),
            ..plan.clone()
        };
        let drawn = rollbacks(rng, &mut rollback_plan, groups, start_ms, end_ms, &[1, 2]);
        plan.schedule.extend(rollback_plan.schedule);
        let _ = write!(mix, " {drawn}");
    }
    // Issue 12's faults, drawn last so that every draw above is what it was before them.
    if draw_chance(rng, 300_000) {
        plan.extra.corrupt_per_million = u32::try_from(draw_range(rng, 100, 20_000)).unwrap_or(0);
        let _ = write!(mix, " corruption({}ppm)", plan.extra.corrupt_per_million);
    }
    if draw_chance(rng, 300_000) {
        plan.extra.replay_per_million = u32::try_from(draw_range(rng, 100, 5_000)).unwrap_or(0);
        plan.extra.replay_delay_ms_min = 1_000;
        plan.extra.replay_delay_ms_max = draw_range(rng, 2_000, 120_000);
        let _ = write!(
            mix,
            " replays({}ppm,<={}s)",
            plan.extra.replay_per_million,
            plan.extra.replay_delay_ms_max / 1_000
        );
    }
    if draw_chance(rng, 300_000) {
        let jump_ms_max = draw_range(rng, 100, 120_000);
        let jumps = clock_jumps(rng, plan, groups, start_ms, end_ms, 10_000, jump_ms_max);
        let _ = write!(mix, " clock-jumps({jumps},<={jump_ms_max}ms)");
    }
    if draw_chance(rng, 300_000) {
        plan.extra.torn_write_per_million =
            u32::try_from(draw_range(rng, 0, 1_000_000)).unwrap_or(0);
        let lost = if draw_chance(rng, 500_000) {
            disk_losses(rng, plan, groups, start_ms, end_ms, 30_000)
        } else {
            0
        };
        let _ = write!(
            mix,
            " torn-writes({}ppm,disks-lost={lost})",
            plan.extra.torn_write_per_million
        );
    }
    if draw_chance(rng, 200_000) {
        let relay = MaliciousRelay {
            dc: usize::try_from(draw_range(rng, 0, DATACENTERS as u64 - 1)).unwrap_or(0),
            drop_per_million: u32::try_from(draw_range(rng, 0, 50_000)).unwrap_or(0),
            replay_per_million: u32::try_from(draw_range(rng, 0, 50_000)).unwrap_or(0),
            reorder_ms_max: draw_range(rng, 0, 2_000),
            rewrite_account_per_million: u32::try_from(draw_range(rng, 0, 50_000)).unwrap_or(0),
            rewrite_route_per_million: u32::try_from(draw_range(rng, 0, 50_000)).unwrap_or(0),
        };
        let _ = write!(mix, " {relay:?}");
        plan.extra.malicious_relay = Some(relay);
    }
    plan.mix = mix;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::derive_rng;

    #[test]
    fn every_scenario_name_round_trips() {
        for scenario in Scenario::ALL.into_iter().chain(Scenario::BEYOND_DESIGN) {
            assert_eq!(Scenario::from_name(scenario.name()), Some(scenario));
        }
    }

    #[test]
    fn swarm_draws_differ_between_seeds() {
        let a = plan(Scenario::Swarm, &mut derive_rng(1, "faults"), 3, 0, 60_000);
        let b = plan(Scenario::Swarm, &mut derive_rng(2, "faults"), 3, 0, 60_000);
        assert_ne!(a.mix, b.mix);
    }
}
