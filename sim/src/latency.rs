//! What a user waits for, and the least it could wait (issue 16).
//!
//! **User wait.** A logical operation (one register, recover or delete an account owner sets
//! out to do) may take several tries: a try that ends `Unavailable` is retried after a backoff
//! ([`crate::workload::TRIES_MAX`] tries at most). The per-try latency (from the start of a try
//! to its answer) hides those retries; the user wait is measured from the start of the *first*
//! try to the final answer, or to the final give-up (the last try ended `Unavailable`). Each
//! logical operation counts once ([`OpLedger`]).
//!
//! **Latency floor.** What an operation would take in the simulator's latency model with no
//! fault, no jitter, no contention and every consensus round at its best. For each request kind
//! the operation got a reply to from a replica (every kind sent in any of its tries counts once;
//! a resend or a resumed request is not counted again), through relay datacenter `r` from
//! the replica (in datacenter `p`) that answered it last:
//!
//! ```text
//! request floor = 2 × (PHONE_LATENCY_MS_MIN + LATENCY_MS[r][p])          client round trip
//!               + rounds(kind) × (quorum_rtt(p) + 2 × DISK_WRITE_MS)     consensus rounds
//! ```
//!
//! - `PHONE_LATENCY_MS_MIN` (5 ms) is the least phone ↔ relay one-way delay the network draws;
//!   `LATENCY_MS` is the base one-way delay between datacenters (1 ms inside one).
//! - `quorum_rtt(p)`: the replica that answers proposes; a quorum is 3 of 5 with itself, so it
//!   waits for the second nearest other replica: twice that one-way delay.
//! - `rounds(kind)` ([`consensus_rounds`]): a request that needs randomized or secret work runs
//!   a `Read` round first (`Status` and `RegisterStart` are one `Read`; `LoginStart` and
//!   `LoginFinish` are a `Read` and then their change: two); `RegisterFinish`, `Expose` and
//!   `Delete` are one change each. A register is 3 rounds, a recovery 5, a delete 6.
//! - Every round is taken at its best: skip-Prepare (one quorum round trip: the proposer's
//!   `Accept` carries the next ballot, so its next round on the key skips phase 1), never a
//!   full two-phase round, never a refusal or a timeout.
//! - Disk: the proposer's own acceptance is written before its `Accept` leaves (the host sends
//!   nothing before earlier writes are on disk), and each acceptor writes before it answers:
//!   two `DISK_WRITE_MS` (8 ms) per round, no slow-disk draw.
//!
//! The floor leaves out: a cold proposer's Prepare phase, jitter, the phone's drawn delay above
//! 5 ms, think time (between operations, not inside one), and retries. A wait below the floor
//! means the definition is wrong; the report counts such operations ("below floor", 0 expected).

use e2ee_backup::internal::wire::RequestKind;

use crate::network::{DATACENTERS, DISK_WRITE_MS, Dc, LATENCY_MS, PHONE_LATENCY_MS_MIN};
use crate::workload::{Running, Served, TRIES_MAX};

/// Replicas that must accept for a value to be chosen (a majority of the five, one per
/// datacenter), the proposer included.
pub const QUORUM: usize = DATACENTERS / 2 + 1;

/// Consensus rounds a vault request of `kind` runs at least: a `Read` before randomized or
/// secret work, then the change (SPEC.md "Store seam").
pub fn consensus_rounds(kind: RequestKind) -> u64 {
    match kind {
        // One `Read` round, then the answer.
        RequestKind::Status | RequestKind::RegisterStart => 1,
        // A `Read`, then the counted `LoginStart` (or the `LoginFinish`) change.
        RequestKind::LoginStart | RequestKind::LoginFinish => 2,
        // One change each.
        RequestKind::RegisterFinish | RequestKind::Expose | RequestKind::Delete => 1,
    }
}

/// Base one-way delay between datacenters `a` and `b` (1 ms inside one).
pub fn one_way_ms(a: Dc, b: Dc) -> u64 {
    LATENCY_MS
        .get(a)
        .and_then(|row| row.get(b))
        .copied()
        .unwrap_or(1)
}

/// The round trip from the replica in datacenter `proposer` to the nearest quorum of the
/// others: twice the one-way delay to the `QUORUM − 1`-th nearest other replica.
pub fn quorum_rtt_ms(proposer: Dc) -> u64 {
    let mut others: Vec<u64> = (0..DATACENTERS)
        .filter(|dc| *dc != proposer)
        .map(|dc| one_way_ms(proposer, dc))
        .collect();
    others.sort_unstable();
    2 * others.get(QUORUM - 2).copied().unwrap_or(0)
}

/// The floor of one request of `kind` sent through a relay in datacenter `relay` and answered
/// by the replica in datacenter `replica` (see the module documentation).
pub fn request_floor_ms(kind: RequestKind, relay: Dc, replica: Dc) -> u64 {
    let client_round_trip = 2 * (PHONE_LATENCY_MS_MIN + one_way_ms(relay, replica));
    let round = quorum_rtt_ms(replica) + 2 * DISK_WRITE_MS;
    client_round_trip + consensus_rounds(kind) * round
}

/// The floor of a logical operation: the sum of the floors of the request kinds it was served.
pub fn operation_floor_ms(served: &Served) -> u64 {
    served
        .iter()
        .map(|(kind, (relay, replica))| request_floor_ms(*kind, *relay, *replica))
        .sum()
}

