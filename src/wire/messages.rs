//! Every message of the vault protocol, with explicit codes (SPEC.md "Messages").

use alloc::vec::Vec;

use super::codec::{DecodeError, Reader, Writer};
use crate::crypto::{DIGEST_LEN, Digest};
use crate::ids::AccountId;

/// Version byte that starts every envelope (2: per-registration OPRF seeds, status queries,
/// login freshness, padded replies).
pub const WIRE_VERSION: u8 = 2;

/// Envelope code of [`ClientRequest`].
pub const CODE_CLIENT_REQUEST: u8 = 0x10;
/// Envelope code of [`ClientReply`].
pub const CODE_CLIENT_REPLY: u8 = 0x11;
/// Envelope code of [`VaultRequest`].
pub const CODE_VAULT_REQUEST: u8 = 0x20;
/// Envelope code of [`VaultReply`].
pub const CODE_VAULT_REPLY: u8 = 0x21;

/// Reply body code: a reply sealed by the vault.
pub const BODY_SEALED: u8 = 0x00;
/// Reply body code: the vault could not open or apply the request (one opaque error).
pub const BODY_REJECTED: u8 = 0x01;
/// Reply body code: the relay's rate limit refused the request.
pub const BODY_RATE_LIMITED: u8 = 0x02;

/// Length of a login id.
pub const LOGIN_ID_LEN: usize = 16;
/// Identifies one counted login attempt (chosen at random by the vault).
pub type LoginId = [u8; LOGIN_ID_LEN];

/// The kind of a sealed request; visible to the relay and bound into the seal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestKind {
    /// OPAQUE registration, first message.
    RegisterStart,
    /// OPAQUE registration upload with the wrapped key; creates a pending record.
    RegisterFinish,
    /// Makes a pending record usable.
    Expose,
    /// OPAQUE login, first message; counts one attempt.
    LoginStart,
    /// OPAQUE login, final message; releases the wrapped key.
    LoginFinish,
    /// Erases the record on the account's say-so.
    Delete,
    /// Asks for the record's state and attempts left; counts nothing, tests no password.
    Status,
}

impl RequestKind {
    /// Code of [`RequestKind::RegisterStart`].
    pub const CODE_REGISTER_START: u8 = 0x01;
    /// Code of [`RequestKind::RegisterFinish`].
    pub const CODE_REGISTER_FINISH: u8 = 0x02;
    /// Code of [`RequestKind::Expose`].
    pub const CODE_EXPOSE: u8 = 0x03;
    /// Code of [`RequestKind::LoginStart`].
    pub const CODE_LOGIN_START: u8 = 0x04;
    /// Code of [`RequestKind::LoginFinish`].
    pub const CODE_LOGIN_FINISH: u8 = 0x05;
    /// Code of [`RequestKind::Delete`].
    pub const CODE_DELETE: u8 = 0x06;
    /// Code of [`RequestKind::Status`].
    pub const CODE_STATUS: u8 = 0x07;

    /// Every kind, in code order.
    pub const ALL: [Self; 7] = [
        Self::RegisterStart,
        Self::RegisterFinish,
        Self::Expose,
        Self::LoginStart,
        Self::LoginFinish,
        Self::Delete,
        Self::Status,
    ];

    /// The wire code.
    pub const fn code(self) -> u8 {
        match self {
            Self::RegisterStart => Self::CODE_REGISTER_START,
            Self::RegisterFinish => Self::CODE_REGISTER_FINISH,
            Self::Expose => Self::CODE_EXPOSE,
            Self::LoginStart => Self::CODE_LOGIN_START,
            Self::LoginFinish => Self::CODE_LOGIN_FINISH,
            Self::Delete => Self::CODE_DELETE,
            Self::Status => Self::CODE_STATUS,
        }
    }

    /// Parses a wire code.
    pub fn from_code(code: u8) -> Result<Self, DecodeError> {
        match code {
            Self::CODE_REGISTER_START => Ok(Self::RegisterStart),
            Self::CODE_REGISTER_FINISH => Ok(Self::RegisterFinish),
            Self::CODE_EXPOSE => Ok(Self::Expose),
            Self::CODE_LOGIN_START => Ok(Self::LoginStart),
            Self::CODE_LOGIN_FINISH => Ok(Self::LoginFinish),
            Self::CODE_DELETE => Ok(Self::Delete),
            Self::CODE_STATUS => Ok(Self::Status),
            other => Err(DecodeError::UnknownCode(other)),
        }
    }
}

