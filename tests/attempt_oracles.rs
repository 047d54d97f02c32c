//! Regression tests for issue 10: no uncounted password test, no lockout by lost or replayed
//! messages (SPEC.md INV-ATTEMPTS, "Per-registration OPRF seeds", "Login freshness",
//! "Outcome unknown", "Resuming an unfinished operation", "What the relay sees").
//!
//! Each test names the finding it closes. Where the old behaviour survives as a deliberately
//! broken vault (`VaultFault::SharedOprfKey`), a sibling test shows the same check failing on it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup_testkit::fixtures::RELAY;
use std::cell::RefCell;
use std::rc::Rc;

use e2ee_backup::BackupKey;
use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::{ClientOutcome, ClientOutput};
use e2ee_backup::internal::crypto::CryptoSuite;
use e2ee_backup::internal::crypto::real::InsecureFastSuite;
use e2ee_backup::internal::ids::AccountId;
use e2ee_backup::internal::relay::RelayConfig;
use e2ee_backup::internal::vault::change::first_login_epoch;
use e2ee_backup::internal::vault::{RecordState, SingleVaultOutput};
use e2ee_backup::internal::wire::{
    ClientReply, ClientRequest, RecordStatus, Reply, ReplyBody, Request, RequestKind, VaultReply,
    VaultRequest, reply_aad, request_aad,
};
use e2ee_backup_testkit::net::{Hop, Net, account, fast_fleet};

const PASSWORD: &[u8] = b"correct horse battery";

type FastNet = Net<InsecureFastSuite>;

fn key() -> BackupKey {
    BackupKey::from_bytes([0x42; 32])
}

fn active(net: &FastNet, who: &AccountId) -> e2ee_backup::internal::vault::ActiveRecord {
    match &net.vault.store().record(who).unwrap().state {
        RecordState::Active(a) => a.clone(),
        other => panic!("not active: {other:?}"),
    }
}

/// OPAQUE's masking key inside a serialized `RegistrationUpload` / `ServerRegistration`
/// (client public key 32 bytes, then the 64-byte masking key): a deterministic function of the
/// password's OPRF output under the OPRF key the registration response was computed with.
fn masking_key(upload: &[u8]) -> Vec<u8> {
    upload[32..96].to_vec()
}

/// What an attacker with the account's session learns from one `RegisterStart` with a guessed
/// password, without ever finishing the registration: the masking key its guess derives from
/// the vault's answer. If the vault answered under the live record's OPRF key, that equals the
/// record's masking key exactly when the guess is right — an offline-checkable password test.
fn register_start_probe(net: &mut FastNet, who: &AccountId, guess: &[u8]) -> Vec<u8> {
    let suite = InsecureFastSuite;
    let pinned = suite.fleet_public_keys(net.vault.fleet());
    let start = suite
        .client_registration_start(&mut net.rng, guess)
        .unwrap();
    let request = Request::RegisterStart {
        registration_request: start.message,
    };
    let sealed = suite
        .seal_request(
            &mut net.rng,
            &pinned,
            &request_aad(who, RequestKind::RegisterStart),
            &request.encode(),
        )
        .unwrap();
    let bytes = VaultRequest {
        route_id: 77,
        account: who.clone(),
        kind: RequestKind::RegisterStart,
        sealed: sealed.sealed,
    }
    .encode();
    let now = net.now_ms;
    // The shared judge sees the probe as it sees every request (INV-ATTEMPTS counts a
    // registration answer under a live OPRF key as a password test).
    net.oracle.observe_request(77, &bytes);
    net.vault
        .handle_relay_message(now, &mut net.rng, RELAY, &bytes);
    let mut response = None;
    while let Some(out) = net.vault.poll_output() {
        let SingleVaultOutput::ToRelay { bytes, .. } = out else {
            panic!("a RegisterStart wrote something");
        };
        net.oracle.observe_reply(now, &77, &bytes);
        let ReplyBody::Sealed(body) = VaultReply::decode(&bytes).unwrap().body else {
            panic!("rejected")
        };
        let plain = suite
            .open_reply(
                &sealed.reply_key,
                &reply_aad(RequestKind::RegisterStart),
                &body,
            )
            .unwrap();
        let Reply::RegistrationResponse {
            registration_response,
            ..
        } = Reply::decode_padded(&plain).unwrap()
        else {
            panic!("not a registration response")
        };
        response = Some(registration_response);
    }
    let ids = e2ee_backup::internal::crypto::Identities {
        account: who,
        fleet: &pinned.fleet_id,
    };
    let finished = suite
        .client_registration_finish(
            &mut net.rng,
            start.state,
            guess,
            &response.unwrap(),
            ids,
            &pinned,
        )
        .unwrap();
    masking_key(&finished.message)
}

