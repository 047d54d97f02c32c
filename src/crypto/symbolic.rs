//! A symbolic [`CryptoSuite`] for the model checker (SPEC.md "Model checking").
//!
//! **Unfit for anything but checking: it protects nothing.** Every "key", "seal" and "proof" here
//! is a readable token: a tag byte followed by length-prefixed fields. A seal is the key token, the
//! associated data and the plaintext side by side; opening compares the key token and the
//! associated data and hands the plaintext back. The tokens are small, deterministic and
//! hashable, so the states of the model checker repeat and can be compared.
//!
//! Through the [`CryptoSuite`] interface the suite keeps the properties the checker relies on:
//! - a login made with a password other than the registered one cannot finish
//!   ([`CryptoError::WrongPassword`] on the client, and no finalization the vault accepts);
//! - a request opens only with the fleet secrets and the same associated data (account and kind),
//!   so the relay, which has no fleet secrets, cannot open it through the interface;
//! - a reply opens only under the reply key of its request, a release only under the session key
//!   of its login, a wrapped key only under the export key of its password;
//! - the client accepts only responses that name its pinned fleet.
//!
//! Randomness comes only from the RNG argument (request nonces, login nonces), so a model that
//! feeds a deterministic RNG gets deterministic states. [`inspect`] lets the checker read
//! inside tokens (which password a session was made with, what a sealed reply says); the roles
//! never call it.

use alloc::vec::Vec;

use rand_core::{CryptoRng, RngCore};
use sha2::{Digest as _, Sha256};

use super::{
    ClientLoginFinish, ClientLoginStart, ClientRegistrationFinish, ClientRegistrationStart,
    CryptoError, CryptoSuite, DIGEST_LEN, Digest, FleetPublicKeys, Identities, OpenedRequest,
    SealedRequest, SecretBytes, ServerLoginStart,
};
use crate::backup_key::{BACKUP_KEY_LEN, BackupKey};
use crate::ids::FleetId;

/// Token tags (one byte each; version 1 of the symbolic encoding).
mod tag {
    pub(super) const HPKE_PUBLIC_KEY: u8 = 0x01;
    pub(super) const OPAQUE_PUBLIC_KEY: u8 = 0x02;
    pub(super) const REGISTRATION_REQUEST: u8 = 0x10;
    pub(super) const REGISTRATION_RESPONSE: u8 = 0x11;
    pub(super) const REGISTRATION_UPLOAD: u8 = 0x12;
    pub(super) const ENVELOPE: u8 = 0x13;
    pub(super) const EXPORT_KEY: u8 = 0x14;
    pub(super) const CREDENTIAL_REQUEST: u8 = 0x20;
    pub(super) const CREDENTIAL_RESPONSE: u8 = 0x21;
    pub(super) const SERVER_LOGIN: u8 = 0x22;
    pub(super) const SESSION_KEY: u8 = 0x23;
    pub(super) const CREDENTIAL_FINALIZATION: u8 = 0x24;
    pub(super) const REPLY_KEY: u8 = 0x30;
    pub(super) const REQUEST: u8 = 0x31;
    pub(super) const REPLY: u8 = 0x32;
    pub(super) const WRAPPED_KEY: u8 = 0x40;
    pub(super) const RELEASE: u8 = 0x41;
    pub(super) const STORAGE: u8 = 0x42;
    pub(super) const OPRF_SEED: u8 = 0x50;
    pub(super) const OPRF_KEY: u8 = 0x51;
}

/// The symbolic suite. Zero-sized; every method is a pure function of its inputs and the RNG.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SymbolicSuite;

/// The fleet's "secrets": only its id (holding this value is what lets a role open requests).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SymbolicFleetSecrets {
    fleet_id: FleetId,
}

impl SymbolicFleetSecrets {
    /// The symbolic secrets of fleet `fleet_id`.
    pub fn new(fleet_id: FleetId) -> Self {
        Self { fleet_id }
    }
}

/// Client state between an OPAQUE start and finish: the nonce of the first message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SymbolicClientState {
    nonce: [u8; 8],
}

