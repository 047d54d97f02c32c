//! Deterministic simulator for the e2ee-backup vault (SPEC.md "Simulation"), in the style of
//! FoundationDB's simulation and TigerBeetle's VOPR: one `u64` seed drives the network, the
//! faults, the clocks and the workload; the real protocol code and real cryptography run
//! (`InsecureFastSuite`: cheap key stretching, never for production); checkers outside the
//! protocol judge every run; the same seed gives a byte-identical trace.

pub mod checkers;
pub mod consensus_counts;
pub mod events;
pub mod faults;
pub mod latency;
pub mod network;
pub mod report;
pub mod seed;
pub mod time;
pub mod trace;
pub mod vault_node;
pub mod workload;
pub mod world;

pub use consensus_counts::ConsensusCounts;
pub use faults::Scenario;
pub use vault_node::TrustMode;
pub use world::{Broken, RunResult, SimConfig, run};

/// The command that replays `config`.
pub fn replay_command(config: &SimConfig) -> String {
    let mut command = format!(
        "cargo run --release -p e2ee-backup-sim -- --scenario {} --seed {}",
        config.scenario.name(),
        config.seed
    );
    if config.lite {
        command.push_str(" --lite");
    }
    if let Some(broken) = config.broken {
        command.push_str(" --broken ");
        command.push_str(broken.name());
    }
    if config.victims_log_in {
        command.push_str(" --victims-log-in");
    }
    if config.trust != TrustMode::Durable {
        command.push_str(" --trust ");
        command.push_str(config.trust.name());
    }
    command
}
