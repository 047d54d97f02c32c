//! The per-account vault record (SPEC.md "Record states and transitions").
//!
//! A record is a pure value. Its secrets (`registration`, `wrapped_key`, the sealed OPAQUE login
//! state) are [`SecretBytes`]: zeroized on drop and redacted in `Debug`.

use alloc::vec::Vec;

use crate::crypto::{DIGEST_LEN, Digest, SecretBytes};
use crate::wire::codec::{DecodeError, Reader, Writer};
use crate::wire::{LOGIN_ID_LEN, LoginId};

/// Attempt limit a client asks for unless told otherwise.
pub const DEFAULT_ATTEMPT_LIMIT: u32 = 10;
/// Largest attempt limit the vault accepts.
pub const MAX_ATTEMPT_LIMIT: u32 = 100;
/// How many credential-request digests an active record remembers within one login epoch, so
/// that a replayed `LoginStart` is recognised and never counted again. At most `attempt_limit`
/// logins are counted per epoch, so a window of [`MAX_ATTEMPT_LIMIT`] holds every one of them
/// (INV-ATTEMPTS: no replay inside its epoch counts twice; one from another epoch is stale).
pub const RECENT_LOGIN_DIGESTS: usize = MAX_ATTEMPT_LIMIT as usize;

/// Record encoding version (2: per-registration OPRF seed, login epoch).
pub const RECORD_VERSION: u8 = 2;
/// State code of [`RecordState::Pending`].
pub const STATE_PENDING: u8 = 0x01;
/// State code of [`RecordState::Active`].
pub const STATE_ACTIVE: u8 = 0x02;
/// State code of [`RecordState::Locked`].
pub const STATE_LOCKED: u8 = 0x03;
/// State code of [`RecordState::Deleted`].
pub const STATE_DELETED: u8 = 0x04;

/// One account's record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AccountRecord {
    /// Incremented by every registration; survives lockout and deletion.
    pub generation: u64,
    /// What the record holds.
    pub state: RecordState,
}

/// The states of a record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RecordState {
    /// Registered, waiting for `Expose`; no login is possible.
    Pending(PendingRecord),
    /// Exposed; logins are counted against the attempt limit.
    Active(ActiveRecord),
    /// The attempts ran out; the secrets are erased for good.
    Locked,
    /// Deleted on the account's say-so; the secrets are erased.
    Deleted,
}

/// The secrets and settings of a registration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Registration {
    /// The OPRF seed the vault chose at random for this registration alone; its OPRF key is
    /// derived from it (SPEC.md "Per-registration OPRF seeds").
    pub oprf_seed: SecretBytes,
    /// The OPAQUE registration record (`ServerRegistration`), serialized.
    pub opaque_registration: SecretBytes,
    /// The backup key wrapped under a key only the password holder can derive.
    pub wrapped_key: SecretBytes,
    /// Failed attempts allowed.
    pub attempt_limit: u32,
    /// Digest of the expose proof.
    pub expose_check: Digest,
    /// Digest of the delete proof.
    pub delete_check: Digest,
    /// Digest identifying the `RegisterFinish` that made this registration (idempotent retries).
    pub registration_digest: Digest,
}

/// A registered record waiting for `Expose`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PendingRecord {
    /// The registration.
    pub registration: Registration,
}

/// An exposed record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ActiveRecord {
    /// The registration.
    pub registration: Registration,
    /// Attempts counted since exposure or the last successful login.
    pub attempts_used: u32,
    /// Incremented by every successful login: a `LoginStart` names the epoch it was made for,
    /// so one recorded before a success is stale afterwards and never counted again.
    pub login_epoch: u64,
    /// The most recent counted login, if any.
    pub pending_login: Option<PendingLogin>,
    /// Digests of the credential requests counted in this login epoch (at most
    /// [`RECENT_LOGIN_DIGESTS`]).
    pub recent_login_digests: Vec<Digest>,
}

/// A counted login waiting for its `LoginFinish`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PendingLogin {
    /// Random id naming this attempt.
    pub login_id: LoginId,
    /// Digest of the credential request (a retried identical request gets the same answer).
    pub request_digest: Digest,
    /// The OPAQUE `ServerLogin` state sealed under the fleet storage key.
    pub sealed_server_login: SecretBytes,
    /// The OPAQUE `CredentialResponse` sent for this attempt.
    pub credential_response: Vec<u8>,
}

