//! What the simulator's test files share: the lite configuration of a seed, the text a failed
//! assertion prints, and whether a run reported an invariant.

use e2ee_backup_sim::{RunResult, Scenario, SimConfig, TrustMode, replay_command};

/// Seed `seed` of `scenario` in the lite world: durable, correct build, default workload.
pub fn lite(scenario: Scenario, seed: u64) -> SimConfig {
    SimConfig {
        scenario,
        seed,
        lite: true,
        broken: None,
        trust: TrustMode::Durable,
        victims_log_in: false,
    }
}

/// The replay command and every violation of `result`, for a failed assertion.
pub fn describe(result: &RunResult) -> String {
    let mut out = format!("replay: {}\n", replay_command(&result.config));
    for violation in &result.violations {
        out.push_str(&format!(
            "  {} at {} ms: {}\n",
            violation.invariant, violation.time_ms, violation.detail
        ));
    }
    out
}

/// True if `result` reported at least one violation of `invariant`.
pub fn reports(result: &RunResult, invariant: &str) -> bool {
    result.violations.iter().any(|v| v.invariant == invariant)
}
