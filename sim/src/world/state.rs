//! The world's state: the [`World`] with its clock, event queue, hosts, users, checkers and
//! fault streams, the [`Event`]s it schedules, and the two primitives every part of the world
//! uses (record a violation, schedule an event). It imports no sibling that implements the
//! world's behaviour.

use super::config::{SimConfig, WorldSize};
use super::result::Stats;
use crate::checkers::{LIVE, Oracle, Violation};
use crate::events::EventQueue;
use crate::faults::{ExtraFaults, FaultAction};
use crate::network::{Dc, Network};
use crate::time::NodeClock;
use crate::trace::Trace;
use crate::vault_node::{REPLICAS_PER_GROUP, VaultNode};
use crate::workload::User;
use e2ee_backup::internal::relay::{Relay, group_for};

/// An event the world schedules: a message copy arriving, a timer, a fault, the heal.
#[derive(Clone)]
pub(super) enum Event {
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

/// A relay and what its host keeps: its datacenter, its clock and its next timer.
pub(super) struct RelayHost {
    pub(super) relay: Relay,
    pub(super) dc: Dc,
    pub(super) clock: NodeClock,
    pub(super) timer_at_ms: Option<u64>,
}

/// A LIVE finding before it is judged: it counts only if the account's group kept a majority
/// of healthy replicas (assumption A1) through the whole window in which the operation had to
/// complete.
pub(super) struct LiveFinding {
    /// The group that owns the account.
    pub(super) group: u32,
    /// The start of the window: the operation's first try, or the heal for work left queued.
    pub(super) from_ms: u64,
    /// The finding (its time is the end of the window).
    pub(super) violation: Violation,
}

/// The index of replica `replica` of `group` in the world's node list.
pub(super) fn node_index(group: u32, replica: u8) -> usize {
    (group as usize) * usize::from(REPLICAS_PER_GROUP) + usize::from(replica)
}

/// The simulated world: every host, user, checker and fault stream, and the event queue.
pub(super) struct World {
    /// What runs.
    pub(super) config: SimConfig,
    /// The size of the world.
    pub(super) size: WorldSize,
    /// Virtual time now.
    pub(super) now_ms: u64,
    /// When the safety phase ends and every fault heals.
    pub(super) heal_ms: u64,
    /// When the run ends.
    pub(super) end_ms: u64,
    /// The scheduled events.
    pub(super) queue: EventQueue<Event>,
    /// The trace every handled event is recorded in.
    pub(super) trace: Trace,
    /// The simulated network.
    pub(super) net: Network,
    /// The relays.
    pub(super) relays: Vec<RelayHost>,
    /// The vault replicas, by [`node_index`].
    pub(super) nodes: Vec<VaultNode>,
    /// The users (one phone each).
    pub(super) users: Vec<User>,
    /// The checkers' oracle.
    pub(super) oracle: Oracle,
    /// Counts for the report.
    pub(super) stats: Stats,
    /// Violations found by the world itself (the oracle keeps its own).
    pub(super) violations: Vec<Violation>,
    /// LIVE findings, judged at the end of the run under assumption A1 (see
    /// [`LiveFinding`]).
    pub(super) live_findings: Vec<LiveFinding>,
    /// The heal happened (faults are off).
    pub(super) healed: bool,
    /// The fault mix drawn.
    pub(super) mix: String,
    /// Chance that a replica crashes right after a reply.
    pub(super) crash_after_reply_per_million: u32,
    /// Chance that a whole group crashes right after a reply.
    pub(super) group_crash_after_reply_per_million: u32,
    /// Slowest disk write drawn before the heal (0 after it).
    pub(super) disk_write_ms_max: u64,
    /// Draws of the live faults (crashes after replies, slow disk writes).
    pub(super) fault_rng: rand_chacha::ChaCha20Rng,
    /// The faults of issue 12.
    pub(super) extra: ExtraFaults,
    /// Draws of the faults of issue 12 (their own stream: the older faults draw as before).
    pub(super) extra_rng: rand_chacha::ChaCha20Rng,
    /// While a relay handles a replica's reply: the replica's datacenter (replies the relay
    /// forwards to phones then were served by it; for the latency floor only).
    pub(super) reply_from: Option<Dc>,
}

impl World {
    /// Records a violation of `invariant` found now.
    pub(super) fn violate(&mut self, invariant: &'static str, detail: String) {
        self.violations.push(Violation {
            invariant,
            time_ms: self.now_ms,
            detail,
        });
    }

    /// Records a LIVE finding for user `user`'s account over the window `[from_ms, now]`, to be
    /// judged at the end of the run.
    pub(super) fn find_unlive(&mut self, user: usize, from_ms: u64, detail: String) {
        let group = self
            .users
            .get(user)
            .map_or(0, |u| group_for(&u.account, self.size.groups).0);
        self.live_findings.push(LiveFinding {
            group,
            from_ms,
            violation: Violation {
                invariant: LIVE,
                time_ms: self.now_ms,
                detail,
            },
        });
    }

    /// Schedules `event` `delay_ms` from now.
    pub(super) fn schedule(&mut self, delay_ms: u64, event: Event) {
        self.queue.push(self.now_ms.saturating_add(delay_ms), event);
    }
}
