//! Sealing and opening segments in place (SPEC.md "Stream format", "Segments").

use alloc::vec::Vec;

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

use super::backend::{AesGcmBackend, NONCE_LEN, SegmentCipher};
use super::error::StreamError;
use super::header::{HEADER_LEN, Header, SALT_LEN, check_segment_size, encode_prefix};
use super::keys::{commitment_matches, derive};
use super::layout::{StreamLayout, TAG_LEN, len_u64, usize_from};
use crate::BackupKey;

/// The nonce of segment `index`: `0x000000 || index (u64 BE) || last flag (0x00 / 0x01)`.
pub fn segment_nonce(index: u64, last: bool) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    let [_, _, _, i0, i1, i2, i3, i4, i5, i6, i7, flag] = &mut nonce;
    [*i0, *i1, *i2, *i3, *i4, *i5, *i6, *i7] = index.to_be_bytes();
    *flag = u8::from(last);
    nonce
}

/// Checks that a sealed segment of `segment_len` bytes (plaintext + tag) fits its role and
/// returns its plaintext length.
fn plaintext_len_of(
    layout: &StreamLayout,
    index: u64,
    last: bool,
    segment_len: usize,
) -> Result<usize, StreamError> {
    let plaintext_len = segment_len
        .checked_sub(TAG_LEN)
        .ok_or(StreamError::InvalidSegmentLength)?;
    let size = usize_from(u64::from(layout.segment_size()))?;
    let fits = if last {
        plaintext_len <= size && (plaintext_len > 0 || index == 0)
    } else {
        plaintext_len == size
    };
    if fits {
        Ok(plaintext_len)
    } else {
        Err(StreamError::InvalidSegmentLength)
    }
}

/// Seals the segments of one new stream (one fresh salt, keys expanded once).
///
/// Inputs: the segments' plaintext, in the caller's buffers. Outputs: [`header_bytes`]
/// (write them first), then each sealed segment in index order.
///
/// # Nonce uniqueness
/// Each `(index, last)` pair must be sealed **at most once** per sealer: sealing the same index
/// twice with different plaintext reuses an AES-GCM nonce. The whole-file methods consume the
/// sealer for that reason; [`seal_segment`](Self::seal_segment) leaves it to the caller (the
/// `std` writer and the parallel path seal each index once).
///
/// [`header_bytes`]: Self::header_bytes
pub struct SegmentSealer<C: SegmentCipher = AesGcmBackend> {
    header: Header,
    header_bytes: [u8; HEADER_LEN],
    layout: StreamLayout,
    cipher: C,
}

impl<C: SegmentCipher> core::fmt::Debug for SegmentSealer<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SegmentSealer")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl SegmentSealer<AesGcmBackend> {
    /// A sealer for a new stream with the default backend; draws the salt from `rng`.
    pub fn new(
        key: &BackupKey,
        segment_size: u32,
        rng: &mut (impl CryptoRng + RngCore),
    ) -> Result<Self, StreamError> {
        Self::with_backend(key, segment_size, rng)
    }
}

impl<C: SegmentCipher> SegmentSealer<C> {
    /// A sealer for a new stream with backend `C`; draws the 32-byte salt from `rng`.
    pub fn with_backend(
        key: &BackupKey,
        segment_size: u32,
        rng: &mut (impl CryptoRng + RngCore),
    ) -> Result<Self, StreamError> {
        check_segment_size(segment_size)?;
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let prefix = encode_prefix(segment_size, &salt);
        let keys = derive(key, &salt, &prefix)?;
        let header = Header::new(segment_size, salt, keys.commitment)?;
        let cipher = C::new(&keys.payload_key).map_err(|_| StreamError::BackendFailure)?;
        Ok(Self {
            header,
            header_bytes: header.encode(),
            layout: StreamLayout::new(segment_size)?,
            cipher,
        })
    }

    /// The header of this stream.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The encoded header: the first [`HEADER_LEN`] bytes of the stream, and every segment's AAD.
    pub fn header_bytes(&self) -> &[u8; HEADER_LEN] {
        &self.header_bytes
    }

    /// The layout (segment size and length arithmetic) of this stream.
    pub fn layout(&self) -> StreamLayout {
        self.layout
    }

