//! A bounded check never prints what only a full check may print (issue 12): a run cut short by
//! a state target is marked bounded, and no property it could not finish is reported as
//! holding or as having no example.

use e2ee_backup_model::config::ModelConfig;
use e2ee_backup_model::run::{Search, check, check_bounded};

#[test]
fn a_run_cut_short_is_bounded_and_says_not_a_proof() {
    let config = ModelConfig::named("single").expect("config");
    let report = check_bounded(config, Search::Dfs, 1, Some(1_000));
    assert!(report.bounded);
    for verdict in report.verdicts.iter().filter(|v| !v.discovered) {
        let words = verdict.describe_in(report.bounded.then_some(report.states));
        assert!(words.contains("bounded"), "{}: {words}", verdict.name);
        assert_ne!(words, "holds");
    }
}

#[test]
fn a_run_that_explores_everything_is_not_bounded() {
    let config = ModelConfig::named("tiny").expect("config");
    let report = check(config, Search::Dfs, 1);
    assert!(!report.bounded);
    assert!(report.as_expected());
    let config = ModelConfig::named("tiny").expect("config");
    // A target above the state space does not make the run bounded.
    let report = check_bounded(config, Search::Dfs, 1, Some(10_000_000));
    assert!(!report.bounded);
}
