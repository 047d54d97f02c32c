//! Multi-process fault test (issue 13): five `e2ee-vault-replica` processes and one
//! `e2ee-vault-relay` on loopback, durable mode, clients through the real TLS link.
//!
//! Sequence: register three accounts → kill -9 replica A and SIGSTOP replica B (a datacenter
//! down) → every operation still completes (recover, register) → an attacker guesses wrong on
//! one account until it is locked, while A restarts from its disk and B resumes → replica C is
//! killed, its database wiped (the trusted cell kept: amnesia) and restarted: it recovers and
//! votes again (after the relay was killed and restarted) → two other replicas are killed for good, so the three survivors (C among them)
//! must serve: every acknowledged registration recovers with its key, and the attacker never
//! got more wrong-password answers than the limit allowed. Bounded in time; children are
//! killed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use e2ee_backup::internal::client::{Client, ClientOutcome};
use e2ee_backup::{AccountId, BackupKey};
use e2ee_backup_node::Suite;
use e2ee_backup_node::client_link::{ClientLink, LinkError};
use e2ee_backup_node::token::{TokenKey, unix_now};

use support::*;

#[test]
fn the_fleet_survives_kills_stops_restarts_and_amnesia_without_losing_or_overcounting() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let mut fleet = Fleet::new(tmp.path());
    let deadline = started + TEST_BUDGET;
    for r in 0..5 {
        assert!(
            fleet.wait_voting(r, deadline),
            "replica {r} never voted:\n{}",
            fleet.replicas[r].log_text()
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rng = e2ee_backup_node::os_rng();
    const LIMIT: u32 = 4;

    // Phase 1: three accounts register.
    let names = ["alice", "bob", "carol"];
    let keys: Vec<BackupKey> = names
        .iter()
        .map(|_| BackupKey::generate(&mut rng))
        .collect();
    let mut clients: Vec<Client<Suite>> = names.iter().map(|n| client(&fleet.link, n)).collect();
    let mut acknowledged: Vec<(usize, BackupKey)> = Vec::new();
    for i in 0..names.len() {
        let seen = rt.block_on(op(
            &fleet.link,
            &mut clients[i],
            &Op::Register(b"pw-1", &keys[i], LIMIT),
            5,
        ));
        println!("phase 1: register {} -> {seen:?}", names[i]);
        assert!(
            matches!(seen.last(), Some(ClientOutcome::Registered { .. })),
            "{seen:?}"
        );
        acknowledged.push((i, keys[i].clone()));
    }

    // Phase 1b: garbage. An oversize frame, a bad hello and an undecodable link envelope at
    // replica 4, a forged token at the relay: each is dropped and counted, nothing crashes.
    garbage(fleet.replica_addr(4));
    let forged =
        TokenKey::generate(&mut rng).issue(&AccountId::new(b"alice").unwrap(), unix_now() + 60);
    let refused = rt.block_on(ClientLink::connect(
        fleet.link.relay_addr,
        "localhost",
        &fleet.link.pinned,
        &forged,
    ));
    assert!(
        matches!(refused, Err(LinkError::Refused)),
        "a forged token was accepted"
    );
    let counted = |text: &str| {
        text.lines()
            .rev()
            .find(|l| l.contains("stats:"))
            .is_some_and(|l| {
                l.contains("host_oversize_frames=1")
                    && l.contains("host_bad_handshakes=1")
                    && !l.contains("drop_cannot_decode=0")
            })
    };
    let until = Instant::now() + Duration::from_secs(10);
    while !counted(&fleet.replicas[4].log_text()) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        counted(&fleet.replicas[4].log_text()),
        "replica 4 did not count the garbage:\n{}",
        fleet.replicas[4].log_text()
    );
    println!("phase 1b: garbage at replica 4 counted; forged token refused by the relay");

    // Phase 2: kill -9 replica 1 and stop (SIGSTOP) replica 2: a minority down. Operations
    // still complete: alice recovers, dave registers.
    let (killed, stopped) = (1usize, 2usize);
    fleet.replicas[killed].kill9();
    fleet.replicas[stopped].signal("-STOP");
    println!("phase 2: replica {killed} killed (SIGKILL), replica {stopped} stopped (SIGSTOP)");
    let seen = rt.block_on(op(&fleet.link, &mut clients[0], &Op::Recover(b"pw-1"), 5));
    println!("phase 2: recover alice -> {seen:?}");
    assert!(
        matches!(seen.last(), Some(ClientOutcome::Recovered(k)) if *k == keys[0]),
        "{seen:?}"
    );
    let dave_key = BackupKey::generate(&mut rng);
    let mut dave = client(&fleet.link, "dave");
    let seen = rt.block_on(op(
        &fleet.link,
        &mut dave,
        &Op::Register(b"pw-d", &dave_key, LIMIT),
        5,
    ));
    println!("phase 2: register dave -> {seen:?}");
    assert!(
        matches!(seen.last(), Some(ClientOutcome::Registered { .. })),
        "{seen:?}"
    );

    // Phase 3: the attacker guesses wrong on bob; in the middle, replica 1 restarts from its
    // disk and replica 2 resumes.
    let mut attacker = client(&fleet.link, "bob");
    let mut remaining_seen = Vec::new();
    let mut wrong_answers = 0u32;
    let mut locked = 0u32;
    let mut other = Vec::new();
    for guess in 0..(LIMIT + 2) {
        if guess == 2 {
            fleet.start_replica(killed);
            fleet.replicas[stopped].signal("-CONT");
            println!(
                "phase 3: replica {killed} restarted from its disk, replica {stopped} continued"
            );
        }
        let pw = format!("guess-{guess}");
        let seen = rt.block_on(op(
            &fleet.link,
            &mut attacker,
            &Op::Recover(pw.as_bytes()),
            4,
        ));
        println!("phase 3: wrong guess {guess} on bob -> {seen:?}");
        match seen.last() {
            Some(ClientOutcome::WrongPassword { remaining }) => {
                wrong_answers += 1;
                remaining_seen.push(*remaining);
            }
            Some(ClientOutcome::Locked) => locked += 1,
            o => other.push(format!("{o:?}")),
        }
    }
    // INV-ATTEMPTS: at most LIMIT wrong-password answers, then only Locked.
    assert!(
        wrong_answers <= LIMIT,
        "{wrong_answers} wrong-password answers for a limit of {LIMIT}"
    );
    assert!(
        locked >= 1,
        "the account never locked: wrong={wrong_answers} other={other:?}"
    );
    assert!(
        fleet.wait_voting(killed, deadline),
        "restarted replica {killed} never voted"
    );
    assert_eq!(
        fleet.started_as(killed).as_deref(),
        Some("Restored"),
        "replica {killed} did not restart from its disk"
    );
    // Bob is locked: even the right password recovers nothing.
    let seen = rt.block_on(op(&fleet.link, &mut clients[1], &Op::Recover(b"pw-1"), 4));
    println!("phase 3: bob with the right password after the lockout -> {seen:?}");
    assert!(
        !seen
            .iter()
            .any(|o| matches!(o, ClientOutcome::Recovered(_))),
        "{seen:?}"
    );

    // Phase 3b: the relay dies (SIGKILL) and a new one starts: it keeps no state, clients
    // reconnect and carry on.
    fleet.restart_relay();
    let seen = rt.block_on(op(&fleet.link, &mut clients[2], &Op::Recover(b"pw-1"), 8));
    println!("phase 3b: relay killed and restarted; recover carol -> {seen:?}");
    assert!(
        matches!(seen.last(), Some(ClientOutcome::Recovered(k)) if *k == keys[2]),
        "{seen:?}"
    );

    // Phase 4: amnesia. Replica 3 is killed, its database wiped (its trusted cell kept), and
    // restarted: it must recover from its peers and vote again.
    let amnesiac = 3usize;
    fleet.replicas[amnesiac].kill9();
    std::fs::remove_dir_all(tmp.path().join(format!("replica-{amnesiac}/data"))).unwrap();
    fleet.start_replica(amnesiac);
    println!("phase 4: replica {amnesiac} killed, its disk wiped, restarted");
    assert!(
        fleet.wait_voting(amnesiac, deadline),
        "amnesiac {amnesiac} never voted again:\n{}",
        fleet.replicas[amnesiac].log_text()
    );
    assert_eq!(fleet.started_as(amnesiac).as_deref(), Some("Recovering"));

    // Phase 5: two replicas that were never wiped go for good (0 and 4): the three left
    // (1 restored, 2 resumed, 3 recovered) must hold everything acknowledged.
    fleet.replicas[0].kill9();
    fleet.replicas[4].kill9();
    println!("phase 5: replicas 0 and 4 killed; 1 (restored), 2 (resumed), 3 (recovered) serve");
    for (i, key) in acknowledged.iter().filter(|(i, _)| *i != 1) {
        let seen = rt.block_on(op(&fleet.link, &mut clients[*i], &Op::Recover(b"pw-1"), 5));
        println!("phase 5: recover {} -> {seen:?}", names[*i]);
        assert!(
            matches!(seen.last(), Some(ClientOutcome::Recovered(k)) if k == key),
            "{} lost: {seen:?}",
            names[*i]
        );
    }
    let seen = rt.block_on(op(&fleet.link, &mut dave, &Op::Recover(b"pw-d"), 5));
    println!("phase 5: recover dave -> {seen:?}");
    assert!(
        matches!(seen.last(), Some(ClientOutcome::Recovered(k)) if *k == dave_key),
        "dave lost: {seen:?}"
    );
    let seen = rt.block_on(op(
        &fleet.link,
        &mut attacker,
        &Op::Recover(b"guess-last"),
        4,
    ));
    println!("phase 5: one more guess on bob -> {seen:?}");
    assert!(
        !seen.iter().any(|o| matches!(
            o,
            ClientOutcome::WrongPassword { .. } | ClientOutcome::Recovered(_)
        )),
        "{seen:?}"
    );

    println!(
        "attacker on bob: {wrong_answers} wrong-password answers, {locked} locked, other {other:?}; limit {LIMIT}; test took {:?}",
        started.elapsed()
    );
    let relay_log = fleet.relay.as_ref().map(Proc::log_text).unwrap_or_default();
    if let Some(line) = relay_log.lines().rev().find(|l| l.contains("stats:")) {
        println!("relay: {line}");
    }
    assert!(
        started.elapsed() < TEST_BUDGET,
        "the test took {:?}",
        started.elapsed()
    );
}
