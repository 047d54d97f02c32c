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
pub mod consensus;

pub use backup_key::{BACKUP_KEY_LEN, BackupKey};
