//! The persisted account record (the plaintext of a sealed record on disk, and the value inside
//! consensus messages). Properties: `e2ee_backup_fuzz::check_codec`.
#![no_main]

use e2ee_backup::internal::vault::AccountRecord;
use e2ee_backup_fuzz::check_codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_codec(
        "AccountRecord",
        data,
        AccountRecord::decode,
        AccountRecord::encode,
    );
});
