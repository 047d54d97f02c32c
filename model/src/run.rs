//! Runs the checker on one configuration and reports (SPEC.md "Model checking").

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

use stateright::report::{ReportData, ReportDiscovery, Reporter};
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

    /// The verdict in words, for a complete run.
    pub fn describe(&self) -> &'static str {
        match (self.safety, self.discovered) {
            (true, false) => "holds",
            (true, true) => "VIOLATED",
            (false, true) => "example found",
            (false, false) => "NO EXAMPLE",
        }
    }

    /// The verdict in words; a bounded run never says "holds" or "no example" of a property it
    /// could not finish.
    pub fn describe_in(&self, bounded: Option<usize>) -> String {
        match (bounded, self.discovered) {
            (Some(states), false) if self.safety => {
                format!("not violated in {states} states (bounded: not a proof)")
            }
            (Some(states), false) => format!("no example in {states} states (bounded)"),
            _ => self.describe().to_string(),
        }
    }
}

/// How to run the checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Search order.
    pub search: Search,
    /// Worker threads.
    pub threads: usize,
    /// Stop after about this many states (the run is then bounded).
    pub max_states: Option<usize>,
    /// Print progress to stderr every this many seconds (0: never).
    pub progress_secs: u64,
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
    /// Whether the run stopped at `--max-states` before exploring every state (its "holds"
    /// verdicts then cover only the states visited).
    pub bounded: bool,
    /// Whether the configuration had a broken variant, which must be refuted.
    pub broken: bool,
}

impl Report {
    /// Whether the run came out as the protocol wants: every property as expected; for a broken
    /// variant, at least one safety property refuted (the checker stops at the first one).
    pub fn as_expected(&self) -> bool {
        if self.broken {
            return self.verdicts.iter().any(|v| v.safety && v.discovered);
        }
        self.verdicts
            .iter()
            .all(|v| v.as_expected() || (self.bounded && !v.discovered))
    }
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
    check_with(
        config,
        &Options {
            search,
            threads,
            max_states,
            progress_secs: 0,
        },
    )
}

/// Checks `config` as `options` say.
pub fn check_with(config: ModelConfig, options: &Options) -> Report {
    let Options {
        search,
        threads,
        max_states,
        progress_secs,
    } = *options;
    let name = match config.broken {
        Some(b) => format!("{} --broken {b}", config.name),
        None => config.name.to_string(),
    };
    let started = Instant::now();
    // A broken variant only has to be refuted: stop at the first counterexample.
    let broken = config.broken.is_some();
    let run = Run {
        search,
        threads,
        max_states,
        stop_at_failure: broken,
        progress: (progress_secs > 0).then(|| Duration::from_secs(progress_secs)),
    };
    let mut report = match ReplicatedModel::new(config.clone()) {
        Some(model) => run_model(model, &run),
        None => run_model(VaultModel::new(config), &run),
    };
    report.seconds = started.elapsed().as_secs_f64();
    report.config = name;
    report.search = search;
    report.broken = broken;
    // Stopped by the state target, not by exploring everything (nor by a refutation).
    let refuted = report.verdicts.iter().any(|v| v.safety && v.discovered);
    report.bounded = max_states.is_some_and(|max| report.states >= max) && !(broken && refuted);
    report
}

struct Run {
    search: Search,
    threads: usize,
    max_states: Option<usize>,
    stop_at_failure: bool,
    progress: Option<Duration>,
}

/// How often the reporter looks whether the check is done (stateright's `report` sleeps this
/// long between looks, so it bounds how long a finished check waits).
const PROGRESS_POLL: Duration = Duration::from_millis(50);

/// Prints the checker's progress to stderr at a fixed interval.
struct Progress {
    every: Duration,
    printed: Duration,
}

impl<M: Model> Reporter<M> for Progress {
    fn report_checking(&mut self, data: ReportData) {
        if !data.done && data.duration >= self.printed + self.every {
            self.printed = data.duration;
            eprintln!(
                "  checking: {} states, {} unique, depth {}, {} s",
                data.total_states,
                data.unique_states,
                data.max_depth,
                data.duration.as_secs()
            );
        }
    }

    fn report_discoveries(&mut self, _: &M, _: BTreeMap<&'static str, ReportDiscovery<M>>)
    where
        M::Action: Debug + PartialEq,
        M::State: Debug + Hash + PartialEq,
    {
    }

    fn delay(&self) -> Duration {
        PROGRESS_POLL.min(self.every)
    }
}

fn finish<M, C>(model: &M, checker: C, progress: Option<Duration>) -> Report
where
    M: Model,
    C: Checker<M>,
    M::State: Clone + Debug + Hash + PartialEq,
    M::Action: Clone + Debug + PartialEq,
{
    match progress {
        Some(every) => collect(
            model,
            checker.report(&mut Progress {
                every,
                printed: Duration::ZERO,
            }),
        ),
        None => collect(model, checker.join()),
    }
}

fn run_model<M>(model: M, run: &Run) -> Report
where
    M: Model + Clone + Send + Sync + 'static,
    M::State: Clone + Debug + Hash + PartialEq + Send + Sync,
    M::Action: Clone + Debug + PartialEq + Send + Sync,
{
    let mut builder = model.clone().checker().threads(run.threads);
    if let Some(max) = run.max_states {
        builder = builder.target_state_count(max);
    }
    if run.stop_at_failure {
        builder = builder.finish_when(HasDiscoveries::AnyFailures);
    }
    match run.search {
        Search::Bfs => finish(&model, builder.spawn_bfs(), run.progress),
        Search::Dfs => finish(&model, builder.spawn_dfs(), run.progress),
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
        bounded: false,
        broken: false,
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
        "config {} ({:?}{}): {} states, {} unique, depth {}, {:.2} s, peak {}",
        report.config,
        report.search,
        if report.bounded {
            ", BOUNDED: not a proof"
        } else {
            ""
        },
        report.states,
        report.unique_states,
        report.max_depth,
        report.seconds,
        report
            .peak_mib
            .map_or("n/a".to_string(), |m| format!("{m:.0} MiB"))
    );
    let bound = report.bounded.then_some(report.states);
    for v in &report.verdicts {
        let mark = match (v.as_expected(), bound) {
            (true, _) => "ok  ",
            (false, Some(_)) if !v.discovered => "----",
            (false, _) if report.broken && v.safety => "ok  ",
            (false, _) => "FAIL",
        };
        println!("  {mark} {:<15} {}", v.describe_in(bound), v.name);
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
