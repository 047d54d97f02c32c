//! The sealed bodies: `Request` (decoded by the vault after the HPKE open) and `Reply` (decoded
//! by the client after the reply open). A malicious client or a compromised vault chooses these
//! bytes freely. Properties: `e2ee_backup_fuzz::check_codec` for the unpadded codecs; a padded
//! reply (what the client actually decodes) never panics and re-encodes, for every request kind,
//! to a padded encoding that decodes to the same reply.
#![no_main]

use e2ee_backup::internal::wire::{Reply, Request, RequestKind};
use e2ee_backup_fuzz::check_codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_codec("Request", data, Request::decode, Request::encode);
    check_codec("Reply", data, Reply::decode, Reply::encode);
    if let Ok(m) = Reply::decode_padded(data) {
        for kind in RequestKind::ALL {
            assert_eq!(
                Reply::decode_padded(&m.encode_padded(kind)),
                Ok(m.clone()),
                "a padded Reply round-trips"
            );
        }
    }
});