/// A network whose relay never rate-limits these short tests (one test checks the limit).
fn roomy_net(seed: u64) -> FastNet {
    let relay = RelayConfig {
        bucket_capacity: 1_000,
        ..Default::default()
    };
    Net::new(InsecureFastSuite, fast_fleet(), fast_fleet(), seed, relay)
}

fn registered_net(seed: u64, limit: u32) -> FastNet {
    let mut net = roomy_net(seed);
    net.add_client(ConnectionId(1), &account("alice"));
    assert_eq!(
        net.register(ConnectionId(1), PASSWORD, &key(), limit),
        ClientOutcome::Registered { generation: 1 }
    );
    net
}

// ---- finding 1: RegisterStart as an uncounted OPRF oracle ---------------------------------------

#[test]
fn register_start_never_answers_under_the_live_records_oprf_key() {
    let mut net = registered_net(1, 10);
    let alice = account("alice");
    let live = masking_key(
        active(&net, &alice)
            .registration
            .opaque_registration
            .expose(),
    );
    // The right password through RegisterStart tells the attacker nothing: the answer is under
    // a fresh OPRF key, so even the right guess does not reproduce the record's masking key.
    for guess in [PASSWORD, b"wrong".as_slice()] {
        assert_ne!(register_start_probe(&mut net, &alice, guess), live);
    }
    // And nothing was counted or changed.
    assert_eq!(active(&net, &alice).attempts_used, 0);
    assert_eq!(net.oracle.judge.registration_tests, 0);
}

#[cfg(feature = "fault-injection")]
#[test]
fn with_the_broken_shared_oprf_key_register_start_is_a_password_test() {
    // The check above can fail: the pre-v2 vault (one OPRF key per account) lets every
    // uncounted RegisterStart test a password offline.
    let mut net = Net::fast(1);
    net.vault
        .inject_fault(e2ee_backup::internal::vault::VaultFault::SharedOprfKey);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    net.register(ConnectionId(1), PASSWORD, &key(), 10);
    let live = masking_key(
        active(&net, &alice)
            .registration
            .opaque_registration
            .expose(),
    );
    assert_eq!(register_start_probe(&mut net, &alice, PASSWORD), live);
    assert_ne!(register_start_probe(&mut net, &alice, b"wrong"), live);
    assert_eq!(
        net.oracle.judge.registration_tests, 2,
        "the shared judge counts both uncounted probes as password tests"
    );
}

#[cfg(feature = "fault-injection")]
#[test]
#[should_panic(expected = "the vault broke its promise")]
fn the_harness_stops_a_test_whose_vault_grants_more_password_tests_than_the_limit() {
    // The network asserts the shared judge after every reply: two uncounted probes against a
    // limit of one are an INV-ATTEMPTS violation, and the next reply the harness carries
    // fails the test.
    let mut net = Net::fast(1);
    net.vault
        .inject_fault(e2ee_backup::internal::vault::VaultFault::SharedOprfKey);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    net.register(ConnectionId(1), PASSWORD, &key(), 1);
    register_start_probe(&mut net, &alice, b"guess-1");
    register_start_probe(&mut net, &alice, b"guess-2");
    net.recover(ConnectionId(1), PASSWORD);
}

