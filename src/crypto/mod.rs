//! The one narrow cryptographic interface the protocol roles use (SPEC.md "Vault protocol").
//!
//! [`CryptoSuite`] covers every OPAQUE step, sealing to the fleet, reply sealing, key wrapping,
//! proofs and record sealing. The roles ([`crate::client::Client`], [`crate::vault::SingleVault`], [`crate::vault::ReplicatedVault`])
//! are generic over it; [`real::ProductionSuite`] is the real implementation (opaque-ke with
//! Argon2id, HPKE, AES-256-GCM, HKDF-SHA256) and [`real::InsecureFastSuite`] swaps the key
//! stretching function for the identity (tests, model and simulator only, never production).
//! Every message and state crosses the trait as bytes or as an associated type, so a symbolic
//! suite for the model checker can represent them with plain tokens.

pub mod labels;
pub mod real;
#[cfg(feature = "symbolic")]
pub mod symbolic;

use alloc::vec::Vec;
use core::fmt;

use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::backup_key::BackupKey;
use crate::ids::{AccountId, FleetId};

/// Length of digests, proofs and proof check values.
pub const DIGEST_LEN: usize = 32;

/// A 32-byte digest, proof or check value.
pub type Digest = [u8; DIGEST_LEN];

/// Why a cryptographic step failed. Peers never learn which of these happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// Input bytes did not parse as the expected key, message or state.
    Malformed,
    /// A seal or MAC did not verify, or the server was not the pinned fleet.
    Authentication,
    /// OPAQUE on the client: the password is wrong (the envelope did not open).
    WrongPassword,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "malformed key, message or state",
            Self::Authentication => "authentication failed",
            Self::WrongPassword => "wrong password",
        })
    }
}

impl core::error::Error for CryptoError {}

/// Secret bytes: zeroized on drop, redacted in `Debug`, compared in constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of secret bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretBytes {}

impl core::hash::Hash for SecretBytes {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// The public keys a client pins for a fleet (SPEC.md "Fleet keys").
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FleetPublicKeys {
    /// The fleet's identity (OPAQUE server identity, part of the HPKE info).
    pub fleet_id: FleetId,
    /// The fleet's HPKE public key (X25519, 32 bytes in the real suite).
    pub hpke_public_key: Vec<u8>,
    /// The fleet's OPAQUE server public key (ristretto255, 32 bytes in the real suite).
    pub opaque_server_public_key: Vec<u8>,
}

/// Magic at the start of an encoded [`FleetPublicKeys`] (SPEC.md "Fleet public keys file").
pub const FLEET_PUBLIC_KEYS_MAGIC: &[u8; 6] = b"E2EEFP";
/// Version of the [`FleetPublicKeys`] encoding.
pub const FLEET_PUBLIC_KEYS_VERSION: u8 = 1;

impl FleetPublicKeys {
    /// Encodes the keys a client pins (SPEC.md "Fleet public keys file"): magic, version, fleet
    /// id (`bytes8`), HPKE public key (`bytes8`), OPAQUE server public key (`bytes8`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = crate::wire::codec::Writer::new();
        w.raw(FLEET_PUBLIC_KEYS_MAGIC)
            .u8(FLEET_PUBLIC_KEYS_VERSION)
            .bytes8(self.fleet_id.as_bytes())
            .bytes8(&self.hpke_public_key)
            .bytes8(&self.opaque_server_public_key);
        w.into_bytes()
    }

    /// Decodes what [`Self::to_bytes`] wrote; rejects another magic or version, empty keys and
    /// trailing bytes ([`CryptoError::Malformed`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let m = |_| CryptoError::Malformed;
        let mut r = crate::wire::codec::Reader::new(bytes);
        if r.take(FLEET_PUBLIC_KEYS_MAGIC.len()).map_err(m)? != FLEET_PUBLIC_KEYS_MAGIC
            || r.u8().map_err(m)? != FLEET_PUBLIC_KEYS_VERSION
        {
            return Err(CryptoError::Malformed);
        }
        let fleet_id = FleetId::new(r.bytes8().map_err(m)?).map_err(|_| CryptoError::Malformed)?;
        let hpke_public_key = r.bytes8().map_err(m)?.to_vec();
        let opaque_server_public_key = r.bytes8().map_err(m)?.to_vec();
        r.finish().map_err(m)?;
        if hpke_public_key.is_empty() || opaque_server_public_key.is_empty() {
            return Err(CryptoError::Malformed);
        }
        Ok(Self {
            fleet_id,
            hpke_public_key,
            opaque_server_public_key,
        })
    }
}

