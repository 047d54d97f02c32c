//! The attempt limit: INV-ATTEMPTS and INV-DISCLOSE under wrong passwords and concurrent
//! attackers (SPEC.md "Invariants").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup::BackupKey;
use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup::internal::crypto::real::InsecureFastSuite;
use e2ee_backup::internal::relay::RelayConfig;
use e2ee_backup::internal::vault::RecordState;
use e2ee_backup::internal::wire::Reply;
use e2ee_backup_testkit::fixtures::RELAY;
use e2ee_backup_testkit::net::{Net, account, contains, fast_fleet};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn wrapped_key_of(net: &Net<InsecureFastSuite>, name: &str) -> Vec<u8> {
    match &net.vault.store().record(&account(name)).unwrap().state {
        RecordState::Active(a) => a.registration.wrapped_key.expose().to_vec(),
        other => panic!("record not active: {other:?}"),
    }
}

#[test]
fn locks_after_last_wrong_password_and_never_releases_the_key_again() {
    let mut net = Net::fast(11);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(1));
    net.register(ConnectionId(1), b"right", &key, 4);
    let wrapped = wrapped_key_of(&net, "alice");

    // The remaining count goes down with every wrong password.
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong 1"),
        ClientOutcome::WrongPassword { remaining: 3 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong 2"),
        ClientOutcome::WrongPassword { remaining: 2 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong 3"),
        ClientOutcome::WrongPassword { remaining: 1 }
    );
    // The last one: no attempt is left, so the client reports Locked.
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong 4"),
        ClientOutcome::Locked
    );

    let emitted_before = net.vault_emitted.len();
    let replies_before = net.oracle.replies.len();
    // After the limit, even the right password gets Locked, and the record's secrets are gone.
    assert_eq!(
        net.recover(ConnectionId(1), b"right"),
        ClientOutcome::Locked
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"right"),
        ClientOutcome::Locked
    );
    assert_eq!(
        net.vault.store().record(&alice).unwrap().state,
        RecordState::Locked
    );

    // INV-DISCLOSE: no key bytes ever leave the vault after that, in any emitted byte (replies and
    // persisted records), nor inside any reply once opened.
    for bytes in &net.vault_emitted[emitted_before..] {
        assert!(!contains(bytes, &wrapped));
        assert!(!contains(bytes, key.as_bytes()));
    }
    for (_, reply) in &net.oracle.replies[replies_before..] {
        assert!(!matches!(reply, Reply::KeyReleased { .. }));
        assert!(!contains(&reply.encode(), &wrapped));
    }
    // INV-ATTEMPTS: four challenges for a limit of four.
    assert_eq!(net.oracle.challenges[&(account("alice"), 1)].len(), 4);
    assert_eq!(net.oracle.releases.get(&account("alice")), None);
}

#[test]
fn successful_recovery_resets_the_remaining_count() {
    let mut net = Net::fast(12);
    net.add_client(ConnectionId(1), &account("alice"));
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(2));
    net.register(ConnectionId(1), b"right", &key, 3);
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 2 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 1 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"right"),
        ClientOutcome::Recovered(key)
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 2 }
    );
}

#[test]
fn concurrent_attackers_never_get_more_login_responses_than_the_limit() {
    let limit = 5;
    let relay = RelayConfig {
        bucket_capacity: 1_000,
        ..RelayConfig::default()
    };
    let mut net = Net::new(InsecureFastSuite, fast_fleet(), fast_fleet(), 13, relay);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(3));
    net.register(ConnectionId(1), b"right", &key, limit);

    // Twelve attackers on twelve connections start logins before any of them finishes.
    let mut ops = Vec::new();
    for conn in 10..22u64 {
        net.add_client(ConnectionId(conn), &alice);
        let guess = format!("guess {conn}");
        let op = net.start_recover(ConnectionId(conn), guess.as_bytes());
        ops.push((conn, op));
    }
    net.run();

    // INV-ATTEMPTS: count every distinct login response the vault emitted for this registration.
    let challenges = net.oracle.challenges[&(account("alice"), 1)].len();
    assert_eq!(challenges, usize::try_from(limit).unwrap());
    let wrong = net
        .outcomes
        .iter()
        .filter(|(_, _, o)| matches!(o, ClientOutcome::WrongPassword { .. }))
        .count();
    let locked = net
        .outcomes
        .iter()
        .filter(|(_, _, o)| *o == ClientOutcome::Locked)
        .count();
    assert_eq!(wrong + locked, 12);
    // The honest user with the right password now finds the record locked.
    assert_eq!(
        net.recover(ConnectionId(1), b"right"),
        ClientOutcome::Locked
    );
    assert_eq!(
        net.oracle.challenges[&(account("alice"), 1)].len(),
        usize::try_from(limit).unwrap()
    );
    assert_eq!(net.oracle.releases.get(&account("alice")), None);
}