/// The body of a reply envelope.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReplyBody {
    /// A reply sealed under the request's reply key.
    Sealed(Vec<u8>),
    /// The vault refused the request (open failed or malformed); one opaque error.
    Rejected,
    /// The relay's per-account rate limit refused the request.
    RateLimited,
}

impl ReplyBody {
    fn write(&self, w: &mut Writer) {
        match self {
            Self::Sealed(bytes) => {
                w.u8(BODY_SEALED).bytes32(bytes);
            }
            Self::Rejected => {
                w.u8(BODY_REJECTED);
            }
            Self::RateLimited => {
                w.u8(BODY_RATE_LIMITED);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            BODY_SEALED => Ok(Self::Sealed(r.bytes32()?.to_vec())),
            BODY_REJECTED => Ok(Self::Rejected),
            BODY_RATE_LIMITED => Ok(Self::RateLimited),
            other => Err(DecodeError::UnknownCode(other)),
        }
    }
}

fn read_header(r: &mut Reader<'_>, code: u8) -> Result<(), DecodeError> {
    let version = r.u8()?;
    if version != WIRE_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let found = r.u8()?;
    if found != code {
        return Err(DecodeError::UnknownCode(found));
    }
    Ok(())
}

fn header(code: u8) -> Writer {
    let mut w = Writer::new();
    w.u8(WIRE_VERSION).u8(code);
    w
}

fn read_account(r: &mut Reader<'_>) -> Result<AccountId, DecodeError> {
    AccountId::new(r.bytes8()?).map_err(|_| DecodeError::InvalidValue)
}

/// Client → relay: a sealed request. Layout: version, code 0x10, `request_id` u64, kind u8,
/// `sealed` bytes32.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientRequest {
    /// Chosen by the client; echoed in the [`ClientReply`]. Retries reuse it.
    pub request_id: u64,
    /// The request kind (bound into the seal).
    pub kind: RequestKind,
    /// The HPKE-sealed [`Request`].
    pub sealed: Vec<u8>,
}

impl ClientRequest {
    /// Encodes the envelope.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = header(CODE_CLIENT_REQUEST);
        w.u64(self.request_id)
            .u8(self.kind.code())
            .bytes32(&self.sealed);
        w.into_bytes()
    }

    /// Decodes the envelope; rejects trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        read_header(&mut r, CODE_CLIENT_REQUEST)?;
        let request_id = r.u64()?;
        let kind = RequestKind::from_code(r.u8()?)?;
        let sealed = r.bytes32()?.to_vec();
        r.finish()?;
        Ok(Self {
            request_id,
            kind,
            sealed,
        })
    }
}

/// Relay → client: the reply to a [`ClientRequest`]. Layout: version, code 0x11, `request_id`
/// u64, kind u8, body (code u8, then `sealed` bytes32 if the code is 0x00).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientReply {
    /// The client's request id.
    pub request_id: u64,
    /// The kind of the request answered.
    pub kind: RequestKind,
    /// The reply.
    pub body: ReplyBody,
}

impl ClientReply {
    /// Encodes the envelope.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = header(CODE_CLIENT_REPLY);
        w.u64(self.request_id).u8(self.kind.code());
        self.body.write(&mut w);
        w.into_bytes()
    }

    /// Decodes the envelope; rejects trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        read_header(&mut r, CODE_CLIENT_REPLY)?;
        let request_id = r.u64()?;
        let kind = RequestKind::from_code(r.u8()?)?;
        let body = ReplyBody::read(&mut r)?;
        r.finish()?;
        Ok(Self {
            request_id,
            kind,
            body,
        })
    }
}

/// Relay → vault: a sealed request with the account the relay authenticated. Layout: version,
/// code 0x20, `route_id` u64, `account` bytes8, kind u8, `sealed` bytes32.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VaultRequest {
    /// Chosen by the relay; echoed in the [`VaultReply`].
    pub route_id: u64,
    /// The account the relay's transport authenticated.
    pub account: AccountId,
    /// The request kind (bound into the seal).
    pub kind: RequestKind,
    /// The HPKE-sealed [`Request`], as the client sent it.
    pub sealed: Vec<u8>,
}

