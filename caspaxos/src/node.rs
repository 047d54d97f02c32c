//! What a replica's roles share: its identity and configuration, its acceptor (the registers and
//! the replica meta it votes with) and its outbox (SPEC.md "Replication", acceptor rules).
//!
//! The proposer ([`crate::proposer::Proposer`]) and the amnesia recovery
//! ([`crate::recovery::Recovering`]) borrow a [`Node`] beside their own state; the node knows
//! neither of them, so the roles import it and never each other.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::ops::Bound;

use crate::acceptor::{AcceptVerdict, AcceptorState, DurableWrite, PrepareVerdict, ReplicaMeta};
use crate::ballot::{Ballot, ReplicaId, RequestTag};
use crate::config::{Config, FaultInjection, Output};
use crate::messages::{AcceptedValue, PeerMessage};

/// Largest catch-up page a replica serves, whatever the request asks for.
pub const CATCH_UP_PAGE_MAX: u32 = 4096;

/// A replica's identity, acceptor and outbox. `O` is the outcome type of the changes it runs.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(super) struct Node<K, V, O> {
    /// This replica.
    pub(super) id: ReplicaId,
    /// The group.
    pub(super) config: Config,
    /// This process start's incarnation: the first half of every [`RequestTag`] it makes.
    incarnation: u64,
    /// The second half of the next [`RequestTag`].
    next_sequence: u64,
    /// The replica-wide durable record as last emitted.
    pub(super) meta: ReplicaMeta,
    /// The acceptor state of every register this replica has seen.
    pub(super) registers: BTreeMap<K, AcceptorState<V>>,
    /// What the host must do, in order.
    outputs: VecDeque<Output<K, V, O>>,
    /// Messages this replica sent to itself, not yet handled.
    local_inbox: VecDeque<PeerMessage<K, V>>,
}

