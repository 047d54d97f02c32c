//! Counters of the inputs a role drops (the engineering rule "inputs the core drops are counted
//! for the host"; SPEC.md "Dropped inputs").
//!
//! Dropping is right toward the peer — it learns nothing — but the host needs to see it: a
//! burst of undecodable frames is an attack or a bug, a steady stream of unopenable ones a
//! misconfigured fleet. Each role keeps one [`DropCounts`] and exposes it read-only.
//!
//! The counts are statistics for the host, not protocol state: two roles that differ only in
//! their counts are equal (`PartialEq`) and hash alike, so the model checker's state space does
//! not grow with them.

use core::hash::{Hash, Hasher};

/// Why an input was dropped.
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum DropReason {
    /// The bytes do not decode (truncated, trailing bytes, unknown version or code).
    CannotDecode,
    /// The input names another group or replica, or arrives where it has no meaning (a replica
    /// message at a single replica, a client message on a connection without an account).
    NotAddressed,
    /// A sealed message does not open (forged, tampered, another fleet's key).
    CannotOpen,
    /// A copy of a request already answered or in flight beyond what is kept, or a reply
    /// whose route is gone or of another kind (a late duplicate or a replay).
    Replayed,
    /// A consensus message of another lineage (SPEC.md "Re-genesis").
    ForeignLineage,
}

/// Counts of dropped inputs, by [`DropReason`].
#[derive(Clone, Copy, Default, Debug)]
pub struct DropCounts {
    cannot_decode: u64,
    not_addressed: u64,
    cannot_open: u64,
    replayed: u64,
    foreign_lineage: u64,
}

impl DropCounts {
    /// Counts one dropped input.
    pub fn count(&mut self, reason: DropReason) {
        let slot = match reason {
            DropReason::CannotDecode => &mut self.cannot_decode,
            DropReason::NotAddressed => &mut self.not_addressed,
            DropReason::CannotOpen => &mut self.cannot_open,
            DropReason::Replayed => &mut self.replayed,
            DropReason::ForeignLineage => &mut self.foreign_lineage,
        };
        *slot = slot.saturating_add(1);
    }

    /// How many inputs were dropped for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::CannotDecode => self.cannot_decode,
            DropReason::NotAddressed => self.not_addressed,
            DropReason::CannotOpen => self.cannot_open,
            DropReason::Replayed => self.replayed,
            DropReason::ForeignLineage => self.foreign_lineage,
        }
    }

    /// All dropped inputs.
    pub fn total(&self) -> u64 {
        self.cannot_decode
            .saturating_add(self.not_addressed)
            .saturating_add(self.cannot_open)
            .saturating_add(self.replayed)
            .saturating_add(self.foreign_lineage)
    }
}

/// Statistics, not state: every two counts are equal.
impl PartialEq for DropCounts {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for DropCounts {}

/// Statistics, not state: nothing is hashed (consistent with `PartialEq`).
impl Hash for DropCounts {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason_and_never_distinguish_states() {
        let mut a = DropCounts::default();
        a.count(DropReason::CannotDecode);
        a.count(DropReason::CannotDecode);
        a.count(DropReason::ForeignLineage);
        assert_eq!(a.get(DropReason::CannotDecode), 2);
        assert_eq!(a.get(DropReason::ForeignLineage), 1);
        assert_eq!(a.get(DropReason::CannotOpen), 0);
        assert_eq!(a.total(), 3);
        assert_eq!(a, DropCounts::default());
    }
}
