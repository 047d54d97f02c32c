//! The workload: honest users (register, back up a small file with the stream cipher, recover and
//! restore it, change the password, sometimes delete), forgetful users (a wrong password, then the
//! right one), victims whose accounts attackers guess at until locked (concurrently, through
//! relays in different datacenters), and one prober per victim that sends `RegisterStart`s for
//! guessed passwords and never finishes them (the OPRF-oracle attack of issue 10: each answer
//! computed under the live record's OPRF key would be an uncounted password test). Every user
//! retries an operation that ended `Unavailable`
//! with exponential backoff and jitter, a bounded number of times.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use e2ee_backup::BackupKey;
use e2ee_backup::internal::client::{Client, ClientConfig, ClientOutcome, OperationId};
use e2ee_backup::internal::crypto::real::InsecureFastSuite;
use e2ee_backup::internal::crypto::{CryptoSuite as _, FleetPublicKeys};
use e2ee_backup::internal::ids::AccountId;
use e2ee_backup::internal::stream::{open_to_vec, seal_to_vec};
use e2ee_backup::internal::wire::{ClientRequest, Request, RequestKind, request_aad};

use rand_chacha::ChaCha20Rng;
use rand_core::RngCore as _;

use crate::checkers::{AccountModel, KeyId, ModelOp, PasswordId};
use crate::network::Dc;
use crate::seed::{draw_chance, draw_range};
use crate::time::NodeClock;

/// Attempt limit of honest and forgetful users' registrations.
pub const HONEST_ATTEMPT_LIMIT: u32 = 10;
/// Attempt limit of victims' registrations.
pub const VICTIM_ATTEMPT_LIMIT: u32 = 5;
/// Most client operations one logical operation is tried with.
pub const TRIES_MAX: u32 = 12;

/// The requests one logical operation got replies to from a replica: for each kind, the relay
/// datacenter and the replica datacenter of the last such reply.
pub type Served = BTreeMap<RequestKind, (Dc, Dc)>;
/// Backoff cap.
pub const BACKOFF_MS_MAX: u64 = 20_000;
/// Most guesses one attacker makes.
pub const GUESSES_MAX: u64 = 40;
/// After its guesses or at `Locked`, an attacker keeps probing the account this many more
/// times during the safety phase: a `Status` (the first step of a recovery), and a guess when
/// the status says attempts are left, so that a record a rollback unlocked is exploited.
pub const LOCK_PROBES_MAX: u32 = 60;
/// Think time between such probes while the record answers `Locked` or `NoRecord`.
pub const LOCK_PROBE_MS: (u64, u64) = (1_000, 2_000);
/// How many `RegisterStart`s one prober sends (more than a victim's attempt limit).
pub const PROBES_MAX: u32 = 8;
/// Request ids of probes start here, far from the ids of the prober's own client.
pub const PROBE_REQUEST_ID_BASE: u64 = 1 << 40;
/// Size of the file an honest user backs up.
pub const BACKUP_FILE_LEN: usize = 3_000;
/// Segment size of that backup.
pub const BACKUP_SEGMENT_SIZE: u32 = 1_024;

/// What kind of user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Registers, backs up, recovers, changes the password, sometimes deletes.
    Honest,
    /// Registers, recovers with a wrong password, then with the right one.
    Forgetful,
    /// Registers; attackers then guess at the account.
    Victim,
    /// Guesses passwords of user `victim` until locked out.
    Attacker {
        /// The victim's user index.
        victim: usize,
    },
    /// Sends `RegisterStart`s for guessed passwords on user `victim`'s account (its session)
    /// and never finishes them.
    Prober {
        /// The victim's user index.
        victim: usize,
    },
}

/// The logical operation running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Running {
    /// What the operation is.
    pub op: ModelOp,
    /// The client operation.
    pub operation: OperationId,
    /// When this try started.
    pub started_ms: u64,
    /// When the first try started.
    pub first_started_ms: u64,
    /// Tries so far (this one included).
    pub tries: u32,
}

/// A file backed up with the stream cipher.
pub struct Backup {
    /// The key it is sealed under.
    pub key: KeyId,
    /// The file.
    pub plaintext: Vec<u8>,
    /// The sealed stream (what the cloud holds).
    pub ciphertext: Vec<u8>,
}

