//! The operator who runs every host and disk restores earlier copies of replicas' durable writes
//! (SPEC.md "Threat model", "Rollback"): it must get no extra password guess (INV-ATTEMPTS) and
//! no backup key after the lockout (INV-DISCLOSE).

use e2ee_backup::BackupKey;
use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup::internal::vault::{DurableSlot, StoreFault};
use e2ee_backup::internal::wire::RequestKind;
use e2ee_backup_testkit::cluster::{
    Cluster, REPLICAS, account, register_and_guess_wrong_once, seeded_key,
};
use e2ee_backup_testkit::judge::INV_ATTEMPTS;

fn key(seed: u64) -> BackupKey {
    seeded_key(seed)
}

/// One password attempt; the run is bounded because replicas that wait for healthy peers retry
/// forever. `None` if the client has not finished.
fn attempt(c: &mut Cluster, password: &[u8]) -> Option<ClientOutcome> {
    let op = c.start_recover(ConnectionId(1), password);
    c.run_steps(60_000);
    c.outcome_of(ConnectionId(1), op)
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
    c.add_client(ConnectionId(1), &account("alice"));
    let k = key(11);
    assert_eq!(
        c.register(ConnectionId(1), b"pw", &k, 2),
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
    c.add_client(ConnectionId(1), &account("alice"));
    let k = key(12);
    assert_eq!(
        c.register(ConnectionId(1), b"pw", &k, 2),
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
    assert_eq!(c.recover(ConnectionId(1), b"pw"), ClientOutcome::Locked);
    let _ = k;
    assert!(password_tests(&c) <= 2);
}

#[test]
fn a_replica_that_believes_its_restored_disk_hands_out_extra_guesses() {
    // The checker can fail: the broken variant (today's behaviour before rollback detection).
    let mut c = Cluster::new(11);
    c.fault = StoreFault::TrustHostDisk;
    c.assert_promises = false;
    c.add_client(ConnectionId(1), &account("alice"));
    let k = key(11);
    assert_eq!(
        c.register(ConnectionId(1), b"pw", &k, 2),
        ClientOutcome::Registered { generation: 1 }
    );
    let copies: Vec<_> = (0..REPLICAS).map(|id| c.copy_disk(id)).collect();
    for _round in 0..2 {
        for _ in 0..3 {
            attempt(&mut c, b"wrong");
        }
        for id in 0..REPLICAS {
            c.crash(id);
            c.put_disk(id, copies[usize::from(id)].clone());
            c.restart(id);
        }
    }
    assert!(password_tests(&c) > 2, "INV-ATTEMPTS is not refuted");
    assert!(
        c.oracle.judge.violations_of(INV_ATTEMPTS) > 0,
        "the shared judge catches it"
    );
    assert_eq!(attempt(&mut c, b"pw"), Some(ClientOutcome::Recovered(k)));
}

#[test]
fn rolling_back_one_slot_makes_the_replica_recover_before_it_votes() {
    let mut c = Cluster::new(13);
    let alice = account("alice");
    c.add_client(ConnectionId(1), &alice);
    let k = key(13);
    assert_eq!(
        c.register(ConnectionId(1), b"pw", &k, 3),
        ClientOutcome::Registered { generation: 1 }
    );
    let before = c.copy_disk(0);
    assert_eq!(
        c.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 2 }
    );
    // The operator restores only alice's register slot (the meta slot is current).
    c.crash(0);
    let mut disk = c.copy_disk(0);
    let slot = DurableSlot::Register(alice.clone());
    disk.insert(slot.clone(), before[&slot].clone());
    c.put_disk(0, disk);
    c.restart(0);
    assert!(!c.voting(0), "a rolled-back slot must not vote");
    c.run();
    assert!(c.voting(0), "it fenced and caught up");
    // With two others down, replica 0 is in every quorum: the count it caught up is the real one.
    c.crash(1);
    c.crash(2);
    assert_eq!(
        c.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 1 }
    );
    assert_eq!(
        c.recover(ConnectionId(1), b"pw"),
        ClientOutcome::Recovered(k)
    );
}

#[test]
fn a_dropped_write_makes_the_replica_recover_before_it_votes() {
    let mut c = Cluster::new(14);
    let alice = account("alice");
    c.add_client(ConnectionId(1), &alice);
    assert_eq!(
        c.register(ConnectionId(1), b"pw", &key(14), 3),
        ClientOutcome::Registered { generation: 1 }
    );
    c.crash(3);
    let mut disk = c.copy_disk(3);
    disk.remove(&DurableSlot::Register(alice));
    c.put_disk(3, disk);
    c.restart(3);
    assert!(!c.voting(3));
    c.run();
    assert!(c.voting(3));
}

#[test]
fn an_untouched_disk_restarts_the_replica_voting_at_once() {
    let mut c = Cluster::new(15);
    c.add_client(ConnectionId(1), &account("alice"));
    assert_eq!(
        c.register(ConnectionId(1), b"pw", &key(15), 3),
        ClientOutcome::Registered { generation: 1 }
    );
    c.crash(2);
    c.restart(2);
    assert!(c.voting(2), "a current disk is trusted");
}

