//! The model checker over the real roles: pinned state counts, the `sometimes` discoveries, and
//! the broken variant refuted with a counterexample (SPEC.md "Model checking").

use e2ee_backup_model::config::{Broken, ModelConfig};
use e2ee_backup_model::properties::{
    ATTEMPT_LIMIT_REACHED, COMPLETES_AFTER_CRASH, INV_ATTEMPTS, INV_DISCLOSE, INV_DURABLE,
    LOCKOUT_HAPPENS, LOCKOUT_PERMANENT, RECOVERY_SUCCEEDS, RESTART_AFTER_ACK,
};
use e2ee_backup_model::run::{Report, Search, check};

/// Unique states of `oracle` (DFS).
/// Deepest path of `tiny` (DFS).
const TINY_DEPTH: usize = 19;
/// Unique states of `oracle` (DFS).
const ORACLE_UNIQUE: usize = 94_413;

fn named(name: &str) -> ModelConfig {
    ModelConfig::named(name).expect("a predefined configuration")
}

fn verdict<'a>(report: &'a Report, name: &str) -> &'a e2ee_backup_model::run::Verdict {
    report
        .verdicts
        .iter()
        .find(|v| v.name == name)
        .expect("the property is checked")
}

fn assert_all_as_expected(report: &Report) {
    for v in &report.verdicts {
        assert!(
            v.as_expected(),
            "{}: {} ({:?})",
            v.name,
            v.describe(),
            v.trace
        );
    }
}

#[test]
fn tiny_config_explores_a_pinned_number_of_states_in_dfs_and_bfs() {
    let dfs = check(named("tiny"), Search::Dfs, 1);
    let bfs = check(named("tiny"), Search::Bfs, 1);
    // v1: 294 unique, depth 11; v2 adds a `Status` before every login and a finish after a
    // wrong password.
    assert_eq!(dfs.unique_states, 1_203);
    assert_eq!(bfs.unique_states, 1_203);
    assert_eq!(dfs.max_depth, TINY_DEPTH);
}

#[test]
fn register_config_explores_a_pinned_number_of_states() {
    let report = check(named("register"), Search::Dfs, 2);
    // v1: 3,474.
    assert_eq!(report.unique_states, 7_246);
    assert_all_as_expected(&report);
}

#[test]
fn every_invariant_holds_and_every_sibling_is_discovered_on_the_tiny_config() {
    for search in [Search::Dfs, Search::Bfs] {
        let report = check(named("tiny"), search, 1);
        assert_all_as_expected(&report);
        for safety in [INV_ATTEMPTS, INV_DISCLOSE, LOCKOUT_PERMANENT, INV_DURABLE] {
            assert!(
                !verdict(&report, safety).discovered,
                "{safety} has a counterexample"
            );
        }
        for example in [
            ATTEMPT_LIMIT_REACHED,
            RECOVERY_SUCCEEDS,
            LOCKOUT_HAPPENS,
            RESTART_AFTER_ACK,
            COMPLETES_AFTER_CRASH,
        ] {
            assert!(
                verdict(&report, example).discovered,
                "{example} never happens"
            );
        }
    }
}

#[test]
fn host_that_replies_before_persisting_is_refuted_with_a_trace() {
    for config in ["tiny", "register"] {
        let broken = named(config).with_broken(Some(Broken::ReplyBeforePersist));
        let report = check(broken, Search::Bfs, 2);
        let attempts = verdict(&report, INV_ATTEMPTS);
        assert!(
            attempts.discovered,
            "{config}: the broken host is not refuted"
        );
        let trace = attempts.trace.as_deref().unwrap_or_default();
        assert!(
            trace.contains("DeliverThenCrash"),
            "the counterexample crashes: {trace}"
        );
        assert!(
            trace.contains("LoginStart"),
            "the counterexample logs in: {trace}"
        );
    }
}

#[test]
fn register_start_probes_test_no_password_on_the_correct_vault() {
    let report = check(named("oracle"), Search::Dfs, 2);
    assert_eq!(report.unique_states, ORACLE_UNIQUE);
    assert_all_as_expected(&report);
    assert!(!verdict(&report, INV_ATTEMPTS).discovered);
}

#[test]
fn shared_oprf_key_is_refuted_with_a_trace_of_register_start_probes() {
    let broken = named("oracle").with_broken(Some(Broken::SharedOprfKey));
    let report = check(broken, Search::Bfs, 2);
    let attempts = verdict(&report, INV_ATTEMPTS);
    assert!(attempts.discovered, "the shared OPRF key is not refuted");
    let trace = attempts.trace.as_deref().unwrap_or_default();
    assert!(
        trace.contains("RegisterStart"),
        "the counterexample probes with RegisterStart: {trace}"
    );
}

#[test]
fn broken_variant_names_round_trip_on_the_command_line() {
    for broken in Broken::ALL {
        assert_eq!(Broken::from_name(broken.name()), Some(broken));
    }
    assert_eq!(Broken::from_name("quorum-of-one"), None);
}
