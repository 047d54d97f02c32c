//! One replica: acceptor, proposer and recovery tied together behind a sans-I/O interface.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use core::fmt;
use core::ops::Bound;

use super::acceptor::{
    AcceptVerdict, AcceptorState, DurableState, DurableWrite, PrepareVerdict, ReplicaMeta,
};
use super::ballot::{Ballot, ReplicaId, RequestTag};
use super::config::{Change, Config, FailReason, FaultInjection, OpId, Output};
use super::messages::{AcceptedValue, PeerMessage};
use super::proposer::{Op, Phase, RoundEnd, Warm};
use super::recovery::{Page, Recovery};

/// Largest catch-up page a replica serves, whatever the request asks for.
pub const CATCH_UP_PAGE_MAX: u32 = 4096;

/// Why a replica could not be started.
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StartError {
    /// The replica id is not a member of the configured group.
    NotAMember,
    /// The durable state has no [`ReplicaMeta`]: it is incomplete (for example an interrupted
    /// amnesia recovery) and must be discarded; start with [`Replica::recover_amnesiac`].
    IncompleteDurableState,
    /// The HSM's trusted state failed at start (SPEC.md "Trusted state").
    TrustedStateFailed,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAMember => f.write_str("replica id is not a member of the group"),
            Self::IncompleteDurableState => f.write_str("durable state has no replica meta"),
            Self::TrustedStateFailed => f.write_str("the trusted state failed at start"),
        }
    }
}

/// An epoch raise in flight: this replica's proposer waits until a quorum (itself included)
/// has durably raised its floor to `epoch` before it makes ballots of that epoch.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(super) struct Raise {
    pub(super) tag: RequestTag,
    pub(super) epoch: u64,
    pub(super) acks: BTreeSet<ReplicaId>,
    pub(super) deadline: u64,
}

/// One replica of a CASPaxos group: every replica is both proposer and acceptor.
///
/// Sans-I/O, in the style of quinn-proto and raft-rs:
/// - **inputs**: [`propose`](Self::propose), [`handle_message`](Self::handle_message),
///   [`handle_timeout`](Self::handle_timeout) — each takes `now_ms` (milliseconds, any origin,
///   never decreasing) and the changes' [`Change::Context`] (any input may apply a change);
/// - **outputs**: after every input, drain [`poll_output`](Self::poll_output) until `None` and
///   carry the outputs out in order (see the ordering contract on [`Output`]); then ask
///   [`poll_timeout`](Self::poll_timeout) when to call `handle_timeout` next.
///
/// Start a replica with [`new`](Self::new) (a fresh group), [`restore`](Self::restore) (restart
/// with durable state) or [`recover_amnesiac`](Self::recover_amnesiac) (restart without it).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Replica<K, V, C: Change<V>> {
    pub(super) id: ReplicaId,
    pub(super) config: Config,
    pub(super) incarnation: u64,
    pub(super) next_sequence: u64,
    pub(super) meta: ReplicaMeta,
    pub(super) next_counter: u64,
    pub(super) registers: BTreeMap<K, AcceptorState<V>>,
    pub(super) recovery: Option<Recovery<K, V>>,
    pub(super) raise: Option<Raise>,
    pub(super) wanted_epoch: u64,
    pub(super) next_op: u64,
    pub(super) ops: BTreeMap<OpId, Op<K, V, C>>,
    pub(super) queues: BTreeMap<K, VecDeque<OpId>>,
    pub(super) warm: BTreeMap<K, Warm<V>>,
    pub(super) outputs: VecDeque<Output<K, V, C::Outcome>>,
    pub(super) local_inbox: VecDeque<PeerMessage<K, V>>,
}