impl VaultRequest {
    /// Encodes the envelope.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = header(CODE_VAULT_REQUEST);
        w.u64(self.route_id)
            .bytes8(self.account.as_bytes())
            .u8(self.kind.code())
            .bytes32(&self.sealed);
        w.into_bytes()
    }

    /// Decodes the envelope; rejects trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        read_header(&mut r, CODE_VAULT_REQUEST)?;
        let route_id = r.u64()?;
        let account = read_account(&mut r)?;
        let kind = RequestKind::from_code(r.u8()?)?;
        let sealed = r.bytes32()?.to_vec();
        r.finish()?;
        Ok(Self {
            route_id,
            account,
            kind,
            sealed,
        })
    }
}

/// Vault → relay: the reply to a [`VaultRequest`]. Layout: version, code 0x21, `route_id` u64,
/// kind u8, body as in [`ClientReply`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VaultReply {
    /// The relay's route id.
    pub route_id: u64,
    /// The kind of the request answered.
    pub kind: RequestKind,
    /// The reply.
    pub body: ReplyBody,
}

impl VaultReply {
    /// Encodes the envelope.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = header(CODE_VAULT_REPLY);
        w.u64(self.route_id).u8(self.kind.code());
        self.body.write(&mut w);
        w.into_bytes()
    }

    /// Decodes the envelope; rejects trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        read_header(&mut r, CODE_VAULT_REPLY)?;
        let route_id = r.u64()?;
        let kind = RequestKind::from_code(r.u8()?)?;
        let body = ReplyBody::read(&mut r)?;
        r.finish()?;
        Ok(Self {
            route_id,
            kind,
            body,
        })
    }
}

/// A sealed request body (plaintext inside the HPKE seal). Layout: kind code u8, then the fields
/// of the variant in order (`bytes16` for OPAQUE messages and wrapped keys, u64/u32 big-endian,
/// 32-byte digests and 16-byte login ids raw).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Request {
    /// OPAQUE `RegistrationRequest`.
    RegisterStart {
        /// Serialized `RegistrationRequest`.
        registration_request: Vec<u8>,
    },
    /// OPAQUE `RegistrationUpload` plus the wrapped key and the record's settings.
    RegisterFinish {
        /// The generation the client saw in the `RegistrationResponse` reply.
        base_generation: u64,
        /// Failed attempts allowed before the record is erased.
        attempt_limit: u32,
        /// Serialized `RegistrationUpload`.
        registration_upload: Vec<u8>,
        /// The backup key wrapped under a key derived from the export key.
        wrapped_key: Vec<u8>,
        /// Digest of the expose proof for generation `base_generation + 1`.
        expose_check: Digest,
        /// Digest of the delete proof for generation `base_generation + 1`.
        delete_check: Digest,
        /// The registration ticket from the `RegistrationResponse`: the OPRF seed that answer
        /// was computed under, sealed by the vault (opaque to the client).
        ticket: Vec<u8>,
    },
    /// Expose the pending record of `generation`.
    Expose {
        /// The generation to expose.
        generation: u64,
        /// The expose proof.
        proof: Digest,
    },
    /// OPAQUE `CredentialRequest` for the record of `generation` in `login_epoch` (from a
    /// `Status` reply); counts one attempt.
    LoginStart {
        /// The generation of the registration this login is for.
        generation: u64,
        /// The login epoch this login is for.
        login_epoch: u64,
        /// Serialized `CredentialRequest`.
        credential_request: Vec<u8>,
    },
    /// OPAQUE `CredentialFinalization` for a counted login.
    LoginFinish {
        /// The login id from the `LoginChallenge` reply.
        login_id: LoginId,
        /// Serialized `CredentialFinalization`.
        credential_finalization: Vec<u8>,
    },
    /// Delete the record of `generation`.
    Delete {
        /// The generation to delete.
        generation: u64,
        /// The delete proof.
        proof: Digest,
    },
    /// Ask for the record's state (no fields).
    Status,
}