/// The identities OPAQUE binds: the account (client) and the fleet (server).
#[derive(Clone, Copy, Debug)]
pub struct Identities<'a> {
    /// The account id, OPAQUE's client identity.
    pub account: &'a AccountId,
    /// The fleet id, OPAQUE's server identity.
    pub fleet: &'a FleetId,
}

/// A client's first registration message and the state it keeps.
pub struct ClientRegistrationStart<S> {
    /// The OPAQUE `RegistrationRequest`, serialized.
    pub message: Vec<u8>,
    /// The client state for [`CryptoSuite::client_registration_finish`].
    pub state: S,
}

/// What the client has after finishing OPAQUE registration.
pub struct ClientRegistrationFinish {
    /// The OPAQUE `RegistrationUpload`, serialized.
    pub message: Vec<u8>,
    /// The OPAQUE export key; never leaves the client.
    pub export_key: SecretBytes,
}

/// A client's first login message and the state it keeps.
pub struct ClientLoginStart<S> {
    /// The OPAQUE `CredentialRequest`, serialized.
    pub message: Vec<u8>,
    /// The client state for [`CryptoSuite::client_login_finish`].
    pub state: S,
}

/// What the client has after a successful OPAQUE login.
pub struct ClientLoginFinish {
    /// The OPAQUE `CredentialFinalization`, serialized.
    pub message: Vec<u8>,
    /// The OPAQUE session key shared with the vault.
    pub session_key: SecretBytes,
    /// The OPAQUE export key; never leaves the client.
    pub export_key: SecretBytes,
}

/// The vault's answer to a `CredentialRequest` and the state it must keep for the finish.
pub struct ServerLoginStart {
    /// The OPAQUE `CredentialResponse`, serialized.
    pub message: Vec<u8>,
    /// The OPAQUE `ServerLogin` state, serialized (secret: seal it before storing).
    pub state: SecretBytes,
}

/// An opened sealed request.
pub struct OpenedRequest {
    /// The request plaintext.
    pub plaintext: Vec<u8>,
    /// The key under which the reply to this request is sealed.
    pub reply_key: SecretBytes,
}

/// A sealed request and the key its reply will be sealed under.
pub struct SealedRequest {
    /// The sealed request bytes.
    pub sealed: Vec<u8>,
    /// The key under which the reply to this request is sealed.
    pub reply_key: SecretBytes,
}

/// Every cryptographic operation of the vault protocol.
///
/// Implementations must be deterministic functions of their inputs and the RNG they are given.
pub trait CryptoSuite {
    /// The fleet's secrets, held by every vault replica of the fleet.
    type FleetSecrets;
    /// Client state between registration start and finish.
    type ClientRegistration;
    /// Client state between login start and finish.
    type ClientLogin;

