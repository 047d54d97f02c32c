//! The vault behind one adapter: host semantics for one replica of a replicated group (a
//! [`ReplicatedVault`] over a [`ConsensusStore`]; five replicas per group, one per datacenter).
//!
//! The host carries out the replica's outputs in order: a `Persist` is issued to the
//! simulated disk at once and completes after `disk_write_ms` (or a slow-disk draw), in order
//! after every earlier write; a `ToRelay` or a `ToReplica` is sent only when every earlier
//! write is on disk (the documented output-order contract). A crash drops the replica's
//! volatile state and every output not yet carried out (including a write in progress); a
//! restart opens every durable write on disk and rebuilds the replica with
//! [`ConsensusStore::start`], which trusts the disk only if the HSM's trusted cell (a
//! [`MemoryTrustedState`] the host cannot roll back) vouches for it, and otherwise recovers as
//! an amnesiac (SPEC.md "Rollback"). The operator adversary copies the disk and puts the copy
//! back ([`VaultNode::copy_disk`], [`VaultNode::restore_disk_copy`]). A crash may also tear the
//! first write in progress ([`VaultNode::crash_tearing`]: the slot keeps a mix of old and new
//! bytes, which does not open), and a disk may vanish ([`VaultNode::lose_disk`]); both restart
//! the replica as an amnesiac. The node sums the inputs its replicas dropped over every
//! incarnation ([`VaultNode::drops_over_run`]).
//!
//! The host multiplexes relays: it gives each request a host route id (unique per group across
//! replicas and restarts), hands the replica that id, and maps the reply back to the relay and
//! its route id.
//!
//! [`HostMode::ReplyBeforePersist`] is the deliberately broken host of `--broken
//! reply-before-persist`: it sends replies and replica messages at once, before the writes they
//! depend on, so a crash in between forgets a counted attempt that was already answered (now
//! caught by the trusted write count: the replica recovers instead).
//! [`HostMode::TrustHostDisk`] is `--broken trust-host-disk`: the replica believes whatever
//! its disk holds.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use e2ee_backup::internal::consensus::{Config, FaultInjection, ReplicaId};
use e2ee_backup::internal::crypto::real::{InsecureFastFleetSecrets, InsecureFastSuite};
use e2ee_backup::internal::drops::DropCounts;
use e2ee_backup::internal::ids::AccountId;
use e2ee_backup::internal::vault::{
    ConsensusStore, DurableSlot, MemoryOrVolatileTrust, OpenedDisk, ReplicaPlace, ReplicatedVault,
    ReplicatedVaultOutput, StartKind, StoreFault, VaultFault, open_disk,
};
use e2ee_backup::internal::wire::{VaultReply, VaultRequest};
use e2ee_backup::{GroupId, RelayTag};
use rand_chacha::ChaCha20Rng;

use crate::consensus_counts::ConsensusCounts;
use crate::network::Dc;
use crate::time::NodeClock;

/// Replicas in each group (one per datacenter).
pub const REPLICAS_PER_GROUP: u8 = 5;

/// How the host treats the output-order contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostMode {
    /// Every write completes before any later message is sent.
    Correct,
    /// Broken on purpose: messages are sent before the writes that precede them.
    ReplyBeforePersist,
    /// A correct host whose replicas are broken on purpose with
    /// `VaultFault::SharedOprfKey`: one OPRF seed per account, so a `RegisterStart` is
    /// answered under the live record's OPRF key (an uncounted password test).
    SharedOprfKey,
    /// Broken on purpose: a restarted replica believes whatever its disk holds (no rollback
    /// check against the trusted cell).
    TrustHostDisk,
    /// Both of the above: messages before their writes, and restarts that believe the disk
    /// (the vault before rollback detection with a host breaking the output order; issue 12
    /// measured lost acknowledged registrations with it).
    ReplyBeforePersistTrustingDisk,
    /// A correct host whose replicas' consensus engines are broken on purpose with this fault
    /// (`Config::fault`, feature `fault-injection`).
    Engine(FaultInjection),
}

impl HostMode {
    fn replies_before_persist(self) -> bool {
        matches!(
            self,
            HostMode::ReplyBeforePersist | HostMode::ReplyBeforePersistTrustingDisk
        )
    }

    fn trusts_host_disk(self) -> bool {
        matches!(
            self,
            HostMode::TrustHostDisk | HostMode::ReplyBeforePersistTrustingDisk
        )
    }
}