#[test]
fn every_registration_gets_its_own_oprf_seed() {
    let mut net = registered_net(2, 3);
    let alice = account("alice");
    let first = active(&net, &alice).registration;
    assert_eq!(
        net.register(ConnectionId(1), PASSWORD, &key(), 3),
        ClientOutcome::Registered { generation: 2 }
    );
    let second = active(&net, &alice).registration;
    // Same password, new OPRF key: a password learned against one registration does not carry
    // over to the next.
    assert_ne!(first.oprf_seed, second.oprf_seed);
    assert_ne!(
        masking_key(first.opaque_registration.expose()),
        masking_key(second.opaque_registration.expose())
    );
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Recovered(key())
    );
}

#[test]
fn a_register_finish_with_a_forged_ticket_is_refused() {
    // The ticket is sealed by the vault for this account and base generation; the client
    // cannot choose the OPRF seed. Replace it and the registration is refused without a write.
    let mut net = registered_net(3, 3);
    let alice = account("alice");
    let before = net.vault.store().record(&alice).cloned();
    let suite = InsecureFastSuite;
    let pinned = suite.fleet_public_keys(net.vault.fleet());
    let request = Request::RegisterFinish {
        base_generation: 1,
        attempt_limit: 3,
        registration_upload: vec![0; 192],
        wrapped_key: vec![1; 60],
        expose_check: [2; 32],
        delete_check: [3; 32],
        ticket: vec![4; 112],
    };
    let sealed = suite
        .seal_request(
            &mut net.rng,
            &pinned,
            &request_aad(&alice, RequestKind::RegisterFinish),
            &request.encode(),
        )
        .unwrap();
    let bytes = VaultRequest {
        route_id: 5,
        account: alice.clone(),
        kind: RequestKind::RegisterFinish,
        sealed: sealed.sealed,
    }
    .encode();
    let now = net.now_ms;
    net.vault
        .handle_relay_message(now, &mut net.rng, RELAY, &bytes);
    let outputs: Vec<SingleVaultOutput> = std::iter::from_fn(|| net.vault.poll_output()).collect();
    assert_eq!(outputs.len(), 1);
    assert!(matches!(outputs[0], SingleVaultOutput::ToRelay { .. }));
    assert_eq!(net.vault.store().record(&alice).cloned(), before);
}

// ---- finding 2: replayed LoginStarts -----------------------------------------------------------

/// Records every `LoginStart` the vault receives.
fn record_login_starts(net: &mut FastNet) -> Rc<RefCell<Vec<Vec<u8>>>> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    net.hook = Some(Box::new(move |hop, bytes| {
        if hop == Hop::RelayToVault
            && VaultRequest::decode(bytes).is_ok_and(|r| r.kind == RequestKind::LoginStart)
        {
            l.borrow_mut().push(bytes.to_vec());
        }
        vec![bytes.to_vec()]
    }));
    log
}

/// Alice makes `times` recoveries with a wrong password, each answered `WrongPassword`.
fn guess_wrong(net: &mut FastNet, times: usize) {
    for _ in 0..times {
        assert!(matches!(
            net.recover(ConnectionId(1), b"a guess"),
            ClientOutcome::WrongPassword { .. }
        ));
    }
}

fn replay(net: &mut FastNet, requests: &[Vec<u8>]) {
    let now = net.now_ms;
    for bytes in requests {
        net.vault
            .handle_relay_message(now, &mut net.rng, RELAY, bytes);
        while net.vault.poll_output().is_some() {}
    }
}

