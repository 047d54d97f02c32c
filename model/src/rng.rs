//! A deterministic, hashable RNG for model states. **Model checking only**: its output is a
//! counter, so it is predictable and protects nothing.

use rand_core::{CryptoRng, RngCore};

/// Returns `stream << 32 | n` for n = 1, 2, 3, …: distinct per stream, equal across runs, and
/// small enough to hash as part of a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CounterRng {
    stream: u32,
    counter: u32,
}

impl CounterRng {
    /// A counter RNG for `stream` (use one stream per actor so their outputs never collide).
    pub fn new(stream: u32) -> Self {
        Self { stream, counter: 0 }
    }
}

impl RngCore for CounterRng {
    fn next_u32(&mut self) -> u32 {
        self.counter = self.counter.wrapping_add(1);
        self.counter
    }

    fn next_u64(&mut self) -> u64 {
        let n = self.next_u32();
        (u64::from(self.stream) << 32) | u64::from(n)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_be_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// Marker only: the protocol roles demand a CSPRNG; in the model, determinism is the point.
impl CryptoRng for CounterRng {}
