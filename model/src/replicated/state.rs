//! The states of the replicated model: devices, relay, the replica hosts (real
//! `ReplicatedVault<_, ConsensusStore>` plus disk), one unordered network, budgets, and what the
//! properties read (SPEC.md "Model checking", "Replicated vault").

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use e2ee_backup::internal::consensus::Ballot;
use e2ee_backup::internal::crypto::symbolic::{SymbolicSuite, inspect};
use e2ee_backup::internal::relay::ConnectionId;
use e2ee_backup::internal::vault::replica_wire::decode_replica_message;
use e2ee_backup::internal::vault::{
    ConsensusStore, DurableSlot, LinkEnvelope, OwnedTrustedState, ReplicaMessage,
};
use e2ee_backup::internal::wire::{ClientReply, ClientRequest};
use e2ee_backup::{Relay, ReplicatedVault};
use stateright::semantics::LinearizabilityTester;

use super::spec::{AccountSpec, LoginRef};
use crate::properties::Observations;
use crate::rng::CounterRng;
use crate::state::Device;

/// A replica of the group and its host.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReplicaHost {
    /// The running replica; `None` while it is down.
    pub vault: Option<ReplicatedVault<SymbolicSuite, ConsensusStore<OwnedTrustedState>>>,
    /// The HSM's trusted cell as of the replica's last crash (while it runs, its store holds
    /// the live copy); the host's rollback never touches it.
    pub trusted: OwnedTrustedState,
    /// Durable storage: the last sealed write per slot.
    pub disk: BTreeMap<DurableSlot, Vec<u8>>,
    /// Process starts so far (the consensus incarnation).
    pub incarnation: u64,
    /// The host's logical clock (advances only when the replica's timer fires).
    pub now_ms: u64,
    /// The host's entropy; it survives crashes.
    pub rng: CounterRng,
    /// It restarted without its disk and has not voted since.
    pub amnesiac: bool,
    /// What its disk holds for the account: the accepted ballot and the record's generation
    /// (`None` for an empty register); a function of `disk`, kept for the properties.
    pub disk_accepted: Option<(Ballot, Option<u64>)>,
    /// The operator's copy of this replica's disk (and its summary), if it took one.
    pub snapshot: Option<DiskCopy>,
    /// Its disk was replaced by an earlier copy and it has not restarted since.
    pub rolled_back: bool,
}

/// A copy of a replica's disk the operator took (`Snapshot`) and may put back (`Rollback`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DiskCopy {
    /// The slots as they were.
    pub disk: BTreeMap<DurableSlot, Vec<u8>>,
    /// Their summary as it was.
    pub disk_accepted: Option<(Ballot, Option<u64>)>,
}

/// A message in flight.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Packet {
    /// An encoded `ClientRequest` from a device to the relay.
    ClientToRelay {
        /// The device's connection.
        connection: ConnectionId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// An encoded `ClientReply` from the relay to a device.
    RelayToClient {
        /// The device's connection.
        connection: ConnectionId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// A sealed `LinkEnvelope` between two replicas.
    Peer {
        /// Sender.
        from: u8,
        /// Receiver.
        to: u8,
        /// The envelope bytes.
        bytes: Vec<u8>,
    },
}

impl Packet {
    /// The replica this packet is addressed to, if any.
    pub fn peer_target(&self) -> Option<u8> {
        match self {
            Packet::Peer { to, .. } => Some(*to),
            Packet::ClientToRelay { .. } | Packet::RelayToClient { .. } => None,
        }
    }
}

/// The consensus message inside a (symbolic) link envelope, for traces.
pub fn peer_message(bytes: &[u8]) -> Option<ReplicaMessage> {
    let envelope = LinkEnvelope::decode(bytes).ok()?;
    let plain = inspect::storage_plaintext(&envelope.sealed)?;
    decode_replica_message(&plain).ok()
}

fn peer_name(message: &ReplicaMessage) -> String {
    use e2ee_backup::internal::consensus::PeerMessage;
    use e2ee_backup::internal::vault::ReplicaBody;
    let ballot = |b: &Ballot| format!("({},{},{})", b.epoch, b.counter, b.replica.0);
    let peer = match &message.body {
        ReplicaBody::Peer(peer) => peer,
        ReplicaBody::Census(census) => {
            return format!("{}({})", census.kind(), census.tag().sequence);
        }
    };
    match peer {
        PeerMessage::Prepare { ballot: b, .. } => format!("Prepare{}", ballot(b)),
        PeerMessage::Promise { ballot: b, .. } => format!("Promise{}", ballot(b)),
        PeerMessage::Accept { ballot: b, .. } => format!("Accept{}", ballot(b)),
        PeerMessage::Accepted { ballot: b, .. } => format!("Accepted{}", ballot(b)),
        PeerMessage::Reject { ballot: b, .. } => format!("Reject{}", ballot(b)),
        PeerMessage::Fence { epoch, .. } => format!("Fence({epoch})"),
        PeerMessage::FenceAck { epoch_floor, .. } => format!("FenceAck({epoch_floor})"),
        PeerMessage::CatchUp { epoch, .. } => format!("CatchUp({epoch})"),
        PeerMessage::CatchUpPage { entries, .. } => format!("CatchUpPage({})", entries.len()),
    }
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Packet::ClientToRelay { connection, bytes } => match ClientRequest::decode(bytes) {
                Ok(r) => write!(
                    f,
                    "device {connection} -> relay: {:?} #{}",
                    r.kind, r.request_id
                ),
                Err(_) => write!(f, "device {connection} -> relay: undecodable"),
            },
            Packet::RelayToClient { connection, bytes } => match ClientReply::decode(bytes) {
                Ok(r) => write!(
                    f,
                    "relay -> device {connection}: {:?} #{}",
                    r.kind, r.request_id
                ),
                Err(_) => write!(f, "relay -> device {connection}: undecodable"),
            },
            Packet::Peer { from, to, bytes } => match peer_message(bytes) {
                Some(m) => write!(f, "replica {from} -> {to}: {}", peer_name(&m)),
                None => write!(f, "replica {from} -> {to}: undecodable"),
            },
        }
    }
}

