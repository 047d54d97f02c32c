//! `std::io` adapters (feature `std`): [`StreamWriter`] and [`StreamReader`].

use std::io::{self, ErrorKind, Read, Write};
use std::vec::Vec;

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

use super::backend::{AesGcmBackend, SegmentCipher};
use super::error::StreamError;
use super::header::HEADER_LEN;
use super::layout::{TAG_LEN, usize_from};
use super::segment::{SegmentOpener, SegmentSealer};
use crate::BackupKey;

/// Encrypts everything written to it into a backup stream on `W`.
///
/// The header is written at construction. A full segment is sealed (as non-final) only once
/// more bytes arrive, so [`finish`](Self::finish) always seals a final segment of
/// `1..=segment_size` bytes (or the single empty segment of an empty plaintext). Dropping the
/// writer without `finish` leaves a stream without a final segment, which every reader rejects;
/// the buffered plaintext is zeroized on drop. `flush` flushes `W` but cannot emit a partial
/// segment. After an error from `W` the writer is poisoned: later calls fail.
pub struct StreamWriter<W: Write, C: SegmentCipher = AesGcmBackend> {
    inner: Option<W>,
    sealer: SegmentSealer<C>,
    buf: Vec<u8>,
    filled: usize,
    segment_size: usize,
    index: u64,
    poisoned: bool,
}

impl<W: Write> StreamWriter<W, AesGcmBackend> {
    /// Starts a new stream with the default backend; writes the header to `inner`.
    pub fn new(
        key: &BackupKey,
        segment_size: u32,
        rng: &mut (impl CryptoRng + RngCore),
        inner: W,
    ) -> io::Result<Self> {
        Self::from_sealer(SegmentSealer::new(key, segment_size, rng)?, inner)
    }
}

impl<W: Write, C: SegmentCipher> StreamWriter<W, C> {
    /// Starts a new stream with a fresh sealer (any backend); writes the header to `inner`.
    pub fn from_sealer(sealer: SegmentSealer<C>, mut inner: W) -> io::Result<Self> {
        let segment_size = usize_from(u64::from(sealer.layout().segment_size()))?;
        inner.write_all(sealer.header_bytes())?;
        Ok(Self {
            inner: Some(inner),
            sealer,
            buf: vec![0u8; segment_size + TAG_LEN],
            filled: 0,
            segment_size,
            index: 0,
            poisoned: false,
        })
    }

    /// Seals the buffered bytes as the final segment, writes it, flushes and returns `W`.
    pub fn finish(mut self) -> io::Result<W> {
        self.seal_and_write(true)?;
        let mut inner = self.inner.take().ok_or_else(poisoned_error)?;
        inner.flush()?;
        Ok(inner)
    }

    fn seal_and_write(&mut self, last: bool) -> io::Result<()> {
        if self.poisoned {
            return Err(poisoned_error());
        }
        // Poisoned until the segment is fully written.
        self.poisoned = true;
        let segment = self
            .buf
            .get_mut(..self.filled + TAG_LEN)
            .ok_or(StreamError::LengthOverflow)?;
        self.sealer.seal_segment(self.index, last, segment)?;
        self.inner
            .as_mut()
            .ok_or_else(poisoned_error)?
            .write_all(segment)?;
        self.index = self
            .index
            .checked_add(1)
            .ok_or(StreamError::LengthOverflow)?;
        self.filled = 0;
        self.poisoned = false;
        Ok(())
    }
}

impl<W: Write, C: SegmentCipher> Write for StreamWriter<W, C> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        if self.poisoned {
            return Err(poisoned_error());
        }
        let accepted = data.len();
        while !data.is_empty() {
            if self.filled == self.segment_size {
                // More bytes follow, so the buffered full segment is not the final one.
                self.seal_and_write(false)?;
            }
            let take = (self.segment_size - self.filled).min(data.len());
            let (head, rest) = data.split_at(take);
            if let Some(dst) = self.buf.get_mut(self.filled..self.filled + take) {
                dst.copy_from_slice(head);
            }
            self.filled += take;
            data = rest;
        }
        Ok(accepted)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.as_mut().ok_or_else(poisoned_error)?.flush()
    }
}