#[test]
fn login_starts_of_an_earlier_registration_do_not_count_against_a_new_one() {
    let mut net = registered_net(4, 5);
    let alice = account("alice");
    let log = record_login_starts(&mut net);
    guess_wrong(&mut net, 4);
    assert_eq!(log.borrow().len(), 4);
    // The owner re-registers (generation 2, limit 4); the operator replays the four old ones.
    assert_eq!(
        net.register(ConnectionId(1), PASSWORD, &key(), 4),
        ClientOutcome::Registered { generation: 2 }
    );
    let recorded = log.borrow().clone();
    replay(&mut net, &recorded);
    replay(&mut net, &recorded);
    let record = active(&net, &alice);
    assert_eq!(
        record.attempts_used, 0,
        "a replay counted against generation 2"
    );
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Recovered(key())
    );
}

#[test]
fn a_login_start_replayed_after_many_newer_ones_is_not_counted_again() {
    // The old window held 64 digests while a limit may be 100: the 66th newer login pushed the
    // first one out, and its replay counted again. Now the window holds a whole epoch.
    let mut net = registered_net(5, 100);
    let alice = account("alice");
    let log = record_login_starts(&mut net);
    guess_wrong(&mut net, 70);
    assert_eq!(active(&net, &alice).attempts_used, 70);
    let first = log.borrow()[0].clone();
    replay(&mut net, &[first]);
    assert_eq!(active(&net, &alice).attempts_used, 70);
}

#[test]
fn login_starts_from_before_a_successful_login_are_stale_after_it() {
    let mut net = registered_net(6, 5);
    let alice = account("alice");
    let log = record_login_starts(&mut net);
    let first_epoch = active(&net, &alice).login_epoch;
    assert_eq!(
        first_epoch,
        first_login_epoch(&active(&net, &alice).registration.registration_digest),
        "the first epoch comes from the registration"
    );
    guess_wrong(&mut net, 3);
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Recovered(key())
    );
    let record = active(&net, &alice);
    assert_eq!(
        (record.attempts_used, record.login_epoch),
        (0, first_epoch + 1)
    );
    let recorded = log.borrow().clone();
    replay(&mut net, &recorded);
    assert_eq!(active(&net, &alice).attempts_used, 0);
}

// ---- finding 3: an answer that leaves the outcome unknown ---------------------------------------

#[test]
fn outcome_unknown_keeps_the_login_and_the_resend_costs_no_second_attempt() {
    // Limit 1. The vault counts the LoginStart, but its answer is replaced by an authentic
    // "outcome unknown" (a consensus round that gave up). The client must resend the same
    // bytes and get the stored challenge, not end and spend a second attempt later.
    let mut net = registered_net(7, 1);
    let alice = account("alice");
    let op = net.start_recover_past_status(ConnectionId(1), PASSWORD);
    let Some(ClientOutput::Send { bytes }) = net.client(ConnectionId(1)).poll_output() else {
        panic!()
    };
    let request = ClientRequest::decode(&bytes).unwrap();
    assert_eq!(request.kind, RequestKind::LoginStart);
    let forward = VaultRequest {
        route_id: 1,
        account: alice.clone(),
        kind: request.kind,
        sealed: request.sealed.clone(),
    }
    .encode();
    let now = net.now_ms;
    net.vault
        .handle_relay_message(now, &mut net.rng, RELAY, &forward);
    while net.vault.poll_output().is_some() {}
    assert_eq!(active(&net, &alice).attempts_used, 1);
    // The authentic "outcome unknown", sealed under the request's reply key.
    let suite = InsecureFastSuite;
    let opened = suite
        .open_request(
            net.oracle.fleet(),
            &request_aad(&alice, RequestKind::LoginStart),
            &request.sealed,
        )
        .unwrap();
    let sealed = suite
        .seal_reply(
            &mut net.rng,
            &opened.reply_key,
            &reply_aad(RequestKind::LoginStart),
            &Reply::OutcomeUnknown.encode_padded(RequestKind::LoginStart),
        )
        .unwrap();
    let reply = ClientReply {
        request_id: request.request_id,
        kind: RequestKind::LoginStart,
        body: ReplyBody::Sealed(sealed),
    }
    .encode();
    net.deliver_to_client(ConnectionId(1), &reply);
    assert!(
        net.client(ConnectionId(1)).poll_output().is_none(),
        "ended on OutcomeUnknown"
    );
    // The retry timer resends the same bytes; the run finishes with the key.
    assert_eq!(
        net.outcome(ConnectionId(1), op),
        ClientOutcome::Recovered(key())
    );
    let challenges = &net.oracle.challenges[&(account("alice"), 1)];
    assert_eq!(challenges.len(), 1);
}

