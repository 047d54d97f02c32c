//! Structured: replica 0 of a three-replica vault group (per-account consensus, insecure fast
//! suite), fed up to 64 inputs the fuzzer chooses: relay messages as in `vault_replica`, raw
//! replica bytes, any consensus-message plaintext sealed under the replica-link key as if from
//! a member (or a non-member) of the group, and timeouts. See `e2ee_backup_fuzz::Harness` for
//! the oracles.
#![no_main]

use e2ee_backup_fuzz::Harness;
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Harness::replicated().run(&mut Unstructured::new(data), |_| {});
});
