//! The operator who runs every host and disk restores earlier copies of replicas' durable writes
//! (SPEC.md "Threat model", "Rollback"): it must get no extra password guess (INV-ATTEMPTS) and
//! no backup key after the lockout (INV-DISCLOSE).
mod replicated_support;

use e2ee_backup::BackupKey;
use e2ee_backup::client::ClientOutcome;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use replicated_support::{Cluster, REPLICAS, account};

fn key(seed: u64) -> BackupKey {
    BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

/// One password attempt; the run is bounded because replicas that wait for healthy peers retry
/// forever. `None` if the client has not finished.
fn attempt(c: &mut Cluster, password: &[u8]) -> Option<ClientOutcome> {
    let op = c.start_recover(1, password);
    c.run_steps(300_000);
    c.outcome_of(1, op)
}

/// Distinct login challenges any replica released for alice's first record (INV-ATTEMPTS oracle).
fn password_tests(c: &Cluster) -> usize {
    c.oracle
        .challenges
        .get(&(account("alice"), 1))
        .map_or(0, |ids| ids.len())
}

#[test]
fn restoring_every_disk_after_a_lockout_grants_no_extra_guess() {
    let mut c = Cluster::new(11);
    c.add_client(1, &account("alice"));
    let k = key(11);
    assert_eq!(
        c.register(1, b"pw", &k, 2),
        ClientOutcome::Registered { generation: 1 }
    );
    let copies: Vec<_> = (0..REPLICAS).map(|id| c.copy_disk(id)).collect();
    for _round in 0..3 {
        // Guess until the vault stops answering with a password test.
        for _ in 0..3 {
            attempt(&mut c, b"wrong");
        }
        for id in 0..REPLICAS {
            c.crash(id);
        }
        for id in 0..REPLICAS {
            c.put_disk(id, copies[usize::from(id)].clone());
            c.restart(id);
        }
    }
    let after = attempt(&mut c, b"pw");
    assert!(
        password_tests(&c) <= 2,
        "{} password tests for a limit of 2",
        password_tests(&c)
    );
    // INV-DISCLOSE: the locked record never releases the key again.
    assert_ne!(
        after,
        Some(ClientOutcome::Recovered(k)),
        "the key came back"
    );
}

#[test]
fn restoring_two_disks_and_choosing_the_quorum_grants_no_extra_guess() {
    let mut c = Cluster::new(12);
    c.add_client(1, &account("alice"));
    let k = key(12);
    assert_eq!(
        c.register(1, b"pw", &k, 2),
        ClientOutcome::Registered { generation: 1 }
    );
    c.run();
    let before = [c.copy_disk(0), c.copy_disk(1)];
    // The counted attempts are chosen by {0, 1, 2} while 3 and 4 are cut off.
    c.crash(3);
    c.crash(4);
    for _ in 0..3 {
        attempt(&mut c, b"wrong");
    }
    // 0 and 1 get their disks from before the attempts back; 2 is cut off; 3 and 4 return.
    for id in [0, 1] {
        c.crash(id);
        c.put_disk(id, before[usize::from(id)].clone());
        c.restart(id);
    }
    c.crash(2);
    c.restart(3);
    c.restart(4);
    // Every quorum is now {0|1, 0|1, 3|4}.
    for _ in 0..3 {
        attempt(&mut c, b"wrong");
    }
    let stale = attempt(&mut c, b"pw");
    assert!(
        password_tests(&c) <= 2,
        "{} password tests for a limit of 2",
        password_tests(&c)
    );
    assert_ne!(
        stale,
        Some(ClientOutcome::Recovered(k.clone())),
        "the key came back"
    );
    // Once 2 is back, the group recovers the locked record, never a reset one.
    c.restart(2);
    c.run();
    assert!((0..REPLICAS).all(|id| c.voting(id)), "0 and 1 caught up");
    assert_eq!(c.recover(1, b"pw"), ClientOutcome::Locked);
    let _ = k;
    assert!(password_tests(&c) <= 2);
}
