//! Proposer-side state of one operation (SPEC.md "Replication", rounds).

use alloc::collections::{BTreeMap, BTreeSet};

use super::ballot::{Ballot, ReplicaId};
use super::config::{Change, OpId};
use super::messages::AcceptedValue;

/// How the last finished round of an operation ended.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub(crate) enum RoundEnd {
    /// No quorum of answers before the round's deadline.
    TimedOut,
    /// An acceptor refused the ballot.
    Refused,
}

/// Where an operation is; each variant says what it waits for.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Phase<V, O> {
    /// Waits for the operation ahead of it on the same key to finish.
    Queued,
    /// Waits until `until` before starting its next round.
    Backoff { until: u64 },
    /// Waits for this replica to establish a higher epoch (or for `deadline`).
    AwaitingEpoch { deadline: u64 },
    /// Waits for a quorum of promises for `ballot`.
    Preparing {
        ballot: Ballot,
        deadline: u64,
        promises: BTreeMap<ReplicaId, Option<AcceptedValue<V>>>,
    },
    /// Waits for a quorum of acceptances of the new value at `ballot`.
    Accepting {
        ballot: Ballot,
        deadline: u64,
        outcome: O,
        accepted: BTreeSet<ReplicaId>,
    },
}

/// One operation on one key, owned by its proposer.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Op<K, V, C: Change<V>> {
    pub(crate) id: OpId,
    pub(crate) key: K,
    pub(crate) change: C,
    pub(crate) rounds_started: u32,
    pub(crate) last_end: Option<RoundEnd>,
    pub(crate) phase: Phase<V, C::Outcome>,
}

impl<K, V, C: Change<V>> Op<K, V, C> {
    /// The time this operation next needs [`handle_timeout`](super::Replica::handle_timeout).
    pub(crate) fn deadline(&self) -> Option<u64> {
        match &self.phase {
            Phase::Queued => None,
            Phase::Backoff { until } => Some(*until),
            Phase::AwaitingEpoch { deadline }
            | Phase::Preparing { deadline, .. }
            | Phase::Accepting { deadline, .. } => Some(*deadline),
        }
    }

    /// The ballot of the round in flight, if any.
    pub(crate) fn ballot(&self) -> Option<Ballot> {
        match &self.phase {
            Phase::Preparing { ballot, .. } | Phase::Accepting { ballot, .. } => Some(*ballot),
            Phase::Queued | Phase::Backoff { .. } | Phase::AwaitingEpoch { .. } => None,
        }
    }
}

/// The accepted value with the highest ballot among the promises (CASPaxos: the register's
/// current value as far as this quorum knows).
pub(crate) fn highest_accepted<V>(
    promises: &BTreeMap<ReplicaId, Option<AcceptedValue<V>>>,
) -> Option<&AcceptedValue<V>> {
    promises
        .values()
        .flatten()
        .max_by(|a, b| a.ballot.cmp(&b.ballot))
}

/// Exponential backoff with deterministic jitter: `base * 2^min(round, 6) + jitter` where
/// `jitter < base` is derived from the seed, the replica, the op and the round (SplitMix64).
pub(crate) fn backoff_ms(base: u64, seed: u64, replica: ReplicaId, op: OpId, round: u32) -> u64 {
    let exp = base.saturating_mul(1u64 << round.min(6));
    let mut z = seed
        ^ u64::from(replica.0).rotate_left(56)
        ^ op.0.rotate_left(17)
        ^ u64::from(round).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let jitter = z.checked_rem(base).unwrap_or(0);
    exp.saturating_add(jitter)
}
