//! Concurrent attackers through different replicas, with crashes between prepare and accept,
//! dropped, duplicated and reordered messages (SPEC.md "Replication": INV-ATTEMPTS, INV-LINEAR).

use e2ee_backup::BackupKey;
use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup::internal::vault::ChangeOutcome;
use e2ee_backup_testkit::cluster::{Cluster, Faults, account, account_history_is_linearizable};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const LIMIT: u32 = 4;
const ATTACKERS: u64 = 7;

fn attack(seed: u64) {
    let mut c = Cluster::new(seed);
    let alice = account("alice");
    c.add_client(ConnectionId(1), &alice);
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(seed));
    assert_eq!(
        c.register(ConnectionId(1), b"right", &key, LIMIT),
        ClientOutcome::Registered { generation: 1 }
    );

    c.spread = true;
    c.faults = Faults {
        drop_per_mille: 30,
        dup_per_mille: 50,
        crash_per_mille: 15,
        down_steps: 300,
        max_down: 2,
        crash_at_accept: 4,
    };
    let mut ops = Vec::new();
    for conn in 10..10 + ATTACKERS {
        c.add_client(ConnectionId(conn), &alice);
        let guess = format!("guess {conn}");
        ops.push((conn, c.start_recover(ConnectionId(conn), guess.as_bytes())));
    }
    c.run();
    c.heal();
    c.run();

    assert!(
        c.crashes_at_accept > 0,
        "seed {seed}: no proposer crashed between prepare and accept"
    );
    // INV-ATTEMPTS: every distinct login response any replica emitted was a counted attempt.
    let challenges = c
        .oracle
        .challenges
        .get(&(alice.clone(), 1))
        .map_or(0, |s| s.len());
    assert!(
        challenges <= LIMIT as usize,
        "seed {seed}: {challenges} login responses for a limit of {LIMIT}"
    );
    assert!(
        !c.oracle.releases.contains_key(&alice),
        "seed {seed}: no key for a wrong password"
    );
    for (conn, op) in ops {
        let outcome = c
            .outcome_of(ConnectionId(conn), op)
            .expect("every attacker's operation ended");
        assert!(
            matches!(
                outcome,
                ClientOutcome::WrongPassword { .. }
                    | ClientOutcome::Locked
                    | ClientOutcome::Unavailable
            ),
            "seed {seed}: {outcome:?}"
        );
    }
    eprintln!(
        "seed {seed}: challenges {challenges}, replies {}, changes {}, writes {}, msgs {}",
        c.oracle.challenge_replies,
        c.log.borrow().changes.len(),
        c.stats.durable_writes,
        c.stats.replica_messages
    );
    // INV-LINEAR: the account's record changes have a linearization.
    assert!(
        account_history_is_linearizable(&c.log.borrow(), &alice),
        "seed {seed}: history not linearizable"
    );
}

#[test]
fn concurrent_attackers_through_different_replicas_with_crashes_never_exceed_the_limit() {
    for seed in 0..6 {
        attack(1_000 + seed);
    }
}

#[test]
fn the_linearizability_checker_rejects_a_forged_outcome() {
    let mut c = Cluster::new(77);
    let alice = account("alice");
    c.add_client(ConnectionId(1), &alice);
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(77));
    assert_eq!(
        c.register(ConnectionId(1), b"right", &key, LIMIT),
        ClientOutcome::Registered { generation: 1 }
    );
    assert_eq!(
        c.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword {
            remaining: LIMIT - 1
        }
    );
    assert!(account_history_is_linearizable(&c.log.borrow(), &alice));
    // Claim the login challenge reported one more attempt left than the record allowed.
    let mut log = c.log.borrow_mut();
    let forged = log
        .changes
        .iter_mut()
        .find_map(|r| match r.outcome.as_mut() {
            Some(ChangeOutcome::LoginChallenge {
                attempts_remaining, ..
            }) => {
                *attempts_remaining += 1;
                Some(())
            }
            _ => None,
        });
    assert!(forged.is_some());
    assert!(!account_history_is_linearizable(&log, &alice));
}