/// One logical operation that ended: answered, or given up after its last try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpWait {
    /// From the start of the first try to the final answer or give-up.
    pub wait_ms: u64,
    /// Its floor (see the module documentation); meaningful for answered operations.
    pub floor_ms: u64,
    /// Tries it took.
    pub tries: u32,
    /// Answered (not `Unavailable` in the end).
    pub answered: bool,
    /// Requests sent again with the same request id over all its tries (client resends after
    /// silence, resumed logins): a sign of lost or late replies.
    pub resends: u32,
}

/// The per-operation ledger of one run: every logical operation once, when it ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpLedger {
    /// The operations that ended, in order.
    pub ops: Vec<OpWait>,
}

impl OpLedger {
    /// Try `running` ended at `now_ms`, `answered` (or `Unavailable`), for an operation whose
    /// floor is `floor_ms` and that sent `resends` requests again so far. Records the logical
    /// operation if this try was its last (answered, or `Unavailable` at the last try allowed);
    /// returns what was recorded.
    pub fn try_ended(
        &mut self,
        running: &Running,
        answered: bool,
        now_ms: u64,
        (floor_ms, resends): (u64, u32),
    ) -> Option<OpWait> {
        if !answered && running.tries < TRIES_MAX {
            // It will be tried again: not over yet.
            return None;
        }
        let op = OpWait {
            wait_ms: now_ms.saturating_sub(running.first_started_ms),
            floor_ms,
            tries: running.tries,
            answered,
            resends,
        };
        self.ops.push(op);
        Some(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::ModelOp;

    #[test]
    fn the_quorum_round_trip_waits_for_the_second_nearest_other_replica() {
        // From datacenter 0 the others are 12, 45, 80 and 150 ms away: the quorum of three
        // is itself, datacenter 1 and datacenter 2.
        assert_eq!(quorum_rtt_ms(0), 2 * 45);
        // From datacenter 3: 40 (dc 2), 75 (dc 1), 80, 90.
        assert_eq!(quorum_rtt_ms(3), 2 * 75);
        // From datacenter 4: 90, 110, 140, 150.
        assert_eq!(quorum_rtt_ms(4), 2 * 110);
    }

    #[test]
    fn the_floor_adds_client_round_trips_and_consensus_rounds() {
        // A recovery through the relay of datacenter 0, answered by the replica of datacenter
        // 1: three client round trips 2 × (5 + 12) each, five rounds of 2 × 38 + 2 × 8 each.
        let served: Served = [
            (RequestKind::Status, (0, 1)),
            (RequestKind::LoginStart, (0, 1)),
            (RequestKind::LoginFinish, (0, 1)),
        ]
        .into_iter()
        .collect();
        assert_eq!(operation_floor_ms(&served), 3 * 34 + 5 * (76 + 16));
        // A login is a read round and a change round; a status read is one.
        assert_eq!(
            request_floor_ms(RequestKind::LoginStart, 2, 2),
            2 * (5 + 1) + 2 * (80 + 16)
        );
        assert_eq!(
            request_floor_ms(RequestKind::Status, 4, 0),
            2 * (5 + 150) + (90 + 16)
        );
        // A register: three requests, one round each.
        let register: Served = [
            (RequestKind::RegisterStart, (3, 3)),
            (RequestKind::RegisterFinish, (3, 3)),
            (RequestKind::Expose, (3, 3)),
        ]
        .into_iter()
        .collect();
        assert_eq!(operation_floor_ms(&register), 3 * (12 + 150 + 16));
        assert_eq!(operation_floor_ms(&Served::new()), 0);
    }

    fn running(first_started_ms: u64, started_ms: u64, tries: u32) -> Running {
        Running {
            op: ModelOp::Recover(1),
            operation: e2ee_backup::OperationId(7),
            started_ms,
            first_started_ms,
            tries,
        }
    }

    #[test]
    fn an_operation_with_three_tries_counts_once_from_its_first_try() {
        let mut ledger = OpLedger::default();
        // Tries 1 and 2 end `Unavailable` and are retried: nothing is recorded.
        assert_eq!(
            ledger.try_ended(&running(1_000, 1_000, 1), false, 3_000, (500, 0)),
            None
        );
        assert_eq!(
            ledger.try_ended(&running(1_000, 4_000, 2), false, 6_000, (500, 0)),
            None
        );
        // Try 3 is answered 1.5 s after it started, 8.5 s after the first try started.
        let op = ledger.try_ended(&running(1_000, 8_000, 3), true, 9_500, (500, 0));
        let expected = OpWait {
            wait_ms: 8_500,
            floor_ms: 500,
            tries: 3,
            answered: true,
            resends: 0,
        };
        assert_eq!(op, Some(expected));
        assert_eq!(ledger.ops, [expected]);
    }

    #[test]
    fn an_operation_that_runs_out_of_tries_counts_once_as_given_up() {
        let mut ledger = OpLedger::default();
        assert_eq!(
            ledger.try_ended(&running(0, 50_000, TRIES_MAX - 1), false, 52_000, (0, 0)),
            None
        );
        let op = ledger.try_ended(&running(0, 90_000, TRIES_MAX), false, 92_000, (0, 0));
        assert_eq!(
            op,
            Some(OpWait {
                wait_ms: 92_000,
                floor_ms: 0,
                tries: TRIES_MAX,
                answered: false,
                resends: 0,
            })
        );
        assert_eq!(ledger.ops.len(), 1);
    }
}