impl Request {
    /// The kind of this request.
    pub fn kind(&self) -> RequestKind {
        match self {
            Self::RegisterStart { .. } => RequestKind::RegisterStart,
            Self::RegisterFinish { .. } => RequestKind::RegisterFinish,
            Self::Expose { .. } => RequestKind::Expose,
            Self::LoginStart { .. } => RequestKind::LoginStart,
            Self::LoginFinish { .. } => RequestKind::LoginFinish,
            Self::Delete { .. } => RequestKind::Delete,
            Self::Status => RequestKind::Status,
        }
    }

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(self.kind().code());
        match self {
            Self::RegisterStart {
                registration_request,
            } => {
                w.bytes16(registration_request);
            }
            Self::RegisterFinish {
                base_generation,
                attempt_limit,
                registration_upload,
                wrapped_key,
                expose_check,
                delete_check,
                ticket,
            } => {
                w.u64(*base_generation)
                    .u32(*attempt_limit)
                    .bytes16(registration_upload)
                    .bytes16(wrapped_key)
                    .raw(expose_check)
                    .raw(delete_check)
                    .bytes16(ticket);
            }
            Self::Expose { generation, proof } | Self::Delete { generation, proof } => {
                w.u64(*generation).raw(proof);
            }
            Self::LoginStart {
                generation,
                login_epoch,
                credential_request,
            } => {
                w.u64(*generation)
                    .u64(*login_epoch)
                    .bytes16(credential_request);
            }
            Self::Status => {}
            Self::LoginFinish {
                login_id,
                credential_finalization,
            } => {
                w.raw(login_id).bytes16(credential_finalization);
            }
        }
        w.into_bytes()
    }

    /// Decodes a body; rejects trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let request = match RequestKind::from_code(r.u8()?)? {
            RequestKind::RegisterStart => Self::RegisterStart {
                registration_request: r.bytes16()?.to_vec(),
            },
            RequestKind::RegisterFinish => Self::RegisterFinish {
                base_generation: r.u64()?,
                attempt_limit: r.u32()?,
                registration_upload: r.bytes16()?.to_vec(),
                wrapped_key: r.bytes16()?.to_vec(),
                expose_check: r.array::<DIGEST_LEN>()?,
                delete_check: r.array::<DIGEST_LEN>()?,
                ticket: r.bytes16()?.to_vec(),
            },
            RequestKind::Expose => Self::Expose {
                generation: r.u64()?,
                proof: r.array()?,
            },
            RequestKind::LoginStart => Self::LoginStart {
                generation: r.u64()?,
                login_epoch: r.u64()?,
                credential_request: r.bytes16()?.to_vec(),
            },
            RequestKind::LoginFinish => Self::LoginFinish {
                login_id: r.array()?,
                credential_finalization: r.bytes16()?.to_vec(),
            },
            RequestKind::Delete => Self::Delete {
                generation: r.u64()?,
                proof: r.array()?,
            },
            RequestKind::Status => Self::Status,
        };
        r.finish()?;
        Ok(request)
    }
}

