//! `e2ee-backup`: end-to-end encrypted backups of a folder, restored with the key file, the
//! recovery key, or a password (the key kept in the vault).
//!
//! See README.md ("The `e2ee-backup` command") for use, and SPEC.md ("CLI formats") for the
//! key file and the repository's objects.

#[cfg(not(unix))]
compile_error!("the e2ee-backup command supports Unix-like systems only (for now)");

mod archive;
mod cloud;
mod commands;
mod error;
mod exit;
mod keys;
mod location;
mod progress;
mod repo;
mod store;
mod vault;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::{EXIT_ERROR, EXIT_OK, EXIT_USAGE};

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    error (I/O, store, or a refused operation such as a non-empty target)
  2    usage error
  3    backup made, but some entries could not be read and were left out
  4    key problem: no key file, a mistyped recovery key, or a key of another repository
  5    integrity failure: a snapshot was changed, damaged or truncated in the store
  6    wrong vault password (the message says how many attempts are left)
  7    the vault's key is locked: its attempts are used up and it is erased for good
  8    the vault holds no key for this account (never registered, or deleted)
  9    the vault cannot be reached or did not answer in time: try again later
  130  interrupted (SIGINT, SIGTERM, SIGHUP); nothing half-written is left behind";

/// End-to-end encrypted backups of a folder. The store only ever sees ciphertext; the key
/// stays on this device (a key file), on paper (the recovery key) and, if you choose, in the
/// vault behind a password.
#[derive(Debug, Parser)]
#[command(name = "e2ee-backup", version, after_help = EXIT_CODES)]
struct Cli {
    /// The key file [default: $XDG_CONFIG_HOME/e2ee-backup/key or ~/.config/e2ee-backup/key].
    #[arg(long, global = true, env = "E2EE_BACKUP_KEY_FILE", value_name = "FILE")]
    key_file: Option<PathBuf>,

    /// No progress output.
    #[arg(long, short, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make a new backup key, save it in the key file and show its recovery key.
    #[command(after_help = EXIT_CODES)]
    Init(InitArgs),
    /// Back up a folder as a new snapshot.
    #[command(after_help = EXIT_CODES)]
    Backup(BackupArgs),
    /// Restore a snapshot into a folder; nothing becomes visible unless all of it authenticates.
    #[command(after_help = EXIT_CODES)]
    Restore(RestoreArgs),
    /// List the snapshots of a repository.
    #[command(after_help = EXIT_CODES)]
    List(ListArgs),
    /// Authenticate every byte of a snapshot, writing nothing.
    #[command(after_help = EXIT_CODES)]
    Verify(VerifyArgs),
    /// Show, import or recover the backup key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Keep the backup key in the vault behind a password: register, change, delete, status.
    #[command(subcommand)]
    Vault(VaultCommand),
}

