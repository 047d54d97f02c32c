//! Vault CPU per password attempt (our LoginStart + LoginFinish handling, sealing included)
//! against opaque-ke's own `ServerLogin::start` + `finish` in the same run; client register and
//! recover with the production Argon2id key stretching.
//!
//! Only the measured side's work is timed (`iter_custom`): the peer's work runs untimed. One HPKE
//! request open is measured alone, to split the vault's cost beyond OPAQUE.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use e2ee_backup::BackupKey;
use e2ee_backup::client::{Client, ClientConfig, ClientOutcome, ClientOutput};
use e2ee_backup::crypto::CryptoSuite;
use e2ee_backup::crypto::real::{
    InsecureFastFleetSecrets, InsecureFastOpaque, InsecureFastSuite, ProductionFleetSecrets,
    ProductionSuite,
};
use e2ee_backup::ids::{AccountId, FleetId};
use e2ee_backup::vault::{VaultOutput, VaultReplica};
use e2ee_backup::wire::{ClientReply, ClientRequest, VaultReply, VaultRequest};
use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, ClientRegistration,
    ClientRegistrationFinishParameters, CredentialFinalization, CredentialRequest,
    CredentialResponse, Identifiers, ServerLogin, ServerLoginParameters, ServerRegistration,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn fleet_id() -> FleetId {
    FleetId::new(b"bench-fleet").unwrap()
}

fn alice() -> AccountId {
    AccountId::new(b"alice").unwrap()
}

/// Client and vault wired back to back (no relay); times vault and client work separately.
struct Pair<S: CryptoSuite> {
    client: Client<S>,
    vault: VaultReplica<S>,
    rng: ChaCha20Rng,
    vault_time: Duration,
    client_time: Duration,
    outcome: Option<ClientOutcome>,
}

impl<S: CryptoSuite + Copy> Pair<S> {
    fn new(suite: S, fleet: S::FleetSecrets) -> Self {
        let pinned = suite.fleet_public_keys(&fleet);
        Self {
            client: Client::new(suite, pinned, alice(), ClientConfig::default()),
            vault: VaultReplica::new(suite, fleet),
            rng: ChaCha20Rng::seed_from_u64(1),
            vault_time: Duration::ZERO,
            client_time: Duration::ZERO,
            outcome: None,
        }
    }

