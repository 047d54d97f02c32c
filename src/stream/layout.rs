//! Lengths and byte ranges of a backup stream (SPEC.md "Stream format", "Layout").
//!
//! All functions are pure arithmetic on lengths, checked against overflow; none touches key
//! material. Lengths are `u64` (files may exceed `usize` on 32-bit hosts).

use core::ops::Range;

use super::error::StreamError;
use super::header::{HEADER_LEN, check_segment_size};

/// Length of the AES-GCM tag that ends every segment.
pub const TAG_LEN: usize = 16;

const HEADER_LEN_U64: u64 = HEADER_LEN as u64;
const TAG_LEN_U64: u64 = TAG_LEN as u64;

/// The geometry of streams with one segment size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLayout {
    segment_size: u32,
}

/// Where one segment lies, in the ciphertext and in the plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSpan {
    /// Zero-based segment index (also in its nonce).
    pub index: u64,
    /// Whether this segment is (claimed to be) the final one.
    pub last: bool,
    /// Byte range of the sealed segment (ciphertext || tag) in the whole stream, header included.
    pub ciphertext: Range<u64>,
    /// Byte range of the segment's plaintext in the whole plaintext.
    pub plaintext: Range<u64>,
}

/// What a caller must fetch to decrypt a plaintext byte range (random access).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchPlan {
    /// The segments to open, in order.
    pub segments: Range<u64>,
    /// The contiguous ciphertext bytes holding exactly those segments.
    pub ciphertext: Range<u64>,
    /// Where the requested range starts inside the plaintext of `segments.start`.
    pub skip: u64,
}

impl StreamLayout {
    /// The layout for a segment size; fails with [`StreamError::BadSegmentSize`] if out of range.
    pub fn new(segment_size: u32) -> Result<Self, StreamError> {
        check_segment_size(segment_size)?;
        Ok(Self { segment_size })
    }

    /// Plaintext bytes per full segment.
    pub fn segment_size(&self) -> u32 {
        self.segment_size
    }

    /// Sealed length of a full (non-final) segment: `segment_size + TAG_LEN`.
    pub fn full_segment_len(&self) -> u64 {
        u64::from(self.segment_size) + TAG_LEN_U64
    }

    /// Number of segments of a plaintext: `max(1, ceil(len / segment_size))`.
    pub fn segment_count_for_plaintext(&self, plaintext_len: u64) -> u64 {
        plaintext_len.div_ceil(u64::from(self.segment_size)).max(1)
    }

    /// Total stream length (header included) for a plaintext length.
    pub fn ciphertext_len(&self, plaintext_len: u64) -> Result<u64, StreamError> {
        self.segment_count_for_plaintext(plaintext_len)
            .checked_mul(TAG_LEN_U64)
            .and_then(|tags| tags.checked_add(plaintext_len))
            .and_then(|body| body.checked_add(HEADER_LEN_U64))
            .ok_or(StreamError::LengthOverflow)
    }

    /// Number of segments of a stream of `ciphertext_len` bytes (header included).
    ///
    /// Rejects lengths no canonical stream has: shorter than a header plus one tag
    /// ([`StreamError::TruncatedHeader`] / [`StreamError::Truncated`]), a final partial segment shorter
    /// than a tag, or an empty final segment after other segments ([`StreamError::InvalidLength`]).
    pub fn segment_count(&self, ciphertext_len: u64) -> Result<u64, StreamError> {
        let body = ciphertext_len
            .checked_sub(HEADER_LEN_U64)
            .ok_or(StreamError::TruncatedHeader)?;
        if body < TAG_LEN_U64 {
            return Err(StreamError::Truncated);
        }
        let full = self.full_segment_len();
        let whole = body / full;
        let rest = body % full;
        if rest == 0 {
            // The final segment is full: exactly `whole` segments, no empty one after them.
            Ok(whole)
        } else if rest > TAG_LEN_U64 || (rest == TAG_LEN_U64 && whole == 0) {
            // A partial final segment with 1..segment_size bytes, or the one empty segment
            // of an empty plaintext.
            whole.checked_add(1).ok_or(StreamError::LengthOverflow)
        } else {
            Err(StreamError::InvalidLength)
        }
    }

    /// Plaintext length of a stream of `ciphertext_len` bytes (validated as in
    /// [`segment_count`](Self::segment_count)).
    pub fn plaintext_len(&self, ciphertext_len: u64) -> Result<u64, StreamError> {
        let count = self.segment_count(ciphertext_len)?;
        // Cannot underflow: segment_count accepted the length.
        ciphertext_len
            .checked_sub(HEADER_LEN_U64)
            .and_then(|body| body.checked_sub(count.checked_mul(TAG_LEN_U64)?))
            .ok_or(StreamError::LengthOverflow)
    }

    /// Where segment `index` lies in a stream of `ciphertext_len` bytes, and whether it is the one
    /// *claimed* final by that length. A wrong length only moves the claim; the last flag in the
    /// nonce then makes the segment fail authentication.
    pub fn segment(&self, index: u64, ciphertext_len: u64) -> Result<SegmentSpan, StreamError> {
        let count = self.segment_count(ciphertext_len)?;
        let plaintext_len = self.plaintext_len(ciphertext_len)?;
        self.span(index, count, plaintext_len)
    }

