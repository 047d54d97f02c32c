//! The model checker over the REPLICATED vault (three replicas, per-account CASPaxos): pinned
//! state counts, the `sometimes` discoveries, the broken variants refuted with a
//! counterexample (SPEC.md "Model checking", "Replicated vault").

use e2ee_backup_model::config::{Broken, ModelConfig};
use e2ee_backup_model::properties::{
    AMNESIAC_RECOVERS, ATTEMPT_LIMIT_REACHED, COMPLETES_AFTER_CRASH, COMPLETES_WHILE_DOWN,
    INV_ATTEMPTS, INV_DISCLOSE, INV_DURABLE, INV_LINEAR, INV_REGENESIS, LINEAR_HISTORY,
    LOCKOUT_HAPPENS, LOCKOUT_PERMANENT, RECOVERS_AFTER_ROLLBACK, RECOVERY_SUCCEEDS,
    REGENESIS_HAPPENS, REPLICA_RESTARTS, ROLLBACK_HAPPENS, SCRIPTS_END, SKIPS_PREPARE,
};
use e2ee_backup_model::replicated::spec::{AccountSpec, SpecOp, SpecRet};
use e2ee_backup_model::run::{Report, Search, Verdict, check};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};

/// Deepest path of `r3-tiny` (DFS).
const R3_TINY_DEPTH: usize = 48;
/// Unique states of `r3-oracle` (DFS).
const R3_ORACLE_UNIQUE: usize = 26_843;
const R3_ATTACKER_UNIQUE: usize = 116_267;
/// Unique states of `r3-regenesis` (DFS, exhaustive).
const R3_REGENESIS_UNIQUE: usize = 1_548_961;
/// Unique states of `r3-regenesis-survivable` (DFS, exhaustive).
const R3_REGENESIS_SURVIVABLE_UNIQUE: usize = 138_719;
/// Unique states of `r3-skip-prepare` (DFS, exhaustive; `r3-no-crash` without skip-Prepare:
/// 676,400).
const R3_SKIP_PREPARE_UNIQUE: usize = 89_950;
/// Unique states of `r3-skip-prepare-crash` (DFS, exhaustive).
const R3_SKIP_PREPARE_CRASH_UNIQUE: usize = 21_451;
/// Unique states of `r3-amnesia` (DFS, exhaustive: 97,811,091 states, depth 156, 1,570 s on one
/// thread of the 2-core VM, 639 MiB peak; 2026-12-04).
const R3_AMNESIA_UNIQUE: usize = 33_257_971;

fn named(name: &str) -> ModelConfig {
    ModelConfig::named(name).expect("a predefined configuration")
}

fn verdict<'a>(report: &'a Report, name: &str) -> &'a Verdict {
    report
        .verdicts
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("{name} is checked"))
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

/// Checks `name` exhaustively (DFS, 2 threads): exactly `unique` states, every verdict as
/// expected, every property of `found` discovered and none of `never`.
fn check_exhaustively(name: &str, unique: usize, found: &[&str], never: &[&str]) {
    let report = check(named(name), Search::Dfs, 2);
    assert_eq!(report.unique_states, unique, "{name}");
    assert_all_as_expected(&report);
    for example in found {
        assert!(
            verdict(&report, example).discovered,
            "{name}: {example} never happens"
        );
    }
    for safety in never {
        assert!(
            !verdict(&report, safety).discovered,
            "{name}: {safety} has a counterexample"
        );
    }
}

#[test]
fn tiny_replicated_config_explores_a_pinned_number_of_states_in_dfs_and_bfs() {
    let dfs = check(named("r3-tiny"), Search::Dfs, 1);
    let bfs = check(named("r3-tiny"), Search::Bfs, 1);
    // v1: 830 unique, depth 38; v2 adds a `Status` before the login.
    assert_eq!(dfs.unique_states, 1_456);
    assert_eq!(bfs.unique_states, 1_456);
    assert_eq!(dfs.max_depth, R3_TINY_DEPTH);
    assert_all_as_expected(&dfs);
    assert_all_as_expected(&bfs);
}

#[test]
fn owner_recovers_through_three_replicas_with_a_crash_and_every_invariant_holds() {
    let report = check(named("r3-owner-crash"), Search::Dfs, 2);
    // v1: 8,565.
    assert_eq!(report.unique_states, 16_199);
    assert_all_as_expected(&report);
    for safety in [
        INV_ATTEMPTS,
        INV_DISCLOSE,
        LOCKOUT_PERMANENT,
        INV_LINEAR,
        INV_DURABLE,
        SCRIPTS_END,
    ] {
        assert!(
            !verdict(&report, safety).discovered,
            "{safety} has a counterexample"
        );
    }
    for example in [
        ATTEMPT_LIMIT_REACHED,
        RECOVERY_SUCCEEDS,
        LINEAR_HISTORY,
        REPLICA_RESTARTS,
        COMPLETES_AFTER_CRASH,
        COMPLETES_WHILE_DOWN,
    ] {
        assert!(
            verdict(&report, example).discovered,
            "{example} never happens"
        );
    }
}

