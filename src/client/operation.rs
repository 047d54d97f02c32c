//! One client operation: what it is for (`Context`), what it waits for (`Phase`), the request in
//! flight, and how an authentic reply advances it (SPEC.md "Vault protocol", "Client outcomes").

use alloc::vec::Vec;

use rand_core::{CryptoRng, RngCore};

use super::outcome::{ClientOutcome, LOGIN_RESTARTS_MAX};
use crate::backup_key::BackupKey;
use crate::crypto::labels::{LABEL_DELETE_PROOF, LABEL_EXPOSE_PROOF, LABEL_PROOF_CHECK};
use crate::crypto::{CryptoError, CryptoSuite, FleetPublicKeys, Identities, SecretBytes};
use crate::ids::AccountId;
use crate::wire::{LoginId, RecordStatus, Reply, Request, RequestKind};

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Intent {
    Register,
    Recover,
    Delete,
    Status,
}

/// The request an operation waits on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct InFlight {
    pub(super) request_id: u64,
    pub(super) kind: RequestKind,
    pub(super) bytes: Vec<u8>,
    pub(super) reply_key: SecretBytes,
    pub(super) deadline_ms: u64,
    pub(super) sends: u32,
}

/// What an operation waits for (each variant names the reply it waits for).
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Phase<R, L> {
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
pub(super) struct Session {
    pub(super) session_key: SecretBytes,
    pub(super) export_key: SecretBytes,
}

impl<R, L> Phase<R, L> {
    /// Whether the request this phase waits on may already have changed the record (counted
    /// an attempt, made a registration), so that only an authenticated final answer may end it.
    pub(super) fn may_have_taken_effect(&self) -> bool {
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
pub(super) struct Context {
    pub(super) intent: Intent,
    pub(super) password: SecretBytes,
    pub(super) backup_key: Option<BackupKey>,
    pub(super) attempt_limit: u32,
}

/// One operation of a client: its context, where it is, and the request it waits on. `R` and
/// `L` are the suite's client registration and login states.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Operation<R, L> {
    pub(super) context: Context,
    pub(super) phase: Phase<R, L>,
    pub(super) in_flight: InFlight,
}

/// Where an authentic reply takes an operation.
pub(super) enum Step<S: CryptoSuite> {
    Continue(Phase<S::ClientRegistration, S::ClientLogin>, Request),
    Done(ClientOutcome),
}

/// What an operation needs of its client to advance: the suite and the identities every
/// message binds (the account and the pinned fleet).
pub(super) struct Advancer<'a, S> {
    pub(super) suite: &'a S,
    pub(super) fleet: &'a FleetPublicKeys,
    pub(super) account: &'a AccountId,
}

impl<S: CryptoSuite> Advancer<'_, S> {
    fn ids(&self) -> Identities<'_> {
        Identities {
            account: self.account,
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

    /// Advances an operation at `phase` (for `context`) with an authentic reply.
    pub(super) fn advance(
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
                    self.fleet,
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
                    self.fleet,
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
