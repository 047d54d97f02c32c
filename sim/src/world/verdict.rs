//! The end of a run: the final LIVE check, the INV-DURABLE findings judged under assumption A1,
//! the counts gathered from the oracle and the hosts, and the [`RunResult`].

use super::result::RunResult;
use super::state::{World, node_index};
use crate::checkers::{LIVE, SIM_LIMIT, show};
use crate::time::START_MS;
use crate::vault_node::{REPLICAS_PER_GROUP, VaultNode};

impl World {
    /// The first time more than ⌊(N−1)/2⌋ replicas of `group` were impaired at once (lost
    /// their state and not yet recovered: assumption A1 broken), if ever.
    pub(super) fn a1_broken_from(&self, group: u32) -> Option<u64> {
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

    /// Ends the run: the final checks and counts, and the result.
    pub(super) fn finish(mut self) -> RunResult {
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
        self.stats.granted_max = self.oracle.judge.granted_max;
        self.stats.granted_limit = self.oracle.judge.granted_max_limit;
        self.stats.releases = self.oracle.judge.releases;
        self.stats.resets_seen_by_epoch = self.oracle.judge.resets_seen_by_epoch;
        self.stats.registration_tests = self.oracle.judge.registration_tests;
        self.stats.durable_checks = self.oracle.durable_checks;
        self.stats.legacy_attempt_violations = self.oracle.judge.legacy_attempt_violations;
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
