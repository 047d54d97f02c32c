//! The single vault: one replica that keeps its own records (a [`LocalStore`]), with no
//! replication (SPEC.md "Vault protocol").
//!
//! Inputs: [`SingleVault::handle_relay_message`] (bytes of a `VaultRequest` from a relay) and
//! [`SingleVault::restore_record`] (start-up). Outputs: [`SingleVault::poll_output`], to be
//! drained after every input. **Contract:** the host completes every
//! [`SingleVaultOutput::Persist`] durably, in order, before it sends any later
//! [`SingleVaultOutput::ToRelay`]; a reply that depends on a write (a login challenge depends on
//! the counted attempt) always comes after that write.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use rand_core::{CryptoRng, RngCore};

use super::engine::{RestoreError, VaultEngine, record_aad};
use super::record::AccountRecord;
use super::store::{LocalStore, RecordStore, RecordWrite, StoreEvent};
use crate::crypto::CryptoSuite;
use crate::drops::DropCounts;
use crate::ids::{AccountId, RelayTag};

/// What a single vault asks its host to do, in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SingleVaultOutput {
    /// Durably store `sealed_record` as the record of `account` (sealed under the fleet storage
    /// key; it replaces the account's earlier record). Must complete before any later output is
    /// acted on; restore with [`SingleVault::restore_record`].
    Persist {
        /// The account.
        account: AccountId,
        /// The record, sealed.
        sealed_record: Vec<u8>,
    },
    /// Send these bytes (an encoded `VaultReply`) to relay `relay`, the one the request came
    /// from.
    ToRelay {
        /// The relay.
        relay: RelayTag,
        /// The encoded reply.
        bytes: Vec<u8>,
    },
}

/// One vault replica on its own: OPAQUE server, fleet keys and the records of its accounts.
///
/// `Clone`, `Eq`, `Hash` and `Debug` hold when the suite and its fleet secrets have them (the
/// model checker stores vaults in its states).
pub struct SingleVault<S: CryptoSuite> {
    engine: VaultEngine<S, LocalStore>,
    outputs: VecDeque<SingleVaultOutput>,
}

// By hand: a derive would bound `S` and `St` only, not the fleet secrets the engine holds.
impl<S: CryptoSuite> Clone for SingleVault<S>
where
    S: Clone,
    S::FleetSecrets: Clone,
{
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            outputs: self.outputs.clone(),
        }
    }
}

impl<S: CryptoSuite> core::fmt::Debug for SingleVault<S>
where
    S: core::fmt::Debug,
    S::FleetSecrets: core::fmt::Debug,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SingleVault")
            .field("engine", &self.engine)
            .field("outputs", &self.outputs)
            .finish()
    }
}

impl<S: CryptoSuite> PartialEq for SingleVault<S>
where
    S: PartialEq,
    S::FleetSecrets: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        self.engine == other.engine && self.outputs == other.outputs
    }
}

impl<S: CryptoSuite> Eq for SingleVault<S>
where
    S: Eq,
    S::FleetSecrets: Eq,
{
}

impl<S: CryptoSuite> core::hash::Hash for SingleVault<S>
where
    S: core::hash::Hash,
    S::FleetSecrets: core::hash::Hash,
{
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.engine.hash(state);
        self.outputs.hash(state);
    }
}

impl<S: CryptoSuite> SingleVault<S> {
    /// A vault with no records.
    pub fn new(suite: S, fleet: S::FleetSecrets) -> Self {
        Self {
            engine: VaultEngine::new(suite, fleet, LocalStore::new()),
            outputs: VecDeque::new(),
        }
    }

    /// The inputs this vault dropped, by reason.
    pub fn drops(&self) -> &DropCounts {
        &self.engine.drops
    }

    /// Makes this vault deliberately broken (fault injection for the checkers only).
    #[cfg(feature = "fault-injection")]
    pub fn inject_fault(&mut self, fault: super::engine::VaultFault) {
        self.engine.fault = fault;
    }

    /// The records (for hosts and tests that inspect them).
    pub fn store(&self) -> &LocalStore {
        &self.engine.store
    }

    /// The fleet's secrets.
    pub fn fleet(&self) -> &S::FleetSecrets {
        &self.engine.fleet
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<SingleVaultOutput> {
        self.outputs.pop_front()
    }

    /// Loads a record persisted by an earlier [`SingleVaultOutput::Persist`].
    pub fn restore_record(
        &mut self,
        account: AccountId,
        sealed_record: &[u8],
    ) -> Result<(), RestoreError> {
        let engine = &mut self.engine;
        let plain = engine
            .suite
            .open_storage(&engine.fleet, &record_aad(&account), sealed_record)
            .map_err(RestoreError::Crypto)?;
        let record = AccountRecord::decode(plain.expose()).map_err(RestoreError::Decode)?;
        engine.store.load(account, record);
        Ok(())
    }

    /// Handles the bytes of a `VaultRequest` from relay `relay`. Undecodable bytes are dropped
    /// (counted in [`SingleVault::drops`]); a request that does not open for the relay's account
    /// gets `ReplyBody::Rejected` and changes nothing.
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

    /// Turns the engine's replies and the store's events into outputs, in order.
    fn pump(&mut self, rng: &mut (impl CryptoRng + RngCore)) {
        self.take_replies();
        while let Some(event) = self.engine.store.poll_event() {
            match event {
                StoreEvent::Effect(RecordWrite { account, record }) => {
                    let engine = &self.engine;
                    match engine.suite.seal_storage(
                        rng,
                        &engine.fleet,
                        &record_aad(&account),
                        &record.encode(),
                    ) {
                        Ok(sealed_record) => self.outputs.push_back(SingleVaultOutput::Persist {
                            account,
                            sealed_record,
                        }),
                        // Sealing with a well-formed fleet key cannot fail; if it ever did, the
                        // write is not reported and no dependent reply is sent either.
                        Err(_) => return,
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
            self.outputs.push_back(SingleVaultOutput::ToRelay {
                relay: reply.relay,
                bytes: reply.bytes,
            });
        }
    }
}
