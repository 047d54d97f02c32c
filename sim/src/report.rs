//! The report tables: per scenario, operations attempted and succeeded, availability, virtual
//! latency p50/p99, most password tests granted against the limit, violations; and (issue 16)
//! latency and availability per logical operation, from its first try to its final answer,
//! beside the per-try figures, against the latency floor of [`crate::latency`]
//! ([`LATENCY_LEGEND`], [`Report::latency_table`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::consensus_counts::ConsensusCounts;
use crate::faults::Scenario;
use crate::latency::OpWait;
use crate::world::RunResult;

/// What the columns of [`Report::latency_table`] mean (printed above it).
pub const LATENCY_LEGEND: &str = "\
Latency per logical operation (issue 16). Account owners' operations (honest, forgetful and \
victim users; not attackers or probers). A try is one client operation; a try that ends \
Unavailable is retried with backoff, up to 12 tries: one logical operation. Per try (as in the \
table above): latency from the try's start to its answer, availability = tries answered / tries. \
Per operation: the user wait runs from the FIRST try's start to the final answer (wait p50/p99/max, \
answered operations) or to the final give-up (the last try allowed ended Unavailable: given-up \
wait); each operation counts once; availability per op = answered / (answered + given up + \
unfinished at the end of the run). Floor: the least the operation could take in the simulator's \
latency model, the sum over the request kinds it was answered (each kind once) of \
2 x (5 ms phone-relay + base one-way delay relay dc -> answering replica's dc) + consensus rounds \
(Status, RegisterStart, RegisterFinish, Expose, Delete: 1; LoginStart, LoginFinish: 2; a register \
is 3, a recovery 5) x (round trip from the answering replica to the second nearest other \
replica, a quorum of 3 of 5 + 2 x 8 ms disk writes), every round with skip-Prepare, no jitter, \
no fault. floor p50 is over answered operations; wait/floor is p50(wait) / p50(floor); per-op \
median is the median over answered operations of wait / floor; below floor counts answered \
operations that waited less than their floor (0 unless the floor is wrong). A resend is a \
request sent again with the same request id (the client heard nothing for 2 s, or a later try \
resumed an unfinished login).";

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
    /// Every logical operation that ended, once (see [`crate::latency::OpLedger`]).
    pub ops: Vec<OpWait>,
    /// Logical operations neither answered nor given up when their run ended.
    pub ops_unfinished: u64,
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
    /// See [`crate::world::Stats::live_excused`].
    pub live_excused: u64,
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
    /// Refused consensus rounds and consensus operations given up.
    pub consensus: ConsensusCounts,
}

impl FaultTotals {
    /// One line for the report.
    pub fn line(&self) -> String {
        format!(
            "corrupted {} (replica-link deliveries {}), drops counted: replicas {} relays {} \
             clients {}; \
             requests answered Rejected {}; \
             replays {}; clock jumps {}; torn writes {}; disks lost {}; relay tampering {}; \
             Byzantine promises {}; \
             consensus rounds refused {}, operations given up: contended {}, no quorum {}, \
             not voting {}",
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
            self.byzantine_lies,
            self.consensus.refusals,
            self.consensus.contended,
            self.consensus.no_quorum,
            self.consensus.not_voting
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
        row.live_excused += result.stats.live_excused;
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
        f.consensus = f.consensus.plus(st.consensus);
        row.seeds += 1;
        row.attempted += result.stats.attempted;
        row.succeeded += result.stats.succeeded;
        row.latencies_ms
            .extend_from_slice(&result.stats.latencies_ms);
        row.ops.extend_from_slice(&result.stats.ledger.ops);
        row.ops_unfinished += result.stats.ops_unfinished;
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
            "| scenario | mode | seeds | ops attempted | ops succeeded | availability % | p50 ms | p99 ms | max attempts granted / limit | violations | by kind: violations (runs) | A1-broken groups | INV-DURABLE checks (excused by A1) | LIVE excused by A1 | wall s |"
        );
        let _ = writeln!(
            out,
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"
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
                "| {} | {} | {} | {} | {} | {:.2} | {} | {} | {} / {} | {} in {} runs | {} | {} | {} ({}) | {} | {:.0} |",
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
                row.live_excused,
                row.wall_seconds
            );
        }
        out
    }

    /// The latency table of issue 16 (see [`LATENCY_LEGEND`]).
    pub fn latency_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| scenario | mode | seeds | tries | tries answered | availability per try % | try p50 ms | try p99 ms | try max ms | ops | ops answered | ops answered after a retry | ops answered with a resend | ops given up | ops unfinished | availability per op % | wait p50 ms | wait p99 ms | wait max ms | given-up wait p50 / max ms | floor p50 ms | wait p50 / floor p50 | per-op wait/floor median | below floor |"
        );
        let _ = writeln!(
            out,
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for (scenario, row) in &self.rows {
            let l = row.latency();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} | {} | {} | {} / {} | {} | {:.2} | {:.2} | {} |",
                scenario.name(),
                self.mode,
                row.seeds,
                row.attempted,
                row.succeeded,
                ratio_percent(row.succeeded, row.attempted),
                l.try_p50_ms,
                l.try_p99_ms,
                l.try_max_ms,
                l.ops,
                l.answered,
                l.retried,
                l.resent,
                l.given_up,
                row.ops_unfinished,
                ratio_percent(l.answered, l.ops),
                l.wait_p50_ms,
                l.wait_p99_ms,
                l.wait_max_ms,
                l.given_up_p50_ms,
                l.given_up_max_ms,
                l.floor_p50_ms,
                l.wait_over_floor,
                l.per_op_ratio_median,
                l.below_floor
            );
        }
        out
    }
}

