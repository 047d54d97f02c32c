//! Faults and attacks on the wire: drops, duplicates and replays at every step; the relay's
//! view; tampering with sealed requests and replies; a relay swapping accounts
//! (SPEC.md "Idempotency", INV-ATTEMPTS, INV-DISCLOSE).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup_testkit::fixtures::RELAY;
use std::cell::RefCell;
use std::rc::Rc;

use e2ee_backup::BackupKey;
use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::{ClientOutcome, ClientOutput};
use e2ee_backup::internal::crypto::real::InsecureFastSuite;
use e2ee_backup::internal::crypto::{CryptoSuite, Identities};
use e2ee_backup::internal::ids::AccountId;
use e2ee_backup::internal::relay::RelayOutput;
use e2ee_backup::internal::vault::{RecordState, SingleVaultOutput};
use e2ee_backup::internal::wire::{ClientRequest, RequestKind, VaultReply};
use e2ee_backup_testkit::net::{Hop, Net, account, contains, fleet_id};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const PASSWORD: &[u8] = b"correct horse battery";

fn key() -> BackupKey {
    BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(77))
}

fn attempts_used(net: &Net<InsecureFastSuite>, who: &AccountId) -> u32 {
    match &net.vault.store().record(who).unwrap().state {
        RecordState::Active(a) => a.attempts_used,
        other => panic!("not active: {other:?}"),
    }
}

