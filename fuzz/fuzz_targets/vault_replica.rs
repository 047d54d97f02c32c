//! Structured: a single vault replica (insecure fast suite), with or without a registered
//! account restored from disk, fed up to 64 relay messages the fuzzer chooses: raw bytes, any
//! `Request` plaintext sealed to the fleet, and real captured traffic replayed with new routes
//! and accounts, or with one byte changed. See `e2ee_backup_fuzz::Harness` for the oracles; here
//! also INV-ATTEMPTS on the records (`Harness::check_records`).
#![no_main]

use e2ee_backup_fuzz::Harness;
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(registered) = u.arbitrary::<bool>() else {
        return;
    };
    let _ = Harness::single(registered).run(&mut u, Harness::check_records);
});
