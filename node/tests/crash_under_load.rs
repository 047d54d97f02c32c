//! Crash consistency under load (issue 13): five replica processes in durable mode and a relay;
//! three client workers register accounts, recover them and guess wrong on their own victim
//! accounts without pause, while a chaos loop kills each replica in turn with SIGKILL at a
//! random moment, restarts it from its disk, waits until it votes again and does it again. At the end
//! every registration that was acknowledged recovers with its key, every victim's remaining
//! attempts only ever went down (no guess uncounted across the kills), and no victim answered
//! more wrong-password outcomes than its limit allows. Bounded in time; children are killed on
//! drop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::cell::RefCell;
use std::time::{Duration, Instant};

use e2ee_backup::BackupKey;
use e2ee_backup::internal::client::ClientOutcome;
use rand_core::RngCore as _;

use support::*;

const LOAD_FOR: Duration = Duration::from_secs(20);
const LIMIT: u32 = 6;

#[derive(Default)]
struct Ledger {
    /// (account, key) of every acknowledged registration.
    acknowledged: Vec<(String, BackupKey)>,
    /// Registrations that ended without an answer (may or may not have taken effect).
    uncertain: Vec<String>,
    recoveries_ok: u32,
    recoveries_unavailable: u32,
    /// Per victim: every `remaining` answered, in order, and how many `Locked`.
    victims: Vec<(String, Vec<u32>, u32)>,
}

async fn worker(link: &Link, w: usize, stop: Instant, ledger: &RefCell<Ledger>) {
    let mut rng = e2ee_backup_node::os_rng();
    let victim_name = format!("victim-{w}");
    let mut victim = client(link, &victim_name);
    let victim_key = BackupKey::generate(&mut rng);
    let seen = op(
        link,
        &mut victim,
        &Op::Register(b"victim-pw", &victim_key, LIMIT),
        6,
    )
    .await;
    assert!(
        matches!(seen.last(), Some(ClientOutcome::Registered { .. })),
        "{seen:?}"
    );
    let mut remaining = Vec::new();
    let mut locked = 0;
    let mut n = 0;
    while Instant::now() < stop {
        n += 1;
        // One new account: register, then recover it.
        let name = format!("user-{w}-{n}");
        let key = BackupKey::generate(&mut rng);
        let mut c = client(link, &name);
        let seen = op(link, &mut c, &Op::Register(b"pw", &key, LIMIT), 3).await;
        if matches!(seen.last(), Some(ClientOutcome::Registered { .. })) {
            ledger
                .borrow_mut()
                .acknowledged
                .push((name.clone(), key.clone()));
            let seen = op(link, &mut c, &Op::Recover(b"pw"), 3).await;
            match seen.last() {
                Some(ClientOutcome::Recovered(k)) => {
                    assert_eq!(*k, key, "{name} recovered another key");
                    ledger.borrow_mut().recoveries_ok += 1;
                }
                other => {
                    assert!(
                        matches!(other, Some(ClientOutcome::Unavailable) | None),
                        "{name}: {seen:?}"
                    );
                    ledger.borrow_mut().recoveries_unavailable += 1;
                }
            }
        } else {
            ledger.borrow_mut().uncertain.push(name);
        }
        // One wrong guess on the victim (a fresh client each time: an attacker keeps nothing).
        let mut attacker = client(link, &victim_name);
        let guess = format!("guess-{}", rng.next_u64());
        let seen = op(link, &mut attacker, &Op::Recover(guess.as_bytes()), 2).await;
        match seen.last() {
            Some(ClientOutcome::WrongPassword { remaining: r }) => remaining.push(*r),
            Some(ClientOutcome::Locked) => locked += 1,
            Some(ClientOutcome::Unavailable) | None => {}
            other => panic!("victim {w}: {other:?}"),
        }
    }
    ledger
        .borrow_mut()
        .victims
        .push((victim_name, remaining, locked));
}

