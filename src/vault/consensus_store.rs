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
use alloc::vec::Vec;

use super::change::{ChangeOutcome, RecordChange};
use super::failures::FailureCounts;
use super::genesis::Lineage;
use super::record::AccountRecord;
use super::regenesis::{Admission, CensusAction, CensusStep, Regenesis, ReplicaView};
use super::replica_link::{DurableSlot, ReplicaPlace};
use super::store::{
    RecordStore, ReplicaBody, ReplicaEffect, ReplicaMessage, ReplicatedStore, StoreEvent,
    StoreFault, Ticket,
};
use super::trusted::{
    CountedWrite, DurableImage, TrustedCell, TrustedState, TrustedStateError, slot_of,
};
use crate::consensus::{Change, Config, OpId, Output, PeerMessage, Replica, ReplicaId, StartError};
use crate::ids::{AccountId, GroupId};

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

/// The store's share of the trusted cell in durable mode: this instance's incarnation, the era
/// of its durable writes and how many it has emitted in that era.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Series {
    incarnation: u64,
    era: u64,
    writes: u64,
}

/// A [`RecordStore`] that replicates every record over a group with per-account CASPaxos.
///
/// `T` is the HSM's [`TrustedState`]: in durable mode every durable write is counted in it
/// before the host sees the write, and a restart trusts the disk only if its counts match
/// ([`ConsensusStore::start`]); with [`VolatileTrust`](super::VolatileTrust) every start is an
/// amnesia recovery. An instance superseded by a newer one of the same replica (a clone) halts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConsensusStore<T: TrustedState> {
    group: GroupId,
    replica: RecordReplica,
    tickets: BTreeMap<OpId, Ticket>,
    events: VecDeque<StoreEvent<ReplicaEffect>>,
    now_ms: u64,
    trusted: T,
    series: Option<Series>,
    slot_writes: BTreeMap<DurableSlot, u64>,
    halted: bool,
    restored: bool,
    regenesis: Regenesis,
    failures: FailureCounts,
    /// Deliberately broken behaviour (the checkers' tests only).
    #[cfg(feature = "fault-injection")]
    fault: StoreFault,
}

/// How a started store came up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StartKind {
    /// From the host's disk, which matched the trusted state.
    Restored,
    /// As an amnesiac: volatile mode, a lost disk, or a disk older than the trusted state
    /// (a rollback, a dropped or an interrupted write). It fences and catches up before voting.
    Recovering,
}

impl<T: TrustedState> ConsensusStore<T> {
    #[allow(clippy::too_many_arguments)]
    fn wrap(
        group: GroupId,
        replica: RecordReplica,
        now_ms: u64,
        trusted: T,
        series: Option<Series>,
        slot_writes: BTreeMap<DurableSlot, u64>,
        instance: u64,
        lineage: Lineage,
    ) -> Self {
        let restored = replica.is_voting();
        let lineage = restored.then_some(lineage);
        // Without re-genesis the stall clock stays 0: it is no part of the state then.
        let since = if replica.config().regenesis_after_ms.is_some() {
            now_ms
        } else {
            0
        };
        let mut store = Self {
            group,
            replica,
            tickets: BTreeMap::new(),
            events: VecDeque::new(),
            now_ms,
            trusted,
            series,
            slot_writes,
            halted: false,
            restored,
            regenesis: Regenesis::new(instance, lineage, since),
            failures: FailureCounts::default(),
            #[cfg(feature = "fault-injection")]
            fault: StoreFault::None,
        };
        store.drain();
        store
    }

    /// Starts an instance: `begin` on the trusted state. `Ok(None)` in volatile mode.
    fn begin(trusted: &mut T) -> Result<Option<TrustedCell>, StartError> {
        match trusted.begin() {
            Ok(cell) => Ok(Some(cell)),
            Err(TrustedStateError::NotProvided) => Ok(None),
            Err(TrustedStateError::Superseded | TrustedStateError::Failed) => {
                Err(StartError::TrustedStateFailed)
            }
        }
    }

