//! Runs the checker on one configuration and reports (SPEC.md "Model checking").

use std::time::Instant;

use stateright::{Checker, Expectation, HasDiscoveries, Model};

use crate::config::ModelConfig;
use crate::model::VaultModel;
use crate::replicated::ReplicatedModel;

/// Search order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// Breadth first (shortest counterexamples, more memory).
    Bfs,
    /// Depth first (little memory).
    Dfs,
}

/// The verdict on one property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The property's name.
    pub name: &'static str,
    /// True for `always` and `eventually` properties (a discovery is a counterexample), false
    /// for `sometimes`.
    pub safety: bool,
    /// Whether the checker found a discovery (a counterexample for `always`, an example for
    /// `sometimes`).
    pub discovered: bool,
    /// The discovery's trace, one step per line.
    pub trace: Option<String>,
}

impl Verdict {
    /// Whether the result is the one the protocol wants (no counterexample; an example found).
    pub fn as_expected(&self) -> bool {
        self.safety != self.discovered
    }

    /// The verdict in words.
    pub fn describe(&self) -> &'static str {
        match (self.safety, self.discovered) {
            (true, false) => "holds",
            (true, true) => "VIOLATED",
            (false, true) => "example found",
            (false, false) => "NO EXAMPLE",
        }
    }
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The configuration's name (with the broken variant, if any).
    pub config: String,
    /// Search order.
    pub search: Search,
    /// States generated (with repeats).
    pub states: usize,
    /// Distinct states.
    pub unique_states: usize,
    /// Deepest path.
    pub max_depth: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Peak resident memory of the process (VmHWM), in MiB, if readable.
    pub peak_mib: Option<f64>,
    /// Per property, in the model's order.
    pub verdicts: Vec<Verdict>,
}

/// Checks `config` exhaustively with `threads` worker threads.
pub fn check(config: ModelConfig, search: Search, threads: usize) -> Report {
    check_bounded(config, search, threads, None)
}

/// Like [`check`], but stops after about `max_states` states when given (the report is then
/// partial: a property that "holds" was only checked on the states visited).
pub fn check_bounded(
    config: ModelConfig,
    search: Search,
    threads: usize,
    max_states: Option<usize>,
) -> Report {
    let name = match config.broken {
        Some(b) => format!("{} --broken {b}", config.name),
        None => config.name.to_string(),
    };
    let started = Instant::now();
    // A broken variant only has to be refuted: stop at the first counterexample.
    let stop_at_failure = config.broken.is_some();
    let mut report = match ReplicatedModel::new(config.clone()) {
        Some(model) => run_model(model, search, threads, max_states, stop_at_failure),
        None => run_model(
            VaultModel::new(config),
            search,
            threads,
            max_states,
            stop_at_failure,
        ),
    };
    report.seconds = started.elapsed().as_secs_f64();
    report.config = name;
    report.search = search;
    report
}

fn run_model<M>(
    model: M,
    search: Search,
    threads: usize,
    max_states: Option<usize>,
    stop_at_failure: bool,
) -> Report
where
    M: Model + Clone + Send + Sync + 'static,
    M::State: Clone + std::fmt::Debug + std::hash::Hash + PartialEq + Send + Sync,
    M::Action: Clone + std::fmt::Debug + PartialEq + Send + Sync,
{
    let mut builder = model.clone().checker().threads(threads);
    if let Some(max) = max_states {
        builder = builder.target_state_count(max);
    }
    if stop_at_failure {
        builder = builder.finish_when(HasDiscoveries::AnyFailures);
    }
    match search {
        Search::Bfs => collect(&model, builder.spawn_bfs().join()),
        Search::Dfs => collect(&model, builder.spawn_dfs().join()),
    }
}

fn collect<M: Model>(model: &M, checker: impl Checker<M>) -> Report
where
    M::State: Clone + std::fmt::Debug + std::hash::Hash + PartialEq,
    M::Action: Clone + std::fmt::Debug + PartialEq,
{
    let verdicts = model
        .properties()
        .iter()
        .map(|p| {
            let path = checker.discovery(p.name);
            Verdict {
                name: p.name,
                safety: !matches!(p.expectation, Expectation::Sometimes),
                discovered: path.is_some(),
                trace: path.map(|path| {
                    path.into_actions()
                        .iter()
                        .enumerate()
                        .map(|(i, a)| format!("  {:>3}. {}", i + 1, model.format_action(a)))
                        .collect::<Vec<_>>()
                        .join("\n")
                }),
            }
        })
        .collect();
    Report {
        config: String::new(),
        search: Search::Dfs,
        states: checker.state_count(),
        unique_states: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        seconds: 0.0,
        peak_mib: peak_mib(),
        verdicts,
    }
}

/// Peak resident memory (VmHWM from /proc/self/status), in MiB.
pub fn peak_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Prints a report; counterexample traces of violated `always` properties are printed in full.
pub fn print(report: &Report) {
    println!(
        "config {} ({:?}): {} states, {} unique, depth {}, {:.2} s, peak {}",
        report.config,
        report.search,
        report.states,
        report.unique_states,
        report.max_depth,
        report.seconds,
        report
            .peak_mib
            .map_or("n/a".to_string(), |m| format!("{m:.0} MiB"))
    );
    for v in &report.verdicts {
        let mark = if v.as_expected() { "ok  " } else { "FAIL" };
        println!("  {mark} {:<15} {}", v.describe(), v.name);
        if v.safety
            && let Some(trace) = &v.trace
        {
            println!(
                "  counterexample ({} steps):\n{trace}",
                trace.lines().count()
            );
        }
    }
}
