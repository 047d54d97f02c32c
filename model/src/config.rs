//! Model configurations (SPEC.md "Model checking", "Configurations").

use core::fmt;

/// One client operation in a device's script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Register the device's backup key under its password (then expose it).
    Register,
    /// Recover the backup key with the device's password.
    Recover,
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
}

impl Broken {
    /// Every broken variant.
    pub const ALL: [Broken; 1] = [Broken::ReplyBeforePersist];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Broken::ReplyBeforePersist => "reply-before-persist",
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
}

impl ModelConfig {
    /// Names of the predefined configurations, smallest first.
    pub const NAMES: [&'static str; 4] = ["tiny", "default", "register", "two-clients"];

    /// The predefined configuration `name`.
    pub fn named(name: &str) -> Option<Self> {
        let attacker = |guesses: usize| DeviceConfig {
            honest: false,
            script: vec![Op::Recover; guesses],
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
            },
            // The owner recovers while an attacker guesses twice; limit 2; a lossy, duplicating,
            // reordering network (replays come from duplication); one crash.
            "default" => Self {
                name: "default",
                attempt_limit: 2,
                devices: vec![owner(vec![Op::Recover]), attacker(2)],
                preregistered: true,
                lossy: true,
                max_duplicates: 1,
                max_crashes: 1,
                max_sends: 1,
                broken: None,
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
            },
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