    /// A new era of durable writes starting now (genesis or amnesia), recorded in the cell.
    fn new_era(trusted: &mut T, cell: Option<TrustedCell>) -> Result<Option<Series>, StartError> {
        let Some(cell) = cell else {
            return Ok(None);
        };
        trusted
            .advance(cell.incarnation, cell.incarnation, 0)
            .map_err(|_| StartError::TrustedStateFailed)?;
        Ok(Some(Series {
            incarnation: cell.incarnation,
            era: cell.incarnation,
            writes: 0,
        }))
    }

    /// A member of a brand-new group (see `Replica::new`); starts a new era in `trusted`.
    pub fn new(
        group: GroupId,
        id: ReplicaId,
        config: Config,
        incarnation: u64,
        mut trusted: T,
    ) -> Result<Self, StartError> {
        let replica = Replica::new(id, config, incarnation)?;
        let cell = Self::begin(&mut trusted)?;
        let series = Self::new_era(&mut trusted, cell)?;
        Ok(Self::wrap(
            group,
            replica,
            0,
            trusted,
            series,
            BTreeMap::new(),
            incarnation,
            Lineage::ORIGINAL,
        ))
    }

    /// Restarts replica `id` (SPEC.md "Rollback"): from `image`, the writes its host's disk
    /// offers, only if the trusted state vouches that they are the latest (durable mode and
    /// every write of the current era present at its latest version, with a meta); otherwise as
    /// an amnesiac (see `Replica::recover_amnesiac`), in a new era. In volatile mode every
    /// start is an amnesia recovery. See [`ConsensusStore::start_kind`].
    pub fn start(
        group: GroupId,
        id: ReplicaId,
        config: Config,
        image: &DurableImage,
        trusted: T,
        incarnation: u64,
        now_ms: u64,
    ) -> Result<Self, StartError> {
        Self::start_faulty(
            group,
            id,
            config,
            image,
            trusted,
            incarnation,
            now_ms,
            StoreFault::None,
        )
    }

    /// [`ConsensusStore::start`] of a deliberately broken store (the checkers' tests only):
    /// with [`StoreFault::TrustHostDisk`] it restores from whatever `image` holds; every fault
    /// stays for the instance's life, as with [`ConsensusStore::inject_fault`].
    #[cfg(feature = "fault-injection")]
    #[allow(clippy::too_many_arguments)]
    pub fn start_with_fault(
        group: GroupId,
        id: ReplicaId,
        config: Config,
        image: &DurableImage,
        trusted: T,
        incarnation: u64,
        now_ms: u64,
        fault: StoreFault,
    ) -> Result<Self, StartError> {
        let mut store = Self::start_faulty(
            group,
            id,
            config,
            image,
            trusted,
            incarnation,
            now_ms,
            fault,
        )?;
        store.inject_fault(fault);
        Ok(store)
    }

    /// Makes this store deliberately broken from now on (the checkers' tests only).
    /// [`StoreFault::TrustHostDisk`] acts at a start only: see
    /// [`ConsensusStore::start_with_fault`].
    #[cfg(feature = "fault-injection")]
    pub fn inject_fault(&mut self, fault: StoreFault) {
        self.fault = fault;
    }

    /// The injected fault: always [`StoreFault::None`] without the feature `fault-injection`.
    #[inline]
    fn fault(&self) -> StoreFault {
        #[cfg(feature = "fault-injection")]
        {
            self.fault
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            StoreFault::None
        }
    }