/// Builds a token: `tag`, then each field as a u32 big-endian length and its bytes.
fn token(tag: u8, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + fields.iter().map(|f| 4 + f.len()).sum::<usize>());
    out.push(tag);
    for field in fields {
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

/// Parses a token of `tag` with exactly `N` fields and no trailing bytes.
fn fields<const N: usize>(tag: u8, bytes: &[u8]) -> Result<[&[u8]; N], CryptoError> {
    let (&first, mut rest) = bytes.split_first().ok_or(CryptoError::Malformed)?;
    if first != tag {
        return Err(CryptoError::Malformed);
    }
    let mut out: [&[u8]; N] = [&[]; N];
    for slot in &mut out {
        let (len, tail) = rest.split_at_checked(4).ok_or(CryptoError::Malformed)?;
        let len = u32::from_be_bytes(len.try_into().map_err(|_| CryptoError::Malformed)?);
        let len = usize::try_from(len).map_err(|_| CryptoError::Malformed)?;
        let (field, tail) = tail.split_at_checked(len).ok_or(CryptoError::Malformed)?;
        *slot = field;
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(CryptoError::Malformed);
    }
    Ok(out)
}

fn nonce(rng: &mut (impl CryptoRng + RngCore)) -> [u8; 8] {
    rng.next_u64().to_be_bytes()
}

fn require(condition: bool) -> Result<(), CryptoError> {
    if condition {
        Ok(())
    } else {
        Err(CryptoError::Authentication)
    }
}

fn hpke_public_key(fleet_id: &FleetId) -> Vec<u8> {
    token(tag::HPKE_PUBLIC_KEY, &[fleet_id.as_bytes()])
}

fn opaque_public_key(fleet_id: &FleetId) -> Vec<u8> {
    token(tag::OPAQUE_PUBLIC_KEY, &[fleet_id.as_bytes()])
}

/// The envelope binds the password to the OPRF key it was registered under: in OPAQUE the
/// envelope opens only with the OPRF output of the same password under the same key.
fn envelope(ids: Identities<'_>, password: &[u8], oprf_key: &[u8]) -> Vec<u8> {
    token(
        tag::ENVELOPE,
        &[
            ids.account.as_bytes(),
            ids.fleet.as_bytes(),
            password,
            oprf_key,
        ],
    )
}

/// The OPRF key OPAQUE derives from a seed and the account id (the credential identifier).
fn oprf_key(seed: &SecretBytes, account: &[u8]) -> Vec<u8> {
    token(tag::OPRF_KEY, &[seed.expose(), account])
}

fn export_key(ids: Identities<'_>, password: &[u8]) -> SecretBytes {
    SecretBytes::new(token(
        tag::EXPORT_KEY,
        &[ids.account.as_bytes(), ids.fleet.as_bytes(), password],
    ))
}

fn session_key(client_nonce: &[u8], server_nonce: &[u8], password: &[u8]) -> Vec<u8> {
    token(tag::SESSION_KEY, &[client_nonce, server_nonce, password])
}

fn sha256_parts(label: &[u8], parts: &[&[u8]]) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update(label);
    for part in parts {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        hasher.update(len.to_be_bytes());
        hasher.update(part);
    }
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(&hasher.finalize());
    out
}

impl CryptoSuite for SymbolicSuite {
    type FleetSecrets = SymbolicFleetSecrets;
    type ClientRegistration = SymbolicClientState;
    type ClientLogin = SymbolicClientState;

