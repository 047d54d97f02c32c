//! The one judge of the vault's two safety promises at its boundary, for every harness that
//! opens the vault's traffic (the single-replica [`net`](crate::net), the replicated
//! [`cluster`](crate::cluster) through the [`ReplyObserver`](crate::observer::ReplyObserver),
//! and the simulator's oracle):
//!
//! - **INV-ATTEMPTS**: per registration (account, generation), the distinct password tests
//!   granted since the last committed reset never exceed the registration's attempt limit. A
//!   password test is any vault output computed under the live registration's OPRF key: every
//!   login challenge, and every `RegistrationResponse` that the registration's own OPRF seed
//!   reproduces (the judge opens the seed from the registration's ticket and evaluates the
//!   `RegisterStart` under it itself: OPAQUE's registration response is a deterministic
//!   function of the OPRF key and the blinded input, so equal bytes mean the same key).
//!   A reset is known to have committed from the release reply of its login, or, when that
//!   reply was never sent, from the owner's accepted `LoginFinish` followed by a reply that
//!   shows a later login epoch.
//! - **INV-DISCLOSE**: every released key answers a login whose `LoginStart` was sealed with the
//!   password of that registration (the harness tells the judge which password each sealed
//!   request carries: [`AttemptJudge::note_sealed`]), and no key is released for a generation already answered `Locked` or
//!   `Deleted`.
//!
//! The judge sees only what crosses the boundary: opened requests and the replies to them.
//! The model checker judges the same two invariants on its states instead (it sees every
//! record and knows when a reset takes effect; SPEC.md "Model checking"), with the same rule
//! and names.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use e2ee_backup::internal::crypto::{CryptoSuite, SecretBytes};
use e2ee_backup::internal::ids::AccountId;
use e2ee_backup::internal::vault::{Lineage, ticket_aad_in};
use e2ee_backup::internal::wire::{LoginId, Reply, Request};
use rand_core::SeedableRng as _;
use sha2::{Digest as _, Sha256};

/// Invariant names as in SPEC.md.
pub const INV_ATTEMPTS: &str = "INV-ATTEMPTS";
/// See SPEC.md.
pub const INV_DISCLOSE: &str = "INV-DISCLOSE";
/// The harness itself hit a limit or misbehaved (here: the judge could not open a
/// registration's ticket, so it cannot tell which registration answers are password tests).
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

/// A login the judge saw challenged.
#[derive(Clone, Debug)]
struct LoginFacts<P> {
    generation: u64,
    /// The login epoch its `LoginStart` named (the epoch the attempt was counted in).
    epoch: u64,
    password: Option<P>,
}

#[derive(Clone, Debug)]
struct RegistrationFacts<P> {
    attempt_limit: u32,
    password: Option<P>,
    /// Password tests granted per login epoch (distinct login challenges, plus registration
    /// tests of the shared-OPRF-key variant, put in the epoch current when they were seen).
    tests_per_epoch: BTreeMap<u64, u32>,
    /// Epochs that ended with a committed reset. The judge knows a reset committed when a
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
    /// the registration's password, or at a release), kept only to compare the two rules.
    legacy_granted: u32,
    /// The registration's OPRF seed, opened from the ticket its `RegisterFinish` carried.
    oprf_seed: Option<SecretBytes>,
    /// An `Exposed` reply or a login challenge showed the record exposed.
    exposed: bool,
    /// The `RegistrationResponse`s computed under this registration's OPRF key.
    registration_tests: BTreeSet<Vec<u8>>,
}

impl<P> Default for RegistrationFacts<P> {
    fn default() -> Self {
        Self {
            attempt_limit: 0,
            password: None,
            tests_per_epoch: BTreeMap::new(),
            reset_epochs: BTreeSet::new(),
            owner_finished_epochs: BTreeSet::new(),
            legacy_granted: 0,
            oprf_seed: None,
            exposed: false,
            registration_tests: BTreeSet::new(),
        }
    }
}

