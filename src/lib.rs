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

pub use backup_key::{BACKUP_KEY_LEN, BackupKey};

pub mod client;
pub mod crypto;
pub mod ids;
pub mod relay;
pub mod vault;
pub mod wire;

pub use client::{Client, ClientOutcome, ClientOutput};
pub use crypto::CryptoSuite;
pub use ids::{AccountId, FleetId};
pub use relay::{Relay, RelayOutput};
pub use vault::{VaultOutput, VaultReplica};
