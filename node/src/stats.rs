//! Counters a host keeps besides the core's drop counts, and the stats line.

use std::sync::atomic::{AtomicU64, Ordering};

use e2ee_backup::drops::{DropCounts, DropReason};

/// What the host itself dropped or refused (the core counts the rest, [`DropCounts`]).
#[derive(Debug, Default)]
pub struct HostCounters {
    /// Frames announced longer than the limit (the connection was closed).
    pub oversize_frames: AtomicU64,
    /// Connections closed because the first frame was not a valid hello or token.
    pub bad_handshakes: AtomicU64,
    /// Messages not sent because the peer's queue was full or it was unreachable.
    pub send_queue_full: AtomicU64,
    /// Clients refused: token invalid or expired.
    pub tokens_refused: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
}

impl HostCounters {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as `key=value` pairs.
    pub fn line(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "host_oversize_frames={} host_bad_handshakes={} host_send_queue_full={} host_tokens_refused={} host_connections={}",
            g(&self.oversize_frames),
            g(&self.bad_handshakes),
            g(&self.send_queue_full),
            g(&self.tokens_refused),
            g(&self.connections),
        )
    }
}

/// The core's drop counts as `key=value` pairs, one per reason.
pub fn drops_line(d: &DropCounts) -> String {
    format!(
        "drop_cannot_decode={} drop_not_addressed={} drop_cannot_open={} drop_replayed={} drop_foreign_lineage={}",
        d.get(DropReason::CannotDecode),
        d.get(DropReason::NotAddressed),
        d.get(DropReason::CannotOpen),
        d.get(DropReason::Replayed),
        d.get(DropReason::ForeignLineage),
    )
}
