//! The run's trace: a running SHA-256 over every event handled (time, kind, fields). Two runs
//! with the same seed give the same hash; any divergence changes it.

use sha2::{Digest as _, Sha256};

/// What an event in the trace is. The codes are the bytes hashed: a new kind takes a new code,
/// and changing one changes every trace hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum TraceKind {
    /// The run starts (fault mix, seed).
    RunStarted = 0,
    /// A phone's message reaches its relay.
    PhoneToRelay = 1,
    /// A relay's message reaches a vault replica.
    RelayToVault = 2,
    /// A vault replica's reply reaches a relay.
    VaultToRelay = 3,
    /// A relay's reply reaches a phone.
    RelayToPhone = 4,
    /// A client's retry timer fires.
    ClientTimer = 5,
    /// A user wakes up to start its next operation.
    Wake = 6,
    /// A vault replica's durable write completes.
    DiskDone = 7,
    /// A planned fault is applied.
    Fault = 8,
    /// The network heals for good.
    Heal = 9,
    /// A vault replica crashes right after sending a reply.
    CrashAfterReply = 10,
    /// A replica-to-replica message arrives.
    ReplicaToReplica = 11,
    /// A vault replica's timer fires.
    VaultTimer = 12,
    /// A relay's timer fires.
    RelayTimer = 13,
    /// A crashed vault replica restarts.
    RestartNode = 14,
    /// A whole group crashes (every replica, each restarting later).
    GroupCrash = 15,
}

impl TraceKind {
    /// The byte this kind is hashed as.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

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

    /// Records one event: its time, its kind and its fields (each length-prefixed).
    pub fn record(&mut self, time_ms: u64, kind: TraceKind, fields: &[&[u8]]) {
        self.events += 1;
        self.hasher.update(time_ms.to_be_bytes());
        self.hasher.update([kind.code()]);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes are hashed into every pinned trace hash: they must not move.
    #[test]
    fn kind_codes_are_the_hashed_bytes() {
        let kinds = [
            TraceKind::RunStarted,
            TraceKind::PhoneToRelay,
            TraceKind::RelayToVault,
            TraceKind::VaultToRelay,
            TraceKind::RelayToPhone,
            TraceKind::ClientTimer,
            TraceKind::Wake,
            TraceKind::DiskDone,
            TraceKind::Fault,
            TraceKind::Heal,
            TraceKind::CrashAfterReply,
            TraceKind::ReplicaToReplica,
            TraceKind::VaultTimer,
            TraceKind::RelayTimer,
            TraceKind::RestartNode,
            TraceKind::GroupCrash,
        ];
        for (code, kind) in kinds.into_iter().enumerate() {
            assert_eq!(usize::from(kind.code()), code, "{kind:?}");
        }
        let mut a = Trace::new();
        let mut b = Trace::new();
        a.record(1, TraceKind::Heal, &[]);
        b.record(1, TraceKind::Fault, &[]);
        assert_ne!(a.hash(), b.hash(), "the kind is part of the hash");
    }
}