/// A sealed reply body (plaintext inside the reply seal). Layout: status code u8, then fields.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reply {
    /// To `RegisterStart`: the OPAQUE `RegistrationResponse` and the record's current generation.
    RegistrationResponse {
        /// Current generation (0 if the account never had a record).
        generation: u64,
        /// Serialized `RegistrationResponse`, computed under a fresh OPRF seed.
        registration_response: Vec<u8>,
        /// That OPRF seed, sealed by the vault for this account and generation; the client
        /// returns it in `RegisterFinish`.
        ticket: Vec<u8>,
    },
    /// To `RegisterFinish`: the pending record of `generation` exists.
    Registered {
        /// Generation of the new (pending) record.
        generation: u64,
    },
    /// To `RegisterFinish`: the record moved on since `RegisterStart`; start again.
    RegistrationStale {
        /// The record's current generation.
        current_generation: u64,
    },
    /// To `Expose`: the record of `generation` is active.
    Exposed {
        /// Generation of the active record.
        generation: u64,
    },
    /// To `Expose` or `Delete`: the proof or generation did not match.
    ProofRejected,
    /// To `LoginStart`: one attempt is counted; here is the OPAQUE `CredentialResponse`.
    LoginChallenge {
        /// Names this attempt in `LoginFinish`.
        login_id: LoginId,
        /// Generation of the record.
        generation: u64,
        /// Attempts left if this one fails.
        attempts_remaining: u32,
        /// Serialized `CredentialResponse`.
        credential_response: Vec<u8>,
    },
    /// To `LoginFinish`: the wrapped key, sealed under a key derived from the OPAQUE session key.
    KeyReleased {
        /// The sealed wrapped key.
        sealed_wrapped_key: Vec<u8>,
    },
    /// To `LoginFinish`: OPAQUE did not verify.
    LoginFailed {
        /// Attempts left.
        attempts_remaining: u32,
    },
    /// The record's secrets are erased after too many failed attempts.
    Locked,
    /// There is no usable record (none, pending or deleted).
    NoRecord,
    /// To `LoginFinish`: the login id is not the record's pending login.
    UnknownLogin,
    /// To `Delete`: the record is deleted.
    Deleted,
    /// The record changed while the request ran; retry.
    Busy,
    /// The request opened but its contents are invalid (e.g. attempt limit out of bounds).
    InvalidRequest,
    /// To `Status`: the record's state; spends no attempt.
    Status {
        /// The record's generation (0: the account never registered).
        generation: u64,
        /// What the record holds.
        state: RecordStatus,
        /// Attempts left (0 unless `Active`).
        attempts_remaining: u32,
        /// The login epoch a `LoginStart` must name (0 unless `Active`).
        login_epoch: u64,
    },
    /// To `LoginStart`: it names another generation or login epoch (a replay, or a success
    /// overtook it): not counted. A new login must name these.
    LoginStale {
        /// The record's generation.
        generation: u64,
        /// The record's login epoch.
        login_epoch: u64,
    },
    /// The vault could not finish the request and cannot tell whether it will take effect:
    /// resend the same request bytes (never a fresh request).
    OutcomeUnknown,
}

/// What a record holds, as a `Status` reply tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordStatus {
    /// The account has no record (never registered).
    NoRecord,
    /// Registered, not yet exposed: no login possible.
    Pending,
    /// Exposed: logins are counted.
    Active,
    /// The attempts ran out; the secrets are erased.
    Locked,
    /// Deleted on the account's say-so.
    Deleted,
}

impl RecordStatus {
    /// The wire code.
    pub const fn code(self) -> u8 {
        match self {
            Self::NoRecord => 0x00,
            Self::Pending => 0x01,
            Self::Active => 0x02,
            Self::Locked => 0x03,
            Self::Deleted => 0x04,
        }
    }

    /// Parses a wire code.
    pub fn from_code(code: u8) -> Result<Self, DecodeError> {
        match code {
            0x00 => Ok(Self::NoRecord),
            0x01 => Ok(Self::Pending),
            0x02 => Ok(Self::Active),
            0x03 => Ok(Self::Locked),
            0x04 => Ok(Self::Deleted),
            other => Err(DecodeError::UnknownCode(other)),
        }
    }
}

impl Reply {
    /// Code of [`Reply::RegistrationResponse`].
    pub const CODE_REGISTRATION_RESPONSE: u8 = 0x01;
    /// Code of [`Reply::Registered`].
    pub const CODE_REGISTERED: u8 = 0x02;
    /// Code of [`Reply::RegistrationStale`].
    pub const CODE_REGISTRATION_STALE: u8 = 0x03;
    /// Code of [`Reply::Exposed`].
    pub const CODE_EXPOSED: u8 = 0x04;
    /// Code of [`Reply::ProofRejected`].
    pub const CODE_PROOF_REJECTED: u8 = 0x05;
    /// Code of [`Reply::LoginChallenge`].
    pub const CODE_LOGIN_CHALLENGE: u8 = 0x06;
    /// Code of [`Reply::KeyReleased`].
    pub const CODE_KEY_RELEASED: u8 = 0x07;
    /// Code of [`Reply::LoginFailed`].
    pub const CODE_LOGIN_FAILED: u8 = 0x08;
    /// Code of [`Reply::Locked`].
    pub const CODE_LOCKED: u8 = 0x09;
    /// Code of [`Reply::NoRecord`].
    pub const CODE_NO_RECORD: u8 = 0x0A;
    /// Code of [`Reply::UnknownLogin`].
    pub const CODE_UNKNOWN_LOGIN: u8 = 0x0B;
    /// Code of [`Reply::Deleted`].
    pub const CODE_DELETED: u8 = 0x0C;
    /// Code of [`Reply::Busy`].
    pub const CODE_BUSY: u8 = 0x0D;
    /// Code of [`Reply::InvalidRequest`].
    pub const CODE_INVALID_REQUEST: u8 = 0x0E;
    /// Code of [`Reply::Status`].
    pub const CODE_STATUS: u8 = 0x0F;
    /// Code of [`Reply::LoginStale`].
    pub const CODE_LOGIN_STALE: u8 = 0x10;
    /// Code of [`Reply::OutcomeUnknown`].
    pub const CODE_OUTCOME_UNKNOWN: u8 = 0x11;

