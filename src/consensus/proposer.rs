//! The proposer role: per-operation state, rounds, backoff and epoch establishment (SPEC.md
//! "Replication", proposer rules).

use alloc::collections::{BTreeMap, BTreeSet};

use super::ballot::{Ballot, ReplicaId};
use super::config::{Change, OpId};
use super::config::{FailReason, FaultInjection, Output};
use super::messages::{AcceptedValue, PeerMessage};
use super::replica::{Raise, Replica};

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

impl<K, V, C> Replica<K, V, C>
where
    K: Ord + Clone,
    V: Clone + PartialEq,
    C: Change<V>,
    C::Outcome: Clone,
{
    // ---- proposer -------------------------------------------------------------------------

    pub(super) fn next_ballot(&mut self) -> Ballot {
        if self.next_counter >= self.meta.counter_reserved {
            self.meta.counter_reserved = self
                .next_counter
                .saturating_add(self.config.counter_block.max(1));
            self.persist_meta();
        }
        let ballot = Ballot {
            epoch: self.meta.established_epoch,
            counter: self.next_counter,
            replica: self.id,
        };
        self.next_counter = self.next_counter.saturating_add(1);
        ballot
    }

    pub(super) fn start_round(&mut self, ctx: &C::Context, now_ms: u64, id: OpId) {
        let deadline = now_ms.saturating_add(self.config.round_timeout_ms);
        let needs_epoch = self.wanted_epoch > self.meta.established_epoch;
        let max_rounds = self.config.max_rounds;
        let Some(op) = self.ops.get_mut(&id) else {
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
        if self.config.skip_prepare
            && let Some(warm) = self.warm.remove(&key)
            && warm.next.epoch == self.meta.established_epoch
        {
            // Phase 1 for `warm.next` already happened with the last Accept.
            self.enter_accepting(ctx, now_ms, id, warm.next, warm.value.as_ref());
            return;
        }
        let ballot = self.next_ballot();
        if let Some(op) = self.ops.get_mut(&id) {
            op.phase = Phase::Preparing {
                ballot,
                deadline,
                promises: BTreeMap::new(),
            };
        }
        self.broadcast(ctx, now_ms, PeerMessage::Prepare { key, ballot });
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
        let deadline = now_ms.saturating_add(self.config.round_timeout_ms);
        let Some(op) = self.ops.get(&id) else {
            return;
        };
        let key = op.key.clone();
        let (value, outcome) = op.change.apply(ctx, current);
        let next = if self.config.skip_prepare {
            Some(self.next_ballot())
        } else {
            None
        };
        if let Some(op) = self.ops.get_mut(&id) {
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
        self.broadcast(
            ctx,
            now_ms,
            PeerMessage::Accept {
                key,
                ballot,
                value,
                next,
            },
        );
    }

    /// Removes a finished operation, reports it, and starts the next one on its key.
    pub(super) fn finish(
        &mut self,
        ctx: &C::Context,
        now_ms: u64,
        id: OpId,
        report: Output<K, V, C::Outcome>,
    ) {
        let Some(op) = self.ops.remove(&id) else {
            return;
        };
        self.outputs.push_back(report);
        let next = match self.queues.get_mut(&op.key) {
            Some(queue) => {
                queue.retain(|queued| *queued != id);
                queue.front().copied()
            }
            None => None,
        };
        match next {
            Some(next) => self.start_round(ctx, now_ms, next),
            None => {
                self.queues.remove(&op.key);
            }
        }
    }

    /// The operation currently running on `key`, if its round is at `ballot`.
    pub(super) fn active_op_at(&mut self, key: &K, ballot: Ballot) -> Option<&mut Op<K, V, C>> {
        let id = self.queues.get(key)?.front().copied()?;
        let op = self.ops.get_mut(&id)?;
        (op.ballot() == Some(ballot)).then_some(op)
    }

    pub(super) fn on_promise(
        &mut self,
        ctx: &C::Context,
        now_ms: u64,
        from: ReplicaId,
        key: K,
        ballot: Ballot,
        accepted: Option<AcceptedValue<V>>,
    ) {
        let quorum = self.config.quorum();
        let ignore_accepted = self.config.fault == FaultInjection::IgnoreAcceptedValues;
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

    pub(super) fn on_accepted(
        &mut self,
        ctx: &C::Context,
        now_ms: u64,
        from: ReplicaId,
        key: K,
        ballot: Ballot,
        promised_next: Option<Ballot>,
    ) {
        let quorum = self.config.quorum();
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
                self.warm.insert(key, warm);
                if self.warm.len() > WARM_KEYS_MAX {
                    self.warm.pop_first();
                }
            }
            None => {
                self.warm.remove(&key);
            }
        }
        self.finish(ctx, now_ms, id, report);
    }

    pub(super) fn on_reject(
        &mut self,
        now_ms: u64,
        key: K,
        ballot: Ballot,
        refusal: super::messages::Refusal,
    ) {
        let established = self.meta.established_epoch;
        let base = self.config.backoff_base_ms;
        let seed = self.config.jitter_seed;
        let me = self.id;
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
                self.next_counter = self.next_counter.max(promised.counter.saturating_add(1));
            }
        }
        self.wanted_epoch = self.wanted_epoch.max(wanted);
    }

    // ---- epoch raise ----------------------------------------------------------------------

    pub(super) fn ensure_raise(&mut self, ctx: &C::Context, now_ms: u64) {
        let target = self.wanted_epoch;
        if target <= self.meta.established_epoch
            || self.raise.as_ref().is_some_and(|r| r.epoch >= target)
        {
            return;
        }
        let tag = self.new_tag();
        self.raise_floor(target);
        let mut acks = BTreeSet::new();
        acks.insert(self.id);
        self.raise = Some(Raise {
            tag,
            epoch: target,
            acks,
            deadline: now_ms.saturating_add(self.config.round_timeout_ms),
        });
        self.send_to_others(&PeerMessage::Fence { tag, epoch: target });
        self.check_raise(ctx, now_ms);
    }

    pub(super) fn resend_raise(&mut self, now_ms: u64) {
        let Some(raise) = self.raise.as_mut() else {
            return;
        };
        raise.deadline = now_ms.saturating_add(self.config.round_timeout_ms);
        let message = PeerMessage::Fence {
            tag: raise.tag,
            epoch: raise.epoch,
        };
        let missing: alloc::vec::Vec<ReplicaId> = self
            .config
            .replicas
            .iter()
            .copied()
            .filter(|r| !raise.acks.contains(r))
            .collect();
        for to in missing {
            self.dispatch(to, message.clone());
        }
    }

    pub(super) fn check_raise(&mut self, ctx: &C::Context, now_ms: u64) {
        let quorum = self.config.quorum();
        let Some(raise) = self.raise.as_ref() else {
            return;
        };
        if raise.acks.len() < quorum {
            return;
        }
        // INV-LINEAR: a ballot's epoch is established (a quorum holds a floor at least as high)
        // before any ballot of that epoch exists.
        self.meta.established_epoch = self.meta.established_epoch.max(raise.epoch);
        self.raise = None;
        self.persist_meta();
        let waiting: alloc::vec::Vec<OpId> = self
            .ops
            .values()
            .filter(|op| matches!(op.phase, Phase::AwaitingEpoch { .. }))
            .map(|op| op.id)
            .collect();
        if self.wanted_epoch > self.meta.established_epoch {
            self.ensure_raise(ctx, now_ms);
            return;
        }
        for id in waiting {
            if let Some(op) = self.ops.get_mut(&id) {
                // Waiting for the epoch used up this round without sending anything.
                op.rounds_started = op.rounds_started.saturating_sub(1);
            }
            self.start_round(ctx, now_ms, id);
        }
    }
}
