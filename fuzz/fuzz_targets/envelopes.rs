//! The four envelopes a relay, a client or a vault decodes from a peer: `ClientRequest`,
//! `ClientReply`, `VaultRequest`, `VaultReply`. Every decoder sees the same bytes; none may
//! panic, and a successful decode must re-encode to exactly the input (one encoding per message).
#![no_main]

use e2ee_backup::wire::{ClientReply, ClientRequest, VaultReply, VaultRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = ClientRequest::decode(data) {
        assert_eq!(m.encode(), data, "ClientRequest re-encodes to its input");
    }
    if let Ok(m) = ClientReply::decode(data) {
        assert_eq!(m.encode(), data, "ClientReply re-encodes to its input");
    }
    if let Ok(m) = VaultRequest::decode(data) {
        assert_eq!(m.encode(), data, "VaultRequest re-encodes to its input");
    }
    if let Ok(m) = VaultReply::decode(data) {
        assert_eq!(m.encode(), data, "VaultReply re-encodes to its input");
    }
});
