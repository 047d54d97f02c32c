//! The HSM's trusted state and rollback detection (SPEC.md "Threat model", "Rollback").
//!
//! The host runs every disk and may put back any earlier copy of a replica's durable writes. The
//! only thing it cannot roll back is a small cell inside the HSM boundary, reached through
//! [`TrustedState`]: the replica's instance count (`incarnation`), the `era` its current series
//! of durable writes started in, and how many durable writes it has emitted in that era
//! (`writes`). Every sealed durable write carries its era and its slot's own write count
//! ([`CountedWrite`]); a replica restarts from its disk only if the counts of the disk's writes
//! of the current era add up to the cell's `writes` ([`DurableImage`]). Anything else is a
//! rollback, a dropped or an interrupted write: the replica recovers as an amnesiac.
//!
//! Durable mode: the platform provides [`TrustedState`] (HSM NVRAM or a monotonic counter).
//! Volatile mode ([`VolatileTrust`]): no trusted NVRAM; nothing on the host disk is trusted and
//! every start is an amnesia recovery.

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use core::cell::RefCell;
use core::fmt;

use super::genesis::Lineage;
use super::replica_link::DurableSlot;
use crate::consensus::{DurableState, DurableWrite};
use crate::ids::AccountId;
use crate::vault::record::AccountRecord;

/// The trusted cell: a few bytes of NVRAM inside the HSM boundary, one per replica identity.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct TrustedCell {
    /// Incremented by [`TrustedState::begin`] at every start of an instance of this replica.
    pub incarnation: u64,
    /// The incarnation that started the current series of durable writes (genesis or the last
    /// amnesia recovery). Writes of other eras on the disk are ignored.
    pub era: u64,
    /// Durable writes this replica emitted in `era` (advanced before the host sees them).
    pub writes: u64,
}

/// Why the trusted state refused.
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum TrustedStateError {
    /// The platform has no trusted NVRAM (volatile mode).
    NotProvided,
    /// A newer instance of this replica identity has started (a clone or a restart): this
    /// instance must halt.
    Superseded,
    /// The NVRAM did not complete the operation.
    Failed,
}

impl fmt::Display for TrustedStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotProvided => f.write_str("no trusted state on this platform"),
            Self::Superseded => f.write_str("a newer instance of this replica has started"),
            Self::Failed => f.write_str("the trusted state failed"),
        }
    }
}

impl core::error::Error for TrustedStateError {}

/// The HSM's trusted state (SPEC.md "Trusted state"): a small NVRAM cell the host can neither
/// read nor roll back, called synchronously by the replicated store. Every method is atomic.
pub trait TrustedState {
    /// At the start of an instance: `incarnation += 1` (one NVRAM write); returns the new cell.
    fn begin(&mut self) -> Result<TrustedCell, TrustedStateError>;
    /// Fails with [`TrustedStateError::Superseded`] unless the cell's incarnation is still
    /// `incarnation` (a read).
    fn check(&self, incarnation: u64) -> Result<(), TrustedStateError>;
    /// If the cell's incarnation is still `incarnation`, sets `era` and `writes` (one NVRAM
    /// write); else [`TrustedStateError::Superseded`] and nothing changes.
    fn advance(&mut self, incarnation: u64, era: u64, writes: u64)
    -> Result<(), TrustedStateError>;
}

/// Volatile mode: the platform has no trusted NVRAM. [`TrustedState::begin`] fails with
/// [`TrustedStateError::NotProvided`], so every start is an amnesia recovery.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct VolatileTrust;

impl TrustedState for VolatileTrust {
    fn begin(&mut self) -> Result<TrustedCell, TrustedStateError> {
        Err(TrustedStateError::NotProvided)
    }
    fn check(&self, _incarnation: u64) -> Result<(), TrustedStateError> {
        Ok(())
    }
    fn advance(&mut self, _: u64, _: u64, _: u64) -> Result<(), TrustedStateError> {
        Ok(())
    }
}