// ---- finding 4: unauthenticated refusals --------------------------------------------------------

#[test]
fn forged_rejections_never_end_a_counted_login_and_never_lock_the_owner() {
    // An on-path party replaces every sealed LoginStart answer with a one-byte `Rejected`. The
    // old client ended each try and started a fresh, counted login: limit 5 was locked in five
    // tries. Now each try resumes the same counted login.
    let mut net = registered_net(8, 5);
    let alice = account("alice");
    let forging = Rc::new(RefCell::new(true));
    let f = forging.clone();
    net.hook = Some(Box::new(move |hop, bytes| {
        if *f.borrow()
            && hop == Hop::RelayToClient
            && let Ok(reply) = ClientReply::decode(bytes)
            && reply.kind == RequestKind::LoginStart
        {
            let forged = ClientReply {
                body: ReplyBody::Rejected,
                ..reply
            };
            return vec![forged.encode()];
        }
        vec![bytes.to_vec()]
    }));
    for _ in 0..8 {
        assert_eq!(
            net.recover(ConnectionId(1), PASSWORD),
            ClientOutcome::Unavailable
        );
        assert!(net.client(ConnectionId(1)).has_unfinished_login());
    }
    assert_eq!(active(&net, &alice).attempts_used, 1);
    *forging.borrow_mut() = false;
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Recovered(key())
    );
}

#[test]
fn a_lost_answer_and_a_rate_limited_resend_keep_the_login() {
    // Limit 1: the LoginStart's answer is lost, and every resend is rate limited. The old client
    // dropped the login on `RateLimited`, and the next recovery locked the record.
    let relay = RelayConfig {
        bucket_capacity: 5,
        refill_interval_ms: 1_000_000,
        ..Default::default()
    };
    let mut net = Net::new(InsecureFastSuite, fast_fleet(), fast_fleet(), 9, relay);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    net.register(ConnectionId(1), PASSWORD, &key(), 1);
    let dropped = Rc::new(RefCell::new(false));
    let d = dropped.clone();
    net.hook = Some(Box::new(move |hop, bytes| {
        let login = VaultReply::decode(bytes).is_ok_and(|r| r.kind == RequestKind::LoginStart);
        if hop == Hop::VaultToRelay && login && !*d.borrow() {
            *d.borrow_mut() = true;
            return vec![];
        }
        vec![bytes.to_vec()]
    }));
    // Register used 3 tokens, Status 1, LoginStart 1: the resend finds the bucket empty.
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Unavailable
    );
    assert!(net.client(ConnectionId(1)).has_unfinished_login());
    assert_eq!(active(&net, &alice).attempts_used, 1);
    net.relay = e2ee_backup::internal::relay::Relay::new(RelayConfig::default());
    net.relay
        .handle_connection_opened(ConnectionId(1), alice.clone());
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Recovered(key())
    );
}

// ---- finding 5: a lost Exposed answer and the app's retry ---------------------------------------

