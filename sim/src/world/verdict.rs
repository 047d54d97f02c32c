//! The end of a run: the final LIVE check, the INV-DURABLE findings judged under assumption A1,
//! the counts gathered from the oracle and the hosts, and the [`RunResult`].

use super::result::RunResult;
use super::state::{World, node_index};
use crate::checkers::{SIM_LIMIT, show};
use crate::consensus_counts::ConsensusCounts;
use crate::time::START_MS;
use crate::vault_node::{REPLICAS_PER_GROUP, VaultNode};

impl World {
    /// The intervals `[from, to)` in which more than ⌊(N−1)/2⌋ replicas of `group` were
    /// impaired at once (lost their state and not yet recovered: assumption A1 broken), in
    /// time order.
    pub(super) fn a1_broken_intervals(&self, group: u32) -> Vec<(u64, u64)> {
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
        let mut broken = Vec::new();
        let mut since: Option<u64> = None;
        for (at_ms, step) in edges {
            impaired += step;
            match (impaired > tolerated, since) {
                (true, None) => since = Some(at_ms),
                (false, Some(from)) => {
                    broken.push((from, at_ms));
                    since = None;
                }
                _ => {}
            }
        }
        if let Some(from) = since {
            broken.push((from, self.end_ms.max(from + 1)));
        }
        broken
    }

    /// Judges the LIVE findings under assumption A1: a finding counts only if its group kept a
    /// majority of healthy replicas through the finding's whole window (SPEC.md "LIVE": the
    /// promise is made to a group with `N/2 + 1` replicas up and voting; without re-genesis in
    /// the simulator a group that lost that majority cannot regain it).
    fn judge_live(&mut self, broken: &[Vec<(u64, u64)>]) {
        for finding in std::mem::take(&mut self.live_findings) {
            let (window_from, window_to) = (finding.from_ms, finding.violation.time_ms);
            let excused = broken.get(finding.group as usize).is_some_and(|intervals| {
                intervals
                    .iter()
                    .any(|&(from, to)| from <= window_to && window_from < to)
            });
            if excused {
                self.stats.live_excused += 1;
            } else {
                self.violations.push(finding.violation);
            }
        }
    }

    /// Ends the run: the final checks and counts, and the result.
    pub(super) fn finish(mut self) -> RunResult {
        // LIVE at the end: no owner operation still running or waiting to retry has waited longer
        // than `live_bound_ms` since the later of its first try and the heal. (Operations that
        // ended were judged when they ended; queued ones not yet started have not waited.)
        let (heal_ms, end_ms, bound_ms) = (self.heal_ms, self.end_ms, self.size.live_bound_ms);
        let unfinished: Vec<(usize, u64, String)> = self
            .users
            .iter()
            .enumerate()
            .filter(|(_, u)| u.is_owner())
            .filter_map(|(index, user)| {
                let (op, first_ms, tries) = match (user.running, user.retry) {
                    (Some(running), _) => (running.op, running.first_started_ms, running.tries),
                    (None, Some(retry)) => retry,
                    (None, None) => return None,
                };
                let waited_from = first_ms.max(heal_ms);
                if end_ms.saturating_sub(waited_from) <= bound_ms {
                    return None;
                }
                let detail = format!(
                    "account {} still has {op:?} at the end (first try at {first_ms} ms, {tries} tries) / {} queued",
                    show(&user.account),
                    user.script.len()
                );
                Some((index, waited_from, detail))
            })
            .collect();
        self.stats.ops_unfinished = self
            .users
            .iter()
            .filter(|u| u.is_owner() && (u.running.is_some() || u.retry.is_some()))
            .count() as u64;
        for (user, waited_from, detail) in unfinished.into_iter().take(20) {
            self.find_unlive(user, waited_from, detail);
        }
        // LIVE and INV-DURABLE (per operation), under assumption A1.
        let broken: Vec<Vec<(u64, u64)>> = (0..self.size.groups)
            .map(|group| self.a1_broken_intervals(group))
            .collect();
        self.stats.a1_groups = broken.iter().filter(|b| !b.is_empty()).count() as u64;
        self.judge_live(&broken);
        // INV-DURABLE findings in a group count only if the group never had more than
        // ⌊(N−1)/2⌋ replicas impaired at once before the reply: a record lost then stays lost.
        for (group, violation) in std::mem::take(&mut self.oracle.durable_findings) {
            let excused = broken
                .get(group as usize)
                .and_then(|b| b.first())
                .is_some_and(|&(from, _)| from <= violation.time_ms);
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
        self.stats.consensus = self
            .nodes
            .iter()
            .map(VaultNode::consensus_over_run)
            .fold(ConsensusCounts::default(), ConsensusCounts::plus);
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

#[cfg(test)]
mod tests {
    use super::super::config::SimConfig;
    use super::super::state::{LiveFinding, World};
    use crate::checkers::{LIVE, Violation};
    use crate::faults::Scenario;
    use crate::vault_node::TrustMode;

    fn world() -> World {
        World::new(SimConfig {
            scenario: Scenario::NoFaults,
            seed: 1,
            lite: true,
            broken: None,
            trust: TrustMode::Durable,
            victims_log_in: false,
        })
    }

    fn finding(group: u32, from_ms: u64, to_ms: u64) -> LiveFinding {
        LiveFinding {
            group,
            from_ms,
            violation: Violation {
                invariant: LIVE,
                time_ms: to_ms,
                detail: format!("group {group} [{from_ms}, {to_ms}]"),
            },
        }
    }

    #[test]
    fn a_live_finding_is_excused_only_where_its_own_group_broke_a1_within_its_window() {
        let mut world = world();
        world.live_findings = vec![
            // Group 0 broke A1 in [300, 400): inside the window, before it, after it, touching.
            finding(0, 100, 350),
            finding(0, 350, 500),
            finding(0, 100, 299),
            finding(0, 400, 500),
            finding(0, 100, 300),
            // Group 1 never broke A1: its finding counts whatever group 0 did.
            finding(1, 100, 350),
        ];
        let broken = vec![vec![(300, 400)], Vec::new()];
        world.judge_live(&broken);
        let reported: Vec<&str> = world.violations.iter().map(|v| v.detail.as_str()).collect();
        assert_eq!(
            reported,
            [
                "group 0 [100, 299]",
                "group 0 [400, 500]",
                "group 1 [100, 350]"
            ]
        );
        assert_eq!(world.stats.live_excused, 3);
    }

    #[test]
    fn a1_breaks_are_the_intervals_with_a_majority_impaired() {
        let mut world = world();
        world.end_ms = 10_000;
        // Replicas 0–2 of group 0 impaired in overlapping spans: three at once in [300, 400).
        for (node, (from, to)) in [(0, (100, 400)), (1, (200, 500)), (2, (300, 600))] {
            world.nodes[node].note_impaired(from, to);
        }
        assert_eq!(world.a1_broken_intervals(0), vec![(300, 400)]);
        assert_eq!(world.a1_broken_intervals(1), Vec::new());
    }
}
