//! Model configurations (SPEC.md "Model checking", "Configurations").

use core::fmt;

/// One client operation in a device's script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Register the device's backup key under its password (then expose it).
    Register,
    /// Recover the backup key with the device's password.
    Recover,
    /// An attacker with the account's session sends one `RegisterStart` (a fresh blinded
    /// guess) and never finishes the registration: the OPRF-oracle probe of issue 10. Only the
    /// vault's answer matters (INV-ATTEMPTS counts it if it was computed under the live
    /// record's OPRF key); the device does not wait for it.
    ProbeRegister,
}

/// A device in the model: the honest owner or an attacker who guesses wrong passwords.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeviceConfig {
    /// True for the honest owner (correct password), false for an attacker (a wrong one).
    pub honest: bool,
    /// The operations the device runs, one after the other.
    pub script: Vec<Op>,
}

/// A deliberately broken variant that the checker must refute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Broken {
    /// The vault host sends replies before it carries out the `Persist` writes queued before
    /// them (it ignores the Persist-before-reply contract): a crash between the two loses a
    /// counted attempt whose `LoginChallenge` already left. Refuted by INV-ATTEMPTS.
    ReplyBeforePersist,
    /// Replicated configurations only: every replica's consensus runs with quorums of `N/2`
    /// instead of `N/2 + 1` (`consensus::FaultInjection::QuorumTooSmall`), so two proposers can
    /// each complete a change without seeing the other's. Refuted by INV-ATTEMPTS (and
    /// INV-LINEAR).
    QuorumTooSmall,
    /// Every vault replica runs with `VaultFault::SharedOprfKey` (the behaviour before vault
    /// protocol v2): one OPRF seed per account, so a `RegisterStart` is answered under the live
    /// record's OPRF key, an uncounted password test. Refuted by INV-ATTEMPTS.
    SharedOprfKey,
    /// Replicated configurations only: a restarted replica believes whatever its host's disk
    /// holds (`vault::StoreFault::TrustHostDisk`, the behaviour before rollback
    /// detection), so a rolled-back disk votes with a forgotten count. Refuted by INV-ATTEMPTS.
    TrustHostDisk,
    /// Replicated configurations with re-genesis only: a voter's census is satisfied by one
    /// frozen replica fewer than a quorum (`vault::StoreFault::CensusQuorumTooSmall`),
    /// so it gives its state up while a quorum may still hold it. Refuted by INV-REGENESIS.
    CensusQuorumTooSmall,
}

impl Broken {
    /// Every broken variant.
    pub const ALL: [Broken; 5] = [
        Broken::ReplyBeforePersist,
        Broken::QuorumTooSmall,
        Broken::SharedOprfKey,
        Broken::TrustHostDisk,
        Broken::CensusQuorumTooSmall,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Broken::ReplyBeforePersist => "reply-before-persist",
            Broken::QuorumTooSmall => "quorum-too-small",
            Broken::SharedOprfKey => "shared-oprf-key",
            Broken::TrustHostDisk => "trust-host-disk",
            Broken::CensusQuorumTooSmall => "census-quorum-too-small",
        }
    }

    /// The variant named `name` on the command line.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that shapes one model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelConfig {
    /// Name shown in reports.
    pub name: &'static str,
    /// The registration's attempt limit (1..=3 in the named configurations).
    pub attempt_limit: u32,
    /// The devices (all on the same account, each on its own relay connection).
    pub devices: Vec<DeviceConfig>,
    /// Whether the account is registered (by the honest owner, password and key) before the
    /// model starts; otherwise the scripts must register.
    pub preregistered: bool,
    /// The network may drop any message.
    pub lossy: bool,
    /// How many messages the network may duplicate in one run.
    pub max_duplicates: u8,
    /// How many times the vault replica may crash (it restarts from its durable records).
    pub max_crashes: u8,
    /// How many times a client sends one request before giving up (`ClientConfig::max_sends`).
    pub max_sends: u32,
    /// A broken variant, if any.
    pub broken: Option<Broken>,
    /// A replicated vault group (CASPaxos store) instead of the single replica.
    pub replication: Option<Replication>,
}

