//! Five replicas in memory (one per datacenter, quorum three): any two down, three down, heal,
//! restart with and without durable state, and a login finished through another replica
//! (SPEC.md "Replication": LIVE, INV-DURABLE, INV-ATTEMPTS).

use e2ee_backup::BackupKey;
use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup::internal::vault::RecordState;
use e2ee_backup::internal::wire::RequestKind;
use e2ee_backup_testkit::cluster::{
    Cluster, REPLICAS, account, register_and_guess_wrong_once, seeded_key,
};

fn key(seed: u64) -> BackupKey {
    seeded_key(seed)
}

/// A cluster where alice registered (limit 3) and guessed wrong once (2 attempts left).
fn registered_with_one_wrong_guess(seed: u64) -> (Cluster, BackupKey) {
    let mut c = Cluster::new(seed);
    let k = register_and_guess_wrong_once(&mut c, seed, 3);
    (c, k)
}

fn pairs() -> Vec<(u8, u8)> {
    let mut pairs = Vec::new();
    for a in 0..REPLICAS {
        for b in a + 1..REPLICAS {
            pairs.push((a, b));
        }
    }
    pairs
}

#[test]
fn registers_and_recovers_with_all_five_replicas_up() {
    let mut c = Cluster::new(1);
    let alice = account("alice");
    c.add_client(ConnectionId(1), &alice);
    let k = key(7);
    assert_eq!(
        c.register(ConnectionId(1), b"pw", &k, 5),
        ClientOutcome::Registered { generation: 1 }
    );
    assert_eq!(
        c.recover(ConnectionId(1), b"pw"),
        ClientOutcome::Recovered(k)
    );
}

#[test]
fn any_two_replicas_down_register_expose_recover_and_lockout_work() {
    for (seed, (a, b)) in pairs().into_iter().enumerate() {
        let mut c = Cluster::new(100 + seed as u64);
        c.crash(a);
        c.crash(b);
        let alice = account("alice");
        c.add_client(ConnectionId(1), &alice);
        let k = key(seed as u64);
        // Register includes Expose: the client only reports Registered after both.
        assert_eq!(
            c.register(ConnectionId(1), b"right", &k, 3),
            ClientOutcome::Registered { generation: 1 },
            "down: {a}, {b}"
        );
        assert_eq!(
            c.recover(ConnectionId(1), b"right"),
            ClientOutcome::Recovered(k.clone())
        );
        assert_eq!(
            c.recover(ConnectionId(1), b"wrong"),
            ClientOutcome::WrongPassword { remaining: 2 }
        );
        assert_eq!(
            c.recover(ConnectionId(1), b"wrong"),
            ClientOutcome::WrongPassword { remaining: 1 }
        );
        // The last one: no attempt is left, so the client reports Locked.
        assert_eq!(c.recover(ConnectionId(1), b"wrong"), ClientOutcome::Locked);
        assert_eq!(
            c.recover(ConnectionId(1), b"right"),
            ClientOutcome::Locked,
            "down: {a}, {b}"
        );
        let record = c.latest_record(&alice).expect("record");
        assert_eq!(record.state, RecordState::Locked, "the secrets are erased");
        // INV-ATTEMPTS: one challenge for the good login, three for the wrong ones.
        let challenges = c
            .oracle
            .challenges
            .get(&(alice.clone(), 1))
            .map_or(0, |s| s.len());
        assert_eq!(challenges, 4, "down: {a}, {b}");
    }
}

#[test]
fn three_replicas_down_reports_unavailable_and_heals() {
    let mut c = Cluster::new(3);
    let alice = account("alice");
    let bob = account("bob");
    c.add_client(ConnectionId(1), &alice);
    c.add_client(ConnectionId(2), &bob);
    let k = key(1);
    assert_eq!(
        c.register(ConnectionId(1), b"pw", &k, 3),
        ClientOutcome::Registered { generation: 1 }
    );
    for id in [0, 2, 4] {
        c.crash(id);
    }
    assert_eq!(
        c.register(ConnectionId(2), b"pw", &key(2), 3),
        ClientOutcome::Unavailable
    );
    assert_eq!(
        c.recover(ConnectionId(1), b"pw"),
        ClientOutcome::Unavailable
    );
    assert_eq!(
        c.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::Unavailable
    );
    // Nothing unsafe: no login response left any replica while no quorum was reachable.
    assert!(!c.oracle.challenges.contains_key(&(alice.clone(), 1)));
    assert!(!c.oracle.releases.contains_key(&alice));
    for id in [0, 2, 4] {
        c.restart(id);
    }
    assert_eq!(
        c.recover(ConnectionId(1), b"pw"),
        ClientOutcome::Recovered(k)
    );
    assert_eq!(
        c.register(ConnectionId(2), b"pw", &key(2), 3),
        ClientOutcome::Registered { generation: 1 }
    );
    // Logins that may have been counted during the outage never exceed the limit.
    let record = c.latest_record(&alice).expect("alice has a record");
    assert_eq!(record.generation, 1);
}

