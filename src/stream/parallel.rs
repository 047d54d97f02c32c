//! Whole-file sealing and opening on all cores (feature `parallel`, rayon).
//!
//! Same buffers, same checks and byte-identical results as the sequential
//! [`SegmentSealer::seal_file_in_place`] / [`SegmentOpener::open_file_in_place`]; segments are
//! independent (own nonce, shared read-only key schedule), so they are processed in place in
//! parallel chunks of one contiguous buffer.

use rayon::prelude::*;

use super::backend::SegmentCipher;
use super::error::StreamError;
use super::layout::usize_from;
use super::segment::{SegmentOpener, SegmentSealer};

impl<C: SegmentCipher> SegmentSealer<C> {
    /// Parallel [`seal_file_in_place`](Self::seal_file_in_place): same contract, same output.
    pub fn seal_file_in_place_parallel(self, file: &mut [u8]) -> Result<(), StreamError> {
        let (count, body) = self.prepare_file(file)?;
        let full = usize_from(self.layout().full_segment_len())?;
        body.par_chunks_mut(full)
            .enumerate()
            .try_for_each(|(index, segment)| {
                let index = u64::try_from(index).map_err(|_| StreamError::LengthOverflow)?;
                self.seal_segment(index, index + 1 == count, segment)
            })
    }
}

impl<C: SegmentCipher> SegmentOpener<C> {
    /// Parallel [`open_file_in_place`](Self::open_file_in_place): same contract, same result;
    /// on failure reports the lowest failing segment index and zeroizes the whole body.
    pub fn open_file_in_place_parallel(&self, file: &mut [u8]) -> Result<u64, StreamError> {
        let (count, body) = self.check_file(file)?;
        let full = usize_from(self.layout().full_segment_len())?;
        let failure = body
            .par_chunks_mut(full)
            .enumerate()
            .filter_map(|(index, segment)| {
                let index = match u64::try_from(index) {
                    Ok(index) => index,
                    Err(_) => return Some((u64::MAX, StreamError::LengthOverflow)),
                };
                self.open_segment(index, index + 1 == count, segment)
                    .err()
                    .map(|err| (index, err))
            })
            .min_by_key(|(index, _)| *index)
            .map(|(_, err)| err);
        self.finish_file(body, failure)
    }
}
