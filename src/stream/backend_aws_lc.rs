//! The `aws-lc-rs` AES-256-GCM backend (feature `aws-lc`).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use super::backend::{BackendError, NONCE_LEN, SegmentCipher, sealed};
use super::keys::PAYLOAD_KEY_LEN;
use super::layout::TAG_LEN;

/// The fast backend: AWS-LC's AES-256-GCM (assembly, AES-NI/VAES). Byte-identical output to
/// [`AesGcmBackend`](super::AesGcmBackend). AWS-LC cleanses its key schedule when dropped.
pub struct AwsLcBackend(LessSafeKey);

impl core::fmt::Debug for AwsLcBackend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AwsLcBackend(<redacted>)")
    }
}

impl sealed::Sealed for AwsLcBackend {}

impl SegmentCipher for AwsLcBackend {
    fn new(key: &[u8; PAYLOAD_KEY_LEN]) -> Result<Self, BackendError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| BackendError)?;
        Ok(Self(LessSafeKey::new(unbound)))
    }

    fn seal_detached(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], BackendError> {
        let tag = self
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                in_out,
            )
            .map_err(|_| BackendError)?;
        tag.as_ref().try_into().map_err(|_| BackendError)
    }

    fn open_detached(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), BackendError> {
        self.0
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                tag,
                in_out,
            )
            .map(|_| ())
            .map_err(|_| BackendError)
    }
}