/// Loses every answer to `Expose` while the returned flag is true (it starts true).
fn lose_expose_answers(net: &mut FastNet) -> Rc<RefCell<bool>> {
    let blackout = Rc::new(RefCell::new(true));
    let b = blackout.clone();
    net.hook = Some(Box::new(move |hop, bytes| {
        let expose = VaultReply::decode(bytes).is_ok_and(|r| r.kind == RequestKind::Expose);
        if *b.borrow() && hop == Hop::VaultToRelay && expose {
            return vec![];
        }
        vec![bytes.to_vec()]
    }));
    blackout
}

#[test]
fn an_unanswered_registration_is_resumed_not_registered_again() {
    // Every Expose answer is lost. The old app retry registered again, giving the same
    // password a fresh counter each round. Now the retry resumes: same generation.
    let mut net = Net::fast(10);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    let blackout = lose_expose_answers(&mut net);
    assert_eq!(
        net.register(ConnectionId(1), PASSWORD, &key(), 3),
        ClientOutcome::Unavailable
    );
    assert!(net.client(ConnectionId(1)).has_unfinished_registration());
    assert_eq!(
        net.register(ConnectionId(1), PASSWORD, &key(), 3),
        ClientOutcome::Unavailable
    );
    *blackout.borrow_mut() = false;
    assert_eq!(
        net.register(ConnectionId(1), PASSWORD, &key(), 3),
        ClientOutcome::Registered { generation: 1 }
    );
    assert!(!net.client(ConnectionId(1)).has_unfinished_registration());
    assert_eq!(net.vault.store().record(&alice).unwrap().generation, 1);
}

#[test]
fn a_registration_with_another_password_or_key_starts_afresh() {
    let mut net = Net::fast(11);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    let blackout = lose_expose_answers(&mut net);
    assert_eq!(
        net.register(ConnectionId(1), PASSWORD, &key(), 3),
        ClientOutcome::Unavailable
    );
    *blackout.borrow_mut() = false;
    assert_eq!(
        net.register(ConnectionId(1), b"another password", &key(), 3),
        ClientOutcome::Registered { generation: 2 }
    );
}

// ---- finding 6: routes of lost replies ----------------------------------------------------------

#[test]
fn lost_replies_for_one_account_do_not_rate_limit_another_in_single_replica_mode() {
    let relay = RelayConfig {
        max_routes: 4,
        route_ttl_ms: 5_000,
        ..Default::default()
    };
    let mut net = Net::new(InsecureFastSuite, fast_fleet(), fast_fleet(), 12, relay);
    let (alice, bob) = (account("alice"), account("bob"));
    net.add_client(ConnectionId(1), &alice);
    net.add_client(ConnectionId(2), &bob);
    net.register(ConnectionId(2), b"bob's password", &key(), 3);
    // Every vault reply for alice is lost: her requests fill the route table.
    net.hook = Some(Box::new(|hop, bytes| {
        if hop == Hop::VaultToRelay {
            return vec![];
        }
        vec![bytes.to_vec()]
    }));
    for _ in 0..4 {
        net.start_status(ConnectionId(1));
        net.run();
    }
    net.hook = None;
    // The relay expires them; bob is served.
    let now = net.now_ms + 5_000;
    net.now_ms = now;
    net.relay.handle_timeout(now);
    while net.relay.poll_output().is_some() {}
    assert_eq!(
        net.recover(ConnectionId(2), b"bob's password"),
        ClientOutcome::Recovered(key())
    );
}

// ---- finding 7: what the relay learns -----------------------------------------------------------

/// The (kind, size) of every message the relay saw during `f`.
fn relay_flow(net: &mut FastNet, f: impl FnOnce(&mut FastNet)) -> Vec<(RequestKind, usize)> {
    let start = net.relay_view.len();
    f(net);
    net.relay_view[start..]
        .iter()
        .map(|bytes| {
            let kind = ClientRequest::decode(bytes)
                .map(|r| r.kind)
                .or_else(|_| ClientReply::decode(bytes).map(|r| r.kind))
                .or_else(|_| VaultRequest::decode(bytes).map(|r| r.kind))
                .or_else(|_| VaultReply::decode(bytes).map(|r| r.kind))
                .unwrap();
            (kind, bytes.len())
        })
        .collect()
}