impl TrustedCell {
    /// [`TrustedState::begin`] on this cell: a new instance of the replica, superseding every
    /// earlier one; returns the new cell.
    pub fn begin(&mut self) -> TrustedCell {
        self.incarnation = self.incarnation.saturating_add(1);
        *self
    }

    /// [`TrustedState::check`] on this cell: only the newest instance may go on.
    pub fn check(&self, incarnation: u64) -> Result<(), TrustedStateError> {
        if self.incarnation == incarnation {
            Ok(())
        } else {
            Err(TrustedStateError::Superseded)
        }
    }

    /// [`TrustedState::advance`] on this cell: sets `era` and `writes` if `incarnation` is
    /// still the newest instance, else nothing changes.
    pub fn advance(
        &mut self,
        incarnation: u64,
        era: u64,
        writes: u64,
    ) -> Result<(), TrustedStateError> {
        self.check(incarnation)?;
        self.era = era;
        self.writes = writes;
        Ok(())
    }
}

/// An in-memory trusted cell held by value, for the model checker: the model keeps it outside
/// the host's disk (the rollback action never touches it) and hands it to the restarted store.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct OwnedTrustedState {
    /// The cell.
    pub cell: TrustedCell,
}

impl TrustedState for OwnedTrustedState {
    fn begin(&mut self) -> Result<TrustedCell, TrustedStateError> {
        Ok(self.cell.begin())
    }
    fn check(&self, incarnation: u64) -> Result<(), TrustedStateError> {
        self.cell.check(incarnation)
    }
    fn advance(
        &mut self,
        incarnation: u64,
        era: u64,
        writes: u64,
    ) -> Result<(), TrustedStateError> {
        self.cell.advance(incarnation, era, writes)
    }
}

#[derive(Debug, Default)]
struct Shared {
    cell: TrustedCell,
    nvram_writes: u64,
}

/// An in-memory trusted cell shared by every instance of one replica identity (tests and the
/// simulator): clones of this handle are the same HSM, so a second instance started by the
/// operator (a clone) supersedes the first. The simulated host cannot roll it back.
#[derive(Clone, Debug, Default)]
pub struct MemoryTrustedState {
    shared: Rc<RefCell<Shared>>,
}

impl MemoryTrustedState {
    /// A fresh cell (incarnation 0: never started).
    pub fn new() -> Self {
        Self::default()
    }

    /// The cell as it is now.
    pub fn cell(&self) -> TrustedCell {
        self.shared.borrow().cell
    }

    /// NVRAM writes so far ([`TrustedState::begin`] and successful
    /// [`TrustedState::advance`] calls), for the cost figures.
    pub fn nvram_writes(&self) -> u64 {
        self.shared.borrow().nvram_writes
    }
}

impl PartialEq for MemoryTrustedState {
    fn eq(&self, other: &Self) -> bool {
        self.cell() == other.cell()
    }
}

impl Eq for MemoryTrustedState {}

impl core::hash::Hash for MemoryTrustedState {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.cell().hash(state);
    }
}

impl TrustedState for MemoryTrustedState {
    fn begin(&mut self) -> Result<TrustedCell, TrustedStateError> {
        let mut shared = self.shared.borrow_mut();
        let cell = shared.cell.begin();
        shared.nvram_writes = shared.nvram_writes.saturating_add(1);
        Ok(cell)
    }
    fn check(&self, incarnation: u64) -> Result<(), TrustedStateError> {
        self.shared.borrow().cell.check(incarnation)
    }
    fn advance(
        &mut self,
        incarnation: u64,
        era: u64,
        writes: u64,
    ) -> Result<(), TrustedStateError> {
        let mut shared = self.shared.borrow_mut();
        shared.cell.advance(incarnation, era, writes)?;
        shared.nvram_writes = shared.nvram_writes.saturating_add(1);
        Ok(())
    }
}

/// A host's trusted state in either mode, chosen at start: the HSM's cell `T` (durable mode) or
/// none ([`VolatileTrust`]), so that one store type serves both modes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DurableOrVolatile<T> {
    /// Durable mode: the HSM's cell.
    Durable(T),
    /// Volatile mode: no trusted state.
    Volatile(VolatileTrust),
}