/// The judge of INV-ATTEMPTS and INV-DISCLOSE. `P` names a password (the simulator's
/// password ids, the test networks' password bytes): the harness says which password sealed a
/// request, the judge compares them.
#[derive(Clone, Debug)]
pub struct AttemptJudge<P> {
    /// The password each sealed request was made with, by the digest of its sealed bytes, as
    /// the harness noted it when a client sent it.
    passwords: BTreeMap<[u8; 32], P>,
    registrations: BTreeMap<(AccountId, u64), RegistrationFacts<P>>,
    logins: BTreeMap<(AccountId, LoginId), LoginFacts<P>>,
    ended: BTreeMap<AccountId, u64>,
    /// The lineages the group was seen in besides the original (SPEC.md "Re-genesis"): a
    /// registration ticket's AAD names its lineage.
    lineages: BTreeSet<Lineage>,
    /// Registrations whose legacy count (reset at an accepted `LoginFinish`) went over the
    /// limit: what the rule before issue 12 would have reported.
    pub legacy_attempt_violations: u64,
    /// Most password tests granted to one registration between committed resets.
    pub granted_max: u32,
    /// The attempt limit of that registration.
    pub granted_max_limit: u32,
    /// Keys released.
    pub releases: u64,
    /// Committed resets the judge learnt from a later login epoch, not from a release reply
    /// (the release was never sent: its host crashed, or the client gave up first).
    pub resets_seen_by_epoch: u64,
    /// `RegistrationResponse`s computed under a live registration's OPRF key (password tests
    /// the broken `shared-oprf-key` vault grants without counting them).
    pub registration_tests: u64,
    /// Violations found, in the order they were seen.
    pub violations: Vec<Violation>,
}

impl<P> Default for AttemptJudge<P> {
    fn default() -> Self {
        Self {
            passwords: BTreeMap::new(),
            registrations: BTreeMap::new(),
            logins: BTreeMap::new(),
            ended: BTreeMap::new(),
            lineages: BTreeSet::new(),
            legacy_attempt_violations: 0,
            granted_max: 0,
            granted_max_limit: 0,
            releases: 0,
            resets_seen_by_epoch: 0,
            registration_tests: 0,
            violations: Vec::new(),
        }
    }
}

impl<P: Clone + Eq + Debug> AttemptJudge<P> {
    /// A client sealed `sealed` (a request's sealed part) in an operation with `password`.
    pub fn note_sealed(&mut self, sealed: &[u8], password: P) {
        self.passwords
            .insert(Sha256::digest(sealed).into(), password);
    }

    /// The password that sealed `sealed`, if the harness noted it.
    pub fn password_of(&self, sealed: &[u8]) -> Option<P> {
        let digest: [u8; 32] = Sha256::digest(sealed).into();
        self.passwords.get(&digest).cloned()
    }

    /// The violations of `invariant` found so far.
    pub fn violations_of(&self, invariant: &str) -> usize {
        self.violations
            .iter()
            .filter(|v| v.invariant == invariant)
            .count()
    }

    /// Panics with every violation found, if there is one: the test fails.
    pub fn assert_holds(&self) {
        assert!(
            self.violations.is_empty(),
            "the vault broke its promise: {:#?}",
            self.violations
        );
    }

    /// The group was seen voting in `lineage`: tickets of that lineage open from now on.
    pub fn note_lineage(&mut self, lineage: Lineage) {
        if lineage != Lineage::ORIGINAL {
            self.lineages.insert(lineage);
        }
    }

    /// A replica accepted a `LoginFinish` for `login_id` of `account`. If the login was made
    /// with the registration's password:
    /// - the reset of its epoch may commit (it is credited once a reply shows a later epoch);
    /// - the rule before issue 12, kept only for comparison, restarts its legacy count at once,
    ///   whether or not the reset then commits.
    pub fn accepted_finish(&mut self, account: &AccountId, login_id: LoginId) {
        if let Some(login) = self.logins.get(&(account.clone(), login_id))
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
    fn epoch_shown(&mut self, account: &AccountId, generation: u64, shown: u64) {
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
    /// the judge saw commit continues the count of the one before it.
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
    /// `response` to `request`: the judge evaluates the request under each one's seed.
    fn registrations_tested_by<S: CryptoSuite>(
        &self,
        suite: &S,
        fleet: &S::FleetSecrets,
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
                let expected = suite
                    .server_registration_start(&mut rng, fleet, seed, request, account)
                    .ok()?;
                (expected == response).then_some(*generation)
            })
            .collect()
    }