/// One simulated user (one phone).
pub struct User {
    /// Index in the world.
    pub index: usize,
    /// Kind.
    pub role: Role,
    /// The account it acts on.
    pub account: AccountId,
    /// The datacenter whose relay it prefers.
    pub home_dc: Dc,
    /// The protocol client.
    pub client: Client<InsecureFastSuite>,
    /// Its clock.
    pub clock: NodeClock,
    /// When its client timer is scheduled (global ms).
    pub timer_at_ms: Option<u64>,
    /// Operations still to do.
    pub script: VecDeque<ModelOp>,
    /// The operation running.
    pub running: Option<Running>,
    /// An operation waiting for its backoff to end, with its first start and tries so far.
    pub retry: Option<(ModelOp, u64, u32)>,
    /// Backup keys it made.
    pub keys: BTreeMap<KeyId, BackupKey>,
    /// The file it backed up.
    pub backup: Option<Backup>,
    /// Sequential specification of its account (owners only).
    pub model: AccountModel,
    /// Generations of registrations acknowledged to it.
    pub acked_generations: Vec<u64>,
    /// The password of its last registration.
    pub password: PasswordId,
    /// Relays it has a connection on.
    pub connections: BTreeSet<usize>,
    /// Its RNG.
    pub rng: ChaCha20Rng,
    /// The fleet keys its phone pins (a prober seals its `RegisterStart`s to them).
    pub pinned: FleetPublicKeys,
    /// `RegisterStart`s a prober has still to send.
    pub probes_left: u32,
    /// Probes an attacker has left after its guesses or a `Locked` answer (see
    /// [`LOCK_PROBES_MAX`]).
    pub lock_probes_left: u32,
    /// The requests the current logical operation sent (over all its tries), by request id;
    /// for its latency floor only (issue 16), never read by the workload.
    pub op_requests: BTreeMap<u64, RequestKind>,
    /// The request kinds the current logical operation got replies to from a replica, with
    /// the relay's and the replica's datacenters (see [`crate::latency`]).
    pub served: Served,
    /// Requests the current logical operation sent again (the same request id: a client
    /// resend after silence, or a resumed login), for the report only.
    pub op_resends: u32,
}

/// The bytes of password `id`.
pub fn password_bytes(id: PasswordId) -> Vec<u8> {
    format!("password-{id}").into_bytes()
}

/// Password number `n` of user `user`.
pub fn password_id(user: usize, n: u64) -> PasswordId {
    (u64::try_from(user).unwrap_or(u64::MAX) << 16) | n
}

/// The account of user `index` (attackers use their victim's).
pub fn account_name(index: usize) -> AccountId {
    AccountId::new(format!("acct-{index:06}").as_bytes()).expect("a short account id is valid")
}

