//! Throughput of the streaming backup cipher against raw one-shot AES-256-GCM of the same
//! backend over the same 64 MiB buffer, in the same run (SPEC.md "Stream format (backup
//! files)", DESIGN.md §7).
//!
//! Groups `stream_seal` / `stream_open` over 64 MiB (memory-bound) and `stream_seal_cached` /
//! `stream_open_cached` over 4 MiB (cache-resident); ids `memcpy` (copying the same buffer: the memory
//! system's own bound), `<backend>/raw-one-shot` (the baseline),
//! `<backend>/stream-<segment size>` (one thread) and, with feature `parallel`,
//! `<backend>/parallel-<segment size>` (all cores). Backends: `aes-gcm`, and `aws-lc` with
//! feature `aws-lc`. Run: `cargo bench --bench stream --all-features` (`-- --quick` to smoke-test).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};
use e2ee_backup::BackupKey;
use e2ee_backup::internal::stream::{
    AesGcmBackend, SegmentCipher, SegmentOpener, SegmentSealer, StreamLayout,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The buffer of the main groups: far larger than any cache, so memory bandwidth is a bound.
const BUFFER_LEN: usize = 64 * 1024 * 1024;
/// The buffer of the `_cached` groups: small enough to stay in the last-level cache, so the
/// cipher and the cores are the bound.
const CACHED_LEN: usize = 4 * 1024 * 1024;
const SEGMENT_SIZES: [(u32, &str); 2] = [(64 * 1024, "64KiB"), (1024 * 1024, "1MiB")];

type Group<'a> = BenchmarkGroup<'a, WallTime>;

fn key() -> BackupKey {
    BackupKey::from_bytes([7; 32])
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}

/// A stream buffer holding `len` plaintext bytes at the segment positions.
fn laid_out_file(segment_size: u32, len: usize) -> Vec<u8> {
    let layout = StreamLayout::new(segment_size).expect("valid segment size");
    let total = layout.ciphertext_len(len as u64).expect("fits") as usize;
    let mut file = pattern(total);
    layout.scatter_plaintext(&mut file).expect("valid layout");
    file
}

/// A sealed stream of `len` plaintext bytes.
fn sealed_file<C: SegmentCipher>(segment_size: u32, len: usize) -> Vec<u8> {
    let mut file = laid_out_file(segment_size, len);
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    SegmentSealer::<C>::with_backend(&key(), segment_size, &mut rng)
        .expect("sealer")
        .seal_file_in_place(&mut file)
        .expect("seal");
    file
}

/// Streaming seal, one thread and (feature `parallel`) all cores. A fresh sealer per file, so
/// the per-file HKDF and key schedule are included.
fn seal_stream<C: SegmentCipher>(group: &mut Group<'_>, backend: &str, len: usize) {
    let key = key();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for (segment_size, label) in SEGMENT_SIZES {
        let mut file = laid_out_file(segment_size, len);
        group.bench_function(format!("{backend}/stream-{label}"), |b| {
            b.iter(|| {
                SegmentSealer::<C>::with_backend(&key, segment_size, &mut rng)
                    .expect("sealer")
                    .seal_file_in_place(black_box(&mut file))
                    .expect("seal");
            })
        });
        #[cfg(feature = "parallel")]
        group.bench_function(format!("{backend}/parallel-{label}"), |b| {
            b.iter(|| {
                SegmentSealer::<C>::with_backend(&key, segment_size, &mut rng)
                    .expect("sealer")
                    .seal_file_in_place_parallel(black_box(&mut file))
                    .expect("seal");
            })
        });
    }
}

/// Streaming open of a fresh copy of a valid stream per iteration (the copy is not timed).
fn open_stream<C: SegmentCipher>(group: &mut Group<'_>, backend: &str, len: usize) {
    let key = key();
    for (segment_size, label) in SEGMENT_SIZES {
        let sealed = sealed_file::<C>(segment_size, len);
        group.bench_function(format!("{backend}/stream-{label}"), |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |buf| {
                    SegmentOpener::<C>::for_stream_with_backend(&key, buf)
                        .expect("opener")
                        .open_file_in_place(black_box(buf))
                        .expect("open")
                },
                BatchSize::PerIteration,
            )
        });
        #[cfg(feature = "parallel")]
        group.bench_function(format!("{backend}/parallel-{label}"), |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |buf| {
                    SegmentOpener::<C>::for_stream_with_backend(&key, buf)
                        .expect("opener")
                        .open_file_in_place_parallel(black_box(buf))
                        .expect("open")
                },
                BatchSize::PerIteration,
            )
        });
    }
}

