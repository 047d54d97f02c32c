//! Replica ids, ballots and the tags that tie replies to one request (SPEC.md "Replication").

use core::fmt;

/// The id of one replica in a replica group (one per datacenter).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ReplicaId(pub u8);

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// A CASPaxos ballot: `(epoch, counter, replica)`, ordered lexicographically in that order.
///
/// The comparison is written out by hand (not derived) so that the order never depends on the
/// order the fields are declared in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Ballot {
    /// The group epoch the proposer had established when it made this ballot.
    pub epoch: u64,
    /// The proposer's ballot counter (unique per proposer within an epoch).
    pub counter: u64,
    /// The proposer; makes ballots of different proposers distinct.
    pub replica: ReplicaId,
}

impl Ballot {
    /// The `(epoch, counter, replica)` triple the order is defined on.
    pub fn as_triple(&self) -> (u64, u64, ReplicaId) {
        (self.epoch, self.counter, self.replica)
    }
}

impl PartialOrd for Ballot {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ballot {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_triple().cmp(&other.as_triple())
    }
}

/// Ties a [`FenceAck`](crate::PeerMessage::FenceAck) or a
/// [`CatchUpPage`](crate::PeerMessage::CatchUpPage) to the one request it answers, so
/// that a replayed reply to an older request is never counted (SPEC.md "Replication", tags).
///
/// `incarnation` is chosen by the host each time a replica process starts (64 random bits);
/// `sequence` counts requests within that incarnation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct RequestTag {
    /// Host-chosen, never-reused value for this run of the replica.
    pub incarnation: u64,
    /// Position of the request within the incarnation.
    pub sequence: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(epoch: u64, counter: u64, replica: u8) -> Ballot {
        Ballot {
            epoch,
            counter,
            replica: ReplicaId(replica),
        }
    }

    #[test]
    fn ballots_order_by_epoch_then_counter_then_replica() {
        assert!(b(1, 0, 0) > b(0, 99, 9));
        assert!(b(1, 2, 0) > b(1, 1, 9));
        assert!(b(1, 2, 3) > b(1, 2, 2));
        assert_eq!(b(1, 2, 3), b(1, 2, 3));
    }
}