/// Runs register + recovery with message number `n` (counted over all hops) dropped, and checks
/// that nothing gets stuck and no extra guess is counted.
fn run_with_drop_of_message(n: usize) {
    let mut net = Net::fast(100 + n as u64);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    let counter = Rc::new(RefCell::new(0usize));
    let c = counter.clone();
    net.hook = Some(Box::new(move |_hop, bytes| {
        let mut seen = c.borrow_mut();
        *seen += 1;
        if *seen == n {
            vec![]
        } else {
            vec![bytes.to_vec()]
        }
    }));
    assert_eq!(
        net.register(ConnectionId(1), PASSWORD, &key(), 5),
        ClientOutcome::Registered { generation: 1 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Recovered(key())
    );
    assert_eq!(attempts_used(&net, &alice), 0);
    // One login, one challenge — a dropped message never costs a guess.
    assert_eq!(net.oracle.challenges[&(account("alice"), 1)].len(), 1);
}

#[test]
fn dropping_any_single_message_gets_no_one_a_guess_and_strands_no_client() {
    // Count the messages of an undisturbed run, then drop each one in turn.
    let mut net = Net::fast(100);
    net.add_client(ConnectionId(1), &account("alice"));
    let total = Rc::new(RefCell::new(0usize));
    let t = total.clone();
    net.hook = Some(Box::new(move |_hop, bytes| {
        *t.borrow_mut() += 1;
        vec![bytes.to_vec()]
    }));
    net.register(ConnectionId(1), PASSWORD, &key(), 5);
    net.recover(ConnectionId(1), PASSWORD);
    let total = *total.borrow();
    assert_eq!(
        total, 24,
        "6 requests (RegisterStart, RegisterFinish, Expose, Status, LoginStart, LoginFinish) x 4 hops"
    );
    for n in 1..=total {
        run_with_drop_of_message(n);
    }
}

#[test]
fn duplicating_every_message_on_every_hop_counts_each_attempt_once() {
    // Every request reaches the relay twice: a bucket large enough for the doubled traffic.
    let relay = e2ee_backup::internal::relay::RelayConfig {
        bucket_capacity: 100,
        ..Default::default()
    };
    let mut net = Net::new(
        InsecureFastSuite,
        e2ee_backup_testkit::fixtures::fast_fleet(),
        e2ee_backup_testkit::fixtures::fast_fleet(),
        200,
        relay,
    );
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    net.hook = Some(Box::new(|_hop, bytes| vec![bytes.to_vec(), bytes.to_vec()]));
    assert_eq!(
        net.register(ConnectionId(1), PASSWORD, &key(), 5),
        ClientOutcome::Registered { generation: 1 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 4 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong again"),
        ClientOutcome::WrongPassword { remaining: 3 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Recovered(key())
    );
    assert_eq!(net.oracle.challenges[&(account("alice"), 1)].len(), 3);
}

#[test]
fn replaying_every_recorded_request_changes_nothing() {
    let mut net = Net::fast(300);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    net.hook = Some(Box::new(move |hop, bytes| {
        if hop == Hop::RelayToVault {
            l.borrow_mut().push(bytes.to_vec());
        }
        vec![bytes.to_vec()]
    }));
    net.register(ConnectionId(1), PASSWORD, &key(), 5);
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 4 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Recovered(key())
    );
    let record_before = net.vault.store().record(&alice).cloned();
    let challenges_before = net.oracle.challenges[&(account("alice"), 1)].len();
    let releases_before = net.oracle.releases[&account("alice")];

    // The operator replays every request the vault ever got, twice, in order and reversed.
    let recorded = log.borrow().clone();
    let now = net.now_ms;
    for bytes in recorded.iter().chain(recorded.iter().rev()) {
        net.vault
            .handle_relay_message(now, &mut net.rng, RELAY, bytes);
        while let Some(out) = net.vault.poll_output() {
            assert!(
                !matches!(out, SingleVaultOutput::Persist { .. }),
                "a replay changed a record"
            );
        }
    }
    assert_eq!(net.vault.store().record(&alice).cloned(), record_before);
    assert_eq!(
        net.oracle.challenges[&(account("alice"), 1)].len(),
        challenges_before
    );
    assert_eq!(net.oracle.releases[&account("alice")], releases_before);
    assert_eq!(attempts_used(&net, &alice), 0);
}

#[test]
fn replayed_old_login_start_is_never_counted_again_after_a_failure() {
    let mut net = Net::fast(301);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    net.register(ConnectionId(1), PASSWORD, &key(), 5);
    // Capture the LoginStart of a wrong-password attempt as the relay forwards it.
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    net.hook = Some(Box::new(move |hop, bytes| {
        if hop == Hop::RelayToVault {
            l.borrow_mut().push(bytes.to_vec());
        }
        vec![bytes.to_vec()]
    }));
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 4 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong two"),
        ClientOutcome::WrongPassword { remaining: 3 }
    );
    let first = log.borrow()[0].clone();
    let now = net.now_ms;
    for _ in 0..5 {
        net.vault
            .handle_relay_message(now, &mut net.rng, RELAY, &first);
        while net.vault.poll_output().is_some() {}
    }
    assert_eq!(attempts_used(&net, &alice), 2);
}

#[test]
fn relay_view_never_contains_password_backup_key_wrapped_key_or_export_key() {
    let mut net = Net::fast(400);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    let key = key();
    net.register(ConnectionId(1), PASSWORD, &key, 5);
    // The registration's own OPRF seed (chosen by the vault), for recomputing the export key.
    let oprf_seed = match &net.vault.store().record(&alice).unwrap().state {
        e2ee_backup::internal::vault::RecordState::Active(a) => a.registration.oprf_seed.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        net.recover(ConnectionId(1), b"a wrong password"),
        ClientOutcome::WrongPassword { remaining: 4 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Recovered(key.clone())
    );
    assert_eq!(
        net.delete(ConnectionId(1), PASSWORD),
        ClientOutcome::Deleted
    );

    // Wrapped key and export key of the registration, recomputed from the oracle's view.
    let finish = net
        .oracle
        .requests()
        .map(|(_, opened)| opened.request.clone())
        .find(|r| r.kind() == RequestKind::RegisterFinish)
        .unwrap();
    let e2ee_backup::internal::wire::Request::RegisterFinish {
        wrapped_key,
        registration_upload,
        ..
    } = finish
    else {
        panic!()
    };
    let suite = InsecureFastSuite;
    let fid = fleet_id();
    let ids = Identities {
        account: &alice,
        fleet: &fid,
    };
    let registration = suite
        .server_registration_finish(&registration_upload)
        .unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let start = suite.client_login_start(&mut rng, PASSWORD).unwrap();
    let server = suite
        .server_login_start(
            &mut rng,
            net.oracle.fleet(),
            &oprf_seed,
            &registration,
            &start.message,
            ids,
        )
        .unwrap();
    let pinned = suite.fleet_public_keys(net.oracle.fleet());
    let finished = suite
        .client_login_finish(
            &mut rng,
            start.state,
            PASSWORD,
            &server.message,
            ids,
            &pinned,
        )
        .unwrap();
    assert_eq!(
        suite
            .unwrap_backup_key(&finished.export_key, ids, &wrapped_key)
            .unwrap(),
        key
    );

    assert!(!net.relay_view.is_empty());
    for bytes in &net.relay_view {
        assert!(!contains(bytes, PASSWORD));
        assert!(!contains(bytes, key.as_bytes()));
        assert!(!contains(bytes, &wrapped_key));
        assert!(!contains(bytes, finished.export_key.expose()));
    }
}

/// Takes the next `ClientRequest` bytes the client wants to send.
fn next_send(net: &mut Net<InsecureFastSuite>, conn: u64) -> Vec<u8> {
    match net.client(ConnectionId(conn)).poll_output().unwrap() {
        ClientOutput::Send { bytes } => bytes,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn flipping_any_byte_of_a_sealed_request_is_rejected_without_a_state_change() {
    let mut net = Net::fast(500);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    net.register(ConnectionId(1), PASSWORD, &key(), 5);
    let record_before = net.vault.store().record(&alice).cloned();
    net.start_recover_past_status(ConnectionId(1), PASSWORD);
    let genuine = next_send(&mut net, 1);
    let decoded = ClientRequest::decode(&genuine).unwrap();
    // Bytes 2..10 are the unauthenticated request id (routing data); every other byte is
    // covered by the seal or its AAD.
    for i in (0..genuine.len()).filter(|i| !(2..10).contains(i)) {
        let mut tampered = genuine.clone();
        tampered[i] ^= 0x01;
        net.relay
            .handle_client_message(net.now_ms, ConnectionId(1), &tampered);
        while let Some(out) = net.relay.poll_output() {
            let RelayOutput::ToReplica { bytes, .. } = out else {
                continue;
            };
            net.vault
                .handle_relay_message(net.now_ms, &mut net.rng, RELAY, &bytes);
            while let Some(vault_out) = net.vault.poll_output() {
                let SingleVaultOutput::ToRelay { bytes, .. } = vault_out else {
                    panic!("tampered request {i} caused a write");
                };
                let reply = VaultReply::decode(&bytes).unwrap();
                assert_eq!(
                    reply.body,
                    e2ee_backup::internal::wire::ReplyBody::Rejected,
                    "byte {i}"
                );
            }
        }
        assert_eq!(
            net.vault.store().record(&alice).cloned(),
            record_before,
            "byte {i}"
        );
    }
    assert_eq!(decoded.kind, RequestKind::LoginStart);
}

#[test]
fn flipping_any_byte_of_a_sealed_reply_is_ignored_by_the_client() {
    let mut net = Net::fast(600);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    net.register(ConnectionId(1), PASSWORD, &key(), 5);
    // Capture one genuine LoginChallenge reply as the client would receive it.
    net.start_recover_past_status(ConnectionId(1), PASSWORD);
    let request = next_send(&mut net, 1);
    net.relay
        .handle_client_message(net.now_ms, ConnectionId(1), &request);
    let Some(RelayOutput::ToReplica { bytes, .. }) = net.relay.poll_output() else {
        panic!()
    };
    net.vault
        .handle_relay_message(net.now_ms, &mut net.rng, RELAY, &bytes);
    let mut reply = None;
    while let Some(out) = net.vault.poll_output() {
        if let SingleVaultOutput::ToRelay { bytes, .. } = out {
            reply = Some(bytes);
        }
    }
    net.relay.handle_vault_message(net.now_ms, &reply.unwrap());
    let Some(RelayOutput::ToClient { bytes: genuine, .. }) = net.relay.poll_output() else {
        panic!()
    };

    for i in 0..genuine.len() {
        let mut tampered = genuine.clone();
        tampered[i] ^= 0x01;
        net.client(ConnectionId(1)).handle_relay_message(
            0,
            &mut ChaCha20Rng::seed_from_u64(i as u64),
            &tampered,
        );
        assert_eq!(
            net.client(ConnectionId(1)).poll_output(),
            None,
            "tampered reply byte {i} was acted on"
        );
    }
    // The genuine reply still works: the client goes on to LoginFinish and recovers.
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let now = net.now_ms;
    net.client(ConnectionId(1))
        .handle_relay_message(now, &mut rng, &genuine);
    assert!(matches!(
        net.client(ConnectionId(1)).poll_output(),
        Some(ClientOutput::Send { .. })
    ));
}

#[test]
fn a_reply_from_another_fleet_is_rejected() {
    // A client pinned to fleet A talking to a vault with other keys never completes a login.
    let mut net = Net::fast(700);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    net.register(ConnectionId(1), PASSWORD, &key(), 5);
    let impostor = e2ee_backup::internal::crypto::real::InsecureFastFleetSecrets::generate(
        &mut ChaCha20Rng::seed_from_u64(0xBAD),
        fleet_id(),
    );
    net.vault = e2ee_backup::internal::vault::SingleVault::new(InsecureFastSuite, impostor);
    let outcome = net.recover(ConnectionId(1), PASSWORD);
    assert_eq!(outcome, ClientOutcome::Unavailable);
}

#[test]
fn relay_swapping_accounts_is_rejected() {
    let mut net = Net::fast(800);
    let alice = account("alice");
    let bob = account("bob");
    net.add_client(ConnectionId(1), &alice);
    net.add_client(ConnectionId(2), &bob);
    net.register(ConnectionId(1), PASSWORD, &key(), 5);
    net.register(ConnectionId(2), b"bob's password", &key(), 5);
    let alice_before = net.vault.store().record(&alice).cloned();
    let bob_before = net.vault.store().record(&bob).cloned();
    // A malicious relay binds alice's connection to bob's account.
    net.relay
        .handle_connection_opened(ConnectionId(1), bob.clone());
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Unavailable
    );
    assert_eq!(
        net.register(ConnectionId(1), b"takeover", &key(), 5),
        ClientOutcome::Unavailable
    );
    assert_eq!(net.vault.store().record(&alice).cloned(), alice_before);
    assert_eq!(net.vault.store().record(&bob).cloned(), bob_before);
}
