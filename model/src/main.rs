//! `cargo run --release -p e2ee-backup-model [check|explore|selfcheck] [--config NAME]
//! [--bfs|--dfs] [--broken NAME] [--threads N] [--max-states N] [--addr HOST:PORT]`
//!
//! `check` (the default) checks a configuration (default: `default`; `all` runs every one) and
//! prints, per property, the verdict, plus states explored, unique states, depth, seconds and
//! peak memory; a violated property prints its counterexample trace. `explore` serves
//! stateright's web explorer on localhost. `selfcheck` runs the stream cipher, recovery key and
//! vault round trip with the production suite.

mod selfcheck;

use std::process::ExitCode;

use e2ee_backup_model::config::{Broken, ModelConfig};
use e2ee_backup_model::model::VaultModel;
use e2ee_backup_model::run::{self, Search};
use stateright::Model;

struct Args {
    mode: String,
    config: String,
    search: Search,
    broken: Option<Broken>,
    threads: usize,
    addr: String,
    max_states: Option<usize>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        mode: "check".into(),
        config: "default".into(),
        search: Search::Dfs,
        broken: None,
        threads: 2,
        addr: "localhost:3000".into(),
        max_states: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "check" | "explore" | "selfcheck" => args.mode = arg,
            "--bfs" => args.search = Search::Bfs,
            "--dfs" => args.search = Search::Dfs,
            "--config" => args.config = it.next().ok_or("--config needs a name")?,
            "--broken" => {
                let name = it.next().ok_or("--broken needs a name")?;
                args.broken = Some(Broken::from_name(&name).ok_or(format!(
                    "unknown broken variant {name}; known: {}",
                    Broken::ALL.map(Broken::name).join(", ")
                ))?);
            }
            "--threads" => {
                args.threads = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--threads needs a number")?;
            }
            "--max-states" => {
                args.max_states = Some(
                    it.next()
                        .and_then(|n| n.parse().ok())
                        .ok_or("--max-states needs a number")?,
                );
            }
            "--addr" => args.addr = it.next().ok_or("--addr needs HOST:PORT")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn config(name: &str, broken: Option<Broken>) -> Result<ModelConfig, String> {
    let config = ModelConfig::named(name)
        .map(|c| c.with_broken(broken))
        .ok_or(format!(
            "unknown config {name}; known: {}, all",
            ModelConfig::NAMES.join(", ")
        ))?;
    if let Some(b @ (Broken::QuorumTooSmall | Broken::TrustHostDisk)) = broken
        && config.replication.is_none()
    {
        return Err(format!(
            "--broken {} needs a replicated config; {name} has one replica",
            b.name()
        ));
    }
    Ok(config)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(why) => {
            eprintln!("{why}");
            return ExitCode::FAILURE;
        }
    };
    match args.mode.as_str() {
        "selfcheck" => run_selfcheck(),
        "explore" => match config(&args.config, args.broken) {
            Ok(config) => {
                println!("serving the stateright explorer on http://{}", args.addr);
                VaultModel::new(config).checker().serve(args.addr.as_str());
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("{why}");
                ExitCode::FAILURE
            }
        },
        _ => {
            let names: Vec<&str> = if args.config == "all" {
                ModelConfig::NAMES.to_vec()
            } else {
                vec![args.config.as_str()]
            };
            let mut all_as_expected = true;
            for name in names {
                let config = match config(name, args.broken) {
                    Ok(c) => c,
                    Err(why) => {
                        eprintln!("{why}");
                        return ExitCode::FAILURE;
                    }
                };
                let report = run::check_bounded(config, args.search, args.threads, args.max_states);
                run::print(&report);
                all_as_expected &= report.verdicts.iter().all(|v| v.as_expected());
            }
            if all_as_expected {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
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
