//! The 80-byte cleartext header of a backup stream, read from an untrusted cloud store.
//! Properties: `e2ee_backup_fuzz::check_codec`.
#![no_main]

use e2ee_backup::internal::stream::Header;
use e2ee_backup_fuzz::check_codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_codec("Header", data, Header::decode, |h: &Header| {
        h.encode().to_vec()
    });
});
