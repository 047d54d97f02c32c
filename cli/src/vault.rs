//! The password path: the backup key kept in the vault, reached through the relay (README
//! "Keep the key behind a password").
//!
//! Every operation here is one connection to the relay and one core `Client` (the node
//! crate's [`VaultEndpoint`]); passwords are read from a file, an environment variable or a
//! hidden prompt, never from the command line, and are zeroized when dropped.

use std::io::{self, BufRead, IsTerminal, Write};

use e2ee_backup::BackupKey;
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup::internal::wire::RecordStatus;
use e2ee_backup_node::cli::{PasswordSource, read_password_from};
use e2ee_backup_node::client_link::LinkError;
use e2ee_backup_node::endpoint::{EndpointSource, Operation, ResumePolicy, VaultEndpoint};
use zeroize::Zeroizing;

use crate::VaultArgs;

/// Environment variable the password may come from.
pub const PASSWORD_ENV: &str = "E2EE_BACKUP_PASSWORD";
/// Environment variable the new password of `vault change-password` may come from.
pub const NEW_PASSWORD_ENV: &str = "E2EE_BACKUP_NEW_PASSWORD";
/// Environment variable the account token may come from.
pub const TOKEN_ENV: &str = "E2EE_BACKUP_TOKEN";
/// Shortest new password accepted, in characters. The vault allows only a few guesses, so a
/// short password is not guessed online; this keeps out the accidental one-letter password.
pub const MIN_PASSWORD_CHARS: usize = 6;

/// Why a vault operation did not succeed, with one exit status each (README "Exit codes").
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The password is wrong.
    #[error(
        "wrong password: {remaining} attempt{} left before the vault erases the key for good",
        if *remaining == 1 { "" } else { "s" }
    )]
    WrongPassword {
        /// Attempts left.
        remaining: u32,
    },
    /// The attempts are used up; the key in the vault is erased.
    #[error(
        "the key in the vault is locked: its wrong-password attempts are used up and it is erased \
         for good. Restore with the recovery key (--recovery-key-file) or the key file instead"
    )]
    Locked,
    /// No usable record for the account.
    #[error(
        "the vault holds no key for this account (never registered, or deleted); restore with the \
         recovery key (--recovery-key-file) or the key file instead"
    )]
    NoRecord,
    /// The vault could not be reached or did not answer in time.
    #[error("{0}; try again later")]
    Unavailable(String),
    /// The relay refused the account token.
    #[error(
        "the relay refused the account token (expired, or issued for another vault); get a new \
         one from the vault's operator"
    )]
    TokenRefused,
    /// The vault's folder, the token or the account is missing or malformed.
    #[error("{0}")]
    Setup(String),
}

impl From<LinkError> for VaultError {
    fn from(err: LinkError) -> Self {
        match err {
            LinkError::Refused => VaultError::TokenRefused,
            LinkError::Client(e) => VaultError::Setup(e.to_string()),
            other => VaultError::Unavailable(other.to_string()),
        }
    }
}

/// The vault these arguments name.
pub fn endpoint(args: &VaultArgs) -> Result<VaultEndpoint, VaultError> {
    let token = match &args.token_file {
        Some(path) => Some(
            read_password_from(
                &PasswordSource {
                    file: Some(path),
                    env: TOKEN_ENV,
                    prompt: "Account token",
                },
                false,
            )
            .map_err(VaultError::Setup)?
            .to_string(),
        ),
        None => std::env::var(TOKEN_ENV).ok(),
    };
    let source = EndpointSource {
        dir: args.vault.clone(),
        relay: args.relay,
        server_name: args.relay_name.clone(),
        cert: None,
        fleet: None,
        account: args.account.clone(),
        token,
    };
    source.resolve().map_err(|e| {
        VaultError::Setup(format!(
            "{e} (--vault DIR or E2EE_BACKUP_VAULT names the vault folder; --account or \
             E2EE_BACKUP_ACCOUNT the account; --token-file or {TOKEN_ENV} its token)"
        ))
    })
}

/// The current password (one prompt); an empty one is refused.
pub fn current_password(args: &VaultArgs) -> Result<Zeroizing<String>, VaultError> {
    let password = read_password_from(
        &PasswordSource {
            file: args.password_file.as_deref(),
            env: PASSWORD_ENV,
            prompt: "Vault password",
        },
        false,
    )
    .map_err(VaultError::Setup)?;
    if password.is_empty() {
        return Err(VaultError::Setup("the password is empty".into()));
    }
    Ok(password)
}

