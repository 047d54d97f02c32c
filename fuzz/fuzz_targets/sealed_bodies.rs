//! The sealed bodies: `Request` (decoded by the vault after the HPKE open) and `Reply` (decoded
//! by the client after the reply open). A malicious client or a compromised vault chooses these
//! bytes freely. Properties: `e2ee_backup_fuzz::check_codec`.
#![no_main]

use e2ee_backup::wire::{Reply, Request};
use e2ee_backup_fuzz::check_codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_codec("Request", data, Request::decode, Request::encode);
    check_codec("Reply", data, Reply::decode, Reply::encode);
});