/// A device's vault request the linearizability tester holds as invoked and not yet returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PendingRequest {
    /// The tester's thread id of this operation (device, sequence number).
    pub thread: (u8, u8),
    /// The `ClientRequest::request_id` its reply carries.
    pub request_id: u64,
}

/// What the properties read, recorded at the boundary of the replica group as it happens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct History {
    /// What the properties both models share read (INV-ATTEMPTS, INV-DISCLOSE, lockout).
    pub observed: Observations,
    /// Ballots above the highest chosen one, with the acceptors that durably accepted them.
    pub accepts: BTreeMap<Ballot, BTreeSet<u8>>,
    /// The highest ballot a majority durably accepted (a chosen value).
    pub highest_chosen: Option<Ballot>,
    /// Generations some replica answered `Locked` for (erased).
    pub erased: BTreeSet<u64>,
    /// The generation the owner saw acknowledged (`Registered`).
    pub acknowledged: u64,
    /// A reply reported a record older than the acknowledged registration.
    pub durable_violated: bool,
    /// A device finished an operation (not `Unavailable`) while a replica was down.
    pub completed_while_down: bool,
    /// A replica restarted from its durable state.
    pub restarted: bool,
    /// A replica that lost its disk caught up and votes again.
    pub amnesiac_recovered: bool,
    /// The operator put an earlier copy of a replica's disk back.
    pub rolled_back: bool,
    /// The owner recovered the right key after a rollback.
    pub recovered_after_rollback: bool,
    /// Login requests that returned to their device (INV-LINEAR), saturating.
    pub returns: u8,
    /// At some state a quorum of the replicas was impaired at once (assumption A1 broken: the
    /// group may lose its records, INV-DURABLE no longer applies).
    pub majority_impaired: bool,
    /// A replica abandoned its state or founded or joined a lineage before any quorum was
    /// impaired at once (INV-REGENESIS violated).
    pub regenesis_unjustified: bool,
    /// The group founded a new lineage (its records are gone).
    pub refounded: bool,
    /// Skip-Prepare configurations: the `next` ballots Accepts announced.
    pub announced_next: BTreeSet<Ballot>,
    /// An Accept was sent at an announced `next` ballot, without phase 1 (skip-Prepare).
    pub skipped_prepare: bool,
}

/// One state of the replicated model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReplicatedState {
    /// The devices, in configuration order (device i uses connection i).
    pub devices: Vec<Device>,
    /// Per device, its request the linearizability tester waits on.
    pub pending: Vec<Option<PendingRequest>>,
    /// Per device, the next thread sequence number for the tester.
    pub next_thread: Vec<u8>,
    /// Per device, the login its current recovery started (for `LoginFinish`).
    pub logins: Vec<Option<LoginRef>>,
    /// The real relay.
    pub relay: Relay,
    /// The relay's logical clock (advances only when its failover timer fires).
    pub relay_now_ms: u64,
    /// The replica hosts, by replica id.
    pub replicas: Vec<ReplicaHost>,
    /// Device↔relay messages in flight (a multiset: message → copies).
    pub network: BTreeMap<Packet, u8>,
    /// Replica↔replica messages in flight per link (from, to), oldest first.
    pub links: BTreeMap<(u8, u8), VecDeque<Vec<u8>>>,
    /// Duplications the network may still make.
    pub duplicates_left: u8,
    /// Crashes still allowed.
    pub crashes_left: u8,
    /// Amnesiac restarts still allowed.
    pub amnesia_left: u8,
    /// Disk copies the operator may still take.
    pub snapshots_left: u8,
    /// Rollbacks the operator may still make.
    pub rollbacks_left: u8,
    /// Consensus timeouts still allowed.
    pub replica_timeouts_left: u8,
    /// Observations for the properties.
    pub history: History,
    /// INV-LINEAR: the account's login requests and their replies.
    pub linear: LinearizabilityTester<(u8, u8), AccountSpec>,
}