#[test]
fn attackers_interleaved_with_the_owner_are_still_bounded() {
    let limit = 3;
    let relay = RelayConfig {
        bucket_capacity: 1_000,
        ..RelayConfig::default()
    };
    let mut net = Net::new(InsecureFastSuite, fast_fleet(), fast_fleet(), 14, relay);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(4));
    net.register(ConnectionId(1), b"right", &key, limit);
    for conn in 10..20u64 {
        net.add_client(ConnectionId(conn), &alice);
        net.start_recover(ConnectionId(conn), b"guess");
    }
    let owner = net.start_recover(ConnectionId(1), b"right");
    net.run();
    let challenges = net.oracle.challenges[&(account("alice"), 1)].len();
    assert!(
        challenges <= usize::try_from(limit).unwrap(),
        "{challenges} challenges"
    );
    let owner_outcome = net
        .outcomes
        .iter()
        .find(|(c, o, _)| *c == ConnectionId(1) && *o == owner)
        .unwrap()
        .2
        .clone();
    assert!(
        matches!(
            owner_outcome,
            ClientOutcome::Locked | ClientOutcome::Unavailable
        ),
        "{owner_outcome:?}"
    );
}

#[test]
fn login_challenge_leaves_only_after_the_counted_attempt_is_persisted() {
    use e2ee_backup::internal::client::ClientOutput;
    use e2ee_backup::internal::vault::SingleVaultOutput;
    use e2ee_backup::internal::wire::{ClientRequest, VaultRequest};

    let mut net = Net::fast(15);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    net.register(
        ConnectionId(1),
        b"right",
        &BackupKey::from_bytes([1; 32]),
        3,
    );
    net.start_recover_past_status(ConnectionId(1), b"guess");
    let Some(ClientOutput::Send { bytes }) = net.client(ConnectionId(1)).poll_output() else {
        panic!()
    };
    let request = ClientRequest::decode(&bytes).unwrap();
    let forward = VaultRequest {
        route_id: 1,
        account: alice.clone(),
        kind: request.kind,
        sealed: request.sealed,
    }
    .encode();
    let now = net.now_ms;
    net.vault
        .handle_relay_message(now, &mut net.rng, RELAY, &forward);
    let outputs: Vec<SingleVaultOutput> = std::iter::from_fn(|| net.vault.poll_output()).collect();
    // INV-ATTEMPTS: exactly one durable write (the counted attempt), then the reply.
    assert_eq!(outputs.len(), 2, "{outputs:?}");
    assert!(matches!(outputs[0], SingleVaultOutput::Persist { .. }));
    assert!(matches!(outputs[1], SingleVaultOutput::ToRelay { .. }));
    // The persisted record, restored on a fresh replica, already counts the attempt.
    let SingleVaultOutput::Persist { sealed_record, .. } = &outputs[0] else {
        panic!()
    };
    let mut fresh = e2ee_backup::internal::vault::SingleVault::new(InsecureFastSuite, fast_fleet());
    fresh.restore_record(alice.clone(), sealed_record).unwrap();
    match &fresh.store().record(&alice).unwrap().state {
        RecordState::Active(a) => assert_eq!(a.attempts_used, 1),
        other => panic!("{other:?}"),
    }
}
