//! The vault's request engine (SPEC.md "Vault protocol"), shared by the single vault
//! ([`SingleVault`](super::SingleVault)) and the replicated one
//! ([`ReplicatedVault`](super::ReplicatedVault)): it opens a relay's request, checks it, submits
//! the record change to its [`RecordStore`], and seals the reply when the store completes the
//! change. The vault types own the store's other effects (durable writes, replica messages) and
//! the order of outputs.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use rand_core::{CryptoRng, RngCore};

use super::change::{ChangeOutcome, PreparedLogin, RecordChange};
use super::genesis::Lineage;
use super::record::{AccountRecord, MAX_ATTEMPT_LIMIT, RecordState, Registration};
use super::store::{RecordStore, Ticket};
use crate::crypto::labels::{
    LABEL_BROKEN_SHARED_OPRF_SEED, LABEL_IN_FLIGHT_REQUEST, LABEL_LOGIN_REQUEST_DIGEST,
    LABEL_LOGIN_STATE_AAD, LABEL_PROOF_CHECK, LABEL_RECORD_AAD, LABEL_REGISTRATION_DIGEST,
    LABEL_REGISTRATION_TICKET_AAD,
};
use crate::crypto::{CryptoError, CryptoSuite, Digest, Identities, SecretBytes};
use crate::drops::{DropCounts, DropReason};
use crate::ids::{AccountId, RelayTag};
use crate::wire::{
    DecodeError, LOGIN_ID_LEN, LoginId, RecordStatus, Reply, ReplyBody, Request, RequestKind,
    VaultReply, VaultRequest, reply_aad, request_aad,
};

/// Why a persisted record could not be restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreError {
    /// The sealed record did not open under the fleet storage key for that account.
    Crypto(CryptoError),
    /// The opened record did not decode.
    Decode(DecodeError),
}

impl core::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Crypto(e) => write!(f, "the persisted record did not open: {e}"),
            Self::Decode(e) => write!(f, "the persisted record did not decode: {e}"),
        }
    }
}

impl core::error::Error for RestoreError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Crypto(e) => Some(e),
            Self::Decode(e) => Some(e),
        }
    }
}

/// A deliberately broken vault behaviour, for showing that the checkers catch it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum VaultFault {
    /// The correct vault.
    #[default]
    None,
    /// Every registration of an account uses one OPRF seed (the behaviour before version 2):
    /// a `RegisterStart` then evaluates the OPRF under the live record's key, an uncounted
    /// password test (INV-ATTEMPTS).
    SharedOprfKey,
}

/// What a request waits for in the store.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Step {
    RegisterStartRead {
        registration_request: Vec<u8>,
    },
    RegisterFinishCommit,
    ExposeCommit,
    StatusRead,
    LoginStartRead {
        generation: u64,
        login_epoch: u64,
        credential_request: Vec<u8>,
        request_digest: [u8; 32],
    },
    LoginStartCommit,
    LoginFinishRead {
        login_id: LoginId,
        credential_finalization: Vec<u8>,
    },
    LoginFinishCommit {
        login_id: LoginId,
        session_key: Option<SecretBytes>,
    },
    DeleteCommit,
}

/// Where and how a request's answer goes: its relay and route, the in-flight digest its copies attach
/// to, its account and kind, and the key its reply is sealed under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ReplyTo {
    relay: RelayTag,
    route_id: u64,
    /// The request's in-flight digest (`LABEL_IN_FLIGHT_REQUEST`) while identical copies may
    /// attach to it; `None` before the request is submitted.
    in_flight: Option<Digest>,
    account: AccountId,
    kind: RequestKind,
    reply_key: SecretBytes,
}

/// A request submitted to the store: where its answer goes and what it waits for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Waiting {
    reply_to: ReplyTo,
    step: Step,
}

/// A request being worked on: the (relay, route id) it came on and those of the identical
/// copies that arrived meanwhile and get the same answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct InFlight {
    first: (RelayTag, u64),
    copies: Vec<(RelayTag, u64)>,
}

/// A reply for a relay: the encoded `VaultReply` and the relay it goes to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct RelayReply {
    /// The relay the request came from.
    pub(super) relay: RelayTag,
    /// The encoded reply.
    pub(super) bytes: Vec<u8>,
}

