//! The real [`CryptoSuite`]: opaque-ke 4.0.1 (RFC 9807: ristretto255, 3DH with SHA-512),
//! HPKE (RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, base mode),
//! AES-256-GCM (aes-gcm 0.11) and HKDF-SHA256.
//!
//! Two suites differ only in OPAQUE's key stretching function:
//! [`ProductionSuite`] uses Argon2id (argon2 0.5 defaults: m = 19 MiB, t = 2, p = 1);
//! [`InsecureFastSuite`] uses the identity and is **unsafe for production** — it exists so tests,
//! the model checker and the simulator run quickly.

use alloc::vec::Vec;
use core::marker::PhantomData;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use hkdf::Hkdf;
use hpke::{Deserializable, Kem as _, Serializable};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest as _, Sha256};

use super::labels::{
    LABEL_LINK_KEY, LABEL_OPAQUE_CONTEXT, LABEL_RELEASE_KEY, LABEL_RELEASE_SEAL_KEY,
    LABEL_REPLY_KEY, LABEL_REPLY_SEAL_KEY, LABEL_REQUEST_INFO, LABEL_STORAGE_KEY, LABEL_WRAP_KEY,
};
use super::{
    ClientLoginFinish, ClientLoginStart, ClientRegistrationFinish, ClientRegistrationStart,
    CryptoError, CryptoSuite, DIGEST_LEN, Digest, FleetPublicKeys, Identities, OpenedRequest,
    SealedRequest, SecretBytes, ServerLoginStart,
};
use crate::backup_key::{BACKUP_KEY_LEN, BackupKey};
use crate::ids::{AccountId, FleetId};

type HpkeKem = hpke::kem::X25519HkdfSha256;
type HpkeKdf = hpke::kdf::HkdfSha256;
type HpkeAead = hpke::aead::AesGcm256;

/// Length of an AES-256-GCM nonce.
const NONCE_LEN: usize = 12;
/// Length of an AES-256-GCM key.
const KEY_LEN: usize = 32;
/// Length of the random salt in front of a storage-sealed value.
const STORAGE_SALT_LEN: usize = 32;
/// Length of an HPKE X25519 encapsulated key.
const ENCAPPED_KEY_LEN: usize = 32;

fn push_part(out: &mut Vec<u8>, part: &[u8]) {
    // Parts are ids (<= 255 bytes) or protocol values far below 4 GiB.
    let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(part);
}

fn info(label: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(label.len() + parts.iter().map(|p| p.len() + 4).sum::<usize>());
    out.extend_from_slice(label);
    for part in parts {
        push_part(&mut out, part);
    }
    out
}

fn hkdf_32(salt: Option<&[u8]>, ikm: &[u8], info: &[u8]) -> SecretBytes {
    let mut okm = [0u8; KEY_LEN];
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = Hkdf::<Sha256>::new(salt, ikm).expand(info, &mut okm);
    let out = SecretBytes::new(okm.to_vec());
    zeroize::Zeroize::zeroize(&mut okm);
    out
}

fn aead_seal(
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    msg: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::Malformed)?;
    cipher
        .encrypt(
            &aes_gcm::aead::Nonce::<Aes256Gcm>::from(*nonce),
            Payload { msg, aad },
        )
        .map_err(|_| CryptoError::Malformed)
}

fn aead_open(key: &[u8], nonce: &[u8], aad: &[u8], msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::Malformed)?;
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Malformed)?;
    cipher
        .decrypt(
            &aes_gcm::aead::Nonce::<Aes256Gcm>::from(nonce),
            Payload { msg, aad },
        )
        .map_err(|_| CryptoError::Authentication)
}

