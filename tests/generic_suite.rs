//! The roles are generic over `CryptoSuite`: a tiny, transparent, deterministic fake suite (no
//! real cryptography, test-only) drives the real client, relay and vault through register,
//! wrong password, recovery and lockout. This is the seam the model checker's symbolic suite uses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use e2ee_backup::BackupKey;
use e2ee_backup::client::ClientOutcome;
use e2ee_backup::crypto::{
    ClientLoginFinish, ClientLoginStart, ClientRegistrationFinish, ClientRegistrationStart,
    CryptoError, CryptoSuite, Digest, FleetPublicKeys, Identities, OpenedRequest, SealedRequest,
    SecretBytes, ServerLoginStart,
};
use e2ee_backup::ids::{AccountId, FleetId};
use e2ee_backup::relay::RelayConfig;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest as _, Sha256};
use support::{Net, account, fleet_id};

/// Transparent fake: "seals" are plaintext followed by a 32-byte tag; OPAQUE is replaced by
/// comparing password digests. Insecure by design; it only proves the roles are generic.
#[derive(Clone, Copy, Debug, Default)]
struct FakeSuite;

struct FakeFleet {
    id: FleetId,
}

fn h(parts: &[&[u8]]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for p in parts {
        hasher.update((p.len() as u32).to_be_bytes());
        hasher.update(p);
    }
    hasher.finalize().to_vec()
}

fn tag(msg: &[u8], key: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut out = msg.to_vec();
    out.extend_from_slice(&h(&[key, aad, msg]));
    out
}

fn untag(sealed: &[u8], key: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cut = sealed
        .len()
        .checked_sub(32)
        .ok_or(CryptoError::Authentication)?;
    let (msg, t) = sealed.split_at(cut);
    if h(&[key, aad, msg]) == t {
        Ok(msg.to_vec())
    } else {
        Err(CryptoError::Authentication)
    }
}

impl CryptoSuite for FakeSuite {
    type FleetSecrets = FakeFleet;
    type ClientRegistration = Vec<u8>;
    type ClientLogin = (Vec<u8>, Vec<u8>);

