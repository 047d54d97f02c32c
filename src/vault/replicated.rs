//! The replicated vault: one replica of a group whose records live in a
//! [`ReplicatedStore`] (the consensus store; SPEC.md "Replication").
//!
//! Inputs: [`ReplicatedVault::handle_relay_message`] (bytes of a `VaultRequest` from a relay),
//! [`ReplicatedVault::handle_replica_message`] (bytes of a [`LinkEnvelope`] from another replica
//! of the group) and [`ReplicatedVault::handle_timeout`] (when
//! [`ReplicatedVault::poll_timeout`] says); start with [`ReplicatedVault::start`]. Outputs:
//! [`ReplicatedVault::poll_output`], to be drained after every input. **Contract:** the host
//! completes every [`ReplicatedVaultOutput::Persist`] durably, in order, before it acts on any
//! later output (a reply or a replica message); restore with [`open_disk`].

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use rand_core::{CryptoRng, RngCore};

use super::engine::{RestoreError, VaultEngine};
use super::replica_link::{DurableSlot, LinkEnvelope, ReplicaPlace, durable_aad, link_aad};
use super::replica_wire::{
    decode_replica_message, decode_replica_write, encode_replica_message, encode_replica_write,
};
use super::store::{ReplicaEffect, ReplicatedStore, StoreEvent};
use super::trusted::{CountedWrite, DurableImage, ReplicaWrite, slot_of};
use crate::consensus::ReplicaId;
use crate::crypto::CryptoSuite;
use crate::drops::{DropCounts, DropReason};
use crate::ids::RelayTag;
use crate::wire::DecodeError;

/// What a replicated vault asks its host to do, in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReplicatedVaultOutput {
    /// Durably store `sealed` in `slot` (a consensus durable write sealed under the fleet
    /// storage key, bound to this replica; it replaces what the slot held). Must complete
    /// before any later output is acted on; restore with [`open_disk`].
    Persist {
        /// Where the write belongs.
        slot: DurableSlot,
        /// The write, sealed.
        sealed: Vec<u8>,
    },
    /// Send these bytes (an encoded `VaultReply`) to relay `relay`, the one the request came
    /// from.
    ToRelay {
        /// The relay.
        relay: RelayTag,
        /// The encoded reply.
        bytes: Vec<u8>,
    },
    /// Send these bytes (an encoded [`LinkEnvelope`]) to replica `to` of the same group; hand
    /// them to its [`ReplicatedVault::handle_replica_message`].
    ToReplica {
        /// The destination replica.
        to: ReplicaId,
        /// The encoded envelope.
        bytes: Vec<u8>,
    },
}

/// One replica of a vault group: OPAQUE server, fleet keys, and the group's records through a
/// [`ReplicatedStore`].
///
/// `Clone`, `Eq`, `Hash` and `Debug` hold when the suite, its fleet secrets and the store have
/// them (the model checker stores vaults in its states).
pub struct ReplicatedVault<S: CryptoSuite, St: ReplicatedStore> {
    engine: VaultEngine<S, St>,
    outputs: VecDeque<ReplicatedVaultOutput>,
}

// By hand: a derive would bound `S` and `St` only, not the fleet secrets the engine holds.
impl<S: CryptoSuite, St: ReplicatedStore> Clone for ReplicatedVault<S, St>
where
    S: Clone,
    St: Clone,
    S::FleetSecrets: Clone,
{
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            outputs: self.outputs.clone(),
        }
    }
}

impl<S: CryptoSuite, St: ReplicatedStore> core::fmt::Debug for ReplicatedVault<S, St>
where
    S: core::fmt::Debug,
    St: core::fmt::Debug,
    S::FleetSecrets: core::fmt::Debug,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReplicatedVault")
            .field("engine", &self.engine)
            .field("outputs", &self.outputs)
            .finish()
    }
}

impl<S: CryptoSuite, St: ReplicatedStore> PartialEq for ReplicatedVault<S, St>
where
    S: PartialEq,
    St: PartialEq,
    S::FleetSecrets: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        self.engine == other.engine && self.outputs == other.outputs
    }
}

impl<S: CryptoSuite, St: ReplicatedStore> Eq for ReplicatedVault<S, St>
where
    S: Eq,
    St: Eq,
    S::FleetSecrets: Eq,
{
}

impl<S: CryptoSuite, St: ReplicatedStore> core::hash::Hash for ReplicatedVault<S, St>
where
    S: core::hash::Hash,
    St: core::hash::Hash,
    S::FleetSecrets: core::hash::Hash,
{
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.engine.hash(state);
        self.outputs.hash(state);
    }
}