    /// The status code.
    pub const fn code(&self) -> u8 {
        match self {
            Self::RegistrationResponse { .. } => Self::CODE_REGISTRATION_RESPONSE,
            Self::Registered { .. } => Self::CODE_REGISTERED,
            Self::RegistrationStale { .. } => Self::CODE_REGISTRATION_STALE,
            Self::Exposed { .. } => Self::CODE_EXPOSED,
            Self::ProofRejected => Self::CODE_PROOF_REJECTED,
            Self::LoginChallenge { .. } => Self::CODE_LOGIN_CHALLENGE,
            Self::KeyReleased { .. } => Self::CODE_KEY_RELEASED,
            Self::LoginFailed { .. } => Self::CODE_LOGIN_FAILED,
            Self::Locked => Self::CODE_LOCKED,
            Self::NoRecord => Self::CODE_NO_RECORD,
            Self::UnknownLogin => Self::CODE_UNKNOWN_LOGIN,
            Self::Deleted => Self::CODE_DELETED,
            Self::Busy => Self::CODE_BUSY,
            Self::InvalidRequest => Self::CODE_INVALID_REQUEST,
            Self::Status { .. } => Self::CODE_STATUS,
            Self::LoginStale { .. } => Self::CODE_LOGIN_STALE,
            Self::OutcomeUnknown => Self::CODE_OUTCOME_UNKNOWN,
        }
    }

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(self.code());
        match self {
            Self::RegistrationResponse {
                generation,
                registration_response,
                ticket,
            } => {
                w.u64(*generation)
                    .bytes16(registration_response)
                    .bytes16(ticket);
            }
            Self::Status {
                generation,
                state,
                attempts_remaining,
                login_epoch,
            } => {
                w.u64(*generation)
                    .u8(state.code())
                    .u32(*attempts_remaining)
                    .u64(*login_epoch);
            }
            Self::LoginStale {
                generation,
                login_epoch,
            } => {
                w.u64(*generation).u64(*login_epoch);
            }
            Self::Registered { generation } | Self::Exposed { generation } => {
                w.u64(*generation);
            }
            Self::RegistrationStale { current_generation } => {
                w.u64(*current_generation);
            }
            Self::LoginChallenge {
                login_id,
                generation,
                attempts_remaining,
                credential_response,
            } => {
                w.raw(login_id)
                    .u64(*generation)
                    .u32(*attempts_remaining)
                    .bytes16(credential_response);
            }
            Self::KeyReleased { sealed_wrapped_key } => {
                w.bytes16(sealed_wrapped_key);
            }
            Self::LoginFailed { attempts_remaining } => {
                w.u32(*attempts_remaining);
            }
            Self::ProofRejected
            | Self::Locked
            | Self::NoRecord
            | Self::UnknownLogin
            | Self::Deleted
            | Self::Busy
            | Self::InvalidRequest
            | Self::OutcomeUnknown => {}
        }
        w.into_bytes()
    }

    /// Decodes a body; rejects trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let reply = match r.u8()? {
            Self::CODE_REGISTRATION_RESPONSE => Self::RegistrationResponse {
                generation: r.u64()?,
                registration_response: r.bytes16()?.to_vec(),
                ticket: r.bytes16()?.to_vec(),
            },
            Self::CODE_STATUS => Self::Status {
                generation: r.u64()?,
                state: RecordStatus::from_code(r.u8()?)?,
                attempts_remaining: r.u32()?,
                login_epoch: r.u64()?,
            },
            Self::CODE_LOGIN_STALE => Self::LoginStale {
                generation: r.u64()?,
                login_epoch: r.u64()?,
            },
            Self::CODE_OUTCOME_UNKNOWN => Self::OutcomeUnknown,
            Self::CODE_REGISTERED => Self::Registered {
                generation: r.u64()?,
            },
            Self::CODE_REGISTRATION_STALE => Self::RegistrationStale {
                current_generation: r.u64()?,
            },
            Self::CODE_EXPOSED => Self::Exposed {
                generation: r.u64()?,
            },
            Self::CODE_PROOF_REJECTED => Self::ProofRejected,
            Self::CODE_LOGIN_CHALLENGE => Self::LoginChallenge {
                login_id: r.array()?,
                generation: r.u64()?,
                attempts_remaining: r.u32()?,
                credential_response: r.bytes16()?.to_vec(),
            },
            Self::CODE_KEY_RELEASED => Self::KeyReleased {
                sealed_wrapped_key: r.bytes16()?.to_vec(),
            },
            Self::CODE_LOGIN_FAILED => Self::LoginFailed {
                attempts_remaining: r.u32()?,
            },
            Self::CODE_LOCKED => Self::Locked,
            Self::CODE_NO_RECORD => Self::NoRecord,
            Self::CODE_UNKNOWN_LOGIN => Self::UnknownLogin,
            Self::CODE_DELETED => Self::Deleted,
            Self::CODE_BUSY => Self::Busy,
            Self::CODE_INVALID_REQUEST => Self::InvalidRequest,
            other => return Err(DecodeError::UnknownCode(other)),
        };
        r.finish()?;
        Ok(reply)
    }

    /// Encodes the body padded to the fixed size of replies to `kind` (SPEC.md "Padding"):
    /// `u16` body length ‖ body ‖ zero bytes, [`padded_reply_len`] bytes in all, so that every
    /// answer to one request kind has the same size on the wire.
    pub fn encode_padded(&self, kind: RequestKind) -> Vec<u8> {
        let body = self.encode();
        let len = padded_reply_len(kind, body.len());
        let mut w = Writer::new();
        w.bytes16(&body);
        let mut out = w.into_bytes();
        out.resize(len, 0);
        out
    }

    /// Decodes a body padded by [`Reply::encode_padded`]; rejects non-zero padding.
    pub fn decode_padded(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let body = r.bytes16()?;
        let padding = r.rest();
        if padding.iter().any(|&b| b != 0) {
            return Err(DecodeError::InvalidValue);
        }
        Self::decode(body)
    }
}

