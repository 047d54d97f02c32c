//! The states of the model: the real roles, the network, the vault host and an auxiliary
//! history the properties read (SPEC.md "Model checking").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup::internal::crypto::symbolic::SymbolicSuite;
use e2ee_backup::internal::relay::ConnectionId;
use e2ee_backup::internal::wire::{ClientReply, ClientRequest, ReplyBody};
use e2ee_backup::{Client, Relay, SingleVault};

use crate::properties::Observations;
use crate::rng::CounterRng;

/// The tag every model vault host gives the model's one relay (its replies go back to it).
pub const RELAY: e2ee_backup::RelayTag = e2ee_backup::RelayTag(0);

/// One device: the real [`Client`] plus what its host keeps (RNG, clock, script position).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Device {
    /// The real client state machine.
    pub client: Client<SymbolicSuite>,
    /// The device's RNG.
    pub rng: CounterRng,
    /// The device's clock (advances only when a retry timer fires).
    pub now_ms: u64,
    /// Index of the next operation of the script.
    pub next_op: usize,
    /// Whether an operation is running.
    pub running: bool,
    /// How every finished operation ended, in order.
    pub outcomes: Vec<ClientOutcome>,
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
}

fn body_name(body: &ReplyBody) -> &'static str {
    match body {
        ReplyBody::Sealed(_) => "sealed",
        ReplyBody::Rejected => "Rejected",
        ReplyBody::RateLimited => "RateLimited",
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
                    "relay -> device {connection}: {:?} #{} ({})",
                    r.kind,
                    r.request_id,
                    body_name(&r.body)
                ),
                Err(_) => write!(f, "relay -> device {connection}: undecodable"),
            },
        }
    }
}

/// The vault replica and its host: durable record, entropy, crashes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VaultHost {
    /// The replica (its volatile state is lost in a crash).
    pub replica: SingleVault<SymbolicSuite>,
    /// Durable storage: the last sealed record written per account (one account in the model).
    pub durable: Option<Vec<u8>>,
    /// The host's entropy source; it survives crashes (fresh randomness after a restart).
    pub rng: CounterRng,
    /// Crashes so far.
    pub crashes: u8,
}

/// What the properties read: facts observed at the vault's boundary, recorded as they happen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct History {
    /// What the properties both models share read (INV-ATTEMPTS, INV-DISCLOSE, lockout).
    pub observed: Observations,
    /// Generations whose durable record was seen `Locked` or `Deleted`.
    pub erased: BTreeSet<u64>,
    /// Highest generation the owner saw acknowledged (`Registered`).
    pub acknowledged: u64,
    /// A record (durable, or live while up) is older than an acknowledged registration.
    pub durable_violated: bool,
    /// The vault restarted after a registration was acknowledged and still had it.
    pub restarted_after_ack: bool,
}

/// One state of the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelState {
    /// The devices, in configuration order (device i uses connection i).
    pub devices: Vec<Device>,
    /// The real relay.
    pub relay: Relay,
    /// The vault replica and its host.
    pub vault: VaultHost,
    /// Messages in flight (a multiset: message → copies).
    pub network: BTreeMap<Packet, u8>,
    /// Duplications the network may still make.
    pub duplicates_left: u8,
    /// Observations for the properties.
    pub history: History,
}
