//! The record store: the seam between the vault and replication (SPEC.md "Record store").
//!
//! The vault never mutates a record itself. It submits `(ticket, account, change)` and later
//! receives [`StoreEvent`]s: `Effect` (for example a durable write the host must complete) and
//! `Completed` (the outcome the reply depends on). A store emits every write a change causes
//! before that change's `Completed`. [`LocalStore`] is the single-replica store; a
//! [`ReplicatedStore`] (the consensus store: CASPaxos per account) applies the same
//! [`RecordChange`] on its proposer after the prepare quorum and completes after the accept
//! quorum.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};

use super::change::{ChangeOutcome, RecordChange};
use super::genesis::{CensusMessage, Lineage};
use super::record::AccountRecord;
use super::replica_link::ReplicaPlace;
use super::trusted::CountedWrite;
use crate::consensus::{PeerMessage, ReplicaId};
use crate::ids::AccountId;

/// A consensus message of a replicated vault store.
pub type ReplicaPeerMessage = PeerMessage<AccountId, AccountRecord>;

/// What a replica-to-replica message carries.
// Census messages are rare and small; boxing the common variant instead would cost an
// allocation per consensus message (the whole message is boxed in `StoreEvent` already).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReplicaBody {
    /// A message of the consensus engine.
    Peer(ReplicaPeerMessage),
    /// A census message (SPEC.md "Re-genesis").
    Census(CensusMessage),
}

/// A replica-to-replica message of a replicated vault store (plain, before sealing): the
/// sender's lineage (`None` while it recovers and has none) and the body. A voting replica
/// takes consensus messages of its own lineage only (SPEC.md "Re-genesis").
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReplicaMessage {
    /// The sender's lineage.
    pub lineage: Option<Lineage>,
    /// The message.
    pub body: ReplicaBody,
}

impl ReplicaMessage {
    /// The name of the message kind, as in SPEC.md (for traces and counters).
    pub fn kind(&self) -> &'static str {
        match &self.body {
            ReplicaBody::Peer(message) => message.kind(),
            ReplicaBody::Census(message) => message.kind(),
        }
    }
}

/// Names one submitted change.
pub type Ticket = u64;

/// What a store reports: the outcome of a submitted change, or an effect of the store's kind
/// (a [`LocalStore`] writes records, [`RecordWrite`]; a replicated store writes consensus state
/// and sends to its peers, [`ReplicaEffect`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StoreEvent<E> {
    /// Carry this effect out before acting on any later event (a write is durable first).
    Effect(E),
    /// The change submitted with `ticket` is committed with this outcome.
    Completed {
        /// The ticket given to [`RecordStore::submit_at`].
        ticket: Ticket,
        /// What the change did.
        outcome: ChangeOutcome,
    },
}

/// The effect of a [`LocalStore`]: durably write `record` for `account`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RecordWrite {
    /// The account.
    pub account: AccountId,
    /// The record to write.
    pub record: Box<AccountRecord>,
}

/// An effect of a [`ReplicatedStore`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReplicaEffect {
    /// Durably write this consensus state before acting on any later event (the vault seals
    /// it under the storage key). The write carries its era and slot count (SPEC.md "Rollback").
    Persist(Box<CountedWrite>),
    /// Send `message` to replica `to` (the vault seals it under the replica-link key).
    Send {
        /// The destination replica of the same group.
        to: ReplicaId,
        /// The message.
        message: Box<ReplicaMessage>,
    },
}

/// Applies record changes, linearizably per account.
pub trait RecordStore {
    /// What the store asks its vault to carry out besides completing changes.
    type Effect;
    /// Submits a change at time `now_ms`; its outcome arrives later as
    /// `StoreEvent::Completed`.
    fn submit_at(&mut self, now_ms: u64, ticket: Ticket, account: AccountId, change: RecordChange);
    /// The next event, if any.
    fn poll_event(&mut self) -> Option<StoreEvent<Self::Effect>>;
    /// The lineage whose records this store serves (SPEC.md "Re-genesis"); `None` while a
    /// replicated store recovers. Registration tickets are bound to it. (No default: a store
    /// that wraps another must pass its answer on.)
    fn lineage(&self) -> Option<Lineage>;
}

/// A store replicated over a group: it runs as one replica, exchanges messages with the
/// others and keeps timers.
pub trait ReplicatedStore: RecordStore<Effect = ReplicaEffect> {
    /// The group and replica id this store runs as.
    fn place(&self) -> ReplicaPlace;
    /// A message from replica `from`, already opened and authenticated.
    fn handle_replica_message(&mut self, now_ms: u64, from: ReplicaId, message: ReplicaMessage);
    /// Time has reached `now_ms`.
    fn handle_timeout(&mut self, now_ms: u64);
    /// When `handle_timeout` should next be called.
    fn poll_timeout(&self) -> Option<u64>;
}

/// A deliberately broken behaviour of the replicated store ([`ConsensusStore`]), for showing
/// that the checkers catch it; set with `ConsensusStore::start_with_fault` or
/// `ConsensusStore::inject_fault` (feature `fault-injection`). The consensus engine's own
/// faults are in the group configuration (`GroupConfig::fault`).
///
/// [`ConsensusStore`]: super::ConsensusStore
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StoreFault {
    /// The correct store.
    #[default]
    None,
    /// The store restores from whatever its host's disk holds, without checking it against the
    /// trusted state (the behaviour before rollback detection).
    TrustHostDisk,
    /// The store takes consensus messages of every lineage, not only its own (SPEC.md
    /// "Re-genesis"): an older lineage's delayed messages reach a new one.
    IgnoreLineage,
    /// The re-genesis census of a voter is satisfied by one frozen replica fewer than a quorum
    /// (SPEC.md "Re-genesis", G1): a voter gives its state up while a quorum may still hold it.
    CensusQuorumTooSmall,
}

/// A single replica's store: applies each change at once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LocalStore {
    records: BTreeMap<AccountId, AccountRecord>,
    events: VecDeque<StoreEvent<RecordWrite>>,
}

impl LocalStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current record of `account`.
    pub fn record(&self, account: &AccountId) -> Option<&AccountRecord> {
        self.records.get(account)
    }

    /// Every record, in account order.
    pub fn records(&self) -> &BTreeMap<AccountId, AccountRecord> {
        &self.records
    }

    /// Loads a record recovered from durable storage (at start-up).
    pub fn load(&mut self, account: AccountId, record: AccountRecord) {
        self.records.insert(account, record);
    }
}

impl RecordStore for LocalStore {
    type Effect = RecordWrite;

    /// A single replica is never re-founded: always the original lineage.
    fn lineage(&self) -> Option<Lineage> {
        Some(Lineage::ORIGINAL)
    }

    /// Applies the change at once (a single replica needs no time).
    fn submit_at(&mut self, now_ms: u64, ticket: Ticket, account: AccountId, change: RecordChange) {
        let _ = now_ms;
        let applied = change.apply(self.records.get(&account));
        if let Some(record) = applied.write {
            self.records.insert(account.clone(), record.clone());
            self.events.push_back(StoreEvent::Effect(RecordWrite {
                account,
                record: Box::new(record),
            }));
        }
        self.events.push_back(StoreEvent::Completed {
            ticket,
            outcome: applied.outcome,
        });
    }

    fn poll_event(&mut self) -> Option<StoreEvent<RecordWrite>> {
        self.events.pop_front()
    }
}
