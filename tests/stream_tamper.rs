//! Every tamper case of SPEC.md "Stream format (backup files)" is rejected, through every open
//! path, without releasing plaintext.
#![cfg(feature = "std")]

use e2ee_backup::BackupKey;
use e2ee_backup::internal::stream::{
    HEADER_LEN, SegmentOpener, SegmentSealer, StreamError, StreamLayout, StreamReader, TAG_LEN,
    open_to_vec,
};
use e2ee_backup_testkit::stream::{
    ShortReader, open_every_way, plaintext, seal, stream_error, test_key,
};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// A sealed file with at least `min_segments` segments, its key and geometry.
fn sealed_case(min_segments: usize) -> impl Strategy<Value = (u32, Vec<u8>, u64)> {
    (16u32..=48, any::<u64>()).prop_flat_map(move |(s, seed)| {
        let s_len = s as usize;
        (
            Just(s),
            (min_segments.saturating_sub(1) * s_len + 1..=5 * s_len).prop_map(plaintext),
            Just(seed),
        )
    })
}

fn segments(file: &[u8], segment_size: u32) -> Vec<Vec<u8>> {
    let full = segment_size as usize + TAG_LEN;
    file[HEADER_LEN..]
        .chunks(full)
        .map(<[u8]>::to_vec)
        .collect()
}

