//! The sealed bodies: `Request` (decoded by the vault after the HPKE open) and `Reply` (decoded
//! by the client after the reply open). A malicious client or a compromised vault chooses these
//! bytes freely. No panic; a successful decode re-encodes to exactly the input (a padded reply:
//! to a padded encoding that decodes to the same reply, for every request kind).
#![no_main]

use e2ee_backup::wire::{Reply, Request, RequestKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Request::decode(data) {
        assert_eq!(m.encode(), data, "Request re-encodes to its input");
    }
    if let Ok(m) = Reply::decode(data) {
        assert_eq!(m.encode(), data, "Reply re-encodes to its input");
    }
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
