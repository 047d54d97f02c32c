//! Round trips, header codec and layout arithmetic of the stream format.
#![cfg(feature = "std")]

use e2ee_backup::internal::stream::{
    COMMITMENT_LEN, HEADER_LEN, Header, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, SALT_LEN,
    SegmentSealer, StreamError, StreamLayout, TAG_LEN, open_to_vec,
};
use e2ee_backup_testkit::stream::{open_every_way, plaintext, seal, test_key};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Plaintext lengths around the segment boundaries, plus anything up to a few segments.
fn interesting_len(segment_size: u32) -> impl Strategy<Value = usize> {
    let s = segment_size as usize;
    prop_oneof![
        Just(0),
        Just(1),
        Just(s - 1),
        Just(s),
        Just(s + 1),
        Just(3 * s),
        Just(3 * s + 1),
        0..=6 * s,
    ]
}

fn size_and_len() -> impl Strategy<Value = (u32, usize)> {
    (16u32..=64).prop_flat_map(|s| (Just(s), interesting_len(s)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn round_trips_any_plaintext_and_segment_size((segment_size, len) in size_and_len(), seed in any::<u64>()) {
        let key = test_key(seed);
        let data = plaintext(len);
        let file = seal(&key, segment_size, &data, seed ^ 1);
        let layout = StreamLayout::new(segment_size).unwrap();
        prop_assert_eq!(file.len() as u64, layout.ciphertext_len(len as u64).unwrap());
        prop_assert_eq!(layout.plaintext_len(file.len() as u64), Ok(len as u64));
        prop_assert_eq!(open_every_way(&key, &file).unwrap(), data);
    }

    #[test]
    fn segment_count_is_canonical((segment_size, len) in size_and_len()) {
        let layout = StreamLayout::new(segment_size).unwrap();
        let s = segment_size as usize;
        let expected = if len == 0 { 1 } else { len.div_ceil(s) };
        let total = layout.ciphertext_len(len as u64).unwrap();
        prop_assert_eq!(layout.segment_count(total), Ok(expected as u64));
        // The final segment holds 1..=segment_size bytes (0 only for the empty plaintext).
        let last = layout.segment(expected as u64 - 1, total).unwrap();
        prop_assert!(last.last);
        let last_len = last.plaintext.end - last.plaintext.start;
        prop_assert!(last_len <= segment_size as u64);
        prop_assert!(last_len >= 1 || len == 0);
    }

    #[test]
    fn header_round_trips(segment_size in MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE, salt in any::<[u8; SALT_LEN]>(), commitment in any::<[u8; COMMITMENT_LEN]>()) {
        let header = Header::new(segment_size, salt, commitment).unwrap();
        prop_assert_eq!(Header::decode(&header.encode()), Ok(header));
    }

    #[test]
    fn header_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..=2 * HEADER_LEN)) {
        let _ = Header::decode(&bytes);
    }

    #[test]
    fn open_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..=400), valid_prefix in any::<bool>()) {
        let key = test_key(3);
        let mut input = bytes;
        if valid_prefix {
            // Give the decoder a real header so the segment parsing is reached.
            let file = seal(&key, 16, b"", 4);
            input.splice(0..0, file[..HEADER_LEN].iter().copied());
        }
        prop_assert!(open_every_way(&key, &input).is_err());
    }

    #[test]
    fn layout_arithmetic_never_panics(segment_size in any::<u32>(), a in any::<u64>(), b in any::<u64>(), c in any::<u64>()) {
        if let Ok(layout) = StreamLayout::new(segment_size) {
            let _ = layout.ciphertext_len(a);
            let _ = layout.segment_count(a);
            let _ = layout.plaintext_len(a);
            let _ = layout.segment(b, a);
            let _ = layout.segment_for_plaintext(b, a);
            let _ = layout.fetch_plan(b..c, a);
        }
    }
}

#[test]
fn rejects_segment_sizes_out_of_range() {
    let key = test_key(1);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for size in [0, 1, MIN_SEGMENT_SIZE - 1, MAX_SEGMENT_SIZE + 1, u32::MAX] {
        assert_eq!(
            SegmentSealer::new(&key, size, &mut rng).err(),
            Some(StreamError::BadSegmentSize(size))
        );
        assert_eq!(
            StreamLayout::new(size),
            Err(StreamError::BadSegmentSize(size))
        );
    }
}

#[test]
fn header_decode_rejects_short_and_long_input() {
    let header = Header::new(16, [1; SALT_LEN], [2; COMMITMENT_LEN])
        .unwrap()
        .encode();
    assert_eq!(
        Header::decode(&header[..HEADER_LEN - 1]),
        Err(StreamError::TruncatedHeader)
    );
    let mut long = header.to_vec();
    long.push(0);
    assert_eq!(Header::decode(&long), Err(StreamError::TrailingData));
}

#[test]
fn rejects_impossible_ciphertext_lengths() {
    let layout = StreamLayout::new(16).unwrap();
    let header = HEADER_LEN as u64;
    assert_eq!(layout.segment_count(0), Err(StreamError::TruncatedHeader));
    assert_eq!(layout.segment_count(header), Err(StreamError::Truncated));
    assert_eq!(
        layout.segment_count(header + 15),
        Err(StreamError::Truncated)
    );
    assert_eq!(layout.segment_count(header + 16), Ok(1));
    assert_eq!(layout.segment_count(header + 32), Ok(1));
    // A full segment followed by part of a tag, or by an empty segment: impossible.
    assert_eq!(
        layout.segment_count(header + 32 + 5),
        Err(StreamError::InvalidLength)
    );
    assert_eq!(
        layout.segment_count(header + 32 + 16),
        Err(StreamError::InvalidLength)
    );
    assert_eq!(layout.segment_count(header + 32 + 17), Ok(2));
    let _ = layout.segment_count(u64::MAX);
}

#[test]
fn ciphertext_len_rejects_overflow_without_panicking() {
    let layout = StreamLayout::new(16).unwrap();
    assert_eq!(
        layout.ciphertext_len(u64::MAX),
        Err(StreamError::LengthOverflow)
    );
    assert_eq!(
        layout.ciphertext_len(u64::MAX - HEADER_LEN as u64),
        Err(StreamError::LengthOverflow)
    );
}

#[test]
fn a_plaintext_of_whole_segments_has_no_extra_empty_segment() {
    let key = test_key(9);
    let file = seal(&key, 16, &plaintext(48), 9);
    assert_eq!(file.len(), HEADER_LEN + 3 * (16 + TAG_LEN));
    assert_eq!(open_to_vec(&key, &file).unwrap(), plaintext(48));
}

#[test]
fn sealing_twice_uses_fresh_salts() {
    let key = test_key(2);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let a = SegmentSealer::new(&key, 16, &mut rng).unwrap();
    let b = SegmentSealer::new(&key, 16, &mut rng).unwrap();
    assert_ne!(a.header().salt(), b.header().salt());
    assert_ne!(a.header().commitment(), b.header().commitment());
}

#[test]
fn debug_output_shows_no_key_material() {
    let key = test_key(2);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let sealer = SegmentSealer::new(&key, 16, &mut rng).unwrap();
    let shown = format!("{sealer:?}");
    assert!(shown.contains("SegmentSealer"));
    assert!(!shown.contains("cipher"));
}

#[test]
fn errors_display_a_message() {
    let shown = StreamError::SegmentAuthenticationFailed { index: 7 }.to_string();
    assert!(shown.contains("segment 7"));
    let boxed: Box<dyn std::error::Error> = Box::new(StreamError::WrongKey);
    assert!(boxed.to_string().contains("wrong key"));
}