/// The engine: OPAQUE server, fleet keys, per-account records through a [`RecordStore`], the
/// requests it works on and the replies they produced (in order, drained by the vault type).
///
/// `Clone`, `Eq`, `Hash` and `Debug` hold when the suite, its fleet secrets and the store have
/// them (the model checker stores vaults in its states).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct VaultEngine<S: CryptoSuite, St: RecordStore> {
    pub(super) suite: S,
    pub(super) fleet: S::FleetSecrets,
    pub(super) store: St,
    next_ticket: Ticket,
    waiting: BTreeMap<Ticket, Waiting>,
    /// Requests being worked on, by in-flight digest.
    in_flight: BTreeMap<Digest, InFlight>,
    pub(super) replies: VecDeque<RelayReply>,
    pub(super) now_ms: u64,
    pub(super) fault: VaultFault,
    pub(super) drops: DropCounts,
}

/// Most copies of one in-flight request that wait for its answer; later copies are dropped
/// (the sender retries).
pub const IN_FLIGHT_COPIES_MAX: usize = 8;

impl<S: CryptoSuite, St: RecordStore> VaultEngine<S, St> {
    /// An engine over the given store.
    pub(super) fn new(suite: S, fleet: S::FleetSecrets, store: St) -> Self {
        Self {
            suite,
            fleet,
            store,
            next_ticket: 0,
            waiting: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            replies: VecDeque::new(),
            now_ms: 0,
            fault: VaultFault::None,
            drops: DropCounts::default(),
        }
    }