/// The figures of one row of [`Report::latency_table`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencySummary {
    /// Per-try latency percentiles of answered tries.
    pub try_p50_ms: u64,
    /// See `try_p50_ms`.
    pub try_p99_ms: u64,
    /// See `try_p50_ms`.
    pub try_max_ms: u64,
    /// Logical operations: answered, given up, or unfinished at the end of their run.
    pub ops: u64,
    /// Of those, answered.
    pub answered: u64,
    /// Answered after more than one try.
    pub retried: u64,
    /// Answered, with at least one request sent again (same request id).
    pub resent: u64,
    /// Given up (the last try allowed ended `Unavailable`).
    pub given_up: u64,
    /// User wait (first try to answer) of answered operations.
    pub wait_p50_ms: u64,
    /// See `wait_p50_ms`.
    pub wait_p99_ms: u64,
    /// See `wait_p50_ms`.
    pub wait_max_ms: u64,
    /// Wait from the first try to the give-up of given-up operations.
    pub given_up_p50_ms: u64,
    /// See `given_up_p50_ms`.
    pub given_up_max_ms: u64,
    /// Floor of answered operations.
    pub floor_p50_ms: u64,
    /// `wait_p50_ms / floor_p50_ms` (0 without a floor).
    pub wait_over_floor: f64,
    /// Median over answered operations with a floor of `wait / floor`.
    pub per_op_ratio_median: f64,
    /// Answered operations that waited less than their floor.
    pub below_floor: u64,
}

impl ScenarioRow {
    /// One line on the operations that had a try end `Unavailable`: how many were answered in
    /// the end and how many were given up (or never finished), with their user waits (first
    /// try to final answer or give-up; up to `listed` of each, longest first).
    pub fn retried_line(&self, listed: usize) -> String {
        let waits = |answered: bool| {
            let mut waits: Vec<u64> = self
                .ops
                .iter()
                .filter(|o| o.answered == answered && (o.tries > 1 || !answered))
                .map(|o| o.wait_ms)
                .collect();
            waits.sort_unstable_by(|a, b| b.cmp(a));
            let shown: Vec<String> = waits.iter().take(listed).map(u64::to_string).collect();
            let more = if waits.len() > listed { ", …" } else { "" };
            (waits.len(), format!("[{}{more}]", shown.join(", ")))
        };
        let (answered, answered_waits) = waits(true);
        let (given_up, given_up_waits) = waits(false);
        format!(
            "operations with a try that ended Unavailable: {answered} answered later, user waits \
             {answered_waits} ms; {given_up} given up after {} tries, waits {given_up_waits} ms; \
             {} unfinished at the end of their run",
            crate::workload::TRIES_MAX,
            self.ops_unfinished
        )
    }

