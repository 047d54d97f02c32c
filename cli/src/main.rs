//! `e2ee-backup`: end-to-end encrypted backups of a folder, restored with a recovery key.
//!
//! See README.md ("The `e2ee-backup` command") for use, and SPEC.md ("CLI formats") for the
//! key file and the repository's objects.

#[cfg(not(unix))]
compile_error!("the e2ee-backup command supports Unix-like systems only (for now)");

mod archive;
mod commands;
mod error;
mod keys;
mod progress;
mod repo;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::{EXIT_ERROR, EXIT_OK, EXIT_USAGE};

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    error (I/O, store, or a refused operation such as a non-empty target)
  2    usage error
  3    backup made, but some entries could not be read and were left out
  4    key problem: no key file, a mistyped recovery key, or a key of another repository
  5    integrity failure: a snapshot was changed, damaged or truncated in the store
  6    not available yet: the password (vault) path needs the relay (issue 13)
  130  interrupted (SIGINT, SIGTERM, SIGHUP); nothing half-written is left behind";

/// End-to-end encrypted backups of a folder. The store only ever sees ciphertext; the key
/// stays on this device (a key file) and on paper (the recovery key).
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
}

#[derive(Debug, Args)]
struct InitArgs {
    /// Also create an empty repository in this store (a local folder); `backup` creates one
    /// on first use otherwise.
    #[arg(long, env = "E2EE_BACKUP_REPO", value_name = "STORE")]
    repo: Option<PathBuf>,
    /// Keep the key in the vault behind a password (not available yet: needs the relay).
    #[arg(long)]
    password: bool,
}

/// Where the key comes from when not from the key file.
#[derive(Debug, Args)]
struct KeyArgs {
    /// Read the recovery key from FILE instead of using the key file; `-` reads it from
    /// standard input (a hidden prompt on a terminal).
    #[arg(long, value_name = "FILE")]
    recovery_key_file: Option<PathBuf>,
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
    /// The store (a local folder; created with a new repository if missing or empty).
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
    /// The store.
    #[arg(long, env = "E2EE_BACKUP_REPO", value_name = "STORE")]
    repo: PathBuf,
    /// The folder to restore into: must not exist or be empty, unless --force.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Restore even if DIR is not empty: its old contents are moved aside to
    /// DIR.before-restore-<time> (never deleted) once the restore has succeeded.
    #[arg(long)]
    force: bool,
    /// Recover the key from the vault with a password (not available yet: needs the relay).
    #[arg(long)]
    password: bool,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// The store.
    #[arg(long, env = "E2EE_BACKUP_REPO", value_name = "STORE")]
    repo: PathBuf,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The snapshot id (see `list`), or `latest`.
    snapshot: String,
    /// The store.
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
    /// Recover the key from the vault with a password (not available yet: needs the relay).
    #[command(after_help = EXIT_CODES)]
    Recover,
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