    /// Seals segment `index` in place.
    ///
    /// `segment` holds the plaintext followed by [`TAG_LEN`] spare bytes that receive the tag. A
    /// non-final segment holds exactly `segment_size` plaintext bytes; the final one
    /// `1..=segment_size`, or 0 only when it is segment 0 (empty plaintext). Otherwise
    /// [`StreamError::InvalidSegmentLength`] and the buffer is unchanged.
    /// See the nonce-uniqueness rule on [`SegmentSealer`].
    pub fn seal_segment(
        &self,
        index: u64,
        last: bool,
        segment: &mut [u8],
    ) -> Result<(), StreamError> {
        let plaintext_len = plaintext_len_of(&self.layout, index, last, segment.len())?;
        let (body, tag_out) = segment.split_at_mut(plaintext_len);
        let tag = self
            .cipher
            .seal_detached(&segment_nonce(index, last), &self.header_bytes, body)
            .map_err(|_| StreamError::BackendFailure)?;
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Seals a whole stream in place and consumes the sealer.
    ///
    /// `file.len()` must be `layout().ciphertext_len(plaintext_len)`; each segment's plaintext
    /// must already sit at its position (see [`StreamLayout::scatter_plaintext`]). Writes the
    /// header into `file[..HEADER_LEN]`.
    pub fn seal_file_in_place(self, file: &mut [u8]) -> Result<(), StreamError> {
        let (count, body) = self.prepare_file(file)?;
        let full = usize_from(self.layout.full_segment_len())?;
        for (index, segment) in (0u64..).zip(body.chunks_mut(full)) {
            self.seal_segment(index, index + 1 == count, segment)?;
        }
        Ok(())
    }

    /// Seals `plaintext` into a new stream (header included) and consumes the sealer.
    pub fn seal_to_vec(self, plaintext: &[u8]) -> Result<Vec<u8>, StreamError> {
        let mut file = self.alloc_file(plaintext)?;
        self.seal_file_in_place(&mut file)?;
        Ok(file)
    }

    /// Allocates the stream buffer and lays `plaintext` out at the segment positions.
    pub(crate) fn alloc_file(&self, plaintext: &[u8]) -> Result<Vec<u8>, StreamError> {
        let total = usize_from(self.layout.ciphertext_len(len_u64(plaintext.len())?)?)?;
        let mut file = Vec::new();
        file.try_reserve_exact(total)
            .map_err(|_| StreamError::LengthOverflow)?;
        file.resize(total, 0);
        let size = usize_from(u64::from(self.layout.segment_size()))?;
        let full = usize_from(self.layout.full_segment_len())?;
        let body = file
            .get_mut(HEADER_LEN..)
            .ok_or(StreamError::LengthOverflow)?;
        for (dst, src) in body.chunks_mut(full).zip(plaintext.chunks(size)) {
            if let Some(dst) = dst.get_mut(..src.len()) {
                dst.copy_from_slice(src);
            }
        }
        Ok(file)
    }

    /// Validates a whole-file buffer, writes the header, and returns the segment count and body.
    pub(crate) fn prepare_file<'a>(
        &self,
        file: &'a mut [u8],
    ) -> Result<(u64, &'a mut [u8]), StreamError> {
        let count = self.layout.segment_count(len_u64(file.len())?)?;
        let (header, body) = file
            .split_at_mut_checked(HEADER_LEN)
            .ok_or(StreamError::TruncatedHeader)?;
        header.copy_from_slice(&self.header_bytes);
        Ok((count, body))
    }
}

/// Opens the segments of one stream, after checking the key commitment in its header.
///
/// Inputs: the header bytes (at construction), then sealed segments in any order (random
/// access), each with the last flag its position claims. Outputs: authenticated plaintext only.
pub struct SegmentOpener<C: SegmentCipher = AesGcmBackend> {
    header: Header,
    header_bytes: [u8; HEADER_LEN],
    layout: StreamLayout,
    cipher: C,
}

impl<C: SegmentCipher> core::fmt::Debug for SegmentOpener<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SegmentOpener")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl SegmentOpener<AesGcmBackend> {
    /// An opener with the default backend; `header` is exactly the first [`HEADER_LEN`] bytes
    /// of the stream. Fails with [`StreamError::WrongKey`] if the commitment does not match.
    pub fn new(key: &BackupKey, header: &[u8]) -> Result<Self, StreamError> {
        Self::with_backend(key, header)
    }

    /// An opener with the default backend for a stream starting with `stream` (any length ≥
    /// [`HEADER_LEN`]): the header is read from its first bytes.
    pub fn for_stream(key: &BackupKey, stream: &[u8]) -> Result<Self, StreamError> {
        Self::for_stream_with_backend(key, stream)
    }
}

impl<C: SegmentCipher> SegmentOpener<C> {
    /// An opener with backend `C`: decodes `header` (exactly [`HEADER_LEN`] bytes), derives
    /// the keys and compares the key commitment in constant time. A wrong key fails here, with
    /// [`StreamError::WrongKey`], before any segment is opened.
    pub fn with_backend(key: &BackupKey, header: &[u8]) -> Result<Self, StreamError> {
        let decoded = Header::decode(header)?;
        let keys = derive(key, decoded.salt(), &decoded.encode_prefix())?;
        if !commitment_matches(decoded.commitment(), &keys.commitment) {
            return Err(StreamError::WrongKey);
        }
        let cipher = C::new(&keys.payload_key).map_err(|_| StreamError::BackendFailure)?;
        Ok(Self {
            header: decoded,
            header_bytes: decoded.encode(),
            layout: StreamLayout::new(decoded.segment_size())?,
            cipher,
        })
    }