#[test]
fn restarts_every_replica_from_its_durable_state() {
    let (mut c, k) = registered_with_one_wrong_guess(4);
    for id in 0..REPLICAS {
        c.crash(id);
    }
    for id in 0..REPLICAS {
        c.restart(id);
    }
    // INV-DURABLE: the counted attempt survived the restart of the whole group.
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
fn a_replica_that_lost_its_disk_catches_up_before_it_votes() {
    let (mut c, k) = registered_with_one_wrong_guess(5);
    c.restart_amnesiac(0);
    assert!(!c.voting(0), "an amnesiac replica must not vote at once");
    c.run();
    assert!(c.voting(0), "the amnesiac replica caught up");
    // With two others down, the recovered replica is part of every quorum: the counter it
    // caught up must be the real one.
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
fn a_login_started_through_one_replica_finishes_through_another() {
    let mut c = Cluster::new(6);
    let alice = account("alice");
    c.add_client(ConnectionId(1), &alice);
    let k = key(6);
    assert_eq!(
        c.register(ConnectionId(1), b"pw", &k, 3),
        ClientOutcome::Registered { generation: 1 }
    );
    // LoginStart goes to the fixed first replica 0; LoginFinish is handled by replica 3, which opens
    // the sealed OPAQUE login state stored in the replicated record.
    c.redirect.insert(RequestKind::LoginStart, 0);
    c.redirect.insert(RequestKind::LoginFinish, 3);
    assert_eq!(
        c.recover(ConnectionId(1), b"pw"),
        ClientOutcome::Recovered(k)
    );
    assert_eq!(c.oracle.releases.get(&alice), Some(&1));
}

#[test]
fn identical_copies_of_a_request_in_flight_share_one_operation() {
    use e2ee_backup::internal::vault::RecordChange;
    use e2ee_backup::internal::wire::VaultRequest;
    use e2ee_backup_testkit::cluster::Packet;

    let mut c = Cluster::new(11);
    let alice = account("alice");
    c.add_client(ConnectionId(1), &alice);
    let k = key(3);
    c.register(ConnectionId(1), b"pw", &k, 3);
    let op = c.start_recover(ConnectionId(1), b"pw");
    // The guess-free Status goes first; step until the relay forwards the client's LoginStart.
    let login_start = |p: &Packet| match p {
        Packet::RelayToReplica(r, b)
            if VaultRequest::decode(b).unwrap().kind == RequestKind::LoginStart =>
        {
            Some((*r, b.clone()))
        }
        _ => None,
    };
    let mut found = None;
    for _ in 0..10_000 {
        found = c.in_flight.iter().find_map(login_start);
        if found.is_some() {
            break;
        }
        c.run_steps(1);
    }
    let (replica, bytes) = found.expect("the relay forwarded the LoginStart");
    let mut copy = VaultRequest::decode(&bytes).unwrap();
    assert_eq!(copy.kind, RequestKind::LoginStart);
    // Four copies under other route ids (resends through other relays), plus the same bytes
    // again, all while the first is still in flight.
    for extra in 1..=4 {
        copy.route_id = copy.route_id.wrapping_add(1_000 * extra);
        c.in_flight
            .push(Packet::RelayToReplica(replica, copy.encode()));
    }
    c.in_flight.push(Packet::RelayToReplica(replica, bytes));
    assert_eq!(c.finish(ConnectionId(1), op), ClientOutcome::Recovered(k));
    let log = c.log.borrow();
    let login_starts = log
        .changes
        .iter()
        .filter(|r| matches!(r.change, RecordChange::LoginStart { .. }))
        .count();
    // One LoginStart change, not six: the copies waited for the first one's answer.
    assert_eq!(login_starts, 1, "{:?}", log.changes.len());
}
