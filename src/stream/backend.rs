//! AES-256-GCM backends (SPEC.md "Stream format", "Cipher backends").
//!
//! The host picks one as the type parameter of [`SegmentSealer`](super::SegmentSealer) /
//! [`SegmentOpener`](super::SegmentOpener); all produce byte-identical streams.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};

use super::keys::PAYLOAD_KEY_LEN;
use super::layout::TAG_LEN;

/// Length of an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;

pub(super) mod sealed {
    /// Only this crate implements [`SegmentCipher`](super::SegmentCipher).
    pub trait Sealed {}
}

/// The failure of a backend call; deliberately carries nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendError;

/// One AES-256-GCM implementation: detached, in-place seal and open with an explicit nonce.
///
/// Sealed: implemented only by [`AesGcmBackend`] and (feature `aws-lc`) `AwsLcBackend`.
pub trait SegmentCipher: sealed::Sealed + Send + Sync + Sized {
    /// Expands the key schedule once.
    fn new(key: &[u8; PAYLOAD_KEY_LEN]) -> Result<Self, BackendError>;

    /// Encrypts `in_out` in place and returns the tag.
    fn seal_detached(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], BackendError>;

    /// Verifies `tag` and decrypts `in_out` in place. On error the content of `in_out` is
    /// unspecified (the caller zeroizes it).
    fn open_detached(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), BackendError>;
}

/// The portable default backend: RustCrypto `aes-gcm` 0.11 (no_std; uses AES-NI/CLMUL when the
/// CPU has them). The key schedule is zeroized on drop.
#[derive(Clone)]
pub struct AesGcmBackend(Aes256Gcm);

impl core::fmt::Debug for AesGcmBackend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AesGcmBackend(<redacted>)")
    }
}

impl sealed::Sealed for AesGcmBackend {}

impl SegmentCipher for AesGcmBackend {
    fn new(key: &[u8; PAYLOAD_KEY_LEN]) -> Result<Self, BackendError> {
        Ok(Self(Aes256Gcm::new(key.into())))
    }

    fn seal_detached(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], BackendError> {
        let tag = self
            .0
            .encrypt_inout_detached(nonce.into(), aad, InOutBuf::from(in_out))
            .map_err(|_| BackendError)?;
        Ok(tag.into())
    }

    fn open_detached(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), BackendError> {
        self.0
            .decrypt_inout_detached(nonce.into(), aad, InOutBuf::from(in_out), tag.into())
            .map_err(|_| BackendError)
    }
}
