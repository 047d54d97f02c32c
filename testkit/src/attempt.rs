//! One password attempt, as `benches/vault.rs` times it (criterion) and
//! `examples/attempt_instructions.rs` counts it (callgrind): the vault's handling of a client's
//! LoginStart and LoginFinish, and opaque-ke's own `ServerLogin::start` + `finish`. Both
//! measurements run exactly this code, so their figures are of the same work.
//!
//! The measured side's work is inside the `measured_*` functions (never inlined: callgrind
//! collects only there) and is timed around them; the peer's work runs outside, untimed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use e2ee_backup::BackupKey;
use e2ee_backup::internal::client::{Client, ClientConfig, ClientOutcome, ClientOutput};
use e2ee_backup::internal::crypto::CryptoSuite;
use e2ee_backup::internal::crypto::real::InsecureFastOpaque;
use e2ee_backup::internal::ids::{AccountId, FleetId};
use e2ee_backup::internal::vault::{SingleVault, SingleVaultOutput};
use e2ee_backup::internal::wire::{ClientReply, ClientRequest, VaultReply, VaultRequest};
use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, ClientRegistration,
    ClientRegistrationFinishParameters, CredentialFinalization, CredentialRequest,
    CredentialResponse, Identifiers, ServerLogin, ServerLoginParameters, ServerRegistration,
    ServerSetup,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::fixtures::RELAY;

/// The benches' fleet id.
pub fn fleet_id() -> FleetId {
    FleetId::new(b"bench-fleet").unwrap()
}

/// The account every timed attempt is made for.
pub fn alice() -> AccountId {
    AccountId::new(b"alice").unwrap()
}

/// The vault's whole handling of one relay message, outputs drained; returns its reply.
#[inline(never)]
fn measured_vault_message<S: CryptoSuite>(
    vault: &mut SingleVault<S>,
    rng: &mut ChaCha20Rng,
    forward: &[u8],
) -> Option<Vec<u8>> {
    vault.handle_relay_message(0, rng, RELAY, forward);
    let mut reply = None;
    while let Some(out) = vault.poll_output() {
        if let SingleVaultOutput::ToRelay { bytes, .. } = out {
            reply = Some(bytes);
        }
    }
    reply
}

/// Client and vault wired back to back (no relay); times vault and client work separately.
pub struct Pair<S: CryptoSuite> {
    client: Client<S>,
    vault: SingleVault<S>,
    rng: ChaCha20Rng,
    /// Time spent in the vault's measured work so far.
    pub vault_time: Duration,
    /// Time spent in the client's work so far (untimed by the benches' figures).
    pub client_time: Duration,
}

impl<S: CryptoSuite + Copy> Pair<S> {
    /// A client and a vault of `fleet`, nothing registered yet.
    pub fn new(suite: S, fleet: S::FleetSecrets) -> Self {
        let pinned = suite.fleet_public_keys(&fleet);
        Self {
            client: Client::new(suite, pinned, alice(), ClientConfig::default()),
            vault: SingleVault::new(suite, fleet),
            rng: ChaCha20Rng::seed_from_u64(1),
            vault_time: Duration::ZERO,
            client_time: Duration::ZERO,
        }
    }

    /// Shuttles messages until the client completes an operation.
    fn run(&mut self) -> ClientOutcome {
        loop {
            let bytes = match self.client.poll_output().expect("client stalled") {
                ClientOutput::Send { bytes } => bytes,
                ClientOutput::Completed { outcome, .. } => return outcome,
            };
            let request = ClientRequest::decode(&bytes).unwrap();
            let forward = VaultRequest {
                route_id: request.request_id,
                account: alice(),
                kind: request.kind,
                sealed: request.sealed,
            }
            .encode();
            let start = Instant::now();
            let reply = measured_vault_message(&mut self.vault, &mut self.rng, &forward);
            self.vault_time += start.elapsed();
            let reply = VaultReply::decode(&reply.expect("the vault answers")).unwrap();
            let back = ClientReply {
                request_id: reply.route_id,
                kind: reply.kind,
                body: reply.body,
            }
            .encode();
            let start = Instant::now();
            self.client.handle_relay_message(0, &mut self.rng, &back);
            self.client_time += start.elapsed();
        }
    }