/// The shape of a replicated vault group in the model (SPEC.md "Model checking",
/// "Replicated vault").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Replication {
    /// Replicas in the group (3 or 5).
    pub replicas: u8,
    /// Most replicas down at once (crashed, not yet restarted): at most `(N - 1) / 2`.
    pub max_down: u8,
    /// How many restarts may come back without durable state (amnesia; at most one replica
    /// is impaired at a time).
    pub max_amnesia: u8,
    /// How many times the host may replace a down (or killed) replica's disk with the copy it
    /// took earlier (`Snapshot`, at most one per replica): a rollback by the operator.
    pub max_rollbacks: u8,
    /// How many disk copies the operator may take (`Snapshot`).
    pub max_snapshots: u8,
    /// The operator copies disks only before any device starts an operation (the state right
    /// after registration), which keeps the search small enough to finish; otherwise at any
    /// time.
    pub snapshot_at_start_only: bool,
    /// How many consensus timeouts (round timeouts and backoffs) the replicas may take in all.
    pub max_replica_timeouts: u8,
    /// How many times the relay sends one request over all replicas
    /// (`RelayConfig::vault_sends_max`; 2 = one failover).
    pub relay_sends: u32,
    /// Rounds per consensus operation before it fails (`consensus::Config::max_rounds`).
    pub max_rounds: u32,
    /// Replica-to-replica links deliver any of their oldest `reorder_window` messages
    /// (1 = FIFO links; device messages are always fully unordered).
    pub reorder_window: usize,
    /// Timers (client retry, relay failover, consensus) may fire while messages are in
    /// flight; when false they fire only when no message is in flight (timeouts longer than
    /// any delivery; a lost message is what makes a timer fire).
    pub eager_timers: bool,
    /// Re-genesis is on (`consensus::Config::regenesis_after_ms`, SPEC.md "Re-genesis").
    pub regenesis: bool,
    /// Skip-Prepare is on (`consensus::Config::skip_prepare`): a proposer's next change to a
    /// key whose last Accept round also collected promises of its next ballot skips phase 1.
    pub skip_prepare: bool,
    /// Right after the registration, this many replicas (those just before the
    /// `initial_down` ones) restart without their disks (they recover before they vote).
    pub initial_amnesiacs: u8,
    /// Right after the registration, the last `initial_down` replicas crash with their disks
    /// intact (a `Restart` brings them back).
    pub initial_down: u8,
}

impl Replication {
    /// A group of `replicas` with one relay failover, two rounds per operation, no consensus
    /// timeout, no amnesia, FIFO replica links, timers that fire only when no message is in
    /// flight, and up to `(N - 1) / 2` replicas down.
    pub fn group(replicas: u8) -> Self {
        Self {
            replicas,
            max_down: replicas.saturating_sub(1) / 2,
            max_amnesia: 0,
            max_rollbacks: 0,
            max_snapshots: 0,
            snapshot_at_start_only: false,
            max_replica_timeouts: 0,
            relay_sends: 2,
            max_rounds: 2,
            reorder_window: 1,
            eager_timers: false,
            regenesis: false,
            skip_prepare: false,
            initial_amnesiacs: 0,
            initial_down: 0,
        }
    }
}

impl ModelConfig {
    /// Names of the predefined configurations, smallest first.
    pub const NAMES: [&'static str; 23] = [
        "tiny",
        "oracle",
        "single",
        "register",
        "two-clients",
        "default",
        "r3-tiny",
        "r3-oracle",
        "r3-owner-crash",
        "r3-no-crash",
        "r3-attacker",
        "r3-timeouts",
        "r3-lossy",
        "r3-two-clients",
        "r3-amnesia",
        "r3-rollback",
        "r3-rollback-owner",
        "r3-rollback-anytime",
        "r3-regenesis",
        "r3-regenesis-survivable",
        "r3-skip-prepare",
        "r3-skip-prepare-crash",
        "r5",
    ];