    /// Handles the bytes of a `VaultRequest` from relay `relay`. Undecodable bytes are
    /// dropped; a request that does not open for the relay's account gets
    /// `ReplyBody::Rejected` and changes nothing. The vault type pumps the store afterwards.
    pub(super) fn handle_relay_message(
        &mut self,
        now_ms: u64,
        rng: &mut (impl CryptoRng + RngCore),
        relay: RelayTag,
        bytes: &[u8],
    ) {
        self.now_ms = self.now_ms.max(now_ms);
        let Ok(request) = VaultRequest::decode(bytes) else {
            self.drops.count(DropReason::CannotDecode);
            return;
        };
        let VaultRequest {
            route_id,
            account,
            kind,
            sealed,
        } = request;
        // An identical copy of a request this replica is still working on (a client's or a
        // relay's resend) waits for the same answer instead of starting a second operation.
        let in_flight = self.suite.digest(
            LABEL_IN_FLIGHT_REQUEST,
            &[account.as_bytes(), &[kind.code()], &sealed],
        );
        // Copies are told apart by (relay, route id): route ids are each relay's own. A copy
        // on a (relay, route) that already waits is a duplicate (the relay needs one answer).
        if let Some(waiting) = self.in_flight.get_mut(&in_flight) {
            let route = (relay, route_id);
            if waiting.copies.len() < IN_FLIGHT_COPIES_MAX
                && waiting.first != route
                && !waiting.copies.contains(&route)
            {
                waiting.copies.push(route);
            } else {
                self.drops.count(DropReason::Replayed);
            }
            return;
        }
        let opened = self
            .suite
            .open_request(&self.fleet, &request_aad(&account, kind), &sealed);
        let Ok(opened) = opened else {
            self.reject(relay, route_id, kind);
            return;
        };
        let body = match Request::decode(&opened.plaintext) {
            Ok(body) if body.kind() == kind => body,
            Ok(_) | Err(_) => {
                self.reject(relay, route_id, kind);
                return;
            }
        };
        let mut reply_to = ReplyTo {
            relay,
            route_id,
            in_flight: None,
            account,
            kind,
            reply_key: opened.reply_key,
        };
        let (step, change) = match body {
            Request::RegisterStart {
                registration_request,
            } => {
                let step = Step::RegisterStartRead {
                    registration_request,
                };
                (step, RecordChange::Read)
            }
            Request::RegisterFinish {
                base_generation,
                attempt_limit,
                registration_upload,
                wrapped_key,
                expose_check,
                delete_check,
                ticket,
            } => {
                if attempt_limit == 0 || attempt_limit > MAX_ATTEMPT_LIMIT || wrapped_key.is_empty()
                {
                    self.reply(rng, &reply_to, &Reply::InvalidRequest);
                    return;
                }
                // The OPRF seed this registration's RegistrationResponse was computed under,
                // sealed by a vault of this fleet for this account and base generation.
                // A recovering replica does not know its lineage yet: the client resends.
                let Some(lineage) = self.store.lineage() else {
                    self.reply(rng, &reply_to, &Reply::OutcomeUnknown);
                    return;
                };
                let Ok(oprf_seed) = self.suite.open_storage(
                    &self.fleet,
                    &ticket_aad_in(&reply_to.account, base_generation, lineage),
                    &ticket,
                ) else {
                    self.reply(rng, &reply_to, &Reply::InvalidRequest);
                    return;
                };
                let Ok(opaque_registration) =
                    self.suite.server_registration_finish(&registration_upload)
                else {
                    self.reply(rng, &reply_to, &Reply::InvalidRequest);
                    return;
                };
                let registration_digest = self.suite.digest(
                    LABEL_REGISTRATION_DIGEST,
                    &[
                        oprf_seed.expose(),
                        &opaque_registration,
                        &wrapped_key,
                        &attempt_limit.to_be_bytes(),
                        &expose_check,
                        &delete_check,
                    ],
                );
                (
                    Step::RegisterFinishCommit,
                    RecordChange::Register {
                        base_generation,
                        registration: Registration {
                            oprf_seed,
                            opaque_registration: SecretBytes::new(opaque_registration),
                            wrapped_key: SecretBytes::new(wrapped_key),
                            attempt_limit,
                            expose_check,
                            delete_check,
                            registration_digest,
                        },
                    },
                )
            }
            Request::Expose { generation, proof } => (
                Step::ExposeCommit,
                RecordChange::Expose {
                    generation,
                    proof_check: self.suite.digest(LABEL_PROOF_CHECK, &[&proof]),
                },
            ),
            Request::LoginStart {
                generation,
                login_epoch,
                credential_request,
            } => {
                let request_digest = self.suite.digest(
                    LABEL_LOGIN_REQUEST_DIGEST,
                    &[
                        reply_to.account.as_bytes(),
                        &generation.to_be_bytes(),
                        &login_epoch.to_be_bytes(),
                        &credential_request,
                    ],
                );
                let step = Step::LoginStartRead {
                    generation,
                    login_epoch,
                    credential_request,
                    request_digest,
                };
                (step, RecordChange::Read)
            }
            Request::Status => (Step::StatusRead, RecordChange::Read),
            Request::LoginFinish {
                login_id,
                credential_finalization,
            } => {
                let step = Step::LoginFinishRead {
                    login_id,
                    credential_finalization,
                };
                (step, RecordChange::Read)
            }
            Request::Delete { generation, proof } => (
                Step::DeleteCommit,
                RecordChange::Delete {
                    generation,
                    proof_check: self.suite.digest(LABEL_PROOF_CHECK, &[&proof]),
                },
            ),
        };
        let first = (reply_to.relay, reply_to.route_id);
        let waiting = InFlight {
            first,
            copies: Vec::new(),
        };
        if self.in_flight.insert(in_flight, waiting).is_none() {
            reply_to.in_flight = Some(in_flight);
        }
        self.submit(Waiting { reply_to, step }, change);
    }

    fn submit(&mut self, waiting: Waiting, change: RecordChange) {
        let ticket = self.next_ticket;
        self.next_ticket = self.next_ticket.wrapping_add(1);
        let account = waiting.reply_to.account.clone();
        self.waiting.insert(ticket, waiting);
        self.store.submit_at(self.now_ms, ticket, account, change);
    }

    /// The store completed the change submitted with `ticket`: answers its request (or
    /// submits the follow-up change a login needs).
    pub(super) fn complete_ticket(
        &mut self,
        rng: &mut (impl CryptoRng + RngCore),
        ticket: Ticket,
        outcome: ChangeOutcome,
    ) {
        if let Some(waiting) = self.waiting.remove(&ticket) {
            self.complete(rng, waiting, outcome);
        }
    }

