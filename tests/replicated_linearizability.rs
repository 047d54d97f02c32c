//! Randomized histories through five replicas: owners and attackers on two accounts, message
//! faults, random crashes and one replica losing its disk mid-run; every account's history must
//! be linearizable and no account may hand out more login responses than its limit (SPEC.md
//! "Replication": INV-LINEAR, INV-ATTEMPTS, INV-DURABLE).

use e2ee_backup::BackupKey;
use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup_testkit::cluster::{
    Cluster, Faults, REPLICAS, account, account_history_is_linearizable,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

const LIMIT: u32 = 2;

fn run(seed: u64) {
    let mut c = Cluster::new(seed);
    let mut pick = ChaCha20Rng::seed_from_u64(seed ^ 0x5EED);
    let names = ["alice", "bob"];
    let keys: Vec<BackupKey> = (0..2)
        .map(|i| BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(seed + i)))
        .collect();
    for (i, name) in names.iter().enumerate() {
        let conn = i as u64 + 1;
        c.add_client(ConnectionId(conn), &account(name));
        assert_eq!(
            c.register(ConnectionId(conn), b"right", &keys[i], LIMIT),
            ClientOutcome::Registered { generation: 1 }
        );
    }
    c.spread = true;
    c.faults = Faults {
        drop_per_mille: 20,
        dup_per_mille: 40,
        crash_per_mille: 10,
        down_steps: 400,
        max_down: 1,
        crash_at_accept: 2,
    };
    // Owners recover and attackers guess, all at once, through different replicas.
    let mut next_conn = 10;
    for (i, name) in names.iter().enumerate() {
        c.start_recover(ConnectionId(i as u64 + 1), b"right");
        for _ in 0..4 {
            c.add_client(ConnectionId(next_conn), &account(name));
            c.start_recover(
                ConnectionId(next_conn),
                format!("guess {next_conn}").as_bytes(),
            );
            next_conn += 1;
        }
    }
    // One replica loses its disk in the middle of it all.
    c.run_steps(200 + pick.next_u64() % 400);
    let victim = (pick.next_u64() % u64::from(REPLICAS)) as u8;
    if c.down_count() == 0 {
        c.restart_amnesiac(victim);
    }
    c.run();
    c.heal();
    c.run();

    let mut total = 0;
    for name in names {
        let a = account(name);
        let log = c.log.borrow();
        assert!(
            account_history_is_linearizable(&log, &a),
            "seed {seed}: {name} not linearizable"
        );
        let challenges = c
            .oracle
            .challenges
            .get(&(a.clone(), 1))
            .map_or(0, |s| s.len());
        // One owner login (which resets the counter) plus at most LIMIT guesses around it.
        assert!(
            challenges <= 2 * LIMIT as usize,
            "seed {seed}: {name}: {challenges}"
        );
        total += challenges;
    }
    eprintln!("seed {seed}: {total} login responses over both accounts");
    // After healing, the owners still get their keys (nothing was lost, INV-DURABLE) unless
    // guesses used up the attempts first.
    for (i, _) in names.iter().enumerate() {
        match c.recover(ConnectionId(i as u64 + 1), b"right") {
            ClientOutcome::Recovered(k) => assert_eq!(k, keys[i]),
            ClientOutcome::Locked => {}
            other => panic!("seed {seed}: {other:?}"),
        }
    }
}

#[test]
fn randomized_histories_with_crashes_and_amnesia_are_linearizable() {
    for seed in 0..6 {
        run(2_000 + seed);
    }
}
