//! The persisted account record (the plaintext of a sealed record on disk, and the value inside
//! consensus messages). No panic; a successful decode re-encodes to exactly the input.
#![no_main]

use e2ee_backup::vault::AccountRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = AccountRecord::decode(data) {
        assert_eq!(
            record.encode(),
            data,
            "AccountRecord re-encodes to its input"
        );
    }
});
