//! # e2ee-backup
//!
//! End-to-end encrypted chat backups with a password-protected, replicated key vault: a pure,
//! sans-I/O protocol core. See `SPEC.md` for the normative description of every format, message,
//! label and invariant.
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

extern crate alloc;

pub mod backup_key;
pub mod client;
pub mod crypto;
pub mod ids;
pub mod recovery_key;
pub mod relay;
pub mod stream;
pub mod vault;
pub mod wire;

pub use backup_key::{BACKUP_KEY_LEN, BackupKey};
pub use client::{Client, ClientOutcome, ClientOutput};
pub use crypto::CryptoSuite;
pub use ids::{AccountId, FleetId};
pub use recovery_key::{RecoveryKey, RecoveryKeyError, Typo};
pub use relay::{Relay, RelayOutput};
pub use stream::{SegmentOpener, SegmentSealer, StreamError, StreamLayout};
pub use vault::{VaultOutput, VaultReplica};