    /// The predefined configuration `name`.
    pub fn named(name: &str) -> Option<Self> {
        let attacker = |guesses: usize| DeviceConfig {
            honest: false,
            script: vec![Op::Recover; guesses],
        };
        let prober = |probes: usize| DeviceConfig {
            honest: false,
            script: vec![Op::ProbeRegister; probes],
        };
        let owner = |script: Vec<Op>| DeviceConfig {
            honest: true,
            script,
        };
        let config = match name {
            // The owner recovers while an attacker guesses once; limit 1; a reliable network;
            // one crash.
            "tiny" => Self {
                name: "tiny",
                attempt_limit: 1,
                devices: vec![owner(vec![Op::Recover]), attacker(1)],
                preregistered: true,
                lossy: false,
                max_duplicates: 0,
                max_crashes: 1,
                max_sends: 1,
                broken: None,
                replication: None,
            },
            // As `tiny`, plus an attacker who sends two `RegisterStart`s and never finishes
            // (the OPRF-oracle probe): with a shared OPRF key each answer is a password test.
            "oracle" => Self {
                name: "oracle",
                devices: vec![owner(vec![Op::Recover]), attacker(1), prober(2)],
                ..Self::named("tiny")?
            },
            // The owner recovers while an attacker guesses twice; limit 2; a lossy, duplicating,
            // reordering network (replays come from duplication); one crash.
            "single" => Self {
                name: "single",
                attempt_limit: 2,
                devices: vec![owner(vec![Op::Recover]), attacker(2)],
                preregistered: true,
                lossy: true,
                max_duplicates: 1,
                max_crashes: 1,
                max_sends: 1,
                broken: None,
                replication: None,
            },
            // The owner registers then recovers while an attacker guesses once; limit 1;
            // reliable network, one crash.
            "register" => Self {
                name: "register",
                attempt_limit: 1,
                devices: vec![owner(vec![Op::Register, Op::Recover]), attacker(1)],
                preregistered: false,
                lossy: false,
                max_duplicates: 0,
                max_crashes: 1,
                max_sends: 1,
                broken: None,
                replication: None,
            },
            // Two devices of the owner recover concurrently while an attacker guesses twice;
            // limit 2; lossy network; one crash.
            "two-clients" => Self {
                name: "two-clients",
                attempt_limit: 2,
                devices: vec![
                    owner(vec![Op::Recover]),
                    owner(vec![Op::Recover]),
                    attacker(2),
                ],
                preregistered: true,
                lossy: true,
                max_duplicates: 0,
                max_crashes: 1,
                max_sends: 1,
                broken: None,
                replication: None,
            },
            // Three replicas (CASPaxos, quorum 2): the owner recovers while an attacker
            // guesses once; limit 1; reordering device network, FIFO replica links; one
            // replica crash (restart from disk); relay failover (two sends per request).
            "default" => replicated(
                "default",
                1,
                vec![owner(vec![Op::Recover]), attacker(1)],
                1,
                group(3),
            ),
            // The owner alone recovers through three replicas; no fault (the tests' smallest).
            "r3-tiny" => replicated("r3-tiny", 1, vec![owner(vec![Op::Recover])], 0, group(3)),
            // Three replicas, no fault: an attacker guesses once while another sends a
            // `RegisterStart` and never finishes it (the OPRF-oracle probe).
            "r3-oracle" => replicated("r3-oracle", 1, vec![attacker(1), prober(1)], 0, group(3)),
            // The owner alone recovers through three replicas; one crash.
            "r3-owner-crash" => replicated(
                "r3-owner-crash",
                1,
                vec![owner(vec![Op::Recover])],
                1,
                group(3),
            ),
            // The owner recovers while an attacker guesses once; no crash.
            "r3-no-crash" => replicated(
                "r3-no-crash",
                1,
                vec![owner(vec![Op::Recover]), attacker(1)],
                0,
                group(3),
            ),
            // An attacker guesses twice through three replicas; limit 1; one crash.
            "r3-attacker" => replicated("r3-attacker", 1, vec![attacker(2)], 1, group(3)),
            // As `r3-attacker`, plus an operator who copies one replica's disk right after
            // registration and later puts the copy back once (a rollback), at any time.
            "r3-rollback" => replicated(
                "r3-rollback",
                1,
                vec![attacker(2)],
                1,
                Replication {
                    max_rollbacks: 1,
                    max_snapshots: 1,
                    snapshot_at_start_only: true,
                    ..group(3)
                },
            ),
            // As `r3-owner-crash` (the owner recovers, one crash), plus one disk copy taken
            // right after registration and one rollback.
            "r3-rollback-owner" => replicated(
                "r3-rollback-owner",
                1,
                vec![owner(vec![Op::Recover])],
                1,
                Replication {
                    max_rollbacks: 1,
                    max_snapshots: 1,
                    snapshot_at_start_only: true,
                    ..group(3)
                },
            ),
            // As `r3-rollback`, but the operator may copy a disk at any point of the run (any
            // earlier state a replica had); does not finish unbounded.
            "r3-rollback-anytime" => replicated(
                "r3-rollback-anytime",
                1,
                vec![attacker(2)],
                1,
                Replication {
                    max_rollbacks: 1,
                    max_snapshots: 1,
                    ..group(3)
                },
            ),
            // As `default`, plus one consensus timeout (round timeout or backoff retry).
            "r3-timeouts" => replicated(
                "r3-timeouts",
                1,
                vec![owner(vec![Op::Recover]), attacker(1)],
                1,
                Replication {
                    max_replica_timeouts: 1,
                    ..group(3)
                },
            ),
            // As `default` over a lossy network that may duplicate one message.
            "r3-lossy" => ModelConfig {
                lossy: true,
                max_duplicates: 1,
                ..replicated(
                    "r3-lossy",
                    1,
                    vec![owner(vec![Op::Recover]), attacker(1)],
                    1,
                    group(3),
                )
            },
            // Two devices of the owner recover concurrently while an attacker guesses once;
            // limit 2; one crash.
            "r3-two-clients" => replicated(
                "r3-two-clients",
                2,
                vec![
                    owner(vec![Op::Recover]),
                    owner(vec![Op::Recover]),
                    attacker(1),
                ],
                1,
                group(3),
            ),
            // As `default`, and the crashed replica may come back without its disk (it fences
            // and catches up before it votes).
            "r3-amnesia" => replicated(
                "r3-amnesia",
                1,
                vec![owner(vec![Op::Recover]), attacker(1)],
                1,
                Replication {
                    max_amnesia: 1,
                    ..group(3)
                },
            ),
            // Re-genesis (SPEC.md "Re-genesis"): right after the registration replicas 1 and 2
            // lose their disks (a majority impaired, assumption A1 broken); the owner recovers.
            // The group may refound itself (the record is then lost for good: `NoRecord`).
            "r3-regenesis" => replicated(
                "r3-regenesis",
                1,
                vec![owner(vec![Op::Recover])],
                0,
                Replication {
                    regenesis: true,
                    initial_amnesiacs: 2,
                    max_replica_timeouts: 20,
                    ..group(3)
                },
            ),
            // Re-genesis on, one replica impaired (replica 1 lost its disk) while replica 2 is
            // down with its disk intact (A1 holds): the amnesiac stalls and runs censuses, and
            // no census may give anything up; replica 2 returns and the owner recovers.
            "r3-regenesis-survivable" => replicated(
                "r3-regenesis-survivable",
                1,
                vec![owner(vec![Op::Recover])],
                0,
                Replication {
                    regenesis: true,
                    initial_amnesiacs: 1,
                    initial_down: 1,
                    max_replica_timeouts: 8,
                    ..group(3)
                },
            ),
            // `r3-no-crash` with skip-Prepare: after a login's first change, its next changes
            // (the counted LoginStart after the Status read, the LoginFinish) skip phase 1.
            "r3-skip-prepare" => replicated(
                "r3-skip-prepare",
                1,
                vec![owner(vec![Op::Recover]), attacker(1)],
                0,
                Replication {
                    skip_prepare: true,
                    ..group(3)
                },
            ),
            // An attacker guesses twice through three replicas with skip-Prepare and one crash
            // (a restarted proposer forgets its promised next ballots).
            "r3-skip-prepare-crash" => replicated(
                "r3-skip-prepare-crash",
                1,
                vec![attacker(2)],
                1,
                Replication {
                    skip_prepare: true,
                    ..group(3)
                },
            ),
            // Five replicas (quorum 3): the owner recovers while an attacker guesses once; two
            // crashes, up to two replicas down at once.
            "r5" => replicated(
                "r5",
                1,
                vec![owner(vec![Op::Recover]), attacker(1)],
                2,
                group(5),
            ),
            _ => return None,
        };
        Some(config)
    }

    /// This configuration with a broken variant.
    pub fn with_broken(mut self, broken: Option<Broken>) -> Self {
        self.broken = broken;
        self
    }
}

fn group(replicas: u8) -> Replication {
    Replication::group(replicas)
}

/// A pre-registered replicated configuration over a reordering, loss-free network.
fn replicated(
    name: &'static str,
    attempt_limit: u32,
    devices: Vec<DeviceConfig>,
    max_crashes: u8,
    replication: Replication,
) -> ModelConfig {
    ModelConfig {
        name,
        attempt_limit,
        devices,
        preregistered: true,
        lossy: false,
        max_duplicates: 0,
        max_crashes,
        max_sends: 1,
        broken: None,
        replication: Some(replication),
    }
}