mod raw_aes_gcm {
    //! Raw one-shot AES-256-GCM (aes-gcm 0.11) over the whole buffer, in place.
    use super::*;
    use aes_gcm::aead::inout::InOutBuf;
    use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};

    const NONCE: [u8; 12] = [0; 12];

    fn cipher() -> Aes256Gcm {
        Aes256Gcm::new(&[7u8; 32].into())
    }

    pub fn seal(group: &mut Group<'_>, len: usize) {
        let cipher = cipher();
        let mut buf = pattern(len);
        group.bench_function("aes-gcm/raw-one-shot", |b| {
            b.iter(|| {
                cipher
                    .encrypt_inout_detached(
                        &NONCE.into(),
                        b"",
                        InOutBuf::from(black_box(&mut buf[..])),
                    )
                    .expect("seal")
            })
        });
    }

    pub fn open(group: &mut Group<'_>, len: usize) {
        let cipher = cipher();
        let mut sealed = pattern(len);
        let tag = cipher
            .encrypt_inout_detached(&NONCE.into(), b"", InOutBuf::from(&mut sealed[..]))
            .expect("seal");
        group.bench_function("aes-gcm/raw-one-shot", |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |buf| {
                    cipher
                        .decrypt_inout_detached(
                            &NONCE.into(),
                            b"",
                            InOutBuf::from(black_box(&mut buf[..])),
                            &tag,
                        )
                        .expect("open")
                },
                BatchSize::PerIteration,
            )
        });
    }
}

#[cfg(feature = "aws-lc")]
mod raw_aws_lc {
    //! Raw one-shot AES-256-GCM (aws-lc-rs) over the whole buffer, in place.
    use super::*;
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

    fn cipher() -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("key"))
    }

    fn nonce() -> Nonce {
        Nonce::assume_unique_for_key([0; 12])
    }

    pub fn seal(group: &mut Group<'_>, len: usize) {
        let cipher = cipher();
        let mut buf = pattern(len);
        group.bench_function("aws-lc/raw-one-shot", |b| {
            b.iter(|| {
                cipher
                    .seal_in_place_separate_tag(nonce(), Aad::empty(), black_box(&mut buf[..]))
                    .expect("seal")
            })
        });
    }

    pub fn open(group: &mut Group<'_>, len: usize) {
        let cipher = cipher();
        let mut sealed = pattern(len);
        let tag = cipher
            .seal_in_place_separate_tag(nonce(), Aad::empty(), &mut sealed[..])
            .expect("seal");
        group.bench_function("aws-lc/raw-one-shot", |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |buf| {
                    cipher
                        .open_in_place_separate_tag(
                            nonce(),
                            Aad::empty(),
                            tag.as_ref(),
                            black_box(&mut buf[..]),
                        )
                        .map(|plaintext| plaintext.len())
                        .expect("open")
                },
                BatchSize::PerIteration,
            )
        });
    }
}

/// The memory system's bound: one copy of a `len`-byte buffer into another (every stream
/// operation reads and writes its buffer once).
fn memcpy(group: &mut Group<'_>, len: usize) {
    let source = pattern(len);
    let mut target = vec![0u8; len];
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            target.copy_from_slice(black_box(&source));
            black_box(&mut target);
        })
    });
}

fn configure<'a>(c: &'a mut Criterion, name: &str, len: usize) -> Group<'a> {
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Bytes(len as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group
}

/// Seal group `name` over `len`-byte buffers: memcpy, each backend's raw one-shot, streams.
fn seal_group(c: &mut Criterion, name: &str, len: usize) {
    let mut group = configure(c, name, len);
    memcpy(&mut group, len);
    raw_aes_gcm::seal(&mut group, len);
    seal_stream::<AesGcmBackend>(&mut group, "aes-gcm", len);
    #[cfg(feature = "aws-lc")]
    {
        raw_aws_lc::seal(&mut group, len);
        seal_stream::<e2ee_backup::internal::stream::AwsLcBackend>(&mut group, "aws-lc", len);
    }
    group.finish();
}

/// Open group `name` over `len`-byte buffers: memcpy, each backend's raw one-shot, streams.
fn open_group(c: &mut Criterion, name: &str, len: usize) {
    let mut group = configure(c, name, len);
    memcpy(&mut group, len);
    raw_aes_gcm::open(&mut group, len);
    open_stream::<AesGcmBackend>(&mut group, "aes-gcm", len);
    #[cfg(feature = "aws-lc")]
    {
        raw_aws_lc::open(&mut group, len);
        open_stream::<e2ee_backup::internal::stream::AwsLcBackend>(&mut group, "aws-lc", len);
    }
    group.finish();
}

fn stream_seal(c: &mut Criterion) {
    seal_group(c, "stream_seal", BUFFER_LEN);
}

fn stream_open(c: &mut Criterion) {
    open_group(c, "stream_open", BUFFER_LEN);
}

fn stream_seal_cached(c: &mut Criterion) {
    seal_group(c, "stream_seal_cached", CACHED_LEN);
}

fn stream_open_cached(c: &mut Criterion) {
    open_group(c, "stream_open_cached", CACHED_LEN);
}

criterion_group!(
    benches,
    stream_seal,
    stream_open,
    stream_seal_cached,
    stream_open_cached
);
criterion_main!(benches);
