//! `e2ee-backup-sim`: runs scenarios over seeds and prints each run's seed, fault mix and trace
//! hash, every violation with the exact command that replays it, the report table and the
//! simulator's speed. Exits non-zero if any run broke an invariant.
//!
//! `cargo run --release -p e2ee-backup-sim -- --scenario NAME|all --seed N --seeds N [--lite]
//! [--broken reply-before-persist|shared-oprf-key|trust-host-disk|reply-before-persist-trusting-disk|unsealed-links|
//!           quorum-too-small|ignore-accepted-values|skip-recovery|skip-fence|unkept-next-promise|
//!           establish-epoch-without-quorum|ack-before-floor-durable|use-unreserved-counter|
//!           vote-while-recovering]
//! [--trust durable|volatile] [--victims-log-in] [--jobs N] [--quiet]`
//!
//! Runs are independent (each is a function of its configuration), so `--jobs` runs that many
//! at once on their own threads; the output is printed in (scenario, seed) order whatever the
//! number of jobs, so it is the same text apart from the timings.
//!
//! `--scenario all` runs [`Scenario::ALL`]; `byzantine-replica` (beyond the design) runs only
//! by name.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use clap::Parser;
use e2ee_backup_sim::report::Report;
use e2ee_backup_sim::trace::to_hex;
use e2ee_backup_sim::{Broken, Scenario, SimConfig, TrustMode, replay_command, run};

/// The deterministic simulator of the e2ee-backup vault: one seed drives a world of five
/// datacenters, replica groups, relays, users and attackers, with faults; checkers outside the
/// protocol count every password test and key release. Exit codes: 0 no run broke an invariant;
/// 1 some run did (each printed with its replay command); 2 a usage error.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// The scenario to run, or `all`.
    #[arg(long, default_value = "all", value_parser = scenarios)]
    scenario: ScenarioList,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many seeds per scenario, from `--seed` on.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// A smaller world (fewer users and accounts), for quick and long runs.
    #[arg(long)]
    lite: bool,
    /// A deliberately broken variant that the checkers must catch.
    #[arg(long, value_parser = broken)]
    broken: Option<Broken>,
    /// Durable mode (each replica's HSM keeps a trusted cell; restarts trust a disk it vouches
    /// for) or volatile mode (no trusted state: every start is an amnesia recovery).
    #[arg(long, default_value = "durable", value_parser = trust)]
    trust: TrustMode,
    /// Victims also recover with their own password (twice) while the attackers guess (owner
    /// logins and resets race with the guesses; not in the default workload).
    #[arg(long)]
    victims_log_in: bool,
    /// Print only the runs that broke an invariant, and the report.
    #[arg(long)]
    quiet: bool,
    /// Runs at once, each on its own thread (default: the machine's cores).
    #[arg(long)]
    jobs: Option<NonZeroUsize>,
}

/// The scenarios one `--scenario` value names.
#[derive(Clone, Debug)]
struct ScenarioList(Vec<Scenario>);

fn scenarios(name: &str) -> Result<ScenarioList, String> {
    if name == "all" {
        return Ok(ScenarioList(Scenario::ALL.to_vec()));
    }
    Scenario::from_name(name)
        .map(|s| ScenarioList(vec![s]))
        .ok_or_else(|| {
            let names: Vec<_> = Scenario::ALL
                .iter()
                .chain(Scenario::BEYOND_DESIGN.iter())
                .map(|s| s.name())
                .collect();
            format!("unknown scenario {name}; known: all, {}", names.join(", "))
        })
}

fn broken(name: &str) -> Result<Broken, String> {
    Broken::from_name(name).ok_or_else(|| {
        let names: Vec<_> = Broken::ALL.iter().map(|b| b.name()).collect();
        format!("unknown broken variant {name}; known: {}", names.join(", "))
    })
}

