//! What a run gives back: its counts ([`Stats`]) and its [`RunResult`].

use super::config::SimConfig;
use crate::checkers::Violation;
use crate::consensus_counts::ConsensusCounts;
use crate::latency::OpLedger;

/// Counts for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Client operations started by account owners.
    pub attempted: u64,
    /// Of those, ended with an answer (not `Unavailable`).
    pub succeeded: u64,
    /// Virtual latency of each that succeeded (per try: from the start of the try).
    pub latencies_ms: Vec<u64>,
    /// Every logical operation of an account owner that ended (answered, or given up after
    /// its last try), once, with its user wait from the first try and its latency floor
    /// (issue 16; see [`crate::latency`]).
    pub ledger: OpLedger,
    /// Logical operations of account owners still running or waiting to be retried when the
    /// run ended (neither answered nor given up).
    pub ops_unfinished: u64,
    /// Most password tests enabled for one registration between releases.
    pub granted_max: u32,
    /// That registration's limit.
    pub granted_limit: u32,
    /// Attackers' guesses started.
    pub guesses: u64,
    /// Probers' `RegisterStart`s sent.
    pub probes: u64,
    /// `RegistrationResponse`s the oracle found computed under a live registration's OPRF key
    /// (0 on a correct vault).
    pub registration_tests: u64,
    /// Keys released by the vault.
    pub releases: u64,
    /// Committed resets the oracle learnt from a later login epoch rather than from a release
    /// reply (see [`crate::checkers::Oracle::resets_seen_by_epoch`]).
    pub resets_seen_by_epoch: u64,
    /// Replies the per-operation INV-DURABLE check compared with an acknowledged registration.
    pub durable_checks: u64,
    /// INV-DURABLE findings not reported because their group had broken assumption A1 (more
    /// than two of its five replicas impaired at once) before the reply.
    pub durable_excluded: u64,
    /// Groups that broke assumption A1 at some time in the run.
    pub a1_groups: u64,
    /// LIVE findings not reported because the account's group had broken assumption A1 at
    /// some time in the operation's window (from its first try, or from the heal for work left
    /// queued, to the finding).
    pub live_excused: u64,
    /// Registrations the INV-ATTEMPTS rule before issue 12 (reset at an accepted
    /// `LoginFinish`) would have reported.
    pub legacy_attempt_violations: u64,
    /// Message copies corrupted in transit (every link).
    pub corrupted: u64,
    /// Of those, replica-link envelopes delivered to a running replica (each must be dropped
    /// and counted: INV-TAMPER).
    pub corrupted_link_deliveries: u64,
    /// Inputs the replicas dropped and counted (every reason, every incarnation).
    pub replica_drops: u64,
    /// Inputs the relays dropped and counted.
    pub relay_drops: u64,
    /// Replies the users' clients dropped and counted (corrupted, replayed, tampered).
    pub client_drops: u64,
    /// Requests the replicas answered `Rejected` (a sealed request that does not open, or does
    /// not decode: not a drop, SPEC.md "Dropped inputs").
    pub rejected_replies: u64,
    /// Old message copies delivered again (network replays and malicious relays).
    pub replays: u64,
    /// Clock jumps applied.
    pub clock_jumps: u64,
    /// Writes torn by crashes.
    pub torn_writes: u64,
    /// Disks lost.
    pub disks_lost: u64,
    /// Messages a malicious relay dropped, rewrote (account or route) or misdelivered.
    pub relay_tampered: u64,
    /// `Promise`s the Byzantine replica sent with its accepted value hidden.
    pub byzantine_lies: u64,
    /// Refused consensus rounds and consensus operations given up, summed over the replicas
    /// and their incarnations.
    pub consensus: ConsensusCounts,
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// What ran.
    pub config: SimConfig,
    /// Hash of the trace.
    pub trace_hash: [u8; 32],
    /// Events handled.
    pub events: u64,
    /// Virtual time simulated.
    pub simulated_ms: u64,
    /// The fault mix drawn.
    pub mix: String,
    /// Counts.
    pub stats: Stats,
    /// Everything that went wrong.
    pub violations: Vec<Violation>,
}
