//! Checkers outside the protocol.
//!
//! The [`Oracle`] holds its own copy of the fleet secrets (made from the same seed as the vault's)
//! and opens every request a vault replica accepted and every reply a host actually sent, with
//! the test kit's shared observer functions. It hands each opened pair to the test kit's one
//! judge of the vault's safety promises at its boundary
//! ([`AttemptJudge`](e2ee_backup_testkit::judge::AttemptJudge): **INV-ATTEMPTS** and
//! **INV-DISCLOSE**, the same judge the test networks use), telling it which password sealed
//! each request (the simulator knows every phone's password), and checks two things only a
//! simulator can:
//! - **INV-DURABLE**, per operation: a read that starts after a registration was acknowledged
//!   shows it;
//! - **INV-TAMPER**: no host answers with a sealed reply a request whose sealed bytes no phone
//!   sent.
//!
//! [`AccountModel`] is the sequential specification of one account used for **INV-LINEAR**: every
//! completed operation of the account's owner must be explained by some state the record could be
//! in (operations that ended `Unavailable` may or may not have taken effect).

use std::collections::{BTreeMap, BTreeSet};

use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup::internal::crypto::real::{InsecureFastFleetSecrets, InsecureFastSuite};
use e2ee_backup::internal::ids::AccountId;
use e2ee_backup::internal::wire::{
    RecordStatus, Reply, ReplyBody, Request, VaultReply, VaultRequest,
};
use e2ee_backup_testkit::judge::AttemptJudge;
pub use e2ee_backup_testkit::judge::{INV_ATTEMPTS, INV_DISCLOSE, SIM_LIMIT, Violation, show};
use e2ee_backup_testkit::observer::{OpenedRequest, open_reply, open_request};
use sha2::{Digest as _, Sha256};

use crate::vault_node::RequestKey;

/// Names a password in the simulation (its bytes are derived from the id).
pub type PasswordId = u64;

/// Names a backup key made by a user.
pub type KeyId = u64;

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

struct Seen {
    /// The request as the vault opened it (account, kind, request, reply key).
    opened: OpenedRequest,
    password: Option<PasswordId>,
    /// When the replica accepted the request (global ms).
    accepted_ms: u64,
    /// No phone sent these sealed bytes (they were corrupted on the way).
    unsent: bool,
}

/// The omniscient observer of the vault fleet.
pub struct Oracle {
    fleet: InsecureFastFleetSecrets,
    /// Digests of the sealed part of every request a phone sent (owners, attackers, probers).
    sent: BTreeSet<[u8; 32]>,
    requests: BTreeMap<(u32, RequestKey), Seen>,
    /// Registrations acknowledged to their owners: (time, generation), in time order.
    acknowledged: BTreeMap<AccountId, Vec<(u64, u64)>>,
    /// INV-ATTEMPTS and INV-DISCLOSE: the test kit's judge, with its statistics (most tests
    /// granted, releases, resets learnt from a later epoch, registration tests, the legacy
    /// rule's count).
    pub judge: AttemptJudge<PasswordId>,
    /// INV-DURABLE findings by replica group, judged at the end of the run against assumption
    /// A1 (a group that had more than two replicas impaired at once may lose records).
    pub durable_findings: Vec<(u32, Violation)>,
    /// Replies whose record generation the per-operation INV-DURABLE check compared.
    pub durable_checks: u64,
    /// Violations found, in the order they were seen (the judge's are moved here as it finds
    /// them).
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
            sent: BTreeSet::new(),
            requests: BTreeMap::new(),
            acknowledged: BTreeMap::new(),
            judge: AttemptJudge::default(),
            durable_findings: Vec::new(),
            durable_checks: 0,
            violations: Vec::new(),
        }
    }

    /// A client sealed a request (`sealed` bytes) with password `password`.
    pub fn note_sealed(&mut self, sealed: &[u8], password: PasswordId) {
        self.judge.note_sealed(sealed, password);
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
        let password = self.judge.password_of(&request.sealed);
        let unsent = !self.sent.contains(&digest(&request.sealed));
        if let Request::LoginFinish { login_id, .. } = &opened.request {
            self.judge.accepted_finish(&request.account, *login_id);
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
        self.judge.judge(
            &InsecureFastSuite,
            &self.fleet,
            time_ms,
            &seen.opened.account,
            &seen.opened.request,
            seen.password.as_ref(),
            &body,
        );
        self.violations.append(&mut self.judge.violations);
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

    /// An oracle and an account it judges.
    fn oracle_with_registration() -> (Oracle, AccountId) {
        let oracle = Oracle::new(crate::seed::fleet_secrets(1));
        (oracle, AccountId::new(b"acct-x").unwrap())
    }

    fn seen(account: &AccountId, request: Request, password: Option<PasswordId>) -> Seen {
        Seen {
            opened: OpenedRequest {
                account: account.clone(),
                kind: request.kind(),
                request,
                reply_key: e2ee_backup::internal::crypto::SecretBytes::new(vec![0; 32]),
            },
            password,
            accepted_ms: 0,
            unsent: false,
        }
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
