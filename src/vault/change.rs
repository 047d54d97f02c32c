//! Record changes: pure, deterministic functions of (old record, change data)
//! (SPEC.md "Record states and transitions").
//!
//! All randomized and secret-key work (OPAQUE `ServerLogin::start`, sealing, verifying a
//! `CredentialFinalization`) happens before a change is made; its results are data inside the
//! change. [`RecordChange::apply`] uses no key and no randomness, so a single replica and a
//! consensus group apply the same change to the same record with the same result.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::record::{
    AccountRecord, ActiveRecord, PendingLogin, PendingRecord, RECENT_LOGIN_DIGESTS, RecordState,
    Registration,
};
use crate::crypto::{Digest, SecretBytes, digests_equal};
use crate::wire::LoginId;

/// A counted login prepared before the change (OPAQUE server work already done).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PreparedLogin {
    /// Random id naming this attempt.
    pub login_id: LoginId,
    /// The `ServerLogin` state sealed under the fleet storage key.
    pub sealed_server_login: SecretBytes,
    /// The OPAQUE `CredentialResponse` to send once the attempt is committed.
    pub credential_response: Vec<u8>,
}

/// A change to one account's record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RecordChange {
    /// Read the record; changes nothing.
    Read,
    /// "If the generation is `base_generation`, replace the record by a pending one at
    /// `base_generation + 1`; if that exact registration is already there, answer the same."
    Register {
        /// The generation the client registered against.
        base_generation: u64,
        /// The new registration.
        registration: Registration,
    },
    /// "If the record of `generation` is pending and the proof matches, make it active."
    Expose {
        /// The generation to expose.
        generation: u64,
        /// Digest of the proof the client sent.
        proof_check: Digest,
    },
    /// "Count one attempt if any are left and store the prepared login; erase if none are left;
    /// answer a retried identical request with the stored response."
    LoginStart {
        /// The generation the client's `LoginStart` names.
        generation: u64,
        /// The login epoch the client's `LoginStart` names.
        login_epoch: u64,
        /// Digest of the credential request.
        request_digest: Digest,
        /// The prepared login, absent when the vault saw no need to prepare one.
        prepared: Option<PreparedLogin>,
    },
    /// "Settle the pending login `login_id`: reset the counter and release the wrapped key if
    /// verified; otherwise clear it, and erase the record if no attempts are left."
    LoginFinish {
        /// The generation of the record the login belongs to.
        generation: u64,
        /// The login being finished.
        login_id: LoginId,
        /// Whether the vault verified the `CredentialFinalization` against that login's state.
        verified: bool,
    },
    /// "If the record of `generation` exists and the proof matches, erase it."
    Delete {
        /// The generation to delete.
        generation: u64,
        /// Digest of the proof the client sent.
        proof_check: Digest,
    },
}

/// What a change did, as the vault reports it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ChangeOutcome {
    /// Result of [`RecordChange::Read`].
    Current(Option<Box<AccountRecord>>),
    /// The pending record of `generation` exists.
    Registered {
        /// Generation of the pending record.
        generation: u64,
    },
    /// The record moved on since the client's `RegisterStart`.
    RegistrationStale {
        /// The record's current generation.
        current_generation: u64,
    },
    /// The record of `generation` is active.
    Exposed {
        /// Generation of the active record.
        generation: u64,
    },
    /// The proof or generation of an `Expose` or `Delete` did not match.
    ProofRejected,
    /// One attempt is counted; the response may now leave the vault.
    LoginChallenge {
        /// Names this attempt.
        login_id: LoginId,
        /// Generation of the record.
        generation: u64,
        /// Attempts left if this one fails.
        attempts_remaining: u32,
        /// The OPAQUE `CredentialResponse`.
        credential_response: Vec<u8>,
    },
    /// The login verified; the wrapped key may be released to that login's session.
    Released {
        /// The wrapped key of the record.
        wrapped_key: SecretBytes,
    },
    /// The login did not verify.
    LoginFailed {
        /// Attempts left.
        attempts_remaining: u32,
    },
    /// The secrets are erased after too many attempts.
    Locked,
    /// No usable record.
    NoRecord,
    /// The login id is not the record's pending login.
    UnknownLogin,
    /// The record is deleted.
    Deleted,
    /// The record changed under the request (or the request replays an old one); not done.
    Busy,
    /// The `LoginStart` was made for another registration or login epoch (a replay, or a
    /// login that a success overtook): not counted, not done.
    LoginStale {
        /// The record's generation.
        generation: u64,
        /// The record's login epoch.
        login_epoch: u64,
    },
    /// The store could not finish the change (a consensus round gave up): it may or may not
    /// take effect later. The client resends the same request (SPEC.md "Outcome unknown").
    Unknown,
}

/// The result of [`RecordChange::apply`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Applied {
    /// The record to write, or `None` if the change leaves the record as it was.
    pub write: Option<AccountRecord>,
    /// What the change did.
    pub outcome: ChangeOutcome,
}