/// The size of a padded reply to `kind` whose body is `body_len` bytes: the fixed size of that
/// kind (large enough for every reply of the real suite), or, for a larger body (only the
/// symbolic suite makes those), the next multiple of 64.
pub fn padded_reply_len(kind: RequestKind, body_len: usize) -> usize {
    let fixed = match kind {
        RequestKind::RegisterStart => 256,
        RequestKind::LoginStart => 384,
        RequestKind::LoginFinish => 128,
        RequestKind::RegisterFinish
        | RequestKind::Expose
        | RequestKind::Delete
        | RequestKind::Status => 32,
    };
    let needed = body_len.saturating_add(2);
    if needed <= fixed {
        fixed
    } else {
        needed.div_ceil(64).saturating_mul(64)
    }
}

/// The AAD of a sealed request: [`LABEL_REQUEST_AAD`] ‖ account id (u32 length + bytes) ‖ kind
/// code. The vault opens with the account the relay authenticated, so a request sealed for one
/// account never opens for another.
///
/// [`LABEL_REQUEST_AAD`]: crate::crypto::labels::LABEL_REQUEST_AAD
pub fn request_aad(account: &AccountId, kind: RequestKind) -> Vec<u8> {
    let mut w = Writer::new();
    w.raw(crate::crypto::labels::LABEL_REQUEST_AAD)
        .bytes32(account.as_bytes())
        .u8(kind.code());
    w.into_bytes()
}

/// The AAD of a sealed reply: [`LABEL_REPLY_AAD`] ‖ kind code of the request answered.
///
/// [`LABEL_REPLY_AAD`]: crate::crypto::labels::LABEL_REPLY_AAD
pub fn reply_aad(kind: RequestKind) -> Vec<u8> {
    let mut w = Writer::new();
    w.raw(crate::crypto::labels::LABEL_REPLY_AAD)
        .u8(kind.code());
    w.into_bytes()
}
