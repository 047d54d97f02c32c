//! The proposer role: per-operation state, rounds, backoff and epoch establishment (SPEC.md
//! "Replication", proposer rules).

use alloc::collections::{BTreeMap, BTreeSet};

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::ballot::{Ballot, ReplicaId, RequestTag};
use crate::config::{Change, OpId};
use crate::config::{FailReason, FaultInjection, Output};
use crate::messages::{AcceptedValue, PeerMessage, Refusal};
use crate::node::Node;

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
    /// Waits for a quorum of acceptances of `value` at `ballot`; with skip-Prepare, also
    /// counts the acceptors that promised `next` with it.
    Accepting {
        ballot: Ballot,
        deadline: u64,
        value: Option<V>,
        outcome: O,
        accepted: BTreeSet<ReplicaId>,
        next: Option<Ballot>,
        next_promised: BTreeSet<ReplicaId>,
    },
}

/// Skip-Prepare state of one key: a quorum has promised `next` and holds `value` (chosen by
/// this replica's last operation on the key) as its highest accepted value.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Warm<V> {
    pub(crate) next: Ballot,
    pub(crate) value: Option<V>,
}

/// At most this many keys keep skip-Prepare state per replica (the smallest keys are dropped).
pub(crate) const WARM_KEYS_MAX: usize = 1024;

/// One operation on one key, owned by its proposer.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Op<K, V, C, O> {
    pub(crate) id: OpId,
    pub(crate) key: K,
    pub(crate) change: C,
    pub(crate) rounds_started: u32,
    pub(crate) last_end: Option<RoundEnd>,
    pub(crate) phase: Phase<V, O>,
}

impl<K, V, C, O> Op<K, V, C, O> {
    /// The time this operation next needs [`handle_timeout`](crate::Replica::handle_timeout).
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

/// Exponential backoff with deterministic "equal jitter": with `window = base * 2^min(round, 6)`,
/// the pause is `window / 2 + jitter` where `jitter < window / 2` is derived from the seed, the
/// replica, the op and the round (SplitMix64). The jitter grows with the window, so two
/// proposers that collided once are unlikely to wake together again.
pub(crate) fn backoff_ms(base: u64, seed: u64, replica: ReplicaId, op: OpId, round: u32) -> u64 {
    let window = base.saturating_mul(1u64 << round.min(6));
    let half = window / 2;
    let mut z = seed
        ^ u64::from(replica.0).rotate_left(56)
        ^ op.0.rotate_left(17)
        ^ u64::from(round).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let jitter = z.checked_rem(window - half).unwrap_or(0);
    half.saturating_add(jitter)
}

// ---- the proposer role of a replica ----------------------------------------------------------

/// An epoch raise in flight: this replica's proposer waits until a quorum (itself included)
/// has durably raised its floor to `epoch` before it makes ballots of that epoch.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(super) struct Raise {
    pub(super) tag: RequestTag,
    pub(super) epoch: u64,
    pub(super) acks: BTreeSet<ReplicaId>,
    pub(super) deadline: u64,
}

/// What the proposer of one replica keeps between inputs. `O` is the outcome of `C`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(super) struct ProposerState<K, V, C, O> {
    /// The counter of the next ballot this replica makes.
    next_counter: u64,
    /// The epoch raise in flight, if any.
    raise: Option<Raise>,
    /// The highest epoch a refusal (or the durable state it restarted from) gave this replica
    /// a reason to establish; its own epoch floor is the other reason
    /// ([`Proposer::wanted_epoch`]).
    wanted_epoch: u64,
    /// The id of the next operation proposed here.
    next_op: u64,
    /// Every operation that has neither completed nor failed.
    ops: BTreeMap<OpId, Op<K, V, C, O>>,
    /// Per key, the operations in the order they run (the front one is running).
    queues: BTreeMap<K, VecDeque<OpId>>,
    /// Per key, the skip-Prepare state.
    warm: BTreeMap<K, Warm<V>>,
}

impl<K, V, C, O> ProposerState<K, V, C, O> {
    /// A proposer with no operations that makes ballots from `next_counter` on and wants
    /// `wanted_epoch` established.
    pub(super) fn new(next_counter: u64, wanted_epoch: u64) -> Self {
        Self {
            next_counter,
            raise: None,
            wanted_epoch,
            next_op: 0,
            ops: BTreeMap::new(),
            queues: BTreeMap::new(),
            warm: BTreeMap::new(),
        }
    }

    /// A fresh operation id, for an operation that fails at once (the replica does not vote).
    pub(super) fn allocate_op(&mut self) -> OpId {
        let id = OpId(self.next_op);
        self.next_op = self.next_op.saturating_add(1);
        id
    }

    /// Operations proposed here that have neither completed nor failed.
    pub(super) fn pending_ops(&self) -> usize {
        self.ops.len()
    }