impl<K, V, C> Replica<K, V, C>
where
    K: Ord + Clone,
    V: Clone + PartialEq,
    C: Change<V>,
    C::Outcome: Clone,
{
    fn empty(id: ReplicaId, config: Config, incarnation: u64) -> Result<Self, StartError> {
        if !config.contains(id) {
            return Err(StartError::NotAMember);
        }
        Ok(Self {
            id,
            config,
            incarnation,
            next_sequence: 0,
            meta: ReplicaMeta::default(),
            next_counter: 0,
            registers: BTreeMap::new(),
            recovery: None,
            raise: None,
            wanted_epoch: 0,
            next_op: 0,
            ops: BTreeMap::new(),
            queues: BTreeMap::new(),
            warm: BTreeMap::new(),
            outputs: VecDeque::new(),
            local_inbox: VecDeque::new(),
        })
    }

    /// A member of a brand-new group (every member starts empty at the same time). Emits the
    /// first [`DurableWrite::Meta`]. Never use this for a replica that has voted before and
    /// lost its state: that is [`recover_amnesiac`](Self::recover_amnesiac).
    ///
    /// `incarnation` must be fresh for every process start (e.g. 64 random bits).
    pub fn new(id: ReplicaId, config: Config, incarnation: u64) -> Result<Self, StartError> {
        let mut replica = Self::empty(id, config, incarnation)?;
        replica.persist_meta();
        Ok(replica)
    }

    /// Restarts a replica from its durable state: it votes again at once; the operations it
    /// was proposing are lost (their callers see no outcome and retry).
    pub fn restore(
        id: ReplicaId,
        config: Config,
        durable: DurableState<K, V>,
        incarnation: u64,
    ) -> Result<Self, StartError> {
        let meta = durable.meta.ok_or(StartError::IncompleteDurableState)?;
        let mut replica = Self::empty(id, config, incarnation)?;
        replica.meta = meta;
        replica.next_counter = meta.counter_reserved;
        replica.wanted_epoch = meta.epoch_floor.max(meta.established_epoch);
        replica.registers = durable.registers;
        Ok(replica)
    }

    /// Restarts a replica that lost its durable state. It neither votes nor proposes until it
    /// has fenced the group and caught up (SPEC.md "Replication", amnesia recovery); the host
    /// must discard whatever partial state it had. Emits the first requests.
    pub fn recover_amnesiac(
        id: ReplicaId,
        config: Config,
        incarnation: u64,
        now_ms: u64,
    ) -> Result<Self, StartError> {
        let mut replica = Self::empty(id, config, incarnation)?;
        match replica.config.fault {
            FaultInjection::SkipRecovery => replica.persist_meta(),
            FaultInjection::SkipFence => {
                replica.recovery = Some(Recovery::Querying {
                    tag: RequestTag {
                        incarnation,
                        sequence: u64::MAX,
                    },
                    floors: BTreeMap::new(),
                    deadline: now_ms,
                });
                replica.start_page(now_ms, 0, None);
            }
            FaultInjection::None
            | FaultInjection::QuorumTooSmall
            | FaultInjection::IgnoreAcceptedValues
            | FaultInjection::UnkeptNextPromise
            | FaultInjection::TrustHostDisk
            | FaultInjection::IgnoreLineage
            | FaultInjection::CensusQuorumTooSmall => {
                let tag = replica.new_tag();
                replica.recovery = Some(Recovery::Querying {
                    tag,
                    floors: BTreeMap::new(),
                    deadline: now_ms.saturating_add(replica.config.round_timeout_ms),
                });
                replica.send_to_others(&PeerMessage::Fence { tag, epoch: 0 });
            }
        }
        Ok(replica)
    }

    /// This replica's id.
    pub fn id(&self) -> ReplicaId {
        self.id
    }

    /// The group configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the replica votes (false while an amnesia recovery is running).
    pub fn is_voting(&self) -> bool {
        self.recovery.is_none()
    }

    /// While an amnesia recovery runs: the tag its answers must carry now (answers to other
    /// tags are ignored).
    pub fn recovery_tag(&self) -> Option<RequestTag> {
        self.recovery.as_ref().map(|r| r.tag())
    }

    /// The replica-wide durable record as last emitted.
    pub fn meta(&self) -> ReplicaMeta {
        self.meta
    }

    /// The acceptor state of one register, if it has any.
    pub fn register(&self, key: &K) -> Option<&AcceptorState<V>> {
        self.registers.get(key)
    }

    /// Operations proposed here that have neither completed nor failed.
    pub fn pending_ops(&self) -> usize {
        self.ops.len()
    }

    /// Input: run `change` on register `key`. The result arrives later as
    /// [`Output::Completed`] or [`Output::Failed`] with the returned id. Operations on the same
    /// key proposed at the same replica run one after another, in order.
    pub fn propose(&mut self, now_ms: u64, key: K, change: C, context: &C::Context) -> OpId {
        let ctx = context;
        let id = OpId(self.next_op);
        self.next_op = self.next_op.saturating_add(1);
        if !self.is_voting() {
            self.outputs.push_back(Output::Failed {
                op: id,
                reason: FailReason::NotVoting,
            });
            return id;
        }
        self.ops.insert(
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
        let queue = self.queues.entry(key).or_default();
        queue.push_back(id);
        if queue.len() == 1 {
            self.start_round(ctx, now_ms, id);
        }
        self.drain_local(ctx, now_ms);
        id
    }

    /// Input: a message from replica `from` (already authenticated by the transport).
    /// Messages from non-members are ignored.
    pub fn handle_message(
        &mut self,
        now_ms: u64,
        from: ReplicaId,
        message: PeerMessage<K, V>,
        context: &C::Context,
    ) {
        let ctx = context;
        if !self.config.contains(from) {
            return;
        }
        self.step(ctx, now_ms, from, message);
        self.drain_local(ctx, now_ms);
    }

    /// Input: time has reached `now_ms`; retries, re-sends and backoffs that are due run.
    pub fn handle_timeout(&mut self, now_ms: u64, context: &C::Context) {
        let ctx = context;
        let due: alloc::vec::Vec<OpId> = self
            .ops
            .values()
            .filter(|op| op.deadline().is_some_and(|d| d <= now_ms))
            .map(|op| op.id)
            .collect();
        for id in due {
            if let Some(op) = self.ops.get_mut(&id) {
                match op.phase {
                    Phase::Preparing { .. } | Phase::Accepting { .. } => {
                        op.last_end = Some(RoundEnd::TimedOut);
                    }
                    Phase::Queued | Phase::Backoff { .. } | Phase::AwaitingEpoch { .. } => {}
                }
            }
            self.start_round(ctx, now_ms, id);
        }
        if self.raise.as_ref().is_some_and(|r| r.deadline <= now_ms) {
            self.resend_raise(now_ms);
        }
        if self
            .recovery
            .as_ref()
            .is_some_and(|r| r.deadline() <= now_ms)
        {
            self.resend_recovery(now_ms);
        }
        self.drain_local(ctx, now_ms);
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        let ops = self.ops.values().filter_map(|op| op.deadline());
        let raise = self.raise.as_ref().map(|r| r.deadline);
        let recovery = self.recovery.as_ref().map(|r| r.deadline());
        ops.chain(raise).chain(recovery).min()
    }

    /// Output: the next thing the host must do, in order (see [`Output`]).
    pub fn poll_output(&mut self) -> Option<Output<K, V, C::Outcome>> {
        self.outputs.pop_front()
    }

    // ---- plumbing -------------------------------------------------------------------------

    pub(super) fn new_tag(&mut self) -> RequestTag {
        let tag = RequestTag {
            incarnation: self.incarnation,
            sequence: self.next_sequence,
        };
        self.next_sequence = self.next_sequence.saturating_add(1);
        tag
    }

    pub(super) fn persist_meta(&mut self) {
        self.outputs
            .push_back(Output::Persist(DurableWrite::Meta(self.meta)));
    }

    pub(super) fn persist_register(&mut self, key: &K, state: &AcceptorState<V>) {
        self.outputs
            .push_back(Output::Persist(DurableWrite::Register {
                key: key.clone(),
                state: state.clone(),
            }));
    }

    pub(super) fn dispatch(&mut self, to: ReplicaId, message: PeerMessage<K, V>) {
        if to == self.id {
            self.local_inbox.push_back(message);
        } else {
            self.outputs.push_back(Output::Send { to, message });
        }
    }

    pub(super) fn send_to_others(&mut self, message: &PeerMessage<K, V>) {
        let others: alloc::vec::Vec<ReplicaId> = self
            .config
            .replicas
            .iter()
            .copied()
            .filter(|r| *r != self.id)
            .collect();
        for to in others {
            self.outputs.push_back(Output::Send {
                to,
                message: message.clone(),
            });
        }
    }

    /// Sends to every member: this replica's own acceptor first (its durable write precedes
    /// the sends), then the others in id order.
    pub(super) fn broadcast(&mut self, ctx: &C::Context, now_ms: u64, message: PeerMessage<K, V>) {
        self.step(ctx, now_ms, self.id, message.clone());
        self.send_to_others(&message);
    }

    pub(super) fn drain_local(&mut self, ctx: &C::Context, now_ms: u64) {
        while let Some(message) = self.local_inbox.pop_front() {
            self.step(ctx, now_ms, self.id, message);
        }
    }

    pub(super) fn raise_floor(&mut self, epoch: u64) {
        if epoch > self.meta.epoch_floor {
            self.meta.epoch_floor = epoch;
            self.wanted_epoch = self.wanted_epoch.max(epoch);
            self.persist_meta();
        }
    }

    pub(super) fn step(
        &mut self,
        ctx: &C::Context,
        now_ms: u64,
        from: ReplicaId,
        message: PeerMessage<K, V>,
    ) {
        match message {
            PeerMessage::Prepare { key, ballot } => self.on_prepare(from, key, ballot),
            PeerMessage::Accept {
                key,
                ballot,
                value,
                next,
            } => self.on_accept(from, key, ballot, value, next),
            PeerMessage::Promise {
                key,
                ballot,
                accepted,
            } => self.on_promise(ctx, now_ms, from, key, ballot, accepted),
            PeerMessage::Accepted { key, ballot, next } => {
                self.on_accepted(ctx, now_ms, from, key, ballot, next)
            }
            PeerMessage::Reject {
                key,
                ballot,
                refusal,
            } => self.on_reject(now_ms, key, ballot, refusal),
            PeerMessage::Fence { tag, epoch } => {
                if self.is_voting() {
                    self.raise_floor(epoch);
                    let epoch_floor = self.meta.epoch_floor;
                    self.dispatch(from, PeerMessage::FenceAck { tag, epoch_floor });
                }
            }
            PeerMessage::FenceAck { tag, epoch_floor } => {
                self.on_fence_ack(ctx, now_ms, from, tag, epoch_floor);
            }
            PeerMessage::CatchUp {
                tag,
                epoch,
                after,
                limit,
            } => self.on_catch_up(from, tag, epoch, after, limit),
            PeerMessage::CatchUpPage { tag, entries, more } => {
                self.on_catch_up_page(now_ms, from, tag, Page { entries, more });
            }
        }
    }

    // ---- acceptor -------------------------------------------------------------------------

    pub(super) fn on_prepare(&mut self, from: ReplicaId, key: K, ballot: Ballot) {
        if !self.is_voting() {
            return;
        }
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

    pub(super) fn on_accept(
        &mut self,
        from: ReplicaId,
        key: K,
        ballot: Ballot,
        value: Option<V>,
        next: Option<Ballot>,
    ) {
        if !self.is_voting() {
            return;
        }
        let mut state = self.registers.get(&key).cloned().unwrap_or_default();
        let claimed_next = next;
        let next = next.filter(|_| self.config.fault != FaultInjection::UnkeptNextPromise);
        match state.on_accept(self.meta.epoch_floor, ballot, &value, next) {
            AcceptVerdict::Accepted {
                changed,
                promised_next,
            } => {
                if changed {
                    self.persist_register(&key, &state);
                    self.registers.insert(key.clone(), state);
                }
                let next = match self.config.fault {
                    FaultInjection::UnkeptNextPromise => claimed_next,
                    FaultInjection::None
                    | FaultInjection::QuorumTooSmall
                    | FaultInjection::IgnoreAcceptedValues
                    | FaultInjection::SkipRecovery
                    | FaultInjection::SkipFence
                    | FaultInjection::TrustHostDisk
                    | FaultInjection::IgnoreLineage
                    | FaultInjection::CensusQuorumTooSmall => next.filter(|_| promised_next),
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

    pub(super) fn on_catch_up(
        &mut self,
        from: ReplicaId,
        tag: RequestTag,
        epoch: u64,
        after: Option<K>,
        limit: u32,
    ) {
        if !self.is_voting() {
            return;
        }
        // The floor is durable before the page leaves: every value of an older epoch this
        // replica will ever accept is in the page or was accepted before it (SPEC.md, amnesia).
        self.raise_floor(epoch);
        let limit = usize::try_from(limit.clamp(1, CATCH_UP_PAGE_MAX)).unwrap_or(1);
        let lower = match after {
            Some(k) => Bound::Excluded(k),
            None => Bound::Unbounded,
        };
        let mut entries: alloc::vec::Vec<(K, AcceptedValue<V>)> = self
            .registers
            .range((lower, Bound::Unbounded))
            .filter_map(|(k, s)| s.accepted.clone().map(|a| (k.clone(), a)))
            .take(limit.saturating_add(1))
            .collect();
        let more = entries.len() > limit;
        entries.truncate(limit);
        self.dispatch(from, PeerMessage::CatchUpPage { tag, entries, more });
    }
}
