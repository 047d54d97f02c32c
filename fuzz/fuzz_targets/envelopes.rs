//! The four envelopes a relay, a client or a vault decodes from a peer: `ClientRequest`,
//! `ClientReply`, `VaultRequest`, `VaultReply`. Every decoder sees the same bytes; see
//! `e2ee_backup_fuzz::check_codec` for the properties checked.
#![no_main]

use e2ee_backup::internal::wire::{ClientReply, ClientRequest, VaultReply, VaultRequest};
use e2ee_backup_fuzz::check_codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_codec(
        "ClientRequest",
        data,
        ClientRequest::decode,
        ClientRequest::encode,
    );
    check_codec(
        "ClientReply",
        data,
        ClientReply::decode,
        ClientReply::encode,
    );
    check_codec(
        "VaultRequest",
        data,
        VaultRequest::decode,
        VaultRequest::encode,
    );
    check_codec("VaultReply", data, VaultReply::decode, VaultReply::encode);
});