    /// Like [`with_backend`](Self::with_backend) but takes the start of a stream (any length ≥
    /// [`HEADER_LEN`]) and reads the header from it.
    pub fn for_stream_with_backend(key: &BackupKey, stream: &[u8]) -> Result<Self, StreamError> {
        let header = stream
            .get(..HEADER_LEN)
            .ok_or(StreamError::TruncatedHeader)?;
        Self::with_backend(key, header)
    }

    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The layout (segment size and length arithmetic) of this stream.
    pub fn layout(&self) -> StreamLayout {
        self.layout
    }

    /// Opens segment `index` in place, claiming it is final iff `last`, and returns its
    /// plaintext (a prefix of `segment`).
    ///
    /// `segment` is the sealed segment (ciphertext followed by its tag). On
    /// [`StreamError::SegmentAuthenticationFailed`] the whole of `segment` has been overwritten
    /// with zeros, so no unauthenticated plaintext remains. A length that does not fit the
    /// claimed role gives [`StreamError::InvalidSegmentLength`] and leaves the buffer unchanged.
    pub fn open_segment<'a>(
        &self,
        index: u64,
        last: bool,
        segment: &'a mut [u8],
    ) -> Result<&'a mut [u8], StreamError> {
        let plaintext_len = plaintext_len_of(&self.layout, index, last, segment.len())?;
        let (body, tag_bytes) = segment.split_at_mut(plaintext_len);
        let tag: [u8; TAG_LEN] = (&*tag_bytes)
            .try_into()
            .map_err(|_| StreamError::InvalidSegmentLength)?;
        match self
            .cipher
            .open_detached(&segment_nonce(index, last), &self.header_bytes, body, &tag)
        {
            Ok(()) => Ok(body),
            Err(_) => {
                body.zeroize();
                tag_bytes.zeroize();
                Err(StreamError::SegmentAuthenticationFailed { index })
            }
        }
    }

    /// Opens a whole stream in place (header included in `file`) and returns the plaintext
    /// length; each segment's plaintext stays at its position (see
    /// [`StreamLayout::gather_plaintext`]).
    ///
    /// On any error after the length checks, every byte after the header is overwritten with
    /// zeros: a stream that does not authenticate as a whole releases nothing.
    pub fn open_file_in_place(&self, file: &mut [u8]) -> Result<u64, StreamError> {
        let (count, body) = self.check_file(file)?;
        let full = usize_from(self.layout.full_segment_len())?;
        let mut failure = None;
        for (index, segment) in (0u64..).zip(body.chunks_mut(full)) {
            if let Err(err) = self.open_segment(index, index + 1 == count, segment) {
                failure = Some(err);
                break;
            }
        }
        self.finish_file(body, failure)
    }

    /// Opens a whole stream into a new vector of plaintext.
    pub fn open_to_vec(&self, file: &[u8]) -> Result<Vec<u8>, StreamError> {
        let mut buf = Vec::new();
        buf.try_reserve_exact(file.len())
            .map_err(|_| StreamError::LengthOverflow)?;
        buf.extend_from_slice(file);
        self.open_file_in_place(&mut buf)?;
        let plaintext_len = self.layout.gather_plaintext(&mut buf)?.len();
        // The tail still holds stale copies of moved plaintext: clear it before it becomes spare
        // capacity.
        if let Some(tail) = buf.get_mut(plaintext_len..) {
            tail.zeroize();
        }
        buf.truncate(plaintext_len);
        Ok(buf)
    }

    /// Checks a whole-file buffer (header equal to ours, canonical length) and returns the
    /// segment count and the body after the header.
    pub(crate) fn check_file<'a>(
        &self,
        file: &'a mut [u8],
    ) -> Result<(u64, &'a mut [u8]), StreamError> {
        let count = self.layout.segment_count(len_u64(file.len())?)?;
        let (header, body) = file
            .split_at_mut_checked(HEADER_LEN)
            .ok_or(StreamError::TruncatedHeader)?;
        if *header != self.header_bytes {
            return Err(StreamError::HeaderMismatch);
        }
        Ok((count, body))
    }

    /// Zeroizes the body if any segment failed; otherwise returns the plaintext length.
    pub(crate) fn finish_file(
        &self,
        body: &mut [u8],
        failure: Option<StreamError>,
    ) -> Result<u64, StreamError> {
        if let Some(err) = failure {
            body.zeroize();
            return Err(err);
        }
        let file_len = len_u64(body.len())?
            .checked_add(len_u64(HEADER_LEN)?)
            .ok_or(StreamError::LengthOverflow)?;
        self.layout.plaintext_len(file_len)
    }
}

/// Seals `plaintext` into a new stream with the default backend.
pub fn seal_to_vec(
    key: &BackupKey,
    segment_size: u32,
    plaintext: &[u8],
    rng: &mut (impl CryptoRng + RngCore),
) -> Result<Vec<u8>, StreamError> {
    SegmentSealer::new(key, segment_size, rng)?.seal_to_vec(plaintext)
}

/// Opens a whole stream with the default backend and returns its plaintext.
pub fn open_to_vec(key: &BackupKey, file: &[u8]) -> Result<Vec<u8>, StreamError> {
    SegmentOpener::for_stream(key, file)?.open_to_vec(file)
}
