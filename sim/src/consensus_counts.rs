//! What the replicas' consensus stores counted over a run: refused rounds and operations
//! given up (SPEC.md "Failure reasons"), summed over replicas and incarnations for the report.

use e2ee_backup::FailReason;
use e2ee_backup::internal::vault::FailureCounts;

/// `Reject`s received (refused rounds: duelling proposers) and consensus operations given up,
/// by [`FailReason`] (SPEC.md "Proposer rules": an operation fails after `max_rounds` rounds and
/// its request is answered `OutcomeUnknown`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsensusCounts {
    /// `Reject`s received.
    pub refusals: u64,
    /// The last round was refused: competing proposers on the same key.
    pub contended: u64,
    /// The last round found no quorum in time.
    pub no_quorum: u64,
    /// The replica was recovering from amnesia and did not propose.
    pub not_voting: u64,
}

impl ConsensusCounts {
    /// The counts of one store.
    pub fn of(failures: &FailureCounts) -> Self {
        Self {
            refusals: failures.refusals(),
            contended: failures.get(FailReason::Contended),
            no_quorum: failures.get(FailReason::Unavailable),
            not_voting: failures.get(FailReason::NotVoting),
        }
    }

    /// Both counts together.
    #[must_use]
    pub fn plus(self, other: Self) -> Self {
        Self {
            refusals: self.refusals.saturating_add(other.refusals),
            contended: self.contended.saturating_add(other.contended),
            no_quorum: self.no_quorum.saturating_add(other.no_quorum),
            not_voting: self.not_voting.saturating_add(other.not_voting),
        }
    }
}
