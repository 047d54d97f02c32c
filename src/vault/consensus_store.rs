//! The replicated record store: per-account CASPaxos (SPEC.md "Replication", "Vault
//! integration").
//!
//! [`ConsensusStore`] runs one [`Replica`] of the generic engine with keys [`AccountId`], values
//! [`AccountRecord`] and changes [`RecordChange`]. Each submitted change becomes one consensus
//! operation; its outcome is reported when the engine completes it. An operation the engine
//! gives up on completes with [`ChangeOutcome::Unknown`]: the change may or may not take effect
//! later, so the client is told "outcome unknown" and resends the *same* request (every change
//! is idempotent or conservative, so that resend is safe; SPEC.md "Outcome unknown").

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};

use super::change::{ChangeOutcome, RecordChange};
use super::record::AccountRecord;
use super::store::{RecordStore, ReplicaMessage, ReplicaPlace, StoreEvent, Ticket};
use crate::consensus::{
    Change, Config, DurableState, OpId, Output, Replica, ReplicaId, StartError,
};
use crate::ids::AccountId;

/// The consensus replica a [`ConsensusStore`] runs.
pub type RecordReplica = Replica<AccountId, AccountRecord, RecordChange>;

impl Change<AccountRecord> for RecordChange {
    type Outcome = ChangeOutcome;
    type Context = ();

    fn apply(
        &self,
        _context: &(),
        current: Option<&AccountRecord>,
    ) -> (Option<AccountRecord>, ChangeOutcome) {
        let applied = RecordChange::apply(self, current);
        let next = applied.write.or_else(|| current.cloned());
        (next, applied.outcome)
    }
}

/// A [`RecordStore`] that replicates every record over a group with per-account CASPaxos.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConsensusStore {
    group: u32,
    replica: RecordReplica,
    tickets: BTreeMap<OpId, Ticket>,
    events: VecDeque<StoreEvent>,
    now: u64,
}

impl ConsensusStore {
    fn wrap(group: u32, replica: RecordReplica, now: u64) -> Self {
        let mut store = Self {
            group,
            replica,
            tickets: BTreeMap::new(),
            events: VecDeque::new(),
            now,
        };
        store.drain();
        store
    }

    /// A member of a brand-new group (see [`Replica::new`]).
    pub fn new(
        group: u32,
        id: ReplicaId,
        config: Config,
        incarnation: u64,
    ) -> Result<Self, StartError> {
        Ok(Self::wrap(group, Replica::new(id, config, incarnation)?, 0))
    }

    /// Restarts from durable state (see [`Replica::restore`]); open the sealed writes with
    /// [`open_replica_write`](super::open_replica_write).
    pub fn restore(
        group: u32,
        id: ReplicaId,
        config: Config,
        durable: DurableState<AccountId, AccountRecord>,
        incarnation: u64,
    ) -> Result<Self, StartError> {
        let replica = Replica::restore(id, config, durable, incarnation)?;
        Ok(Self::wrap(group, replica, 0))
    }

    /// Restarts without durable state: fences and catches up before voting (see
    /// [`Replica::recover_amnesiac`]).
    pub fn recover_amnesiac(
        group: u32,
        id: ReplicaId,
        config: Config,
        incarnation: u64,
        now: u64,
    ) -> Result<Self, StartError> {
        let replica = Replica::recover_amnesiac(id, config, incarnation, now)?;
        Ok(Self::wrap(group, replica, now))
    }

    /// The consensus replica (for hosts and tests that inspect it).
    pub fn replica(&self) -> &RecordReplica {
        &self.replica
    }

    /// The record this replica has accepted most recently for `account` (not necessarily the
    /// chosen one; for tests and inspection).
    pub fn accepted_record(&self, account: &AccountId) -> Option<&AccountRecord> {
        self.replica
            .register(account)
            .and_then(|s| s.accepted.as_ref())
            .and_then(|a| a.value.as_ref())
    }

    fn drain(&mut self) {
        while let Some(output) = self.replica.poll_output() {
            let event = match output {
                Output::Persist(write) => StoreEvent::ReplicaPersist(Box::new(write)),
                Output::Send { to, message } => StoreEvent::ReplicaSend {
                    to,
                    message: Box::new(message),
                },
                Output::Completed { op, outcome } => {
                    let Some(ticket) = self.tickets.remove(&op) else {
                        continue;
                    };
                    StoreEvent::Completed { ticket, outcome }
                }
                Output::Failed { op, reason: _ } => {
                    let Some(ticket) = self.tickets.remove(&op) else {
                        continue;
                    };
                    StoreEvent::Completed {
                        ticket,
                        outcome: ChangeOutcome::Unknown,
                    }
                }
            };
            self.events.push_back(event);
        }
    }
}

impl RecordStore for ConsensusStore {
    fn submit(&mut self, ticket: Ticket, account: AccountId, change: RecordChange) {
        self.submit_at(self.now, ticket, account, change);
    }

    fn poll_event(&mut self) -> Option<StoreEvent> {
        self.events.pop_front()
    }

    /// Ignored: a replicated store restores from its consensus durable state
    /// ([`ConsensusStore::restore`]), never from single records.
    fn load(&mut self, account: AccountId, record: AccountRecord) {
        let _ = (account, record);
    }

    fn submit_at(&mut self, now: u64, ticket: Ticket, account: AccountId, change: RecordChange) {
        self.now = self.now.max(now);
        let op = self.replica.propose(self.now, account, change, &());
        self.tickets.insert(op, ticket);
        self.drain();
    }

    fn place(&self) -> Option<ReplicaPlace> {
        Some(ReplicaPlace {
            group: self.group,
            replica: self.replica.id(),
        })
    }

    fn handle_replica_message(&mut self, now: u64, from: ReplicaId, message: ReplicaMessage) {
        self.now = self.now.max(now);
        self.replica.handle_message(self.now, from, message, &());
        self.drain();
    }

    fn handle_timeout(&mut self, now: u64) {
        self.now = self.now.max(now);
        self.replica.handle_timeout(self.now, &());
        self.drain();
    }

    fn poll_timeout(&self) -> Option<u64> {
        self.replica.poll_timeout()
    }
}