    fn complete(
        &mut self,
        rng: &mut (impl CryptoRng + RngCore),
        waiting: Waiting,
        outcome: ChangeOutcome,
    ) {
        let Waiting { reply_to, step } = waiting;
        match (step, outcome) {
            (
                Step::RegisterStartRead {
                    registration_request,
                },
                ChangeOutcome::Current(record),
            ) => {
                let generation = record.as_ref().map_or(0, |r| r.generation);
                let reply = self.registration_response(
                    rng,
                    &reply_to.account,
                    generation,
                    &registration_request,
                );
                self.reply(rng, &reply_to, &reply);
            }
            (Step::StatusRead, ChangeOutcome::Current(record)) => {
                let reply = status_of(record.as_deref());
                self.reply(rng, &reply_to, &reply);
            }
            (
                Step::LoginStartRead {
                    generation,
                    login_epoch,
                    credential_request,
                    request_digest,
                },
                ChangeOutcome::Current(record),
            ) => {
                self.prepare_login(
                    rng,
                    reply_to,
                    record,
                    (generation, login_epoch),
                    &credential_request,
                    request_digest,
                );
            }
            (
                Step::LoginFinishRead {
                    login_id,
                    credential_finalization,
                },
                ChangeOutcome::Current(record),
            ) => {
                self.verify_login(reply_to, record, login_id, &credential_finalization);
            }
            (
                Step::LoginFinishCommit {
                    login_id,
                    session_key,
                },
                ChangeOutcome::Released { wrapped_key },
            ) => {
                // INV-DISCLOSE: released only when this vault verified the finalization, sealed
                // under the session key of that login.
                let reply = match session_key {
                    Some(session_key) => {
                        match self.suite.seal_release(
                            rng,
                            &session_key,
                            &login_id,
                            wrapped_key.expose(),
                        ) {
                            Ok(sealed_wrapped_key) => Reply::KeyReleased { sealed_wrapped_key },
                            Err(_) => Reply::OutcomeUnknown,
                        }
                    }
                    None => Reply::OutcomeUnknown,
                };
                self.reply(rng, &reply_to, &reply);
            }
            (_step_without_special_handling, outcome) => {
                let reply = reply_for(outcome);
                self.reply(rng, &reply_to, &reply);
            }
        }
    }

    /// Answers a `RegisterStart` under a fresh OPRF seed (never the live record's: no
    /// `RegisterStart` is a password test, INV-ATTEMPTS) and seals that seed into the ticket
    /// the `RegisterFinish` brings back.
    fn registration_response(
        &mut self,
        rng: &mut (impl CryptoRng + RngCore),
        account: &AccountId,
        generation: u64,
        registration_request: &[u8],
    ) -> Reply {
        let oprf_seed = match self.fault {
            VaultFault::None => self.suite.new_oprf_seed(rng),
            VaultFault::SharedOprfKey => shared_oprf_seed(&self.suite, account),
        };
        let Ok(registration_response) = self.suite.server_registration_start(
            rng,
            &self.fleet,
            &oprf_seed,
            registration_request,
            account,
        ) else {
            return Reply::InvalidRequest;
        };
        let Some(lineage) = self.store.lineage() else {
            return Reply::OutcomeUnknown;
        };
        let Ok(ticket) = self.suite.seal_storage(
            rng,
            &self.fleet,
            &ticket_aad_in(account, generation, lineage),
            oprf_seed.expose(),
        ) else {
            return Reply::OutcomeUnknown;
        };
        Reply::RegistrationResponse {
            generation,
            registration_response,
            ticket,
        }
    }

    fn prepare_login(
        &mut self,
        rng: &mut (impl CryptoRng + RngCore),
        reply_to: ReplyTo,
        record: Option<Box<AccountRecord>>,
        (generation, login_epoch): (u64, u64),
        credential_request: &[u8],
        request_digest: [u8; 32],
    ) {
        let mut prepared = None;
        if let Some(AccountRecord {
            state: RecordState::Active(active),
            generation: record_generation,
        }) = record.as_deref()
            && *record_generation == generation
            && active.login_epoch == login_epoch
        {
            let retry = active
                .pending_login
                .as_ref()
                .is_some_and(|l| l.request_digest == request_digest);
            let exhausted = active.attempts_used >= active.registration.attempt_limit;
            if !retry && !exhausted {
                let mut login_id = [0u8; LOGIN_ID_LEN];
                rng.fill_bytes(&mut login_id);
                let ids = Identities {
                    account: &reply_to.account,
                    fleet: self.suite.fleet_id(&self.fleet),
                };
                let started = self.suite.server_login_start(
                    rng,
                    &self.fleet,
                    &active.registration.oprf_seed,
                    active.registration.opaque_registration.expose(),
                    credential_request,
                    ids,
                );
                let Ok(started) = started else {
                    self.reply(rng, &reply_to, &Reply::InvalidRequest);
                    return;
                };
                let aad = login_state_aad(&reply_to.account, &login_id);
                let Ok(sealed) =
                    self.suite
                        .seal_storage(rng, &self.fleet, &aad, started.state.expose())
                else {
                    self.reply(rng, &reply_to, &Reply::OutcomeUnknown);
                    return;
                };
                prepared = Some(PreparedLogin {
                    login_id,
                    sealed_server_login: SecretBytes::new(sealed),
                    credential_response: started.message,
                });
            }
        }
        self.submit(
            Waiting {
                reply_to,
                step: Step::LoginStartCommit,
            },
            RecordChange::LoginStart {
                generation,
                login_epoch,
                request_digest,
                prepared,
            },
        );
    }