/// A new password (a prompt asks twice), at least [`MIN_PASSWORD_CHARS`] long.
pub fn new_password(
    file: Option<&std::path::Path>,
    env: &str,
) -> Result<Zeroizing<String>, VaultError> {
    let password = read_password_from(
        &PasswordSource {
            file,
            env,
            prompt: "New vault password",
        },
        true,
    )
    .map_err(VaultError::Setup)?;
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(VaultError::Setup(format!(
            "the password must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(password)
}

/// What an `Unavailable` outcome means: no authenticated final answer in time.
const NO_ANSWER: &str = "no answer from the vault in time: it may be busy, limiting this \
     account's requests, or partly down. An unanswered password attempt may have been counted";

fn unexpected(outcome: &ClientOutcome) -> VaultError {
    VaultError::Unavailable(format!("unexpected answer {outcome:?}"))
}

/// What a failed login-type outcome means.
fn login_failure(outcome: &ClientOutcome) -> VaultError {
    match outcome {
        ClientOutcome::WrongPassword { remaining } => VaultError::WrongPassword {
            remaining: *remaining,
        },
        ClientOutcome::Locked => VaultError::Locked,
        ClientOutcome::NoRecord | ClientOutcome::Deleted => VaultError::NoRecord,
        ClientOutcome::Unavailable => VaultError::Unavailable(NO_ANSWER.into()),
        other => unexpected(other),
    }
}

/// Recovers the backup key with the password (one attempt).
pub fn recover(endpoint: &VaultEndpoint, password: &[u8]) -> Result<BackupKey, VaultError> {
    eprintln!("asking the vault for the backup key…");
    match endpoint.run_one_blocking(Operation::Recover { password }, ResumePolicy::default())? {
        ClientOutcome::Recovered(key) => Ok(key),
        other => Err(login_failure(&other)),
    }
}

/// Registers `key` under `password` with `attempts` wrong guesses allowed; the generation.
pub fn register(
    endpoint: &VaultEndpoint,
    password: &[u8],
    key: &BackupKey,
    attempts: u32,
) -> Result<u64, VaultError> {
    eprintln!("registering the backup key with the vault…");
    let operation = Operation::Register {
        password,
        key,
        attempts,
    };
    match endpoint.run_one_blocking(operation, ResumePolicy::default())? {
        ClientOutcome::Registered { generation } => Ok(generation),
        ClientOutcome::Unavailable => Err(VaultError::Unavailable(
            "the registration did not complete; running the command again is safe".into(),
        )),
        other => Err(unexpected(&other)),
    }
}

/// Deletes the account's record (one attempt).
pub fn delete(endpoint: &VaultEndpoint, password: &[u8]) -> Result<(), VaultError> {
    match endpoint.run_one_blocking(Operation::Delete { password }, ResumePolicy::default())? {
        ClientOutcome::Deleted => Ok(()),
        other => Err(login_failure(&other)),
    }
}

/// The record's state, spending no attempt.
pub fn status(endpoint: &VaultEndpoint) -> Result<(RecordStatus, u32, u64), VaultError> {
    match endpoint.run_one_blocking(Operation::Status, ResumePolicy::default())? {
        ClientOutcome::Status {
            generation,
            state,
            attempts_remaining,
        } => Ok((state, attempts_remaining, generation)),
        other => Err(login_failure(&other)),
    }
}

/// Changes the password: the current one recovers the key (one attempt), which must be
/// `expected` when the device has a key file, then the key is registered under the new one
/// (with a fresh count of `attempts`).
pub fn change_password(
    endpoint: &VaultEndpoint,
    current: &[u8],
    new: &[u8],
    expected: Option<&BackupKey>,
    attempts: u32,
) -> Result<u64, VaultError> {
    let key = recover(endpoint, current)?;
    if expected.is_some_and(|k| *k != key) {
        return Err(VaultError::Setup(
            "the vault holds another key than this device's key file: the password was not \
             changed (`e2ee-backup vault register` replaces the vault's key with this device's)"
                .into(),
        ));
    }
    register(endpoint, new, &key, attempts)
}

/// Asks "yes or no" on the terminal; without a terminal the answer is no.
pub fn confirm(question: &str) -> bool {
    if !io::stdin().is_terminal() {
        return false;
    }
    eprint!("{question} [y/N] ");
    let _ = io::stderr().flush();
    let mut answer = String::new();
    if io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}

/// The record's state in the user's words.
pub fn describe_status(state: RecordStatus, attempts: u32) -> String {
    match state {
        RecordStatus::Active => format!(
            "the vault holds the backup key; {attempts} wrong-password attempt{} left",
            if attempts == 1 { "" } else { "s" }
        ),
        RecordStatus::Pending => {
            "a registration is unfinished (run `e2ee-backup vault register` again)".into()
        }
        RecordStatus::Locked => "locked: the attempts are used up and the key is erased".into(),
        RecordStatus::Deleted => "deleted: the vault no longer holds a key for this account".into(),
        RecordStatus::NoRecord => "no key registered for this account".into(),
    }
}

impl VaultError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        use crate::exit::{
            EXIT_ERROR, EXIT_LOCKED, EXIT_NO_RECORD, EXIT_UNAVAILABLE, EXIT_WRONG_PASSWORD,
        };
        match self {
            Self::WrongPassword { .. } => EXIT_WRONG_PASSWORD,
            Self::Locked => EXIT_LOCKED,
            Self::NoRecord => EXIT_NO_RECORD,
            Self::Unavailable(_) => EXIT_UNAVAILABLE,
            Self::TokenRefused | Self::Setup(_) => EXIT_ERROR,
        }
    }
}
