//! The `std::io` adapters: short reads, odd-sized writes, and no unauthenticated plaintext.
#![cfg(feature = "std")]

use std::io::{Read, Write};

use e2ee_backup::internal::stream::{
    HEADER_LEN, SegmentSealer, StreamError, StreamReader, StreamWriter, TAG_LEN, seal_to_vec,
};
use e2ee_backup_testkit::stream::{
    ShortReader, plaintext, read_via_reader, seal, stream_error, test_key,
};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn write_in_chunks(segment_size: u32, data: &[u8], chunks: &[usize], salt_seed: u64) -> Vec<u8> {
    let key = test_key(1);
    let mut rng = ChaCha20Rng::seed_from_u64(salt_seed);
    let mut writer = StreamWriter::new(&key, segment_size, &mut rng, Vec::new()).unwrap();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = chunks[i % chunks.len()].clamp(1, rest.len());
        writer.write_all(&rest[..n]).unwrap();
        rest = &rest[n..];
        i += 1;
    }
    writer.finish().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn writer_fed_odd_sized_writes_matches_one_shot_sealing(s in 16u32..=64, len in 0usize..=400, chunks in proptest::collection::vec(1usize..=100, 1..8)) {
        let data = plaintext(len);
        let streamed = write_in_chunks(s, &data, &chunks, 5);
        let key = test_key(1);
        let one_shot = seal_to_vec(&key, s, &data, &mut ChaCha20Rng::seed_from_u64(5)).unwrap();
        prop_assert_eq!(streamed, one_shot);
    }

    #[test]
    fn reader_with_random_short_reads_returns_the_plaintext(s in 16u32..=64, len in 0usize..=400, sizes in proptest::collection::vec(1usize..=90, 1..8), interrupt in any::<bool>()) {
        let key = test_key(2);
        let data = plaintext(len);
        let file = seal(&key, s, &data, 3);
        let mut inner = ShortReader::new(&file, sizes);
        inner.interrupt = interrupt;
        let mut reader = StreamReader::new(&key, inner).unwrap();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        prop_assert_eq!(out, data);
    }

    #[test]
    fn reader_never_releases_bytes_of_a_segment_that_fails(s in 16u32..=40, extra in 1usize..=120, k in any::<prop::sample::Index>(), chunk in 1usize..=50) {
        let key = test_key(4);
        let len = 2 * s as usize + extra;
        let data = plaintext(len);
        let mut file = seal(&key, s, &data, 5);
        let full = s as usize + TAG_LEN;
        let count = (file.len() - HEADER_LEN).div_ceil(full);
        let k = k.index(count);
        // Flip the last tag byte of segment k.
        let end = (HEADER_LEN + (k + 1) * full).min(file.len());
        file[end - 1] ^= 0x01;
        let (released, outcome) = read_via_reader(&key, &file, chunk);
        prop_assert_eq!(outcome, Err(StreamError::SegmentAuthenticationFailed { index: k as u64 }));
        prop_assert_eq!(&released[..], &data[..k * s as usize]);
    }
}

#[test]
fn reader_reading_one_byte_at_a_time_returns_the_plaintext() {
    let key = test_key(6);
    let data = plaintext(333);
    let file = seal(&key, 16, &data, 7);
    let mut reader = StreamReader::new(&key, ShortReader::new(&file, vec![1])).unwrap();
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match reader.read(&mut byte).unwrap() {
            0 => break,
            _ => out.push(byte[0]),
        }
    }
    assert_eq!(out, data);
}

#[test]
fn reader_errors_stay_errors() {
    let key = test_key(8);
    let mut file = seal(&key, 16, &plaintext(40), 9);
    file[HEADER_LEN] ^= 1;
    let mut reader = StreamReader::new(&key, file.as_slice()).unwrap();
    let mut out = [0u8; 64];
    for _ in 0..3 {
        let err = reader.read(&mut out).unwrap_err();
        assert_eq!(
            stream_error(&err),
            Some(StreamError::SegmentAuthenticationFailed { index: 0 })
        );
    }
}

