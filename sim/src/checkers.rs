//! Checkers outside the protocol.
//!
//! The [`Oracle`] holds its own copy of the fleet secrets (made from the same seed as the vault's)
//! and opens every request a vault replica accepted and every reply a host actually sent:
//! - **INV-ATTEMPTS**: per registration (account, generation), the distinct password tests
//!   granted since the last committed reset never exceed the registration's attempt limit. A
//!   password test is any vault output computed under the live registration's OPRF key: every
//!   login challenge, and every `RegistrationResponse` that the registration's own OPRF seed
//!   reproduces (the oracle opens the seed from the registration's ticket and evaluates the
//!   `RegisterStart` under it itself: OPAQUE's registration response is a deterministic
//!   function of the OPRF key and the blinded input, so equal bytes mean the same key).
//!   A reset is known to have committed from the release reply of its login, or, when that
//!   reply was never sent, from the owner's accepted `LoginFinish` followed by a reply that
//!   shows a later login epoch.
//! - **INV-DISCLOSE**: every released key answers a login whose `LoginStart` was sealed with the
//!   password of that registration (the simulator knows which password each sealed request
//!   carries), and no key is released for a generation already answered `Locked` or `Deleted`.
//!
//! [`AccountModel`] is the sequential specification of one account used for **INV-LINEAR**: every
//! completed operation of the account's owner must be explained by some state the record could be
//! in (operations that ended `Unavailable` may or may not have taken effect).

use std::collections::{BTreeMap, BTreeSet};

use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup::internal::crypto::real::{InsecureFastFleetSecrets, InsecureFastSuite};
use e2ee_backup::internal::crypto::{CryptoSuite as _, SecretBytes};
use e2ee_backup::internal::ids::AccountId;
use e2ee_backup::internal::vault::ticket_aad;
use e2ee_backup::internal::wire::{
    LoginId, RecordStatus, Reply, ReplyBody, Request, VaultReply, VaultRequest,
};
use e2ee_backup_testkit::observer::{OpenedRequest, open_reply, open_request};
use rand_core::SeedableRng as _;
use sha2::{Digest as _, Sha256};

use crate::vault_node::RequestKey;

/// Names a password in the simulation (its bytes are derived from the id).
pub type PasswordId = u64;

/// Names a backup key made by a user.
pub type KeyId = u64;

/// Invariant names as in SPEC.md.
pub const INV_ATTEMPTS: &str = "INV-ATTEMPTS";
/// See SPEC.md.
pub const INV_DISCLOSE: &str = "INV-DISCLOSE";
/// See SPEC.md.
pub const INV_DURABLE: &str = "INV-DURABLE";
/// See SPEC.md.
pub const INV_LINEAR: &str = "INV-LINEAR";
/// See SPEC.md.
pub const LIVE: &str = "LIVE";
/// See SPEC.md ("Simulation", corrupted bytes): a message corrupted in transit is never acted
/// on: a replica drops (and counts) every corrupted replica-link envelope, and no host answers
/// with a sealed reply a request whose sealed bytes no phone sent.
pub const INV_TAMPER: &str = "INV-TAMPER";
/// A simulator limit was hit (event queue full, loop bound) or the run itself misbehaved.
pub const SIM_LIMIT: &str = "SIM-LIMIT";

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant.
    pub invariant: &'static str,
    /// Virtual time it was seen.
    pub time_ms: u64,
    /// What happened.
    pub detail: String,
}

struct Seen {
    /// The request as the vault opened it (account, kind, request, reply key).
    opened: OpenedRequest,
    password: Option<PasswordId>,
    /// When the replica accepted the request (global ms).
    accepted_ms: u64,
    /// No phone sent these sealed bytes (they were corrupted on the way).
    unsent: bool,
}

/// A login the oracle saw challenged.
#[derive(Clone, Copy, Debug)]
struct LoginFacts {
    generation: u64,
    /// The login epoch its `LoginStart` named (the epoch the attempt was counted in).
    epoch: u64,
    password: Option<PasswordId>,
}

#[derive(Clone, Debug, Default)]
struct RegistrationFacts {
    attempt_limit: u32,
    password: Option<PasswordId>,
    /// Password tests granted per login epoch (distinct login challenges, plus registration
    /// tests of the shared-OPRF-key variant, put in the epoch current when they were seen).
    tests_per_epoch: BTreeMap<u64, u32>,
    /// Epochs that ended with a committed reset. The oracle knows a reset committed when a
    /// `KeyReleased` reply was sent (after its change was chosen) for a login counted in that
    /// epoch, or when a `LoginFinish` with the registration's password was accepted for a login
    /// of that epoch and a later reply shows the registration at a later login epoch (the epoch
    /// advances only in a chosen reset; the release reply itself may have been lost with a
    /// crashed host). The next epoch starts a new count.
    reset_epochs: BTreeSet<u64>,
    /// Epochs in which a replica accepted a `LoginFinish` with the registration's password: a
    /// reset of that epoch may commit (it is credited once a reply shows a later epoch).
    owner_finished_epochs: BTreeSet<u64>,
    /// The count of the rule before issue 12 (reset when a replica accepts a `LoginFinish` with
    /// the registration's password, or at a release), kept only to compare the two oracles.
    legacy_granted: u32,
    /// The registration's OPRF seed, opened from the ticket its `RegisterFinish` carried.
    oprf_seed: Option<SecretBytes>,
    /// An `Exposed` reply or a login challenge showed the record exposed.
    exposed: bool,
    /// Digests of the `RegistrationResponse`s computed under this registration's OPRF key.
    registration_tests: BTreeSet<[u8; 32]>,
}