    /// Registers `password` (not timed as an attempt).
    pub fn register(&mut self, password: &[u8]) {
        let key = BackupKey::generate(&mut self.rng);
        let start = Instant::now();
        self.client
            .start_register(0, &mut self.rng, password, &key, 10)
            .unwrap();
        self.client_time += start.elapsed();
        assert!(matches!(self.run(), ClientOutcome::Registered { .. }));
    }

    /// One password attempt: the LoginStart and LoginFinish round trips, vault time added to
    /// `vault_time`.
    pub fn recover(&mut self, password: &[u8]) {
        let start = Instant::now();
        self.client
            .start_recover(0, &mut self.rng, password)
            .unwrap();
        self.client_time += start.elapsed();
        assert!(matches!(self.run(), ClientOutcome::Recovered(_)));
    }
}

#[inline(never)]
fn measured_opaque_start(
    rng: &mut ChaCha20Rng,
    setup: &ServerSetup<InsecureFastOpaque>,
    password_file: &ServerRegistration<InsecureFastOpaque>,
    request: CredentialRequest<InsecureFastOpaque>,
    ids: Identifiers<'_>,
) -> (ServerLogin<InsecureFastOpaque>, Vec<u8>) {
    let params = ServerLoginParameters {
        context: None,
        identifiers: ids,
    };
    let account = ids.client.expect("the account is named");
    let server = ServerLogin::start(
        rng,
        setup,
        Some(password_file.clone()),
        request,
        account,
        params,
    )
    .unwrap();
    (server.state, server.message.serialize().to_vec())
}

#[inline(never)]
fn measured_opaque_finish(
    state: ServerLogin<InsecureFastOpaque>,
    finalization: CredentialFinalization<InsecureFastOpaque>,
    ids: Identifiers<'_>,
) {
    let params = ServerLoginParameters {
        context: None,
        identifiers: ids,
    };
    black_box(state.finish(finalization, params).unwrap());
}

/// opaque-ke alone: one registered password file and its server setup.
pub struct OpaqueAlone<'a> {
    setup: &'a ServerSetup<InsecureFastOpaque>,
    password_file: ServerRegistration<InsecureFastOpaque>,
    account: AccountId,
    fleet: FleetId,
    rng: ChaCha20Rng,
}

impl<'a> OpaqueAlone<'a> {
    /// Registers the password `pw` for alice under `setup`.
    pub fn new(setup: &'a ServerSetup<InsecureFastOpaque>) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let (account, fleet) = (alice(), fleet_id());
        let ids = Identifiers {
            client: Some(account.as_bytes()),
            server: Some(fleet.as_bytes()),
        };
        let start = ClientRegistration::<InsecureFastOpaque>::start(&mut rng, b"pw").unwrap();
        let response = ServerRegistration::start(setup, start.message, account.as_bytes()).unwrap();
        let finish = start
            .state
            .finish(
                &mut rng,
                b"pw",
                response.message,
                ClientRegistrationFinishParameters::new(ids, None),
            )
            .unwrap();
        let password_file = ServerRegistration::finish(finish.message);
        Self {
            setup,
            password_file,
            account,
            fleet,
            rng,
        }
    }

    /// One login with the right password; returns the time the server side took.
    pub fn attempt(&mut self) -> Duration {
        let ids = Identifiers {
            client: Some(self.account.as_bytes()),
            server: Some(self.fleet.as_bytes()),
        };
        let login = ClientLogin::<InsecureFastOpaque>::start(&mut self.rng, b"pw").unwrap();
        let request = CredentialRequest::deserialize(&login.message.serialize()).unwrap();
        let start = Instant::now();
        let (state, response) =
            measured_opaque_start(&mut self.rng, self.setup, &self.password_file, request, ids);
        let mut timed = start.elapsed();
        let response = CredentialResponse::deserialize(&response).unwrap();
        let finished = login
            .state
            .finish(
                &mut self.rng,
                b"pw",
                response,
                ClientLoginFinishParameters {
                    context: None,
                    identifiers: ids,
                    ksf: None,
                },
            )
            .unwrap();
        let finalization =
            CredentialFinalization::deserialize(&finished.message.serialize()).unwrap();
        let start = Instant::now();
        measured_opaque_finish(state, finalization, ids);
        timed += start.elapsed();
        timed
    }
}
