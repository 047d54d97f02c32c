//! The replica wire: the `LinkEnvelope` a replica receives from the network, the consensus
//! message inside it, and a consensus durable write read back from disk. Properties:
//! `e2ee_backup_fuzz::check_codec`.
#![no_main]

use e2ee_backup::internal::vault::LinkEnvelope;
use e2ee_backup::internal::vault::replica_wire::{
    decode_replica_message, decode_replica_write, encode_replica_message, encode_replica_write,
};
use e2ee_backup_fuzz::check_codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_codec(
        "LinkEnvelope",
        data,
        LinkEnvelope::decode,
        LinkEnvelope::encode,
    );
    check_codec(
        "replica message",
        data,
        decode_replica_message,
        encode_replica_message,
    );
    check_codec(
        "durable write",
        data,
        decode_replica_write,
        encode_replica_write,
    );
});