/// The omniscient observer of the vault fleet.
pub struct Oracle {
    fleet: InsecureFastFleetSecrets,
    senders: BTreeMap<[u8; 32], PasswordId>,
    /// Digests of the sealed part of every request a phone sent (owners, attackers, probers).
    sent: BTreeSet<[u8; 32]>,
    requests: BTreeMap<(u32, RequestKey), Seen>,
    registrations: BTreeMap<(AccountId, u64), RegistrationFacts>,
    logins: BTreeMap<(AccountId, LoginId), LoginFacts>,
    ended: BTreeMap<AccountId, u64>,
    /// Registrations acknowledged to their owners: (time, generation), in time order.
    acknowledged: BTreeMap<AccountId, Vec<(u64, u64)>>,
    /// INV-DURABLE findings by replica group, judged at the end of the run against assumption
    /// A1 (a group that had more than two replicas impaired at once may lose records).
    pub durable_findings: Vec<(u32, Violation)>,
    /// Replies whose record generation the per-operation INV-DURABLE check compared.
    pub durable_checks: u64,
    /// Registrations whose legacy count (reset at an accepted `LoginFinish`) went over the
    /// limit: what the oracle before issue 12 would have reported.
    pub legacy_attempt_violations: u64,
    /// Most password tests granted to one registration between key releases.
    pub granted_max: u32,
    /// The attempt limit of that registration.
    pub granted_max_limit: u32,
    /// Keys released.
    pub releases: u64,
    /// Committed resets the oracle learnt from a later login epoch, not from a release reply
    /// (the release was never sent: its host crashed, or the client gave up first).
    pub resets_seen_by_epoch: u64,
    /// `RegistrationResponse`s computed under a live registration's OPRF key (password tests
    /// the broken `shared-oprf-key` vault grants without counting them).
    pub registration_tests: u64,
    /// Violations found.
    pub violations: Vec<Violation>,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Oracle {
    /// An oracle holding a copy of the fleet secrets.
    pub fn new(fleet: InsecureFastFleetSecrets) -> Self {
        Self {
            fleet,
            senders: BTreeMap::new(),
            sent: BTreeSet::new(),
            requests: BTreeMap::new(),
            registrations: BTreeMap::new(),
            logins: BTreeMap::new(),
            ended: BTreeMap::new(),
            acknowledged: BTreeMap::new(),
            durable_findings: Vec::new(),
            durable_checks: 0,
            legacy_attempt_violations: 0,
            granted_max: 0,
            granted_max_limit: 0,
            releases: 0,
            resets_seen_by_epoch: 0,
            registration_tests: 0,
            violations: Vec::new(),
        }
    }

    /// A client sealed a request (`sealed` bytes) with password `password`.
    pub fn note_sealed(&mut self, sealed: &[u8], password: PasswordId) {
        self.senders.insert(digest(sealed), password);
    }

    /// A phone sent a request whose sealed part is `sealed` (INV-TAMPER).
    pub fn note_sent(&mut self, sealed: &[u8]) {
        self.sent.insert(digest(sealed));
    }

    /// The owner of `account` was told at `time_ms` that registration `generation` is done
    /// (registered and exposed): every read that starts later must see it (INV-DURABLE).
    pub fn note_acknowledged(&mut self, time_ms: u64, account: &AccountId, generation: u64) {
        self.acknowledged
            .entry(account.clone())
            .or_default()
            .push((time_ms, generation));
    }

    /// The highest generation acknowledged to `account`'s owner before `time_ms`.
    fn acknowledged_before(&self, account: &AccountId, time_ms: u64) -> Option<u64> {
        self.acknowledged
            .get(account)?
            .iter()
            .filter(|(at, _)| *at < time_ms)
            .map(|(_, generation)| *generation)
            .max()
    }

    /// A replica accepted a `LoginFinish` for `login_id`. If the login was made with the
    /// registration's password:
    /// - the reset of its epoch may commit (it is credited once a reply shows a later epoch);
    /// - the rule before issue 12, kept only for comparison, restarts its legacy count at once,
    ///   whether or not the reset then commits.
    fn note_accepted_finish(&mut self, account: &AccountId, login_id: LoginId) {
        if let Some(login) = self.logins.get(&(account.clone(), login_id)).copied()
            && let Some(facts) = self
                .registrations
                .get_mut(&(account.clone(), login.generation))
            && login.password.is_some()
            && facts.password == login.password
        {
            facts.owner_finished_epochs.insert(login.epoch);
            facts.legacy_granted = 0;
        }
    }

    /// A reply showed registration (`account`, `generation`) at login epoch `shown`: every
    /// earlier epoch in which the owner finished a login ended with a committed reset (the
    /// vault moves to a later epoch only in a chosen reset, and only after such a finish).
    fn note_epoch_shown(&mut self, account: &AccountId, generation: u64, shown: u64) {
        let Some(facts) = self.registrations.get_mut(&(account.clone(), generation)) else {
            return;
        };
        let ended: Vec<u64> = facts
            .owner_finished_epochs
            .range(..shown)
            .copied()
            .collect();
        for epoch in ended {
            if facts.reset_epochs.insert(epoch) {
                self.resets_seen_by_epoch += 1;
            }
        }
    }

    /// Replica group `group` accepted `request` under `host_route` at `time_ms`.
    pub fn observe_request(
        &mut self,
        time_ms: u64,
        group: u32,
        host_route: RequestKey,
        request: &VaultRequest,
    ) {
        let Some(opened) = open_request(&InsecureFastSuite, &self.fleet, request) else {
            return;
        };
        let sealed_digest = digest(&request.sealed);
        let password = self.senders.get(&sealed_digest).copied();
        let unsent = !self.sent.contains(&sealed_digest);
        if let Request::LoginFinish { login_id, .. } = &opened.request {
            self.note_accepted_finish(&request.account, *login_id);
        }
        self.requests.insert(
            (group, host_route),
            Seen {
                opened,
                password,
                accepted_ms: time_ms,
                unsent,
            },
        );
    }

    /// A host of group `group` sent `bytes` (a [`VaultReply`]) answering `host_route`.
    pub fn observe_reply(
        &mut self,
        time_ms: u64,
        group: u32,
        host_route: RequestKey,
        bytes: &[u8],
    ) {
        let Some(seen) = self.requests.remove(&(group, host_route)) else {
            return;
        };
        let Ok(reply) = VaultReply::decode(bytes) else {
            return;
        };
        if !matches!(reply.body, ReplyBody::Sealed(_)) {
            return;
        }
        if seen.unsent {
            self.violations.push(Violation {
                invariant: INV_TAMPER,
                time_ms,
                detail: format!(
                    "group {group} answered a {:?} of account {} that no phone sealed",
                    reply.kind,
                    show(&seen.opened.account)
                ),
            });
        }
        let Some(body) = open_reply(&InsecureFastSuite, &seen.opened, &reply) else {
            return;
        };
        self.check_durable(time_ms, group, &seen, &body);
        self.judge(time_ms, &seen, &body);
    }

    /// INV-DURABLE, per operation: a reply that shows the record's generation, to a request
    /// accepted after a registration was acknowledged to the owner, shows that generation or a
    /// later one, and an acknowledged registration is still exposed.
    fn check_durable(&mut self, time_ms: u64, group: u32, seen: &Seen, reply: &Reply) {
        let Some(acked) = self.acknowledged_before(&seen.opened.account, seen.accepted_ms) else {
            return;
        };
        let (shown, pending) = match reply {
            Reply::Status {
                generation, state, ..
            } => (*generation, *state == RecordStatus::Pending),
            Reply::LoginChallenge { generation, .. }
            | Reply::RegistrationResponse { generation, .. }
            | Reply::LoginStale { generation, .. } => (*generation, false),
            Reply::RegistrationStale { current_generation } => (*current_generation, false),
            _ => return,
        };
        self.durable_checks += 1;
        let what = if shown < acked {
            format!("shows generation {shown}")
        } else if shown == acked && pending {
            format!("shows generation {shown} not exposed")
        } else {
            return;
        };
        self.durable_findings.push((
            group,
            Violation {
                invariant: INV_DURABLE,
                time_ms,
                detail: format!(
                    "account {}: registration {acked} was acknowledged before a {:?} accepted at {} ms; the reply {what}",
                    show(&seen.opened.account),
                    seen.opened.request.kind(),
                    seen.accepted_ms
                ),
            },
        ));
    }

    fn latest_generation(&self, account: &AccountId) -> u64 {
        self.registrations
            .range((account.clone(), 0)..=(account.clone(), u64::MAX))
            .next_back()
            .map_or(0, |((_, generation), _)| *generation)
    }

    /// One more password test granted to registration (`account`, `generation`), counted in
    /// login epoch `epoch` (`None`: the epoch current now, for tests no login names). The
    /// count runs per (account, generation) over the epochs since the last committed reset
    /// (a `KeyReleased` for a login of an earlier epoch); an epoch that began without a reset
    /// the oracle saw commit continues the count of the one before it.
    fn grant(
        &mut self,
        time_ms: u64,
        account: &AccountId,
        generation: u64,
        epoch: Option<u64>,
        what: &str,
    ) {
        let facts = self
            .registrations
            .entry((account.clone(), generation))
            .or_default();
        let epoch = epoch.unwrap_or_else(|| {
            let latest = facts
                .tests_per_epoch
                .keys()
                .next_back()
                .copied()
                .unwrap_or(0);
            if facts.reset_epochs.contains(&latest) {
                latest + 1
            } else {
                latest
            }
        });
        *facts.tests_per_epoch.entry(epoch).or_default() += 1;
        facts.legacy_granted += 1;
        let legacy_over = facts.legacy_granted == facts.attempt_limit + 1;
        let granted = tests_since_reset(&facts.tests_per_epoch, &facts.reset_epochs, epoch);
        let limit = facts.attempt_limit;
        if legacy_over {
            self.legacy_attempt_violations += 1;
        }
        if granted > self.granted_max
            || (granted == self.granted_max && limit < self.granted_max_limit)
        {
            self.granted_max = granted;
            self.granted_max_limit = limit;
        }
        if granted > limit {
            self.violations.push(Violation {
                invariant: INV_ATTEMPTS,
                time_ms,
                detail: format!(
                    "account {} generation {generation} login epoch {epoch}: {granted} password tests enabled since the last committed reset, limit {limit} (the last: {what})",
                    show(account)
                ),
            });
        }
    }

    /// The live registrations of `account` (exposed, not ended) whose OPRF key computed
    /// `response` to `request`: the oracle evaluates the request under each one's seed.
    fn registrations_tested_by(
        &self,
        account: &AccountId,
        request: &[u8],
        response: &[u8],
    ) -> Vec<u64> {
        let ended = self.ended.get(account).copied();
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([0; 32]);
        self.registrations
            .range((account.clone(), 0)..=(account.clone(), u64::MAX))
            .filter(|((_, generation), facts)| {
                facts.exposed && ended.is_none_or(|e| e < *generation)
            })
            .filter_map(|((_, generation), facts)| {
                let seed = facts.oprf_seed.as_ref()?;
                let expected = InsecureFastSuite
                    .server_registration_start(&mut rng, &self.fleet, seed, request, account)
                    .ok()?;
                (expected == response).then_some(*generation)
            })
            .collect()
    }

    fn judge(&mut self, time_ms: u64, seen: &Seen, reply: &Reply) {
        let account = &seen.opened.account;
        match (reply, &seen.opened.request) {
            (
                Reply::Status {
                    generation,
                    login_epoch,
                    ..
                }
                | Reply::LoginStale {
                    generation,
                    login_epoch,
                },
                _,
            )
            | (Reply::LoginChallenge { generation, .. }, Request::LoginStart { login_epoch, .. }) =>
            {
                self.note_epoch_shown(account, *generation, *login_epoch);
            }
            _ => {}
        }
        match (reply, &seen.opened.request) {
            (
                Reply::Registered { generation },
                Request::RegisterFinish {
                    attempt_limit,
                    base_generation,
                    ticket,
                    ..
                },
            ) => {
                let oprf_seed = InsecureFastSuite
                    .open_storage(&self.fleet, &ticket_aad(account, *base_generation), ticket)
                    .ok();
                if oprf_seed.is_none() {
                    self.violations.push(Violation {
                        invariant: SIM_LIMIT,
                        time_ms,
                        detail: format!(
                            "account {} generation {generation}: the oracle cannot open the registration ticket",
                            show(account)
                        ),
                    });
                }
                let facts = self
                    .registrations
                    .entry((account.clone(), *generation))
                    .or_default();
                facts.attempt_limit = *attempt_limit;
                facts.password = seen.password;
                facts.oprf_seed = oprf_seed;
            }
            (Reply::Exposed { generation }, _) => {
                self.registrations
                    .entry((account.clone(), *generation))
                    .or_default()
                    .exposed = true;
            }
            (
                Reply::RegistrationResponse {
                    registration_response,
                    ..
                },
                Request::RegisterStart {
                    registration_request,
                },
            ) => {
                // INV-ATTEMPTS: an answer to a RegisterStart computed under a live
                // registration's OPRF key is a password test of that registration.
                let test = digest(registration_response);
                for generation in self.registrations_tested_by(
                    account,
                    registration_request,
                    registration_response,
                ) {
                    let fresh = self
                        .registrations
                        .get_mut(&(account.clone(), generation))
                        .is_some_and(|facts| facts.registration_tests.insert(test));
                    if fresh {
                        self.registration_tests += 1;
                        self.grant(time_ms, account, generation, None, "a RegistrationResponse");
                    }
                }
            }
            (
                Reply::LoginChallenge {
                    login_id,
                    generation,
                    ..
                },
                _,
            ) => {
                let key = (account.clone(), *login_id);
                if self.logins.contains_key(&key) {
                    return;
                }
                let epoch = match &seen.opened.request {
                    Request::LoginStart { login_epoch, .. } => Some(*login_epoch),
                    _ => None,
                };
                let facts = self
                    .registrations
                    .entry((account.clone(), *generation))
                    .or_default();
                facts.exposed = true;
                let epoch = epoch.unwrap_or_else(|| {
                    facts
                        .tests_per_epoch
                        .keys()
                        .next_back()
                        .copied()
                        .unwrap_or(0)
                });
                self.logins.insert(
                    key,
                    LoginFacts {
                        generation: *generation,
                        epoch,
                        password: seen.password,
                    },
                );
                self.grant(
                    time_ms,
                    account,
                    *generation,
                    Some(epoch),
                    "a LoginChallenge",
                );
            }
            (Reply::KeyReleased { .. }, Request::LoginFinish { login_id, .. }) => {
                self.releases += 1;
                let Some(LoginFacts {
                    generation,
                    epoch,
                    password: login_password,
                }) = self.logins.get(&(account.clone(), *login_id)).copied()
                else {
                    self.violations.push(Violation {
                        invariant: INV_DISCLOSE,
                        time_ms,
                        detail: format!(
                            "account {}: key released for an unknown login",
                            show(account)
                        ),
                    });
                    return;
                };
                let facts = self
                    .registrations
                    .entry((account.clone(), generation))
                    .or_default();
                // The release is the outcome of a chosen change: the reset has committed, and
                // the attempts of this login's epoch end here.
                facts.reset_epochs.insert(epoch);
                facts.legacy_granted = 0;
                let registered = facts.password;
                if login_password.is_none() || login_password != registered {
                    self.violations.push(Violation {
                        invariant: INV_DISCLOSE,
                        time_ms,
                        detail: format!(
                            "account {} generation {generation}: key released to password {login_password:?}, registered {registered:?}",
                            show(account)
                        ),
                    });
                }
                if self
                    .ended
                    .get(account)
                    .is_some_and(|ended| *ended >= generation)
                {
                    self.violations.push(Violation {
                        invariant: INV_DISCLOSE,
                        time_ms,
                        detail: format!(
                            "account {} generation {generation}: key released after lockout or deletion",
                            show(account)
                        ),
                    });
                }
            }
            (Reply::Locked | Reply::Deleted, _) => {
                let generation = self.latest_generation(account);
                self.ended.insert(account.clone(), generation);
            }
            _ => {}
        }
    }
}

/// The password tests of the window of login epochs between committed resets that holds
/// `epoch`: from the epoch after the last reset epoch below `epoch` up to the first reset epoch
/// at or after it (an epoch that began without a reset the oracle saw commit continues the
/// count of the one before it).
fn tests_since_reset(
    tests_per_epoch: &BTreeMap<u64, u32>,
    reset_epochs: &BTreeSet<u64>,
    epoch: u64,
) -> u32 {
    let after = reset_epochs.range(..epoch).next_back().copied();
    let until = reset_epochs.range(epoch..).next().copied();
    tests_per_epoch
        .range(after.map_or(0, |r| r + 1)..=until.unwrap_or(u64::MAX))
        .map(|(_, n)| *n)
        .sum()
}

/// An account id for messages.
pub fn show(account: &AccountId) -> String {
    String::from_utf8_lossy(account.as_bytes()).into_owned()
}

/// What one account's record may be, in the sequential specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ModelState {
    /// No record.
    Empty,
    /// Registered, not exposed.
    Pending(KeyId, PasswordId),
    /// Usable.
    Active(KeyId, PasswordId),
    /// Erased after too many attempts.
    Locked,
    /// Deleted by the owner.
    Deleted,
}

