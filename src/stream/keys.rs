//! Per-file key derivation and the key commitment (SPEC.md "Stream format", "Keys").

use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::error::StreamError;
use super::header::{COMMITMENT_LEN, HEADER_PREFIX_LEN};
use crate::BackupKey;

/// HKDF-Expand label of the AES-256-GCM key that seals the segments.
pub const LABEL_PAYLOAD_KEY: &[u8] = b"e2ee-backup v1 stream payload key";
/// HKDF-Expand label of the key commitment stored in the header.
pub const LABEL_KEY_COMMITMENT: &[u8] = b"e2ee-backup v1 stream key commitment";
/// Length of the payload (AES-256) key.
pub const PAYLOAD_KEY_LEN: usize = 32;

/// The keys of one stream: derived once per sealer/opener.
pub(crate) struct StreamKeys {
    /// AES-256-GCM key for every segment of this file; zeroized on drop.
    pub(crate) payload_key: Zeroizing<[u8; PAYLOAD_KEY_LEN]>,
    /// The commitment to `(backup key, header prefix)`.
    pub(crate) commitment: [u8; COMMITMENT_LEN],
}

/// `PRK = HKDF-Extract(salt, backup_key)`; each key is `HKDF-Expand(PRK, label || prefix, 32)`.
///
/// `prefix` is the encoded header before the commitment (fixed length), so the info strings of
/// the two labels differ and every header field before the commitment is bound into both keys.
pub(crate) fn derive(
    key: &BackupKey,
    salt: &[u8],
    prefix: &[u8; HEADER_PREFIX_LEN],
) -> Result<StreamKeys, StreamError> {
    let hk = Hkdf::<Sha256>::new(Some(salt), key.as_bytes());
    let mut payload_key = Zeroizing::new([0u8; PAYLOAD_KEY_LEN]);
    let mut commitment = [0u8; COMMITMENT_LEN];
    // 32-byte outputs are far below HKDF-SHA256's 8160-byte limit: these never fail.
    hk.expand_multi_info(&[LABEL_PAYLOAD_KEY, prefix], payload_key.as_mut())
        .map_err(|_| StreamError::LengthOverflow)?;
    hk.expand_multi_info(&[LABEL_KEY_COMMITMENT, prefix], &mut commitment)
        .map_err(|_| StreamError::LengthOverflow)?;
    Ok(StreamKeys {
        payload_key,
        commitment,
    })
}

/// Constant-time check of a stored commitment against the derived one.
pub(crate) fn commitment_matches(
    stored: &[u8; COMMITMENT_LEN],
    derived: &[u8; COMMITMENT_LEN],
) -> bool {
    stored.ct_eq(derived).into()
}
