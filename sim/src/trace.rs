//! The run's trace: a running SHA-256 over every event handled (time, kind, fields). Two runs
//! with the same seed give the same hash; any divergence changes it.

use sha2::{Digest as _, Sha256};

/// Running hash of the events of one run.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    hasher: Sha256,
    /// Events recorded.
    pub events: u64,
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one event: its time, a kind code and its fields (each length-prefixed).
    pub fn record(&mut self, time_ms: u64, kind: u8, fields: &[&[u8]]) {
        self.events += 1;
        self.hasher.update(time_ms.to_be_bytes());
        self.hasher.update([kind]);
        for field in fields {
            self.hasher.update((field.len() as u64).to_be_bytes());
            self.hasher.update(field);
        }
    }

    /// The hash of everything recorded so far.
    pub fn hash(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}
