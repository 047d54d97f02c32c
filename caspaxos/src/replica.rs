//! One replica: acceptor, proposer and recovery tied together behind a sans-I/O interface.

use core::fmt;

use crate::acceptor::{AcceptorState, DurableState, ReplicaMeta};
use crate::ballot::{ReplicaId, RequestTag};
use crate::config::{Change, Config, FailReason, FaultInjection, OpId, Output};
use crate::messages::PeerMessage;
use crate::node::Node;
use crate::proposer::{Proposer, ProposerState};
use crate::recovery::{Page, Progress, Recovering, Recovery};

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
///
/// Inside, three parts with disjoint state: the node (identity, acceptor, outbox), the proposer
/// and, while it runs, the amnesia recovery. Each input routes to the part it is for; the
/// proposer and the recovery borrow the node and never each other.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Replica<K, V, C: Change<V>> {
    node: Node<K, V, C::Outcome>,
    proposer: ProposerState<K, V, C, C::Outcome>,
    recovery: Option<Recovery<K, V>>,
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
            node: Node::new(id, config, incarnation),
            proposer: ProposerState::new(0, 0),
            recovery: None,
        })
    }

    /// A member of a brand-new group (every member starts empty at the same time). Emits the
    /// first [`DurableWrite::Meta`](crate::DurableWrite::Meta). Never use this for a replica
    /// that has voted before and lost its state: that is
    /// [`recover_amnesiac`](Self::recover_amnesiac).
    ///
    /// `incarnation` must be fresh for every process start (e.g. 64 random bits).
    pub fn new(id: ReplicaId, config: Config, incarnation: u64) -> Result<Self, StartError> {
        let mut replica = Self::empty(id, config, incarnation)?;
        replica.node.persist_meta();
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
        replica.node.meta = meta;
        replica.node.registers = durable.registers;
        replica.proposer = ProposerState::new(
            meta.counter_reserved,
            meta.epoch_floor.max(meta.established_epoch),
        );
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
        match replica.node.config.fault() {
            FaultInjection::SkipRecovery => replica.node.persist_meta(),
            FaultInjection::SkipFence => {
                replica.recovery = Some(Recovery::start_unfenced(&mut replica.node, now_ms));
            }
            FaultInjection::None
            | FaultInjection::QuorumTooSmall
            | FaultInjection::IgnoreAcceptedValues
            | FaultInjection::UnkeptNextPromise
            | FaultInjection::EstablishEpochWithoutQuorum
            | FaultInjection::AckBeforeFloorDurable
            | FaultInjection::UseUnreservedCounter
            | FaultInjection::VoteWhileRecovering => {
                replica.recovery = Some(Recovery::start(&mut replica.node, now_ms));
            }
        }
        Ok(replica)
    }

    /// This replica's id.
    pub fn id(&self) -> ReplicaId {
        self.node.id
    }

    /// The group configuration.
    pub fn config(&self) -> &Config {
        &self.node.config
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
        self.node.meta
    }

    /// The acceptor state of one register, if it has any.
    pub fn register(&self, key: &K) -> Option<&AcceptorState<V>> {
        self.node.registers.get(key)
    }

    /// Operations proposed here that have neither completed nor failed.
    pub fn pending_ops(&self) -> usize {
        self.proposer.pending_ops()
    }

    /// Input: run `change` on register `key`. The result arrives later as
    /// [`Output::Completed`] or [`Output::Failed`] with the returned id. Operations on the same
    /// key proposed at the same replica run one after another, in order.
    pub fn propose(&mut self, now_ms: u64, key: K, change: C, context: &C::Context) -> OpId {
        let Some(mut proposer) = self.proposer() else {
            let id = self.proposer.allocate_op();
            self.node.emit(Output::Failed {
                op: id,
                reason: FailReason::NotVoting,
            });
            return id;
        };
        let id = proposer.propose(context, now_ms, key, change);
        self.drain_local(context, now_ms);
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
        if !self.node.config.contains(from) {
            return;
        }
        self.step(context, now_ms, from, message);
        self.drain_local(context, now_ms);
    }

    /// Input: time has reached `now_ms`; retries, re-sends and backoffs that are due run.
    pub fn handle_timeout(&mut self, now_ms: u64, context: &C::Context) {
        if let Some(mut proposer) = self.proposer() {
            proposer.handle_timeout(context, now_ms);
        }
        if let Some(recovery) = self.recovery.as_mut()
            && recovery.deadline() <= now_ms
        {
            Recovering {
                recovery,
                node: &mut self.node,
            }
            .resend(now_ms);
        }
        self.drain_local(context, now_ms);
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        let recovery = self.recovery.as_ref().map(|r| r.deadline());
        self.proposer.deadline().into_iter().chain(recovery).min()
    }

    /// Output: the next thing the host must do, in order (see [`Output`]).
    pub fn poll_output(&mut self) -> Option<Output<K, V, C::Outcome>> {
        self.node.next_output()
    }

    // ---- routing --------------------------------------------------------------------------

    /// The proposer, only while the replica votes: a replica in amnesia recovery neither
    /// proposes nor counts answers to rounds, so when its recovery ends its proposer is still
    /// as it started (no ballot made, no epoch wanted beyond its new floor).
    fn proposer(&mut self) -> Option<Proposer<'_, K, V, C>> {
        self.recovery.is_none().then_some(Proposer {
            state: &mut self.proposer,
            node: &mut self.node,
        })
    }

    /// Handles the messages this replica sent itself, until none is left.
    fn drain_local(&mut self, ctx: &C::Context, now_ms: u64) {
        while let Some(message) = self.node.next_local() {
            let me = self.node.id;
            self.step(ctx, now_ms, me, message);
        }
    }

    /// One message, routed to the part it is for: requests to the acceptor (only while the
    /// replica votes), round answers to the proposer, recovery answers to the recovery.
    fn step(&mut self, ctx: &C::Context, now_ms: u64, from: ReplicaId, message: PeerMessage<K, V>) {
        let voting = self.is_voting();
        // Only a voting replica's acceptor answers Prepare and Accept.
        let answers_rounds =
            voting || self.node.config.fault() == FaultInjection::VoteWhileRecovering;
        match message {
            PeerMessage::Prepare { key, ballot } => {
                if answers_rounds {
                    self.node.on_prepare(from, key, ballot);
                }
            }
            PeerMessage::Accept {
                key,
                ballot,
                value,
                next,
            } => {
                if answers_rounds {
                    self.node.on_accept(from, key, ballot, value, next);
                }
            }
            PeerMessage::Promise {
                key,
                ballot,
                accepted,
            } => {
                if let Some(mut proposer) = self.proposer() {
                    proposer.on_promise(ctx, now_ms, from, key, ballot, accepted);
                }
            }
            PeerMessage::Accepted { key, ballot, next } => {
                if let Some(mut proposer) = self.proposer() {
                    proposer.on_accepted(ctx, now_ms, from, key, ballot, next);
                }
            }
            PeerMessage::Reject {
                key,
                ballot,
                refusal,
            } => {
                if let Some(mut proposer) = self.proposer() {
                    proposer.on_reject(now_ms, key, ballot, refusal);
                }
            }
            PeerMessage::Fence { tag, epoch } => {
                if voting {
                    self.node.on_fence(from, tag, epoch);
                }
            }
            PeerMessage::FenceAck { tag, epoch_floor } => {
                if let Some(mut proposer) = self.proposer()
                    && proposer.on_fence_ack(ctx, now_ms, from, tag, epoch_floor)
                {
                    return;
                }
                if let Some(recovery) = self.recovery.as_mut() {
                    Recovering {
                        recovery,
                        node: &mut self.node,
                    }
                    .on_fence_ack(now_ms, from, tag, epoch_floor);
                }
            }
            PeerMessage::CatchUp {
                tag,
                epoch,
                after,
                limit,
            } => {
                if voting {
                    self.node.on_catch_up(from, tag, epoch, after, limit);
                }
            }
            PeerMessage::CatchUpPage { tag, entries, more } => {
                let Some(recovery) = self.recovery.as_mut() else {
                    return;
                };
                let progress = Recovering {
                    recovery,
                    node: &mut self.node,
                }
                .on_catch_up_page(now_ms, from, tag, Page { entries, more });
                match progress {
                    Progress::Waiting => {}
                    Progress::Voting => self.recovery = None,
                }
            }
        }
    }
}
