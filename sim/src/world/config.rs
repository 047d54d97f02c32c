//! What a run is given: the scenario and seed ([`SimConfig`]), the deliberately broken build
//! options ([`Broken`]), the size of the world ([`WorldSize`]) and the run's fixed limits.

use crate::faults::Scenario;
use crate::vault_node::TrustMode;
use e2ee_backup::internal::consensus::FaultInjection;

/// A deliberately broken build option the checkers must catch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broken {
    /// The host sends replies before completing the writes that precede them.
    ReplyBeforePersist,
    /// Every replica runs with `VaultFault::SharedOprfKey` (one OPRF seed per account, the
    /// behaviour before vault protocol v2): a `RegisterStart` is an uncounted password test.
    SharedOprfKey,
    /// Restarted replicas believe whatever their host's disk holds (no check against the
    /// trusted cell): an operator who restores old disks resets the attempt counter.
    TrustHostDisk,
    /// Both `ReplyBeforePersist` and `TrustHostDisk`: a crash loses answered writes and the
    /// restarted replica votes without them (the behaviour issue 12 measured).
    ReplyBeforePersistTrustingDisk,
    /// Not a broken build but a broken assumption, for INV-TAMPER: the network's corruption of
    /// replica-link messages and of relays' requests is sealed again after a byte of the
    /// plaintext is flipped (as if links and requests had no integrity), so replicas accept
    /// corrupted consensus messages and answer corrupted requests.
    UnsealedLinks,
    /// Every replica's consensus engine is broken on purpose with this fault (never
    /// `FaultInjection::None`): the variants the consensus simulator (`tests/consensus_sim.rs`)
    /// checks, run in the whole world.
    Engine(FaultInjection),
}

impl Broken {
    /// Every broken option.
    pub const ALL: [Broken; 14] = [
        Broken::ReplyBeforePersist,
        Broken::SharedOprfKey,
        Broken::TrustHostDisk,
        Broken::ReplyBeforePersistTrustingDisk,
        Broken::UnsealedLinks,
        Broken::Engine(FaultInjection::QuorumTooSmall),
        Broken::Engine(FaultInjection::IgnoreAcceptedValues),
        Broken::Engine(FaultInjection::SkipRecovery),
        Broken::Engine(FaultInjection::SkipFence),
        Broken::Engine(FaultInjection::UnkeptNextPromise),
        Broken::Engine(FaultInjection::EstablishEpochWithoutQuorum),
        Broken::Engine(FaultInjection::AckBeforeFloorDurable),
        Broken::Engine(FaultInjection::UseUnreservedCounter),
        Broken::Engine(FaultInjection::VoteWhileRecovering),
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Broken::ReplyBeforePersist => "reply-before-persist",
            Broken::SharedOprfKey => "shared-oprf-key",
            Broken::TrustHostDisk => "trust-host-disk",
            Broken::ReplyBeforePersistTrustingDisk => "reply-before-persist-trusting-disk",
            Broken::UnsealedLinks => "unsealed-links",
            Broken::Engine(fault) => match fault {
                FaultInjection::None => "engine-none",
                FaultInjection::QuorumTooSmall => "quorum-too-small",
                FaultInjection::IgnoreAcceptedValues => "ignore-accepted-values",
                FaultInjection::SkipRecovery => "skip-recovery",
                FaultInjection::SkipFence => "skip-fence",
                FaultInjection::UnkeptNextPromise => "unkept-next-promise",
                FaultInjection::EstablishEpochWithoutQuorum => "establish-epoch-without-quorum",
                FaultInjection::AckBeforeFloorDurable => "ack-before-floor-durable",
                FaultInjection::UseUnreservedCounter => "use-unreserved-counter",
                FaultInjection::VoteWhileRecovering => "vote-while-recovering",
            },
        }
    }

    /// The option named `name`.
    pub fn from_name(name: &str) -> Option<Broken> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Scenario.
    pub scenario: Scenario,
    /// Master seed.
    pub seed: u64,
    /// Small world (for CI and tests).
    pub lite: bool,
    /// A broken build option, if any.
    pub broken: Option<Broken>,
    /// Durable mode (a trusted cell per replica) or volatile mode (none).
    pub trust: TrustMode,
    /// Victims also recover with their own password (twice) while the attackers guess, so
    /// that owner logins and resets race with the guesses (off in the default workload).
    pub victims_log_in: bool,
}

/// The size of the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorldSize {
    /// Honest users (one account each).
    pub honest: usize,
    /// Forgetful users (one account each).
    pub forgetful: usize,
    /// Victim accounts.
    pub victims: usize,
    /// Attackers per victim.
    pub attackers_per_victim: usize,
    /// Replica groups.
    pub groups: u32,
    /// Relays per datacenter.
    pub relays_per_dc: usize,
    /// Length of the safety phase (faults on).
    pub safety_ms: u64,
    /// Length of the healed liveness phase.
    pub live_ms: u64,
    /// Bound on an honest operation started in the liveness phase.
    pub live_bound_ms: u64,
}

impl WorldSize {
    /// The size for `lite` or full runs.
    pub fn for_mode(lite: bool) -> Self {
        if lite {
            Self {
                honest: 12,
                forgetful: 4,
                victims: 2,
                attackers_per_victim: 3,
                groups: 5,
                relays_per_dc: 1,
                safety_ms: 60_000,
                live_ms: 90_000,
                live_bound_ms: 60_000,
            }
        } else {
            Self {
                honest: 2_000,
                forgetful: 400,
                victims: 40,
                attackers_per_victim: 3,
                groups: 10,
                relays_per_dc: 2,
                safety_ms: 300_000,
                live_ms: 120_000,
                live_bound_ms: 60_000,
            }
        }
    }
}

/// Most events one run handles.
pub const EVENTS_MAX: u64 = 50_000_000;
/// Most events waiting at once.
pub const QUEUE_CAPACITY: usize = 2_000_000;
/// A relay resends a request to another replica after this long without a reply.
pub const VAULT_RETRY_MS: u64 = 4_000;
/// At most this many sends of one request by a relay, over all replicas of the group.
pub const VAULT_SENDS_MAX: u32 = 3;