/// Names a request a replica took, for the checkers: the replica, the relay it came from and
/// the relay's route id (the vault answers it with the same relay tag and route id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestKey {
    /// The replica index within its group.
    pub replica: u8,
    /// The relay index.
    pub relay: usize,
    /// The relay's route id.
    pub route_id: u64,
}

/// What the host asks the world to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEffect {
    /// Send `bytes` (an encoded [`VaultReply`], as the vault sealed it) to relay `relay`, the
    /// one the vault tagged it for; `host_route` names the request for the checkers.
    Reply {
        /// Destination relay index.
        relay: usize,
        /// The reply.
        bytes: Vec<u8>,
        /// The request it answers, for the checkers.
        host_route: RequestKey,
    },
    /// Send `bytes` (an encoded link envelope) to replica `to` of the same group.
    ToReplica {
        /// Destination replica index.
        to: u8,
        /// The envelope.
        bytes: Vec<u8>,
    },
    /// A disk write started; call [`VaultNode::handle_disk_done`] with `epoch` and `sequence`
    /// when it completes, `delay_ms` from now at the earliest and after every earlier write.
    DiskWrite {
        /// The node's epoch when the write started.
        epoch: u64,
        /// The write's sequence number on this node since its last crash.
        sequence: u64,
        /// How long the write takes.
        delay_ms: u64,
    },
}

/// Which trusted state the replicas run with (SPEC.md "Rollback": durable or volatile mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrustMode {
    /// Each replica's HSM has a trusted cell ([`MemoryTrustedState`], out of the operator's
    /// reach): a restart trusts the disk only if the cell vouches for it.
    #[default]
    Durable,
    /// No trusted NVRAM ([`VolatileTrust`](e2ee_backup::internal::vault::VolatileTrust)): nothing on the disk is trusted, every start is an
    /// amnesia recovery.
    Volatile,
}

impl TrustMode {
    /// Both modes.
    pub const ALL: [TrustMode; 2] = [TrustMode::Durable, TrustMode::Volatile];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            TrustMode::Durable => "durable",
            TrustMode::Volatile => "volatile",
        }
    }

    /// The mode named `name`.
    pub fn from_name(name: &str) -> Option<TrustMode> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// The trusted state of one simulated replica identity: the HSM's cell (durable mode) or none
/// (volatile mode). Clones of a durable one are the same cell.
pub type SimTrust = MemoryOrVolatileTrust;

fn sim_trust(mode: TrustMode) -> SimTrust {
    MemoryOrVolatileTrust::new(mode == TrustMode::Durable)
}

type Replica = ReplicatedVault<InsecureFastSuite, ConsensusStore<SimTrust>>;

/// One vault replica with its host: disk, pending outputs, relay routes.
pub struct VaultNode {
    /// Replica group.
    pub group: u32,
    /// Replica index within the group.
    pub replica_id: u8,
    /// Datacenter the replica is in.
    pub dc: Dc,
    /// Extra delay of every message to this node (a slow replica).
    pub slow_ms: u64,
    /// The node's clock (what it is told as `now_ms`).
    pub clock: NodeClock,
    /// The global time of the timer event scheduled for this node, if any.
    pub timer_at_ms: Option<u64>,
    replica: Option<Replica>,
    disk: BTreeMap<DurableSlot, Vec<u8>>,
    /// Outputs not carried out yet, in order; a write carries its sequence number once issued.
    pending: VecDeque<(Option<u64>, ReplicatedVaultOutput)>,
    /// Writes issued since the last crash (sequence numbers `1..=writes_issued`).
    writes_issued: u64,
    /// Writes completed, in order (sequence numbers `1..=writes_done`).
    writes_done: u64,
    /// The disk completes writes in order: the global time the last issued write completes.
    pub disk_busy_until_ms: u64,
    epoch: u64,
    mode: HostMode,
    disk_write_ms: u64,
    rng: ChaCha20Rng,
    /// The HSM's trusted cell: survives crashes and every disk rollback (none in volatile
    /// mode).
    trusted: SimTrust,
    /// When the node last crashed (global ms), while it is down.
    down_since_ms: Option<u64>,
    /// Since when the node is impaired (lost its state and has not finished recovery: SPEC.md
    /// "Amnesia", assumption A1), if it is now.
    impaired_since_ms: Option<u64>,
    /// Closed intervals `[from, to)` during which the node was impaired.
    impaired: Vec<(u64, u64)>,
    /// The operator's last copy of the disk (the rollback adversary).
    disk_copy: Option<DiskCopy>,
    /// Slots whose last write was torn by a crash (and not written since): they are expected
    /// not to open at the next restart.
    torn_slots: BTreeSet<DurableSlot>,
    /// Writes torn by crashes.
    pub torn_writes: u64,
    /// Disks lost.
    pub disks_lost: u64,
    /// Inputs dropped by earlier incarnations of this replica (their counts die with them).
    retired_drops: u64,
    /// Rounds refused and consensus operations given up by earlier incarnations.
    retired_consensus: ConsensusCounts,
}

