//! The report table: per scenario, operations attempted and succeeded, availability, virtual
//! latency p50/p99, most password tests granted against the limit, violations.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::faults::Scenario;
use crate::world::RunResult;

/// Totals of one scenario over its seeds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScenarioRow {
    /// Seeds run.
    pub seeds: u64,
    /// Client operations started by account owners.
    pub attempted: u64,
    /// Of those, answered (not `Unavailable`).
    pub succeeded: u64,
    /// Latencies of the answered ones.
    pub latencies_ms: Vec<u64>,
    /// Most password tests granted to one registration.
    pub granted_max: u32,
    /// Its limit.
    pub granted_limit: u32,
    /// Violations.
    pub violations: u64,
    /// Violations by invariant.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Runs with at least one violation of each invariant.
    pub runs_by_kind: BTreeMap<&'static str, u64>,
    /// Runs with any violation.
    pub failed_runs: u64,
    /// Per-operation INV-DURABLE comparisons made, and findings excused by A1.
    pub durable_checks: u64,
    /// See [`crate::world::Stats::durable_excluded`].
    pub durable_excluded: u64,
    /// Groups (summed over runs) that broke assumption A1.
    pub a1_groups: u64,
    /// Runs the INV-ATTEMPTS rule before issue 12 would have flagged.
    pub legacy_attempt_runs: u64,
    /// Committed resets learnt from a later login epoch (their release reply was never sent).
    pub resets_seen_by_epoch: u64,
    /// Faults of issue 12 and the drops they caused, summed over runs (see
    /// [`crate::world::Stats`]; its fields of the same names).
    pub faults: FaultTotals,
    /// Real time spent in these runs.
    pub wall_seconds: f64,
    /// Events handled.
    pub events: u64,
    /// Virtual time simulated.
    pub simulated_ms: u64,
}

/// Sums of the fault counters of issue 12 and of the inputs the core dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultTotals {
    /// Message copies corrupted in transit.
    pub corrupted: u64,
    /// Corrupted replica-link envelopes delivered to a running replica.
    pub corrupted_link_deliveries: u64,
    /// Inputs the replicas dropped and counted.
    pub replica_drops: u64,
    /// Inputs the relays dropped and counted.
    pub relay_drops: u64,
    /// Replies the clients dropped and counted.
    pub client_drops: u64,
    /// Requests answered `Rejected`.
    pub rejected_replies: u64,
    /// Old copies delivered again.
    pub replays: u64,
    /// Clock jumps.
    pub clock_jumps: u64,
    /// Torn writes.
    pub torn_writes: u64,
    /// Disks lost.
    pub disks_lost: u64,
    /// Messages a malicious relay dropped, rewrote or misdelivered.
    pub relay_tampered: u64,
    /// `Promise`s a Byzantine replica sent with its accepted value hidden.
    pub byzantine_lies: u64,
}

impl FaultTotals {
    /// One line for the report.
    pub fn line(&self) -> String {
        format!(
            "corrupted {} (replica-link deliveries {}), drops counted: replicas {} relays {} \
             clients {}; \
             requests answered Rejected {}; \
             replays {}; clock jumps {}; torn writes {}; disks lost {}; relay tampering {}; \
             Byzantine promises {}",
            self.corrupted,
            self.corrupted_link_deliveries,
            self.replica_drops,
            self.relay_drops,
            self.client_drops,
            self.rejected_replies,
            self.replays,
            self.clock_jumps,
            self.torn_writes,
            self.disks_lost,
            self.relay_tampered,
            self.byzantine_lies
        )
    }
}

/// Rows by scenario.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// One row per scenario run.
    pub rows: BTreeMap<Scenario, ScenarioRow>,
    /// The trust mode (and broken variant) of every run, for the mode column.
    pub mode: String,
}

impl Report {
    /// Adds one run that took `wall_seconds` of real time.
    pub fn add(&mut self, result: &RunResult, wall_seconds: f64) {
        let row = self.rows.entry(result.config.scenario).or_default();
        row.wall_seconds += wall_seconds;
        let mut kinds = std::collections::BTreeSet::new();
        for violation in &result.violations {
            *row.by_kind.entry(violation.invariant).or_default() += 1;
            kinds.insert(violation.invariant);
        }
        for kind in kinds {
            *row.runs_by_kind.entry(kind).or_default() += 1;
        }
        if !result.violations.is_empty() {
            row.failed_runs += 1;
        }
        row.durable_checks += result.stats.durable_checks;
        row.durable_excluded += result.stats.durable_excluded;
        row.a1_groups += result.stats.a1_groups;
        if result.stats.legacy_attempt_violations > 0 {
            row.legacy_attempt_runs += 1;
        }
        row.resets_seen_by_epoch += result.stats.resets_seen_by_epoch;
        let (f, st) = (&mut row.faults, &result.stats);
        f.corrupted += st.corrupted;
        f.corrupted_link_deliveries += st.corrupted_link_deliveries;
        f.replica_drops += st.replica_drops;
        f.relay_drops += st.relay_drops;
        f.client_drops += st.client_drops;
        f.rejected_replies += st.rejected_replies;
        f.replays += st.replays;
        f.clock_jumps += st.clock_jumps;
        f.torn_writes += st.torn_writes;
        f.disks_lost += st.disks_lost;
        f.relay_tampered += st.relay_tampered;
        f.byzantine_lies += st.byzantine_lies;
        row.seeds += 1;
        row.attempted += result.stats.attempted;
        row.succeeded += result.stats.succeeded;
        row.latencies_ms
            .extend_from_slice(&result.stats.latencies_ms);
        if result.stats.granted_max > row.granted_max {
            row.granted_max = result.stats.granted_max;
            row.granted_limit = result.stats.granted_limit;
        }
        row.violations += result.violations.len() as u64;
        row.events += result.events;
        row.simulated_ms += result.simulated_ms;
    }

    /// The table as text.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| scenario | mode | seeds | ops attempted | ops succeeded | availability % | p50 ms | p99 ms | max attempts granted / limit | violations | by kind: violations (runs) | A1-broken groups | INV-DURABLE checks (excused by A1) | wall s |"
        );
        let _ = writeln!(
            out,
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"
        );
        for (scenario, row) in &self.rows {
            let mut latencies = row.latencies_ms.clone();
            latencies.sort_unstable();
            let availability = if row.attempted == 0 {
                0.0
            } else {
                100.0 * row.succeeded as f64 / row.attempted as f64
            };
            let kinds: Vec<String> = row
                .by_kind
                .iter()
                .map(|(kind, n)| {
                    format!(
                        "{kind} {n} ({})",
                        row.runs_by_kind.get(kind).copied().unwrap_or(0)
                    )
                })
                .collect();
            let kinds = if kinds.is_empty() {
                "—".to_owned()
            } else {
                kinds.join(", ")
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.2} | {} | {} | {} / {} | {} in {} runs | {} | {} | {} ({}) | {:.0} |",
                scenario.name(),
                self.mode,
                row.seeds,
                row.attempted,
                row.succeeded,
                availability,
                percentile(&latencies, 50),
                percentile(&latencies, 99),
                row.granted_max,
                row.granted_limit,
                row.violations,
                row.failed_runs,
                kinds,
                row.a1_groups,
                row.durable_checks,
                row.durable_excluded,
                row.wall_seconds
            );
        }
        out
    }
}

/// The `p`-th percentile of sorted `values` (nearest rank; 0 when empty).
pub fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_uses_the_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50), 50);
        assert_eq!(percentile(&values, 99), 99);
        assert_eq!(percentile(&[], 99), 0);
    }
}