impl<S: CryptoSuite, St: ReplicatedStore> ReplicatedVault<S, St> {
    /// A replica over the given store; call [`ReplicatedVault::start`] next.
    pub fn new(suite: S, fleet: S::FleetSecrets, store: St) -> Self {
        Self {
            engine: VaultEngine::new(suite, fleet, store),
            outputs: VecDeque::new(),
        }
    }

    /// The inputs this replica dropped, by reason (its store's own drops, such as consensus
    /// messages of another lineage, are counted by the store).
    pub fn drops(&self) -> &DropCounts {
        &self.engine.drops
    }

    /// Makes this replica deliberately broken (fault injection for the checkers only).
    #[cfg(feature = "fault-injection")]
    pub fn inject_fault(&mut self, fault: super::engine::VaultFault) {
        self.engine.fault = fault;
    }

    /// The store (for hosts and tests that inspect records).
    pub fn store(&self) -> &St {
        &self.engine.store
    }

    /// The fleet's secrets.
    pub fn fleet(&self) -> &S::FleetSecrets {
        &self.engine.fleet
    }

    /// Where this replica runs: its group and replica id.
    pub fn place(&self) -> ReplicaPlace {
        self.engine.store.place()
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<ReplicatedVaultOutput> {
        self.outputs.pop_front()
    }

    /// Drains the events the store produced on its own (e.g. the first durable write of a new
    /// replicated store, or the first fence of an amnesiac one); call once after construction.
    pub fn start(&mut self, rng: &mut (impl CryptoRng + RngCore)) {
        self.pump(rng);
    }

    /// Handles the bytes of a `VaultRequest` from relay `relay`. Undecodable bytes are dropped
    /// (counted in [`ReplicatedVault::drops`]); a request that does not open for the relay's
    /// account gets `ReplyBody::Rejected` and changes nothing.
    pub fn handle_relay_message(
        &mut self,
        now_ms: u64,
        rng: &mut (impl CryptoRng + RngCore),
        relay: RelayTag,
        bytes: &[u8],
    ) {
        self.engine.handle_relay_message(now_ms, rng, relay, bytes);
        self.pump(rng);
    }

    /// Handles the bytes of a [`LinkEnvelope`] from another replica of the group. Envelopes
    /// that do not decode, are not addressed to this replica, or do not open under the
    /// replica-link key with their AAD are dropped (counted by reason; toward the sender, all
    /// alike).
    pub fn handle_replica_message(
        &mut self,
        now_ms: u64,
        rng: &mut (impl CryptoRng + RngCore),
        bytes: &[u8],
    ) {
        let engine = &mut self.engine;
        engine.now_ms = engine.now_ms.max(now_ms);
        let place = engine.store.place();
        let Ok(envelope) = LinkEnvelope::decode(bytes) else {
            engine.drops.count(DropReason::CannotDecode);
            return;
        };
        if envelope.group != place.group || envelope.to != place.replica {
            engine.drops.count(DropReason::NotAddressed);
            return;
        }
        let aad = link_aad(envelope.group, envelope.from, envelope.to);
        let Ok(plain) = engine
            .suite
            .open_link(&engine.fleet, &aad, &envelope.sealed)
        else {
            engine.drops.count(DropReason::CannotOpen);
            return;
        };
        let Ok(message) = decode_replica_message(plain.expose()) else {
            engine.drops.count(DropReason::CannotDecode);
            return;
        };
        engine
            .store
            .handle_replica_message(engine.now_ms, envelope.from, message);
        self.pump(rng);
    }

    /// Time has reached `now_ms` (consensus retries and backoffs).
    pub fn handle_timeout(&mut self, now_ms: u64, rng: &mut (impl CryptoRng + RngCore)) {
        let engine = &mut self.engine;
        engine.now_ms = engine.now_ms.max(now_ms);
        engine.store.handle_timeout(engine.now_ms);
        self.pump(rng);
    }

    /// When [`ReplicatedVault::handle_timeout`] should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.engine.store.poll_timeout()
    }