#[test]
fn a_clone_started_from_a_copy_of_the_disk_halts_the_older_instance() {
    let mut c = Cluster::new(16);
    c.add_client(ConnectionId(1), &account("alice"));
    let k = key(16);
    assert_eq!(
        c.register(ConnectionId(1), b"pw", &k, 3),
        ClientOutcome::Registered { generation: 1 }
    );
    // The operator starts a second instance of replica 0 on a copy of its disk; the first runs on.
    let mut older = c.clone_instance(0);
    assert!(c.voting(0), "the clone got the latest disk and votes");
    // The operator feeds the older instance every message the group sends replica 0 while
    // replica 1 proposes (so replica 0 is asked to promise and accept).
    c.redirect.insert(RequestKind::LoginStart, 1);
    c.redirect.insert(RequestKind::LoginFinish, 1);
    let op = c.start_recover(ConnectionId(1), b"pw");
    let mut to_zero = Vec::new();
    for _ in 0..400 {
        to_zero.extend(c.any_peer_message_to(0));
        c.run_steps(1);
    }
    assert!(!to_zero.is_empty());
    for bytes in &to_zero {
        older.handle_replica_message(c.now_ms, &mut c.rng, bytes);
        assert_eq!(older.poll_output(), None, "a superseded instance spoke");
    }
    assert!(older.store().inner.is_halted());
    assert_eq!(c.finish(ConnectionId(1), op), ClientOutcome::Recovered(k));
}

#[test]
fn volatile_replicas_recover_at_every_start_and_keep_the_count() {
    let mut c = Cluster::volatile(17);
    let k = register_and_guess_wrong_once(&mut c, 17, 3);
    // Even an untouched disk is not trusted: every restart is an amnesia recovery.
    for id in 0..REPLICAS {
        c.crash(id);
        c.restart(id);
        assert!(!c.voting(id), "volatile replica {id} voted at once");
        c.run();
        assert!(c.voting(id));
    }
    assert_eq!(
        c.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 1 }
    );
    assert_eq!(
        c.recover(ConnectionId(1), b"pw"),
        ClientOutcome::Recovered(k)
    );
    assert_eq!(c.nvram_writes(), 0, "volatile mode has no trusted state");
}

#[test]
fn a_whole_group_restart_keeps_records_in_durable_mode() {
    let mut c = Cluster::new(18);
    let k = register_and_guess_wrong_once(&mut c, 18, 3);
    // Every datacenter loses power after its writes completed.
    for id in 0..REPLICAS {
        c.crash(id);
    }
    for id in 0..REPLICAS {
        c.restart(id);
        assert!(c.voting(id));
    }
    assert_eq!(
        c.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 1 }
    );
    assert_eq!(
        c.recover(ConnectionId(1), b"pw"),
        ClientOutcome::Recovered(k)
    );
}

#[test]
fn a_whole_group_restart_in_volatile_mode_answers_no_record_never_a_fresh_count() {
    let mut c = Cluster::volatile(19);
    register_and_guess_wrong_once(&mut c, 19, 2);
    for id in 0..REPLICAS {
        c.crash(id);
    }
    for id in 0..REPLICAS {
        c.restart(id);
    }
    // No replica holds trusted state: none can recover, so the group refounds itself empty
    // (SPEC.md "Re-genesis") and says so; it never serves the old record with a reset count.
    for _ in 0..3 {
        assert_eq!(attempt(&mut c, b"wrong"), Some(ClientOutcome::NoRecord));
    }
    assert_eq!(attempt(&mut c, b"pw"), Some(ClientOutcome::NoRecord));
    assert!((0..REPLICAS).all(|id| c.voting(id)));
    assert_eq!(password_tests(&c), 1);
}

#[test]
fn trusted_state_writes_per_operation_are_counted() {
    let mut c = Cluster::new(20);
    c.add_client(ConnectionId(1), &account("alice"));
    let k = key(20);
    let start = c.nvram_writes();
    assert_eq!(
        c.register(ConnectionId(1), b"pw", &k, 3),
        ClientOutcome::Registered { generation: 1 }
    );
    let register = c.nvram_writes() - start;
    let writes_before = c.stats.durable_writes;
    let start = c.nvram_writes();
    assert_eq!(
        c.recover(ConnectionId(1), b"pw"),
        ClientOutcome::Recovered(k)
    );
    let recover = c.nvram_writes() - start;
    let recover_disk = c.stats.durable_writes - writes_before;
    let start = c.nvram_writes();
    assert_eq!(
        c.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 2 }
    );
    let wrong = c.nvram_writes() - start;
    println!("| operation | NVRAM writes (5 replicas) | durable writes |");
    println!("| register | {register} | |");
    println!("| recover | {recover} | {recover_disk} |");
    println!("| wrong password | {wrong} | |");
    // At most one NVRAM write per durable write (batched per input, never more).
    assert!(recover <= recover_disk);
    assert!(register > 0 && recover > 0 && wrong > 0);
}