fn reassemble(header: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
    let mut out = header.to_vec();
    for segment in segments {
        out.extend_from_slice(segment);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn rejects_truncated_stream_at_any_byte((s, data, seed) in sealed_case(1), cut in any::<prop::sample::Index>()) {
        let key = test_key(seed);
        let file = seal(&key, s, &data, seed);
        let cut = cut.index(file.len());
        prop_assert!(open_every_way(&key, &file[..cut]).is_err());
    }

    #[test]
    fn rejects_appended_bytes((s, data, seed) in sealed_case(1), extra in proptest::collection::vec(any::<u8>(), 1..=80)) {
        let key = test_key(seed);
        let mut file = seal(&key, s, &data, seed);
        file.extend_from_slice(&extra);
        prop_assert!(open_every_way(&key, &file).is_err());
    }

    #[test]
    fn rejects_dropped_segment((s, data, seed) in sealed_case(2), pick in any::<prop::sample::Index>()) {
        let key = test_key(seed);
        let file = seal(&key, s, &data, seed);
        let mut segs = segments(&file, s);
        segs.remove(pick.index(segs.len()));
        prop_assert!(open_every_way(&key, &reassemble(&file[..HEADER_LEN], &segs)).is_err());
    }

    #[test]
    fn rejects_duplicated_segment((s, data, seed) in sealed_case(1), pick in any::<prop::sample::Index>(), at in any::<prop::sample::Index>()) {
        let key = test_key(seed);
        let file = seal(&key, s, &data, seed);
        let mut segs = segments(&file, s);
        let copy = segs[pick.index(segs.len())].clone();
        segs.insert(at.index(segs.len() + 1), copy);
        prop_assert!(open_every_way(&key, &reassemble(&file[..HEADER_LEN], &segs)).is_err());
    }

    #[test]
    fn rejects_reordered_segments((s, data, seed) in sealed_case(2), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let key = test_key(seed);
        let file = seal(&key, s, &data, seed);
        let mut segs = segments(&file, s);
        let (a, b) = (a.index(segs.len()), b.index(segs.len()));
        prop_assume!(a != b);
        segs.swap(a, b);
        prop_assert!(open_every_way(&key, &reassemble(&file[..HEADER_LEN], &segs)).is_err());
    }

    #[test]
    fn rejects_segment_spliced_from_another_file_with_the_same_key((s, data, seed) in sealed_case(1), pick in any::<prop::sample::Index>()) {
        let key = test_key(seed);
        let file = seal(&key, s, &data, seed);
        // Same key, same plaintext, same segment size: only the salt differs.
        let other = seal(&key, s, &data, seed.wrapping_add(1));
        let mut segs = segments(&file, s);
        let i = pick.index(segs.len());
        segs[i] = segments(&other, s)[i].clone();
        prop_assert!(open_every_way(&key, &reassemble(&file[..HEADER_LEN], &segs)).is_err());
        // And the other file's whole body under this file's header.
        prop_assert!(open_every_way(&key, &reassemble(&file[..HEADER_LEN], &segments(&other, s))).is_err());
    }

    #[test]
    fn rejects_any_flipped_bit((s, data, seed) in sealed_case(1), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let key = test_key(seed);
        let mut file = seal(&key, s, &data, seed);
        let at = at.index(file.len());
        file[at] ^= 1 << bit;
        let err = open_every_way(&key, &file).unwrap_err();
        if at >= HEADER_LEN {
            let index = ((at - HEADER_LEN) / (s as usize + TAG_LEN)) as u64;
            prop_assert_eq!(err, StreamError::SegmentAuthenticationFailed { index });
        }
    }

    #[test]
    fn rejects_wrong_key_from_the_header_alone((s, data, seed) in sealed_case(1)) {
        let key = test_key(seed);
        let file = seal(&key, s, &data, seed);
        let wrong = test_key(seed.wrapping_add(1));
        prop_assert_eq!(open_every_way(&wrong, &file), Err(StreamError::WrongKey));
        // The header is enough: nothing else is needed (or looked at) to reject the key.
        prop_assert_eq!(SegmentOpener::new(&wrong, &file[..HEADER_LEN]).err(), Some(StreamError::WrongKey));
    }

    #[test]
    fn opens_each_segment_alone_and_any_plaintext_range((s, data, seed) in sealed_case(1), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let key = test_key(seed);
        let file = seal(&key, s, &data, seed);
        let opener = SegmentOpener::new(&key, &file[..HEADER_LEN]).unwrap();
        let layout = opener.layout();
        let total = file.len() as u64;
        let count = layout.segment_count(total).unwrap();
        for index in 0..count {
            let span = layout.segment(index, total).unwrap();
            let mut buf = file[span.ciphertext.start as usize..span.ciphertext.end as usize].to_vec();
            let opened = opener.open_segment(index, span.last, &mut buf).unwrap();
            prop_assert_eq!(&*opened, &data[span.plaintext.start as usize..span.plaintext.end as usize]);
        }
        // Random access: fetch only the planned ciphertext bytes for a plaintext range.
        let (mut lo, mut hi) = (a.index(data.len() + 1), b.index(data.len() + 1));
        if lo > hi { core::mem::swap(&mut lo, &mut hi); }
        let plan = layout.fetch_plan(lo as u64..hi as u64, total).unwrap();
        let fetched = &file[plan.ciphertext.start as usize..plan.ciphertext.end as usize];
        let mut out = Vec::new();
        let mut at = 0usize;
        for index in plan.segments.clone() {
            let span = layout.segment(index, total).unwrap();
            let len = (span.ciphertext.end - span.ciphertext.start) as usize;
            let mut buf = fetched[at..at + len].to_vec();
            at += len;
            out.extend_from_slice(opener.open_segment(index, span.last, &mut buf).unwrap());
        }
        prop_assert_eq!(at, fetched.len());
        let skip = plan.skip as usize;
        prop_assert_eq!(&out[skip.min(out.len())..skip.min(out.len()) + (hi - lo)], &data[lo..hi]);
    }
}

fn header_field_case() -> (BackupKey, Vec<u8>) {
    let key = test_key(11);
    let file = seal(&key, 16, &plaintext(40), 12);
    (key, file)
}

#[test]
fn rejects_changed_magic() {
    let (key, mut file) = header_field_case();
    file[0] ^= 0x80;
    assert_eq!(open_every_way(&key, &file), Err(StreamError::BadMagic));
}

#[test]
fn rejects_changed_version() {
    let (key, mut file) = header_field_case();
    file[8..10].copy_from_slice(&2u16.to_be_bytes());
    assert_eq!(
        open_every_way(&key, &file),
        Err(StreamError::UnsupportedVersion(2))
    );
}

#[test]
fn rejects_changed_suite() {
    let (key, mut file) = header_field_case();
    file[10..12].copy_from_slice(&7u16.to_be_bytes());
    assert_eq!(
        open_every_way(&key, &file),
        Err(StreamError::UnsupportedSuite(7))
    );
}

#[test]
fn rejects_changed_segment_size() {
    let (key, mut file) = header_field_case();
    file[12..16].copy_from_slice(&0u32.to_be_bytes());
    assert_eq!(
        open_every_way(&key, &file),
        Err(StreamError::BadSegmentSize(0))
    );
    // A valid but different size is caught by the commitment (the size is bound into it).
    file[12..16].copy_from_slice(&24u32.to_be_bytes());
    assert_eq!(open_every_way(&key, &file), Err(StreamError::WrongKey));
}

#[test]
fn rejects_changed_salt_or_commitment() {
    let (key, file) = header_field_case();
    for at in [16, 47, 48, 79] {
        let mut changed = file.clone();
        changed[at] ^= 1;
        assert_eq!(
            open_every_way(&key, &changed),
            Err(StreamError::WrongKey),
            "byte {at}"
        );
    }
}

#[test]
fn rejects_stream_whose_final_segment_is_sealed_as_non_final() {
    // A sealer used with the last flag cleared on every segment: no valid final segment.
    let key = test_key(21);
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    let sealer = SegmentSealer::new(&key, 16, &mut rng).unwrap();
    let mut file = sealer.header_bytes().to_vec();
    for index in 0..3u64 {
        let mut segment = plaintext(16 + TAG_LEN);
        sealer.seal_segment(index, false, &mut segment).unwrap();
        file.extend_from_slice(&segment);
    }
    assert_eq!(
        open_every_way(&key, &file),
        Err(StreamError::SegmentAuthenticationFailed { index: 2 })
    );
}

#[test]
fn rejects_a_final_segment_relabelled_as_non_final() {
    // Append a validly sealed final segment after the real final one: the real final segment is
    // now in a non-final position and fails, so no plaintext after it can be smuggled in.
    let key = test_key(23);
    let mut rng = ChaCha20Rng::seed_from_u64(24);
    let sealer = SegmentSealer::new(&key, 16, &mut rng).unwrap();
    let mut file = sealer.header_bytes().to_vec();
    for index in 0..2u64 {
        let mut segment = plaintext(16 + TAG_LEN);
        sealer.seal_segment(index, true, &mut segment).unwrap();
        file.extend_from_slice(&segment);
    }
    assert_eq!(
        open_every_way(&key, &file),
        Err(StreamError::SegmentAuthenticationFailed { index: 0 })
    );
}

#[test]
fn rejects_trailing_bytes_after_a_full_final_segment() {
    let key = test_key(25);
    let file = seal(&key, 16, &plaintext(32), 26);
    for extra in [1usize, TAG_LEN, 16 + TAG_LEN] {
        let mut extended = file.clone();
        extended.extend(std::iter::repeat_n(0u8, extra));
        assert!(
            open_every_way(&key, &extended).is_err(),
            "{extra} trailing bytes"
        );
    }
}

#[test]
fn rejects_header_without_segments() {
    let key = test_key(27);
    let file = seal(&key, 16, b"", 28);
    assert_eq!(
        open_every_way(&key, &file[..HEADER_LEN]),
        Err(StreamError::Truncated)
    );
}

#[test]
fn rejects_lied_total_length_in_random_access() {
    let key = test_key(29);
    // 3 full segments: the real final segment is full-size, the worst case for length lies.
    let data = plaintext(48);
    let file = seal(&key, 16, &data, 30);
    let opener = SegmentOpener::new(&key, &file[..HEADER_LEN]).unwrap();
    let layout = opener.layout();
    let real = file.len() as u64;
    let full = layout.full_segment_len();
    // Claim one segment less: segment 1 is then claimed final, and fails.
    let span = layout.segment(1, real - full).unwrap();
    assert!(span.last);
    let mut buf = file[span.ciphertext.start as usize..span.ciphertext.end as usize].to_vec();
    assert_eq!(
        opener.open_segment(1, span.last, &mut buf).err(),
        Some(StreamError::SegmentAuthenticationFailed { index: 1 })
    );
    assert!(
        buf.iter().all(|&b| b == 0),
        "failed open zeroizes the buffer"
    );
    // Claim one segment more: the real final segment 2 is claimed non-final, and fails.
    let span = layout.segment(2, real + full).unwrap();
    assert!(!span.last);
    let mut buf = file[span.ciphertext.start as usize..span.ciphertext.end as usize].to_vec();
    assert_eq!(
        opener.open_segment(2, span.last, &mut buf).err(),
        Some(StreamError::SegmentAuthenticationFailed { index: 2 })
    );
}

#[test]
fn failed_whole_file_open_leaves_no_plaintext_in_the_buffer() {
    let key = test_key(31);
    let mut file = seal(&key, 16, &plaintext(100), 32);
    let last = file.len() - 1;
    file[last] ^= 1;
    let opener = SegmentOpener::new(&key, &file[..HEADER_LEN]).unwrap();
    let err = opener.open_file_in_place(&mut file).unwrap_err();
    assert_eq!(err, StreamError::SegmentAuthenticationFailed { index: 6 });
    assert!(file[HEADER_LEN..].iter().all(|&b| b == 0));
}

#[test]
fn rejects_opening_a_segment_with_a_length_unfit_for_its_role() {
    let key = test_key(33);
    let file = seal(&key, 16, &plaintext(40), 34);
    let opener = SegmentOpener::new(&key, &file[..HEADER_LEN]).unwrap();
    let mut short = vec![0u8; TAG_LEN - 1];
    assert_eq!(
        opener.open_segment(0, true, &mut short).err(),
        Some(StreamError::InvalidSegmentLength)
    );
    let mut empty_later = vec![0u8; TAG_LEN];
    assert_eq!(
        opener.open_segment(1, true, &mut empty_later).err(),
        Some(StreamError::InvalidSegmentLength)
    );
    let mut partial_non_final = vec![0u8; 8 + TAG_LEN];
    assert_eq!(
        opener.open_segment(0, false, &mut partial_non_final).err(),
        Some(StreamError::InvalidSegmentLength)
    );
}

#[test]
fn reader_rejects_wrong_key_before_reading_any_segment() {
    let key = test_key(35);
    let file = seal(&key, 16, &plaintext(40), 36);
    // Only the header is available: the reader must already know the key is wrong.
    let err = StreamReader::new(
        &test_key(99),
        ShortReader::new(&file[..HEADER_LEN], vec![5]),
    )
    .unwrap_err();
    assert_eq!(stream_error(&err), Some(StreamError::WrongKey));
}

#[test]
fn whole_file_open_rejects_a_buffer_with_another_header() {
    let key = test_key(37);
    let a = seal(&key, 16, &plaintext(20), 38);
    let mut b = seal(&key, 16, &plaintext(20), 39);
    let opener = SegmentOpener::new(&key, &a[..HEADER_LEN]).unwrap();
    assert_eq!(
        opener.open_file_in_place(&mut b),
        Err(StreamError::HeaderMismatch)
    );
    let _ = (open_to_vec(&key, &a), StreamLayout::new(16));
}