    fn verify_login(
        &mut self,
        reply_to: ReplyTo,
        record: Option<Box<AccountRecord>>,
        login_id: LoginId,
        credential_finalization: &[u8],
    ) {
        let generation = record.as_ref().map_or(0, |r| r.generation);
        let mut session_key = None;
        if let Some(AccountRecord {
            state: RecordState::Active(active),
            ..
        }) = record.as_deref()
            && let Some(login) = &active.pending_login
            && login.login_id == login_id
        {
            let aad = login_state_aad(&reply_to.account, &login_id);
            if let Ok(state) =
                self.suite
                    .open_storage(&self.fleet, &aad, login.sealed_server_login.expose())
            {
                let ids = Identities {
                    account: &reply_to.account,
                    fleet: self.suite.fleet_id(&self.fleet),
                };
                session_key = self
                    .suite
                    .server_login_finish(state.expose(), credential_finalization, ids)
                    .ok();
            }
        }
        let verified = session_key.is_some();
        let step = Step::LoginFinishCommit {
            login_id,
            session_key,
        };
        self.submit(
            Waiting { reply_to, step },
            RecordChange::LoginFinish {
                generation,
                login_id,
                verified,
            },
        );
    }

    fn reject(&mut self, relay: RelayTag, route_id: u64, kind: RequestKind) {
        let bytes = VaultReply {
            route_id,
            kind,
            body: ReplyBody::Rejected,
        }
        .encode();
        self.replies.push_back(RelayReply { relay, bytes });
    }

    fn reply(&mut self, rng: &mut (impl CryptoRng + RngCore), reply_to: &ReplyTo, reply: &Reply) {
        // Padded to the fixed size of its kind: the relay cannot tell answers apart by size.
        let plaintext = SecretBytes::new(reply.encode_padded(reply_to.kind));
        let body = match self.suite.seal_reply(
            rng,
            &reply_to.reply_key,
            &reply_aad(reply_to.kind),
            plaintext.expose(),
        ) {
            Ok(sealed) => ReplyBody::Sealed(sealed),
            Err(_) => ReplyBody::Rejected,
        };
        let copies = reply_to
            .in_flight
            .and_then(|digest| self.in_flight.remove(&digest))
            .map(|waiting| waiting.copies)
            .unwrap_or_default();
        for (relay, route_id) in core::iter::once((reply_to.relay, reply_to.route_id)).chain(copies)
        {
            let bytes = VaultReply {
                route_id,
                kind: reply_to.kind,
                body: body.clone(),
            }
            .encode();
            self.replies.push_back(RelayReply { relay, bytes });
        }
    }
}

fn reply_for(outcome: ChangeOutcome) -> Reply {
    match outcome {
        ChangeOutcome::Registered { generation } => Reply::Registered { generation },
        ChangeOutcome::RegistrationStale { current_generation } => {
            Reply::RegistrationStale { current_generation }
        }
        ChangeOutcome::Exposed { generation } => Reply::Exposed { generation },
        ChangeOutcome::ProofRejected => Reply::ProofRejected,
        ChangeOutcome::LoginChallenge {
            login_id,
            generation,
            attempts_remaining,
            credential_response,
        } => Reply::LoginChallenge {
            login_id,
            generation,
            attempts_remaining,
            credential_response,
        },
        ChangeOutcome::LoginFailed { attempts_remaining } => {
            Reply::LoginFailed { attempts_remaining }
        }
        ChangeOutcome::Locked => Reply::Locked,
        ChangeOutcome::NoRecord => Reply::NoRecord,
        ChangeOutcome::UnknownLogin => Reply::UnknownLogin,
        ChangeOutcome::Deleted => Reply::Deleted,
        ChangeOutcome::LoginStale {
            generation,
            login_epoch,
        } => Reply::LoginStale {
            generation,
            login_epoch,
        },
        ChangeOutcome::Busy => Reply::Busy,
        ChangeOutcome::Unknown => Reply::OutcomeUnknown,
        // A read or a release never reaches here for a step that expects something else; such
        // a mismatch (only possible with a misbehaving store) is answered with "outcome unknown"
        // so that the client resends rather than gives up on a login that may have counted.
        ChangeOutcome::Current(_) | ChangeOutcome::Released { .. } => Reply::OutcomeUnknown,
    }
}

