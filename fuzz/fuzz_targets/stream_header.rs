//! The 80-byte cleartext header of a backup stream, read from an untrusted cloud store. No
//! panic; a successful decode re-encodes to exactly the input.
#![no_main]

use e2ee_backup::stream::Header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = Header::decode(data) {
        assert_eq!(
            header.encode().as_slice(),
            data,
            "Header re-encodes to its input"
        );
    }
});