async fn chaos(fleet: &RefCell<Fleet>, stop: Instant) -> (u32, Vec<String>) {
    let mut rng = e2ee_backup_node::os_rng();
    let mut kills: u32 = 0;
    let mut restarts = Vec::new();
    while Instant::now() < stop {
        tokio::time::sleep(Duration::from_millis(300 + rng.next_u64() % 1_200)).await;
        // Every replica in turn (at a random moment each time).
        let r = usize::try_from(kills % 5).unwrap();
        fleet.borrow_mut().replicas[r].kill9();
        kills += 1;
        tokio::time::sleep(Duration::from_millis(100 + rng.next_u64() % 500)).await;
        fleet.borrow_mut().start_replica(r);
        // Wait until it votes again before the next kill (at most one replica impaired).
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let voting = fleet.borrow().is_voting_now(r);
            if voting || Instant::now() > until {
                restarts.push(format!(
                    "r{r}:{}",
                    fleet.borrow().started_as(r).unwrap_or_default()
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    (kills, restarts)
}

#[test]
fn kill_9_at_random_points_under_load_loses_nothing_acknowledged_and_counts_every_guess() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path());
    let deadline = started + TEST_BUDGET;
    for r in 0..5 {
        assert!(fleet.wait_voting(r, deadline), "replica {r} never voted");
    }
    let link = Link {
        relay_addr: fleet.link.relay_addr,
        pinned: fleet.link.pinned.clone(),
        fleet: fleet.link.fleet.clone(),
        token_key: e2ee_backup_node::token::TokenKey::from_bytes(fleet.link.token_key.as_bytes())
            .unwrap(),
    };
    let fleet = RefCell::new(fleet);
    let ledger = RefCell::new(Ledger::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stop = Instant::now() + LOAD_FOR;
    let ((kills, restarts), (), (), ()) = rt.block_on(async {
        tokio::join!(
            chaos(&fleet, stop),
            worker(&link, 0, stop, &ledger),
            worker(&link, 1, stop, &ledger),
            worker(&link, 2, stop, &ledger),
        )
    });
    println!("chaos: {kills} kills with SIGKILL; restarts (replica:how) {restarts:?}");
    // Every replica up and voting, then the checks.
    for r in 0..5 {
        assert!(
            fleet.borrow().wait_voting(r, deadline),
            "replica {r} never voted again"
        );
    }
    let ledger = ledger.into_inner();
    println!(
        "load: {} acknowledged registrations, {} uncertain, {} recoveries ok, {} unavailable",
        ledger.acknowledged.len(),
        ledger.uncertain.len(),
        ledger.recoveries_ok,
        ledger.recoveries_unavailable
    );
    assert!(
        ledger.acknowledged.len() >= 3,
        "too little load to prove anything"
    );
    // INV-DURABLE: every acknowledged registration is there.
    for (name, key) in &ledger.acknowledged {
        let mut c = client(&link, name);
        let seen = rt.block_on(op(&link, &mut c, &Op::Recover(b"pw"), 5));
        assert!(
            matches!(seen.last(), Some(ClientOutcome::Recovered(k)) if k == key),
            "{name} lost: {seen:?}"
        );
    }
    // INV-ATTEMPTS: remaining only goes down; at most LIMIT - 1 wrong-password answers.
    for (name, remaining, locked) in &ledger.victims {
        println!("{name}: remaining answered {remaining:?}, locked {locked}×");
        assert!(
            remaining.windows(2).all(|w| w[1] < w[0]),
            "{name}: a guess was uncounted: {remaining:?}"
        );
        assert!(
            u32::try_from(remaining.len()).unwrap() < LIMIT,
            "{name}: {remaining:?}"
        );
        assert!(remaining.iter().all(|r| *r < LIMIT));
    }
    println!("test took {:?}", started.elapsed());
    assert!(
        started.elapsed() < TEST_BUDGET,
        "the test took {:?}",
        started.elapsed()
    );
}