#[test]
fn attacker_through_three_replicas_with_a_crash_is_locked_out_and_never_exceeds_the_limit() {
    let report = check(named("r3-attacker"), Search::Dfs, 2);
    // v1 15,890 → v2 86,505 (every wrong guess also sends its dummy LoginFinish); rollback
    // detection (a crash between two durable writes of one step makes that replica an
    // amnesiac) changes it again: re-pinned after the merge.
    assert_eq!(report.unique_states, R3_ATTACKER_UNIQUE);
    assert_all_as_expected(&report);
    assert!(verdict(&report, LOCKOUT_HAPPENS).discovered);
    assert!(verdict(&report, ATTEMPT_LIMIT_REACHED).discovered);
    assert!(!verdict(&report, INV_ATTEMPTS).discovered);
    assert!(!verdict(&report, LOCKOUT_PERMANENT).discovered);
}

#[test]
fn quorum_too_small_is_refuted_with_a_trace() {
    let broken = named("r3-no-crash").with_broken(Some(Broken::QuorumTooSmall));
    let report = check(broken, Search::Bfs, 2);
    let attempts = verdict(&report, INV_ATTEMPTS);
    assert!(attempts.discovered, "the broken quorum is not refuted");
    let trace = attempts.trace.as_deref().unwrap_or_default();
    assert!(
        trace.contains("LoginStart"),
        "the counterexample logs in: {trace}"
    );
    // The same configuration with the correct quorum holds (see `default` for crashes).
    let correct = check(named("r3-no-crash"), Search::Dfs, 2);
    // v1: 42,425.
    assert_eq!(correct.unique_states, 676_400);
    assert_all_as_expected(&correct);
}

#[test]
fn register_start_probes_through_three_replicas_test_no_password_on_the_correct_vault() {
    let report = check(named("r3-oracle"), Search::Dfs, 2);
    assert_eq!(report.unique_states, R3_ORACLE_UNIQUE);
    assert_all_as_expected(&report);
    assert!(!verdict(&report, INV_ATTEMPTS).discovered);
    assert!(verdict(&report, LOCKOUT_HAPPENS).discovered);
}

