//! What a client reports and how it is configured: the public types of the client role.

use alloc::vec::Vec;

use crate::backup_key::BackupKey;
use crate::crypto::CryptoError;
use crate::vault::record::MAX_ATTEMPT_LIMIT;
use crate::wire::RecordStatus;

/// How many times one recovery starts a new `LoginStart` after a `LoginStale` answer (a
/// success on another device moved the login epoch on) before it ends `Unavailable`.
pub const LOGIN_RESTARTS_MAX: u32 = 3;

/// Names one client operation (a counter the client keeps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct OperationId(pub u64);

impl core::fmt::Display for OperationId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "operation {}", self.0)
    }
}

/// Retry settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientConfig {
    /// How long to wait for a reply before sending the same request again.
    pub retry_interval_ms: u64,
    /// How many times one request is sent before the operation ends as
    /// [`ClientOutcome::Unavailable`].
    pub max_sends: u32,
    /// Keep a login (or a registration past its `RegisterStart`) that ended
    /// [`ClientOutcome::Unavailable`] without an authenticated final answer, and resume it
    /// (same request bytes) at the next recover or delete (or registration of the same key)
    /// with the same password.
    pub resume_unfinished_login: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            retry_interval_ms: 2_000,
            max_sends: 5,
            resume_unfinished_login: true,
        }
    }
}

/// How an operation ended. Every case is distinct and typed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientOutcome {
    /// Registration and exposure are done; the record of `generation` is usable.
    Registered {
        /// Generation of the new record.
        generation: u64,
    },
    /// The backup key, recovered with the password.
    Recovered(BackupKey),
    /// The password is wrong; `remaining` attempts are left.
    WrongPassword {
        /// Attempts left.
        remaining: u32,
    },
    /// The attempts are used up; the record's secrets are (or will be) erased for good.
    Locked,
    /// There is no usable record for this account.
    NoRecord,
    /// The record is deleted.
    Deleted,
    /// The vault could not be reached or refused for now; try again later.
    Unavailable,
    /// The answer to [`Client::start_status`](super::Client::start_status): the record's state, no attempt spent.
    Status {
        /// The record's generation (0: never registered).
        generation: u64,
        /// What the record holds.
        state: RecordStatus,
        /// Attempts left (0 unless `Active`).
        attempts_remaining: u32,
    },
}

/// What the client asks its host to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientOutput {
    /// Send these bytes (an encoded `ClientRequest`) to the relay.
    Send {
        /// The encoded request.
        bytes: Vec<u8>,
    },
    /// An operation ended.
    Completed {
        /// The operation.
        operation: OperationId,
        /// How it ended.
        outcome: ClientOutcome,
    },
}

/// Why an operation could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The attempt limit is outside `1..=MAX_ATTEMPT_LIMIT`.
    InvalidAttemptLimit,
    /// A cryptographic step failed.
    Crypto(CryptoError),
}

impl From<CryptoError> for ClientError {
    fn from(e: CryptoError) -> Self {
        Self::Crypto(e)
    }
}

impl core::fmt::Display for ClientError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InvalidAttemptLimit => write!(
                f,
                "the attempt limit must be between 1 and {MAX_ATTEMPT_LIMIT}"
            ),
            Self::Crypto(e) => write!(f, "the operation could not start: {e}"),
        }
    }
}

impl core::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::InvalidAttemptLimit => None,
            Self::Crypto(e) => Some(e),
        }
    }
}