    /// The vault sent `reply` at `time_ms` to `request`, which the relay stamped with
    /// `account`; `password` sealed the request, if the harness knows it. `suite` and `fleet`
    /// (the harness's copy of the fleet's secrets) open registration tickets.
    #[allow(clippy::too_many_arguments)] // one reply with its request, as the harnesses hold it
    pub fn judge<S: CryptoSuite>(
        &mut self,
        suite: &S,
        fleet: &S::FleetSecrets,
        time_ms: u64,
        account: &AccountId,
        request: &Request,
        password: Option<&P>,
        reply: &Reply,
    ) {
        match (reply, request) {
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
                self.epoch_shown(account, *generation, *login_epoch);
            }
            _ => {}
        }
        match (reply, request) {
            (
                Reply::Registered { generation },
                Request::RegisterFinish {
                    attempt_limit,
                    base_generation,
                    ticket,
                    ..
                },
            ) => {
                let oprf_seed = core::iter::once(Lineage::ORIGINAL)
                    .chain(self.lineages.iter().copied())
                    .find_map(|lineage| {
                        let aad = ticket_aad_in(account, *base_generation, lineage);
                        suite.open_storage(fleet, &aad, ticket).ok()
                    });
                if oprf_seed.is_none() {
                    self.violations.push(Violation {
                        invariant: SIM_LIMIT,
                        time_ms,
                        detail: format!(
                            "account {} generation {generation}: the judge cannot open the registration ticket",
                            show(account)
                        ),
                    });
                }
                let facts = self
                    .registrations
                    .entry((account.clone(), *generation))
                    .or_default();
                facts.attempt_limit = *attempt_limit;
                facts.password = password.cloned();
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
                for generation in self.registrations_tested_by(
                    suite,
                    fleet,
                    account,
                    registration_request,
                    registration_response,
                ) {
                    let fresh = self
                        .registrations
                        .get_mut(&(account.clone(), generation))
                        .is_some_and(|facts| {
                            facts
                                .registration_tests
                                .insert(registration_response.clone())
                        });
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
                let epoch = match request {
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
                        password: password.cloned(),
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
                }) = self.logins.get(&(account.clone(), *login_id)).cloned()
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
                let registered = facts.password.clone();
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
/// at or after it (an epoch that began without a reset the judge saw commit continues the
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

#[cfg(test)]
mod tests {
    use e2ee_backup::internal::crypto::real::{InsecureFastFleetSecrets, InsecureFastSuite};
    use e2ee_backup::internal::wire::RecordStatus;

    use super::*;
    use crate::fixtures::{account, fast_fleet};

    const OWNER_PASSWORD: u64 = 10;

    struct Judged {
        judge: AttemptJudge<u64>,
        fleet: InsecureFastFleetSecrets,
        account: AccountId,
    }

    /// A judge that knows registration 1 of `acct-x` (limit 2, password 10, exposed).
    fn judge_with_registration() -> Judged {
        let mut judge = AttemptJudge::default();
        let account = account("acct-x");
        judge.registrations.insert(
            (account.clone(), 1),
            RegistrationFacts {
                attempt_limit: 2,
                password: Some(OWNER_PASSWORD),
                exposed: true,
                ..RegistrationFacts::default()
            },
        );
        Judged {
            judge,
            fleet: fast_fleet(),
            account,
        }
    }

    impl Judged {
        fn reply(&mut self, request: Request, password: Option<u64>, reply: &Reply) {
            self.judge.judge(
                &InsecureFastSuite,
                &self.fleet,
                0,
                &self.account,
                &request,
                password.as_ref(),
                reply,
            );
        }

        /// A login `id` of epoch `epoch` with `password` is challenged.
        fn challenge(&mut self, id: u8, epoch: u64, password: u64) {
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
            self.reply(request, Some(password), &reply);
        }

        fn released(&mut self, id: u8, password: u64) {
            let finish = Request::LoginFinish {
                login_id: [id; 16],
                credential_finalization: Vec::new(),
            };
            let released = Reply::KeyReleased {
                sealed_wrapped_key: Vec::new(),
            };
            self.reply(finish, Some(password), &released);
        }

        fn status_at_epoch(&mut self, login_epoch: u64) {
            let reply = Reply::Status {
                generation: 1,
                state: RecordStatus::Active,
                attempts_remaining: 2,
                login_epoch,
            };
            self.reply(Request::Status, None, &reply);
        }

        fn attempts_violations(&self) -> usize {
            self.judge.violations_of(INV_ATTEMPTS)
        }
    }

    #[test]
    fn an_accepted_finish_that_never_commits_does_not_restart_the_count() {
        let mut j = judge_with_registration();
        j.challenge(1, 0, OWNER_PASSWORD);
        // A replica accepts the owner's LoginFinish, but the reset never commits (no release).
        let account = j.account.clone();
        j.judge.accepted_finish(&account, [1; 16]);
        j.challenge(2, 0, 99);
        j.challenge(3, 0, 98);
        assert_eq!(
            j.attempts_violations(),
            1,
            "three tests in one epoch, limit 2"
        );
        assert_eq!(
            j.judge.legacy_attempt_violations, 0,
            "the rule before issue 12 restarted its count at the accepted finish"
        );
    }

    #[test]
    fn a_committed_release_starts_a_new_count_in_the_next_epoch() {
        let mut j = judge_with_registration();
        j.challenge(1, 0, OWNER_PASSWORD);
        j.challenge(2, 0, 99);
        j.released(1, OWNER_PASSWORD);
        j.judge.assert_holds();
        j.challenge(3, 1, 97);
        j.challenge(4, 1, 96);
        assert_eq!(j.attempts_violations(), 0);
        j.challenge(5, 1, 95);
        assert_eq!(j.attempts_violations(), 1);
    }

    #[test]
    fn a_key_released_to_another_password_or_after_lockout_is_inv_disclose() {
        let mut j = judge_with_registration();
        j.challenge(1, 0, 99);
        j.released(1, 99);
        assert_eq!(j.judge.violations_of(INV_DISCLOSE), 1, "wrong password");
        j.challenge(2, 1, OWNER_PASSWORD);
        j.reply(Request::Status, None, &Reply::Locked);
        j.released(2, OWNER_PASSWORD);
        assert_eq!(j.judge.violations_of(INV_DISCLOSE), 2, "after lockout");
        j.released(3, OWNER_PASSWORD);
        assert_eq!(j.judge.violations_of(INV_DISCLOSE), 3, "unknown login");
    }

    #[test]
    fn a_reset_whose_release_was_lost_is_learnt_from_a_later_epoch() {
        let mut j = judge_with_registration();
        j.challenge(1, 0, OWNER_PASSWORD);
        j.challenge(2, 0, 99);
        // The owner's finish is accepted; its release reply is never sent.
        let account = j.account.clone();
        j.judge.accepted_finish(&account, [1; 16]);
        // A reply shows the record at epoch 1: the reset of epoch 0 was chosen.
        j.status_at_epoch(1);
        j.challenge(3, 1, 97);
        j.challenge(4, 1, 96);
        assert_eq!(j.attempts_violations(), 0);
        assert_eq!(j.judge.resets_seen_by_epoch, 1);
        j.challenge(5, 1, 95);
        assert_eq!(j.attempts_violations(), 1, "three tests in epoch 1");
    }

    #[test]
    fn a_later_epoch_without_an_owner_finish_restarts_nothing() {
        let mut j = judge_with_registration();
        j.challenge(1, 0, 98);
        j.challenge(2, 0, 99);
        // A finish of a wrong-password login, then a vault that shows a later epoch anyway: no
        // reset is credited, so the count of epoch 0 continues into epoch 1.
        let account = j.account.clone();
        j.judge.accepted_finish(&account, [1; 16]);
        j.status_at_epoch(1);
        j.challenge(3, 1, 97);
        assert_eq!(j.judge.resets_seen_by_epoch, 0);
        assert_eq!(j.attempts_violations(), 1);
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
}