    /// Turns the engine's replies and the store's events into outputs, in order.
    fn pump(&mut self, rng: &mut (impl CryptoRng + RngCore)) {
        self.take_replies();
        while let Some(event) = self.engine.store.poll_event() {
            let engine = &self.engine;
            let place = engine.store.place();
            match event {
                StoreEvent::Effect(ReplicaEffect::Persist(write)) => {
                    let slot = slot_of(&write.write);
                    match engine.suite.seal_storage(
                        rng,
                        &engine.fleet,
                        &durable_aad(place, &slot),
                        &encode_replica_write(&write),
                    ) {
                        Ok(sealed) => self
                            .outputs
                            .push_back(ReplicatedVaultOutput::Persist { slot, sealed }),
                        // Sealing with a well-formed fleet key cannot fail; if it ever did, the
                        // write is not reported and nothing that depends on it follows.
                        Err(_) => return,
                    }
                }
                StoreEvent::Effect(ReplicaEffect::Send { to, message }) => {
                    let aad = link_aad(place.group, place.replica, to);
                    // A message that cannot be sealed is lost, which the consensus tolerates.
                    if let Ok(sealed) = engine.suite.seal_link(
                        rng,
                        &engine.fleet,
                        &aad,
                        &encode_replica_message(&message),
                    ) {
                        let bytes = LinkEnvelope {
                            group: place.group,
                            from: place.replica,
                            to,
                            sealed,
                        }
                        .encode();
                        self.outputs
                            .push_back(ReplicatedVaultOutput::ToReplica { to, bytes });
                    }
                }
                StoreEvent::Completed { ticket, outcome } => {
                    self.engine.complete_ticket(rng, ticket, outcome);
                    self.take_replies();
                }
            }
        }
    }

    fn take_replies(&mut self) {
        for reply in self.engine.replies.drain(..) {
            self.outputs.push_back(ReplicatedVaultOutput::ToRelay {
                relay: reply.relay,
                bytes: reply.bytes,
            });
        }
    }
}

/// What a host's disk gave at a restart ([`open_disk`]).
#[derive(Debug)]
pub struct OpenedDisk {
    /// The writes that opened, one per slot, for
    /// [`ConsensusStore::start`](super::ConsensusStore::start).
    pub image: DurableImage,
    /// Slots whose write did not open (sealed for another replica, group or slot, tampered,
    /// torn) or repeated a slot already in the image. The store does not need them to decide;
    /// a host reports them.
    pub unusable: Vec<DurableSlot>,
}

/// The one restart recipe: opens every sealed write the host kept for the replica at `place`
/// ([`open_replica_write`]) into the [`DurableImage`] the consensus store starts from. A write
/// that does not open is left out and named in [`OpenedDisk::unusable`]; whether the image is
/// trustworthy is the store's decision (SPEC.md "Rollback"), not the host's.
pub fn open_disk<'a, S: CryptoSuite>(
    suite: &S,
    fleet: &S::FleetSecrets,
    place: ReplicaPlace,
    writes: impl IntoIterator<Item = (&'a DurableSlot, &'a [u8])>,
) -> OpenedDisk {
    let mut image = DurableImage::new();
    let mut unusable = Vec::new();
    for (slot, sealed) in writes {
        let inserted = open_replica_write(suite, fleet, place, slot, sealed)
            .is_ok_and(|write| image.insert(write).is_ok());
        if !inserted {
            unusable.push(slot.clone());
        }
    }
    OpenedDisk { image, unusable }
}

/// Opens a consensus durable write persisted by an earlier [`ReplicatedVaultOutput::Persist`] of
/// the replica at `place`.
/// Fails if it was sealed for another replica, group or slot, or does not decode. Add the
/// result to a [`DurableImage`](super::DurableImage) for
/// [`ConsensusStore::start`](super::ConsensusStore::start).
pub fn open_replica_write<S: CryptoSuite>(
    suite: &S,
    fleet: &S::FleetSecrets,
    place: ReplicaPlace,
    slot: &DurableSlot,
    sealed: &[u8],
) -> Result<CountedWrite, RestoreError> {
    let plain = suite
        .open_storage(fleet, &durable_aad(place, slot), sealed)
        .map_err(RestoreError::Crypto)?;
    let write = decode_replica_write(plain.expose()).map_err(RestoreError::Decode)?;
    let matches = match (&write.write, slot) {
        (ReplicaWrite::Meta(_), DurableSlot::Meta) => true,
        (ReplicaWrite::Register { key, .. }, DurableSlot::Register(account)) => key == account,
        (ReplicaWrite::Meta(_), DurableSlot::Register(_))
        | (ReplicaWrite::Register { .. }, DurableSlot::Meta) => false,
    };
    if !matches {
        return Err(RestoreError::Decode(DecodeError::InvalidValue));
    }
    Ok(write)
}
