//! Counters a host keeps besides the core's drop counts, and the stats line.

use std::sync::atomic::{AtomicU64, Ordering};

use e2ee_backup::internal::drops::{DropCounts, DropReason};
use e2ee_backup::{FailReason, FailureCounts};

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
    /// Connections refused because the host already had its maximum open.
    pub connections_refused: AtomicU64,
    /// Inputs dropped because the core's thread was behind (its input queue was full).
    pub input_queue_full: AtomicU64,
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
            "host_oversize_frames={} host_bad_handshakes={} host_send_queue_full={} host_tokens_refused={} host_connections={} host_connections_refused={} host_input_queue_full={}",
            g(&self.oversize_frames),
            g(&self.bad_handshakes),
            g(&self.send_queue_full),
            g(&self.tokens_refused),
            g(&self.connections),
            g(&self.connections_refused),
            g(&self.input_queue_full),
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

/// The failure counts as `key=value` pairs for the stats line.
pub fn failures_line(f: &FailureCounts) -> String {
    format!(
        "failed_unavailable={} failed_contended={} failed_not_voting={} rounds_refused={}",
        f.get(FailReason::Unavailable),
        f.get(FailReason::Contended),
        f.get(FailReason::NotVoting),
        f.refusals(),
    )
}

/// Most inputs queued for a host's core thread; more are dropped and counted
/// ([`HostCounters::input_queue_full`]) rather than buffered without bound.
pub const INPUT_QUEUE: usize = 16_384;

/// Hands a data input to the core thread: dropped and counted if its queue is full. Returns
/// false once the core thread is gone.
pub fn offer<T>(tx: &std::sync::mpsc::SyncSender<T>, event: T, counters: &HostCounters) -> bool {
    match tx.try_send(event) {
        Ok(()) => true,
        Err(std::sync::mpsc::TrySendError::Full(_)) => {
            HostCounters::bump(&counters.input_queue_full);
            true
        }
        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => false,
    }
}

/// Hands a control input (a connection opened or closed) to the core thread, waiting while
/// its queue is full: these are never dropped. Returns false once the core thread is gone.
pub async fn deliver<T>(tx: &std::sync::mpsc::SyncSender<T>, mut event: T) -> bool {
    loop {
        match tx.try_send(event) {
            Ok(()) => return true,
            Err(std::sync::mpsc::TrySendError::Full(e)) => {
                event = e;
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return false,
        }
    }
}