/// A torn write: the first `cut` bytes of the new write over the old bytes of the slot (a
/// sector-wise overwrite interrupted by power loss); at least one byte differs from both.
fn tear(old: Option<&[u8]>, new: &[u8], cut: u64) -> Vec<u8> {
    let len = new.len().max(1);
    let cut = usize::try_from(cut).unwrap_or(0) % len;
    let mut torn: Vec<u8> = new.iter().take(cut).copied().collect();
    match old {
        Some(old) if old.len() > cut => torn.extend_from_slice(old.get(cut..).unwrap_or(&[])),
        _ => {}
    }
    if torn == new || old.is_some_and(|o| o == torn.as_slice()) {
        // The old and new bytes agree past the cut: the write is cut short instead.
        torn.truncate(cut);
    }
    torn
}

/// The operator's copy of a node's disk: its slots, and which of them held a torn write then.
#[derive(Clone, Debug)]
struct DiskCopy {
    disk: BTreeMap<DurableSlot, Vec<u8>>,
    torn_slots: BTreeSet<DurableSlot>,
}

/// The membership and timings of every group: replicas `0..REPLICAS_PER_GROUP`, with the
/// deployment default for groups spread over datacenters ([`Config::across_datacenters`]: the
/// simulated datacenters are up to 150 ms apart one way).
pub fn group_config(mode: HostMode) -> Config {
    let mut config = Config::across_datacenters((0..REPLICAS_PER_GROUP).map(ReplicaId));
    // Re-genesis (SPEC.md "Re-genesis") is off in the simulator until its checkers treat a
    // refounded group's lost records as a declared loss rather than as INV-DURABLE and
    // INV-LINEAR violations (the shared judge opens tickets of every lineage it is told of:
    // `AttemptJudge::note_lineage`); `tests/regenesis.rs` covers it.
    config.regenesis_after_ms = None;
    if let HostMode::Engine(fault) = mode {
        config.fault = fault;
    }
    config
}

/// Why a node could not be built or rebuilt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeError {
    /// The consensus replica refused to start.
    Start(String),
}

impl VaultNode {
    /// A running member of a brand-new group, with an empty disk. Returns the node and the
    /// effects of its first outputs (its first durable write).
    pub fn new(
        group: u32,
        replica_id: u8,
        fleet: InsecureFastFleetSecrets,
        mode: HostMode,
        trust: TrustMode,
        disk_write_ms: u64,
        rng: ChaCha20Rng,
    ) -> Result<(Self, Vec<NodeEffect>), NodeError> {
        let trusted = sim_trust(trust);
        let store = ConsensusStore::new(
            GroupId(group),
            ReplicaId(replica_id),
            group_config(mode),
            1,
            trusted.clone(),
        )
        .map_err(|e| NodeError::Start(format!("{e:?}")))?;
        let mut node = Self {
            group,
            replica_id,
            dc: usize::from(replica_id),
            slow_ms: 0,
            clock: NodeClock::default(),
            timer_at_ms: None,
            replica: None,
            disk: BTreeMap::new(),
            pending: VecDeque::new(),
            writes_issued: 0,
            writes_done: 0,
            disk_busy_until_ms: 0,
            epoch: 0,
            mode,
            disk_write_ms,
            rng,
            trusted,
            down_since_ms: None,
            impaired_since_ms: None,
            impaired: Vec::new(),
            disk_copy: None,
            torn_slots: BTreeSet::new(),
            torn_writes: 0,
            disks_lost: 0,
            retired_drops: 0,
            retired_consensus: ConsensusCounts::default(),
        };
        let effects = node.install(fleet, store);
        Ok((node, effects))
    }

    fn install(
        &mut self,
        fleet: InsecureFastFleetSecrets,
        store: ConsensusStore<SimTrust>,
    ) -> Vec<NodeEffect> {
        let mut replica = ReplicatedVault::new(InsecureFastSuite, fleet, store);
        if self.mode == HostMode::SharedOprfKey {
            replica.inject_fault(VaultFault::SharedOprfKey);
        }
        replica.start(&mut self.rng);
        self.replica = Some(replica);
        self.collect()
    }