fn trust(name: &str) -> Result<TrustMode, String> {
    TrustMode::from_name(name).ok_or_else(|| {
        let names: Vec<_> = TrustMode::ALL.iter().map(|m| m.name()).collect();
        format!("unknown trust mode {name}; known: {}", names.join(", "))
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let scenarios = args.scenario.0.clone();
    let mut report = Report {
        mode: format!(
            "{}{}{}",
            args.trust.name(),
            args.broken
                .map(|b| format!(" `--broken {}`", b.name()))
                .unwrap_or_default(),
            if args.victims_log_in {
                " `--victims-log-in`"
            } else {
                ""
            }
        ),
        ..Report::default()
    };
    let mut failed = 0u64;
    let started = Instant::now();
    let (mut operations, mut simulated_ms) = (0u64, 0u64);
    let configs: Vec<SimConfig> = scenarios
        .iter()
        .flat_map(|scenario| {
            (args.seed..args.seed.saturating_add(args.seeds)).map(|seed| SimConfig {
                scenario: *scenario,
                seed,
                lite: args.lite,
                broken: args.broken,
                trust: args.trust,
                victims_log_in: args.victims_log_in,
            })
        })
        .collect();
    let jobs = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get)
        .min(configs.len().max(1));
    let next = AtomicUsize::new(0);
    let (results, finished) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let results = results.clone();
            let (next, configs) = (&next, &configs);
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(config) = configs.get(index) else {
                        return;
                    };
                    let run_started = Instant::now();
                    let result = run(*config);
                    let run_seconds = run_started.elapsed().as_secs_f64();
                    if results.send((index, result, run_seconds)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(results);
        // Print in configuration order as the runs come in.
        let mut waiting = BTreeMap::new();
        let mut printed = 0;
        for (index, result, run_seconds) in finished {
            waiting.insert(index, (result, run_seconds));
            while let Some((result, run_seconds)) = waiting.remove(&printed) {
                let config = configs[printed];
                printed += 1;
                operations += result.stats.attempted + result.stats.guesses;
                simulated_ms += result.simulated_ms;
                failed += u64::from(print_run(&config, &result, args.quiet));
                report.add(&result, run_seconds);
            }
        }
    });
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    println!();
    println!(
        "mode: {} ({}){}{}",
        args.trust.name(),
        match args.trust {
            TrustMode::Durable =>
                "trusted cell per replica; a restart trusts a disk it vouches for",
            TrustMode::Volatile => "no trusted state; every start is an amnesia recovery",
        },
        if args.lite { ", lite" } else { ", full size" },
        args.broken
            .map(|b| format!(", broken: {}", b.name()))
            .unwrap_or_default()
    );
    print!("{}", report.table());
    println!();
    println!("{}", e2ee_backup_sim::report::LATENCY_LEGEND);
    println!();
    print!("{}", report.latency_table());
    println!();
    for (scenario, row) in &report.rows {
        println!(
            "{}: INV-ATTEMPTS in {} runs; the oracle before issue 12 (reset at an accepted LoginFinish) in {} runs; {} committed resets learnt from a later login epoch (their release never sent)",
            scenario.name(),
            row.runs_by_kind
                .get(e2ee_backup_sim::checkers::INV_ATTEMPTS)
                .copied()
                .unwrap_or(0),
            row.legacy_attempt_runs,
            row.resets_seen_by_epoch
        );
        println!("{}: {}", scenario.name(), row.faults.line());
        println!("{}: {}", scenario.name(), row.retried_line(20));
    }
    println!();
    println!(
        "speed: {:.0} simulated operations per real second, {:.1} simulated seconds per real second ({} runs in {:.1} s)",
        operations as f64 / seconds,
        simulated_ms as f64 / 1_000.0 / seconds,
        configs.len(),
        seconds
    );
    if failed > 0 {
        println!("{failed} runs broke an invariant");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Prints one run as `main` reports it; returns whether it broke an invariant.
fn print_run(config: &SimConfig, result: &e2ee_backup_sim::RunResult, quiet: bool) -> bool {
    if !quiet || !result.violations.is_empty() {
        println!(
            "{} seed {}: trace {} events {} ops {}/{} granted {}/{} a1-broken-groups {} live-excused {} [{}]",
            config.scenario.name(),
            config.seed,
            to_hex(&result.trace_hash),
            result.events,
            result.stats.succeeded,
            result.stats.attempted,
            result.stats.granted_max,
            result.stats.granted_limit,
            result.stats.a1_groups,
            result.stats.live_excused,
            result.mix
        );
    }
    if result.violations.is_empty() {
        return false;
    }
    for violation in result.violations.iter().take(10) {
        println!(
            "  VIOLATION {} at {} ms: {}",
            violation.invariant, violation.time_ms, violation.detail
        );
    }
    if result.violations.len() > 10 {
        println!("  ... {} violations in all", result.violations.len());
    }
    println!("  replay: {}", replay_command(config));
    true
}
