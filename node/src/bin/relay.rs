//! `e2ee-vault-relay`: the chat front end in front of the vault (README "Run the vault").

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use e2ee_backup_node::config::RelayConfigFile;

/// The relay: TLS for clients, account tokens, routing and failover to the replicas.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The relay's TOML configuration file.
    #[arg(long, short)]
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    e2ee_backup_node::cli::run_daemon(
        &args.config,
        RelayConfigFile::load,
        e2ee_backup_node::relay_host::run,
    )
}
