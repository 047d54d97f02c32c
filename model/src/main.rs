//! `cargo run --release -p e2ee-backup-model -- [check|explore|selfcheck] [OPTIONS]`
//! (`--help` on every command).
//!
//! `check` (the default) checks a configuration (default: `r3-no-crash`; `all` runs every one) and
//! prints, per property, the verdict, plus states explored, unique states, depth, seconds and
//! peak memory; a violated property prints its counterexample trace. A run cut short by
//! `--max-states` says so on every property it could not finish ("bounded at N states: not a
//! proof"). `explore` serves stateright's web explorer for the chosen configuration. `selfcheck`
//! runs the stream cipher, recovery key and vault round trip with the production suite.
//!
//! Exit codes: 0 every property as expected over the whole state space (and, with `--broken`,
//! the variant refuted); 1 a property not as expected (a violation, a missing example, or a
//! broken variant not refuted); 2 a usage error; 3 a bounded run that found nothing wrong in the
//! states it visited — not a proof.

mod selfcheck;

use std::net::{TcpListener, ToSocketAddrs};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use e2ee_backup_model::config::{Broken, ModelConfig, Op};
use e2ee_backup_model::model::VaultModel;
use e2ee_backup_model::replicated::ReplicatedModel;
use e2ee_backup_model::run::{self, Search};
use stateright::Model;

/// Exit code of a bounded run that found nothing wrong: not a proof.
const EXIT_BOUNDED: u8 = 3;
/// Exit code of a usage error (also clap's own).
const EXIT_USAGE: u8 = 2;
/// The configuration a run without arguments checks: replicated, owner and attacker, and
/// exhaustive in about a minute (the replicated `default`, with a crash, no longer finishes in
/// minutes on vault protocol v2).
const DEFAULT_CONFIG: &str = "r3-no-crash";

/// Model-checks the e2ee-backup vault protocol (the real client, relay and vault replicas with a
/// symbolic crypto suite) with stateright.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check one configuration (or `all`) and print each property's verdict (the default).
    Check(CheckArgs),
    /// Serve stateright's web explorer for one configuration.
    Explore(ExploreArgs),
    /// Run the stream cipher, recovery key and vault round trip with the production suite.
    Selfcheck,
}

#[derive(Args, Debug, Default)]
struct CheckArgs {
    /// The configuration to check, or `all` for every one, smallest first.
    #[arg(long, default_value = DEFAULT_CONFIG, value_parser = config_name)]
    config: String,
    /// Breadth-first search (shortest counterexamples, much more memory).
    #[arg(long, conflicts_with = "dfs")]
    bfs: bool,
    /// Depth-first search (the default; little memory).
    #[arg(long)]
    dfs: bool,
    /// A deliberately broken variant that the checker must refute.
    #[arg(long, value_parser = broken_name)]
    broken: Option<Broken>,
    /// Worker threads.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// Stop after about this many states: the verdicts then cover only the states visited.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_states: Option<u64>,
    /// Print progress to stderr every this many seconds (0: never).
    #[arg(long, default_value_t = 10)]
    progress_secs: u64,
}

#[derive(Args, Debug)]
struct ExploreArgs {
    /// The configuration to explore.
    #[arg(long, default_value = "default", value_parser = single_config_name)]
    config: String,
    /// A deliberately broken variant to explore.
    #[arg(long, value_parser = broken_name)]
    broken: Option<Broken>,
    /// Where to serve the explorer (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
}

fn config_name(name: &str) -> Result<String, String> {
    if name == "all" {
        return Ok(name.to_string());
    }
    single_config_name(name)
}

fn single_config_name(name: &str) -> Result<String, String> {
    if ModelConfig::NAMES.contains(&name) {
        Ok(name.to_string())
    } else {
        Err(format!(
            "unknown config {name}; known: {}, all",
            ModelConfig::NAMES.join(", ")
        ))
    }
}

fn broken_name(name: &str) -> Result<Broken, String> {
    Broken::from_name(name).ok_or(format!(
        "unknown broken variant {name}; known: {}",
        Broken::ALL.map(Broken::name).join(", ")
    ))
}