/// Seals with a fresh random nonce: output = nonce ‖ ciphertext ‖ tag.
fn seal_random_nonce(
    rng: &mut (impl CryptoRng + RngCore),
    key: &[u8],
    aad: &[u8],
    msg: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let ct = aead_seal(key, &nonce, aad, msg)?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open_random_nonce(key: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (nonce, ct) = sealed
        .split_at_checked(NONCE_LEN)
        .ok_or(CryptoError::Authentication)?;
    aead_open(key, nonce, aad, ct)
}

fn request_info(fleet_id: &FleetId) -> Vec<u8> {
    info(LABEL_REQUEST_INFO, &[fleet_id.as_bytes()])
}

fn seal_request(
    rng: &mut (impl CryptoRng + RngCore),
    fleet: &FleetPublicKeys,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<SealedRequest, CryptoError> {
    let pk = <HpkeKem as hpke::Kem>::PublicKey::from_bytes(&fleet.hpke_public_key)
        .map_err(|_| CryptoError::Malformed)?;
    let (encapped, mut ctx) = hpke::setup_sender::<HpkeAead, HpkeKdf, HpkeKem, _>(
        &hpke::OpModeS::Base,
        &pk,
        &request_info(&fleet.fleet_id),
        rng,
    )
    .map_err(|_| CryptoError::Malformed)?;
    let ct = ctx
        .seal(plaintext, aad)
        .map_err(|_| CryptoError::Malformed)?;
    let mut reply_key = [0u8; KEY_LEN];
    ctx.export(LABEL_REPLY_KEY, &mut reply_key)
        .map_err(|_| CryptoError::Malformed)?;
    let mut sealed = encapped.to_bytes().to_vec();
    sealed.extend_from_slice(&ct);
    Ok(SealedRequest {
        sealed,
        reply_key: SecretBytes::new(reply_key.to_vec()),
    })
}

fn open_request(
    hpke: &HpkeKeys,
    fleet_id: &FleetId,
    aad: &[u8],
    sealed: &[u8],
) -> Result<OpenedRequest, CryptoError> {
    let (enc, ct) = sealed
        .split_at_checked(ENCAPPED_KEY_LEN)
        .ok_or(CryptoError::Authentication)?;
    let encapped = <HpkeKem as hpke::Kem>::EncappedKey::from_bytes(enc)
        .map_err(|_| CryptoError::Authentication)?;
    let mut ctx = hpke::setup_receiver::<HpkeAead, HpkeKdf, HpkeKem>(
        &hpke::OpModeR::Base,
        &hpke.private,
        &encapped,
        &request_info(fleet_id),
    )
    .map_err(|_| CryptoError::Authentication)?;
    let plaintext = ctx.open(ct, aad).map_err(|_| CryptoError::Authentication)?;
    let mut reply_key = [0u8; KEY_LEN];
    ctx.export(LABEL_REPLY_KEY, &mut reply_key)
        .map_err(|_| CryptoError::Authentication)?;
    Ok(OpenedRequest {
        plaintext,
        reply_key: SecretBytes::new(reply_key.to_vec()),
    })
}

fn wrap_info(ids: Identities<'_>) -> Vec<u8> {
    info(
        LABEL_WRAP_KEY,
        &[ids.account.as_bytes(), ids.fleet.as_bytes()],
    )
}

fn wrap_backup_key(
    rng: &mut (impl CryptoRng + RngCore),
    export_key: &SecretBytes,
    ids: Identities<'_>,
    backup_key: &BackupKey,
) -> Result<Vec<u8>, CryptoError> {
    let info = wrap_info(ids);
    let key = hkdf_32(None, export_key.expose(), &info);
    seal_random_nonce(rng, key.expose(), &info, backup_key.as_bytes())
}

fn unwrap_backup_key(
    export_key: &SecretBytes,
    ids: Identities<'_>,
    wrapped: &[u8],
) -> Result<BackupKey, CryptoError> {
    let info = wrap_info(ids);
    let key = hkdf_32(None, export_key.expose(), &info);
    let plain = SecretBytes::new(open_random_nonce(key.expose(), &info, wrapped)?);
    let bytes: [u8; BACKUP_KEY_LEN] = plain
        .expose()
        .try_into()
        .map_err(|_| CryptoError::Malformed)?;
    Ok(BackupKey::from_bytes(bytes))
}

fn record_proof(
    export_key: &SecretBytes,
    label: &'static [u8],
    ids: Identities<'_>,
    generation: u64,
) -> Digest {
    let info = info(
        label,
        &[
            ids.account.as_bytes(),
            ids.fleet.as_bytes(),
            &generation.to_be_bytes(),
        ],
    );
    let key = hkdf_32(None, export_key.expose(), &info);
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(key.expose());
    out
}

fn release_key(session_key: &SecretBytes, login_id: &[u8]) -> SecretBytes {
    hkdf_32(
        None,
        session_key.expose(),
        &info(LABEL_RELEASE_KEY, &[login_id]),
    )
}

/// Seals under a one-time key: AES-256-GCM under HKDF-SHA256(salt = 32 random bytes, ikm =
/// `master`, info = `label`) with the all-zero nonce; output = salt ‖ ciphertext ‖ tag. Each salt
/// gives a fresh key, so the zero nonce is never reused under one key, no nonce state has to
/// survive a restart or an amnesia (a reset counter would reuse nonces), and unlike random 96-bit
/// nonces under one key there is no practical bound on how many values one master key seals
/// (replays of one request may be answered any number of times).
fn seal_one_time(
    rng: &mut (impl CryptoRng + RngCore),
    master: &SecretBytes,
    label: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut salt = [0u8; STORAGE_SALT_LEN];
    rng.fill_bytes(&mut salt);
    let key = hkdf_32(Some(&salt), master.expose(), label);
    let ct = aead_seal(key.expose(), &[0u8; NONCE_LEN], aad, plaintext)?;
    let mut out = salt.to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens what [`seal_one_time`] sealed under `master` and `label`.
fn open_one_time(
    master: &SecretBytes,
    label: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let (salt, ct) = sealed
        .split_at_checked(STORAGE_SALT_LEN)
        .ok_or(CryptoError::Authentication)?;
    let key = hkdf_32(Some(salt), master.expose(), label);
    aead_open(key.expose(), &[0u8; NONCE_LEN], aad, ct)
}

fn digest(label: &'static [u8], parts: &[&[u8]]) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update(label);
    for part in parts {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        hasher.update(len.to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Length of the per-registration OPRF seed (the output length of OPAQUE's OPRF hash, SHA-512).
pub const OPRF_SEED_LEN: usize = 64;
/// Length of an OPAQUE `CredentialFinalization` (a SHA-512 MAC).
const CREDENTIAL_FINALIZATION_LEN: usize = 64;

struct HpkeKeys {
    private: <HpkeKem as hpke::Kem>::PrivateKey,
    public: <HpkeKem as hpke::Kem>::PublicKey,
}

fn opaque_ids(ids: Identities<'_>) -> opaque_ke::Identifiers<'_> {
    opaque_ke::Identifiers {
        client: Some(ids.account.as_bytes()),
        server: Some(ids.fleet.as_bytes()),
    }
}

fn map_login_error(e: opaque_ke::errors::ProtocolError) -> CryptoError {
    match e {
        opaque_ke::errors::ProtocolError::InvalidLoginError => CryptoError::WrongPassword,
        _ => CryptoError::Authentication,
    }
}

/// Magic at the start of an encoded fleet secrets file (SPEC.md "Fleet secrets encoding").
pub const FLEET_SECRETS_MAGIC: &[u8; 6] = b"E2EEFS";
/// Version of the fleet secrets encoding.
pub const FLEET_SECRETS_VERSION: u8 = 1;
/// Suite code of [`ProductionSuite`] in the fleet secrets encoding.
pub const FLEET_SUITE_PRODUCTION: u8 = 1;
/// Suite code of [`InsecureFastSuite`] in the fleet secrets encoding.
pub const FLEET_SUITE_INSECURE_FAST: u8 = 2;
/// Length of the encoded OPAQUE `ServerSetup` (OPRF seed 64, server private key 32, dummy
/// public key 32).
const OPAQUE_SETUP_LEN: usize = 128;
/// Length of an HPKE X25519 private key.
const HPKE_PRIVATE_LEN: usize = 32;

/// The fields of an encoded fleet secrets blob, borrowed from it (checked for framing and
/// lengths, not yet parsed as keys).
struct FleetSecretsParts<'a> {
    fleet_id: FleetId,
    opaque: &'a [u8],
    hpke_private: &'a [u8],
    storage_key: &'a [u8],
    replica_link_key: &'a [u8],
}

/// Encodes the fleet secrets (SPEC.md "Fleet secrets encoding") into one buffer allocated at
/// its final size, so no partial copy is left behind in freed memory.
fn encode_fleet_secrets(suite: u8, parts: &FleetSecretsParts<'_>) -> zeroize::Zeroizing<Vec<u8>> {
    let id = parts.fleet_id.as_bytes();
    let len = FLEET_SECRETS_MAGIC.len()
        + 2
        + 1
        + id.len()
        + 2
        + parts.opaque.len()
        + parts.hpke_private.len()
        + 2 * KEY_LEN;
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(len));
    out.extend_from_slice(FLEET_SECRETS_MAGIC);
    out.push(FLEET_SECRETS_VERSION);
    out.push(suite);
    // Fleet ids are 1..=255 bytes by construction.
    out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(id);
    out.extend_from_slice(
        &u16::try_from(parts.opaque.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(parts.opaque);
    out.extend_from_slice(parts.hpke_private);
    out.extend_from_slice(parts.storage_key);
    out.extend_from_slice(parts.replica_link_key);
    out
}

/// Splits an encoded fleet secrets blob of suite `suite`: right magic, version and suite, exact
/// field lengths, no trailing bytes.
fn decode_fleet_secrets(suite: u8, bytes: &[u8]) -> Result<FleetSecretsParts<'_>, CryptoError> {
    let mut r = crate::wire::codec::Reader::new(bytes);
    let m = |_| CryptoError::Malformed;
    if r.take(FLEET_SECRETS_MAGIC.len()).map_err(m)? != FLEET_SECRETS_MAGIC
        || r.u8().map_err(m)? != FLEET_SECRETS_VERSION
        || r.u8().map_err(m)? != suite
    {
        return Err(CryptoError::Malformed);
    }
    let fleet_id = FleetId::new(r.bytes8().map_err(m)?).map_err(|_| CryptoError::Malformed)?;
    let opaque = r.bytes16().map_err(m)?;
    if opaque.len() != OPAQUE_SETUP_LEN {
        return Err(CryptoError::Malformed);
    }
    let hpke_private = r.take(HPKE_PRIVATE_LEN).map_err(m)?;
    let storage_key = r.take(KEY_LEN).map_err(m)?;
    let replica_link_key = r.take(KEY_LEN).map_err(m)?;
    r.finish().map_err(m)?;
    Ok(FleetSecretsParts {
        fleet_id,
        opaque,
        hpke_private,
        storage_key,
        replica_link_key,
    })
}

/// A real suite: the real cryptography of this module with one choice of OPAQUE's key stretching
/// function, the only thing [`ProductionSuite`] and [`InsecureFastSuite`] differ in. Each
/// implementor is a [`CryptoSuite`]; the trait is sealed.
pub trait RealSuite:
    sealed::Sealed + Clone + Copy + core::fmt::Debug + Default + PartialEq + Eq + 'static
{
    /// OPAQUE's key stretching function.
    type Ksf: opaque_ke::ksf::Ksf;
    /// The suite's code in the fleet secrets encoding (SPEC.md "Fleet secrets encoding").
    const FLEET_SUITE_CODE: u8;
    /// The name its fleet secrets show in `Debug`.
    const FLEET_SECRETS_NAME: &'static str;
}

mod sealed {
    /// Only this module's suites are real suites.
    pub trait Sealed {}
    impl Sealed for super::ProductionSuite {}
    impl Sealed for super::InsecureFastSuite {}
}

/// The production suite: OPAQUE with Argon2id key stretching, HPKE, AES-256-GCM, HKDF-SHA256.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProductionSuite;

impl RealSuite for ProductionSuite {
    type Ksf = opaque_ke::argon2::Argon2<'static>;
    const FLEET_SUITE_CODE: u8 = FLEET_SUITE_PRODUCTION;
    const FLEET_SECRETS_NAME: &'static str = "ProductionFleetSecrets";
}

/// opaque-ke cipher suite of [`ProductionSuite`]: ristretto255, 3DH/SHA-512, Argon2id.
pub type ProductionOpaque = RealOpaque<ProductionSuite>;

/// Fleet secrets for [`ProductionSuite`]: OPAQUE server setup, HPKE key pair, storage key and
/// replica-link key. Redacted in `Debug`.
pub type ProductionFleetSecrets = RealFleetSecrets<ProductionSuite>;

/// **Unsafe for production.** [`ProductionSuite`] with the identity key stretching function, so
/// a stolen registration record is cheap to attack offline. For tests, model and simulator only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InsecureFastSuite;

impl RealSuite for InsecureFastSuite {
    type Ksf = opaque_ke::ksf::Identity;
    const FLEET_SUITE_CODE: u8 = FLEET_SUITE_INSECURE_FAST;
    const FLEET_SECRETS_NAME: &'static str = "InsecureFastFleetSecrets";
}

/// opaque-ke cipher suite of [`InsecureFastSuite`]: ristretto255, 3DH/SHA-512, identity KSF.
pub type InsecureFastOpaque = RealOpaque<InsecureFastSuite>;

/// Fleet secrets for [`InsecureFastSuite`]. Redacted in `Debug`.
pub type InsecureFastFleetSecrets = RealFleetSecrets<InsecureFastSuite>;

/// The opaque-ke cipher suite of the real suite `S`: ristretto255, 3DH with SHA-512, and `S`'s
/// key stretching function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RealOpaque<S>(PhantomData<S>);

impl<S: RealSuite> opaque_ke::CipherSuite for RealOpaque<S> {
    type OprfCs = opaque_ke::Ristretto255;
    type KeyExchange = opaque_ke::TripleDh<opaque_ke::Ristretto255, sha2::Sha512>;
    type Ksf = S::Ksf;
}

/// Fleet secrets of the real suite `S`: OPAQUE server setup, HPKE key pair, storage key and
/// replica-link key. Redacted in `Debug`.
pub struct RealFleetSecrets<S: RealSuite> {
    fleet_id: FleetId,
    opaque: opaque_ke::ServerSetup<RealOpaque<S>>,
    hpke: HpkeKeys,
    storage_key: SecretBytes,
    replica_link_key: SecretBytes,
}

impl<S: RealSuite> RealFleetSecrets<S> {
    /// Makes fresh fleet secrets (done once, inside the HSMs of a new fleet).
    pub fn generate(rng: &mut (impl CryptoRng + RngCore), fleet_id: FleetId) -> Self {
        let opaque = opaque_ke::ServerSetup::<RealOpaque<S>>::new(rng);
        let (private, public) = HpkeKem::gen_keypair(rng);
        let mut storage = [0u8; KEY_LEN];
        rng.fill_bytes(&mut storage);
        let mut link = [0u8; KEY_LEN];
        rng.fill_bytes(&mut link);
        Self {
            fleet_id,
            opaque,
            hpke: HpkeKeys { private, public },
            storage_key: SecretBytes::new(storage.to_vec()),
            replica_link_key: SecretBytes::new(link.to_vec()),
        }
    }

    /// Encodes the secrets for a provisioning file (SPEC.md "Fleet secrets encoding"):
    /// magic, version, suite code, fleet id, OPAQUE `ServerSetup`, HPKE private key,
    /// storage key, replica-link key. The buffer is zeroized when dropped.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let opaque = zeroize::Zeroizing::new(self.opaque.serialize().to_vec());
        let hpke_private = zeroize::Zeroizing::new(self.hpke.private.to_bytes().to_vec());
        encode_fleet_secrets(
            S::FLEET_SUITE_CODE,
            &FleetSecretsParts {
                fleet_id: self.fleet_id.clone(),
                opaque: &opaque,
                hpke_private: &hpke_private,
                storage_key: self.storage_key.expose(),
                replica_link_key: self.replica_link_key.expose(),
            },
        )
    }

    /// Decodes what [`Self::to_bytes`] wrote. Rejects another magic, version or suite,
    /// wrong field lengths, keys that do not parse and trailing bytes
    /// ([`CryptoError::Malformed`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let parts = decode_fleet_secrets(S::FLEET_SUITE_CODE, bytes)?;
        let opaque = opaque_ke::ServerSetup::<RealOpaque<S>>::deserialize(parts.opaque)
            .map_err(|_| CryptoError::Malformed)?;
        // The parser takes a prefix: the field must be exactly one setup.
        let again = zeroize::Zeroizing::new(opaque.serialize().to_vec());
        if again.as_slice() != parts.opaque {
            return Err(CryptoError::Malformed);
        }
        let private = <HpkeKem as hpke::Kem>::PrivateKey::from_bytes(parts.hpke_private)
            .map_err(|_| CryptoError::Malformed)?;
        let public = HpkeKem::sk_to_pk(&private);
        Ok(Self {
            fleet_id: parts.fleet_id,
            opaque,
            hpke: HpkeKeys { private, public },
            storage_key: SecretBytes::new(parts.storage_key.to_vec()),
            replica_link_key: SecretBytes::new(parts.replica_link_key.to_vec()),
        })
    }

    /// The fleet's identity.
    pub fn fleet_id(&self) -> &FleetId {
        &self.fleet_id
    }

    /// The fleet's OPAQUE server key pair with one registration's OPRF seed: OPAQUE then
    /// derives that registration's OPRF key from the seed and the account id, exactly as
    /// it would from a server-wide seed, but the seed is fresh for every registration and
    /// lives (sealed) in its record (SPEC.md "Per-registration OPRF seeds").
    fn registration_setup(
        rng: &mut (impl CryptoRng + RngCore),
        setup: &opaque_ke::ServerSetup<RealOpaque<S>>,
        oprf_seed: &SecretBytes,
    ) -> Result<opaque_ke::ServerSetup<RealOpaque<S>>, CryptoError> {
        if oprf_seed.expose().len() != OPRF_SEED_LEN {
            return Err(CryptoError::Malformed);
        }
        let mut bytes = oprf_seed.expose();
        let seed = <opaque_ke::keypair::OprfSeed<sha2::Sha512> as opaque_ke::keypair::OprfSeedSerialization<sha2::Sha512, core::convert::Infallible>>::deserialize_take(&mut bytes)
            .map_err(|_| CryptoError::Malformed)?;
        Ok(
            opaque_ke::ServerSetup::<RealOpaque<S>>::new_with_key_pair_and_seed(
                rng,
                setup.keypair().clone(),
                seed,
            ),
        )
    }

    /// The OPAQUE server setup (exposed for benchmarks against opaque-ke itself).
    pub fn opaque_server_setup(&self) -> &opaque_ke::ServerSetup<RealOpaque<S>> {
        &self.opaque
    }
}

impl<S: RealSuite> core::fmt::Debug for RealFleetSecrets<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct(S::FLEET_SECRETS_NAME)
            .field("fleet_id", &self.fleet_id)
            .finish_non_exhaustive()
    }
}

impl<S: RealSuite> CryptoSuite for S {
    type FleetSecrets = RealFleetSecrets<S>;
    type ClientRegistration = opaque_ke::ClientRegistration<RealOpaque<S>>;
    type ClientLogin = opaque_ke::ClientLogin<RealOpaque<S>>;

    fn fleet_id<'a>(&self, fleet: &'a RealFleetSecrets<S>) -> &'a FleetId {
        &fleet.fleet_id
    }

    fn fleet_public_keys(&self, fleet: &RealFleetSecrets<S>) -> FleetPublicKeys {
        FleetPublicKeys {
            fleet_id: fleet.fleet_id.clone(),
            hpke_public_key: fleet.hpke.public.to_bytes().to_vec(),
            opaque_server_public_key: fleet.opaque.keypair().public().serialize().to_vec(),
        }
    }

    fn client_registration_start(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        password: &[u8],
    ) -> Result<ClientRegistrationStart<Self::ClientRegistration>, CryptoError> {
        let r = opaque_ke::ClientRegistration::<RealOpaque<S>>::start(rng, password)
            .map_err(|_| CryptoError::Malformed)?;
        Ok(ClientRegistrationStart {
            message: r.message.serialize().to_vec(),
            state: r.state,
        })
    }

    fn client_registration_finish(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        state: Self::ClientRegistration,
        password: &[u8],
        response: &[u8],
        ids: Identities<'_>,
        pinned: &FleetPublicKeys,
    ) -> Result<ClientRegistrationFinish, CryptoError> {
        let response = opaque_ke::RegistrationResponse::<RealOpaque<S>>::deserialize(response)
            .map_err(|_| CryptoError::Malformed)?;
        let r = state
            .finish(
                rng,
                password,
                response,
                opaque_ke::ClientRegistrationFinishParameters::new(opaque_ids(ids), None),
            )
            .map_err(|_| CryptoError::Authentication)?;
        if r.server_s_pk.serialize().as_slice() != pinned.opaque_server_public_key.as_slice() {
            return Err(CryptoError::Authentication);
        }
        Ok(ClientRegistrationFinish {
            message: r.message.serialize().to_vec(),
            export_key: SecretBytes::new(r.export_key.to_vec()),
        })
    }

    fn client_login_start(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        password: &[u8],
    ) -> Result<ClientLoginStart<Self::ClientLogin>, CryptoError> {
        let r = opaque_ke::ClientLogin::<RealOpaque<S>>::start(rng, password)
            .map_err(|_| CryptoError::Malformed)?;
        Ok(ClientLoginStart {
            message: r.message.serialize().to_vec(),
            state: r.state,
        })
    }

    fn client_dummy_finalization(&self, rng: &mut (impl CryptoRng + RngCore)) -> Vec<u8> {
        let mut bytes = [0u8; CREDENTIAL_FINALIZATION_LEN];
        rng.fill_bytes(&mut bytes);
        bytes.to_vec()
    }

    fn client_login_finish(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        state: Self::ClientLogin,
        password: &[u8],
        response: &[u8],
        ids: Identities<'_>,
        pinned: &FleetPublicKeys,
    ) -> Result<ClientLoginFinish, CryptoError> {
        let response = opaque_ke::CredentialResponse::<RealOpaque<S>>::deserialize(response)
            .map_err(|_| CryptoError::Malformed)?;
        let params = opaque_ke::ClientLoginFinishParameters {
            context: Some(LABEL_OPAQUE_CONTEXT),
            identifiers: opaque_ids(ids),
            ksf: None,
        };
        let r = state
            .finish(rng, password, response, params)
            .map_err(map_login_error)?;
        if r.server_s_pk.serialize().as_slice() != pinned.opaque_server_public_key.as_slice() {
            return Err(CryptoError::Authentication);
        }
        Ok(ClientLoginFinish {
            message: r.message.serialize().to_vec(),
            session_key: SecretBytes::new(r.session_key.to_vec()),
            export_key: SecretBytes::new(r.export_key.to_vec()),
        })
    }

    fn new_oprf_seed(&self, rng: &mut (impl CryptoRng + RngCore)) -> SecretBytes {
        let mut seed = [0u8; OPRF_SEED_LEN];
        rng.fill_bytes(&mut seed);
        let out = SecretBytes::new(seed.to_vec());
        zeroize::Zeroize::zeroize(&mut seed);
        out
    }

    fn server_registration_start(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        fleet: &RealFleetSecrets<S>,
        oprf_seed: &SecretBytes,
        request: &[u8],
        account: &AccountId,
    ) -> Result<Vec<u8>, CryptoError> {
        let request = opaque_ke::RegistrationRequest::<RealOpaque<S>>::deserialize(request)
            .map_err(|_| CryptoError::Malformed)?;
        let setup = RealFleetSecrets::<S>::registration_setup(rng, &fleet.opaque, oprf_seed)?;
        let r = opaque_ke::ServerRegistration::<RealOpaque<S>>::start(
            &setup,
            request,
            account.as_bytes(),
        )
        .map_err(|_| CryptoError::Malformed)?;
        Ok(r.message.serialize().to_vec())
    }

    fn server_registration_finish(&self, upload: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let upload = opaque_ke::RegistrationUpload::<RealOpaque<S>>::deserialize(upload)
            .map_err(|_| CryptoError::Malformed)?;
        Ok(
            opaque_ke::ServerRegistration::<RealOpaque<S>>::finish(upload)
                .serialize()
                .to_vec(),
        )
    }

    fn server_login_start(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        fleet: &RealFleetSecrets<S>,
        oprf_seed: &SecretBytes,
        registration: &[u8],
        request: &[u8],
        ids: Identities<'_>,
    ) -> Result<ServerLoginStart, CryptoError> {
        let registration =
            opaque_ke::ServerRegistration::<RealOpaque<S>>::deserialize(registration)
                .map_err(|_| CryptoError::Malformed)?;
        let request = opaque_ke::CredentialRequest::<RealOpaque<S>>::deserialize(request)
            .map_err(|_| CryptoError::Malformed)?;
        let params = opaque_ke::ServerLoginParameters {
            context: Some(LABEL_OPAQUE_CONTEXT),
            identifiers: opaque_ids(ids),
        };
        let setup = RealFleetSecrets::<S>::registration_setup(rng, &fleet.opaque, oprf_seed)?;
        let r = opaque_ke::ServerLogin::<RealOpaque<S>>::start(
            rng,
            &setup,
            Some(registration),
            request,
            ids.account.as_bytes(),
            params,
        )
        .map_err(|_| CryptoError::Malformed)?;
        Ok(ServerLoginStart {
            message: r.message.serialize().to_vec(),
            state: SecretBytes::new(r.state.serialize().to_vec()),
        })
    }

    fn server_login_finish(
        &self,
        state: &[u8],
        finalization: &[u8],
        ids: Identities<'_>,
    ) -> Result<SecretBytes, CryptoError> {
        let state = opaque_ke::ServerLogin::<RealOpaque<S>>::deserialize(state)
            .map_err(|_| CryptoError::Malformed)?;
        let finalization =
            opaque_ke::CredentialFinalization::<RealOpaque<S>>::deserialize(finalization)
                .map_err(|_| CryptoError::Malformed)?;
        let params = opaque_ke::ServerLoginParameters {
            context: Some(LABEL_OPAQUE_CONTEXT),
            identifiers: opaque_ids(ids),
        };
        let r = state
            .finish(finalization, params)
            .map_err(|_| CryptoError::Authentication)?;
        Ok(SecretBytes::new(r.session_key.to_vec()))
    }

    fn seal_request(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        fleet: &FleetPublicKeys,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<SealedRequest, CryptoError> {
        seal_request(rng, fleet, aad, plaintext)
    }

    fn open_request(
        &self,
        fleet: &RealFleetSecrets<S>,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<OpenedRequest, CryptoError> {
        open_request(&fleet.hpke, &fleet.fleet_id, aad, sealed)
    }

    fn seal_reply(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        reply_key: &SecretBytes,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        seal_one_time(rng, reply_key, LABEL_REPLY_SEAL_KEY, aad, plaintext)
    }

    fn open_reply(
        &self,
        reply_key: &SecretBytes,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        open_one_time(reply_key, LABEL_REPLY_SEAL_KEY, aad, sealed)
    }

    fn wrap_backup_key(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        export_key: &SecretBytes,
        ids: Identities<'_>,
        backup_key: &BackupKey,
    ) -> Result<Vec<u8>, CryptoError> {
        wrap_backup_key(rng, export_key, ids, backup_key)
    }

    fn unwrap_backup_key(
        &self,
        export_key: &SecretBytes,
        ids: Identities<'_>,
        wrapped: &[u8],
    ) -> Result<BackupKey, CryptoError> {
        unwrap_backup_key(export_key, ids, wrapped)
    }

    fn record_proof(
        &self,
        export_key: &SecretBytes,
        label: &'static [u8],
        ids: Identities<'_>,
        generation: u64,
    ) -> Digest {
        record_proof(export_key, label, ids, generation)
    }

    fn seal_release(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        session_key: &SecretBytes,
        login_id: &[u8],
        wrapped: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let key = release_key(session_key, login_id);
        seal_one_time(
            rng,
            &key,
            LABEL_RELEASE_SEAL_KEY,
            LABEL_RELEASE_KEY,
            wrapped,
        )
    }

    fn open_release(
        &self,
        session_key: &SecretBytes,
        login_id: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let key = release_key(session_key, login_id);
        open_one_time(&key, LABEL_RELEASE_SEAL_KEY, LABEL_RELEASE_KEY, sealed)
    }

    fn seal_storage(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        fleet: &RealFleetSecrets<S>,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        seal_one_time(rng, &fleet.storage_key, LABEL_STORAGE_KEY, aad, plaintext)
    }

    fn open_storage(
        &self,
        fleet: &RealFleetSecrets<S>,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        open_one_time(&fleet.storage_key, LABEL_STORAGE_KEY, aad, sealed).map(SecretBytes::new)
    }

    fn digest(&self, label: &'static [u8], parts: &[&[u8]]) -> Digest {
        digest(label, parts)
    }

    fn seal_link(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        fleet: &RealFleetSecrets<S>,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        seal_one_time(rng, &fleet.replica_link_key, LABEL_LINK_KEY, aad, plaintext)
    }

    fn open_link(
        &self,
        fleet: &RealFleetSecrets<S>,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        open_one_time(&fleet.replica_link_key, LABEL_LINK_KEY, aad, sealed).map(SecretBytes::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn fleet() -> InsecureFastFleetSecrets {
        let id = FleetId::new(b"fleet-serialization").unwrap_or_else(|_| unreachable!());
        InsecureFastFleetSecrets::generate(&mut ChaCha20Rng::seed_from_u64(5), id)
    }

    #[test]
    fn fleet_secrets_round_trip_and_keep_every_key() {
        let suite = InsecureFastSuite;
        let original = fleet();
        let bytes = original.to_bytes();
        let Ok(decoded) = InsecureFastFleetSecrets::from_bytes(&bytes) else {
            panic!("the encoding must decode");
        };
        assert_eq!(decoded.to_bytes().as_slice(), bytes.as_slice());
        assert_eq!(
            suite.fleet_public_keys(&decoded),
            suite.fleet_public_keys(&original)
        );
        // The decoded secrets open what the original sealed, under every key.
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let sealed = suite.seal_storage(&mut rng, &original, b"aad", b"record");
        let sealed = sealed.unwrap_or_default();
        let opened = suite
            .open_storage(&decoded, b"aad", &sealed)
            .map(|s| s.expose().to_vec());
        assert_eq!(opened, Ok(b"record".to_vec()));
        let link = suite
            .seal_link(&mut rng, &original, b"aad", b"peer")
            .unwrap_or_default();
        let opened = suite
            .open_link(&decoded, b"aad", &link)
            .map(|s| s.expose().to_vec());
        assert_eq!(opened, Ok(b"peer".to_vec()));
        let public = suite.fleet_public_keys(&original);
        let request = suite.seal_request(&mut rng, &public, b"aad", b"request");
        let request = request.map(|r| r.sealed).unwrap_or_default();
        let opened = suite
            .open_request(&decoded, b"aad", &request)
            .map(|o| o.plaintext);
        assert_eq!(opened, Ok(b"request".to_vec()));
    }

    #[test]
    fn fleet_secrets_reject_truncated_extended_and_foreign_blobs() {
        let bytes = fleet().to_bytes();
        let decode = |b: &[u8]| InsecureFastFleetSecrets::from_bytes(b).map(|_| ());
        assert_eq!(decode(&bytes), Ok(()));
        for cut in 0..bytes.len() {
            assert_eq!(
                decode(&bytes[..cut]),
                Err(CryptoError::Malformed),
                "cut at {cut}"
            );
        }
        let mut extended = bytes.to_vec();
        extended.push(0);
        assert_eq!(decode(&extended), Err(CryptoError::Malformed));
        let mut wrong_version = bytes.to_vec();
        wrong_version[FLEET_SECRETS_MAGIC.len()] = FLEET_SECRETS_VERSION + 1;
        assert_eq!(decode(&wrong_version), Err(CryptoError::Malformed));
        let mut wrong_magic = bytes.to_vec();
        wrong_magic[0] ^= 1;
        assert_eq!(decode(&wrong_magic), Err(CryptoError::Malformed));
        // An insecure fleet never loads as a production one (the suite code differs).
        assert!(ProductionFleetSecrets::from_bytes(&bytes).is_err());
    }

    #[test]
    fn fleet_public_keys_round_trip_and_reject_truncated_or_extended_files() {
        let public = InsecureFastSuite.fleet_public_keys(&fleet());
        let bytes = public.to_bytes();
        assert_eq!(FleetPublicKeys::from_bytes(&bytes), Ok(public));
        for cut in 0..bytes.len() {
            assert_eq!(
                FleetPublicKeys::from_bytes(&bytes[..cut]),
                Err(CryptoError::Malformed)
            );
        }
        let mut extended = bytes.clone();
        extended.push(0);
        assert_eq!(
            FleetPublicKeys::from_bytes(&extended),
            Err(CryptoError::Malformed)
        );
        let mut wrong_version = bytes;
        wrong_version[super::super::FLEET_PUBLIC_KEYS_MAGIC.len()] ^= 0x80;
        assert_eq!(
            FleetPublicKeys::from_bytes(&wrong_version),
            Err(CryptoError::Malformed)
        );
    }
}
