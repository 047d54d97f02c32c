//! Helpers shared by the stream-cipher integration tests.

use std::io::{self, Read};

use e2ee_backup::BackupKey;
use e2ee_backup::internal::stream::{
    SegmentOpener, StreamError, StreamReader, open_to_vec, seal_to_vec,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// A deterministic key for tests.
pub fn test_key(seed: u64) -> BackupKey {
    BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

/// Deterministic plaintext of `len` bytes.
pub fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// Seals with the default backend and a fixed-seed RNG for the salt.
pub fn seal(key: &BackupKey, segment_size: u32, plaintext: &[u8], salt_seed: u64) -> Vec<u8> {
    let mut rng = ChaCha20Rng::seed_from_u64(salt_seed);
    seal_to_vec(key, segment_size, plaintext, &mut rng).expect("sealing a valid plaintext")
}

/// The `StreamError` inside an `io::Error` from the adapters.
pub fn stream_error(err: &io::Error) -> Option<StreamError> {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<StreamError>())
        .copied()
}

/// Reads everything through `StreamReader`; returns the bytes it released and the outcome.
pub fn read_via_reader(
    key: &BackupKey,
    file: &[u8],
    chunk: usize,
) -> (Vec<u8>, Result<(), StreamError>) {
    let mut released = Vec::new();
    let mut reader = match StreamReader::new(key, ShortReader::new(file, vec![chunk])) {
        Ok(reader) => reader,
        Err(err) => return (released, Err(stream_error(&err).expect("a stream error"))),
    };
    let mut buf = [0u8; 37];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return (released, Ok(())),
            Ok(n) => released.extend_from_slice(&buf[..n]),
            Err(err) => return (released, Err(stream_error(&err).expect("a stream error"))),
        }
    }
}

/// Opens `file` through every path (one-shot, reader, parallel) and checks they
/// agree on success/failure and on the plaintext; returns the one-shot result.
pub fn open_every_way(key: &BackupKey, file: &[u8]) -> Result<Vec<u8>, StreamError> {
    let one_shot = open_to_vec(key, file);
    let (released, reader_outcome) = read_via_reader(key, file, 7);
    match (&one_shot, &reader_outcome) {
        (Ok(plaintext), Ok(())) => assert_eq!(plaintext, &released),
        (Err(_), Err(_)) => {}
        (one_shot, reader) => panic!("paths disagree: one-shot {one_shot:?}, reader {reader:?}"),
    }
    {
        let mut buf = file.to_vec();
        let parallel = SegmentOpener::for_stream(key, file)
            .and_then(|opener| opener.open_file_in_place_parallel(&mut buf).map(|_| ()));
        match (&one_shot, parallel) {
            (Ok(_), Ok(())) => {}
            (Err(a), Err(b)) => assert_eq!(*a, b, "parallel reports the same error"),
            (a, b) => panic!("parallel disagrees: one-shot {a:?}, parallel {b:?}"),
        }
    }
    one_shot
}

/// A reader that returns at most the next size in `sizes` (cycled) per call.
pub struct ShortReader<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    call: usize,
    /// Return `Interrupted` on every third call.
    pub interrupt: bool,
}

impl<'a> ShortReader<'a> {
    /// A reader of `data` in pieces of the given sizes.
    pub fn new(data: &'a [u8], sizes: Vec<usize>) -> Self {
        Self {
            data,
            sizes,
            call: 0,
            interrupt: false,
        }
    }
}

impl Read for ShortReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.call += 1;
        if self.interrupt && self.call.is_multiple_of(3) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let size = self.sizes[self.call % self.sizes.len()].max(1);
        let n = size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