    /// True while the replica runs.
    pub fn is_up(&self) -> bool {
        self.replica.is_some()
    }

    /// The generation of the record this replica has accepted most recently for `account`.
    pub fn generation(&self, account: &AccountId) -> Option<u64> {
        let replica = self.replica.as_ref()?;
        replica
            .store()
            .accepted_record(account)
            .map(|r| r.generation)
    }

    /// Crashes the node at global time `now_ms`: volatile state, pending outputs and any write
    /// in progress are lost.
    pub fn crash(&mut self, now_ms: u64) {
        self.crash_tearing(now_ms, None);
    }

    /// As [`VaultNode::crash`]; with `tear = Some(cut)` the first write in progress (issued,
    /// not completed: not yet synced) lands torn at byte `cut` (modulo its length) over the
    /// slot's old bytes, as a power loss in the middle of an in-place overwrite leaves it. The
    /// sealed write is authenticated, so the torn slot does not open at the next restart.
    pub fn crash_tearing(&mut self, now_ms: u64, tear_at: Option<u64>) {
        if self.replica.is_some() {
            self.down_since_ms = Some(now_ms);
        }
        if let Some(cut) = tear_at {
            let in_progress = self
                .pending
                .iter()
                .find_map(|(sequence, output)| match output {
                    ReplicatedVaultOutput::Persist { slot, sealed }
                        if sequence.is_some_and(|s| s > self.writes_done) =>
                    {
                        Some((slot.clone(), sealed.clone()))
                    }
                    _ => None,
                });
            if let Some((slot, sealed)) = in_progress {
                let torn = tear(self.disk.get(&slot).map(Vec::as_slice), &sealed, cut);
                self.disk.insert(slot.clone(), torn);
                self.torn_slots.insert(slot);
                self.torn_writes += 1;
            }
        }
        self.retired_drops = self.retired_drops.saturating_add(self.drops_total());
        self.retired_consensus = self.consensus_over_run();
        self.replica = None;
        self.pending.clear();
        self.writes_issued = 0;
        self.writes_done = 0;
        self.disk_busy_until_ms = 0;
        self.timer_at_ms = None;
        self.epoch += 1;
    }

    /// The disk vanishes at global time `now_ms` (the node crashes; a blank disk replaces it):
    /// the next restart is an amnesia recovery.
    pub fn lose_disk(&mut self, now_ms: u64) {
        self.crash(now_ms);
        self.disk.clear();
        self.torn_slots.clear();
        self.disks_lost += 1;
    }

    /// Inputs the running replica dropped so far (0 while down): its own counts and its
    /// store's (consensus messages of another lineage).
    pub fn drops_total(&self) -> u64 {
        self.replica.as_ref().map_or(0, |r| {
            r.drops()
                .total()
                .saturating_add(r.store().foreign_lineage_drops())
        })
    }

    /// The running replica's drop counts by reason, if it runs.
    pub fn drops(&self) -> Option<DropCounts> {
        self.replica.as_ref().map(|r| *r.drops())
    }

    /// Inputs dropped by this node over the whole run (every incarnation).
    pub fn drops_over_run(&self) -> u64 {
        self.retired_drops.saturating_add(self.drops_total())
    }

    /// Rounds refused and consensus operations given up by this node over the whole run (every
    /// incarnation).
    pub fn consensus_over_run(&self) -> ConsensusCounts {
        let running = self
            .replica
            .as_ref()
            .map_or_else(ConsensusCounts::default, |r| {
                ConsensusCounts::of(r.store().failures())
            });
        self.retired_consensus.plus(running)
    }

    /// The operator copies the disk as it is now (completed writes only).
    pub fn copy_disk(&mut self) {
        self.disk_copy = Some(DiskCopy {
            disk: self.disk.clone(),
            torn_slots: self.torn_slots.clone(),
        });
    }

    /// The operator puts its last copy of the disk back (the node must be down); without a copy
    /// nothing changes.
    pub fn restore_disk_copy(&mut self) {
        if self.replica.is_none()
            && let Some(copy) = self.disk_copy.clone()
        {
            self.disk = copy.disk;
            // A torn write the copy caught stays torn in it: the restart must still expect it
            // not to open (it is the fault's, not the vault's).
            self.torn_slots = copy.torn_slots;
        }
    }

