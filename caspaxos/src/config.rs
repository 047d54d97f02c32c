//! Group configuration, the change trait, and the engine's outputs.

use alloc::vec::Vec;

use crate::acceptor::DurableWrite;
use crate::ballot::ReplicaId;
use crate::messages::PeerMessage;

/// A deterministic change to one register: the CASPaxos "change function".
///
/// `apply` must be a pure function of `(self, context, current)`. The engine may apply a change
/// more than once when a proposer retries after an ambiguous Accept round (SPEC.md
/// "Replication", at-least-once), so changes must be idempotent or conservative.
pub trait Change<V> {
    /// What the caller learns when the change completes.
    type Outcome;
    /// Read-only data the change needs and the host passes to every input (for the vault: the
    /// fleet keys that verify a login); `()` if none. It is not part of the replica's state.
    type Context: ?Sized;
    /// The register's new value (`None` = empty) and the outcome, given its current value.
    fn apply(&self, context: &Self::Context, current: Option<&V>) -> (Option<V>, Self::Outcome);
}

/// Identifies one operation submitted with [`Replica::propose`](crate::Replica::propose).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct OpId(pub u64);

/// Why an operation failed. In every case except [`FailReason::NotVoting`] the change may or
/// may not have taken effect (possibly later): the caller reports "unavailable" and may retry.
///
/// Exhaustive on purpose: the vault counts give-ups by every reason, so a new reason is a change
/// it must make (and its `match` names each one).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum FailReason {
    /// The retry budget ran out and the last round found no quorum in time.
    Unavailable,
    /// The retry budget ran out and the last round was refused (competing proposers).
    Contended,
    /// This replica is still recovering from amnesia and does not propose; nothing was sent.
    NotVoting,
}

/// Deliberately broken behaviours of the engine, only for tests that prove the checkers can
/// fail (feature `fault-injection`; set in `Config::fault`). Never use anything but
/// `FaultInjection::None` outside tests.
// Without the feature nothing sets a fault: the engine reads `FaultInjection::None` only.
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code, unreachable_pub))]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum FaultInjection {
    /// The correct protocol.
    None,
    /// Quorums of `N/2` instead of `N/2 + 1`.
    QuorumTooSmall,
    /// The proposer applies the change to an empty register, ignoring accepted values.
    IgnoreAcceptedValues,
    /// An amnesiac replica votes at once, without fencing or catching up.
    SkipRecovery,
    /// An amnesiac replica catches up but does not fence first.
    SkipFence,
    /// Skip-Prepare: acceptors claim to promise the Accept's `next` ballot but do not.
    UnkeptNextPromise,
    /// A proposer establishes the epoch it raises on its own acknowledgement, without waiting
    /// for a quorum of `FenceAck`s (SPEC.md "Replication", epoch establishment and L1): a
    /// ballot of an epoch only it holds as a floor exists, and a later recovery may miss it.
    EstablishEpochWithoutQuorum,
    /// An acceptor's `FenceAck` or `CatchUpPage` leaves before the epoch floor it raised for
    /// the request is durable (the meta write is queued after the answer), so a crash in
    /// between loses a floor the answer vouched for (SPEC.md "Replication", L2 and L4).
    AckBeforeFloorDurable,
    /// A proposer raises its counter reservation (`ReplicaMeta::counter_reserved`) in memory
    /// only: the block's meta write does not precede the ballots that use it, so a replica
    /// restarted from its durable state may make a ballot again (one ballot, two values).
    UseUnreservedCounter,
    /// A replica in amnesia recovery answers `Prepare` and `Accept` (with the empty state it
    /// restarted with) while it is still fencing and catching up.
    VoteWhileRecovering,
}

/// The configuration of one replica group (identical on every replica).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Config {
    /// The members, in increasing id order, without duplicates.
    pub replicas: Vec<ReplicaId>,
    /// A phase that has no quorum of answers after this long is abandoned (a new round starts).
    pub round_timeout_ms: u64,
    /// Base of the exponential backoff after a refused round.
    pub backoff_base_ms: u64,
    /// At most this many rounds per operation before it fails.
    pub max_rounds: u32,
    /// Ballot counters are reserved durably in blocks of this size (one meta write per block).
    pub counter_block: u64,
    /// Entries per `PeerMessage::CatchUp` page.
    pub catch_up_page: u32,
    /// Skip-Prepare (CASPaxos one-round-trip optimisation): each Accept also asks for a
    /// promise of the proposer's next ballot, so the proposer's next operation on the same key
    /// starts directly with Accept. Off by default.
    pub skip_prepare: bool,
    /// Seed of the backoff jitter (mixed with the replica id and the op id).
    pub jitter_seed: u64,
    /// Re-genesis (SPEC.md "Re-genesis"; used by the replicated vault's store): a replica whose
    /// amnesia recovery has not finished after this long (plus `round_timeout_ms` per replica
    /// id, so that the lowest id goes first) runs a census; `None`: never. A group whose
    /// majority is impaired then starts again empty instead of staying unavailable.
    pub regenesis_after_ms: Option<u64>,
    /// Deliberately broken behaviour, for tests that prove the checkers can fail;
    /// [`FaultInjection::None`] unless a test sets it. Only with the feature `fault-injection`:
    /// a production build has no such field.
    #[cfg(feature = "fault-injection")]
    pub fault: FaultInjection,
}

