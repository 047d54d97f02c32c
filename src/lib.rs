//! # e2ee-backup
//!
//! End-to-end encrypted chat backups with a password-protected key vault, as a pure, sans-I/O
//! protocol core. `SPEC.md` is the normative description of every format, message, label and
//! invariant; names here match it.
//!
//! - [`BackupKey`]: the 32 random bytes a device makes once.
//! - [`seal_to_vec`], [`SegmentSealer`], [`StreamWriter`] and their openers: each backup file is
//!   sealed as a STREAM of AES-256-GCM segments under keys derived from the backup key (random
//!   access, `std::io` adapters, parallel sealing, two backends).
//! - [`RecoveryKey`]: the backup key as 64 characters a person writes down (checksummed).
//! - [`Compat`]: today's `rand` (0.10) RNGs, such as the OS RNG, as the `rand_core` 0.6 RNGs the
//!   crate's APIs take.
//! - [`Client`], [`Relay`], [`SingleVault`] and [`ReplicatedVault`]: the vault protocol roles. The vault checks the
//!   password with OPAQUE (it never sees it), commits every guess before it answers, and erases
//!   the key for good after the attempt limit. All crypto goes through one [`CryptoSuite`] trait.
//!
//! Every role is a state machine: inputs are `handle_*` methods that take the time (`now_ms`) and
//! an RNG as arguments; outputs are drained with `poll_output`. Nothing here reads a clock, touches
//! the OS RNG or does I/O, and the crate builds as `no_std + alloc` without the `std` feature.
//!
//! ## Walkthrough: register → back up → recover → restore
//!
//! The host moves bytes between the roles; here a few lines of in-memory "transport" do it.
//! (A real deployment takes its RNG from the OS, see [`Compat`].)
//!
//! ```
//! use e2ee_backup::{
//!     AccountId, BackupKey, Client, ClientConfig, ClientOutcome, ClientOutput, ConnectionId,
//!     CryptoSuite, FleetId, ProductionFleetSecrets, ProductionSuite, Relay, RelayConfig,
//!     RelayOutput, RelayTag, SingleVault, SingleVaultOutput, open_to_vec, seal_to_vec,
//! };
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! let mut rng = ChaCha20Rng::seed_from_u64(7); // the host's CSPRNG in real code
//! let suite = ProductionSuite; // OPAQUE with Argon2id key stretching
//!
//! // The vault fleet (inside the HSMs) and the relay (the chat front end).
//! let fleet = ProductionFleetSecrets::generate(&mut rng, FleetId::new(b"fleet-1").unwrap());
//! let pinned = suite.fleet_public_keys(&fleet); // shipped inside the app
//! let mut vault = SingleVault::new(suite, fleet);
//! let mut relay = Relay::new(RelayConfig::default());
//!
//! // Alice's phone: the relay has authenticated her connection 1.
//! let alice = AccountId::new(b"alice").unwrap();
//! relay.handle_connection_opened(ConnectionId(1), alice.clone());
//! let mut phone = Client::new(suite, pinned.clone(), alice.clone(), ClientConfig::default());
//!
//! /// Moves messages until the client reports the end of its operation.
//! fn run(
//!     client: &mut Client<ProductionSuite>,
//!     relay: &mut Relay,
//!     vault: &mut SingleVault<ProductionSuite>,
//!     rng: &mut ChaCha20Rng,
//! ) -> ClientOutcome {
//!     let now_ms = 0;
//!     loop {
//!         match client.poll_output().expect("the client is waiting for a reply") {
//!             ClientOutput::Completed { outcome, .. } => return outcome,
//!             ClientOutput::Send { bytes } => relay.handle_client_message(now_ms, ConnectionId(1), &bytes),
//!         }
//!         while let Some(out) = relay.poll_output() {
//!             match out {
//!                 // One group of one replica: every request goes to replica 0 of group 0. The
//!                 // vault's host names the relay; the vault's replies go back to it.
//!                 RelayOutput::ToReplica { bytes, .. } => vault.handle_relay_message(now_ms, rng, RelayTag(0), &bytes),
//!                 RelayOutput::ToClient { bytes, .. } => client.handle_relay_message(now_ms, rng, &bytes),
//!             }
//!             while let Some(out) = vault.poll_output() {
//!                 match out {
//!                     // A real host writes the sealed record durably before going on.
//!                     SingleVaultOutput::Persist { .. } => {}
//!                     SingleVaultOutput::ToRelay { relay: RelayTag(0), bytes } => relay.handle_vault_message(now_ms, &bytes),
//!                     SingleVaultOutput::ToRelay { .. } => unreachable!("one relay"),
//!                 }
//!             }
//!         }
//!     }
//! }
//!
//! // 1. Register: a fresh backup key, kept by the vault behind a password (10 attempts).
//! let backup_key = BackupKey::generate(&mut rng);
//! phone.start_register(0, &mut rng, b"correct horse battery", &backup_key, 10)?;
//! assert_eq!(run(&mut phone, &mut relay, &mut vault, &mut rng), ClientOutcome::Registered { generation: 1 });
//!
//! // 2. Back up: the cloud only ever sees this ciphertext.
//! let chat_history = b"2021-09-10 Alice: see you at 8".repeat(1000);
//! let in_the_cloud = seal_to_vec(&backup_key, 64 * 1024, &chat_history, &mut rng)?;
//!
//! // 3. Recover on a new phone with the password; a wrong one costs an attempt.
//! let mut new_phone = Client::new(suite, pinned, alice, ClientConfig::default());
//! new_phone.start_recover(0, &mut rng, b"correct horse battery staple")?;
//! assert_eq!(run(&mut new_phone, &mut relay, &mut vault, &mut rng), ClientOutcome::WrongPassword { remaining: 9 });
//! new_phone.start_recover(0, &mut rng, b"correct horse battery")?;
//! let ClientOutcome::Recovered(recovered) = run(&mut new_phone, &mut relay, &mut vault, &mut rng) else {
//!     panic!("the right password recovers the key");
//! };
//!
//! // 4. Restore the backup with the recovered key.
//! assert_eq!(open_to_vec(&recovered, &in_the_cloud)?, chat_history);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
// docs.rs (`--cfg docsrs`, nightly): label each feature-gated item with its feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
// With `internal`, every `pub` item is reachable and what is not stays `pub(crate)`; CI's
// all-features lint checks dead code that way. Without it, the items only the workspace's tests,
// model, simulator, hosts and fuzzers use are unused in the crate itself.
#![cfg_attr(feature = "internal", warn(unreachable_pub))]
#![cfg_attr(not(feature = "internal"), allow(dead_code, unused_imports))]

