//! Byte reader and writer shared by every wire message (SPEC.md "Vault protocol", "Encoding").
//!
//! Integers are big-endian. `bytes16`/`bytes32` are a 2- or 4-byte length followed by that many
//! bytes. [`Reader::finish`] rejects trailing bytes, so every decoder is exact.

use alloc::vec::Vec;

/// Why bytes did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the message did.
    Truncated,
    /// Bytes were left after the message.
    TrailingBytes,
    /// The version byte is not one this code speaks.
    UnsupportedVersion(u8),
    /// A message, kind or status code is unknown.
    UnknownCode(u8),
    /// A field holds a value outside its allowed range.
    InvalidValue,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated => f.write_str("the message is truncated"),
            Self::TrailingBytes => f.write_str("bytes follow the end of the message"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported message version {v}"),
            Self::UnknownCode(c) => write!(f, "unknown message, kind or status code {c}"),
            Self::InvalidValue => f.write_str("a field holds a value outside its allowed range"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Reads fields from a byte slice without ever panicking.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Reads exactly `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self
            .rest
            .split_at_checked(n)
            .ok_or(DecodeError::Truncated)?;
        self.rest = tail;
        Ok(head)
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        bytes.try_into().map_err(|_| DecodeError::Truncated)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads a `u8` length and that many bytes.
    pub fn bytes8(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u8()?;
        self.take(usize::from(len))
    }

    /// Reads a `u16` length and that many bytes.
    pub fn bytes16(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// Reads a `u32` length and that many bytes.
    pub fn bytes32(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = usize::try_from(self.u32()?).map_err(|_| DecodeError::InvalidValue)?;
        self.take(len)
    }

    /// Takes every byte that is left (for padding, which the caller then checks).
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    /// Ends reading; fails if any byte is left.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

/// Appends fields to a byte vector.
#[derive(Debug, Default)]
pub struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// Starts an empty message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends raw bytes.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.out.extend_from_slice(bytes);
        self
    }

    /// Appends one byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.raw(&[v])
    }

    /// Appends a big-endian `u16`.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }

    /// Appends a big-endian `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }

    /// Appends a big-endian `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }

    /// Appends a `u8` length and the bytes (callers guarantee at most 255 bytes; longer input is
    /// cut to keep the encoding well-formed, and such values are rejected before encoding).
    pub fn bytes8(&mut self, bytes: &[u8]) -> &mut Self {
        let len = u8::try_from(bytes.len()).unwrap_or(u8::MAX);
        self.u8(len)
            .raw(bytes.get(..usize::from(len)).unwrap_or_default())
    }

    /// Appends a `u16` length and the bytes (cut at 65 535 bytes, see [`Writer::bytes8`]).
    pub fn bytes16(&mut self, bytes: &[u8]) -> &mut Self {
        let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
        self.u16(len)
            .raw(bytes.get(..usize::from(len)).unwrap_or_default())
    }

    /// Appends a `u32` length and the bytes.
    pub fn bytes32(&mut self, bytes: &[u8]) -> &mut Self {
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        let cut = usize::try_from(len).unwrap_or(usize::MAX).min(bytes.len());
        self.u32(len).raw(bytes.get(..cut).unwrap_or_default())
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_rejects_trailing_bytes() {
        let mut r = Reader::new(&[1, 2]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes));
    }

    #[test]
    fn reader_reports_truncation() {
        let mut r = Reader::new(&[0, 5, 1]);
        assert_eq!(r.bytes16(), Err(DecodeError::Truncated));
    }
}