    fn fleet_id<'a>(&self, fleet: &'a FakeFleet) -> &'a FleetId {
        &fleet.id
    }
    fn fleet_public_keys(&self, fleet: &FakeFleet) -> FleetPublicKeys {
        FleetPublicKeys {
            fleet_id: fleet.id.clone(),
            hpke_public_key: b"fleet".to_vec(),
            opaque_server_public_key: b"fleet".to_vec(),
        }
    }
    fn client_registration_start(
        &self,
        _: &mut (impl CryptoRng + RngCore),
        pw: &[u8],
    ) -> Result<ClientRegistrationStart<Vec<u8>>, CryptoError> {
        Ok(ClientRegistrationStart {
            message: b"register".to_vec(),
            state: pw.to_vec(),
        })
    }
    fn client_registration_finish(
        &self,
        _: &mut (impl CryptoRng + RngCore),
        pw: Vec<u8>,
        _password: &[u8],
        _: &[u8],
        _: Identities<'_>,
        _: &FleetPublicKeys,
    ) -> Result<ClientRegistrationFinish, CryptoError> {
        Ok(ClientRegistrationFinish {
            message: h(&[b"pw", &pw]),
            export_key: SecretBytes::new(h(&[b"export", &pw])),
        })
    }
    fn client_login_start(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
        pw: &[u8],
    ) -> Result<ClientLoginStart<(Vec<u8>, Vec<u8>)>, CryptoError> {
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        Ok(ClientLoginStart {
            message: nonce.to_vec(),
            state: (pw.to_vec(), nonce.to_vec()),
        })
    }
    fn client_login_finish(
        &self,
        _: &mut (impl CryptoRng + RngCore),
        (pw, nonce): (Vec<u8>, Vec<u8>),
        _password: &[u8],
        response: &[u8],
        _: Identities<'_>,
        _: &FleetPublicKeys,
    ) -> Result<ClientLoginFinish, CryptoError> {
        let registration = h(&[b"pw", &pw]);
        if response != h(&[b"challenge", &registration, &nonce]) {
            return Err(CryptoError::WrongPassword);
        }
        Ok(ClientLoginFinish {
            message: h(&[b"finish", &registration, &nonce]),
            session_key: SecretBytes::new(h(&[b"session", &registration, &nonce])),
            export_key: SecretBytes::new(h(&[b"export", &pw])),
        })
    }
    fn server_registration_start(
        &self,
        _: &FakeFleet,
        _: &[u8],
        _: &AccountId,
    ) -> Result<Vec<u8>, CryptoError> {
        Ok(b"ok".to_vec())
    }
    fn server_registration_finish(&self, upload: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Ok(upload.to_vec())
    }
    fn server_login_start(
        &self,
        _: &mut (impl CryptoRng + RngCore),
        _: &FakeFleet,
        registration: &[u8],
        request: &[u8],
        _: Identities<'_>,
    ) -> Result<ServerLoginStart, CryptoError> {
        let mut state = registration.to_vec();
        state.extend_from_slice(request);
        Ok(ServerLoginStart {
            message: h(&[b"challenge", registration, request]),
            state: SecretBytes::new(state),
        })
    }
    fn server_login_finish(
        &self,
        state: &[u8],
        fin: &[u8],
        _: Identities<'_>,
    ) -> Result<SecretBytes, CryptoError> {
        let (registration, nonce) = state.split_at_checked(32).ok_or(CryptoError::Malformed)?;
        if fin != h(&[b"finish", registration, nonce]) {
            return Err(CryptoError::Authentication);
        }
        Ok(SecretBytes::new(h(&[b"session", registration, nonce])))
    }
    fn seal_request(
        &self,
        _: &mut (impl CryptoRng + RngCore),
        _: &FleetPublicKeys,
        aad: &[u8],
        pt: &[u8],
    ) -> Result<SealedRequest, CryptoError> {
        let sealed = tag(pt, b"fleet", aad);
        Ok(SealedRequest {
            reply_key: SecretBytes::new(h(&[b"reply", &sealed])),
            sealed,
        })
    }
    fn open_request(
        &self,
        _: &FakeFleet,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<OpenedRequest, CryptoError> {
        Ok(OpenedRequest {
            plaintext: untag(sealed, b"fleet", aad)?,
            reply_key: SecretBytes::new(h(&[b"reply", sealed])),
        })
    }
    fn seal_reply(
        &self,
        _: &mut (impl CryptoRng + RngCore),
        key: &SecretBytes,
        aad: &[u8],
        pt: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Ok(tag(pt, key.expose(), aad))
    }
    fn open_reply(
        &self,
        key: &SecretBytes,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        untag(sealed, key.expose(), aad)
    }
    fn wrap_backup_key(
        &self,
        _: &mut (impl CryptoRng + RngCore),
        export_key: &SecretBytes,
        _: Identities<'_>,
        key: &BackupKey,
    ) -> Result<Vec<u8>, CryptoError> {
        Ok(tag(key.as_bytes(), export_key.expose(), b"wrap"))
    }
    fn unwrap_backup_key(
        &self,
        export_key: &SecretBytes,
        _: Identities<'_>,
        wrapped: &[u8],
    ) -> Result<BackupKey, CryptoError> {
        let bytes = untag(wrapped, export_key.expose(), b"wrap")?;
        Ok(BackupKey::from_bytes(
            bytes.try_into().map_err(|_| CryptoError::Malformed)?,
        ))
    }
    fn record_proof(
        &self,
        export_key: &SecretBytes,
        label: &'static [u8],
        _: Identities<'_>,
        generation: u64,
    ) -> Digest {
        h(&[export_key.expose(), label, &generation.to_be_bytes()])
            .try_into()
            .unwrap()
    }
    fn seal_release(
        &self,
        _: &mut (impl CryptoRng + RngCore),
        session_key: &SecretBytes,
        login_id: &[u8],
        wrapped: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Ok(tag(wrapped, session_key.expose(), login_id))
    }
    fn open_release(
        &self,
        session_key: &SecretBytes,
        login_id: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        untag(sealed, session_key.expose(), login_id)
    }
    fn seal_storage(
        &self,
        _: &mut (impl CryptoRng + RngCore),
        _: &FakeFleet,
        aad: &[u8],
        pt: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Ok(tag(pt, b"storage", aad))
    }
    fn open_storage(
        &self,
        _: &FakeFleet,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        untag(sealed, b"storage", aad).map(SecretBytes::new)
    }
    fn digest(&self, label: &'static [u8], parts: &[&[u8]]) -> Digest {
        let mut all = vec![label];
        all.extend_from_slice(parts);
        h(&all).try_into().unwrap()
    }
}

fn fake_net(seed: u64) -> Net<FakeSuite> {
    let fleet = || FakeFleet { id: fleet_id() };
    Net::new(FakeSuite, fleet(), fleet(), seed, RelayConfig::default())
}

#[test]
fn roles_run_unchanged_over_a_fake_suite() {
    let mut net = fake_net(1);
    net.add_client(1, &account("alice"));
    let key = BackupKey::from_bytes([7; 32]);
    assert_eq!(
        net.register(1, b"pw", &key, 2),
        ClientOutcome::Registered { generation: 1 }
    );
    assert_eq!(
        net.recover(1, b"wrong"),
        ClientOutcome::WrongPassword { remaining: 1 }
    );
    assert_eq!(net.recover(1, b"pw"), ClientOutcome::Recovered(key.clone()));
    assert_eq!(
        net.recover(1, b"wrong"),
        ClientOutcome::WrongPassword { remaining: 1 }
    );
    assert_eq!(net.recover(1, b"wrong"), ClientOutcome::Locked);
    assert_eq!(net.recover(1, b"pw"), ClientOutcome::Locked);
}