    /// Restarts a crashed node from its disk at global time `now_ms`. Returns the number of
    /// durable writes that failed to open (other than torn ones, which are expected not to),
    /// and the effects of the first outputs.
    pub fn restart(
        &mut self,
        now_ms: u64,
        fleet: InsecureFastFleetSecrets,
    ) -> Result<(usize, Vec<NodeEffect>), NodeError> {
        if self.replica.is_some() {
            return Ok((0, Vec::new()));
        }
        let place = ReplicaPlace {
            group: GroupId(self.group),
            replica: ReplicaId(self.replica_id),
        };
        let disk = self
            .disk
            .iter()
            .map(|(slot, sealed)| (slot, sealed.as_slice()));
        let OpenedDisk { image, unusable } = open_disk(&InsecureFastSuite, &fleet, place, disk);
        let failed = unusable
            .iter()
            .filter(|slot| !self.torn_slots.contains(slot))
            .count();
        // The incarnation must grow across restarts: the epoch does (one per crash).
        let incarnation = self.epoch + 1;
        let id = ReplicaId(self.replica_id);
        let fault = if self.mode.trusts_host_disk() {
            StoreFault::TrustHostDisk
        } else {
            StoreFault::None
        };
        // The store trusts the disk only if the trusted cell vouches for it (SPEC.md
        // "Rollback"); otherwise (no meta, a rollback, an interrupted write) it recovers.
        let store = ConsensusStore::start_with_fault(
            GroupId(self.group),
            id,
            group_config(self.mode),
            &image,
            self.trusted.clone(),
            incarnation,
            self.clock.local_ms(now_ms),
            fault,
        )
        .map_err(|e| NodeError::Start(format!("{e:?}")))?;
        let recovering = store.start_kind() == StartKind::Recovering;
        let down_since_ms = self.down_since_ms.take().unwrap_or(now_ms);
        if recovering {
            // Impaired since it lost its state: at the crash (its disk could not be used).
            self.impaired_since_ms.get_or_insert(down_since_ms);
        } else if let Some(from) = self.impaired_since_ms.take() {
            self.impaired.push((from, now_ms));
        }
        let effects = self.install(fleet, store);
        self.note_voting(now_ms);
        Ok((failed, effects))
    }

    /// Closes the impairment interval once the replica votes again (recovery finished).
    pub fn note_voting(&mut self, now_ms: u64) {
        if self.impaired_since_ms.is_some()
            && self
                .replica
                .as_ref()
                .is_some_and(|r| r.store().replica().is_voting())
            && let Some(from) = self.impaired_since_ms.take()
        {
            self.impaired.push((from, now_ms));
        }
    }

    /// Every interval `[from, to)` the node was impaired (an open one ends at `end_ms`).
    pub fn impaired_intervals(&self, end_ms: u64) -> Vec<(u64, u64)> {
        let mut intervals = self.impaired.clone();
        if let Some(from) = self.impaired_since_ms {
            intervals.push((from, end_ms.max(from + 1)));
        }
        intervals
    }

    /// Records that the node was impaired in `[from_ms, to_ms)` (for the verdict's unit tests).
    #[cfg(test)]
    pub(crate) fn note_impaired(&mut self, from_ms: u64, to_ms: u64) {
        self.impaired.push((from_ms, to_ms));
    }

    /// True while the node is impaired (down or up, not yet voting after losing its state).
    pub fn is_impaired(&self) -> bool {
        self.impaired_since_ms.is_some()
    }

