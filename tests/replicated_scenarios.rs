//! Five replicas in memory: any two down, three down, heal (SPEC.md "Replication", LIVE).
mod replicated_support;

use e2ee_backup::BackupKey;
use e2ee_backup::client::ClientOutcome;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use replicated_support::{Cluster, account};

#[test]
fn registers_and_recovers_with_all_five_replicas_up() {
    let mut c = Cluster::new(1);
    let alice = account("alice");
    c.add_client(1, &alice);
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(7));
    assert!(matches!(c.register(1, b"pw", &key, 5), ClientOutcome::Registered { generation: 1 }));
    assert_eq!(c.recover(1, b"pw"), ClientOutcome::Recovered(key));
}