    /// [`ConsensusStore::start`], with `fault` read at the start (the instance's fault is set
    /// by the caller).
    #[allow(clippy::too_many_arguments)]
    fn start_faulty(
        group: GroupId,
        id: ReplicaId,
        config: Config,
        image: &DurableImage,
        mut trusted: T,
        incarnation: u64,
        now_ms: u64,
        fault: StoreFault,
    ) -> Result<Self, StartError> {
        let cell = Self::begin(&mut trusted)?;
        if fault == StoreFault::TrustHostDisk {
            // Deliberately broken (tests only): the disk is believed whatever it holds.
            let (durable, _) = image.fold(None);
            if durable.meta.is_some() {
                let lineage = image.meta_lineage(None).unwrap_or(Lineage::ORIGINAL);
                let replica = Replica::restore(id, config, durable, incarnation)?;
                let series = Self::new_era(&mut trusted, cell)?;
                return Ok(Self::wrap(
                    group,
                    replica,
                    0,
                    trusted,
                    series,
                    BTreeMap::new(),
                    incarnation,
                    lineage,
                ));
            }
        } else if let Some(cell) = cell {
            // INV-ROLLBACK: the disk is used only if it is exactly the latest one.
            let (durable, counts) = image.fold(Some(cell.era));
            if durable.meta.is_some() && image.is_current(cell.era, cell.writes) {
                let lineage = image
                    .meta_lineage(Some(cell.era))
                    .unwrap_or(Lineage::ORIGINAL);
                let replica = Replica::restore(id, config, durable, incarnation)?;
                let series = Series {
                    incarnation: cell.incarnation,
                    era: cell.era,
                    writes: cell.writes,
                };
                return Ok(Self::wrap(
                    group,
                    replica,
                    0,
                    trusted,
                    Some(series),
                    counts,
                    incarnation,
                    lineage,
                ));
            }
        }
        let series = Self::new_era(&mut trusted, cell)?;
        let replica = Replica::recover_amnesiac(id, config, incarnation, now_ms)?;
        Ok(Self::wrap(
            group,
            replica,
            now_ms,
            trusted,
            series,
            BTreeMap::new(),
            incarnation,
            Lineage::ORIGINAL,
        ))
    }

    /// Restarts without durable state (a lost disk): fences and catches up before voting (see
    /// `Replica::recover_amnesiac`); starts a new era in `trusted`.
    pub fn recover_amnesiac(
        group: GroupId,
        id: ReplicaId,
        config: Config,
        incarnation: u64,
        now_ms: u64,
        trusted: T,
    ) -> Result<Self, StartError> {
        Self::start(
            group,
            id,
            config,
            &DurableImage::new(),
            trusted,
            incarnation,
            now_ms,
        )
    }

    /// Whether this instance came up from its disk or as an amnesiac.
    pub fn start_kind(&self) -> StartKind {
        if self.restored {
            StartKind::Restored
        } else {
            StartKind::Recovering
        }
    }

    /// Whether a newer instance of this replica superseded this one (or the trusted state
    /// failed): it emits nothing any more.
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// The trusted state (for hosts that keep it across instances, e.g. the model checker).
    pub fn trusted(&self) -> &T {
        &self.trusted
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

    // ---- re-genesis (SPEC.md "Re-genesis") ------------------------------------------------

    /// The lineage stamped on outgoing messages: this replica's, while it votes.
    fn stamp(&self) -> Option<Lineage> {
        self.regenesis.stamp(self.replica.is_voting())
    }

    /// The consensus operations this store gave up on, by reason (for the host's counters;
    /// each was answered `OutcomeUnknown`).
    pub fn failures(&self) -> &FailureCounts {
        &self.failures
    }

    /// Consensus messages dropped because they came from another lineage (for the host's
    /// counters).
    pub fn foreign_lineage_drops(&self) -> u64 {
        self.regenesis.foreign_lineage_drops()
    }

    /// How many times this instance founded or joined a new lineage, and abandoned its state
    /// after a census (for the host's counters and tests).
    pub fn regenesis_counts(&self) -> (u64, u64) {
        self.regenesis.counts()
    }

    /// What the re-genesis machine reads of `replica` at `now_ms`.
    fn view(replica: &RecordReplica, fault: StoreFault, now_ms: u64) -> ReplicaView<'_> {
        ReplicaView {
            me: replica.id(),
            voting: replica.is_voting(),
            config: replica.config(),
            fault,
            recovery_tag: replica.recovery_tag(),
            now_ms,
        }
    }

    /// Carries out a census step: its messages (stamped with the lineage before the action),
    /// then its action on the engine.
    fn apply_census(&mut self, step: CensusStep) {
        let lineage = self.stamp();
        for (to, message) in step.sends {
            self.events
                .push_back(StoreEvent::Effect(ReplicaEffect::Send {
                    to,
                    message: Box::new(ReplicaMessage {
                        lineage,
                        body: ReplicaBody::Census(message),
                    }),
                }));
        }
        match step.action {
            None => {}
            Some(CensusAction::Abandon) => self.abandon(),
            Some(CensusAction::Join(lineage)) => self.join(lineage),
        }
    }

