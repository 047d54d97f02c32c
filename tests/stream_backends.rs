//! Backends and the parallel path produce byte-identical streams and open each other's output.
#![cfg(any(feature = "parallel", feature = "aws-lc"))]

use e2ee_backup::internal::stream::{AesGcmBackend, SegmentCipher, SegmentOpener, SegmentSealer};
use e2ee_backup_testkit::stream::{plaintext, test_key};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn seal_with<C: SegmentCipher>(segment_size: u32, data: &[u8], seed: u64) -> Vec<u8> {
    let key = test_key(seed);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    SegmentSealer::<C>::with_backend(&key, segment_size, &mut rng)
        .unwrap()
        .seal_to_vec(data)
        .unwrap()
}

/// Used only by the aws-lc comparisons: the parallel tests open through their own path.
#[cfg(feature = "aws-lc")]
fn open_with<C: SegmentCipher>(file: &[u8], seed: u64) -> Vec<u8> {
    let key = test_key(seed);
    SegmentOpener::<C>::for_stream_with_backend(&key, file)
        .unwrap()
        .open_to_vec(file)
        .unwrap()
}

#[cfg(feature = "aws-lc")]
proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn aws_lc_and_aes_gcm_backends_produce_identical_streams(s in 16u32..=256, len in 0usize..=1200, seed in any::<u64>()) {
        use e2ee_backup::internal::stream::AwsLcBackend;
        let data = plaintext(len);
        let portable = seal_with::<AesGcmBackend>(s, &data, seed);
        let fast = seal_with::<AwsLcBackend>(s, &data, seed);
        prop_assert_eq!(&portable, &fast);
        prop_assert_eq!(open_with::<AwsLcBackend>(&portable, seed), data.clone());
        prop_assert_eq!(open_with::<AesGcmBackend>(&fast, seed), data);
    }

    #[test]
    fn aws_lc_backend_rejects_tampering_like_the_default(s in 16u32..=64, len in 1usize..=300, at in any::<prop::sample::Index>(), seed in any::<u64>()) {
        use e2ee_backup::internal::stream::AwsLcBackend;
        let key = test_key(seed);
        let mut file = seal_with::<AesGcmBackend>(s, &plaintext(len), seed);
        let at = at.index(file.len());
        file[at] ^= 0x40;
        let fast = SegmentOpener::<AwsLcBackend>::for_stream_with_backend(&key, &file).and_then(|o| o.open_to_vec(&file));
        let portable = SegmentOpener::<AesGcmBackend>::for_stream_with_backend(&key, &file).and_then(|o| o.open_to_vec(&file));
        prop_assert!(fast.is_err());
        prop_assert_eq!(fast.err(), portable.err());
    }
}

#[cfg(feature = "parallel")]
proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn parallel_sealing_matches_sequential_sealing(s in 16u32..=128, len in 0usize..=2000, seed in any::<u64>()) {
        let data = plaintext(len);
        let sequential = seal_with::<AesGcmBackend>(s, &data, seed);
        let key = test_key(seed);
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let sealer = SegmentSealer::new(&key, s, &mut rng).unwrap();
        let layout = sealer.layout();
        let mut file = vec![0u8; layout.ciphertext_len(len as u64).unwrap() as usize];
        file[e2ee_backup::internal::stream::HEADER_LEN..][..len].copy_from_slice(&data);
        layout.scatter_plaintext(&mut file).unwrap();
        sealer.seal_file_in_place_parallel(&mut file).unwrap();
        prop_assert_eq!(&file, &sequential);

        let opener = SegmentOpener::new(&key, &file[..e2ee_backup::internal::stream::HEADER_LEN]).unwrap();
        prop_assert_eq!(opener.open_file_in_place_parallel(&mut file), Ok(len as u64));
        prop_assert_eq!(&*layout.gather_plaintext(&mut file).unwrap(), &data[..]);
    }
}

#[cfg(feature = "parallel")]
#[test]
fn parallel_open_reports_the_lowest_failing_segment_and_zeroizes() {
    use e2ee_backup::internal::stream::{HEADER_LEN, StreamError};
    let key = test_key(40);
    let mut file = seal_with::<AesGcmBackend>(16, &plaintext(400), 40);
    let full = 16 + e2ee_backup::internal::stream::TAG_LEN;
    for k in [3usize, 7, 20] {
        file[HEADER_LEN + k * full + 2] ^= 1;
    }
    let opener = SegmentOpener::new(&key, &file[..HEADER_LEN]).unwrap();
    assert_eq!(
        opener.open_file_in_place_parallel(&mut file),
        Err(StreamError::SegmentAuthenticationFailed { index: 3 })
    );
    assert!(file[HEADER_LEN..].iter().all(|&b| b == 0));
}

#[cfg(feature = "aws-lc")]
#[test]
fn io_adapters_work_with_the_aws_lc_backend() {
    use e2ee_backup::internal::stream::{AwsLcBackend, StreamReader, StreamWriter};
    use std::io::{Read, Write};
    let key = test_key(50);
    let data = plaintext(1000);
    let mut rng = ChaCha20Rng::seed_from_u64(51);
    let sealer = SegmentSealer::<AwsLcBackend>::with_backend(&key, 64, &mut rng).unwrap();
    let mut writer = StreamWriter::from_sealer(sealer, Vec::new()).unwrap();
    writer.write_all(&data).unwrap();
    let file = writer.finish().unwrap();
    assert_eq!(file, seal_with_key_seed(&key, 64, &data, 51));
    let mut reader = StreamReader::<_, AwsLcBackend>::with_backend(&key, file.as_slice()).unwrap();
    let mut out = Vec::new();
    reader.read_to_end(&mut out).unwrap();
    assert_eq!(out, data);
}

#[cfg(feature = "aws-lc")]
fn seal_with_key_seed(
    key: &e2ee_backup::BackupKey,
    segment_size: u32,
    data: &[u8],
    seed: u64,
) -> Vec<u8> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    SegmentSealer::new(key, segment_size, &mut rng)
        .unwrap()
        .seal_to_vec(data)
        .unwrap()
}