#[test]
fn the_relay_sees_the_same_flow_for_right_and_wrong_passwords() {
    let mut net = registered_net(13, 5);
    let wrong = relay_flow(&mut net, |net| {
        assert_eq!(
            net.recover(ConnectionId(1), b"not it"),
            ClientOutcome::WrongPassword { remaining: 4 }
        );
    });
    let right = relay_flow(&mut net, |net| {
        assert_eq!(
            net.recover(ConnectionId(1), PASSWORD),
            ClientOutcome::Recovered(key())
        );
    });
    assert_eq!(wrong, right);
    let kinds: Vec<RequestKind> = right.iter().map(|(k, _)| *k).collect();
    assert!(kinds.contains(&RequestKind::LoginFinish));
}

#[test]
fn every_answer_to_one_request_kind_has_the_same_size() {
    // Live, locked and unknown accounts answer Status and LoginStart with equal sizes.
    let mut net = registered_net(14, 1);
    let mut sizes: std::collections::BTreeMap<RequestKind, std::collections::BTreeSet<usize>> =
        Default::default();
    let mut collect = |net: &mut FastNet| {
        for bytes in &net.vault_emitted {
            if let Ok(reply) = VaultReply::decode(bytes) {
                sizes.entry(reply.kind).or_default().insert(bytes.len());
            }
        }
        net.vault_emitted.clear();
    };
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::Locked
    );
    collect(&mut net);
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Locked
    );
    collect(&mut net);
    net.add_client(ConnectionId(2), &account("nobody"));
    assert_eq!(
        net.recover(ConnectionId(2), PASSWORD),
        ClientOutcome::NoRecord
    );
    collect(&mut net);
    let mut net2 = registered_net(15, 3);
    assert_eq!(
        net2.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Recovered(key())
    );
    collect(&mut net2);
    for (kind, set) in &sizes {
        assert_eq!(set.len(), 1, "{kind:?} answers have sizes {set:?}");
    }
    // The envelope sizes SPEC.md "What the relay sees" names.
    for (kind, size) in [
        (RequestKind::Status, 96),
        (RequestKind::LoginStart, 448),
        (RequestKind::LoginFinish, 192),
        (RequestKind::RegisterStart, 320),
    ] {
        assert_eq!(
            sizes.get(&kind).and_then(|s| s.first()),
            Some(&size),
            "{kind:?}"
        );
    }
}

// ---- item 7: the guess-free status query --------------------------------------------------------

#[test]
fn status_tells_the_attempts_left_and_spends_none() {
    let mut net = registered_net(16, 3);
    let alice = account("alice");
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 2 }
    );
    for _ in 0..5 {
        let op = net.start_status(ConnectionId(1));
        assert_eq!(
            net.outcome(ConnectionId(1), op),
            ClientOutcome::Status {
                generation: 1,
                state: RecordStatus::Active,
                attempts_remaining: 2,
            }
        );
    }
    assert_eq!(active(&net, &alice).attempts_used, 1);
    assert!(
        net.oracle.challenges[&(account("alice"), 1)].len() == 1,
        "a Status made a challenge"
    );
}

// ---- item 6: strangers write nothing -----------------------------------------------------------

#[test]
fn requests_for_an_account_without_a_record_write_nothing() {
    let mut net = Net::fast(17);
    let stranger = account("stranger");
    net.add_client(ConnectionId(1), &stranger);
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::NoRecord
    );
    let op = net.start_status(ConnectionId(1));
    assert!(matches!(
        net.outcome(ConnectionId(1), op),
        ClientOutcome::Status {
            state: RecordStatus::NoRecord,
            ..
        }
    ));
    assert!(net.persisted.is_empty());
    assert!(net.vault.store().record(&stranger).is_none());
}