impl<K, V, O> Node<K, V, O>
where
    K: Ord + Clone,
    V: Clone + PartialEq,
{
    /// A node with no durable state and nothing to send.
    pub(super) fn new(id: ReplicaId, config: Config, incarnation: u64) -> Self {
        Self {
            id,
            config,
            incarnation,
            next_sequence: 0,
            meta: ReplicaMeta::default(),
            registers: BTreeMap::new(),
            outputs: VecDeque::new(),
            local_inbox: VecDeque::new(),
        }
    }

    // ---- the outbox -----------------------------------------------------------------------

    /// A tag no earlier request of this process start carried.
    pub(super) fn new_tag(&mut self) -> RequestTag {
        let tag = RequestTag {
            incarnation: self.incarnation,
            sequence: self.next_sequence,
        };
        self.next_sequence = self.next_sequence.saturating_add(1);
        tag
    }

    /// Queues an output for the host.
    pub(super) fn emit(&mut self, output: Output<K, V, O>) {
        self.outputs.push_back(output);
    }

    /// The next output for the host, in order.
    pub(super) fn next_output(&mut self) -> Option<Output<K, V, O>> {
        self.outputs.pop_front()
    }

    /// The next message this replica sent to itself.
    pub(super) fn next_local(&mut self) -> Option<PeerMessage<K, V>> {
        self.local_inbox.pop_front()
    }

    /// Queues the durable write of the replica meta as it is now.
    pub(super) fn persist_meta(&mut self) {
        self.emit(Output::Persist(DurableWrite::Meta(self.meta)));
    }

    /// Queues the durable write of one register's acceptor state.
    pub(super) fn persist_register(&mut self, key: &K, state: &AcceptorState<V>) {
        self.emit(Output::Persist(DurableWrite::Register {
            key: key.clone(),
            state: state.clone(),
        }));
    }

    /// Sends `message` to `to`; to this replica itself through the local inbox.
    pub(super) fn dispatch(&mut self, to: ReplicaId, message: PeerMessage<K, V>) {
        if to == self.id {
            self.local_inbox.push_back(message);
        } else {
            self.emit(Output::Send { to, message });
        }
    }

    /// Sends `message` to every other member, in id order.
    pub(super) fn send_to_others(&mut self, message: &PeerMessage<K, V>) {
        let others: Vec<ReplicaId> = self
            .config
            .replicas
            .iter()
            .copied()
            .filter(|r| *r != self.id)
            .collect();
        for to in others {
            self.emit(Output::Send {
                to,
                message: message.clone(),
            });
        }
    }

    // ---- the acceptor (callers handle these only while the replica votes) ----------------

    /// Raises the epoch floor to `epoch` durably (the proposer aims its ballots above it).
    pub(super) fn raise_floor(&mut self, epoch: u64) {
        if epoch > self.meta.epoch_floor {
            self.meta.epoch_floor = epoch;
            self.persist_meta();
        }
    }

    /// Raises the floor to `epoch` durably, then sends `answer` (a `FenceAck` or a
    /// `CatchUpPage`, which vouches for the floor) to `from`.
    fn raise_floor_then_answer(&mut self, from: ReplicaId, epoch: u64, answer: PeerMessage<K, V>) {
        if self.config.fault() == FaultInjection::AckBeforeFloorDurable {
            // Broken: the answer leaves before the floor it vouches for is durable.
            self.dispatch(from, answer);
            self.raise_floor(epoch);
            return;
        }
        self.raise_floor(epoch);
        self.dispatch(from, answer);
    }

    /// A `Fence`: raises the floor, then acknowledges it.
    pub(super) fn on_fence(&mut self, from: ReplicaId, tag: RequestTag, epoch: u64) {
        let epoch_floor = self.meta.epoch_floor.max(epoch);
        self.raise_floor_then_answer(from, epoch, PeerMessage::FenceAck { tag, epoch_floor });
    }

    /// A `Prepare`: promise (durably first) or refuse.
    pub(super) fn on_prepare(&mut self, from: ReplicaId, key: K, ballot: Ballot) {
        let mut state = self.registers.get(&key).cloned().unwrap_or_default();
        match state.on_prepare(self.meta.epoch_floor, ballot) {
            PrepareVerdict::Promise { changed, accepted } => {
                if changed {
                    self.persist_register(&key, &state);
                    self.registers.insert(key.clone(), state);
                }
                self.dispatch(
                    from,
                    PeerMessage::Promise {
                        key,
                        ballot,
                        accepted,
                    },
                );
            }
            PrepareVerdict::Reject(refusal) => self.dispatch(
                from,
                PeerMessage::Reject {
                    key,
                    ballot,
                    refusal,
                },
            ),
        }
    }

    /// An `Accept`: accept (durably first), promising `next` where allowed, or refuse.
    pub(super) fn on_accept(
        &mut self,
        from: ReplicaId,
        key: K,
        ballot: Ballot,
        value: Option<V>,
        next: Option<Ballot>,
    ) {
        let mut state = self.registers.get(&key).cloned().unwrap_or_default();
        let claimed_next = next;
        let next = next.filter(|_| self.config.fault() != FaultInjection::UnkeptNextPromise);
        match state.on_accept(self.meta.epoch_floor, ballot, &value, next) {
            AcceptVerdict::Accepted {
                changed,
                promised_next,
            } => {
                if changed {
                    self.persist_register(&key, &state);
                    self.registers.insert(key.clone(), state);
                }
                let next = match self.config.fault() {
                    FaultInjection::UnkeptNextPromise => claimed_next,
                    FaultInjection::None
                    | FaultInjection::QuorumTooSmall
                    | FaultInjection::IgnoreAcceptedValues
                    | FaultInjection::SkipRecovery
                    | FaultInjection::SkipFence
                    | FaultInjection::EstablishEpochWithoutQuorum
                    | FaultInjection::AckBeforeFloorDurable
                    | FaultInjection::UseUnreservedCounter
                    | FaultInjection::VoteWhileRecovering => next.filter(|_| promised_next),
                };
                self.dispatch(from, PeerMessage::Accepted { key, ballot, next });
            }
            AcceptVerdict::Reject(refusal) => self.dispatch(
                from,
                PeerMessage::Reject {
                    key,
                    ballot,
                    refusal,
                },
            ),
        }
    }

    /// A `CatchUp`: raises the floor to `epoch` durably, then serves one page of accepted
    /// values after `after`.
    pub(super) fn on_catch_up(
        &mut self,
        from: ReplicaId,
        tag: RequestTag,
        epoch: u64,
        after: Option<K>,
        limit: u32,
    ) {
        let limit = usize::try_from(limit.clamp(1, CATCH_UP_PAGE_MAX)).unwrap_or(1);
        let lower = match after {
            Some(k) => Bound::Excluded(k),
            None => Bound::Unbounded,
        };
        let mut entries: Vec<(K, AcceptedValue<V>)> = self
            .registers
            .range((lower, Bound::Unbounded))
            .filter_map(|(k, s)| s.accepted.clone().map(|a| (k.clone(), a)))
            .take(limit.saturating_add(1))
            .collect();
        let more = entries.len() > limit;
        entries.truncate(limit);
        // The floor is durable before the page leaves: every value of an older epoch this
        // replica will ever accept is in the page or was accepted before it (SPEC.md, amnesia).
        let page = PeerMessage::CatchUpPage { tag, entries, more };
        self.raise_floor_then_answer(from, epoch, page);
    }
}
