//! The command's one error type and its exit codes (README "Exit codes").

use std::io;
use std::path::Path;

use e2ee_backup::StreamError;

use crate::store::StoreError;
use crate::vault::VaultError;

/// Exit status of a successful run.
pub const EXIT_OK: u8 = 0;
/// Exit status of an error not covered by a more specific code (I/O, store, refused operation).
pub const EXIT_ERROR: u8 = 1;
/// Exit status of a command-line usage error (clap uses the same code).
pub const EXIT_USAGE: u8 = 2;
/// Exit status of a backup that was made but left out entries it could not read.
pub const EXIT_PARTIAL: u8 = 3;
/// Exit status of a key problem: no key, a mistyped recovery key, a key of another repository.
pub const EXIT_KEY: u8 = 4;
/// Exit status of an integrity failure: a snapshot or repository object failed authentication.
pub const EXIT_INTEGRITY: u8 = 5;
/// Exit status of a wrong vault password (the message says how many attempts are left).
pub const EXIT_WRONG_PASSWORD: u8 = 6;
/// Exit status of a locked vault record: the attempts are used up and the key is erased.
pub const EXIT_LOCKED: u8 = 7;
/// Exit status when the vault holds no key for the account (never registered, or deleted).
pub const EXIT_NO_RECORD: u8 = 8;
/// Exit status when the vault cannot be reached or does not answer in time: try again later.
pub const EXIT_UNAVAILABLE: u8 = 9;
/// Exit status after SIGINT, SIGTERM or SIGHUP (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Everything that makes a command fail. `Display` is the message shown to the user.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file or directory operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The store failed or misbehaved.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A request the command refuses (for example overwriting a non-empty directory).
    #[error("{0}")]
    Refused(String),
    /// No usable key, a mistyped recovery key, or a key that is not this repository's.
    #[error("{0}")]
    Key(String),
    /// Stored data failed authentication or is malformed: it was changed, damaged or truncated.
    #[error("{0}")]
    Integrity(String),
    /// The vault (password path) refused, failed or could not be reached.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The run was stopped by a signal; everything half-written was removed.
    #[error("interrupted; nothing half-written was left behind")]
    Interrupted,
}

impl CliError {
    /// An I/O error with what was being done to which path.
    pub fn io(what: &str, path: &Path, source: io::Error) -> Self {
        Self::Io {
            context: format!("{what} {}", path.display()),
            source,
        }
    }

    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Io { .. } | Self::Store(_) | Self::Refused(_) => EXIT_ERROR,
            Self::Key(_) => EXIT_KEY,
            Self::Integrity(_) => EXIT_INTEGRITY,
            Self::Vault(err) => err.exit_code(),
            Self::Interrupted => EXIT_INTERRUPTED,
        }
    }
}

/// The stream error wrapped in an I/O error by the stream adapters, if any.
pub fn stream_error_of(err: &io::Error) -> Option<StreamError> {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<StreamError>())
        .copied()
}

/// What a stream error means for a stored object, in the user's words.
pub fn describe_stream_error(err: StreamError) -> String {
    match err {
        StreamError::SegmentAuthenticationFailed { index } => format!(
            "segment {index} failed authentication: the data was changed, damaged, truncated \
             or extended in the store"
        ),
        StreamError::Truncated | StreamError::TruncatedHeader | StreamError::InvalidLength => {
            "the data is truncated or has extra bytes".to_owned()
        }
        StreamError::WrongKey => {
            "its header does not match this repository's key (changed or damaged in the store)"
                .to_owned()
        }
        StreamError::BadMagic => "it is not an e2ee-backup stream".to_owned(),
        other => other.to_string(),
    }
}
