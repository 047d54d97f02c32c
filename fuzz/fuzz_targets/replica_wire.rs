//! The replica wire: the `LinkEnvelope` a replica receives from the network, the consensus
//! message inside it, and a consensus durable write read back from disk. No panic; a
//! successful decode re-encodes to exactly the input.
#![no_main]

use e2ee_backup::vault::LinkEnvelope;
use e2ee_backup::vault::replica_wire::{
    decode_replica_message, decode_replica_write, encode_replica_message, encode_replica_write,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = LinkEnvelope::decode(data) {
        assert_eq!(m.encode(), data, "LinkEnvelope re-encodes to its input");
    }
    if let Ok(m) = decode_replica_message(data) {
        assert_eq!(
            encode_replica_message(&m),
            data,
            "replica message re-encodes to its input"
        );
    }
    if let Ok(w) = decode_replica_write(data) {
        assert_eq!(
            encode_replica_write(&w),
            data,
            "durable write re-encodes to its input"
        );
    }
});