    /// Starts a new era in the trusted cell for a replaced engine (its writes start afresh).
    fn restart_series(&mut self) -> bool {
        if self.series.is_none() {
            self.slot_writes.clear();
            return true;
        }
        let Ok(cell) = self.trusted.begin() else {
            return false;
        };
        match Self::new_era(&mut self.trusted, Some(cell)) {
            Ok(series) => {
                self.series = series;
                self.slot_writes.clear();
                true
            }
            Err(_) => false,
        }
    }

    /// The old engine's operations end: outcome unknown (the clients resend).
    fn end_pending_operations(&mut self) {
        self.drain();
        for (_, ticket) in core::mem::take(&mut self.tickets) {
            self.events.push_back(StoreEvent::Completed {
                ticket,
                outcome: ChangeOutcome::Unknown,
            });
        }
    }

    /// Replaces the engine (join a lineage, or abandon the state); halts if the trusted state
    /// refuses the new era.
    fn replace_engine(&mut self, replica: Result<RecordReplica, StartError>) {
        self.end_pending_operations();
        match replica {
            Ok(replica) if self.restart_series() => {
                self.replica = replica;
                self.regenesis.engine_replaced(self.now_ms);
                self.drain();
            }
            _ => {
                self.halted = true;
                self.tickets.clear();
            }
        }
    }

    /// Every replica was impaired at one instant: start again, empty, in `lineage`.
    fn join(&mut self, lineage: Lineage) {
        let id = self.replica.id();
        let config = self.replica.config().clone();
        let incarnation = self.regenesis.next_engine_incarnation();
        self.regenesis.note_joined(lineage);
        self.replace_engine(Replica::new(id, config, incarnation));
    }

    /// A quorum of others was impaired at one instant: this lineage can never form a quorum
    /// again; recover as an amnesiac (and so take part in the next genesis).
    fn abandon(&mut self) {
        let id = self.replica.id();
        let config = self.replica.config().clone();
        let incarnation = self.regenesis.next_engine_incarnation();
        let now_ms = self.now_ms;
        self.regenesis.note_abandoned();
        self.replace_engine(Replica::recover_amnesiac(id, config, incarnation, now_ms));
    }

    /// Starts the amnesia recovery again (a new era: nothing adopted so far is kept), taking
    /// answers of `lineage` from now on.
    fn restart_recovery(&mut self, lineage: Lineage) {
        let id = self.replica.id();
        let config = self.replica.config().clone();
        let incarnation = self.regenesis.next_engine_incarnation();
        let now_ms = self.now_ms;
        self.replace_engine(Replica::recover_amnesiac(id, config, incarnation, now_ms));
        self.regenesis.pin_recovery_lineage(lineage);
    }

    /// After an input: a recovery that finished adopts the lineage it recovered from.
    fn note_recovery_end(&mut self, was_voting: bool) {
        self.regenesis
            .note_recovery_end(was_voting, self.replica.is_voting());
    }

