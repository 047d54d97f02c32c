//! `e2ee-vault-replica`: one replica of a replicated vault group (README "Run the vault").

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use e2ee_backup_node::config::ReplicaConfig;

/// One replica of a replicated vault group.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The replica's TOML configuration file.
    #[arg(long, short)]
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    e2ee_backup_node::cli::run_daemon(
        &args.config,
        ReplicaConfig::load,
        e2ee_backup_node::replica_host::run,
    )
}
