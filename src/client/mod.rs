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

mod operation;
mod outcome;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use rand_core::{CryptoRng, RngCore};
use subtle::ConstantTimeEq as _;

use crate::backup_key::BackupKey;
use crate::crypto::{CryptoError, CryptoSuite, FleetPublicKeys, SecretBytes};
use crate::drops::{DropCounts, DropReason};
use crate::ids::AccountId;
use crate::vault::record::MAX_ATTEMPT_LIMIT;
use crate::wire::{ClientReply, ClientRequest, Reply, ReplyBody, Request, reply_aad, request_aad};

use operation::{Advancer, Context, InFlight, Intent, Operation, Phase, Step};
pub use outcome::{
    ClientConfig, ClientError, ClientOutcome, ClientOutput, LOGIN_RESTARTS_MAX, OperationId,
};

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
        match self.advancer().advance(rng, &context, phase, body) {
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

    fn advancer(&self) -> Advancer<'_, S> {
        Advancer {
            suite: &self.suite,
            fleet: &self.fleet,
            account: &self.account,
        }
    }
}