fn config(name: &str, broken: Option<Broken>) -> Result<ModelConfig, String> {
    let config = ModelConfig::named(name)
        .map(|c| c.with_broken(broken))
        .ok_or(format!(
            "unknown config {name}; known: {}, all",
            ModelConfig::NAMES.join(", ")
        ))?;
    if let Some(b @ (Broken::QuorumTooSmall | Broken::TrustHostDisk | Broken::CensusQuorumTooSmall)) =
        broken
        && config.replication.is_none()
    {
        return Err(format!(
            "--broken {} needs a replicated config; {name} has one replica",
            b.name()
        ));
    }
    let probes = config
        .devices
        .iter()
        .any(|d| d.script.contains(&Op::ProbeRegister));
    if broken == Some(Broken::SharedOprfKey) && !probes {
        return Err(format!(
            "--broken shared-oprf-key needs a config with a RegisterStart prober (oracle, r3-oracle); {name} has none"
        ));
    }
    Ok(config)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Selfcheck) => run_selfcheck(),
        Some(Command::Explore(args)) => explore(&args),
        Some(Command::Check(args)) => check(&args),
        None => check(&CheckArgs {
            config: DEFAULT_CONFIG.into(),
            threads: 2,
            progress_secs: 10,
            ..CheckArgs::default()
        }),
    }
}

fn check(args: &CheckArgs) -> ExitCode {
    let names: Vec<&str> = if args.config == "all" {
        ModelConfig::NAMES.to_vec()
    } else {
        vec![args.config.as_str()]
    };
    let search = if args.bfs { Search::Bfs } else { Search::Dfs };
    let options = run::Options {
        search,
        threads: usize::from(args.threads),
        max_states: args.max_states.and_then(|m| usize::try_from(m).ok()),
        progress_secs: args.progress_secs,
    };
    let (mut failed, mut bounded) = (false, false);
    for name in names {
        // Under `all`, a broken variant applies to the configurations that can have it.
        let config = match config(name, args.broken) {
            Ok(c) => c,
            Err(why) if args.config == "all" => {
                println!("config {name}: skipped ({why})");
                continue;
            }
            Err(why) => {
                eprintln!("{why}");
                return ExitCode::from(EXIT_USAGE);
            }
        };
        let report = run::check_with(config, &options);
        run::print(&report);
        failed |= !report.as_expected();
        bounded |= report.bounded;
    }
    if failed {
        ExitCode::FAILURE
    } else if bounded {
        println!("bounded run: nothing wrong in the states visited, which is not a proof");
        ExitCode::from(EXIT_BOUNDED)
    } else {
        ExitCode::SUCCESS
    }
}

fn explore(args: &ExploreArgs) -> ExitCode {
    let config = match config(&args.config, args.broken) {
        Ok(config) => config,
        Err(why) => {
            eprintln!("{why}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // stateright's explorer panics on an address it cannot bind: check it first.
    let bindable = args
        .addr
        .to_socket_addrs()
        .map_err(|e| e.to_string())
        .and_then(|mut addrs| {
            let addr = addrs.next().ok_or("no address")?;
            TcpListener::bind(addr).map_err(|e| e.to_string())
        });
    if let Err(why) = bindable {
        eprintln!("cannot serve the explorer on {}: {why}", args.addr);
        return ExitCode::from(EXIT_USAGE);
    }
    println!(
        "serving the stateright explorer for config {} on http://{}",
        args.config, args.addr
    );
    match ReplicatedModel::new(config.clone()) {
        Some(model) => {
            model.checker().serve(args.addr.as_str());
        }
        None => {
            VaultModel::new(config).checker().serve(args.addr.as_str());
        }
    }
    ExitCode::SUCCESS
}

fn run_selfcheck() -> ExitCode {
    println!("e2ee-backup {}: self-check", env!("CARGO_PKG_VERSION"));
    let results = selfcheck::run_all();
    let failed = results.iter().filter(|r| r.outcome.is_err()).count();
    for r in &results {
        match &r.outcome {
            Ok(detail) => println!("  ok    {:<44} {detail}", r.name),
            Err(why) => println!("  FAIL  {:<44} {why}", r.name),
        }
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
