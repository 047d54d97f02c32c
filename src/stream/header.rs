//! The fixed-length cleartext header of a backup stream (SPEC.md "Stream format", "Header").

use super::error::StreamError;

/// Magic bytes that open every backup stream: `0x89 "E2EEBK" 0x0A`.
///
/// The high first byte catches 7-bit channels, the final LF catches newline conversion.
pub const MAGIC: [u8; 8] = [0x89, b'E', b'2', b'E', b'E', b'B', b'K', 0x0A];
/// Format version 1 (the only one defined).
pub const FORMAT_VERSION_V1: u16 = 1;
/// Cipher suite 1: AES-256-GCM segments, keys from HKDF-SHA256.
pub const SUITE_AES256GCM_HKDF_SHA256: u16 = 1;
/// Length of the random per-file salt.
pub const SALT_LEN: usize = 32;
/// Length of the key commitment.
pub const COMMITMENT_LEN: usize = 32;
/// Smallest allowed segment size (plaintext bytes per segment).
pub const MIN_SEGMENT_SIZE: u32 = 16;
/// Largest allowed segment size: 16 MiB.
pub const MAX_SEGMENT_SIZE: u32 = 16 * 1024 * 1024;
/// The segment size hosts should use unless they measured a better one: 64 KiB.
pub const DEFAULT_SEGMENT_SIZE: u32 = 64 * 1024;
/// Length of the header fields bound into the key derivation (everything before the commitment).
pub const HEADER_PREFIX_LEN: usize = 8 + 2 + 2 + 4 + SALT_LEN;
/// Length of the encoded header: 80 bytes.
pub const HEADER_LEN: usize = HEADER_PREFIX_LEN + COMMITMENT_LEN;

/// The decoded cleartext header of a backup stream.
///
/// Layout (big endian): `magic[8] || version u16 || suite u16 || segment_size u32 || salt[32] ||
/// commitment[32]`. Version and suite are implied (only v1 / suite 1 decode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    segment_size: u32,
    salt: [u8; SALT_LEN],
    commitment: [u8; COMMITMENT_LEN],
}

impl Header {
    /// Builds a header; fails with [`StreamError::BadSegmentSize`] if the size is out of range.
    pub fn new(
        segment_size: u32,
        salt: [u8; SALT_LEN],
        commitment: [u8; COMMITMENT_LEN],
    ) -> Result<Self, StreamError> {
        check_segment_size(segment_size)?;
        Ok(Self {
            segment_size,
            salt,
            commitment,
        })
    }

    /// Plaintext bytes per segment.
    pub fn segment_size(&self) -> u32 {
        self.segment_size
    }

    /// The per-file random salt.
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    /// The key commitment.
    pub fn commitment(&self) -> &[u8; COMMITMENT_LEN] {
        &self.commitment
    }

    /// The fields before the commitment, exactly as encoded (bound into the key derivation).
    pub fn encode_prefix(&self) -> [u8; HEADER_PREFIX_LEN] {
        encode_prefix(self.segment_size, &self.salt)
    }

    /// The full encoded header (also the AAD of every segment).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let (prefix, commitment) = out.split_at_mut(HEADER_PREFIX_LEN);
        prefix.copy_from_slice(&self.encode_prefix());
        commitment.copy_from_slice(&self.commitment);
        out
    }

    /// Decodes exactly [`HEADER_LEN`] bytes.
    ///
    /// Checks, in order: length ([`StreamError::TruncatedHeader`] / [`StreamError::TrailingData`]),
    /// magic, version, suite, segment size. Does not check the commitment (that needs the key; see
    /// [`SegmentOpener`](super::SegmentOpener)).
    pub fn decode(bytes: &[u8]) -> Result<Self, StreamError> {
        if bytes.len() < HEADER_LEN {
            return Err(StreamError::TruncatedHeader);
        }
        if bytes.len() > HEADER_LEN {
            return Err(StreamError::TrailingData);
        }
        let mut reader = Fields(bytes);
        if reader.take::<8>()? != MAGIC {
            return Err(StreamError::BadMagic);
        }
        let version = u16::from_be_bytes(reader.take()?);
        if version != FORMAT_VERSION_V1 {
            return Err(StreamError::UnsupportedVersion(version));
        }
        let suite = u16::from_be_bytes(reader.take()?);
        if suite != SUITE_AES256GCM_HKDF_SHA256 {
            return Err(StreamError::UnsupportedSuite(suite));
        }
        let segment_size = u32::from_be_bytes(reader.take()?);
        let salt = reader.take()?;
        let commitment = reader.take()?;
        Self::new(segment_size, salt, commitment)
    }
}

/// Encodes the header fields that precede the commitment.
pub(crate) fn encode_prefix(segment_size: u32, salt: &[u8; SALT_LEN]) -> [u8; HEADER_PREFIX_LEN] {
    let mut out = [0u8; HEADER_PREFIX_LEN];
    let fields: [&[u8]; 5] = [
        &MAGIC,
        &FORMAT_VERSION_V1.to_be_bytes(),
        &SUITE_AES256GCM_HKDF_SHA256.to_be_bytes(),
        &segment_size.to_be_bytes(),
        salt,
    ];
    let mut at = 0;
    for field in fields {
        let end = at + field.len();
        if let Some(dst) = out.get_mut(at..end) {
            dst.copy_from_slice(field);
        }
        at = end;
    }
    out
}

/// Rejects segment sizes outside `MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE`.
pub(crate) fn check_segment_size(segment_size: u32) -> Result<(), StreamError> {
    if (MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&segment_size) {
        Ok(())
    } else {
        Err(StreamError::BadSegmentSize(segment_size))
    }
}

/// A cursor over fixed-size fields; never panics.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], StreamError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(StreamError::TruncatedHeader)?;
        self.0 = rest;
        Ok(*head)
    }
}