impl User {
    /// A user with its script.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: usize,
        role: Role,
        account: AccountId,
        home_dc: Dc,
        fleet: FleetPublicKeys,
        clock: NodeClock,
        mut rng: ChaCha20Rng,
    ) -> Self {
        let mut keys = BTreeMap::new();
        let mut script = VecDeque::new();
        let first = password_id(index, 0);
        match role {
            Role::Honest => {
                keys.insert(0, BackupKey::generate(&mut rng));
                let second = password_id(index, 1);
                script.extend([
                    ModelOp::Register(0, first),
                    ModelOp::Recover(first),
                    ModelOp::Register(0, second),
                    ModelOp::Recover(second),
                ]);
                if draw_chance(&mut rng, 250_000) {
                    script.push_back(ModelOp::Delete(second));
                }
            }
            Role::Forgetful => {
                keys.insert(0, BackupKey::generate(&mut rng));
                script.extend([
                    ModelOp::Register(0, first),
                    ModelOp::Recover(password_id(index, 9)),
                    ModelOp::Recover(first),
                ]);
            }
            Role::Victim => {
                keys.insert(0, BackupKey::generate(&mut rng));
                script.push_back(ModelOp::Register(0, first));
            }
            Role::Attacker { .. } => {
                script.extend((0..GUESSES_MAX).map(|n| ModelOp::Recover(password_id(index, n))));
            }
            Role::Prober { .. } => {}
        }
        let mut model = AccountModel::default();
        model.attacked = role == Role::Victim;
        model.attempt_limit = if role == Role::Victim {
            VICTIM_ATTEMPT_LIMIT
        } else {
            HONEST_ATTEMPT_LIMIT
        };
        Self {
            index,
            role,
            client: Client::new(
                InsecureFastSuite,
                fleet.clone(),
                account.clone(),
                ClientConfig::default(),
            ),
            pinned: fleet,
            probes_left: if matches!(role, Role::Prober { .. }) {
                PROBES_MAX
            } else {
                0
            },
            lock_probes_left: if matches!(role, Role::Attacker { .. }) {
                LOCK_PROBES_MAX
            } else {
                0
            },
            account,
            home_dc,
            clock,
            timer_at_ms: None,
            script,
            running: None,
            retry: None,
            keys,
            backup: None,
            model,
            acked_generations: Vec::new(),
            password: first,
            connections: BTreeSet::new(),
            rng,
            op_requests: BTreeMap::new(),
            served: Served::new(),
            op_resends: 0,
        }
    }

    /// The client sent request `request_id` of `kind` for the running operation.
    pub fn note_sent(&mut self, request_id: u64, kind: RequestKind) {
        if self.running.is_some() && self.op_requests.insert(request_id, kind).is_some() {
            self.op_resends = self.op_resends.saturating_add(1);
        }
    }

    /// A relay in datacenter `relay` forwarded to this phone the reply to request `request_id`
    /// from the replica in datacenter `replica`. Counts for the floor if the running
    /// operation sent that request (a late copy of an earlier operation's reply does not).
    pub fn note_served(&mut self, request_id: u64, relay: Dc, replica: Dc) {
        if let Some(kind) = self.op_requests.get(&request_id) {
            self.served.insert(*kind, (relay, replica));
        }
    }

    /// True for users whose operations count in the report and must be live.
    pub fn is_owner(&self) -> bool {
        !matches!(self.role, Role::Attacker { .. } | Role::Prober { .. })
    }

    /// True when the user has nothing left to do.
    pub fn is_idle(&self) -> bool {
        self.running.is_none()
            && self.retry.is_none()
            && self.script.is_empty()
            && self.probes_left == 0
    }

    /// A prober's next `RegisterStart` (an encoded [`ClientRequest`] for a fresh guessed
    /// password, sealed to the pinned fleet), or `None` when it has sent them all. Its answer
    /// goes to the prober's client, which ignores it: the attacker checks it offline, and the
    /// oracle counts it if it was computed under the live record's OPRF key.
    pub fn probe(&mut self) -> Option<Vec<u8>> {
        self.probes_left = self.probes_left.checked_sub(1)?;
        let n = u64::from(PROBES_MAX - self.probes_left);
        let guess = password_bytes(password_id(self.index, 100 + n));
        let suite = InsecureFastSuite;
        let start = suite
            .client_registration_start(&mut self.rng, &guess)
            .ok()?;
        let request = Request::RegisterStart {
            registration_request: start.message,
        };
        let kind = RequestKind::RegisterStart;
        let sealed = suite
            .seal_request(
                &mut self.rng,
                &self.pinned,
                &request_aad(&self.account, kind),
                &request.encode(),
            )
            .ok()?;
        Some(
            ClientRequest {
                request_id: PROBE_REQUEST_ID_BASE + n,
                kind,
                sealed: sealed.sealed,
            }
            .encode(),
        )
    }

    /// The password the running operation was started with.
    pub fn running_password(&self) -> Option<PasswordId> {
        self.running.map(|r| match r.op {
            ModelOp::Register(_, password)
            | ModelOp::Recover(password)
            | ModelOp::Delete(password) => password,
        })
    }

    /// Starts the next operation (a retry first) at global time `now_ms`. False if there is none
    /// or one is running.
    pub fn start_next(&mut self, now_ms: u64) -> bool {
        if self.running.is_some() {
            return false;
        }
        let (op, first_started_ms, tries) = match self.retry.take() {
            Some(retry) => retry,
            None => match self.script.pop_front() {
                Some(op) => {
                    // A new logical operation: its floor starts from nothing.
                    self.op_requests.clear();
                    self.served.clear();
                    self.op_resends = 0;
                    (op, now_ms, 0)
                }
                None => return false,
            },
        };
        let local_ms = self.clock.local_ms(now_ms);
        let started = match op {
            ModelOp::Register(key, password) => {
                self.password = password;
                let Some(backup_key) = self.keys.get(&key).cloned() else {
                    return false;
                };
                let limit = if self.role == Role::Victim {
                    VICTIM_ATTEMPT_LIMIT
                } else {
                    HONEST_ATTEMPT_LIMIT
                };
                self.client.start_register(
                    local_ms,
                    &mut self.rng,
                    &password_bytes(password),
                    &backup_key,
                    limit,
                )
            }
            ModelOp::Recover(password) => {
                self.client
                    .start_recover(local_ms, &mut self.rng, &password_bytes(password))
            }
            ModelOp::Delete(password) => {
                self.client
                    .start_delete(local_ms, &mut self.rng, &password_bytes(password))
            }
        };
        let Ok(operation) = started else {
            return false;
        };
        self.running = Some(Running {
            op,
            operation,
            started_ms: now_ms,
            first_started_ms,
            tries: tries + 1,
        });
        true
    }

    /// The running operation ended. Returns an INV-LINEAR complaint (if any) and when to wake
    /// next (a delay), or `None` when there is nothing more to do.
    pub fn finish(&mut self, outcome: &ClientOutcome) -> (Option<String>, Option<u64>) {
        let Some(running) = self.running.take() else {
            return (None, None);
        };
        let mut complaint = None;
        if self.is_owner() {
            let recovered = match outcome {
                ClientOutcome::Recovered(key) => {
                    self.keys.iter().find(|(_, k)| *k == key).map(|(id, _)| *id)
                }
                _ => None,
            };
            if let Err(why) = self.model.apply(running.op, outcome, recovered) {
                complaint = Some(why);
            }
            match (running.op, outcome) {
                (ModelOp::Register(key, _), ClientOutcome::Registered { generation }) => {
                    self.acked_generations.push(*generation);
                    if self.role == Role::Honest && self.backup.is_none() {
                        complaint = complaint.or_else(|| self.back_up(key));
                    }
                }
                (_, ClientOutcome::Recovered(key)) => {
                    complaint = complaint.or_else(|| self.restore(key));
                }
                _ => {}
            }
        }
        if matches!(self.role, Role::Attacker { .. })
            && matches!(outcome, ClientOutcome::Locked | ClientOutcome::NoRecord)
        {
            self.script.clear();
        }
        if *outcome == ClientOutcome::Unavailable && running.tries < TRIES_MAX {
            self.retry = Some((running.op, running.first_started_ms, running.tries));
            let backoff_ms = (500u64 << running.tries.min(10)).min(BACKOFF_MS_MAX);
            return (
                complaint,
                Some(backoff_ms + draw_range(&mut self.rng, 0, 500)),
            );
        }
        if matches!(self.role, Role::Attacker { .. })
            && self.script.is_empty()
            && self.lock_probes_left > 0
        {
            // Keep probing: a stale quorum may answer with the record unlocked again.
            self.lock_probes_left -= 1;
            let n = u64::from(LOCK_PROBES_MAX - self.lock_probes_left);
            self.script
                .push_back(ModelOp::Recover(password_id(self.index, GUESSES_MAX + n)));
            let (low, high) = if matches!(outcome, ClientOutcome::Locked | ClientOutcome::NoRecord)
            {
                LOCK_PROBE_MS
            } else {
                (10, 300)
            };
            return (complaint, Some(draw_range(&mut self.rng, low, high)));
        }
        if self.script.is_empty() {
            return (complaint, None);
        }
        let think_ms = match self.role {
            Role::Attacker { .. } | Role::Prober { .. } => draw_range(&mut self.rng, 10, 300),
            Role::Honest | Role::Forgetful | Role::Victim => draw_range(&mut self.rng, 100, 5_000),
        };
        (complaint, Some(think_ms))
    }

    fn back_up(&mut self, key: KeyId) -> Option<String> {
        let backup_key = self.keys.get(&key)?;
        let mut plaintext = vec![0u8; BACKUP_FILE_LEN];
        self.rng.fill_bytes(&mut plaintext);
        match seal_to_vec(backup_key, BACKUP_SEGMENT_SIZE, &plaintext, &mut self.rng) {
            Ok(ciphertext) => {
                self.backup = Some(Backup {
                    key,
                    plaintext,
                    ciphertext,
                });
                None
            }
            Err(e) => Some(format!("sealing the backup failed: {e}")),
        }
    }

    fn restore(&self, key: &BackupKey) -> Option<String> {
        let backup = self.backup.as_ref()?;
        match open_to_vec(key, &backup.ciphertext) {
            Ok(plaintext) if plaintext == backup.plaintext => None,
            Ok(_) | Err(_) => Some(format!(
                "the recovered key does not restore the backup sealed under key {}",
                backup.key
            )),
        }
    }
}
