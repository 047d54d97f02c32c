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
    e2ee_backup_node::cli::init_logging();
    let args = Args::parse();
    let config = match RelayConfigFile::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    e2ee_backup_node::cli::block_on(async move {
        match e2ee_backup_node::relay_host::run(config, e2ee_backup_node::cli::shutdown_signal())
            .await
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