/// An in-memory host's trusted state, in either mode: a shared [`MemoryTrustedState`] cell
/// (durable mode; clones are the same cell) or none. For test harnesses and simulators that run
/// both modes over one store type.
pub type MemoryOrVolatileTrust = DurableOrVolatile<MemoryTrustedState>;

impl DurableOrVolatile<MemoryTrustedState> {
    /// A fresh trusted state: a new cell if `durable`, else none.
    pub fn new(durable: bool) -> Self {
        if durable {
            Self::Durable(MemoryTrustedState::new())
        } else {
            Self::Volatile(VolatileTrust)
        }
    }

    /// NVRAM writes so far (0 in volatile mode).
    pub fn nvram_writes(&self) -> u64 {
        match self {
            Self::Durable(t) => t.nvram_writes(),
            Self::Volatile(_) => 0,
        }
    }
}

impl<T: TrustedState> TrustedState for DurableOrVolatile<T> {
    fn begin(&mut self) -> Result<TrustedCell, TrustedStateError> {
        match self {
            Self::Durable(t) => t.begin(),
            Self::Volatile(t) => t.begin(),
        }
    }
    fn check(&self, incarnation: u64) -> Result<(), TrustedStateError> {
        match self {
            Self::Durable(t) => t.check(incarnation),
            Self::Volatile(t) => t.check(incarnation),
        }
    }
    fn advance(
        &mut self,
        incarnation: u64,
        era: u64,
        writes: u64,
    ) -> Result<(), TrustedStateError> {
        match self {
            Self::Durable(t) => t.advance(incarnation, era, writes),
            Self::Volatile(t) => t.advance(incarnation, era, writes),
        }
    }
}

/// The consensus durable write of a replicated vault store.
pub type ReplicaWrite = DurableWrite<AccountId, AccountRecord>;

/// A consensus durable write as sealed on the host's disk: the write, the era it belongs to
/// and its slot's write count in that era (the k-th write to this slot has `slot_writes = k`).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CountedWrite {
    /// The consensus durable write.
    pub write: ReplicaWrite,
    /// The trusted cell's era when the write was emitted (0 in volatile mode).
    pub era: u64,
    /// The number of writes to this slot in `era`, this one included.
    pub slot_writes: u64,
    /// The lineage the replica voted in (or recovered for) when it emitted the write
    /// (SPEC.md "Re-genesis"); a restored replica takes its meta write's lineage.
    pub lineage: Lineage,
}

/// The slot a consensus durable write belongs to.
pub fn slot_of(write: &ReplicaWrite) -> DurableSlot {
    match write {
        ReplicaWrite::Meta(_) => DurableSlot::Meta,
        ReplicaWrite::Register { key, .. } => DurableSlot::Register(key.clone()),
    }
}

/// Why an opened write was not added to a [`DurableImage`].
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ImageError {
    /// The host offered two writes for one slot.
    DuplicateSlot,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateSlot => f.write_str("two writes for one durable slot"),
        }
    }
}

impl core::error::Error for ImageError {}

/// What the host's disk offers at a restart: the opened writes, one per slot (open each with
/// [`open_replica_write`](super::open_replica_write); skip those that do not open). The store
/// decides whether to trust it ([`ConsensusStore::start`](super::ConsensusStore::start)).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct DurableImage {
    slots: BTreeMap<DurableSlot, CountedWrite>,
}

impl DurableImage {
    /// An empty image (a lost disk).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one opened write (its slot is the one the write names).
    pub fn insert(&mut self, write: CountedWrite) -> Result<(), ImageError> {
        let slot = slot_of(&write.write);
        if self.slots.contains_key(&slot) {
            return Err(ImageError::DuplicateSlot);
        }
        self.slots.insert(slot, write);
        Ok(())
    }

