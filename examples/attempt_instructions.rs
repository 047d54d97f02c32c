//! One password attempt's vault work, or opaque-ke's own `ServerLogin::start` + `finish`, run
//! `N` times, for instruction counts under `valgrind --tool=callgrind` (`benches/callgrind-attempt`
//! runs both and prints the counts per attempt and their ratio).
//!
//! ```text
//! cargo build --release --example attempt_instructions
//! valgrind --tool=callgrind --toggle-collect='*measured_*' \
//!     target/release/examples/attempt_instructions ours 20
//! ```
//!
//! Only the measured side's work is inside a `measured_*` function (callgrind collects only
//! there); the client's work and the message shuttling are outside. The code is
//! `e2ee_backup_testkit::attempt`, the same that `benches/vault.rs` times with criterion (counts
//! repeat on a busy machine; times do not).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup::internal::crypto::real::{InsecureFastFleetSecrets, InsecureFastSuite};
use e2ee_backup_testkit::attempt::{OpaqueAlone, Pair, fleet_id};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn fleet() -> InsecureFastFleetSecrets {
    InsecureFastFleetSecrets::generate(&mut ChaCha20Rng::seed_from_u64(7), fleet_id())
}

/// Registration is collected too; the script subtracts it with a run of 0 attempts.
fn ours(attempts: u32) {
    let mut pair = Pair::new(InsecureFastSuite, fleet());
    pair.register(b"pw");
    for _ in 0..attempts {
        pair.recover(b"pw");
    }
}

fn opaque_ke_alone(attempts: u32) {
    let fleet = fleet();
    let mut opaque = OpaqueAlone::new(fleet.opaque_server_setup());
    for _ in 0..attempts {
        opaque.attempt();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: attempt_instructions ours|opaque-ke ATTEMPTS";
    let (Some(which), Some(attempts)) = (args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let Ok(attempts) = attempts.parse::<u32>() else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    match which.as_str() {
        "ours" => ours(attempts),
        "opaque-ke" => opaque_ke_alone(attempts),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
