//! Replica-to-replica messages (SPEC.md "Replication", messages).
//!
//! This layer assumes the transport authenticates every message (the vault seals them with the
//! fleet's replica-link key); it tolerates loss, duplication, reordering and replay.

use alloc::vec::Vec;

use crate::ballot::{Ballot, RequestTag};

/// A value an acceptor has accepted: the ballot and the register's value at that ballot
/// (`None` = the register is empty, e.g. a record that was never created).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct AcceptedValue<V> {
    /// The ballot the value was accepted at.
    pub ballot: Ballot,
    /// The register's value.
    pub value: Option<V>,
}

/// Why an acceptor refused a [`PeerMessage::Prepare`] or [`PeerMessage::Accept`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Refusal {
    /// The highest ballot the acceptor has promised for the key, if any.
    pub promised: Option<Ballot>,
    /// The acceptor's epoch floor: it refuses every ballot of a lower epoch.
    pub epoch_floor: u64,
}

/// A message between two replicas of one group.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum PeerMessage<K, V> {
    /// Phase 1a: "promise not to accept ballots below `ballot` for `key`, and tell me what you
    /// accepted".
    Prepare {
        /// The register.
        key: K,
        /// The proposer's ballot.
        ballot: Ballot,
    },
    /// Phase 1b: the promise, with the acceptor's accepted value for the key, if any.
    Promise {
        /// The register.
        key: K,
        /// The ballot promised.
        ballot: Ballot,
        /// What the acceptor had accepted before promising.
        accepted: Option<AcceptedValue<V>>,
    },
    /// Phase 2a: "accept `value` at `ballot`".
    Accept {
        /// The register.
        key: K,
        /// The proposer's ballot (the one its Prepare was promised at).
        ballot: Ballot,
        /// The new value (the change applied to the highest accepted value of the promises).
        value: Option<V>,
        /// Skip-Prepare: "and promise `next` with this value as your accepted value" (the
        /// proposer's next ballot for this key; `None` when the optimisation is off).
        next: Option<Ballot>,
    },
    /// Phase 2b: the acceptor accepted the value at `ballot`.
    Accepted {
        /// The register.
        key: K,
        /// The ballot accepted.
        ballot: Ballot,
        /// Skip-Prepare: the acceptor has also promised this ballot (the Accept's `next`) and
        /// holds the value accepted at `ballot` as its accepted value.
        next: Option<Ballot>,
    },
    /// A refusal of a Prepare or Accept at `ballot`.
    Reject {
        /// The register.
        key: K,
        /// The refused ballot.
        ballot: Ballot,
        /// What the acceptor has seen, so the proposer can retry above it.
        refusal: Refusal,
    },
    /// "Raise your epoch floor to at least `epoch` (durably), then tell me your floor."
    /// `epoch = 0` only asks for the floor.
    Fence {
        /// Ties the reply to this request.
        tag: RequestTag,
        /// The floor to raise to.
        epoch: u64,
    },
    /// Reply to [`PeerMessage::Fence`], sent after the raised floor is durable.
    FenceAck {
        /// The request's tag.
        tag: RequestTag,
        /// The replier's floor after the request (at least the requested epoch).
        epoch_floor: u64,
    },
    /// A recovering replica reads accepted values: raise the floor to `epoch` (as `Fence`),
    /// then list up to `limit` registers with keys strictly after `after`, in key order.
    CatchUp {
        /// Ties the reply to this request.
        tag: RequestTag,
        /// The recovering replica's fenced epoch.
        epoch: u64,
        /// Keys strictly greater than this one (`None` = from the first key).
        after: Option<K>,
        /// At most this many entries.
        limit: u32,
    },
    /// Reply to [`PeerMessage::CatchUp`].
    CatchUpPage {
        /// The request's tag.
        tag: RequestTag,
        /// Registers with an accepted value, in increasing key order.
        entries: Vec<(K, AcceptedValue<V>)>,
        /// `true` if keys after the last entry may exist (ask again after it).
        more: bool,
    },
}

impl<K, V> PeerMessage<K, V> {
    /// The name of the message kind, as in SPEC.md (for traces and counters).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Prepare { .. } => "Prepare",
            Self::Promise { .. } => "Promise",
            Self::Accept { .. } => "Accept",
            Self::Accepted { .. } => "Accepted",
            Self::Reject { .. } => "Reject",
            Self::Fence { .. } => "Fence",
            Self::FenceAck { .. } => "FenceAck",
            Self::CatchUp { .. } => "CatchUp",
            Self::CatchUpPage { .. } => "CatchUpPage",
        }
    }
}