    /// Turns the engine's outputs of one input into events. In durable mode the batch's durable
    /// writes are counted in the trusted cell (one NVRAM write per batch that has any) before
    /// any of them, or anything after them, reaches the host; a batch without writes only
    /// checks the incarnation. If the cell names a newer instance, the batch is dropped and
    /// this instance halts (a clone never acts after its successor started).
    fn drain(&mut self) {
        let mut batch = Vec::new();
        while let Some(output) = self.replica.poll_output() {
            batch.push(output);
        }
        if self.halted || batch.is_empty() {
            return;
        }
        // This batch's slot counts, committed only once the trusted cell took them.
        let mut pending: BTreeMap<DurableSlot, u64> = BTreeMap::new();
        let mut counted = Vec::new();
        let mut writes = self.series.map_or(0, |s| s.writes);
        for output in &batch {
            if let Output::Persist(write) = output {
                let slot = slot_of(write);
                let before = pending
                    .get(&slot)
                    .or_else(|| self.slot_writes.get(&slot))
                    .copied()
                    .unwrap_or(0);
                let count = before.saturating_add(1);
                pending.insert(slot, count);
                writes = writes.saturating_add(1);
                counted.push(count);
            }
        }
        if let Some(series) = self.series.as_mut() {
            let verdict = if counted.is_empty() {
                self.trusted.check(series.incarnation)
            } else {
                self.trusted.advance(series.incarnation, series.era, writes)
            };
            if verdict.is_err() {
                self.halted = true;
                self.tickets.clear();
                return;
            }
            series.writes = writes;
        }
        self.slot_writes.extend(pending);
        let era = self.series.map_or(0, |s| s.era);
        let lineage = self.stamp();
        let write_lineage = self.regenesis.write_lineage(self.replica.is_voting());
        let mut counts = counted.into_iter();
        for output in batch {
            let event = match output {
                Output::Persist(write) => {
                    StoreEvent::Effect(ReplicaEffect::Persist(Box::new(CountedWrite {
                        write,
                        era,
                        slot_writes: counts.next().unwrap_or(0),
                        lineage: write_lineage,
                    })))
                }
                Output::Send { to, message } => StoreEvent::Effect(ReplicaEffect::Send {
                    to,
                    message: Box::new(ReplicaMessage {
                        lineage,
                        body: ReplicaBody::Peer(message),
                    }),
                }),
                Output::Completed { op, outcome } => {
                    let Some(ticket) = self.tickets.remove(&op) else {
                        continue;
                    };
                    StoreEvent::Completed { ticket, outcome }
                }
                Output::Failed { op, reason } => {
                    // Toward the client every give-up is `OutcomeUnknown`; the host counts why.
                    self.failures.count(reason);
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

impl<T: TrustedState> RecordStore for ConsensusStore<T> {
    type Effect = ReplicaEffect;

    fn poll_event(&mut self) -> Option<StoreEvent<ReplicaEffect>> {
        self.events.pop_front()
    }

    fn submit_at(&mut self, now_ms: u64, ticket: Ticket, account: AccountId, change: RecordChange) {
        if self.halted {
            return;
        }
        self.now_ms = self.now_ms.max(now_ms);
        let op = self.replica.propose(self.now_ms, account, change, &());
        self.tickets.insert(op, ticket);
        self.drain();
    }

    /// The lineage this replica votes in (`None` while it recovers).
    fn lineage(&self) -> Option<Lineage> {
        self.stamp()
    }
}

impl<T: TrustedState> ReplicatedStore for ConsensusStore<T> {
    fn place(&self) -> ReplicaPlace {
        ReplicaPlace {
            group: self.group,
            replica: self.replica.id(),
        }
    }

    fn handle_replica_message(&mut self, now_ms: u64, from: ReplicaId, message: ReplicaMessage) {
        if self.halted || from == self.replica.id() || !self.replica.config().contains(from) {
            return;
        }
        self.now_ms = self.now_ms.max(now_ms);
        if let ReplicaBody::Census(census) = message.body {
            let view = Self::view(&self.replica, self.fault(), self.now_ms);
            let step = self
                .regenesis
                .on_census(&view, from, message.lineage, census);
            self.apply_census(step);
            return;
        }
        let view = Self::view(&self.replica, self.fault(), self.now_ms);
        match self.regenesis.admit(&view, &message) {
            Admission::Admit => {}
            Admission::Drop => {
                self.regenesis.count_foreign_drop();
                return;
            }
            Admission::RestartRecovery(lineage) => {
                self.restart_recovery(lineage);
                self.regenesis.count_foreign_drop();
                return;
            }
        }
        let ReplicaBody::Peer(peer) = message.body else {
            return;
        };
        if matches!(peer, PeerMessage::Reject { .. }) {
            self.failures.count_refusal();
        }
        let was_voting = self.replica.is_voting();
        self.replica.handle_message(self.now_ms, from, peer, &());
        self.note_recovery_end(was_voting);
        self.drain();
    }

    fn handle_timeout(&mut self, now_ms: u64) {
        if self.halted {
            return;
        }
        self.now_ms = self.now_ms.max(now_ms);
        self.replica.handle_timeout(self.now_ms, &());
        self.drain();
        let view = Self::view(&self.replica, self.fault(), self.now_ms);
        let step = self.regenesis.on_timers(&view);
        self.apply_census(step);
    }

    fn poll_timeout(&self) -> Option<u64> {
        if self.halted {
            return None;
        }
        [
            self.replica.poll_timeout(),
            self.regenesis
                .next_deadline(&Self::view(&self.replica, self.fault(), self.now_ms)),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