/// How to reach the vault (through the relay) and the password's source. The password is never
/// taken from the command line.
#[derive(Debug, Clone, Args)]
struct VaultArgs {
    /// The vault folder from the vault's operator: the relay's address (relay.toml), its
    /// certificate (relay-cert.pem) and the fleet's public keys (fleet-public.keys).
    /// `e2ee-vault local` makes one for a test fleet.
    #[arg(long, env = "E2EE_BACKUP_VAULT", value_name = "DIR")]
    vault: Option<PathBuf>,
    /// The relay's address, instead of the vault folder's.
    #[arg(long, value_name = "HOST:PORT")]
    relay: Option<SocketAddr>,
    /// The relay's name in its certificate.
    #[arg(long, default_value = "localhost", value_name = "NAME")]
    relay_name: String,
    /// Your account [default: the one the token names].
    #[arg(long, env = "E2EE_BACKUP_ACCOUNT", value_name = "NAME")]
    account: Option<String>,
    /// Read the account token from FILE [else $E2EE_BACKUP_TOKEN; a test fleet's folder that
    /// holds its token key issues one itself].
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Read the vault password from FILE's first line (`-`: standard input) [else
    /// $E2EE_BACKUP_PASSWORD, else a hidden prompt].
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum VaultCommand {
    /// Register this device's backup key under a new password (replacing what the vault holds
    /// for the account, with a fresh count of attempts).
    #[command(after_help = EXIT_CODES)]
    Register(RegisterArgs),
    /// Change the password: the current one recovers the key (one attempt), then the key is
    /// registered under the new one.
    #[command(after_help = EXIT_CODES)]
    ChangePassword(ChangePasswordArgs),
    /// Delete the key from the vault (needs the password). The key file, the recovery key
    /// and the backups are not touched.
    #[command(after_help = EXIT_CODES)]
    Delete(DeleteArgs),
    /// Show whether the vault holds the key and how many attempts are left, spending none.
    #[command(after_help = EXIT_CODES)]
    Status(StatusArgs),
}

#[derive(Debug, Args)]
struct RegisterArgs {
    /// Wrong guesses allowed before the vault erases the key for good.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    attempts: u32,
    /// Read the key from a recovery key instead of the key file (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    recovery_key_file: Option<PathBuf>,
    #[command(flatten)]
    vault: VaultArgs,
}

#[derive(Debug, Args)]
struct ChangePasswordArgs {
    /// Read the new password from FILE's first line [else $E2EE_BACKUP_NEW_PASSWORD, else a
    /// hidden prompt, twice].
    #[arg(long, value_name = "FILE")]
    new_password_file: Option<PathBuf>,
    /// Wrong guesses allowed under the new password.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    attempts: u32,
    #[command(flatten)]
    vault: VaultArgs,
}

#[derive(Debug, Args)]
struct DeleteArgs {
    /// Do not ask for confirmation (needed without a terminal).
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    vault: VaultArgs,
}

#[derive(Debug, Args)]
struct StatusArgs {
    #[command(flatten)]
    vault: VaultArgs,
}

#[derive(Debug, Args)]
struct InitArgs {
    /// Also create an empty repository in this store (a local folder, or s3://BUCKET/PREFIX);
    /// `backup` creates one on first use otherwise.
    #[arg(long, env = "E2EE_BACKUP_REPO", value_name = "STORE")]
    repo: Option<PathBuf>,
    /// Also keep the key in the vault behind a password (asked twice).
    #[arg(long)]
    password: bool,
    /// With --password: wrong guesses allowed before the vault erases the key for good.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    attempts: u32,
    #[command(flatten)]
    vault: VaultArgs,
}

/// Where the key comes from when not from the key file.
#[derive(Debug, Args)]
struct KeyArgs {
    /// Read the recovery key from FILE instead of using the key file; `-` reads it from
    /// standard input (a hidden prompt on a terminal).
    #[arg(long, value_name = "FILE", conflicts_with = "password")]
    recovery_key_file: Option<PathBuf>,
    /// Recover the key from the vault with the password (one attempt) instead of using the
    /// key file; it is not saved (`key recover` saves it).
    #[arg(long)]
    password: bool,
    #[command(flatten)]
    vault: VaultArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CompressionArg {
    /// zstd before encryption.
    Zstd,
    /// No compression.
    None,
}

#[derive(Debug, Args)]
struct BackupArgs {
    /// The folder to back up.
    path: PathBuf,
    /// The store: a local folder, or s3://BUCKET/PREFIX (AWS_* environment for credentials and
    /// endpoint); a new repository is created in it if missing or empty.
    #[arg(long, env = "E2EE_BACKUP_REPO", value_name = "STORE")]
    repo: PathBuf,
    /// Compression applied before encryption.
    #[arg(long, value_enum, default_value = "zstd")]
    compression: CompressionArg,
    /// zstd level (1 fastest … 19 smallest).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=19))]
    zstd_level: i32,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Debug, Args)]
struct RestoreArgs {
    /// The snapshot id (see `list`), or `latest`.
    snapshot: String,
    /// The store: a local folder, or s3://BUCKET/PREFIX.
    #[arg(long, env = "E2EE_BACKUP_REPO", value_name = "STORE")]
    repo: PathBuf,
    /// The folder to restore into: must not exist or be empty, unless --force.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Restore even if DIR is not empty: its old contents are moved aside to
    /// DIR.before-restore-<time> (never deleted) once the restore has succeeded.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// The store: a local folder, or s3://BUCKET/PREFIX.
    #[arg(long, env = "E2EE_BACKUP_REPO", value_name = "STORE")]
    repo: PathBuf,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The snapshot id (see `list`), or `latest`.
    snapshot: String,
    /// The store: a local folder, or s3://BUCKET/PREFIX.
    #[arg(long, env = "E2EE_BACKUP_REPO", value_name = "STORE")]
    repo: PathBuf,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Print the recovery key of the key file (to write it down again).
    #[command(after_help = EXIT_CODES)]
    Show,
    /// Save a recovery key as this device's key file (to back up from a new device).
    #[command(after_help = EXIT_CODES)]
    Import(ImportArgs),
    /// Recover the key from the vault with the password (one attempt) and save it as this
    /// device's key file.
    #[command(after_help = EXIT_CODES)]
    Recover(RecoverArgs),
}

#[derive(Debug, Args)]
struct RecoverArgs {
    #[command(flatten)]
    vault: VaultArgs,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// Read the recovery key from FILE; `-` (the default) reads standard input (a hidden
    /// prompt on a terminal).
    #[arg(long, value_name = "FILE", default_value = "-")]
    recovery_key_file: PathBuf,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are "errors" printed to stdout with status 0.
            let code = if err.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_OK
            };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("e2ee-backup: error: {err}");
            let code = err.exit_code();
            ExitCode::from(if code == 0 { EXIT_ERROR } else { code })
        }
    }
}
