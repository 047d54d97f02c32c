//! The one error type of the stream cipher (SPEC.md "Stream format (backup files)", "Errors").

use core::fmt;

/// Everything that can go wrong while sealing or opening a backup stream.
///
/// Variants name exactly what went wrong, for the local caller; none carries secret material.
/// Whenever an `open*` call returns an error, no plaintext of the failing segment is released: the
/// bytes of that segment in the caller's buffer are overwritten with zeros (see each method).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// The input is shorter than the fixed-length header ([`HEADER_LEN`](super::HEADER_LEN)).
    TruncatedHeader,
    /// A header was decoded from a slice longer than [`HEADER_LEN`](super::HEADER_LEN).
    TrailingData,
    /// The first 8 bytes are not `MAGIC`: this is not a backup stream.
    BadMagic,
    /// The header names a format version this library does not implement.
    UnsupportedVersion(u16),
    /// The header names a cipher suite this library does not implement.
    UnsupportedSuite(u16),
    /// The segment size is outside
    /// [`MIN_SEGMENT_SIZE`](super::MIN_SEGMENT_SIZE)`..=`[`MAX_SEGMENT_SIZE`](super::MAX_SEGMENT_SIZE).
    BadSegmentSize(u32),
    /// The key commitment in the header does not match the backup key: wrong key (or a changed
    /// header). Detected from the header alone, before any segment is opened.
    WrongKey,
    /// Segment `index` did not authenticate under the position and last flag it was claimed at:
    /// its bytes or the header were changed, it was moved, duplicated or spliced from another file,
    /// or the stream was truncated at a segment boundary, extended, or followed by trailing bytes
    /// (the real final segment is then opened as non-final and fails).
    SegmentAuthenticationFailed {
        /// Zero-based index of the segment that failed.
        index: u64,
    },
    /// The stream ended before its first segment (nothing after the header), or inside a segment
    /// before a whole authentication tag.
    Truncated,
    /// The ciphertext length is impossible for this segment size (no canonical stream has it): the
    /// stream was truncated or extended by some bytes, or ends with an empty non-first segment.
    InvalidLength,
    /// A length does not fit the format's bounds (more than `u64` bytes or segments) or this
    /// platform's `usize`.
    LengthOverflow,
    /// A caller passed a segment buffer whose length does not match the segment's role (a non-final
    /// segment must hold exactly `segment_size` bytes, a final one `1..=segment_size` — or 0 only as
    /// segment 0 — plus [`TAG_LEN`](super::TAG_LEN) bytes for the tag).
    InvalidSegmentLength,
    /// A whole-file call got a buffer whose header bytes differ from the header this
    /// sealer/opener was made for.
    HeaderMismatch,
    /// A requested plaintext range lies outside the stream's plaintext.
    RangeOutOfBounds,
    /// The cipher backend refused a key or a length (beyond AES-GCM's limits; unreachable with the
    /// format's segment bounds).
    BackendFailure,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TruncatedHeader => f.write_str("backup stream: input shorter than the header"),
            Self::TrailingData => f.write_str("backup stream: trailing bytes after the header"),
            Self::BadMagic => f.write_str("backup stream: bad magic (not a backup stream)"),
            Self::UnsupportedVersion(v) => {
                write!(f, "backup stream: unsupported format version {v}")
            }
            Self::UnsupportedSuite(s) => write!(f, "backup stream: unsupported cipher suite {s}"),
            Self::BadSegmentSize(s) => write!(f, "backup stream: segment size {s} out of range"),
            Self::WrongKey => f.write_str("backup stream: wrong key (key commitment mismatch)"),
            Self::SegmentAuthenticationFailed { index } => {
                write!(f, "backup stream: segment {index} failed authentication")
            }
            Self::Truncated => f.write_str("backup stream: truncated"),
            Self::InvalidLength => {
                f.write_str("backup stream: length impossible for this segment size")
            }
            Self::LengthOverflow => f.write_str("backup stream: length out of bounds"),
            Self::InvalidSegmentLength => {
                f.write_str("backup stream: segment buffer length does not fit its role")
            }
            Self::HeaderMismatch => {
                f.write_str("backup stream: buffer header differs from the expected header")
            }
            Self::RangeOutOfBounds => f.write_str("backup stream: plaintext range out of bounds"),
            Self::BackendFailure => f.write_str("backup stream: cipher backend failure"),
        }
    }
}

impl core::error::Error for StreamError {}

#[cfg(feature = "std")]
impl From<StreamError> for std::io::Error {
    /// Wraps the error as [`std::io::ErrorKind::InvalidData`]; recover it with
    /// `err.get_ref().and_then(|e| e.downcast_ref::<StreamError>())`.
    fn from(err: StreamError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, err)
    }
}