    /// When (in the node's local time) the replica wants its next timeout.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.replica.as_ref()?.poll_timeout()
    }

    /// The node's timer fired at global time `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: u64) -> Vec<NodeEffect> {
        let local_ms = self.clock.local_ms(now_ms);
        let Some(replica) = self.replica.as_mut() else {
            return Vec::new();
        };
        if replica.poll_timeout().is_none_or(|t| t > local_ms) {
            return Vec::new();
        }
        replica.handle_timeout(local_ms, &mut self.rng);
        self.collect()
    }

    /// Another replica's envelope arrives at global time `now_ms`.
    pub fn handle_replica_message(&mut self, now_ms: u64, bytes: &[u8]) -> Vec<NodeEffect> {
        let local_ms = self.clock.local_ms(now_ms);
        let Some(replica) = self.replica.as_mut() else {
            return Vec::new();
        };
        replica.handle_replica_message(local_ms, &mut self.rng, bytes);
        self.collect()
    }

    /// A relay's request arrives at global time `now_ms` (the replica is told its own clock's
    /// reading and the relay's tag). Returns the request's key and the request as the replica
    /// saw it (for the checkers; the host does not need to read it), and the effects.
    pub fn handle_request(
        &mut self,
        now_ms: u64,
        relay: usize,
        bytes: &[u8],
    ) -> (Option<(RequestKey, VaultRequest)>, Vec<NodeEffect>) {
        let Some(replica) = self.replica.as_mut() else {
            return (None, Vec::new());
        };
        let Ok(request) = VaultRequest::decode(bytes) else {
            return (None, Vec::new());
        };
        replica.handle_relay_message(
            self.clock.local_ms(now_ms),
            &mut self.rng,
            relay_tag(relay),
            bytes,
        );
        let effects = self.collect();
        let key = RequestKey {
            replica: self.replica_id,
            relay,
            route_id: request.route_id,
        };
        (Some((key, request)), effects)
    }

    /// Write number `sequence`, issued at `epoch`, completed (writes complete in order).
    pub fn handle_disk_done(&mut self, epoch: u64, sequence: u64) -> Vec<NodeEffect> {
        if epoch != self.epoch || sequence <= self.writes_done {
            return Vec::new();
        }
        self.writes_done = sequence;
        self.carry_out()
    }

    fn collect(&mut self) -> Vec<NodeEffect> {
        if let Some(replica) = self.replica.as_mut() {
            while let Some(output) = replica.poll_output() {
                self.pending.push_back((None, output));
            }
        }
        self.carry_out()
    }

    /// Issues every new write at once (the disk completes them in order), then carries out
    /// outputs from the front: completed writes go to the disk, messages are sent, until the
    /// first write still in progress (a message waits for every write before it).
    fn carry_out(&mut self) -> Vec<NodeEffect> {
        let mut effects = Vec::new();
        for (sequence, output) in &mut self.pending {
            if sequence.is_none() && matches!(output, ReplicatedVaultOutput::Persist { .. }) {
                self.writes_issued += 1;
                *sequence = Some(self.writes_issued);
                effects.push(NodeEffect::DiskWrite {
                    epoch: self.epoch,
                    sequence: self.writes_issued,
                    delay_ms: self.disk_write_ms,
                });
            }
        }
        if self.mode.replies_before_persist() {
            let mut kept = VecDeque::new();
            while let Some((sequence, output)) = self.pending.pop_front() {
                match output {
                    ReplicatedVaultOutput::ToRelay { relay, bytes } => {
                        self.send_reply(relay, bytes, &mut effects);
                    }
                    ReplicatedVaultOutput::ToReplica { to, bytes } => {
                        effects.push(NodeEffect::ToReplica { to: to.0, bytes });
                    }
                    other => kept.push_back((sequence, other)),
                }
            }
            self.pending = kept;
        }
        while let Some((sequence, output)) = self.pending.pop_front() {
            match output {
                ReplicatedVaultOutput::Persist { slot, sealed } => {
                    if sequence.is_some_and(|s| s <= self.writes_done) {
                        self.torn_slots.remove(&slot);
                        self.disk.insert(slot, sealed);
                    } else {
                        self.pending.push_front((
                            sequence,
                            ReplicatedVaultOutput::Persist { slot, sealed },
                        ));
                        break;
                    }
                }
                ReplicatedVaultOutput::ToRelay { relay, bytes } => {
                    self.send_reply(relay, bytes, &mut effects);
                }
                ReplicatedVaultOutput::ToReplica { to, bytes } => {
                    effects.push(NodeEffect::ToReplica { to: to.0, bytes });
                }
            }
        }
        effects
    }

    fn send_reply(&self, relay: RelayTag, bytes: Vec<u8>, effects: &mut Vec<NodeEffect>) {
        let Ok(relay) = usize::try_from(relay.0) else {
            return;
        };
        // The checkers' key; the reply itself goes out as the vault sealed it.
        let Ok(reply) = VaultReply::decode(&bytes) else {
            return;
        };
        let host_route = RequestKey {
            replica: self.replica_id,
            relay,
            route_id: reply.route_id,
        };
        effects.push(NodeEffect::Reply {
            relay,
            bytes,
            host_route,
        });
    }
}

/// The tag a vault host gives relay number `relay` (its replies carry it back).
fn relay_tag(relay: usize) -> RelayTag {
    RelayTag(u64::try_from(relay).unwrap_or(u64::MAX))
}
