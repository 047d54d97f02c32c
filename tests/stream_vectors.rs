//! Frozen test vectors of the stream format (SPEC.md "Stream format (backup files)", "Test
//! vectors"). Produced once from the fixed seed below and pinned: any change of the format,
//! labels, nonce or AAD makes these tests fail.

use e2ee_backup::BackupKey;
use e2ee_backup::internal::stream::{
    HEADER_LEN, Header, SegmentOpener, StreamLayout, open_to_vec, seal_to_vec, segment_nonce,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Backup key = first 32 bytes of `ChaCha20Rng::seed_from_u64(2021)`.
const KEY_HEX: &str = "e7042dfe1e0fe5e703584cb80b790d577f9a8faad11a61a53177ddfe34061f99";

/// Plaintext bytes 0x00..=0x63 (100 bytes), segment size 32, salt = next 32 bytes of the RNG.
/// Four segments: 32 + 32 + 32 + 4 plaintext bytes.
const MULTI_SEGMENT_FILE_HEX: &str = concat!(
    // header: magic, version 1, suite 1, segment size 32, salt, commitment
    "8945324545424b0a",
    "0001",
    "0001",
    "00000020",
    "efa7457f782165b4b3cfac4eef6f5114c0ef618e25610475d47ba4435f62e1d1",
    "9e90b51577a6a78ecbef3948f601c98b48ce0e06e0c3f516c991ca049f173853",
    // segment 0 (32 + 16 bytes), nonce 000000 0000000000000000 00
    "33fd56f4a239fdf75d2c15c9a4ee28fc6c8c43c33b6eafa8ceca6337871bbd73",
    "d55d5f355b3501661dea57d61869f99a",
    // segment 1, nonce 000000 0000000000000001 00
    "e185e64f0c6ec507d1a6915cc2fc2e05f3f1a45d6a1e270a4c7e9a50c74e41f6",
    "ded89f0389d60148e2f1878645cbb835",
    // segment 2, nonce 000000 0000000000000002 00
    "30fc2276ecbddaedf44b2a1e97ade5e41f853bfd79be1362775d925f4a0af0d9",
    "c94c237c4edf21111f008c275ca6f4fb",
    // segment 3 (final: 4 + 16 bytes), nonce 000000 0000000000000003 01
    "604b6471",
    "ccc29e120d72703f82f4945b727713fe",
);

/// Empty plaintext, segment size 16, same key and salt: one empty final segment (tag only).
const EMPTY_FILE_HEX: &str = concat!(
    "8945324545424b0a",
    "0001",
    "0001",
    "00000010",
    "efa7457f782165b4b3cfac4eef6f5114c0ef618e25610475d47ba4435f62e1d1",
    "9036e0e32f56bd4c8ff659b721d39727a21ab725c4a79f4675ce89372906e40d",
    "c55536c25714468af50979652ae83beb",
);

fn vector_key_and_rng() -> (BackupKey, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(2021);
    let key = BackupKey::generate(&mut rng);
    (key, rng)
}

fn vector_plaintext() -> Vec<u8> {
    (0u8..100).collect()
}

#[test]
fn vector_key_comes_from_the_fixed_seed() {
    let (key, _) = vector_key_and_rng();
    assert_eq!(hex::encode(key.as_bytes()), KEY_HEX);
}

#[test]
fn multi_segment_vector_is_reproduced_exactly() {
    let (key, mut rng) = vector_key_and_rng();
    let file = seal_to_vec(&key, 32, &vector_plaintext(), &mut rng).unwrap();
    assert_eq!(hex::encode(&file), MULTI_SEGMENT_FILE_HEX);
}

#[test]
fn multi_segment_vector_opens_to_its_plaintext() {
    let key = BackupKey::from_bytes(hex::decode(KEY_HEX).unwrap().try_into().unwrap());
    let file = hex::decode(MULTI_SEGMENT_FILE_HEX).unwrap();
    assert_eq!(open_to_vec(&key, &file).unwrap(), vector_plaintext());
    let layout = StreamLayout::new(32).unwrap();
    assert_eq!(layout.segment_count(file.len() as u64), Ok(4));
}

#[test]
fn empty_plaintext_vector_is_reproduced_exactly() {
    let (key, mut rng) = vector_key_and_rng();
    let file = seal_to_vec(&key, 16, b"", &mut rng).unwrap();
    assert_eq!(hex::encode(&file), EMPTY_FILE_HEX);
    assert_eq!(file.len(), HEADER_LEN + 16);
    assert_eq!(open_to_vec(&key, &file).unwrap(), b"");
}

#[test]
fn vector_header_decodes_to_its_fields() {
    let file = hex::decode(MULTI_SEGMENT_FILE_HEX).unwrap();
    let header = Header::decode(&file[..HEADER_LEN]).unwrap();
    assert_eq!(header.segment_size(), 32);
    assert_eq!(
        hex::encode(header.salt()),
        "efa7457f782165b4b3cfac4eef6f5114c0ef618e25610475d47ba4435f62e1d1"
    );
    assert_eq!(header.encode().as_slice(), &file[..HEADER_LEN]);
    let key = BackupKey::from_bytes(hex::decode(KEY_HEX).unwrap().try_into().unwrap());
    assert!(SegmentOpener::new(&key, &file[..HEADER_LEN]).is_ok());
}

#[test]
fn nonce_encodes_index_and_last_flag() {
    assert_eq!(
        hex::encode(segment_nonce(0, false)),
        "000000000000000000000000"
    );
    assert_eq!(
        hex::encode(segment_nonce(3, true)),
        "000000000000000000000301"
    );
    assert_eq!(
        hex::encode(segment_nonce(0x0102_0304_0506_0708, false)),
        "000000010203040506070800"
    );
    assert_eq!(
        hex::encode(segment_nonce(u64::MAX, true)),
        "000000ffffffffffffffff01"
    );
}