    /// Whether the image's writes of `era` are exactly the `writes` latest ones: every slot's
    /// count is at most its latest count, so the sum reaches `writes` iff every slot of the era
    /// is present at its latest version (INV-ROLLBACK).
    pub fn is_current(&self, era: u64, writes: u64) -> bool {
        let mut sum: u64 = 0;
        for counted in self.slots.values().filter(|c| c.era == era) {
            let Some(next) = sum.checked_add(counted.slot_writes) else {
                return false;
            };
            sum = next;
        }
        sum == writes
    }

    /// The lineage of the image's meta write of `era` (or of any era if `era` is `None`).
    pub(crate) fn meta_lineage(&self, era: Option<u64>) -> Option<Lineage> {
        self.slots
            .get(&DurableSlot::Meta)
            .filter(|c| era.is_none_or(|e| e == c.era))
            .map(|c| c.lineage)
    }

    /// The durable state of the writes of `era` (or of every write if `era` is `None`), with
    /// each slot's count.
    pub(crate) fn fold(
        &self,
        era: Option<u64>,
    ) -> (
        DurableState<AccountId, AccountRecord>,
        BTreeMap<DurableSlot, u64>,
    ) {
        let mut durable = DurableState::default();
        let mut counts = BTreeMap::new();
        for (slot, counted) in &self.slots {
            if era.is_some_and(|e| e != counted.era) {
                continue;
            }
            durable.apply(&counted.write);
            counts.insert(slot.clone(), counted.slot_writes);
        }
        (durable, counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::{AcceptorState, ReplicaMeta};

    fn meta(era: u64, slot_writes: u64) -> CountedWrite {
        CountedWrite {
            write: ReplicaWrite::Meta(ReplicaMeta::default()),
            era,
            slot_writes,
            lineage: Lineage::ORIGINAL,
        }
    }

    fn register(name: &[u8], era: u64, slot_writes: u64) -> CountedWrite {
        CountedWrite {
            write: ReplicaWrite::Register {
                key: AccountId::new(name).unwrap_or_else(|_| unreachable!()),
                state: AcceptorState::default(),
            },
            era,
            slot_writes,
            lineage: Lineage::ORIGINAL,
        }
    }

    #[test]
    fn an_image_is_current_only_with_every_slot_at_its_latest_write() {
        // Era 7: meta written twice, alice three times, bob once: 6 writes.
        let latest = [meta(7, 2), register(b"alice", 7, 3), register(b"bob", 7, 1)];
        let mut image = DurableImage::new();
        for w in latest.iter().cloned() {
            assert_eq!(image.insert(w), Ok(()));
        }
        assert!(image.is_current(7, 6));
        // One slot rolled back, one slot dropped, or the counts of another era: never current.
        for (i, stale) in [meta(7, 1), register(b"alice", 7, 2)]
            .into_iter()
            .enumerate()
        {
            let mut image = DurableImage::new();
            for (j, w) in latest.iter().cloned().enumerate() {
                let w = if j == i { stale.clone() } else { w };
                assert_eq!(image.insert(w), Ok(()));
            }
            assert!(!image.is_current(7, 6));
        }
        let mut dropped = DurableImage::new();
        for w in latest.iter().take(2).cloned() {
            assert_eq!(dropped.insert(w), Ok(()));
        }
        assert!(!dropped.is_current(7, 6));
        assert!(!image.is_current(8, 6));
        assert_eq!(image.insert(meta(7, 2)), Err(ImageError::DuplicateSlot));
    }

    #[test]
    fn a_superseded_instance_can_neither_check_nor_advance() {
        let mut first = MemoryTrustedState::new();
        let mut clone = first.clone();
        let a = first.begin().map(|c| c.incarnation);
        let b = clone.begin().map(|c| c.incarnation);
        assert_eq!((a, b), (Ok(1), Ok(2)));
        assert_eq!(first.check(1), Err(TrustedStateError::Superseded));
        assert_eq!(first.advance(1, 1, 5), Err(TrustedStateError::Superseded));
        assert_eq!(clone.advance(2, 2, 5), Ok(()));
        assert_eq!(first.cell().writes, 5);
        assert_eq!(VolatileTrust.begin(), Err(TrustedStateError::NotProvided));
    }
}