/// An operation of the account's owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelOp {
    /// Register `key` under `password`.
    Register(KeyId, PasswordId),
    /// Recover with `password`.
    Recover(PasswordId),
    /// Delete with `password`.
    Delete(PasswordId),
}

/// The set of states one account's record may be in, given the owner's completed operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountModel {
    candidates: BTreeSet<ModelState>,
    /// Others guess passwords on this account (it may become locked at any time).
    pub attacked: bool,
    /// The attempt limit the owner registers with.
    pub attempt_limit: u32,
    /// The most attempts the owner's own logins may have used since the last certain success:
    /// every `WrongPassword` and every `Unavailable` login (its challenge may have been counted
    /// and then lost). An owner who reaches the limit this way may find the record `Locked`.
    possibly_used: u32,
}

impl Default for AccountModel {
    fn default() -> Self {
        Self {
            candidates: BTreeSet::from([ModelState::Empty]),
            attacked: false,
            attempt_limit: u32::MAX,
            possibly_used: 0,
        }
    }
}

impl AccountModel {
    /// Applies a completed operation; `Err` explains why no state explains `outcome`.
    /// `recovered` is the key id matching a `Recovered` outcome (if the user knows it).
    pub fn apply(
        &mut self,
        op: ModelOp,
        outcome: &ClientOutcome,
        recovered: Option<KeyId>,
    ) -> Result<(), String> {
        if self.attacked
            && self
                .candidates
                .iter()
                .any(|s| matches!(s, ModelState::Active(..)))
        {
            self.candidates.insert(ModelState::Locked);
        }
        let before = self.candidates.clone();
        let keep = |pred: &dyn Fn(&ModelState) -> bool,
                    set: &BTreeSet<ModelState>|
         -> BTreeSet<ModelState> {
            set.iter().copied().filter(|s| pred(s)).collect()
        };
        let next: BTreeSet<ModelState> = match (op, outcome) {
            (ModelOp::Register(key, password), ClientOutcome::Registered { .. }) => {
                BTreeSet::from([ModelState::Active(key, password)])
            }
            (ModelOp::Register(key, password), ClientOutcome::Unavailable) => {
                let mut set = before.clone();
                set.insert(ModelState::Pending(key, password));
                set.insert(ModelState::Active(key, password));
                set
            }
            (ModelOp::Delete(_), ClientOutcome::Unavailable) => {
                let mut set = before.clone();
                set.insert(ModelState::Deleted);
                set
            }
            (ModelOp::Recover(_), ClientOutcome::Unavailable) => before.clone(),
            (
                ModelOp::Recover(password) | ModelOp::Delete(password),
                ClientOutcome::Recovered(_),
            ) => {
                let Some(key) = recovered else {
                    return Err(format!(
                        "{op:?}: recovered a key the owner never registered"
                    ));
                };
                keep(&|s| *s == ModelState::Active(key, password), &before)
            }
            (ModelOp::Delete(password), ClientOutcome::Deleted) => {
                if before.iter().any(|s| {
                    matches!(s, ModelState::Active(_, p) if *p == password)
                        || *s == ModelState::Deleted
                }) {
                    BTreeSet::from([ModelState::Deleted])
                } else {
                    BTreeSet::new()
                }
            }
            (
                ModelOp::Recover(password) | ModelOp::Delete(password),
                ClientOutcome::WrongPassword { .. },
            ) => keep(
                &|s| matches!(s, ModelState::Active(_, p) if *p != password),
                &before,
            ),
            (ModelOp::Recover(password) | ModelOp::Delete(password), ClientOutcome::Locked) => {
                let exhausted = self.possibly_used >= self.attempt_limit;
                if before.iter().any(|s| {
                    matches!(s, ModelState::Active(_, p) if *p != password || exhausted)
                        || *s == ModelState::Locked
                }) {
                    BTreeSet::from([ModelState::Locked])
                } else {
                    BTreeSet::new()
                }
            }
            (ModelOp::Recover(_) | ModelOp::Delete(_), ClientOutcome::NoRecord) => keep(
                &|s| {
                    matches!(
                        s,
                        ModelState::Empty | ModelState::Pending(..) | ModelState::Deleted
                    )
                },
                &before,
            ),
            (op, outcome) => {
                return Err(format!("{op:?} cannot end with {}", outcome_name(outcome)));
            }
        };
        if next.is_empty() {
            return Err(format!(
                "{op:?} ended {} but the record could only be {before:?} ({} of {} attempts possibly used)",
                outcome_name(outcome),
                self.possibly_used,
                self.attempt_limit
            ));
        }
        self.candidates = next;
        self.possibly_used = match (op, outcome) {
            (_, ClientOutcome::Registered { .. } | ClientOutcome::Recovered(_)) => 0,
            (
                ModelOp::Recover(_) | ModelOp::Delete(_),
                ClientOutcome::Unavailable | ClientOutcome::WrongPassword { .. },
            ) => self.possibly_used.saturating_add(1),
            _ => self.possibly_used,
        };
        Ok(())
    }
}