impl ActiveRecord {
    /// Attempts left before the record is erased.
    pub fn attempts_remaining(&self) -> u32 {
        self.registration
            .attempt_limit
            .saturating_sub(self.attempts_used)
    }
}

fn write_registration(w: &mut Writer, r: &Registration) {
    w.bytes16(r.oprf_seed.expose())
        .bytes16(r.opaque_registration.expose())
        .bytes16(r.wrapped_key.expose())
        .u32(r.attempt_limit)
        .raw(&r.expose_check)
        .raw(&r.delete_check)
        .raw(&r.registration_digest);
}

fn read_registration(r: &mut Reader<'_>) -> Result<Registration, DecodeError> {
    let registration = Registration {
        oprf_seed: SecretBytes::new(r.bytes16()?.to_vec()),
        opaque_registration: SecretBytes::new(r.bytes16()?.to_vec()),
        wrapped_key: SecretBytes::new(r.bytes16()?.to_vec()),
        attempt_limit: r.u32()?,
        expose_check: r.array::<DIGEST_LEN>()?,
        delete_check: r.array::<DIGEST_LEN>()?,
        registration_digest: r.array::<DIGEST_LEN>()?,
    };
    if registration.attempt_limit == 0 || registration.attempt_limit > MAX_ATTEMPT_LIMIT {
        return Err(DecodeError::InvalidValue);
    }
    Ok(registration)
}

impl AccountRecord {
    /// Encodes the record (the plaintext of a persisted, sealed record).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(RECORD_VERSION).u64(self.generation);
        match &self.state {
            RecordState::Pending(p) => {
                w.u8(STATE_PENDING);
                write_registration(&mut w, &p.registration);
            }
            RecordState::Active(a) => {
                w.u8(STATE_ACTIVE);
                write_registration(&mut w, &a.registration);
                w.u32(a.attempts_used).u64(a.login_epoch);
                match &a.pending_login {
                    None => {
                        w.u8(0);
                    }
                    Some(login) => {
                        w.u8(1)
                            .raw(&login.login_id)
                            .raw(&login.request_digest)
                            .bytes16(login.sealed_server_login.expose())
                            .bytes16(&login.credential_response);
                    }
                }
                let count = u8::try_from(a.recent_login_digests.len()).unwrap_or(u8::MAX);
                w.u8(count);
                for d in a.recent_login_digests.iter().take(usize::from(count)) {
                    w.raw(d);
                }
            }
            RecordState::Locked => {
                w.u8(STATE_LOCKED);
            }
            RecordState::Deleted => {
                w.u8(STATE_DELETED);
            }
        }
        w.into_bytes()
    }

    /// Decodes a record; rejects trailing bytes and out-of-range values.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != RECORD_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let generation = r.u64()?;
        let state = match r.u8()? {
            STATE_PENDING => RecordState::Pending(PendingRecord {
                registration: read_registration(&mut r)?,
            }),
            STATE_ACTIVE => {
                let registration = read_registration(&mut r)?;
                let attempts_used = r.u32()?;
                if attempts_used > registration.attempt_limit {
                    return Err(DecodeError::InvalidValue);
                }
                let login_epoch = r.u64()?;
                let pending_login = match r.u8()? {
                    0 => None,
                    1 => Some(PendingLogin {
                        login_id: r.array::<LOGIN_ID_LEN>()?,
                        request_digest: r.array::<DIGEST_LEN>()?,
                        sealed_server_login: SecretBytes::new(r.bytes16()?.to_vec()),
                        credential_response: r.bytes16()?.to_vec(),
                    }),
                    other => return Err(DecodeError::UnknownCode(other)),
                };
                let count = usize::from(r.u8()?);
                if count > RECENT_LOGIN_DIGESTS {
                    return Err(DecodeError::InvalidValue);
                }
                let mut recent_login_digests = Vec::with_capacity(count);
                for _ in 0..count {
                    recent_login_digests.push(r.array::<DIGEST_LEN>()?);
                }
                RecordState::Active(ActiveRecord {
                    registration,
                    attempts_used,
                    login_epoch,
                    pending_login,
                    recent_login_digests,
                })
            }
            STATE_LOCKED => RecordState::Locked,
            STATE_DELETED => RecordState::Deleted,
            other => return Err(DecodeError::UnknownCode(other)),
        };
        r.finish()?;
        Ok(Self { generation, state })
    }
}
