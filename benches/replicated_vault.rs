//! Vault operations per second through a five-replica group in memory on one core (SPEC.md
//! "Replication", figures): client → relay → replica → CASPaxos over four peers → reply, with
//! every message sealed under the replica-link key and every durable write sealed under the
//! storage key, delivered in a seeded random order without faults. Uses the insecure fast KSF,
//! so OPAQUE's key stretching is not part of the figure.

use criterion::{Criterion, criterion_group, criterion_main};
use e2ee_backup::BackupKey;
use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup_testkit::cluster::{Cluster, account};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("replicated_vault_5");
    group.sample_size(10);
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(1));

    let mut cluster = Cluster::new(1);
    let mut next = 0u64;
    group.bench_function("register", |b| {
        b.iter(|| {
            next += 1;
            let name = format!("user-{next}");
            cluster.add_client(ConnectionId(next), &account(&name));
            let outcome = cluster.register(ConnectionId(next), b"pw", &key, 5);
            assert!(matches!(outcome, ClientOutcome::Registered { .. }));
        })
    });

    let mut cluster = Cluster::new(2);
    cluster.add_client(ConnectionId(1), &account("alice"));
    assert!(matches!(
        cluster.register(ConnectionId(1), b"pw", &key, 5),
        ClientOutcome::Registered { .. }
    ));
    group.bench_function("recover", |b| {
        b.iter(|| {
            assert_eq!(
                cluster.recover(ConnectionId(1), b"pw"),
                ClientOutcome::Recovered(key.clone())
            );
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
