//! The acceptor: per-key promise/accept rules and the durable state (SPEC.md "Replication",
//! durable state).

use alloc::collections::BTreeMap;

use crate::ballot::Ballot;
use crate::messages::{AcceptedValue, Refusal};

/// The durable acceptor state of one register.
///
/// Invariant: `promised >= accepted.ballot` whenever both are set.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct AcceptorState<V> {
    /// The highest ballot promised for this register.
    pub promised: Option<Ballot>,
    /// The value accepted at the highest ballot accepted so far.
    pub accepted: Option<AcceptedValue<V>>,
}

impl<V> Default for AcceptorState<V> {
    fn default() -> Self {
        Self {
            promised: None,
            accepted: None,
        }
    }
}

/// The replica-wide durable record (SPEC.md "ReplicaMeta").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct ReplicaMeta {
    /// The acceptor refuses every ballot whose epoch is below this floor.
    pub epoch_floor: u64,
    /// The highest epoch this replica knows a quorum has fenced; its ballots use this epoch.
    pub established_epoch: u64,
    /// Ballot counters below this value may have been used; a restarted replica starts here.
    pub counter_reserved: u64,
}

/// One durable write the host must complete before acting on any later output.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum DurableWrite<K, V> {
    /// Replace the replica-wide record.
    Meta(ReplicaMeta),
    /// Replace the acceptor state of one register.
    Register {
        /// The register.
        key: K,
        /// Its new acceptor state.
        state: AcceptorState<V>,
    },
}

/// Everything a replica keeps on disk: what [`Replica::restore`](crate::Replica::restore) needs.
///
/// `meta` is `None` until the replica's first [`DurableWrite::Meta`]; a state without it is not
/// a usable durable state (an amnesiac recovery writes its meta last).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct DurableState<K, V> {
    /// The replica-wide record.
    pub meta: Option<ReplicaMeta>,
    /// Acceptor state per register.
    pub registers: BTreeMap<K, AcceptorState<V>>,
}

impl<K, V> Default for DurableState<K, V> {
    fn default() -> Self {
        Self {
            meta: None,
            registers: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone, V: Clone> DurableState<K, V> {
    /// Applies one durable write, as a host's storage would.
    pub fn apply(&mut self, write: &DurableWrite<K, V>) {
        match write {
            DurableWrite::Meta(meta) => self.meta = Some(*meta),
            DurableWrite::Register { key, state } => {
                self.registers.insert(key.clone(), state.clone());
            }
        }
    }
}

/// The acceptor's answer to a Prepare.
pub(crate) enum PrepareVerdict<V> {
    /// Promise; `changed` says the state must be persisted before the Promise is sent.
    Promise {
        changed: bool,
        accepted: Option<AcceptedValue<V>>,
    },
    /// Refuse.
    Reject(Refusal),
}

/// The acceptor's answer to an Accept.
pub(crate) enum AcceptVerdict {
    /// Accepted; `changed` says the state must be persisted before the Accepted is sent;
    /// `promised_next` says the acceptor also promised the Accept's `next` ballot.
    Accepted { changed: bool, promised_next: bool },
    /// Refuse.
    Reject(Refusal),
}

impl<V: Clone + PartialEq> AcceptorState<V> {
    fn refusal(&self, epoch_floor: u64) -> Refusal {
        Refusal {
            promised: self.promised,
            epoch_floor,
        }
    }

    fn admits(&self, epoch_floor: u64, ballot: Ballot) -> bool {
        let above_promise = self.promised.is_none_or(|p| ballot >= p);
        let above_accepted = self.accepted.as_ref().is_none_or(|a| ballot >= a.ballot);
        ballot.epoch >= epoch_floor && above_promise && above_accepted
    }

    /// CASPaxos phase 1b. A repeated Prepare at the promised ballot is answered again.
    pub(crate) fn on_prepare(&mut self, epoch_floor: u64, ballot: Ballot) -> PrepareVerdict<V> {
        if !self.admits(epoch_floor, ballot) {
            return PrepareVerdict::Reject(self.refusal(epoch_floor));
        }
        let changed = self.promised != Some(ballot);
        self.promised = Some(ballot);
        PrepareVerdict::Promise {
            changed,
            accepted: self.accepted.clone(),
        }
    }

    /// CASPaxos phase 2b. A repeated Accept at the accepted ballot is answered again without a
    /// change (one ballot carries one value: ballots are unique per proposer). With `next`
    /// (skip-Prepare), accepting also promises `next`, atomically: the promise's accepted value
    /// is the one just accepted.
    pub(crate) fn on_accept(
        &mut self,
        epoch_floor: u64,
        ballot: Ballot,
        value: &Option<V>,
        next: Option<Ballot>,
    ) -> AcceptVerdict {
        if !self.admits(epoch_floor, ballot) {
            return AcceptVerdict::Reject(self.refusal(epoch_floor));
        }
        if self.accepted.as_ref().is_some_and(|a| a.ballot == ballot) {
            let promised_next = next.is_some_and(|n| self.promised == Some(n));
            return AcceptVerdict::Accepted {
                changed: false,
                promised_next,
            };
        }
        let next = next.filter(|n| *n > ballot);
        self.promised = Some(next.unwrap_or(ballot));
        self.accepted = Some(AcceptedValue {
            ballot,
            value: value.clone(),
        });
        AcceptVerdict::Accepted {
            changed: true,
            promised_next: next.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ballot::ReplicaId;

    fn b(epoch: u64, counter: u64) -> Ballot {
        Ballot {
            epoch,
            counter,
            replica: ReplicaId(1),
        }
    }

    #[test]
    fn refuses_prepare_below_promise_or_floor() {
        let mut s = AcceptorState::<u8>::default();
        assert!(matches!(
            s.on_prepare(0, b(0, 5)),
            PrepareVerdict::Promise { changed: true, .. }
        ));
        assert!(matches!(
            s.on_prepare(0, b(0, 4)),
            PrepareVerdict::Reject(_)
        ));
        assert!(matches!(
            s.on_prepare(0, b(0, 5)),
            PrepareVerdict::Promise { changed: false, .. }
        ));
        assert!(matches!(
            s.on_prepare(1, b(0, 9)),
            PrepareVerdict::Reject(_)
        ));
    }

    #[test]
    fn accept_is_idempotent_and_refuses_lower_ballots() {
        let mut s = AcceptorState::<u8>::default();
        assert!(matches!(
            s.on_accept(0, b(0, 5), &Some(1), None),
            AcceptVerdict::Accepted { changed: true, .. }
        ));
        assert!(matches!(
            s.on_accept(0, b(0, 5), &Some(1), None),
            AcceptVerdict::Accepted { changed: false, .. }
        ));
        assert!(matches!(
            s.on_accept(0, b(0, 4), &Some(2), None),
            AcceptVerdict::Reject(_)
        ));
        assert!(matches!(
            s.on_prepare(0, b(0, 4)),
            PrepareVerdict::Reject(_)
        ));
        assert_eq!(s.accepted.map(|a| a.value), Some(Some(1)));
    }
}