#[test]
fn writer_dropped_without_finish_does_not_produce_a_valid_stream() {
    let key = test_key(10);
    for len in [0usize, 5, 16, 40] {
        let mut out = Vec::new();
        {
            let mut rng = ChaCha20Rng::seed_from_u64(11);
            let mut writer = StreamWriter::new(&key, 16, &mut rng, &mut out).unwrap();
            writer.write_all(&plaintext(len)).unwrap();
            // Dropped here without finish().
        }
        let (_, outcome) = read_via_reader(&key, &out, 16);
        assert!(outcome.is_err(), "{len} bytes written, no finish");
    }
}

#[test]
fn reader_rejects_eof_after_a_non_final_segment() {
    let key = test_key(12);
    let file = seal(&key, 16, &plaintext(48), 13);
    let cut = HEADER_LEN + 2 * (16 + TAG_LEN);
    let (released, outcome) = read_via_reader(&key, &file[..cut], 9);
    assert_eq!(
        outcome,
        Err(StreamError::SegmentAuthenticationFailed { index: 1 })
    );
    assert_eq!(released, plaintext(16));
}

#[test]
fn reader_rejects_eof_inside_a_tag_and_an_empty_later_segment() {
    let key = test_key(14);
    // Segments of 16, 16 and 8 bytes; cut the final one to 5 bytes (inside its tag).
    let file = seal(&key, 16, &plaintext(40), 15);
    let cut = HEADER_LEN + 2 * (16 + TAG_LEN) + 5;
    let (released, outcome) = read_via_reader(&key, &file[..cut], 64);
    assert_eq!(outcome, Err(StreamError::Truncated));
    assert_eq!(released, plaintext(32));
    // A valid non-final segment followed by an empty (tag-only) segment at EOF.
    let mut rng = ChaCha20Rng::seed_from_u64(15);
    let sealer = SegmentSealer::new(&key, 16, &mut rng).unwrap();
    let mut forged = sealer.header_bytes().to_vec();
    let mut segment = plaintext(16 + TAG_LEN);
    sealer.seal_segment(0, false, &mut segment).unwrap();
    forged.extend_from_slice(&segment);
    forged.extend_from_slice(&[0u8; TAG_LEN]);
    assert_eq!(
        read_via_reader(&key, &forged, 64).1,
        Err(StreamError::InvalidLength)
    );
}

#[test]
fn reader_rejects_truncated_header() {
    let key = test_key(16);
    let file = seal(&key, 16, b"", 17);
    assert_eq!(
        read_via_reader(&key, &file[..HEADER_LEN - 1], 4).1,
        Err(StreamError::TruncatedHeader)
    );
}

#[test]
fn writer_from_sealer_writes_header_first() {
    let key = test_key(18);
    let mut rng = ChaCha20Rng::seed_from_u64(19);
    let sealer = SegmentSealer::new(&key, 32, &mut rng).unwrap();
    let header = *sealer.header_bytes();
    let mut writer = StreamWriter::from_sealer(sealer, Vec::new()).unwrap();
    writer.write_all(b"hello").unwrap();
    writer.flush().unwrap();
    let out = writer.finish().unwrap();
    assert_eq!(&out[..HEADER_LEN], &header);
    assert_eq!(out.len(), HEADER_LEN + 5 + TAG_LEN);
}

#[test]
fn writer_is_poisoned_after_an_inner_write_error() {
    struct Failing(usize);
    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0 < buf.len() {
                return Err(std::io::Error::other("disk full"));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let key = test_key(20);
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let mut writer = StreamWriter::new(&key, 16, &mut rng, Failing(HEADER_LEN)).unwrap();
    assert!(writer.write_all(&plaintext(40)).is_err());
    assert!(writer.write_all(b"x").is_err());
    assert!(writer.finish().is_err());
}
