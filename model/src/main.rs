//! `cargo run --release -p e2ee-backup-model`: the project's main job.
//!
//! The stateright model checker lands here (it will check INV-ATTEMPTS, INV-DISCLOSE and
//! INV-LINEAR on the real state machines). Until then this binary runs a self-check of what the
//! core already does: the streaming backup cipher, the recovery key, and one register → back up →
//! recover → restore round trip through the vault roles with the production (Argon2id) suite.

mod selfcheck;

use std::process::ExitCode;

fn main() -> ExitCode {
    println!("e2ee-backup {}: self-check", env!("CARGO_PKG_VERSION"));
    println!(
        "(the model checker is not built yet; this checks the stream cipher, the recovery key and the vault round trip)"
    );
    let results = selfcheck::run_all();
    let failed = results.iter().filter(|r| r.outcome.is_err()).count();
    for r in &results {
        match &r.outcome {
            Ok(detail) => println!("  ok    {:<44} {detail}", r.name),
            Err(why) => println!("  FAIL  {:<44} {why}", r.name),
        }
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
