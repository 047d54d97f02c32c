//! Messages and durable writes per vault operation through a five-replica group, no faults
//! (SPEC.md "Replication", figures). Counts, not timings: speed is measured in
//! `benches/replicated_vault.rs`. The numbers are pinned so that a change to the protocol's cost
//! shows up here.

use e2ee_backup::BackupKey;
use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup_testkit::cluster::{Cluster, Stats, account};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn delta(before: Stats, after: Stats) -> (u64, u64, u64) {
    (
        after.relay_to_replica - before.relay_to_replica,
        after.replica_messages - before.replica_messages,
        after.durable_writes - before.durable_writes,
    )
}

#[test]
fn counts_messages_and_durable_writes_per_vault_operation() {
    let mut c = Cluster::new(21);
    let alice = account("alice");
    c.add_client(ConnectionId(1), &alice);
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(21));

    let s0 = c.stats;
    assert_eq!(
        c.register(ConnectionId(1), b"pw", &key, 5),
        ClientOutcome::Registered { generation: 1 }
    );
    let register = delta(s0, c.stats);
    let s1 = c.stats;
    assert_eq!(
        c.recover(ConnectionId(1), b"pw"),
        ClientOutcome::Recovered(key.clone())
    );
    let recover = delta(s1, c.stats);
    let s2 = c.stats;
    assert_eq!(
        c.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 4 }
    );
    let wrong = delta(s2, c.stats);

    eprintln!("| vault operation (requests) | relay→replica | replica messages | durable writes |");
    eprintln!(
        "| register (RegisterStart, RegisterFinish, Expose) | {} | {} | {} |",
        register.0, register.1, register.2
    );
    eprintln!(
        "| recover (Status, LoginStart, LoginFinish) | {} | {} | {} |",
        recover.0, recover.1, recover.2
    );
    eprintln!(
        "| wrong password (Status, LoginStart, LoginFinish) | {} | {} | {} |",
        wrong.0, wrong.1, wrong.2
    );
    // Register is three CASPaxos rounds (a Read, the Register, the Expose); a recovery five: the
    // guess-free Status (a Read), then each login request two (a Read, then the change). A wrong
    // password costs the same five: its LoginFinish carries a dummy finalization, so the relay
    // sees one flow for right and wrong passwords. A round is 16 messages (Prepare, Promise,
    // Accept, Accepted with each of four peers) and at most 10 durable writes (a promise and an
    // accept at each of five replicas; fewer when an Accept overtakes its Prepare), plus one
    // `Meta` write when a proposer reserves its next block of ballot counters.
    assert_eq!((register.0, register.1), (3, 3 * 16));
    assert_eq!((recover.0, recover.1), (3, 5 * 16));
    assert_eq!((wrong.0, wrong.1), (3, 5 * 16));
    assert!(register.2 <= 3 * 10 + 1 && register.2 >= 3 * 6);
    assert!(recover.2 <= 5 * 10 + 1 && recover.2 >= 5 * 6);
    assert!(wrong.2 <= 5 * 10 + 1 && wrong.2 >= 5 * 6);
}