fn unchanged(outcome: ChangeOutcome) -> Applied {
    Applied {
        write: None,
        outcome,
    }
}

fn write(generation: u64, state: RecordState, outcome: ChangeOutcome) -> Applied {
    Applied {
        write: Some(AccountRecord { generation, state }),
        outcome,
    }
}

fn registration_of(record: &AccountRecord) -> Option<&Registration> {
    match &record.state {
        RecordState::Pending(p) => Some(&p.registration),
        RecordState::Active(a) => Some(&a.registration),
        RecordState::Locked | RecordState::Deleted => None,
    }
}

impl RecordChange {
    /// Applies the change to the current record (`None`: the account never had one).
    pub fn apply(&self, current: Option<&AccountRecord>) -> Applied {
        match self {
            Self::Read => unchanged(ChangeOutcome::Current(current.cloned().map(Box::new))),
            Self::Register {
                base_generation,
                registration,
            } => apply_register(current, *base_generation, registration),
            Self::Expose {
                generation,
                proof_check,
            } => apply_expose(current, *generation, proof_check),
            Self::LoginStart {
                generation,
                login_epoch,
                request_digest,
                prepared,
            } => apply_login_start(
                current,
                (*generation, *login_epoch),
                request_digest,
                prepared.as_ref(),
            ),
            Self::LoginFinish {
                generation,
                login_id,
                verified,
            } => apply_login_finish(current, *generation, login_id, *verified),
            Self::Delete {
                generation,
                proof_check,
            } => apply_delete(current, *generation, proof_check),
        }
    }
}

fn apply_register(
    current: Option<&AccountRecord>,
    base: u64,
    registration: &Registration,
) -> Applied {
    let generation = current.map_or(0, |r| r.generation);
    if generation == base {
        let Some(next) = base.checked_add(1) else {
            return unchanged(ChangeOutcome::RegistrationStale {
                current_generation: generation,
            });
        };
        // The old record (and its secrets) is replaced for good.
        let state = RecordState::Pending(PendingRecord {
            registration: registration.clone(),
        });
        return write(next, state, ChangeOutcome::Registered { generation: next });
    }
    if let Some(record) = current
        && Some(generation) == base.checked_add(1)
        && let Some(existing) = registration_of(record)
        && digests_equal(
            &existing.registration_digest,
            &registration.registration_digest,
        )
    {
        // A retried RegisterFinish whose reply was lost: same answer, nothing changes.
        return unchanged(ChangeOutcome::Registered { generation });
    }
    unchanged(ChangeOutcome::RegistrationStale {
        current_generation: generation,
    })
}

/// The first login epoch of a registration: 63 bits of its digest, so that no `LoginStart` made
/// for another registration (of an earlier generation, or of a lineage lost before a re-genesis
/// that restarted the generations) is ever fresh for it (SPEC.md "Login freshness").
pub fn first_login_epoch(registration_digest: &Digest) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&registration_digest[..8]);
    u64::from_be_bytes(first) >> 1
}

fn apply_expose(current: Option<&AccountRecord>, generation: u64, proof_check: &Digest) -> Applied {
    let Some(record) = current.filter(|r| r.generation == generation) else {
        return unchanged(ChangeOutcome::ProofRejected);
    };
    match &record.state {
        RecordState::Pending(p) if digests_equal(&p.registration.expose_check, proof_check) => {
            let state = RecordState::Active(ActiveRecord {
                registration: p.registration.clone(),
                attempts_used: 0,
                login_epoch: first_login_epoch(&p.registration.registration_digest),
                pending_login: None,
                recent_login_digests: Vec::new(),
            });
            write(generation, state, ChangeOutcome::Exposed { generation })
        }
        RecordState::Active(a) if digests_equal(&a.registration.expose_check, proof_check) => {
            unchanged(ChangeOutcome::Exposed { generation })
        }
        RecordState::Pending(_)
        | RecordState::Active(_)
        | RecordState::Locked
        | RecordState::Deleted => unchanged(ChangeOutcome::ProofRejected),
    }
}

/// Erases the record's secrets for good (INV-DISCLOSE: nothing is left to release).
fn lock(generation: u64) -> Applied {
    write(generation, RecordState::Locked, ChangeOutcome::Locked)
}

