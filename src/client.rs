//! The client (device) role (SPEC.md "Vault protocol", "Client outcomes").
//!
//! A sans-I/O state machine bound to one account and one pinned fleet. Inputs:
//! [`Client::start_register`], [`Client::start_recover`], [`Client::start_delete`],
//! [`Client::handle_relay_message`] and [`Client::handle_timeout`]. Outputs: drain
//! [`Client::poll_output`] after every input; ask [`Client::poll_timeout`] when to call
//! `handle_timeout` next.
//!
//! - **Register** = `RegisterStart` → `RegisterFinish` (pending record) → `Expose`.
//!   **Changing the password** is a new registration from the device that holds the backup key;
//!   it replaces and destroys the earlier record.
//! - **Recover** = `Status` (guess-free: generation, login epoch, attempts left) → `LoginStart`
//!   for that generation and epoch (one attempt counted) → `LoginFinish` (key released). A
//!   client whose password turns out wrong still sends a `LoginFinish` (a dummy finalization),
//!   so right and wrong passwords look the same to the relay, and the vault's authenticated
//!   `LoginFailed` ends it.
//! - **Status** = `Status` alone ([`Client::start_status`]): attempts left, spends none.
//! - **Delete** = a recovery (to derive the delete proof from the export key) → `Delete`.
//! - **Recovery-key-only mode** needs no vault at all: the user keeps the backup key written as
//!   a recovery key (`recovery_key` module) and nothing is registered.
//!
//! A lost reply is handled by resending the *same* request bytes; the vault answers a repeated
//! request the same way and never counts it again, and an `OutcomeUnknown` answer is treated
//! like silence. Nothing but an authenticated final answer ends a login that may have counted:
//! one that ran out of sends, or got an unauthenticated `Rejected` or `RateLimited`, is kept
//! (with the password, zeroized on drop), and the next recover or delete with the same password
//! resumes it with the same bytes instead of starting a new login, so an outage or an on-path
//! party does not cost the user another attempt. A registration that was not answered after its
//! `RegisterFinish` is kept the same way and resumed by the next registration of the same key
//! with the same password (SPEC.md "Resuming an unfinished operation";
//! [`ClientConfig::resume_unfinished_login`], [`Client::forget_unfinished_login`]).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use rand_core::{CryptoRng, RngCore};
use subtle::ConstantTimeEq as _;

use crate::backup_key::BackupKey;
use crate::crypto::labels::{LABEL_DELETE_PROOF, LABEL_EXPOSE_PROOF, LABEL_PROOF_CHECK};
use crate::crypto::{CryptoError, CryptoSuite, FleetPublicKeys, Identities, SecretBytes};
use crate::drops::{DropCounts, DropReason};
use crate::ids::AccountId;
use crate::vault::record::MAX_ATTEMPT_LIMIT;
use crate::wire::{
    ClientReply, ClientRequest, LoginId, RecordStatus, Reply, ReplyBody, Request, RequestKind,
    reply_aad, request_aad,
};

/// How many times one recovery starts a new `LoginStart` after a `LoginStale` answer (a
/// success on another device moved the login epoch on) before it ends `Unavailable`.
pub const LOGIN_RESTARTS_MAX: u32 = 3;

/// Names one client operation (a counter the client keeps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct OperationId(pub u64);

impl core::fmt::Display for OperationId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "operation {}", self.0)
    }
}

/// Retry settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientConfig {
    /// How long to wait for a reply before sending the same request again.
    pub retry_interval_ms: u64,
    /// How many times one request is sent before the operation ends as
    /// [`ClientOutcome::Unavailable`].
    pub max_sends: u32,
    /// Keep a login (or a registration past its `RegisterStart`) that ended
    /// [`ClientOutcome::Unavailable`] without an authenticated final answer, and resume it
    /// (same request bytes) at the next recover or delete (or registration of the same key)
    /// with the same password.
    pub resume_unfinished_login: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            retry_interval_ms: 2_000,
            max_sends: 5,
            resume_unfinished_login: true,
        }
    }
}