    /// The latency figures of this row.
    pub fn latency(&self) -> LatencySummary {
        let mut tries = self.latencies_ms.clone();
        tries.sort_unstable();
        let answered: Vec<&OpWait> = self.ops.iter().filter(|o| o.answered).collect();
        let mut waits: Vec<u64> = answered.iter().map(|o| o.wait_ms).collect();
        waits.sort_unstable();
        let mut given_up: Vec<u64> = self
            .ops
            .iter()
            .filter(|o| !o.answered)
            .map(|o| o.wait_ms)
            .collect();
        given_up.sort_unstable();
        let mut floors: Vec<u64> = answered
            .iter()
            .filter(|o| o.floor_ms > 0)
            .map(|o| o.floor_ms)
            .collect();
        floors.sort_unstable();
        let mut ratios: Vec<f64> = answered
            .iter()
            .filter(|o| o.floor_ms > 0)
            .map(|o| o.wait_ms as f64 / o.floor_ms as f64)
            .collect();
        ratios.sort_unstable_by(f64::total_cmp);
        let wait_p50_ms = percentile(&waits, 50);
        let floor_p50_ms = percentile(&floors, 50);
        LatencySummary {
            try_p50_ms: percentile(&tries, 50),
            try_p99_ms: percentile(&tries, 99),
            try_max_ms: tries.last().copied().unwrap_or(0),
            ops: self.ops.len() as u64 + self.ops_unfinished,
            answered: answered.len() as u64,
            retried: answered.iter().filter(|o| o.tries > 1).count() as u64,
            resent: answered.iter().filter(|o| o.resends > 0).count() as u64,
            given_up: given_up.len() as u64,
            wait_p50_ms,
            wait_p99_ms: percentile(&waits, 99),
            wait_max_ms: waits.last().copied().unwrap_or(0),
            given_up_p50_ms: percentile(&given_up, 50),
            given_up_max_ms: given_up.last().copied().unwrap_or(0),
            floor_p50_ms,
            wait_over_floor: if floor_p50_ms == 0 {
                0.0
            } else {
                wait_p50_ms as f64 / floor_p50_ms as f64
            },
            per_op_ratio_median: ratios
                .get(nearest_rank(ratios.len(), 50).saturating_sub(1))
                .copied()
                .unwrap_or(0.0),
            below_floor: answered.iter().filter(|o| o.wait_ms < o.floor_ms).count() as u64,
        }
    }
}

/// `100 × part / whole` (0 when `whole` is 0).
fn ratio_percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// The 1-based nearest rank of the `p`-th percentile of `len` values (0 when empty).
fn nearest_rank(len: usize, p: usize) -> usize {
    if len == 0 {
        0
    } else {
        (len * p).div_ceil(100).max(1)
    }
}

/// The `p`-th percentile of sorted `values` (nearest rank; 0 when empty).
pub fn percentile(sorted: &[u64], p: usize) -> u64 {
    let rank = nearest_rank(sorted.len(), p);
    if rank == 0 {
        return 0;
    }
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

    fn op(wait_ms: u64, floor_ms: u64, tries: u32, answered: bool) -> OpWait {
        OpWait {
            wait_ms,
            floor_ms,
            tries,
            answered,
            resends: tries - 1,
        }
    }

    #[test]
    fn the_latency_summary_counts_operations_from_their_first_try() {
        let row = ScenarioRow {
            seeds: 1,
            // Four tries answered 3 times (per try: 75 %); the per-try latencies of the
            // answered ones.
            attempted: 4,
            succeeded: 3,
            latencies_ms: vec![900, 1_000, 1_100],
            ops: vec![
                op(8_500, 500, 3, true),
                op(1_000, 500, 1, true),
                op(1_100, 1_000, 1, true),
                op(120_000, 0, 12, false),
            ],
            ops_unfinished: 1,
            ..ScenarioRow::default()
        };
        let l = row.latency();
        assert_eq!((l.try_p50_ms, l.try_max_ms), (1_000, 1_100));
        assert_eq!(
            (l.ops, l.answered, l.retried, l.resent, l.given_up),
            (5, 3, 1, 1, 1)
        );
        assert_eq!((l.wait_p50_ms, l.wait_max_ms), (1_100, 8_500));
        assert_eq!((l.given_up_p50_ms, l.given_up_max_ms), (120_000, 120_000));
        assert_eq!(l.floor_p50_ms, 500);
        assert!((l.wait_over_floor - 2.2).abs() < 1e-9);
        // Ratios 17, 2, 1.1: the median is 2.
        assert!((l.per_op_ratio_median - 2.0).abs() < 1e-9);
        assert_eq!(l.below_floor, 0);
        let table = Report {
            rows: [(Scenario::NoFaults, row.clone())].into_iter().collect(),
            mode: "durable".to_owned(),
        }
        .latency_table();
        assert!(
            table.contains("| 60.00 |"),
            "availability per op 3 / 5: {table}"
        );
        let line = row.retried_line(1);
        assert!(
            line.contains(
                "1 answered later, user waits [8500] ms; 1 given up after 12 tries, \
                 waits [120000] ms; 1 unfinished"
            ),
            "{line}"
        );
        let below = ScenarioRow {
            ops: vec![op(400, 500, 1, true)],
            ..ScenarioRow::default()
        };
        assert_eq!(below.latency().below_floor, 1);
    }
}
