//! The report table: per scenario, operations attempted and succeeded, availability, virtual
//! latency p50/p99, most password tests granted against the limit, violations.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::faults::Scenario;
use crate::world::RunResult;

/// Totals of one scenario over its seeds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
    /// Events handled.
    pub events: u64,
    /// Virtual time simulated.
    pub simulated_ms: u64,
}

/// Rows by scenario.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// One row per scenario run.
    pub rows: BTreeMap<Scenario, ScenarioRow>,
}

impl Report {
    /// Adds one run.
    pub fn add(&mut self, result: &RunResult) {
        let row = self.rows.entry(result.config.scenario).or_default();
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
            "| scenario | seeds | ops attempted | ops succeeded | availability % | p50 ms | p99 ms | max attempts granted / limit | violations |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (scenario, row) in &self.rows {
            let mut latencies = row.latencies_ms.clone();
            latencies.sort_unstable();
            let availability = if row.attempted == 0 {
                0.0
            } else {
                100.0 * row.succeeded as f64 / row.attempted as f64
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.2} | {} | {} | {} / {} | {} |",
                scenario.name(),
                row.seeds,
                row.attempted,
                row.succeeded,
                availability,
                percentile(&latencies, 50),
                percentile(&latencies, 99),
                row.granted_max,
                row.granted_limit,
                row.violations
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