impl Config {
    /// A group of `replicas` with the default timings (100 ms rounds, 20 ms backoff base,
    /// 8 rounds, counter blocks of 1024, catch-up pages of 256, skip-Prepare off, re-genesis
    /// after 2 s of stalled recovery).
    pub fn new(replicas: impl IntoIterator<Item = ReplicaId>) -> Self {
        let mut replicas: Vec<ReplicaId> = replicas.into_iter().collect();
        replicas.sort();
        replicas.dedup();
        Self {
            replicas,
            round_timeout_ms: 100,
            backoff_base_ms: 20,
            max_rounds: 8,
            counter_block: 1024,
            catch_up_page: 256,
            skip_prepare: false,
            jitter_seed: 0,
            regenesis_after_ms: Some(2_000),
            #[cfg(feature = "fault-injection")]
            fault: FaultInjection::None,
        }
    }

    /// The deployment default for a group spread over datacenters (one replica in each, up to
    /// about 150 ms apart one way, as in the simulator): 1,200 ms rounds (a quorum round trip
    /// from the farthest replica plus disk writes fits several times), a 400 ms backoff base
    /// (duelling proposers in different datacenters need a backoff on the scale of their round
    /// trips), skip-Prepare on (one round trip per change while the account's proposer stays
    /// the same; model-checked in `r3-skip-prepare`), and re-genesis after 12 s of stalled
    /// recovery (ten rounds: a recovery slowed by the WAN is not frozen by a census that cannot
    /// succeed). The other settings are those of [`Config::new`].
    pub fn across_datacenters(replicas: impl IntoIterator<Item = ReplicaId>) -> Self {
        Self {
            round_timeout_ms: 1_200,
            backoff_base_ms: 400,
            skip_prepare: true,
            regenesis_after_ms: Some(12_000),
            ..Self::new(replicas)
        }
    }

    /// A majority of the group: `N/2 + 1`.
    pub fn quorum(&self) -> usize {
        match self.fault() {
            FaultInjection::QuorumTooSmall => (self.replicas.len() / 2).max(1),
            FaultInjection::None
            | FaultInjection::IgnoreAcceptedValues
            | FaultInjection::SkipRecovery
            | FaultInjection::SkipFence
            | FaultInjection::UnkeptNextPromise
            | FaultInjection::EstablishEpochWithoutQuorum
            | FaultInjection::AckBeforeFloorDurable
            | FaultInjection::UseUnreservedCounter
            | FaultInjection::VoteWhileRecovering => self.replicas.len() / 2 + 1,
        }
    }

    /// The fault the engine injects: `Config::fault` with the feature `fault-injection`,
    /// otherwise always [`FaultInjection::None`] (a constant, so the checks fold away).
    #[inline]
    pub(crate) fn fault(&self) -> FaultInjection {
        #[cfg(feature = "fault-injection")]
        {
            self.fault
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            FaultInjection::None
        }
    }

    /// Whether `id` is a member.
    pub fn contains(&self, id: ReplicaId) -> bool {
        self.replicas.binary_search(&id).is_ok()
    }
}

/// What the host must do, drained with [`Replica::poll_output`](crate::Replica::poll_output).
///
/// **Ordering contract.** Outputs are produced in the order the host must carry them out. A
/// [`Output::Persist`] must be durable before the host acts on ANY later output (sends a message,
/// reports a completion); writes must be applied in order. Sends may be delivered in any order or
/// lost; the engine never relies on delivery. Reporting `Completed` to a client is allowed once
/// all earlier outputs have been carried out.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Output<K, V, O> {
    /// Write this durable state (see the contract above).
    Persist(DurableWrite<K, V>),
    /// Send `message` to replica `to`.
    Send {
        /// The destination replica.
        to: ReplicaId,
        /// The message.
        message: PeerMessage<K, V>,
    },
    /// The operation's change was chosen (linearized) with this outcome.
    Completed {
        /// The operation.
        op: OpId,
        /// The change's outcome.
        outcome: O,
    },
    /// The operation gave up (see [`FailReason`] for what that means).
    Failed {
        /// The operation.
        op: OpId,
        /// Why.
        reason: FailReason,
    },
}