impl<W: Write, C: SegmentCipher> Drop for StreamWriter<W, C> {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

impl<W: Write, C: SegmentCipher> core::fmt::Debug for StreamWriter<W, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamWriter")
            .field("index", &self.index)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

fn poisoned_error() -> io::Error {
    io::Error::other("backup stream writer poisoned by an earlier error")
}

/// Decrypts a backup stream read from `R`.
///
/// Reads one sealed segment plus one byte of lookahead: a segment is opened as final only when
/// the inner reader reports end of file right after it, never because it is short or full.
/// Short reads are retried until EOF. Only authenticated plaintext is ever returned; after an
/// authentication or format error every later `read` returns the same error (an
/// [`io::ErrorKind::InvalidData`] error wrapping a [`StreamError`]). EOF without a valid final
/// segment is an error, and so are trailing bytes (they make the real final segment fail).
pub struct StreamReader<R: Read, C: SegmentCipher = AesGcmBackend> {
    inner: R,
    opener: SegmentOpener<C>,
    /// One sealed segment plus one lookahead byte.
    buf: Vec<u8>,
    /// Bytes of the next segment (and lookahead) present in `buf`.
    have: usize,
    /// Authenticated plaintext not yet returned: `buf[out_start..out_end]`.
    out_start: usize,
    out_end: usize,
    /// The lookahead byte sits at `buf[full]` and starts the next segment.
    carry: bool,
    index: u64,
    done: bool,
    error: Option<StreamError>,
}

impl<R: Read> StreamReader<R, AesGcmBackend> {
    /// Reads the header from `inner` and checks the key commitment (default backend).
    pub fn new(key: &BackupKey, inner: R) -> io::Result<Self> {
        Self::with_backend(key, inner)
    }
}

impl<R: Read, C: SegmentCipher> StreamReader<R, C> {
    /// Reads the header from `inner` and checks the key commitment, before any segment.
    pub fn with_backend(key: &BackupKey, mut inner: R) -> io::Result<Self> {
        let mut header = [0u8; HEADER_LEN];
        inner.read_exact(&mut header).map_err(|err| {
            if err.kind() == ErrorKind::UnexpectedEof {
                StreamError::TruncatedHeader.into()
            } else {
                err
            }
        })?;
        let opener = SegmentOpener::with_backend(key, &header)?;
        let full = usize_from(opener.layout().full_segment_len())?;
        Ok(Self {
            inner,
            opener,
            buf: vec![0u8; full + 1],
            have: 0,
            out_start: 0,
            out_end: 0,
            carry: false,
            index: 0,
            done: false,
            error: None,
        })
    }

    /// The opener (header, layout) of this stream.
    pub fn opener(&self) -> &SegmentOpener<C> {
        &self.opener
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Reads and opens the next segment into `buf`; sets `out_*`, `done` or `error`.
    fn next_segment(&mut self) -> io::Result<()> {
        let full = self.buf.len() - 1;
        if self.carry {
            self.buf.copy_within(full..full + 1, 0);
            self.have = 1;
            self.carry = false;
        }
        let mut eof = false;
        while self.have < self.buf.len() {
            let dst = self.buf.get_mut(self.have..).unwrap_or_default();
            match self.inner.read(dst) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => self.have += n.min(dst.len()),
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        let opened = if eof {
            self.open_final()
        } else {
            let segment = self.buf.get_mut(..full).unwrap_or_default();
            self.opener
                .open_segment(self.index, false, segment)
                .map(|plaintext| plaintext.len())
        };
        match opened {
            Ok(len) => {
                self.out_start = 0;
                self.out_end = len;
                self.have = 0;
                self.carry = !eof;
                self.done = eof;
                if !eof {
                    // A non-final segment at index u64::MAX cannot be followed by another.
                    self.index = self
                        .index
                        .checked_add(1)
                        .ok_or(StreamError::LengthOverflow)?;
                }
                Ok(())
            }
            Err(err) => {
                self.error = Some(err);
                self.buf.zeroize();
                Err(err.into())
            }
        }
    }

    /// The inner reader hit EOF: the buffered bytes must be a valid final segment.
    fn open_final(&mut self) -> Result<usize, StreamError> {
        if self.have < TAG_LEN {
            // Nothing after the header, or EOF inside a segment before a whole tag.
            return Err(StreamError::Truncated);
        }
        if self.have == TAG_LEN && self.index > 0 {
            // Only the single segment of an empty plaintext may be empty.
            return Err(StreamError::InvalidLength);
        }
        let segment = self.buf.get_mut(..self.have).unwrap_or_default();
        self.opener
            .open_segment(self.index, true, segment)
            .map(|plaintext| plaintext.len())
    }
}

impl<R: Read, C: SegmentCipher> Read for StreamReader<R, C> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(err) = self.error {
                return Err(err.into());
            }
            if self.out_start < self.out_end {
                let ready = self
                    .buf
                    .get(self.out_start..self.out_end)
                    .unwrap_or_default();
                let n = ready.len().min(out.len());
                if let (Some(dst), Some(src)) = (out.get_mut(..n), ready.get(..n)) {
                    dst.copy_from_slice(src);
                }
                self.out_start += n;
                return Ok(n);
            }
            if self.done || out.is_empty() {
                return Ok(0);
            }
            self.next_segment()?;
        }
    }
}

impl<R: Read, C: SegmentCipher> Drop for StreamReader<R, C> {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

impl<R: Read, C: SegmentCipher> core::fmt::Debug for StreamReader<R, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamReader")
            .field("index", &self.index)
            .field("done", &self.done)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}
