//! Vault CPU per password attempt (our LoginStart + LoginFinish handling, sealing included)
//! against opaque-ke's own `ServerLogin::start` + `finish` in the same run; client register and
//! recover with the production Argon2id key stretching.
//!
//! Only the measured side's work is timed (`iter_custom`): the peer's work runs untimed. One HPKE
//! request open is measured alone, to split the vault's cost beyond OPAQUE.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use e2ee_backup::internal::crypto::CryptoSuite;
use e2ee_backup::internal::crypto::real::{
    InsecureFastFleetSecrets, InsecureFastSuite, ProductionFleetSecrets, ProductionSuite,
};
use e2ee_backup_testkit::attempt::{OpaqueAlone, Pair, fleet_id};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

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
        let mut opaque = OpaqueAlone::new(fleet.opaque_server_setup());
        b.iter_custom(|iters| (0..iters).map(|_| opaque.attempt()).sum());
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