    /// The fleet's identity.
    fn fleet_id<'a>(&self, fleet: &'a Self::FleetSecrets) -> &'a FleetId;

    /// The public keys clients pin for this fleet.
    fn fleet_public_keys(&self, fleet: &Self::FleetSecrets) -> FleetPublicKeys;

    /// OPAQUE client: start a registration with `password`.
    fn client_registration_start(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        password: &[u8],
    ) -> Result<ClientRegistrationStart<Self::ClientRegistration>, CryptoError>;

    /// OPAQUE client: finish a registration; fails unless the server key is the pinned one.
    fn client_registration_finish(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        state: Self::ClientRegistration,
        password: &[u8],
        response: &[u8],
        ids: Identities<'_>,
        pinned: &FleetPublicKeys,
    ) -> Result<ClientRegistrationFinish, CryptoError>;

    /// OPAQUE client: start a login with `password`.
    fn client_login_start(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        password: &[u8],
    ) -> Result<ClientLoginStart<Self::ClientLogin>, CryptoError>;

    /// OPAQUE client: a `CredentialFinalization`-sized message that no vault verifies. A client
    /// whose password turned out wrong sends it, so that right and wrong passwords make the
    /// same flow on the wire (SPEC.md "What the relay sees").
    fn client_dummy_finalization(&self, rng: &mut (impl CryptoRng + RngCore)) -> Vec<u8>;

    /// OPAQUE client: finish a login; [`CryptoError::WrongPassword`] if the password is wrong.
    fn client_login_finish(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        state: Self::ClientLogin,
        password: &[u8],
        response: &[u8],
        ids: Identities<'_>,
        pinned: &FleetPublicKeys,
    ) -> Result<ClientLoginFinish, CryptoError>;

    /// Vault: fresh OPRF key material for one registration (SPEC.md "Per-registration OPRF
    /// seeds"). Every registration gets its own, so no answer to a `RegisterStart` is ever
    /// computed under the OPRF key of a live record.
    fn new_oprf_seed(&self, rng: &mut (impl CryptoRng + RngCore)) -> SecretBytes;

    /// OPAQUE server: answer a `RegistrationRequest` under the OPRF key that `oprf_seed` gives
    /// this account (deterministic in the seed; `rng` only fills OPAQUE's unused dummy key).
    fn server_registration_start(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        fleet: &Self::FleetSecrets,
        oprf_seed: &SecretBytes,
        request: &[u8],
        account: &AccountId,
    ) -> Result<Vec<u8>, CryptoError>;

    /// OPAQUE server: validate a `RegistrationUpload` and return the registration record bytes.
    fn server_registration_finish(&self, upload: &[u8]) -> Result<Vec<u8>, CryptoError>;

    /// OPAQUE server: answer a `CredentialRequest` against a registration (randomized), under
    /// the OPRF key of that registration's `oprf_seed`.
    fn server_login_start(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        fleet: &Self::FleetSecrets,
        oprf_seed: &SecretBytes,
        registration: &[u8],
        request: &[u8],
        ids: Identities<'_>,
    ) -> Result<ServerLoginStart, CryptoError>;

    /// OPAQUE server: verify a `CredentialFinalization`; returns the session key (deterministic).
    fn server_login_finish(
        &self,
        state: &[u8],
        finalization: &[u8],
        ids: Identities<'_>,
    ) -> Result<SecretBytes, CryptoError>;

    /// Client: seal a request to the fleet (HPKE base mode) with `aad`.
    fn seal_request(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        fleet: &FleetPublicKeys,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<SealedRequest, CryptoError>;

    /// Vault: open a request sealed to the fleet with `aad`.
    fn open_request(
        &self,
        fleet: &Self::FleetSecrets,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<OpenedRequest, CryptoError>;

    /// Vault: seal a reply under a request's reply key.
    fn seal_reply(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        reply_key: &SecretBytes,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;

    /// Client: open a reply sealed under a request's reply key.
    fn open_reply(
        &self,
        reply_key: &SecretBytes,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;

    /// Client: wrap the backup key under a key derived from the export key.
    fn wrap_backup_key(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        export_key: &SecretBytes,
        ids: Identities<'_>,
        backup_key: &BackupKey,
    ) -> Result<Vec<u8>, CryptoError>;

    /// Client: unwrap the backup key with the export key.
    fn unwrap_backup_key(
        &self,
        export_key: &SecretBytes,
        ids: Identities<'_>,
        wrapped: &[u8],
    ) -> Result<BackupKey, CryptoError>;

    /// Client: the proof (from the export key) that exposes (`label` = expose) or deletes
    /// (`label` = delete) the record of `generation`.
    fn record_proof(
        &self,
        export_key: &SecretBytes,
        label: &'static [u8],
        ids: Identities<'_>,
        generation: u64,
    ) -> Digest;

    /// Vault: seal the wrapped key under a key derived from the OPAQUE session key.
    fn seal_release(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        session_key: &SecretBytes,
        login_id: &[u8],
        wrapped: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;

    /// Client: open a released wrapped key with the OPAQUE session key.
    fn open_release(
        &self,
        session_key: &SecretBytes,
        login_id: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;

    /// Vault: seal bytes for storage or replication under the fleet storage key.
    fn seal_storage(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        fleet: &Self::FleetSecrets,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;

    /// Vault: open bytes sealed with [`CryptoSuite::seal_storage`].
    fn open_storage(
        &self,
        fleet: &Self::FleetSecrets,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<SecretBytes, CryptoError>;

    /// A collision-resistant digest of `label` followed by each length-prefixed part.
    fn digest(&self, label: &'static [u8], parts: &[&[u8]]) -> Digest;

    /// Vault: seal a replica-to-replica message under the fleet replica-link key (SPEC.md
    /// "Replica link"). The real suites override this; the default, for suites without a
    /// separate link key (e.g. a symbolic suite for the model), seals under the storage key,
    /// which is domain-separated from stored data by the AAD label.
    fn seal_link(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        fleet: &Self::FleetSecrets,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.seal_storage(rng, fleet, aad, plaintext)
    }

    /// Vault: open bytes sealed with [`CryptoSuite::seal_link`].
    fn open_link(
        &self,
        fleet: &Self::FleetSecrets,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        self.open_storage(fleet, aad, sealed)
    }
}

/// Constant-time equality of two digests.
pub fn digests_equal(a: &Digest, b: &Digest) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}
