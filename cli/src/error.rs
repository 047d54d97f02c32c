//! The command's one error type; its exit codes are in [`crate::exit`].

use std::io;
use std::path::Path;

use e2ee_backup::StreamError;

use crate::exit::{EXIT_ERROR, EXIT_INTEGRITY, EXIT_INTERRUPTED, EXIT_KEY};
use crate::store::StoreError;
use crate::vault::VaultError;

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
