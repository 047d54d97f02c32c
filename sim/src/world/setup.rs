//! Building the world from a [`SimConfig`]: the fault plan, the vault replicas, the relays, the
//! users and their first events, in the order their random streams are drawn.

use super::config::{
    Broken, QUEUE_CAPACITY, SimConfig, VAULT_RETRY_MS, VAULT_SENDS_MAX, WorldSize,
};
use super::result::Stats;
use super::state::{Event, RelayHost, World};
use crate::checkers::Oracle;
use crate::events::EventQueue;
use crate::faults::{FaultPlan, plan};
use crate::network::{DATACENTERS, DISK_WRITE_MS, Dc, Network};
use crate::seed::{derive_rng, draw_range, fleet_secrets};
use crate::time::{NodeClock, START_MS};
use crate::trace::Trace;
use crate::vault_node::{HostMode, REPLICAS_PER_GROUP, VaultNode};
use crate::workload::{Role, User, account_name};
use e2ee_backup::internal::crypto::CryptoSuite as _;
use e2ee_backup::internal::crypto::real::InsecureFastSuite;
use e2ee_backup::internal::relay::{FirstReplica, Relay, RelayConfig};

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

impl World {
    /// Builds the world for `config`: the fault plan, the replicas, the relays and the users, and
    /// schedules the plan's faults, the heal and each owner's first wake-up.
    pub(super) fn new(config: SimConfig) -> Self {
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
            Some(Broken::Engine(fault)) => HostMode::Engine(fault),
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
            live_findings: Vec::new(),
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
}