#[test]
fn shared_oprf_key_through_three_replicas_is_refuted_with_a_trace() {
    let broken = named("r3-oracle").with_broken(Some(Broken::SharedOprfKey));
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
fn owner_recovers_through_a_rolled_back_replica_and_every_invariant_holds_exhaustively() {
    // Exhaustive: one disk copy after registration, one rollback at any point, one crash.
    check_exhaustively(
        "r3-rollback-owner",
        510_511,
        &[ROLLBACK_HAPPENS, RECOVERS_AFTER_ROLLBACK, RECOVERY_SUCCEEDS],
        &[
            INV_ATTEMPTS,
            INV_DISCLOSE,
            INV_LINEAR,
            INV_DURABLE,
            SCRIPTS_END,
        ],
    );
}

#[test]
fn trusting_a_rolled_back_disk_is_refuted_with_a_trace() {
    let broken = named("r3-rollback").with_broken(Some(Broken::TrustHostDisk));
    // DFS: on vault v2 the shortest counterexample lies deeper (every login is three
    // requests), and BFS to it needs about 3 GB; DFS finds one in about 1.3 M unique states.
    let report = check(broken, Search::Dfs, 2);
    // The stale quorum undoes the lockout and hands the attacker more password tests: "lockout
    // is permanent" or the linearizability check refutes it (INV-ATTEMPTS's window is reset by
    // the stale record being chosen again with no attempt used, so it alone does not see it).
    let refuted = [LOCKOUT_PERMANENT, INV_LINEAR]
        .into_iter()
        .map(|name| verdict(&report, name))
        .find(|v| v.discovered)
        .expect("the trusted disk is not refuted");
    let trace = refuted.trace.as_deref().unwrap_or_default();
    assert!(
        trace.contains("Rollback"),
        "the counterexample rolls back: {trace}"
    );
    assert!(
        trace.contains("LoginStart"),
        "and the attacker guesses: {trace}"
    );
}

#[test]
fn broken_variants_have_distinct_command_line_names() {
    assert_eq!(
        Broken::from_name("quorum-too-small"),
        Some(Broken::QuorumTooSmall)
    );
    assert_eq!(
        Broken::from_name("reply-before-persist"),
        Some(Broken::ReplyBeforePersist)
    );
    assert_eq!(
        Broken::from_name("shared-oprf-key"),
        Some(Broken::SharedOprfKey)
    );
    assert_eq!(
        Broken::from_name("trust-host-disk"),
        Some(Broken::TrustHostDisk)
    );
}

#[test]
fn linearizability_spec_rejects_a_second_challenge_beyond_the_limit_unless_a_login_succeeded() {
    let start = |login| SpecOp::LoginStart { login };
    let challenge = SpecRet::Challenge { remaining: 0 };
    let mut two_guesses = LinearizabilityTester::new(AccountSpec::new(1));
    two_guesses
        .on_invoke((0, 0), start((0, 0)))
        .and_then(|t| t.on_return((0, 0), challenge.clone()))
        .and_then(|t| t.on_invoke((1, 0), start((1, 0))))
        .and_then(|t| t.on_return((1, 0), challenge.clone()))
        .expect("a well-formed history");
    assert!(!two_guesses.is_consistent());

    let mut owner_between = LinearizabilityTester::new(AccountSpec::new(1));
    owner_between
        .on_invoke((0, 0), start((0, 0)))
        .and_then(|t| t.on_return((0, 0), challenge.clone()))
        .and_then(|t| {
            t.on_invoke(
                (0, 2),
                SpecOp::LoginFinish {
                    login: (0, 0),
                    verified: true,
                },
            )
        })
        .and_then(|t| t.on_invoke((1, 0), start((1, 0))))
        .and_then(|t| t.on_return((1, 0), challenge.clone()))
        .expect("a well-formed history");
    // The owner's finish never returned, but it may have taken effect before the second login.
    assert!(owner_between.is_consistent());
}

#[test]
fn a_group_with_a_majority_impaired_refounds_itself_and_every_invariant_holds_exhaustively() {
    // Replicas 1 and 2 lose their disks right after the registration; re-genesis is on.
    check_exhaustively(
        "r3-regenesis",
        R3_REGENESIS_UNIQUE,
        &[REGENESIS_HAPPENS],
        &[INV_ATTEMPTS, INV_DISCLOSE, INV_LINEAR, INV_REGENESIS],
    );
}

#[test]
fn a_survivable_failure_never_refounds_and_the_owner_recovers_exhaustively() {
    // One replica impaired and one down with its disk: censuses run, none may give up.
    check_exhaustively(
        "r3-regenesis-survivable",
        R3_REGENESIS_SURVIVABLE_UNIQUE,
        &[RECOVERY_SUCCEEDS],
        &[INV_REGENESIS, INV_DURABLE],
    );
}

#[test]
fn a_census_one_short_of_a_quorum_is_refuted_with_a_trace() {
    let broken = named("r3-regenesis-survivable").with_broken(Some(Broken::CensusQuorumTooSmall));
    let report = check(broken, Search::Dfs, 2);
    let regenesis = verdict(&report, INV_REGENESIS);
    assert!(regenesis.discovered, "the broken census is not refuted");
    let trace = regenesis.trace.as_deref().unwrap_or_default();
    assert!(trace.contains("CensusStillFrozen"), "{trace}");
}

#[test]
fn skip_prepare_through_three_replicas_holds_exhaustively_and_skips_phase_one() {
    for (name, unique) in [
        ("r3-skip-prepare", R3_SKIP_PREPARE_UNIQUE),
        ("r3-skip-prepare-crash", R3_SKIP_PREPARE_CRASH_UNIQUE),
    ] {
        check_exhaustively(
            name,
            unique,
            &[SKIPS_PREPARE],
            &[INV_ATTEMPTS, INV_DISCLOSE, INV_LINEAR, INV_DURABLE],
        );
    }
}

#[test]
#[ignore = "about 26 minutes of one core: cargo test --release -p e2ee-backup-model --test replicated_model_checker -- --ignored"]
fn a_replica_that_loses_its_disk_holds_every_invariant_exhaustively() {
    // r3-amnesia: as `default` (the owner recovers, the attacker guesses once, one replica
    // crashes), and the crashed replica may come back without its disk (it fences and catches
    // up before it votes). Too long for CI; the count is pinned here and in README.md.
    check_exhaustively(
        "r3-amnesia",
        R3_AMNESIA_UNIQUE,
        &[AMNESIAC_RECOVERS],
        &[INV_ATTEMPTS, INV_DISCLOSE, INV_LINEAR, INV_DURABLE],
    );
}