/// The guess-free answer to `Status` (SPEC.md "Status").
fn status_of(record: Option<&AccountRecord>) -> Reply {
    let Some(record) = record else {
        return Reply::Status {
            generation: 0,
            state: RecordStatus::NoRecord,
            attempts_remaining: 0,
            login_epoch: 0,
        };
    };
    let (state, attempts_remaining, login_epoch) = match &record.state {
        RecordState::Pending(_) => (RecordStatus::Pending, 0, 0),
        RecordState::Active(active) => (
            RecordStatus::Active,
            active.attempts_remaining(),
            active.login_epoch,
        ),
        RecordState::Locked => (RecordStatus::Locked, 0, 0),
        RecordState::Deleted => (RecordStatus::Deleted, 0, 0),
    };
    Reply::Status {
        generation: record.generation,
        state,
        attempts_remaining,
        login_epoch,
    }
}

/// The OPRF seed of the broken [`VaultFault::SharedOprfKey`]: one per account, the same for
/// every registration (64 bytes, the length the real suite expects).
fn shared_oprf_seed<S: CryptoSuite>(suite: &S, account: &AccountId) -> SecretBytes {
    let mut seed = Vec::with_capacity(64);
    for part in [0u8, 1] {
        seed.extend_from_slice(&suite.digest(
            LABEL_BROKEN_SHARED_OPRF_SEED,
            &[account.as_bytes(), &[part]],
        ));
    }
    SecretBytes::new(seed)
}

/// `label ‖ u32 length ‖ account`: the start of every storage AAD bound to an account.
fn account_aad(label: &[u8], account: &AccountId) -> Vec<u8> {
    let mut aad = label.to_vec();
    aad.extend_from_slice(
        &u32::try_from(account.as_bytes().len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    aad.extend_from_slice(account.as_bytes());
    aad
}

/// The AAD a registration ticket is sealed under (SPEC.md "Per-registration OPRF seeds"):
/// [`LABEL_REGISTRATION_TICKET_AAD`] ‖ u32 length ‖ account ‖ u64 base generation. Public for
/// oracles that hold the fleet secrets (the simulator's checker opens tickets with it).
pub fn ticket_aad(account: &AccountId, base_generation: u64) -> Vec<u8> {
    ticket_aad_in(account, base_generation, Lineage::ORIGINAL)
}

/// [`ticket_aad`] in a given lineage (SPEC.md "Re-genesis"): a ticket of another lineage never
/// opens, so a registration of a lost lineage cannot be replayed into a new one. The original
/// lineage's AAD is unchanged (no lineage bytes).
pub fn ticket_aad_in(account: &AccountId, base_generation: u64, lineage: Lineage) -> Vec<u8> {
    let mut aad = account_aad(LABEL_REGISTRATION_TICKET_AAD, account);
    aad.extend_from_slice(&base_generation.to_be_bytes());
    if lineage != Lineage::ORIGINAL {
        aad.push(lineage.founder.0);
        aad.extend_from_slice(&lineage.tag.incarnation.to_be_bytes());
        aad.extend_from_slice(&lineage.tag.sequence.to_be_bytes());
    }
    aad
}

pub(super) fn record_aad(account: &AccountId) -> Vec<u8> {
    account_aad(LABEL_RECORD_AAD, account)
}

fn login_state_aad(account: &AccountId, login_id: &LoginId) -> Vec<u8> {
    let mut aad = account_aad(LABEL_LOGIN_STATE_AAD, account);
    aad.extend_from_slice(login_id);
    aad
}