    fn fleet_id<'a>(&self, fleet: &'a Self::FleetSecrets) -> &'a FleetId {
        &fleet.fleet_id
    }

    fn fleet_public_keys(&self, fleet: &Self::FleetSecrets) -> FleetPublicKeys {
        FleetPublicKeys {
            fleet_id: fleet.fleet_id.clone(),
            hpke_public_key: hpke_public_key(&fleet.fleet_id),
            opaque_server_public_key: opaque_public_key(&fleet.fleet_id),
        }
    }

    fn client_registration_start(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        _password: &[u8],
    ) -> Result<ClientRegistrationStart<Self::ClientRegistration>, CryptoError> {
        let nonce = nonce(rng);
        Ok(ClientRegistrationStart {
            message: token(tag::REGISTRATION_REQUEST, &[&nonce]),
            state: SymbolicClientState { nonce },
        })
    }

    fn client_registration_finish(
        &self,
        _rng: &mut (impl CryptoRng + RngCore),
        state: Self::ClientRegistration,
        password: &[u8],
        response: &[u8],
        ids: Identities<'_>,
        pinned: &FleetPublicKeys,
    ) -> Result<ClientRegistrationFinish, CryptoError> {
        let [nonce, server_key, oprf_key] = fields(tag::REGISTRATION_RESPONSE, response)?;
        require(nonce == state.nonce && server_key == pinned.opaque_server_public_key)?;
        require(ids.fleet == &pinned.fleet_id)?;
        Ok(ClientRegistrationFinish {
            message: token(
                tag::REGISTRATION_UPLOAD,
                &[&envelope(ids, password, oprf_key)],
            ),
            export_key: export_key(ids, password),
        })
    }

    fn client_login_start(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        _password: &[u8],
    ) -> Result<ClientLoginStart<Self::ClientLogin>, CryptoError> {
        let nonce = nonce(rng);
        Ok(ClientLoginStart {
            message: token(tag::CREDENTIAL_REQUEST, &[&nonce]),
            state: SymbolicClientState { nonce },
        })
    }

    fn client_dummy_finalization(&self, rng: &mut (impl CryptoRng + RngCore)) -> Vec<u8> {
        token(tag::CREDENTIAL_FINALIZATION, &[&nonce(rng)])
    }

    fn client_login_finish(
        &self,
        _rng: &mut (impl CryptoRng + RngCore),
        state: Self::ClientLogin,
        password: &[u8],
        response: &[u8],
        ids: Identities<'_>,
        pinned: &FleetPublicKeys,
    ) -> Result<ClientLoginFinish, CryptoError> {
        let [
            client_nonce,
            server_nonce,
            sealed_envelope,
            server_key,
            evaluated_under,
        ] = fields(tag::CREDENTIAL_RESPONSE, response)?;
        require(client_nonce == state.nonce && server_key == pinned.opaque_server_public_key)?;
        let [account, fleet, registered_password, registered_under] =
            fields(tag::ENVELOPE, sealed_envelope)?;
        require(account == ids.account.as_bytes() && fleet == ids.fleet.as_bytes())?;
        // An evaluation under another OPRF key than the envelope's gives another OPRF output:
        // the envelope does not open, exactly as with a wrong password.
        if registered_password != password || evaluated_under != registered_under {
            return Err(CryptoError::WrongPassword);
        }
        let session = session_key(client_nonce, server_nonce, password);
        Ok(ClientLoginFinish {
            message: token(tag::CREDENTIAL_FINALIZATION, &[&session]),
            session_key: SecretBytes::new(session),
            export_key: export_key(ids, password),
        })
    }

    fn new_oprf_seed(&self, rng: &mut (impl CryptoRng + RngCore)) -> SecretBytes {
        SecretBytes::new(token(tag::OPRF_SEED, &[&nonce(rng)]))
    }

    fn server_registration_start(
        &self,
        _rng: &mut (impl CryptoRng + RngCore),
        fleet: &Self::FleetSecrets,
        oprf_seed: &SecretBytes,
        request: &[u8],
        account: &crate::ids::AccountId,
    ) -> Result<Vec<u8>, CryptoError> {
        let [nonce] = fields(tag::REGISTRATION_REQUEST, request)?;
        Ok(token(
            tag::REGISTRATION_RESPONSE,
            &[
                nonce,
                &opaque_public_key(&fleet.fleet_id),
                &oprf_key(oprf_seed, account.as_bytes()),
            ],
        ))
    }

    fn server_registration_finish(&self, upload: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let [sealed_envelope] = fields(tag::REGISTRATION_UPLOAD, upload)?;
        let [_account, _fleet, _password, _oprf_key] = fields(tag::ENVELOPE, sealed_envelope)?;
        Ok(sealed_envelope.to_vec())
    }

    fn server_login_start(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        fleet: &Self::FleetSecrets,
        oprf_seed: &SecretBytes,
        registration: &[u8],
        request: &[u8],
        ids: Identities<'_>,
    ) -> Result<ServerLoginStart, CryptoError> {
        let [client_nonce] = fields(tag::CREDENTIAL_REQUEST, request)?;
        let [account, fleet_id, _password, _oprf_key] = fields(tag::ENVELOPE, registration)?;
        require(account == ids.account.as_bytes() && fleet_id == fleet.fleet_id.as_bytes())?;
        let server_nonce = nonce(rng);
        Ok(ServerLoginStart {
            message: token(
                tag::CREDENTIAL_RESPONSE,
                &[
                    client_nonce,
                    &server_nonce,
                    registration,
                    &opaque_public_key(&fleet.fleet_id),
                    &oprf_key(oprf_seed, ids.account.as_bytes()),
                ],
            ),
            state: SecretBytes::new(token(
                tag::SERVER_LOGIN,
                &[client_nonce, &server_nonce, registration],
            )),
        })
    }

    fn server_login_finish(
        &self,
        state: &[u8],
        finalization: &[u8],
        ids: Identities<'_>,
    ) -> Result<SecretBytes, CryptoError> {
        let [client_nonce, server_nonce, registration] = fields(tag::SERVER_LOGIN, state)?;
        let [account, fleet, password, _oprf_key] = fields(tag::ENVELOPE, registration)?;
        require(account == ids.account.as_bytes() && fleet == ids.fleet.as_bytes())?;
        let expected = session_key(client_nonce, server_nonce, password);
        let [session] = fields(tag::CREDENTIAL_FINALIZATION, finalization)?;
        require(session == expected.as_slice())?;
        Ok(SecretBytes::new(expected))
    }

    fn seal_request(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        fleet: &FleetPublicKeys,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<SealedRequest, CryptoError> {
        let reply_key = token(tag::REPLY_KEY, &[&nonce(rng)]);
        Ok(SealedRequest {
            sealed: token(
                tag::REQUEST,
                &[&fleet.hpke_public_key, &reply_key, aad, plaintext],
            ),
            reply_key: SecretBytes::new(reply_key),
        })
    }

    fn open_request(
        &self,
        fleet: &Self::FleetSecrets,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<OpenedRequest, CryptoError> {
        let [public_key, reply_key, sealed_aad, plaintext] =
            fields(tag::REQUEST, sealed).map_err(|_| CryptoError::Authentication)?;
        require(public_key == hpke_public_key(&fleet.fleet_id).as_slice() && sealed_aad == aad)?;
        Ok(OpenedRequest {
            plaintext: plaintext.to_vec(),
            reply_key: SecretBytes::new(reply_key.to_vec()),
        })
    }

    fn seal_reply(
        &self,
        _rng: &mut (impl CryptoRng + RngCore),
        reply_key: &SecretBytes,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Ok(token(tag::REPLY, &[reply_key.expose(), aad, plaintext]))
    }

    fn open_reply(
        &self,
        reply_key: &SecretBytes,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let [key, sealed_aad, plaintext] =
            fields(tag::REPLY, sealed).map_err(|_| CryptoError::Authentication)?;
        require(key == reply_key.expose() && sealed_aad == aad)?;
        Ok(plaintext.to_vec())
    }

    fn wrap_backup_key(
        &self,
        _rng: &mut (impl CryptoRng + RngCore),
        export_key: &SecretBytes,
        ids: Identities<'_>,
        backup_key: &BackupKey,
    ) -> Result<Vec<u8>, CryptoError> {
        Ok(token(
            tag::WRAPPED_KEY,
            &[
                export_key.expose(),
                ids.account.as_bytes(),
                ids.fleet.as_bytes(),
                backup_key.as_bytes(),
            ],
        ))
    }

    fn unwrap_backup_key(
        &self,
        export_key: &SecretBytes,
        ids: Identities<'_>,
        wrapped: &[u8],
    ) -> Result<BackupKey, CryptoError> {
        let [key, account, fleet, backup_key] =
            fields(tag::WRAPPED_KEY, wrapped).map_err(|_| CryptoError::Authentication)?;
        require(
            key == export_key.expose()
                && account == ids.account.as_bytes()
                && fleet == ids.fleet.as_bytes(),
        )?;
        let bytes: [u8; BACKUP_KEY_LEN] = backup_key
            .try_into()
            .map_err(|_| CryptoError::Authentication)?;
        Ok(BackupKey::from_bytes(bytes))
    }

    fn record_proof(
        &self,
        export_key: &SecretBytes,
        label: &'static [u8],
        ids: Identities<'_>,
        generation: u64,
    ) -> Digest {
        sha256_parts(
            label,
            &[
                export_key.expose(),
                ids.account.as_bytes(),
                ids.fleet.as_bytes(),
                &generation.to_be_bytes(),
            ],
        )
    }

    fn seal_release(
        &self,
        _rng: &mut (impl CryptoRng + RngCore),
        session_key: &SecretBytes,
        login_id: &[u8],
        wrapped: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Ok(token(
            tag::RELEASE,
            &[session_key.expose(), login_id, wrapped],
        ))
    }

    fn open_release(
        &self,
        session_key: &SecretBytes,
        login_id: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let [key, sealed_login_id, wrapped] =
            fields(tag::RELEASE, sealed).map_err(|_| CryptoError::Authentication)?;
        require(key == session_key.expose() && sealed_login_id == login_id)?;
        Ok(wrapped.to_vec())
    }

    fn seal_storage(
        &self,
        _rng: &mut (impl CryptoRng + RngCore),
        fleet: &Self::FleetSecrets,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Ok(token(
            tag::STORAGE,
            &[fleet.fleet_id.as_bytes(), aad, plaintext],
        ))
    }

    fn open_storage(
        &self,
        fleet: &Self::FleetSecrets,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let [fleet_id, sealed_aad, plaintext] =
            fields(tag::STORAGE, sealed).map_err(|_| CryptoError::Authentication)?;
        require(fleet_id == fleet.fleet_id.as_bytes() && sealed_aad == aad)?;
        Ok(SecretBytes::new(plaintext.to_vec()))
    }

    fn digest(&self, label: &'static [u8], parts: &[&[u8]]) -> Digest {
        sha256_parts(label, parts)
    }
}

/// Reading inside symbolic tokens: for the model checker's properties only (the roles never
/// call these).
pub mod inspect {
    use alloc::vec::Vec;

    use super::{fields, tag};

    /// The plaintext inside a sealed reply.
    pub fn reply_plaintext(sealed: &[u8]) -> Option<Vec<u8>> {
        let [_key, _aad, plaintext] = fields(tag::REPLY, sealed).ok()?;
        Some(plaintext.to_vec())
    }

    /// The plaintext inside bytes sealed for storage (a persisted record).
    pub fn storage_plaintext(sealed: &[u8]) -> Option<Vec<u8>> {
        let [_fleet, _aad, plaintext] = fields(tag::STORAGE, sealed).ok()?;
        Some(plaintext.to_vec())
    }

    /// The OPRF key a vault answer was computed under: a `RegistrationResponse` or a
    /// `CredentialResponse` (the model counts every such answer under a live record's key as
    /// a password test, SPEC.md INV-ATTEMPTS).
    pub fn oprf_key_of_response(response: &[u8]) -> Option<Vec<u8>> {
        if let Ok([_nonce, _server_key, key]) = fields(tag::REGISTRATION_RESPONSE, response) {
            return Some(key.to_vec());
        }
        let [_client, _server, _envelope, _server_key, key] =
            fields(tag::CREDENTIAL_RESPONSE, response).ok()?;
        Some(key.to_vec())
    }

    /// The OPRF key a registration (`opaque_registration` of a record) was made under.
    pub fn oprf_key_of_registration(registration: &[u8]) -> Option<Vec<u8>> {
        let [_account, _fleet, _password, key] = fields(tag::ENVELOPE, registration).ok()?;
        Some(key.to_vec())
    }

    /// The password inside a registration's envelope.
    pub fn password_of_registration(registration: &[u8]) -> Option<Vec<u8>> {
        let [_account, _fleet, password, _key] = fields(tag::ENVELOPE, registration).ok()?;
        Some(password.to_vec())
    }

    /// What a sealed release holds.
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    pub struct Release {
        /// The password the login's session was made with.
        pub session_password: Vec<u8>,
        /// The login the release belongs to.
        pub login_id: Vec<u8>,
        /// The backup key inside the wrapped key.
        pub backup_key: Vec<u8>,
    }

    /// Reads a sealed release (`KeyReleased.sealed_wrapped_key`).
    pub fn release(sealed: &[u8]) -> Option<Release> {
        let [session, login_id, wrapped] = fields(tag::RELEASE, sealed).ok()?;
        let [_client_nonce, _server_nonce, password] = fields(tag::SESSION_KEY, session).ok()?;
        let [_export_key, _account, _fleet, backup_key] = fields(tag::WRAPPED_KEY, wrapped).ok()?;
        Some(Release {
            session_password: password.to_vec(),
            login_id: login_id.to_vec(),
            backup_key: backup_key.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::labels::LABEL_PROOF_CHECK;
    use crate::ids::AccountId;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn setup() -> (
        SymbolicSuite,
        SymbolicFleetSecrets,
        FleetPublicKeys,
        AccountId,
    ) {
        let suite = SymbolicSuite;
        let fleet = SymbolicFleetSecrets::new(FleetId::new(b"fleet").unwrap());
        let pinned = suite.fleet_public_keys(&fleet);
        (suite, fleet, pinned, AccountId::new(b"alice").unwrap())
    }

    fn seed() -> SecretBytes {
        SymbolicSuite.new_oprf_seed(&mut ChaCha20Rng::seed_from_u64(9))
    }

    fn registration(password: &[u8]) -> Vec<u8> {
        let (suite, fleet, pinned, account) = setup();
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let ids = Identities {
            account: &account,
            fleet: &pinned.fleet_id,
        };
        let start = suite.client_registration_start(&mut rng, password).unwrap();
        let response = suite
            .server_registration_start(&mut rng, &fleet, &seed(), &start.message, &account)
            .unwrap();
        let finish = suite
            .client_registration_finish(&mut rng, start.state, password, &response, ids, &pinned)
            .unwrap();
        suite.server_registration_finish(&finish.message).unwrap()
    }

    fn login(password: &[u8], registered: &[u8]) -> Result<SecretBytes, CryptoError> {
        let (suite, fleet, pinned, account) = setup();
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let ids = Identities {
            account: &account,
            fleet: &pinned.fleet_id,
        };
        let record = registration(registered);
        let start = suite.client_login_start(&mut rng, password).unwrap();
        let server = suite
            .server_login_start(&mut rng, &fleet, &seed(), &record, &start.message, ids)
            .unwrap();
        let finish = suite.client_login_finish(
            &mut rng,
            start.state,
            password,
            &server.message,
            ids,
            &pinned,
        )?;
        let key = suite.server_login_finish(server.state.expose(), &finish.message, ids)?;
        assert_eq!(key, finish.session_key);
        Ok(key)
    }

    #[test]
    fn login_with_the_registered_password_agrees_on_a_session_key() {
        assert!(login(b"right", b"right").is_ok());
    }

    #[test]
    fn login_with_another_password_cannot_finish() {
        assert_eq!(login(b"wrong", b"right"), Err(CryptoError::WrongPassword));
    }

    #[test]
    fn reply_opens_only_under_its_request_reply_key() {
        let (suite, fleet, pinned, _) = setup();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let a = suite
            .seal_request(&mut rng, &pinned, b"aad", b"one")
            .unwrap();
        let b = suite
            .seal_request(&mut rng, &pinned, b"aad", b"two")
            .unwrap();
        assert_ne!(a.reply_key, b.reply_key);
        let opened = suite.open_request(&fleet, b"aad", &a.sealed).unwrap();
        assert_eq!(opened.plaintext, b"one");
        let reply = suite
            .seal_reply(&mut rng, &opened.reply_key, b"r", b"answer")
            .unwrap();
        assert_eq!(
            suite.open_reply(&a.reply_key, b"r", &reply).unwrap(),
            b"answer"
        );
        assert!(suite.open_reply(&b.reply_key, b"r", &reply).is_err());
        assert!(suite.open_reply(&a.reply_key, b"x", &reply).is_err());
    }

    #[test]
    fn request_opens_only_with_the_fleet_and_its_associated_data() {
        let (suite, _, pinned, _) = setup();
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let other = SymbolicFleetSecrets::new(FleetId::new(b"other").unwrap());
        let sealed = suite.seal_request(&mut rng, &pinned, b"aad", b"p").unwrap();
        assert!(suite.open_request(&other, b"aad", &sealed.sealed).is_err());
        let (_, fleet, _, _) = setup();
        assert!(
            suite
                .open_request(&fleet, b"other", &sealed.sealed)
                .is_err()
        );
    }

    #[test]
    fn tokens_reject_trailing_bytes_and_truncation() {
        let (suite, fleet, _, _) = setup();
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut sealed = suite.seal_storage(&mut rng, &fleet, b"a", b"p").unwrap();
        assert!(suite.open_storage(&fleet, b"a", &sealed).is_ok());
        sealed.push(0);
        assert!(suite.open_storage(&fleet, b"a", &sealed).is_err());
        sealed.truncate(sealed.len() - 2);
        assert!(suite.open_storage(&fleet, b"a", &sealed).is_err());
        assert_ne!(
            suite.digest(LABEL_PROOF_CHECK, &[b"a"]),
            suite.digest(LABEL_PROOF_CHECK, &[b"b"])
        );
    }
}