fn apply_login_start(
    current: Option<&AccountRecord>,
    (generation, login_epoch): (u64, u64),
    request_digest: &Digest,
    prepared: Option<&PreparedLogin>,
) -> Applied {
    let Some(record) = current else {
        return unchanged(ChangeOutcome::NoRecord);
    };
    let active = match &record.state {
        RecordState::Active(a) => a,
        RecordState::Locked => return unchanged(ChangeOutcome::Locked),
        RecordState::Pending(_) | RecordState::Deleted => {
            return unchanged(ChangeOutcome::NoRecord);
        }
    };
    if record.generation != generation || active.login_epoch != login_epoch {
        // INV-ATTEMPTS: a LoginStart counts only against the registration and login epoch it
        // was made for; a replay from an earlier one is never counted.
        return unchanged(ChangeOutcome::LoginStale {
            generation: record.generation,
            login_epoch: active.login_epoch,
        });
    }
    if let Some(login) = &active.pending_login
        && digests_equal(&login.request_digest, request_digest)
    {
        // A retried identical request: the same response again, no new attempt (INV-ATTEMPTS).
        return unchanged(ChangeOutcome::LoginChallenge {
            login_id: login.login_id,
            generation,
            attempts_remaining: active.attempts_remaining(),
            credential_response: login.credential_response.clone(),
        });
    }
    if active
        .recent_login_digests
        .iter()
        .any(|d| digests_equal(d, request_digest))
    {
        // A replay of an older, already counted request: never counted twice.
        return unchanged(ChangeOutcome::Busy);
    }
    if active.attempts_used >= active.registration.attempt_limit {
        return lock(generation);
    }
    let Some(prepared) = prepared else {
        return unchanged(ChangeOutcome::Busy);
    };
    let mut next = active.clone();
    // INV-ATTEMPTS: the attempt is counted in the same write that stores the login, and the
    // response leaves the vault only after this write completes.
    next.attempts_used = active.attempts_used.saturating_add(1);
    next.pending_login = Some(PendingLogin {
        login_id: prepared.login_id,
        request_digest: *request_digest,
        sealed_server_login: prepared.sealed_server_login.clone(),
        credential_response: prepared.credential_response.clone(),
    });
    // At most `attempt_limit` <= RECENT_LOGIN_DIGESTS logins count per epoch, so the window
    // never drops a digest of this epoch; the guard only keeps the record bounded.
    if next.recent_login_digests.len() >= RECENT_LOGIN_DIGESTS {
        next.recent_login_digests.remove(0);
    }
    next.recent_login_digests.push(*request_digest);
    let outcome = ChangeOutcome::LoginChallenge {
        login_id: prepared.login_id,
        generation,
        attempts_remaining: next.attempts_remaining(),
        credential_response: prepared.credential_response.clone(),
    };
    write(generation, RecordState::Active(next), outcome)
}

fn apply_login_finish(
    current: Option<&AccountRecord>,
    generation: u64,
    login_id: &LoginId,
    verified: bool,
) -> Applied {
    let Some(record) = current else {
        return unchanged(ChangeOutcome::NoRecord);
    };
    let active = match &record.state {
        RecordState::Active(a) => a,
        RecordState::Locked => return unchanged(ChangeOutcome::Locked),
        RecordState::Pending(_) | RecordState::Deleted => {
            return unchanged(ChangeOutcome::NoRecord);
        }
    };
    let matches = record.generation == generation
        && active.pending_login.as_ref().is_some_and(|l| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                &l.login_id[..],
                &login_id[..],
            ))
        });
    if !matches {
        if active.pending_login.is_none()
            && active.attempts_used >= active.registration.attempt_limit
        {
            return lock(record.generation);
        }
        return unchanged(ChangeOutcome::UnknownLogin);
    }
    let mut next = active.clone();
    if verified {
        // Success resets the counter; the login stays so that a retried finish gets the same
        // release (INV-DISCLOSE: only to the session that completed OPAQUE). A counted login
        // always has `attempts_used >= 1`, so `0` here means this success is already written.
        if active.attempts_used != 0 {
            // A new login epoch: every LoginStart made before this success is stale now.
            next.login_epoch = active.login_epoch.saturating_add(1);
            next.recent_login_digests.clear();
        }
        next.attempts_used = 0;
        let outcome = ChangeOutcome::Released {
            wrapped_key: active.registration.wrapped_key.clone(),
        };
        if next == *active {
            return unchanged(outcome);
        }
        return write(generation, RecordState::Active(next), outcome);
    }
    next.pending_login = None;
    if next.attempts_used >= next.registration.attempt_limit {
        // The last failure erases the record's secrets for good.
        return lock(generation);
    }
    let outcome = ChangeOutcome::LoginFailed {
        attempts_remaining: next.attempts_remaining(),
    };
    write(generation, RecordState::Active(next), outcome)
}

fn apply_delete(current: Option<&AccountRecord>, generation: u64, proof_check: &Digest) -> Applied {
    let Some(record) = current.filter(|r| r.generation == generation) else {
        return unchanged(ChangeOutcome::ProofRejected);
    };
    match &record.state {
        RecordState::Deleted => unchanged(ChangeOutcome::Deleted),
        RecordState::Pending(PendingRecord { registration })
        | RecordState::Active(ActiveRecord { registration, .. })
            if digests_equal(&registration.delete_check, proof_check) =>
        {
            write(generation, RecordState::Deleted, ChangeOutcome::Deleted)
        }
        RecordState::Pending(_) | RecordState::Active(_) | RecordState::Locked => {
            unchanged(ChangeOutcome::ProofRejected)
        }
    }
}