/// How an operation ended. Every case is distinct and typed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientOutcome {
    /// Registration and exposure are done; the record of `generation` is usable.
    Registered {
        /// Generation of the new record.
        generation: u64,
    },
    /// The backup key, recovered with the password.
    Recovered(BackupKey),
    /// The password is wrong; `remaining` attempts are left.
    WrongPassword {
        /// Attempts left.
        remaining: u32,
    },
    /// The attempts are used up; the record's secrets are (or will be) erased for good.
    Locked,
    /// There is no usable record for this account.
    NoRecord,
    /// The record is deleted.
    Deleted,
    /// The vault could not be reached or refused for now; try again later.
    Unavailable,
    /// The answer to [`Client::start_status`]: the record's state, no attempt spent.
    Status {
        /// The record's generation (0: never registered).
        generation: u64,
        /// What the record holds.
        state: RecordStatus,
        /// Attempts left (0 unless `Active`).
        attempts_remaining: u32,
    },
}

/// What the client asks its host to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientOutput {
    /// Send these bytes (an encoded `ClientRequest`) to the relay.
    Send {
        /// The encoded request.
        bytes: Vec<u8>,
    },
    /// An operation ended.
    Completed {
        /// The operation.
        operation: OperationId,
        /// How it ended.
        outcome: ClientOutcome,
    },
}

/// Why an operation could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The attempt limit is outside `1..=MAX_ATTEMPT_LIMIT`.
    InvalidAttemptLimit,
    /// A cryptographic step failed.
    Crypto(CryptoError),
}

impl From<CryptoError> for ClientError {
    fn from(e: CryptoError) -> Self {
        Self::Crypto(e)
    }
}

impl core::fmt::Display for ClientError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InvalidAttemptLimit => write!(
                f,
                "the attempt limit must be between 1 and {MAX_ATTEMPT_LIMIT}"
            ),
            Self::Crypto(e) => write!(f, "the operation could not start: {e}"),
        }
    }
}

impl core::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::InvalidAttemptLimit => None,
            Self::Crypto(e) => Some(e),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Intent {
    Register,
    Recover,
    Delete,
    Status,
}

/// The request an operation waits on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct InFlight {
    request_id: u64,
    kind: RequestKind,
    bytes: Vec<u8>,
    reply_key: SecretBytes,
    deadline_ms: u64,
    sends: u32,
}

/// What an operation waits for (each variant names the reply it waits for).
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Phase<R, L> {
    /// Waiting for `RegistrationResponse`.
    AwaitRegistrationResponse { state: R },
    /// Waiting for `Registered` of `generation`.
    AwaitRegistered {
        generation: u64,
        export_key: SecretBytes,
    },
    /// Waiting for `Exposed` of `generation`.
    AwaitExposed { generation: u64 },
    /// Waiting for `Status`.
    AwaitStatus,
    /// Waiting for `LoginChallenge`.
    AwaitLoginChallenge { state: L, restarts: u32 },
    /// Waiting for `KeyReleased` (right password) or `LoginFailed` (`session` is `None`: the
    /// password was wrong and the finish carried a dummy finalization).
    AwaitKeyReleased {
        login_id: LoginId,
        generation: u64,
        remaining_if_failed: u32,
        session: Option<Session>,
    },
    /// Waiting for `Deleted`.
    AwaitDeleted,
}

/// The keys of a login whose OPAQUE finish succeeded on the client.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Session {
    session_key: SecretBytes,
    export_key: SecretBytes,
}

impl<R, L> Phase<R, L> {
    /// Whether the request this phase waits on may already have changed the record (counted
    /// an attempt, made a registration), so that only an authenticated final answer may end it.
    fn may_have_taken_effect(&self) -> bool {
        match self {
            Self::AwaitLoginChallenge { .. }
            | Self::AwaitKeyReleased { .. }
            | Self::AwaitDeleted
            | Self::AwaitRegistered { .. }
            | Self::AwaitExposed { .. } => true,
            Self::AwaitRegistrationResponse { .. } | Self::AwaitStatus => false,
        }
    }
}

/// What an operation is for; fixed when it starts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Context {
    intent: Intent,
    password: SecretBytes,
    backup_key: Option<BackupKey>,
    attempt_limit: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Operation<R, L> {
    context: Context,
    phase: Phase<R, L>,
    in_flight: InFlight,
}