    /// Like [`segment`](Self::segment) but from a plaintext length.
    pub fn segment_for_plaintext(
        &self,
        index: u64,
        plaintext_len: u64,
    ) -> Result<SegmentSpan, StreamError> {
        let count = self.segment_count_for_plaintext(plaintext_len);
        self.span(index, count, plaintext_len)
    }

    fn span(&self, index: u64, count: u64, plaintext_len: u64) -> Result<SegmentSpan, StreamError> {
        if index >= count {
            return Err(StreamError::RangeOutOfBounds);
        }
        let size = u64::from(self.segment_size);
        let overflow = StreamError::LengthOverflow;
        let pt_start = index.checked_mul(size).ok_or(overflow)?;
        let pt_end = pt_start.saturating_add(size).min(plaintext_len);
        let ct_start = index
            .checked_mul(self.full_segment_len())
            .and_then(|at| at.checked_add(HEADER_LEN_U64))
            .ok_or(overflow)?;
        let ct_end = (pt_end - pt_start)
            .checked_add(TAG_LEN_U64)
            .and_then(|len| len.checked_add(ct_start))
            .ok_or(overflow)?;
        Ok(SegmentSpan {
            index,
            last: index + 1 == count,
            ciphertext: ct_start..ct_end,
            plaintext: pt_start..pt_end,
        })
    }

    /// The segments and ciphertext bytes needed to decrypt `plaintext` out of a stream of
    /// `ciphertext_len` bytes. The plan includes the claimed-final segment only if the range
    /// reaches it; its last flag is then authenticated when it is opened.
    pub fn fetch_plan(
        &self,
        plaintext: Range<u64>,
        ciphertext_len: u64,
    ) -> Result<FetchPlan, StreamError> {
        let plaintext_len = self.plaintext_len(ciphertext_len)?;
        if plaintext.start > plaintext.end || plaintext.end > plaintext_len {
            return Err(StreamError::RangeOutOfBounds);
        }
        let size = u64::from(self.segment_size);
        let first = plaintext.start / size;
        let skip = plaintext.start % size;
        if plaintext.is_empty() {
            let at = first
                .checked_mul(self.full_segment_len())
                .and_then(|at| at.checked_add(HEADER_LEN_U64))
                .ok_or(StreamError::LengthOverflow)?;
            return Ok(FetchPlan {
                segments: first..first,
                ciphertext: at..at,
                skip,
            });
        }
        let last = (plaintext.end - 1) / size;
        let count = self.segment_count(ciphertext_len)?;
        let start = self.span(first, count, plaintext_len)?.ciphertext.start;
        let end = self.span(last, count, plaintext_len)?.ciphertext.end;
        Ok(FetchPlan {
            segments: first..last + 1,
            ciphertext: start..end,
            skip,
        })
    }

    /// Moves a plaintext stored contiguously at `file[HEADER_LEN..HEADER_LEN + plaintext_len]` to
    /// the segment positions of the stream layout (leaving room for each tag), in place.
    ///
    /// `file.len()` must be `ciphertext_len(plaintext_len)`. Callers that read plaintext straight
    /// into the segment positions need not call this.
    pub fn scatter_plaintext(&self, file: &mut [u8]) -> Result<(), StreamError> {
        let plaintext_len = self.plaintext_len(len_u64(file.len())?)?;
        let size = usize_from(u64::from(self.segment_size))?;
        let full = usize_from(self.full_segment_len())?;
        let plaintext_len = usize_from(plaintext_len)?;
        let count = usize_from(self.segment_count_for_plaintext(len_u64(plaintext_len)?))?;
        for index in (1..count).rev() {
            let src = HEADER_LEN + index * size;
            let len = size.min(plaintext_len - index * size);
            file.copy_within(src..src + len, HEADER_LEN + index * full);
        }
        Ok(())
    }

    /// After a successful whole-file open, moves each segment's plaintext to the front of `file`
    /// (over the header) and returns the contiguous plaintext.
    pub fn gather_plaintext<'a>(&self, file: &'a mut [u8]) -> Result<&'a mut [u8], StreamError> {
        let plaintext_len = usize_from(self.plaintext_len(len_u64(file.len())?)?)?;
        let size = usize_from(u64::from(self.segment_size))?;
        let full = usize_from(self.full_segment_len())?;
        let count = usize_from(self.segment_count_for_plaintext(len_u64(plaintext_len)?))?;
        for index in 0..count {
            let src = HEADER_LEN + index * full;
            let len = size.min(plaintext_len - index * size);
            file.copy_within(src..src + len, index * size);
        }
        file.get_mut(..plaintext_len)
            .ok_or(StreamError::LengthOverflow)
    }
}

/// `usize` → `u64`, failing only on exotic platforms.
pub(crate) fn len_u64(len: usize) -> Result<u64, StreamError> {
    u64::try_from(len).map_err(|_| StreamError::LengthOverflow)
}

/// `u64` → `usize`, failing when the value does not fit this platform.
pub(crate) fn usize_from(len: u64) -> Result<usize, StreamError> {
    usize::try_from(len).map_err(|_| StreamError::LengthOverflow)
}
