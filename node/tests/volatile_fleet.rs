//! Volatile mode (the default without hardware), as processes: a brand-new fleet founds its
//! group by re-genesis (every replica starts as an amnesiac), serves, and a replica killed with
//! SIGKILL comes back by recovering from its peers (never from its disk), then carries a quorum
//! with two others gone. Bounded in time; children are killed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use e2ee_backup::BackupKey;
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup_node::config::Mode;

use support::*;

#[test]
fn a_volatile_fleet_founds_itself_and_a_killed_replica_recovers_from_its_peers() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let mut fleet = Fleet::with_mode(tmp.path(), Mode::Volatile);
    let deadline = started + TEST_BUDGET;
    for r in 0..5 {
        assert!(fleet.wait_voting(r, deadline), "replica {r} never voted");
        assert_eq!(fleet.started_as(r).as_deref(), Some("Recovering"));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rng = e2ee_backup_node::os_rng();
    let key = BackupKey::generate(&mut rng);
    let mut alice = client(&fleet.link, "alice");
    let seen = rt.block_on(op(
        &fleet.link,
        &mut alice,
        &Op::Register(b"pw", &key, 5),
        5,
    ));
    assert!(
        matches!(seen.last(), Some(ClientOutcome::Registered { .. })),
        "{seen:?}"
    );

    // Replica 0 dies and comes back: in volatile mode it never believes its disk.
    fleet.replicas[0].kill9();
    fleet.start_replica(0);
    assert!(
        fleet.wait_voting(0, deadline),
        "replica 0 never voted again"
    );
    assert_eq!(fleet.started_as(0).as_deref(), Some("Recovering"));
    // With 1 and 2 gone, {0, 3, 4} is the only quorum: the recovered replica must vote in it.
    std::thread::sleep(Duration::from_millis(300));
    fleet.replicas[1].kill9();
    fleet.replicas[2].kill9();
    let seen = rt.block_on(op(&fleet.link, &mut alice, &Op::Recover(b"pw"), 5));
    assert!(
        matches!(seen.last(), Some(ClientOutcome::Recovered(k)) if *k == key),
        "{seen:?}"
    );
    assert!(started.elapsed() < TEST_BUDGET);
}