/// The client role for one account and one pinned fleet.
///
/// `Clone`, `Eq`, `Hash` and `Debug` (secrets redacted) hold when the suite's types have them, so
/// the model checker can store clients in its states.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Client<S: CryptoSuite> {
    suite: S,
    fleet: FleetPublicKeys,
    account: AccountId,
    config: ClientConfig,
    next_request_id: u64,
    next_operation: OperationId,
    operations: BTreeMap<OperationId, Operation<S::ClientRegistration, S::ClientLogin>>,
    /// An operation that may have taken effect but got no authenticated final answer, kept for
    /// resuming (a login, or a registration past its `RegisterStart`).
    unfinished: Option<Operation<S::ClientRegistration, S::ClientLogin>>,
    outputs: VecDeque<ClientOutput>,
    drops: DropCounts,
}

enum Step<S: CryptoSuite> {
    Continue(Phase<S::ClientRegistration, S::ClientLogin>, Request),
    Done(ClientOutcome),
}

impl<S: CryptoSuite> Client<S> {
    /// A client for `account` that trusts only the pinned `fleet`.
    pub fn new(suite: S, fleet: FleetPublicKeys, account: AccountId, config: ClientConfig) -> Self {
        Self {
            suite,
            fleet,
            account,
            config,
            next_request_id: 0,
            next_operation: OperationId(0),
            operations: BTreeMap::new(),
            unfinished: None,
            outputs: VecDeque::new(),
            drops: DropCounts::default(),
        }
    }

    /// The replies this client dropped, by reason (SPEC.md "Dropped inputs").
    pub fn drops(&self) -> &DropCounts {
        &self.drops
    }

    /// Whether a login that ended `Unavailable` is kept for resuming.
    pub fn has_unfinished_login(&self) -> bool {
        self.unfinished
            .as_ref()
            .is_some_and(|op| matches!(op.context.intent, Intent::Recover | Intent::Delete))
    }

    /// Whether a registration that ended `Unavailable` after its `RegisterFinish` is kept for
    /// resuming.
    pub fn has_unfinished_registration(&self) -> bool {
        self.unfinished
            .as_ref()
            .is_some_and(|op| op.context.intent == Intent::Register)
    }

    /// Drops a kept unfinished login or registration (and the password it holds) at once.
    pub fn forget_unfinished_login(&mut self) {
        self.unfinished = None;
    }

