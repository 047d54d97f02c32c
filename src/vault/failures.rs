//! Counters of the consensus operations a replicated store gave up on, by reason (SPEC.md
//! "Dropped inputs": the host sees what the peer does not).
//!
//! Toward the client every give-up looks alike (`OutcomeUnknown`: the client resends), but a
//! host needs to tell a group that lost its quorum (`Unavailable`) from proposers that duel
//! (`Contended`) and from a replica that is still recovering (`NotVoting`). Duelling proposers
//! slow operations long before one gives up, so the refused rounds are counted too. Like
//! [`DropCounts`](crate::drops::DropCounts), these are statistics, not state: every two counts are
//! equal and hash alike, so the model checker's state space does not grow with them.

use core::hash::{Hash, Hasher};

use crate::consensus::FailReason;

/// Counts of failed consensus operations, by [`FailReason`], and of refused rounds.
#[derive(Clone, Copy, Default, Debug)]
pub struct FailureCounts {
    unavailable: u64,
    contended: u64,
    not_voting: u64,
    refusals: u64,
}

impl FailureCounts {
    /// Counts one failed operation.
    pub fn count(&mut self, reason: FailReason) {
        let slot = match reason {
            FailReason::Unavailable => &mut self.unavailable,
            FailReason::Contended => &mut self.contended,
            FailReason::NotVoting => &mut self.not_voting,
        };
        *slot = slot.saturating_add(1);
    }

    /// Counts one `Reject` received: an acceptor refused a round of this replica (it had
    /// promised a higher ballot, usually a competing proposer's, or has a higher epoch floor);
    /// the operation backs off and tries again.
    pub fn count_refusal(&mut self) {
        self.refusals = self.refusals.saturating_add(1);
    }

    /// How many `Reject`s this replica received.
    pub fn refusals(&self) -> u64 {
        self.refusals
    }

    /// How many operations failed for `reason`.
    pub fn get(&self, reason: FailReason) -> u64 {
        match reason {
            FailReason::Unavailable => self.unavailable,
            FailReason::Contended => self.contended,
            FailReason::NotVoting => self.not_voting,
        }
    }

    /// All failed operations.
    pub fn total(&self) -> u64 {
        self.unavailable
            .saturating_add(self.contended)
            .saturating_add(self.not_voting)
    }
}

/// Statistics, not state: every two counts are equal.
impl PartialEq for FailureCounts {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for FailureCounts {}

/// Statistics, not state: nothing is hashed (consistent with `PartialEq`).
impl Hash for FailureCounts {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason_and_never_distinguish_states() {
        let mut a = FailureCounts::default();
        a.count(FailReason::Unavailable);
        a.count(FailReason::Unavailable);
        a.count(FailReason::NotVoting);
        assert_eq!(a.get(FailReason::Unavailable), 2);
        assert_eq!(a.get(FailReason::NotVoting), 1);
        assert_eq!(a.get(FailReason::Contended), 0);
        assert_eq!(a.total(), 3);
        a.count_refusal();
        assert_eq!(a.refusals(), 1);
        assert_eq!(a.total(), 3, "a refused round is not a failed operation");
        assert_eq!(a, FailureCounts::default());
    }
}