    /// When the proposer next needs a timeout, if ever.
    pub(super) fn deadline(&self) -> Option<u64> {
        let ops = self.ops.values().filter_map(|op| op.deadline());
        let raise = self.raise.as_ref().map(|r| r.deadline);
        ops.chain(raise).min()
    }
}

/// The proposer of one replica at work: its own state and the node it shares with the other
/// roles, borrowed for one input (openraft's handler style: disjoint borrows, no back edge).
pub(super) struct Proposer<'a, K, V, C: Change<V>> {
    pub(super) state: &'a mut ProposerState<K, V, C, C::Outcome>,
    pub(super) node: &'a mut Node<K, V, C::Outcome>,
}

impl<K, V, C> Proposer<'_, K, V, C>
where
    K: Ord + Clone,
    V: Clone + PartialEq,
    C: Change<V>,
    C::Outcome: Clone,
{
    /// Queues `change` on `key` and starts it if nothing runs on the key. The replica votes.
    pub(super) fn propose(&mut self, ctx: &C::Context, now_ms: u64, key: K, change: C) -> OpId {
        let id = self.state.allocate_op();
        self.state.ops.insert(
            id,
            Op {
                id,
                key: key.clone(),
                change,
                rounds_started: 0,
                last_end: None,
                phase: Phase::Queued,
            },
        );
        let queue = self.state.queues.entry(key).or_default();
        queue.push_back(id);
        if queue.len() == 1 {
            self.start_round(ctx, now_ms, id);
        }
        id
    }

    /// Time has reached `now_ms`: rounds, backoffs and epoch waits that are due start their
    /// next round; an epoch raise that is due is re-sent.
    pub(super) fn handle_timeout(&mut self, ctx: &C::Context, now_ms: u64) {
        let due: Vec<OpId> = self
            .state
            .ops
            .values()
            .filter(|op| op.deadline().is_some_and(|d| d <= now_ms))
            .map(|op| op.id)
            .collect();
        for id in due {
            if let Some(op) = self.state.ops.get_mut(&id) {
                match op.phase {
                    Phase::Preparing { .. } | Phase::Accepting { .. } => {
                        op.last_end = Some(RoundEnd::TimedOut);
                    }
                    Phase::Queued | Phase::Backoff { .. } | Phase::AwaitingEpoch { .. } => {}
                }
            }
            self.start_round(ctx, now_ms, id);
        }
        if self
            .state
            .raise
            .as_ref()
            .is_some_and(|r| r.deadline <= now_ms)
        {
            self.resend_raise(now_ms);
        }
    }

    /// The epoch this replica's ballots must reach: the highest a refusal showed, and at least
    /// its own epoch floor.
    fn wanted_epoch(&self) -> u64 {
        self.state.wanted_epoch.max(self.node.meta.epoch_floor)
    }

    fn next_ballot(&mut self) -> Ballot {
        if self.state.next_counter >= self.node.meta.counter_reserved {
            self.node.meta.counter_reserved = self
                .state
                .next_counter
                .saturating_add(self.node.config.counter_block.max(1));
            // The block is durable before its first ballot leaves.
            if self.node.config.fault() != FaultInjection::UseUnreservedCounter {
                self.node.persist_meta();
            }
        }
        let ballot = Ballot {
            epoch: self.node.meta.established_epoch,
            counter: self.state.next_counter,
            replica: self.node.id,
        };
        self.state.next_counter = self.state.next_counter.saturating_add(1);
        ballot
    }

    fn start_round(&mut self, ctx: &C::Context, now_ms: u64, id: OpId) {
        let deadline = now_ms.saturating_add(self.node.config.round_timeout_ms);
        let needs_epoch = self.wanted_epoch() > self.node.meta.established_epoch;
        let max_rounds = self.node.config.max_rounds;
        let Some(op) = self.state.ops.get_mut(&id) else {
            return;
        };
        if op.rounds_started >= max_rounds {
            let reason = match op.last_end {
                Some(RoundEnd::Refused) => FailReason::Contended,
                Some(RoundEnd::TimedOut) | None => FailReason::Unavailable,
            };
            self.finish(ctx, now_ms, id, Output::Failed { op: id, reason });
            return;
        }
        op.rounds_started = op.rounds_started.saturating_add(1);
        if needs_epoch {
            op.phase = Phase::AwaitingEpoch { deadline };
            self.ensure_raise(ctx, now_ms);
            return;
        }
        let key = op.key.clone();
        if self.node.config.skip_prepare
            && let Some(warm) = self.state.warm.remove(&key)
            && warm.next.epoch == self.node.meta.established_epoch
        {
            // Phase 1 for `warm.next` already happened with the last Accept.
            self.enter_accepting(ctx, now_ms, id, warm.next, warm.value.as_ref());
            return;
        }
        let ballot = self.next_ballot();
        if let Some(op) = self.state.ops.get_mut(&id) {
            op.phase = Phase::Preparing {
                ballot,
                deadline,
                promises: BTreeMap::new(),
            };
        }
        // Every member: this replica's own acceptor first (its durable write precedes the
        // sends), then the others in id order. The proposer runs only while the replica votes.
        self.node.on_prepare(self.node.id, key.clone(), ballot);
        self.node
            .send_to_others(&PeerMessage::Prepare { key, ballot });
    }

    /// Applies the operation's change to `current` and sends `Accept` at `ballot` (with the
    /// next ballot when skip-Prepare is on).
    fn enter_accepting(
        &mut self,
        ctx: &C::Context,
        now_ms: u64,
        id: OpId,
        ballot: Ballot,
        current: Option<&V>,
    ) {
        let deadline = now_ms.saturating_add(self.node.config.round_timeout_ms);
        let Some(op) = self.state.ops.get(&id) else {
            return;
        };
        let key = op.key.clone();
        let (value, outcome) = op.change.apply(ctx, current);
        let next = if self.node.config.skip_prepare {
            Some(self.next_ballot())
        } else {
            None
        };
        if let Some(op) = self.state.ops.get_mut(&id) {
            op.phase = Phase::Accepting {
                ballot,
                deadline,
                value: value.clone(),
                outcome,
                accepted: BTreeSet::new(),
                next,
                next_promised: BTreeSet::new(),
            };
        }
        // As in `start_round`: the own acceptor first, then the others.
        self.node
            .on_accept(self.node.id, key.clone(), ballot, value.clone(), next);
        self.node.send_to_others(&PeerMessage::Accept {
            key,
            ballot,
            value,
            next,
        });
    }

    /// Removes a finished operation, reports it, and starts the next one on its key.
    fn finish(
        &mut self,
        ctx: &C::Context,
        now_ms: u64,
        id: OpId,
        report: Output<K, V, C::Outcome>,
    ) {
        let Some(op) = self.state.ops.remove(&id) else {
            return;
        };
        self.node.emit(report);
        let next = match self.state.queues.get_mut(&op.key) {
            Some(queue) => {
                queue.retain(|queued| *queued != id);
                queue.front().copied()
            }
            None => None,
        };
        match next {
            Some(next) => self.start_round(ctx, now_ms, next),
            None => {
                self.state.queues.remove(&op.key);
            }
        }
    }

    /// The operation currently running on `key`, if its round is at `ballot`.
    fn active_op_at(&mut self, key: &K, ballot: Ballot) -> Option<&mut Op<K, V, C, C::Outcome>> {
        let id = self.state.queues.get(key)?.front().copied()?;
        let op = self.state.ops.get_mut(&id)?;
        (op.ballot() == Some(ballot)).then_some(op)
    }

    /// A `Promise` for the round at `ballot` on `key`.
    pub(super) fn on_promise(
        &mut self,
        ctx: &C::Context,
        now_ms: u64,
        from: ReplicaId,
        key: K,
        ballot: Ballot,
        accepted: Option<AcceptedValue<V>>,
    ) {
        let quorum = self.node.config.quorum();
        let ignore_accepted = self.node.config.fault() == FaultInjection::IgnoreAcceptedValues;
        let Some(op) = self.active_op_at(&key, ballot) else {
            return;
        };
        let Phase::Preparing { promises, .. } = &mut op.phase else {
            return;
        };
        promises.insert(from, accepted);
        if promises.len() < quorum {
            return;
        }
        let current = if ignore_accepted {
            None
        } else {
            highest_accepted(promises).and_then(|a| a.value.clone())
        };
        let id = op.id;
        self.enter_accepting(ctx, now_ms, id, ballot, current.as_ref());
    }

    /// An `Accepted` for the round at `ballot` on `key`.
    pub(super) fn on_accepted(
        &mut self,
        ctx: &C::Context,
        now_ms: u64,
        from: ReplicaId,
        key: K,
        ballot: Ballot,
        promised_next: Option<Ballot>,
    ) {
        let quorum = self.node.config.quorum();
        let Some(op) = self.active_op_at(&key, ballot) else {
            return;
        };
        let Phase::Accepting {
            accepted,
            outcome,
            value,
            next,
            next_promised,
            ..
        } = &mut op.phase
        else {
            return;
        };
        accepted.insert(from);
        if promised_next.is_some() && promised_next == *next {
            next_promised.insert(from);
        }
        if accepted.len() < quorum {
            return;
        }
        let warm = match next {
            Some(next) if next_promised.len() >= quorum => Some(Warm {
                next: *next,
                value: value.clone(),
            }),
            Some(_) | None => None,
        };
        let report = Output::Completed {
            op: op.id,
            outcome: outcome.clone(),
        };
        let id = op.id;
        match warm {
            Some(warm) => {
                self.state.warm.insert(key, warm);
                if self.state.warm.len() > WARM_KEYS_MAX {
                    self.state.warm.pop_first();
                }
            }
            None => {
                self.state.warm.remove(&key);
            }
        }
        self.finish(ctx, now_ms, id, report);
    }

    /// A `Reject` for the round at `ballot` on `key`: back off, and aim above what the
    /// acceptor has seen.
    pub(super) fn on_reject(&mut self, now_ms: u64, key: K, ballot: Ballot, refusal: Refusal) {
        let established = self.node.meta.established_epoch;
        let base = self.node.config.backoff_base_ms;
        let seed = self.node.config.jitter_seed;
        let me = self.node.id;
        let Some(op) = self.active_op_at(&key, ballot) else {
            return;
        };
        let pause = backoff_ms(base, seed, me, op.id, op.rounds_started);
        op.last_end = Some(RoundEnd::Refused);
        op.phase = Phase::Backoff {
            until: now_ms.saturating_add(pause),
        };
        let mut wanted = refusal.epoch_floor;
        if let Some(promised) = refusal.promised {
            wanted = wanted.max(promised.epoch);
            if promised.epoch >= established {
                self.state.next_counter = self
                    .state
                    .next_counter
                    .max(promised.counter.saturating_add(1));
            }
        }
        self.state.wanted_epoch = self.state.wanted_epoch.max(wanted);
    }

    // ---- epoch raise ----------------------------------------------------------------------

    /// A `FenceAck`: counts for this replica's epoch raise if the tag matches; whether it did.
    pub(super) fn on_fence_ack(
        &mut self,
        ctx: &C::Context,
        now_ms: u64,
        from: ReplicaId,
        tag: RequestTag,
        epoch_floor: u64,
    ) -> bool {
        let Some(raise) = self.state.raise.as_mut() else {
            return false;
        };
        if raise.tag != tag || epoch_floor < raise.epoch {
            return false;
        }
        raise.acks.insert(from);
        self.check_raise(ctx, now_ms);
        true
    }

    fn ensure_raise(&mut self, ctx: &C::Context, now_ms: u64) {
        let target = self.wanted_epoch();
        if target <= self.node.meta.established_epoch
            || self.state.raise.as_ref().is_some_and(|r| r.epoch >= target)
        {
            return;
        }
        let tag = self.node.new_tag();
        self.node.raise_floor(target);
        let mut acks = BTreeSet::new();
        acks.insert(self.node.id);
        self.state.raise = Some(Raise {
            tag,
            epoch: target,
            acks,
            deadline: now_ms.saturating_add(self.node.config.round_timeout_ms),
        });
        self.node
            .send_to_others(&PeerMessage::Fence { tag, epoch: target });
        self.check_raise(ctx, now_ms);
    }

    fn resend_raise(&mut self, now_ms: u64) {
        let Some(raise) = self.state.raise.as_mut() else {
            return;
        };
        raise.deadline = now_ms.saturating_add(self.node.config.round_timeout_ms);
        let message = PeerMessage::Fence {
            tag: raise.tag,
            epoch: raise.epoch,
        };
        let missing: Vec<ReplicaId> = self
            .node
            .config
            .replicas
            .iter()
            .copied()
            .filter(|r| !raise.acks.contains(r))
            .collect();
        for to in missing {
            self.node.dispatch(to, message.clone());
        }
    }

    fn check_raise(&mut self, ctx: &C::Context, now_ms: u64) {
        let quorum = self.node.config.quorum();
        let Some(raise) = self.state.raise.as_ref() else {
            return;
        };
        let without_quorum =
            self.node.config.fault() == FaultInjection::EstablishEpochWithoutQuorum;
        if raise.acks.len() < quorum && !without_quorum {
            return;
        }
        // INV-LINEAR: a ballot's epoch is established (a quorum holds a floor at least as high)
        // before any ballot of that epoch exists.
        self.node.meta.established_epoch = self.node.meta.established_epoch.max(raise.epoch);
        self.state.raise = None;
        self.node.persist_meta();
        let waiting: Vec<OpId> = self
            .state
            .ops
            .values()
            .filter(|op| matches!(op.phase, Phase::AwaitingEpoch { .. }))
            .map(|op| op.id)
            .collect();
        if self.wanted_epoch() > self.node.meta.established_epoch {
            self.ensure_raise(ctx, now_ms);
            return;
        }
        for id in waiting {
            if let Some(op) = self.state.ops.get_mut(&id) {
                // Waiting for the epoch used up this round without sending anything.
                op.rounds_started = op.rounds_started.saturating_sub(1);
            }
            self.start_round(ctx, now_ms, id);
        }
    }
}