    /// Shuttles messages until the client completes an operation.
    fn run(&mut self) -> ClientOutcome {
        loop {
            let Some(out) = self.client.poll_output() else {
                panic!("client stalled")
            };
            let bytes = match out {
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
            self.vault.handle_relay_message(0, &mut self.rng, &forward);
            let mut reply = None;
            while let Some(out) = self.vault.poll_output() {
                if let VaultOutput::ReplyToRelay { bytes } = out {
                    reply = Some(bytes);
                }
            }
            self.vault_time += start.elapsed();
            let reply = VaultReply::decode(&reply.unwrap()).unwrap();
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

    fn register(&mut self, password: &[u8]) {
        let key = BackupKey::generate(&mut self.rng);
        let start = Instant::now();
        self.client
            .start_register(0, &mut self.rng, password, &key, 10)
            .unwrap();
        self.client_time += start.elapsed();
        assert!(matches!(self.run(), ClientOutcome::Registered { .. }));
    }

    fn recover(&mut self, password: &[u8]) {
        let start = Instant::now();
        self.client
            .start_recover(0, &mut self.rng, password)
            .unwrap();
        self.client_time += start.elapsed();
        let outcome = self.run();
        assert!(matches!(outcome, ClientOutcome::Recovered(_)));
        self.outcome = Some(outcome);
    }
}

fn password_attempt(c: &mut Criterion) {
    let mut group = c.benchmark_group("vault_password_attempt");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));

    group.bench_function("ours_login_start_and_finish", |b| {
        let fleet =
            InsecureFastFleetSecrets::generate(&mut ChaCha20Rng::seed_from_u64(7), fleet_id());
        let mut pair = Pair::new(InsecureFastSuite, fleet);
        pair.register(b"pw");
        b.iter_custom(|iters| {
            pair.vault_time = Duration::ZERO;
            for _ in 0..iters {
                pair.recover(b"pw");
            }
            pair.vault_time
        });
    });

    group.bench_function("opaque_ke_server_login_start_and_finish", |b| {
        let fleet =
            InsecureFastFleetSecrets::generate(&mut ChaCha20Rng::seed_from_u64(7), fleet_id());
        let setup = fleet.opaque_server_setup();
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let id = alice();
        let fid = fleet_id();
        let ids = Identifiers {
            client: Some(id.as_bytes()),
            server: Some(fid.as_bytes()),
        };
        let reg_start = ClientRegistration::<InsecureFastOpaque>::start(&mut rng, b"pw").unwrap();
        let reg_resp = ServerRegistration::start(setup, reg_start.message, id.as_bytes()).unwrap();
        let reg_finish = reg_start
            .state
            .finish(
                &mut rng,
                b"pw",
                reg_resp.message,
                ClientRegistrationFinishParameters::new(ids, None),
            )
            .unwrap();
        let password_file = ServerRegistration::finish(reg_finish.message);
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let login = ClientLogin::<InsecureFastOpaque>::start(&mut rng, b"pw").unwrap();
                let request = CredentialRequest::deserialize(&login.message.serialize()).unwrap();
                let params = ServerLoginParameters {
                    context: None,
                    identifiers: ids,
                };
                let start = Instant::now();
                let server = ServerLogin::start(
                    &mut rng,
                    setup,
                    Some(password_file.clone()),
                    request,
                    id.as_bytes(),
                    params,
                )
                .unwrap();
                let response = server.message.serialize();
                timed += start.elapsed();
                let response = CredentialResponse::deserialize(&response).unwrap();
                let fin = login
                    .state
                    .finish(
                        &mut rng,
                        b"pw",
                        response,
                        ClientLoginFinishParameters {
                            context: None,
                            identifiers: ids,
                            ksf: None,
                        },
                    )
                    .unwrap();
                let fin = CredentialFinalization::deserialize(&fin.message.serialize()).unwrap();
                let start = Instant::now();
                black_box(
                    server
                        .state
                        .finish(
                            fin,
                            ServerLoginParameters {
                                context: None,
                                identifiers: ids,
                            },
                        )
                        .unwrap(),
                );
                timed += start.elapsed();
            }
            timed
        });
    });
    // Part of the vault's cost beyond OPAQUE: opening one HPKE-sealed request (an attempt opens
    // two, LoginStart and LoginFinish).
    group.bench_function("hpke_open_request_alone", |b| {
        let fleet =
            InsecureFastFleetSecrets::generate(&mut ChaCha20Rng::seed_from_u64(7), fleet_id());
        let suite = InsecureFastSuite;
        let pinned = suite.fleet_public_keys(&fleet);
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let sealed = suite
            .seal_request(&mut rng, &pinned, b"aad", &[5u8; 64])
            .unwrap();
        b.iter(|| black_box(suite.open_request(&fleet, b"aad", &sealed.sealed).unwrap()));
    });
    group.finish();
}

fn client_with_argon2id(c: &mut Criterion) {
    let mut group = c.benchmark_group("client_argon2id");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("register", |b| {
        let fleet =
            ProductionFleetSecrets::generate(&mut ChaCha20Rng::seed_from_u64(7), fleet_id());
        let mut pair = Pair::new(ProductionSuite, fleet);
        b.iter_custom(|iters| {
            pair.client_time = Duration::ZERO;
            for _ in 0..iters {
                pair.register(b"pw");
            }
            pair.client_time
        });
    });
    group.bench_function("recover", |b| {
        let fleet =
            ProductionFleetSecrets::generate(&mut ChaCha20Rng::seed_from_u64(7), fleet_id());
        let mut pair = Pair::new(ProductionSuite, fleet);
        pair.register(b"pw");
        b.iter_custom(|iters| {
            pair.client_time = Duration::ZERO;
            for _ in 0..iters {
                pair.recover(b"pw");
            }
            pair.client_time
        });
    });
    group.finish();
}

criterion_group!(benches, password_attempt, client_with_argon2id);
criterion_main!(benches);