extern crate alloc;

mod backup_key;
mod client;
mod crypto;
mod drops;
mod ids;
mod recovery_key;
mod relay;
mod rng;
mod stream;
mod vault;
mod wire;

// The consensus engine is its own crate (`caspaxos/`); inside this one it is the `consensus`
// module as before.
use e2ee_backup_caspaxos as consensus;

// ---- a device app: the backup key, the recovery key, the stream cipher, the vault client ----

pub use backup_key::{BACKUP_KEY_LEN, BackupKey};
pub use client::{Client, ClientConfig, ClientError, ClientOutcome, ClientOutput, OperationId};
pub use crypto::real::{ProductionFleetSecrets, ProductionSuite};
pub use crypto::{CryptoError, CryptoSuite, FleetPublicKeys};
pub use ids::{AccountId, FleetId, GroupId, IdError, MAX_ID_LEN, RelayTag};
pub use recovery_key::{RecoveryKey, RecoveryKeyError, Typo};
#[cfg(feature = "aws-lc")]
pub use stream::AwsLcBackend;
pub use stream::{
    AesGcmBackend, BackendError, DEFAULT_SEGMENT_SIZE, FetchPlan, HEADER_LEN, MAX_SEGMENT_SIZE,
    MIN_SEGMENT_SIZE, SegmentCipher, SegmentOpener, SegmentSealer, SegmentSpan, StreamError,
    StreamLayout, TAG_LEN, open_to_vec, seal_to_vec,
};
#[cfg(feature = "std")]
pub use stream::{StreamReader, StreamWriter};

// ---- a relay operator ----------------------------------------------------------------------

pub use relay::{ConnectionId, FirstReplica, Relay, RelayConfig, RelayOutput};

// ---- a vault host (the HSM side) ------------------------------------------------------------

pub use consensus::{Config as GroupConfig, FailReason, ReplicaId};
pub use drops::{DropCounts, DropReason};
pub use vault::{
    ConsensusStore, DurableImage, DurableSlot, FailureCounts, LinkEnvelope, LocalStore,
    MemoryTrustedState, OpenedDisk, OwnedTrustedState, RecordStore, ReplicatedStore,
    ReplicatedVault, ReplicatedVaultOutput, RestoreError, SingleVault, SingleVaultOutput,
    TrustedState, TrustedStateError, VolatileTrust, open_disk, open_replica_write,
};

// ---- randomness -----------------------------------------------------------------------------

/// The `rand_core` line (0.6) whose traits this crate's RNG parameters take; see [`Compat`] for
/// using the current `rand` (0.10) RNGs.
pub use rand_core;
pub use rng::Compat;

/// Everything else, for this workspace's tests, model checker, simulator, hosts and fuzzers:
/// the wire codecs, the record changes, the consensus engine, the crypto labels and suites.
///
/// **Not part of the stable interface**: it changes in any release. Enabled by the `internal`
/// feature; the modules mirror the crate's own.
#[cfg(feature = "internal")]
#[doc(hidden)]
pub mod internal {
    /// The crate's `backup_key` module.
    pub mod backup_key {
        pub use crate::backup_key::*;
    }
    /// The crate's `client` module.
    pub mod client {
        pub use crate::client::*;
    }
    /// The consensus engine: the `e2ee-backup-caspaxos` crate.
    pub mod consensus {
        pub use crate::consensus::*;
    }
    /// The crate's `crypto` module.
    pub mod crypto {
        pub use crate::crypto::*;
    }
    /// The crate's `drops` module.
    pub mod drops {
        pub use crate::drops::*;
    }
    /// The crate's `ids` module.
    pub mod ids {
        pub use crate::ids::*;
    }
    /// The crate's `recovery_key` module.
    pub mod recovery_key {
        pub use crate::recovery_key::*;
    }
    /// The crate's `relay` module.
    pub mod relay {
        pub use crate::relay::*;
    }
    /// The crate's `rng` module.
    pub mod rng {
        pub use crate::rng::*;
    }
    /// The crate's `stream` module.
    pub mod stream {
        pub use crate::stream::*;
    }
    /// The crate's `vault` module.
    pub mod vault {
        pub use crate::vault::*;
    }
    /// The crate's `wire` module.
    pub mod wire {
        pub use crate::wire::*;
    }
}
