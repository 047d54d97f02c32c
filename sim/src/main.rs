//! `e2ee-backup-sim`: runs scenarios over seeds and prints each run's seed, fault mix and trace
//! hash, every violation with the exact command that replays it, the report table and the
//! simulator's speed. Exits non-zero if any run broke an invariant.
//!
//! `cargo run --release -p e2ee-backup-sim -- --scenario NAME|all --seed N --seeds N [--lite]
//! [--broken reply-before-persist|trust-host-disk] [--quiet]`

use std::process::ExitCode;
use std::time::Instant;

use e2ee_backup_sim::report::Report;
use e2ee_backup_sim::trace::to_hex;
use e2ee_backup_sim::{Broken, Scenario, SimConfig, replay_command, run};

struct Args {
    scenarios: Vec<Scenario>,
    seed: u64,
    seeds: u64,
    lite: bool,
    broken: Option<Broken>,
    quiet: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        scenarios: Scenario::ALL.to_vec(),
        seed: 1,
        seeds: 1,
        lite: false,
        broken: None,
        quiet: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--scenario" => {
                let name = value()?;
                args.scenarios = if name == "all" {
                    Scenario::ALL.to_vec()
                } else {
                    vec![Scenario::from_name(&name).ok_or_else(|| {
                        let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
                        format!("unknown scenario {name}; known: all, {}", names.join(", "))
                    })?]
                };
            }
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--seeds" => args.seeds = value()?.parse().map_err(|e| format!("--seeds: {e}"))?,
            "--lite" => args.lite = true,
            "--quiet" => args.quiet = true,
            "--broken" => {
                let name = value()?;
                args.broken = Some(Broken::from_name(&name).ok_or_else(|| {
                    let names: Vec<_> = Broken::ALL.iter().map(|b| b.name()).collect();
                    format!("unknown broken option {name}; known: {}", names.join(", "))
                })?);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(why) => {
            eprintln!("{why}");
            return ExitCode::from(2);
        }
    };
    let mut report = Report::default();
    let mut failed = 0u64;
    let started = Instant::now();
    let (mut operations, mut simulated_ms) = (0u64, 0u64);
    for scenario in &args.scenarios {
        for seed in args.seed..args.seed.saturating_add(args.seeds) {
            let config = SimConfig {
                scenario: *scenario,
                seed,
                lite: args.lite,
                broken: args.broken,
            };
            let result = run(config);
            operations += result.stats.attempted + result.stats.guesses;
            simulated_ms += result.simulated_ms;
            if !args.quiet || !result.violations.is_empty() {
                println!(
                    "{} seed {seed}: trace {} events {} ops {}/{} granted {}/{} [{}]",
                    scenario.name(),
                    to_hex(&result.trace_hash),
                    result.events,
                    result.stats.succeeded,
                    result.stats.attempted,
                    result.stats.granted_max,
                    result.stats.granted_limit,
                    result.mix
                );
            }
            if !result.violations.is_empty() {
                failed += 1;
                for violation in result.violations.iter().take(10) {
                    println!(
                        "  VIOLATION {} at {} ms: {}",
                        violation.invariant, violation.time_ms, violation.detail
                    );
                }
                if result.violations.len() > 10 {
                    println!("  ... {} violations in all", result.violations.len());
                }
                println!("  replay: {}", replay_command(&config));
            }
            report.add(&result);
        }
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    println!();
    print!("{}", report.table());
    println!();
    println!(
        "speed: {:.0} simulated operations per real second, {:.1} simulated seconds per real second ({} runs in {:.1} s)",
        operations as f64 / seconds,
        simulated_ms as f64 / 1_000.0 / seconds,
        args.scenarios.len() as u64 * args.seeds,
        seconds
    );
    if failed > 0 {
        println!("{failed} runs broke an invariant");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
