//! The software HSM boundary of one replica (SPEC.md "Hosts", "HSM boundary").
//!
//! [`SoftHsm`] is the only owner of the fleet secrets, the trusted state and the core's
//! `ReplicatedVault`; nothing outside this module can reach them. What crosses the boundary is
//! what would cross a real HSM's: opaque bytes in (relay requests, link envelopes, the sealed
//! writes the host kept on disk), opaque bytes out ([`ReplicatedVaultOutput`]s: sealed writes to persist,
//! sealed messages to send), the time, and randomness. In production this module runs inside
//! the HSM and the host talks to it over the HSM's own interface.

use e2ee_backup::internal::consensus::{Config, ReplicaId};
use e2ee_backup::internal::drops::DropCounts;
use e2ee_backup::internal::vault::{
    ConsensusStore, ReplicaPlace, ReplicatedVault, ReplicatedVaultOutput, StartKind, open_disk,
};
use e2ee_backup::{FailureCounts, GroupId, RelayTag};
use rand_core::{CryptoRng, RngCore};

use crate::Suite;
use crate::files::ReplicaSecrets;
use crate::storage::DiskSlots;
use crate::trust::NodeTrust;

type Replica = ReplicatedVault<Suite, ConsensusStore<NodeTrust>>;

/// The HSM refused to start.
#[derive(Debug, thiserror::Error)]
#[error("the vault replica could not start: {0}")]
pub struct HsmError(String);

/// A replica's provisioning file, opened: its place is readable, its secrets are not (only
/// [`SoftHsm::start`] takes them).
pub struct Provisioned(ReplicaSecrets);

impl Provisioned {
    /// Reads a replica secrets file (SPEC.md "Replica secrets file").
    pub fn read(path: &std::path::Path) -> Result<Self, crate::files::FileError> {
        ReplicaSecrets::read(path).map(Self)
    }

    /// The replica's group.
    pub fn group(&self) -> u32 {
        self.0.group
    }

    /// The replica's id within its group.
    pub fn replica(&self) -> u8 {
        self.0.replica
    }
}

/// How the HSM started, for the host's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    /// A member of a brand-new group (its trusted cell had never started).
    Genesis,
    /// From the disk, which the trusted cell vouched for.
    Restored,
    /// As an amnesiac: fences and catches up from its peers before it votes.
    Recovering,
}

/// One replica behind its software HSM boundary.
pub struct SoftHsm {
    replica: Replica,
    started: Started,
    unusable_writes: usize,
}

impl SoftHsm {
    /// Starts the replica named by `provisioned` over `disk` (every slot the host's database holds;
    /// `None` for a key that names no slot) with `trust` (durable or volatile mode).
    ///
    /// Durable mode with a cell that never started: a genesis member
    /// (`ConsensusStore::new`). Otherwise `ConsensusStore::start`, which believes the disk only
    /// if the cell vouches for it and else recovers as an amnesiac; in volatile mode every start
    /// is a recovery, and a brand-new group founds itself by re-genesis (SPEC.md "Re-genesis").
    pub fn start(
        provisioned: Provisioned,
        mut config: Config,
        trust: NodeTrust,
        disk: DiskSlots,
        now_ms: u64,
        rng: &mut (impl CryptoRng + RngCore),
    ) -> Result<Self, HsmError> {
        let ReplicaSecrets {
            group,
            replica,
            fleet,
        } = provisioned.0;
        let id = ReplicaId(replica);
        let place = ReplicaPlace {
            group: GroupId(group),
            replica: id,
        };
        // A fresh 64-bit incarnation for every process start (caspaxos/src/ballot.rs).
        let incarnation = rng.next_u64();
        config.jitter_seed = rng.next_u64();
        let genesis = match &trust {
            NodeTrust::Durable(file) => {
                let cell = file.read().map_err(|e| HsmError(e.to_string()))?;
                cell.incarnation == 0 && disk.is_empty()
            }
            NodeTrust::Volatile(_) => false,
        };
        let mut unusable_writes = 0;
        let store = if genesis {
            ConsensusStore::new(GroupId(group), id, config, incarnation, trust)
        } else {
            // Rows whose key names no slot are unusable too.
            let named = disk
                .iter()
                .filter_map(|(slot, sealed)| Some((slot.as_ref()?, sealed.as_slice())));
            let opened = open_disk(&Suite::default(), &fleet, place, named);
            unusable_writes =
                opened.unusable.len() + disk.iter().filter(|(s, _)| s.is_none()).count();
            ConsensusStore::start(
                GroupId(group),
                id,
                config,
                &opened.image,
                trust,
                incarnation,
                now_ms,
            )
        }
        .map_err(|e| HsmError(e.to_string()))?;
        let started = match (genesis, store.start_kind()) {
            (true, _) => Started::Genesis,
            (false, StartKind::Restored) => Started::Restored,
            (false, StartKind::Recovering) => Started::Recovering,
        };
        let mut replica = ReplicatedVault::new(Suite::default(), fleet, store);
        replica.start(rng);
        Ok(Self {
            replica,
            started,
            unusable_writes,
        })
    }

    /// How this instance started.
    pub fn started(&self) -> Started {
        self.started
    }

    /// Durable writes on the disk that did not open (sealed for another replica, tampered, a
    /// key that names no slot).
    pub fn unusable_writes(&self) -> usize {
        self.unusable_writes
    }

    /// A relay's request (an encoded `VaultRequest`) from the relay the host tags `relay`.
    pub fn handle_relay_message(
        &mut self,
        now_ms: u64,
        rng: &mut (impl CryptoRng + RngCore),
        relay: RelayTag,
        bytes: &[u8],
    ) {
        self.replica.handle_relay_message(now_ms, rng, relay, bytes);
    }

    /// Another replica's link envelope.
    pub fn handle_replica_message(
        &mut self,
        now_ms: u64,
        rng: &mut (impl CryptoRng + RngCore),
        bytes: &[u8],
    ) {
        self.replica.handle_replica_message(now_ms, rng, bytes);
    }

    /// The replica's timer.
    pub fn handle_timeout(&mut self, now_ms: u64, rng: &mut (impl CryptoRng + RngCore)) {
        if self.replica.poll_timeout().is_some_and(|t| t <= now_ms) {
            self.replica.handle_timeout(now_ms, rng);
        }
    }

    /// When the replica next wants [`Self::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<u64> {
        self.replica.poll_timeout()
    }

    /// The next output; the host carries them out in order (Persist-before-send).
    pub fn poll_output(&mut self) -> Option<ReplicatedVaultOutput> {
        self.replica.poll_output()
    }

    /// Inputs the replica dropped, by reason.
    pub fn drops(&self) -> DropCounts {
        *self.replica.drops()
    }

    /// Consensus messages of another lineage dropped by the store.
    pub fn foreign_lineage_drops(&self) -> u64 {
        self.replica.store().foreign_lineage_drops()
    }

    /// Consensus operations the store gave up on, by reason.
    pub fn failures(&self) -> FailureCounts {
        *self.replica.store().failures()
    }

    /// Whether the replica votes (false while it recovers).
    pub fn is_voting(&self) -> bool {
        self.replica.store().replica().is_voting()
    }

    /// Whether a newer instance superseded this one (it emits nothing any more).
    pub fn is_halted(&self) -> bool {
        self.replica.store().is_halted()
    }
}