/// A short name of an outcome (never the key).
pub fn outcome_name(outcome: &ClientOutcome) -> &'static str {
    match outcome {
        ClientOutcome::Registered { .. } => "Registered",
        ClientOutcome::Recovered(_) => "Recovered",
        ClientOutcome::WrongPassword { .. } => "WrongPassword",
        ClientOutcome::Locked => "Locked",
        ClientOutcome::NoRecord => "NoRecord",
        ClientOutcome::Deleted => "Deleted",
        ClientOutcome::Unavailable => "Unavailable",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER_PASSWORD: PasswordId = 10;

    /// An oracle that knows registration 1 of `acct-x` (limit 2, password 10, exposed).
    fn oracle_with_registration() -> (Oracle, AccountId) {
        let mut oracle = Oracle::new(crate::seed::fleet_secrets(1));
        let account = AccountId::new(b"acct-x").unwrap();
        oracle.registrations.insert(
            (account.clone(), 1),
            RegistrationFacts {
                attempt_limit: 2,
                password: Some(OWNER_PASSWORD),
                exposed: true,
                ..RegistrationFacts::default()
            },
        );
        (oracle, account)
    }

    fn seen(account: &AccountId, request: Request, password: Option<PasswordId>) -> Seen {
        Seen {
            opened: OpenedRequest {
                account: account.clone(),
                kind: request.kind(),
                request,
                reply_key: SecretBytes::new(vec![0; 32]),
            },
            password,
            accepted_ms: 0,
            unsent: false,
        }
    }

    /// A login `id` of epoch `epoch` with `password` is challenged.
    fn challenge(oracle: &mut Oracle, account: &AccountId, id: u8, epoch: u64, password: u64) {
        let request = Request::LoginStart {
            generation: 1,
            login_epoch: epoch,
            credential_request: Vec::new(),
        };
        let reply = Reply::LoginChallenge {
            login_id: [id; 16],
            generation: 1,
            attempts_remaining: 0,
            credential_response: Vec::new(),
        };
        oracle.judge(0, &seen(account, request, Some(password)), &reply);
    }

    fn attempts_violations(oracle: &Oracle) -> usize {
        oracle
            .violations
            .iter()
            .filter(|v| v.invariant == INV_ATTEMPTS)
            .count()
    }

    #[test]
    fn an_accepted_finish_that_never_commits_does_not_restart_the_count() {
        let (mut oracle, account) = oracle_with_registration();
        challenge(&mut oracle, &account, 1, 0, OWNER_PASSWORD);
        // A replica accepts the owner's LoginFinish, but the reset never commits (no release).
        oracle.note_accepted_finish(&account, [1; 16]);
        challenge(&mut oracle, &account, 2, 0, 99);
        challenge(&mut oracle, &account, 3, 0, 98);
        assert_eq!(
            attempts_violations(&oracle),
            1,
            "three tests in one epoch, limit 2"
        );
        assert_eq!(
            oracle.legacy_attempt_violations, 0,
            "the rule before issue 12 restarted its count at the accepted finish"
        );
    }

    #[test]
    fn a_committed_release_starts_a_new_count_in_the_next_epoch() {
        let (mut oracle, account) = oracle_with_registration();
        challenge(&mut oracle, &account, 1, 0, OWNER_PASSWORD);
        challenge(&mut oracle, &account, 2, 0, 99);
        let finish = Request::LoginFinish {
            login_id: [1; 16],
            credential_finalization: Vec::new(),
        };
        let released = Reply::KeyReleased {
            sealed_wrapped_key: Vec::new(),
        };
        oracle.judge(0, &seen(&account, finish, Some(OWNER_PASSWORD)), &released);
        assert!(oracle.violations.is_empty(), "{:?}", oracle.violations);
        challenge(&mut oracle, &account, 3, 1, 97);
        challenge(&mut oracle, &account, 4, 1, 96);
        assert_eq!(attempts_violations(&oracle), 0);
        challenge(&mut oracle, &account, 5, 1, 95);
        assert_eq!(attempts_violations(&oracle), 1);
    }

    fn status_at_epoch(oracle: &mut Oracle, account: &AccountId, login_epoch: u64) {
        let reply = Reply::Status {
            generation: 1,
            state: RecordStatus::Active,
            attempts_remaining: 2,
            login_epoch,
        };
        oracle.judge(0, &seen(account, Request::Status, None), &reply);
    }

    #[test]
    fn a_reset_whose_release_was_lost_is_learnt_from_a_later_epoch() {
        let (mut oracle, account) = oracle_with_registration();
        challenge(&mut oracle, &account, 1, 0, OWNER_PASSWORD);
        challenge(&mut oracle, &account, 2, 0, 99);
        // The owner's finish is accepted; its release reply is never sent.
        oracle.note_accepted_finish(&account, [1; 16]);
        // A reply shows the record at epoch 1: the reset of epoch 0 was chosen.
        status_at_epoch(&mut oracle, &account, 1);
        challenge(&mut oracle, &account, 3, 1, 97);
        challenge(&mut oracle, &account, 4, 1, 96);
        assert_eq!(attempts_violations(&oracle), 0);
        assert_eq!(oracle.resets_seen_by_epoch, 1);
        challenge(&mut oracle, &account, 5, 1, 95);
        assert_eq!(attempts_violations(&oracle), 1, "three tests in epoch 1");
    }

    #[test]
    fn a_later_epoch_without_an_owner_finish_restarts_nothing() {
        let (mut oracle, account) = oracle_with_registration();
        challenge(&mut oracle, &account, 1, 0, 98);
        challenge(&mut oracle, &account, 2, 0, 99);
        // A finish of a wrong-password login, then a vault that shows a later epoch anyway: no
        // reset is credited, so the count of epoch 0 continues into epoch 1.
        oracle.note_accepted_finish(&account, [1; 16]);
        status_at_epoch(&mut oracle, &account, 1);
        challenge(&mut oracle, &account, 3, 1, 97);
        assert_eq!(oracle.resets_seen_by_epoch, 0);
        assert_eq!(attempts_violations(&oracle), 1);
    }

    #[test]
    fn an_epoch_without_a_committed_reset_continues_the_count() {
        let tests = BTreeMap::from([(0, 2), (1, 1), (2, 2), (3, 1)]);
        let resets = BTreeSet::from([1]);
        assert_eq!(tests_since_reset(&tests, &resets, 0), 3);
        assert_eq!(tests_since_reset(&tests, &resets, 1), 3);
        assert_eq!(tests_since_reset(&tests, &resets, 2), 3);
        assert_eq!(tests_since_reset(&tests, &resets, 3), 3);
        assert_eq!(tests_since_reset(&tests, &BTreeSet::new(), 3), 6);
    }

    #[test]
    fn a_sealed_answer_to_a_request_no_phone_sent_is_inv_tamper() {
        let (mut oracle, account) = oracle_with_registration();
        let reply = VaultReply {
            route_id: 7,
            kind: e2ee_backup::internal::wire::RequestKind::Status,
            body: ReplyBody::Sealed(vec![0; 48]),
        }
        .encode();
        let key = RequestKey {
            replica: 0,
            relay: 0,
            route_id: 7,
        };
        oracle
            .requests
            .insert((0, key), seen(&account, Request::Status, None));
        oracle.observe_reply(10, 0, key, &reply);
        assert!(oracle.violations.is_empty(), "a phone sent that request");
        let mut forged = seen(&account, Request::Status, None);
        forged.unsent = true;
        oracle.requests.insert((0, key), forged);
        oracle.observe_reply(20, 0, key, &reply);
        assert_eq!(
            oracle
                .violations
                .iter()
                .filter(|v| v.invariant == INV_TAMPER)
                .count(),
            1
        );
    }

    #[test]
    fn a_read_after_an_acknowledged_registration_must_show_it() {
        let (mut oracle, account) = oracle_with_registration();
        oracle.note_acknowledged(100, &account, 2);
        let status = |generation, state| Reply::Status {
            generation,
            state,
            attempts_remaining: 2,
            login_epoch: 0,
        };
        let mut read = seen(&account, Request::Status, None);
        read.accepted_ms = 50;
        oracle.check_durable(60, 0, &read, &status(1, RecordStatus::Active));
        assert!(
            oracle.durable_findings.is_empty(),
            "the read began before the ack"
        );
        read.accepted_ms = 150;
        oracle.check_durable(160, 0, &read, &status(2, RecordStatus::Active));
        oracle.check_durable(160, 0, &read, &status(3, RecordStatus::Pending));
        assert!(oracle.durable_findings.is_empty());
        oracle.check_durable(160, 0, &read, &status(1, RecordStatus::Active));
        oracle.check_durable(160, 0, &read, &status(2, RecordStatus::Pending));
        assert_eq!(
            oracle.durable_findings.len(),
            2,
            "a lost generation, a lost exposure"
        );
        assert_eq!(
            oracle.durable_checks, 4,
            "the read before the ack is not compared"
        );
    }

    /// An account model where key 1 is registered under password 10 with `attempt_limit`.
    fn registered(attempt_limit: u32) -> AccountModel {
        let mut model = AccountModel {
            attempt_limit,
            ..AccountModel::default()
        };
        model
            .apply(
                ModelOp::Register(1, 10),
                &ClientOutcome::Registered { generation: 1 },
                None,
            )
            .unwrap();
        model
    }

    #[test]
    fn model_rejects_a_recovery_of_a_key_that_was_replaced() {
        let mut model = registered(u32::MAX);
        model
            .apply(
                ModelOp::Register(2, 11),
                &ClientOutcome::Registered { generation: 2 },
                None,
            )
            .unwrap();
        let key = e2ee_backup::BackupKey::from_bytes([7; 32]);
        assert!(
            model
                .apply(
                    ModelOp::Recover(11),
                    &ClientOutcome::Recovered(key),
                    Some(1)
                )
                .is_err()
        );
    }

    #[test]
    fn model_allows_lockout_only_after_the_limit_of_possibly_counted_logins() {
        let mut model = registered(2);
        model
            .apply(ModelOp::Recover(10), &ClientOutcome::Unavailable, None)
            .unwrap();
        let mut once = model.clone();
        assert!(
            once.apply(ModelOp::Recover(10), &ClientOutcome::Locked, None)
                .is_err(),
            "one lost login cannot exhaust a limit of two"
        );
        model
            .apply(ModelOp::Recover(10), &ClientOutcome::Unavailable, None)
            .unwrap();
        assert!(
            model
                .apply(ModelOp::Recover(10), &ClientOutcome::Locked, None)
                .is_ok()
        );
    }

    #[test]
    fn model_allows_either_state_after_an_unavailable_registration() {
        let mut model = registered(u32::MAX);
        model
            .apply(ModelOp::Register(2, 11), &ClientOutcome::Unavailable, None)
            .unwrap();
        assert!(
            model
                .apply(
                    ModelOp::Recover(10),
                    &ClientOutcome::WrongPassword { remaining: 9 },
                    None
                )
                .is_ok()
        );
    }
}
