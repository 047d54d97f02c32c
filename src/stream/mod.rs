//! The streaming backup cipher (SPEC.md "Stream format (backup files)").
//!
//! A backup file is a fixed 80-byte cleartext [`Header`] followed by segments. Each segment
//! holds `segment_size` plaintext bytes (the final one `1..=segment_size`, or 0 only for an
//! empty plaintext) sealed with AES-256-GCM under a per-file key derived from the
//! [`BackupKey`](crate::BackupKey) and the header's random salt. The nonce encodes the segment
//! index and a last-segment flag (the STREAM construction) and the whole header is the AAD of
//! every segment, so truncation, extension, reordering, splicing and header changes all fail
//! authentication. A key commitment in the header rejects a wrong key before any segment is
//! opened.
//!
//! Layers:
//! - sans-I/O core (no_std + alloc): [`Header`], [`StreamLayout`] (lengths and ranges, random
//!   access), [`SegmentSealer`] / [`SegmentOpener`] (in place on the caller's buffers),
//!   [`seal_to_vec`] / [`open_to_vec`];
//! - `std`: `StreamWriter` / `StreamReader` adapters over `Write` / `Read`;
//! - `parallel`: whole-file sealing and opening on all cores (rayon), identical output;
//! - backends: [`AesGcmBackend`] (default, portable) and, with `aws-lc`, `AwsLcBackend`.
//!
//! ```
//! use e2ee_backup::BackupKey;
//! use e2ee_backup::{open_to_vec, seal_to_vec};
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! let mut rng = ChaCha20Rng::seed_from_u64(1); // tests only: use a CSPRNG from the host
//! let key = BackupKey::generate(&mut rng);
//! let file = seal_to_vec(&key, 64 * 1024, b"chat history", &mut rng)?;
//! assert_eq!(open_to_vec(&key, &file)?, b"chat history");
//! # Ok::<(), e2ee_backup::StreamError>(())
//! ```

mod backend;
#[cfg(feature = "aws-lc")]
mod backend_aws_lc;
mod error;
mod header;
#[cfg(feature = "std")]
mod io;
mod keys;
mod layout;
#[cfg(feature = "parallel")]
mod parallel;
mod segment;

pub use backend::{AesGcmBackend, BackendError, NONCE_LEN, SegmentCipher};
#[cfg(feature = "aws-lc")]
pub use backend_aws_lc::AwsLcBackend;
pub use error::StreamError;
pub use header::{
    COMMITMENT_LEN, DEFAULT_SEGMENT_SIZE, FORMAT_VERSION_V1, HEADER_LEN, HEADER_PREFIX_LEN, Header,
    MAGIC, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, SALT_LEN, SUITE_AES256GCM_HKDF_SHA256,
};
#[cfg(feature = "std")]
pub use io::{StreamReader, StreamWriter};
pub use keys::{LABEL_KEY_COMMITMENT, LABEL_PAYLOAD_KEY, PAYLOAD_KEY_LEN};
pub use layout::{FetchPlan, SegmentSpan, StreamLayout, TAG_LEN};
pub use segment::{SegmentOpener, SegmentSealer, open_to_vec, seal_to_vec, segment_nonce};
