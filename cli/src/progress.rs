//! Progress on stderr: an indicatif bar (bytes, rate, ETA) on a terminal, plain lines otherwise,
//! and the interrupt flag set by SIGINT, SIGTERM and SIGHUP.

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Seconds between two plain progress lines.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// Set when a stop signal arrived; long loops check it and unwind, removing what they wrote.
#[derive(Clone, Debug, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// Registers SIGINT, SIGTERM and SIGHUP: the first sets the flag, a second one exits at once.
    pub fn install() -> io::Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ] {
            signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag))?;
            signal_hook::flag::register(signal, Arc::clone(&flag))?;
        }
        Ok(Self(flag))
    }

    /// Whether a stop signal arrived.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// An error to unwind with when the flag is set.
    pub fn check(&self) -> io::Result<()> {
        if self.is_set() {
            Err(io::Error::other(Interrupted))
        } else {
            Ok(())
        }
    }
}

/// The error a reader returns after a stop signal.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by a signal")]
pub struct Interrupted;

/// Reports bytes done out of a known total.
pub struct Progress {
    label: &'static str,
    total: u64,
    done: u64,
    bar: Option<ProgressBar>,
    plain: bool,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    /// A bar when stderr is a terminal, plain lines every 10 s otherwise, nothing when `quiet`.
    pub fn new(label: &'static str, total: u64, quiet: bool) -> Self {
        let terminal = io::stderr().is_terminal();
        let bar = (terminal && !quiet).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{msg} {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(label);
            bar
        });
        let now = Instant::now();
        Self {
            label,
            total,
            done: 0,
            bar,
            plain: !terminal && !quiet,
            started: now,
            last_line: now,
        }
    }

    /// `n` more bytes done.
    pub fn add(&mut self, n: u64) {
        self.done = self.done.saturating_add(n);
        if let Some(bar) = &self.bar {
            bar.inc(n);
        } else if self.plain && self.last_line.elapsed() >= PLAIN_EVERY {
            self.last_line = Instant::now();
            let secs = self.started.elapsed().as_secs_f64().max(1e-3);
            let rate = self.done as f64 / secs;
            let eta = if rate > 0.0 {
                format!(
                    ", ETA {:.0} s",
                    self.total.saturating_sub(self.done) as f64 / rate
                )
            } else {
                String::new()
            };
            let pct = if self.total == 0 {
                100.0
            } else {
                self.done as f64 * 100.0 / self.total as f64
            };
            let _ = writeln!(
                io::stderr(),
                "{}: {} of {} ({pct:.0}%), {}/s{eta}",
                self.label,
                bytes(self.done),
                bytes(self.total),
                bytes(rate as u64)
            );
        }
    }

    /// Seconds since the start.
    pub fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `1.5 MiB`-style sizes.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