    /// The account this client speaks for.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        self.outputs.pop_front()
    }

    /// When [`Client::handle_timeout`] should next be called, if any operation is running.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.operations
            .values()
            .map(|op| op.in_flight.deadline_ms)
            .min()
    }

    /// Registers `backup_key` under `password` (replacing any earlier record), then exposes it.
    pub fn start_register(
        &mut self,
        now_ms: u64,
        rng: &mut (impl CryptoRng + RngCore),
        password: &[u8],
        backup_key: &BackupKey,
        attempt_limit: u32,
    ) -> Result<OperationId, ClientError> {
        if attempt_limit == 0 || attempt_limit > MAX_ATTEMPT_LIMIT {
            return Err(ClientError::InvalidAttemptLimit);
        }
        let context = Context {
            intent: Intent::Register,
            password: SecretBytes::new(password.to_vec()),
            backup_key: Some(backup_key.clone()),
            attempt_limit,
        };
        // The same registration, left unanswered after its RegisterFinish: resume it (same
        // bytes, then Expose for the same generation) instead of registering again, which
        // would give the record a fresh counter for the same password.
        if let Some(id) = self.resume(now_ms, &context) {
            return Ok(id);
        }
        // A new registration replaces the record any unfinished operation was for.
        self.unfinished = None;
        let start = self.suite.client_registration_start(rng, password)?;
        let request = Request::RegisterStart {
            registration_request: start.message,
        };
        let phase = Phase::AwaitRegistrationResponse { state: start.state };
        self.start(now_ms, rng, context, phase, &request)
    }

    /// Asks how many attempts are left and whether the record is usable, spending none; ends
    /// with [`ClientOutcome::Status`].
    pub fn start_status(
        &mut self,
        now_ms: u64,
        rng: &mut (impl CryptoRng + RngCore),
    ) -> Result<OperationId, ClientError> {
        let context = Context {
            intent: Intent::Status,
            password: SecretBytes::new(Vec::new()),
            backup_key: None,
            attempt_limit: 0,
        };
        self.start(now_ms, rng, context, Phase::AwaitStatus, &Request::Status)
    }

    /// Recovers the backup key with `password`.
    pub fn start_recover(
        &mut self,
        now_ms: u64,
        rng: &mut (impl CryptoRng + RngCore),
        password: &[u8],
    ) -> Result<OperationId, ClientError> {
        self.start_login(now_ms, rng, Intent::Recover, password)
    }

    /// Deletes the record (turns encrypted backups off); needs the password.
    pub fn start_delete(
        &mut self,
        now_ms: u64,
        rng: &mut (impl CryptoRng + RngCore),
        password: &[u8],
    ) -> Result<OperationId, ClientError> {
        self.start_login(now_ms, rng, Intent::Delete, password)
    }

    fn start_login(
        &mut self,
        now_ms: u64,
        rng: &mut (impl CryptoRng + RngCore),
        intent: Intent,
        password: &[u8],
    ) -> Result<OperationId, ClientError> {
        let context = Context {
            intent,
            password: SecretBytes::new(password.to_vec()),
            backup_key: None,
            attempt_limit: 0,
        };
        if let Some(id) = self.resume(now_ms, &context) {
            return Ok(id);
        }
        // A fresh login first asks for the generation and login epoch to bind it to.
        self.start(now_ms, rng, context, Phase::AwaitStatus, &Request::Status)
    }

    /// Resumes the kept unfinished operation if it was made with the same password (and, for
    /// a registration, the same backup key and limit) and can serve `context.intent`: the same
    /// request bytes go out again (the vault answers them without counting a new attempt or
    /// making a new registration). The kept operation is dropped either way.
    fn resume(&mut self, now_ms: u64, context: &Context) -> Option<OperationId> {
        let mut op = self.unfinished.take()?;
        let same_password: bool = op
            .context
            .password
            .expose()
            .ct_eq(context.password.expose())
            .into();
        let serves = match op.phase {
            Phase::AwaitLoginChallenge { .. } | Phase::AwaitKeyReleased { .. } => {
                matches!(context.intent, Intent::Recover | Intent::Delete)
            }
            Phase::AwaitDeleted => context.intent == Intent::Delete,
            Phase::AwaitRegistered { .. } | Phase::AwaitExposed { .. } => {
                context.intent == Intent::Register
                    && op.context.backup_key == context.backup_key
                    && op.context.attempt_limit == context.attempt_limit
            }
            Phase::AwaitRegistrationResponse { .. } | Phase::AwaitStatus => false,
        };
        if !same_password || !serves {
            return None;
        }
        op.context.intent = context.intent;
        op.in_flight.sends = 1;
        op.in_flight.deadline_ms = now_ms.saturating_add(self.config.retry_interval_ms);
        self.outputs.push_back(ClientOutput::Send {
            bytes: op.in_flight.bytes.clone(),
        });
        Some(self.add_operation(op))
    }

    /// Registers a running operation under a fresh id.
    fn add_operation(
        &mut self,
        op: Operation<S::ClientRegistration, S::ClientLogin>,
    ) -> OperationId {
        let id = self.next_operation;
        self.next_operation = OperationId(self.next_operation.0.wrapping_add(1));
        self.operations.insert(id, op);
        id
    }

    fn start(
        &mut self,
        now_ms: u64,
        rng: &mut (impl CryptoRng + RngCore),
        context: Context,
        phase: Phase<S::ClientRegistration, S::ClientLogin>,
        request: &Request,
    ) -> Result<OperationId, ClientError> {
        let in_flight = self.send(now_ms, rng, request)?;
        Ok(self.add_operation(Operation {
            context,
            phase,
            in_flight,
        }))
    }

    fn send(
        &mut self,
        now_ms: u64,
        rng: &mut (impl CryptoRng + RngCore),
        request: &Request,
    ) -> Result<InFlight, CryptoError> {
        let kind = request.kind();
        let plain = SecretBytes::new(request.encode());
        let sealed = self.suite.seal_request(
            rng,
            &self.fleet,
            &request_aad(&self.account, kind),
            plain.expose(),
        )?;
        let request_id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(1);
        let bytes = ClientRequest {
            request_id,
            kind,
            sealed: sealed.sealed,
        }
        .encode();
        self.outputs.push_back(ClientOutput::Send {
            bytes: bytes.clone(),
        });
        Ok(InFlight {
            request_id,
            kind,
            bytes,
            reply_key: sealed.reply_key,
            deadline_ms: now_ms.saturating_add(self.config.retry_interval_ms),
            sends: 1,
        })
    }

    /// Resends requests whose reply is overdue; ends operations that ran out of sends.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let mut expired = Vec::new();
        for (id, op) in &mut self.operations {
            if op.in_flight.deadline_ms > now_ms {
                continue;
            }
            if op.in_flight.sends >= self.config.max_sends {
                expired.push(*id);
                continue;
            }
            op.in_flight.sends = op.in_flight.sends.saturating_add(1);
            op.in_flight.deadline_ms = now_ms.saturating_add(self.config.retry_interval_ms);
            self.outputs.push_back(ClientOutput::Send {
                bytes: op.in_flight.bytes.clone(),
            });
        }
        for id in expired {
            self.end_unanswered(id);
        }
    }

    /// Ends an operation that got no authenticated final answer as `Unavailable`; if its
    /// request may have taken effect (a counted login, a registration), keeps it for resuming.
    fn end_unanswered(&mut self, id: OperationId) {
        let Some(op) = self.operations.remove(&id) else {
            return;
        };
        if self.config.resume_unfinished_login && op.phase.may_have_taken_effect() {
            self.unfinished = Some(op);
        }
        self.outputs.push_back(ClientOutput::Completed {
            operation: id,
            outcome: ClientOutcome::Unavailable,
        });
    }

    /// Handles the bytes of a `ClientReply` from the relay. Replies that do not decode, match
    /// no waiting request, or do not open under that request's reply key are ignored.
    pub fn handle_relay_message(
        &mut self,
        now_ms: u64,
        rng: &mut (impl CryptoRng + RngCore),
        bytes: &[u8],
    ) {
        let Ok(reply) = ClientReply::decode(bytes) else {
            self.drops.count(DropReason::CannotDecode);
            return;
        };
        let found = self.operations.iter().find_map(|(id, op)| {
            (op.in_flight.request_id == reply.request_id && op.in_flight.kind == reply.kind)
                .then_some(*id)
        });
        let Some(id) = found else {
            // A late duplicate, an answer to an operation that ended, or a forgery.
            self.drops.count(DropReason::Replayed);
            return;
        };
        let body = match &reply.body {
            ReplyBody::Sealed(sealed) => {
                let Some(op) = self.operations.get(&id) else {
                    return;
                };
                let Ok(plain) =
                    self.suite
                        .open_reply(&op.in_flight.reply_key, &reply_aad(reply.kind), sealed)
                else {
                    self.drops.count(DropReason::CannotOpen);
                    return;
                };
                let Ok(body) = Reply::decode_padded(&plain) else {
                    self.drops.count(DropReason::CannotDecode);
                    return;
                };
                body
            }
            // Unauthenticated refusals: the relay or the network could have sent them, so they
            // only ever mean "try again later", and never end a login that may have counted
            // (it is kept and resumed with the same bytes).
            ReplyBody::Rejected | ReplyBody::RateLimited => {
                self.end_unanswered(id);
                return;
            }
        };
        if body == Reply::OutcomeUnknown {
            // The vault could not tell whether the request took effect: as if no answer had
            // come; the retry timer resends the same bytes.
            return;
        }
        let Some(op) = self.operations.remove(&id) else {
            return;
        };
        let Operation {
            context,
            phase,
            in_flight,
        } = op;
        match self.advance(rng, &context, phase, body) {
            Step::Done(outcome) => {
                self.outputs.push_back(ClientOutput::Completed {
                    operation: id,
                    outcome,
                });
            }
            Step::Continue(phase, request) => match self.send(now_ms, rng, &request) {
                Ok(in_flight) => {
                    self.operations.insert(
                        id,
                        Operation {
                            context,
                            phase,
                            in_flight,
                        },
                    );
                }
                Err(_) => {
                    drop(in_flight);
                    self.outputs.push_back(ClientOutput::Completed {
                        operation: id,
                        outcome: ClientOutcome::Unavailable,
                    });
                }
            },
        }
    }

    fn ids(&self) -> Identities<'_> {
        Identities {
            account: &self.account,
            fleet: &self.fleet.fleet_id,
        }
    }

    fn proof_check(
        &self,
        export_key: &SecretBytes,
        label: &'static [u8],
        generation: u64,
    ) -> [u8; 32] {
        let proof = self
            .suite
            .record_proof(export_key, label, self.ids(), generation);
        self.suite.digest(LABEL_PROOF_CHECK, &[&proof])
    }

    fn login_start(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        password: &SecretBytes,
        generation: u64,
        login_epoch: u64,
        restarts: u32,
    ) -> Step<S> {
        match self.suite.client_login_start(rng, password.expose()) {
            Ok(start) => Step::Continue(
                Phase::AwaitLoginChallenge {
                    state: start.state,
                    restarts,
                },
                Request::LoginStart {
                    generation,
                    login_epoch,
                    credential_request: start.message,
                },
            ),
            Err(_) => Step::Done(ClientOutcome::Unavailable),
        }
    }

    fn advance(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        context: &Context,
        phase: Phase<S::ClientRegistration, S::ClientLogin>,
        reply: Reply,
    ) -> Step<S> {
        let password = &context.password;
        match (phase, reply) {
            (
                Phase::AwaitRegistrationResponse { state },
                Reply::RegistrationResponse {
                    generation,
                    registration_response,
                    ticket,
                },
            ) => {
                let Some(next_generation) = generation.checked_add(1) else {
                    return Step::Done(ClientOutcome::Unavailable);
                };
                let Some(backup_key) = context.backup_key.as_ref() else {
                    return Step::Done(ClientOutcome::Unavailable);
                };
                let finished = self.suite.client_registration_finish(
                    rng,
                    state,
                    password.expose(),
                    &registration_response,
                    self.ids(),
                    &self.fleet,
                );
                let Ok(finished) = finished else {
                    return Step::Done(ClientOutcome::Unavailable);
                };
                let Ok(wrapped_key) =
                    self.suite
                        .wrap_backup_key(rng, &finished.export_key, self.ids(), backup_key)
                else {
                    return Step::Done(ClientOutcome::Unavailable);
                };
                let request = Request::RegisterFinish {
                    base_generation: generation,
                    attempt_limit: context.attempt_limit,
                    registration_upload: finished.message,
                    wrapped_key,
                    expose_check: self.proof_check(
                        &finished.export_key,
                        LABEL_EXPOSE_PROOF,
                        next_generation,
                    ),
                    delete_check: self.proof_check(
                        &finished.export_key,
                        LABEL_DELETE_PROOF,
                        next_generation,
                    ),
                    ticket,
                };
                Step::Continue(
                    Phase::AwaitRegistered {
                        generation: next_generation,
                        export_key: finished.export_key,
                    },
                    request,
                )
            }
            (
                Phase::AwaitRegistered {
                    generation,
                    export_key,
                },
                Reply::Registered { generation: got },
            ) if got == generation => {
                let proof = self.suite.record_proof(
                    &export_key,
                    LABEL_EXPOSE_PROOF,
                    self.ids(),
                    generation,
                );
                Step::Continue(
                    Phase::AwaitExposed { generation },
                    Request::Expose { generation, proof },
                )
            }
            (Phase::AwaitExposed { generation }, Reply::Exposed { generation: got })
                if got == generation =>
            {
                Step::Done(ClientOutcome::Registered { generation })
            }
            (
                Phase::AwaitStatus,
                Reply::Status {
                    generation,
                    state,
                    attempts_remaining,
                    login_epoch,
                },
            ) => match (context.intent, state) {
                (Intent::Status, _) => Step::Done(ClientOutcome::Status {
                    generation,
                    state,
                    attempts_remaining,
                }),
                (_, RecordStatus::Active) => {
                    self.login_start(rng, password, generation, login_epoch, 0)
                }
                (_, RecordStatus::Locked) => Step::Done(ClientOutcome::Locked),
                (_, RecordStatus::NoRecord | RecordStatus::Pending | RecordStatus::Deleted) => {
                    Step::Done(ClientOutcome::NoRecord)
                }
            },
            (
                Phase::AwaitLoginChallenge { restarts, .. },
                Reply::LoginStale {
                    generation,
                    login_epoch,
                },
            ) => {
                // Not counted: a success (on another device) moved the epoch on. Start again
                // for the current epoch, a bounded number of times.
                if restarts >= LOGIN_RESTARTS_MAX {
                    return Step::Done(ClientOutcome::Unavailable);
                }
                self.login_start(
                    rng,
                    password,
                    generation,
                    login_epoch,
                    restarts.saturating_add(1),
                )
            }
            (
                Phase::AwaitLoginChallenge { state, .. },
                Reply::LoginChallenge {
                    login_id,
                    generation,
                    attempts_remaining,
                    credential_response,
                },
            ) => {
                let finished = self.suite.client_login_finish(
                    rng,
                    state,
                    password.expose(),
                    &credential_response,
                    self.ids(),
                    &self.fleet,
                );
                let (session, credential_finalization) = match finished {
                    Ok(finished) => (
                        Some(Session {
                            session_key: finished.session_key,
                            export_key: finished.export_key,
                        }),
                        finished.message,
                    ),
                    // A wrong password still finishes, with a finalization the vault rejects:
                    // the relay sees the same flow either way, and the vault's authenticated
                    // answer ends the login.
                    Err(CryptoError::WrongPassword) => {
                        (None, self.suite.client_dummy_finalization(rng))
                    }
                    Err(CryptoError::Malformed | CryptoError::Authentication) => {
                        return Step::Done(ClientOutcome::Unavailable);
                    }
                };
                Step::Continue(
                    Phase::AwaitKeyReleased {
                        login_id,
                        generation,
                        remaining_if_failed: attempts_remaining,
                        session,
                    },
                    Request::LoginFinish {
                        login_id,
                        credential_finalization,
                    },
                )
            }
            (
                Phase::AwaitKeyReleased {
                    login_id,
                    generation,
                    session: Some(session),
                    ..
                },
                Reply::KeyReleased { sealed_wrapped_key },
            ) => {
                let Ok(wrapped) =
                    self.suite
                        .open_release(&session.session_key, &login_id, &sealed_wrapped_key)
                else {
                    return Step::Done(ClientOutcome::Unavailable);
                };
                let Ok(key) =
                    self.suite
                        .unwrap_backup_key(&session.export_key, self.ids(), &wrapped)
                else {
                    return Step::Done(ClientOutcome::Unavailable);
                };
                match context.intent {
                    Intent::Delete => {
                        let proof = self.suite.record_proof(
                            &session.export_key,
                            LABEL_DELETE_PROOF,
                            self.ids(),
                            generation,
                        );
                        Step::Continue(Phase::AwaitDeleted, Request::Delete { generation, proof })
                    }
                    Intent::Register | Intent::Recover | Intent::Status => {
                        Step::Done(ClientOutcome::Recovered(key))
                    }
                }
            }
            (Phase::AwaitKeyReleased { .. }, Reply::LoginFailed { attempts_remaining }) => {
                Step::Done(wrong_password(attempts_remaining))
            }
            (
                Phase::AwaitKeyReleased {
                    session: None,
                    remaining_if_failed,
                    ..
                },
                Reply::UnknownLogin,
            ) => {
                // The wrong-password finish was already settled (its answer was lost): the
                // client knows the password was wrong and how many attempts that left.
                Step::Done(wrong_password(remaining_if_failed))
            }
            (Phase::AwaitDeleted, Reply::Deleted) => Step::Done(ClientOutcome::Deleted),
            (Phase::AwaitLoginChallenge { .. } | Phase::AwaitKeyReleased { .. }, Reply::Locked) => {
                Step::Done(ClientOutcome::Locked)
            }
            (
                Phase::AwaitLoginChallenge { .. } | Phase::AwaitKeyReleased { .. },
                Reply::NoRecord,
            ) => Step::Done(ClientOutcome::NoRecord),
            (_unexpected_phase, reply) => Step::Done(unexpected_reply(&reply)),
        }
    }
}

/// An authentic reply that does not fit the step the operation is at (for example a stale
/// registration, `Busy`, or a generation that does not match): never a result, only "retry later".
fn unexpected_reply(reply: &Reply) -> ClientOutcome {
    match reply {
        Reply::RegistrationResponse { .. }
        | Reply::Registered { .. }
        | Reply::RegistrationStale { .. }
        | Reply::Exposed { .. }
        | Reply::ProofRejected
        | Reply::LoginChallenge { .. }
        | Reply::KeyReleased { .. }
        | Reply::LoginFailed { .. }
        | Reply::Locked
        | Reply::NoRecord
        | Reply::UnknownLogin
        | Reply::Deleted
        | Reply::Busy
        | Reply::InvalidRequest
        | Reply::Status { .. }
        | Reply::LoginStale { .. }
        | Reply::OutcomeUnknown => ClientOutcome::Unavailable,
    }
}

fn wrong_password(remaining: u32) -> ClientOutcome {
    // With no attempt left the record can never be opened again: the vault erases it on the
    // next login or finish that finds the attempts used up.
    if remaining == 0 {
        ClientOutcome::Locked
    } else {
        ClientOutcome::WrongPassword { remaining }
    }
}
