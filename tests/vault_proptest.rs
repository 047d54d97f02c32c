//! Property tests: every codec round-trips and never panics on arbitrary bytes; every role fed
//! arbitrary bytes or arbitrary sequences of (possibly tampered) messages never panics and never
//! changes vault state unless the message authenticates (SPEC.md "Vault protocol", INV-ATTEMPTS).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup_testkit::fixtures::RELAY;
use std::sync::OnceLock;

use e2ee_backup::BackupKey;
use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::{Client, ClientConfig, ClientOutcome, ClientOutput};
use e2ee_backup::internal::crypto::real::InsecureFastSuite;
use e2ee_backup::internal::crypto::{CryptoSuite, SecretBytes};
use e2ee_backup::internal::ids::AccountId;
use e2ee_backup::internal::relay::{Relay, RelayConfig};
use e2ee_backup::internal::vault::{
    AccountRecord, ActiveRecord, PendingLogin, PendingRecord, RecordState, Registration,
    SingleVault, SingleVaultOutput,
};
use e2ee_backup::internal::wire::{
    ClientReply, ClientRequest, Reply, ReplyBody, Request, RequestKind, VaultReply, VaultRequest,
};
use e2ee_backup_testkit::net::{Hop, Net, account, fast_fleet};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn kind() -> impl Strategy<Value = RequestKind> {
    prop_oneof![
        Just(RequestKind::RegisterStart),
        Just(RequestKind::RegisterFinish),
        Just(RequestKind::Expose),
        Just(RequestKind::LoginStart),
        Just(RequestKind::LoginFinish),
        Just(RequestKind::Delete),
        Just(RequestKind::Status),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn account_id() -> impl Strategy<Value = AccountId> {
    proptest::collection::vec(any::<u8>(), 1..40).prop_map(|b| AccountId::new(&b).unwrap())
}

fn body() -> impl Strategy<Value = ReplyBody> {
    prop_oneof![
        bytes(120).prop_map(ReplyBody::Sealed),
        Just(ReplyBody::Rejected),
        Just(ReplyBody::RateLimited)
    ]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        bytes(100).prop_map(|registration_request| Request::RegisterStart {
            registration_request
        }),
        (
            any::<u64>(),
            any::<u32>(),
            bytes(200),
            bytes(80),
            any::<[u8; 32]>(),
            any::<[u8; 32]>(),
            bytes(120)
        )
            .prop_map(
                |(
                    base_generation,
                    attempt_limit,
                    registration_upload,
                    wrapped_key,
                    expose_check,
                    delete_check,
                    ticket,
                )| {
                    Request::RegisterFinish {
                        base_generation,
                        attempt_limit,
                        registration_upload,
                        wrapped_key,
                        expose_check,
                        delete_check,
                        ticket,
                    }
                }
            ),
        (any::<u64>(), any::<[u8; 32]>())
            .prop_map(|(generation, proof)| Request::Expose { generation, proof }),
        (any::<u64>(), any::<u64>(), bytes(100)).prop_map(
            |(generation, login_epoch, credential_request)| Request::LoginStart {
                generation,
                login_epoch,
                credential_request
            }
        ),
        Just(Request::Status),
        (any::<[u8; 16]>(), bytes(100)).prop_map(|(login_id, credential_finalization)| {
            Request::LoginFinish {
                login_id,
                credential_finalization,
            }
        }),
        (any::<u64>(), any::<[u8; 32]>())
            .prop_map(|(generation, proof)| Request::Delete { generation, proof }),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        (any::<u64>(), bytes(100), bytes(120)).prop_map(
            |(generation, registration_response, ticket)| {
                Reply::RegistrationResponse {
                    generation,
                    registration_response,
                    ticket,
                }
            }
        ),
        (any::<u64>(), 0u8..5, any::<u32>(), any::<u64>()).prop_map(
            |(generation, state, attempts_remaining, login_epoch)| Reply::Status {
                generation,
                state: e2ee_backup::internal::wire::RecordStatus::from_code(state).unwrap(),
                attempts_remaining,
                login_epoch,
            }
        ),
        (any::<u64>(), any::<u64>()).prop_map(|(generation, login_epoch)| Reply::LoginStale {
            generation,
            login_epoch
        }),
        Just(Reply::OutcomeUnknown),
        any::<u64>().prop_map(|generation| Reply::Registered { generation }),
        any::<u64>().prop_map(|current_generation| Reply::RegistrationStale { current_generation }),
        any::<u64>().prop_map(|generation| Reply::Exposed { generation }),
        Just(Reply::ProofRejected),
        (any::<[u8; 16]>(), any::<u64>(), any::<u32>(), bytes(200)).prop_map(
            |(login_id, generation, attempts_remaining, credential_response)| {
                Reply::LoginChallenge {
                    login_id,
                    generation,
                    attempts_remaining,
                    credential_response,
                }
            }
        ),
        bytes(100).prop_map(|sealed_wrapped_key| Reply::KeyReleased { sealed_wrapped_key }),
        any::<u32>().prop_map(|attempts_remaining| Reply::LoginFailed { attempts_remaining }),
        Just(Reply::Locked),
        Just(Reply::NoRecord),
        Just(Reply::UnknownLogin),
        Just(Reply::Deleted),
        Just(Reply::Busy),
        Just(Reply::InvalidRequest),
    ]
}

fn registration() -> impl Strategy<Value = Registration> {
    (
        bytes(64),
        bytes(200),
        bytes(80),
        1..=100u32,
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(
                seed,
                reg,
                wrapped,
                attempt_limit,
                expose_check,
                delete_check,
                registration_digest,
            )| {
                Registration {
                    oprf_seed: SecretBytes::new(seed),
                    opaque_registration: SecretBytes::new(reg),
                    wrapped_key: SecretBytes::new(wrapped),
                    attempt_limit,
                    expose_check,
                    delete_check,
                    registration_digest,
                }
            },
        )
}

fn record() -> impl Strategy<Value = AccountRecord> {
    let login = (any::<[u8; 16]>(), any::<[u8; 32]>(), bytes(150), bytes(150)).prop_map(
        |(id, digest, st, resp)| PendingLogin {
            login_id: id,
            request_digest: digest,
            sealed_server_login: SecretBytes::new(st),
            credential_response: resp,
        },
    );
    let active = (
        registration(),
        any::<u32>(),
        any::<u64>(),
        proptest::option::of(login),
        proptest::collection::vec(any::<[u8; 32]>(), 0..4),
    )
        .prop_map(
            |(registration, used, login_epoch, pending_login, recent_login_digests)| {
                let attempts_used = used % (registration.attempt_limit + 1);
                RecordState::Active(ActiveRecord {
                    registration,
                    attempts_used,
                    login_epoch,
                    pending_login,
                    recent_login_digests,
                })
            },
        );
    let state = prop_oneof![
        registration()
            .prop_map(|registration| RecordState::Pending(PendingRecord { registration })),
        active,
        Just(RecordState::Locked),
        Just(RecordState::Deleted),
    ];
    (any::<u64>(), state).prop_map(|(generation, state)| AccountRecord { generation, state })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn client_request_round_trips(request_id in any::<u64>(), kind in kind(), sealed in bytes(200)) {
        let m = ClientRequest { request_id, kind, sealed };
        prop_assert_eq!(ClientRequest::decode(&m.encode()), Ok(m));
    }

    #[test]
    fn client_reply_round_trips(request_id in any::<u64>(), kind in kind(), body in body()) {
        let m = ClientReply { request_id, kind, body };
        prop_assert_eq!(ClientReply::decode(&m.encode()), Ok(m));
    }

    #[test]
    fn vault_request_round_trips(route_id in any::<u64>(), account in account_id(), kind in kind(), sealed in bytes(200)) {
        let m = VaultRequest { route_id, account, kind, sealed };
        prop_assert_eq!(VaultRequest::decode(&m.encode()), Ok(m));
    }

    #[test]
    fn vault_reply_round_trips(route_id in any::<u64>(), kind in kind(), body in body()) {
        let m = VaultReply { route_id, kind, body };
        prop_assert_eq!(VaultReply::decode(&m.encode()), Ok(m));
    }

    #[test]
    fn request_body_round_trips(m in request()) {
        prop_assert_eq!(Request::decode(&m.encode()), Ok(m));
    }

    #[test]
    fn reply_body_round_trips(m in reply()) {
        prop_assert_eq!(Reply::decode(&m.encode()), Ok(m));
    }

    #[test]
    fn account_record_round_trips(m in record()) {
        prop_assert_eq!(AccountRecord::decode(&m.encode()), Ok(m));
    }

    #[test]
    fn every_decoder_rejects_a_trailing_byte(m in request(), r in reply(), rec in record()) {
        let mut b = m.encode(); b.push(0);
        prop_assert!(Request::decode(&b).is_err());
        let mut b = r.encode(); b.push(0);
        prop_assert!(Reply::decode(&b).is_err());
        let mut b = rec.encode(); b.push(0);
        prop_assert!(AccountRecord::decode(&b).is_err());
    }

    #[test]
    fn every_decoder_rejects_truncation(m in request(), r in reply(), rec in record(), cut in any::<usize>()) {
        let b = m.encode();
        prop_assert!(Request::decode(&b[..cut % b.len()]).is_err());
        let b = r.encode();
        prop_assert!(Reply::decode(&b[..cut % b.len()]).is_err());
        let b = rec.encode();
        prop_assert!(AccountRecord::decode(&b[..cut % b.len()]).is_err());
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(b in bytes(300)) {
        let _ = ClientRequest::decode(&b);
        let _ = ClientReply::decode(&b);
        let _ = VaultRequest::decode(&b);
        let _ = VaultReply::decode(&b);
        let _ = Request::decode(&b);
        let _ = Reply::decode(&b);
        let _ = AccountRecord::decode(&b);
    }
}

/// A registered, exposed account and every genuine request the vault got while the owner made a
/// wrong and a right recovery.
struct Scenario {
    persisted: Vec<(AccountId, Vec<u8>)>,
    genuine: Vec<Vec<u8>>,
}

fn scenario() -> &'static Scenario {
    static SCENARIO: OnceLock<Scenario> = OnceLock::new();
    SCENARIO.get_or_init(|| {
        let mut net = Net::fast(900);
        let alice = account("alice");
        net.add_client(ConnectionId(1), &alice);
        let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(9));
        net.register(ConnectionId(1), b"pw", &key, 3);
        let persisted = net
            .persisted
            .iter()
            .map(|(a, s)| (a.clone(), s.clone()))
            .collect();
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let l = log.clone();
        net.hook = Some(Box::new(move |hop, bytes| {
            if hop == Hop::RelayToVault {
                l.borrow_mut().push(bytes.to_vec());
            }
            vec![bytes.to_vec()]
        }));
        assert_eq!(
            net.recover(ConnectionId(1), b"wrong"),
            ClientOutcome::WrongPassword { remaining: 2 }
        );
        assert_eq!(
            net.recover(ConnectionId(1), b"pw"),
            ClientOutcome::Recovered(key)
        );
        let genuine = log.borrow().clone();
        Scenario { persisted, genuine }
    })
}

fn fresh_vault() -> SingleVault<InsecureFastSuite> {
    let mut vault = SingleVault::new(InsecureFastSuite, fast_fleet());
    for (acct, sealed) in &scenario().persisted {
        vault.restore_record(acct.clone(), sealed).unwrap();
    }
    vault
}

fn drain_writes(vault: &mut SingleVault<InsecureFastSuite>) -> usize {
    let mut writes = 0;
    while let Some(out) = vault.poll_output() {
        if matches!(out, SingleVaultOutput::Persist { .. }) {
            writes += 1;
        }
    }
    writes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn vault_fed_arbitrary_bytes_never_panics_and_never_changes(b in bytes(400)) {
        let mut vault = fresh_vault();
        let before = vault.store().clone();
        vault.handle_relay_message(0, &mut ChaCha20Rng::seed_from_u64(1), RELAY, &b);
        prop_assert_eq!(drain_writes(&mut vault), 0);
        prop_assert_eq!(vault.store(), &before);
    }

    #[test]
    fn vault_fed_arbitrary_sealed_requests_rejects_them_without_change(kind in kind(), sealed in bytes(300), route_id in any::<u64>()) {
        let mut vault = fresh_vault();
        let before = vault.store().clone();
        let m = VaultRequest { route_id, account: account("alice"), kind, sealed };
        vault.handle_relay_message(0, &mut ChaCha20Rng::seed_from_u64(2), RELAY, &m.encode());
        let mut replies = 0;
        while let Some(out) = vault.poll_output() {
            match out {
                SingleVaultOutput::ToRelay { bytes, .. } => {
                    prop_assert_eq!(VaultReply::decode(&bytes).unwrap().body, ReplyBody::Rejected);
                    replies += 1;
                }
                other => prop_assert!(false, "unexpected output {:?}", other),
            }
        }
        prop_assert_eq!(replies, 1);
        prop_assert_eq!(vault.store(), &before);
    }

    #[test]
    fn vault_fed_sequences_of_genuine_and_tampered_messages_stays_within_the_limit(
        steps in proptest::collection::vec((any::<usize>(), proptest::option::of((any::<usize>(), 1..=255u8))), 1..24)
    ) {
        let genuine = &scenario().genuine;
        let mut vault = fresh_vault();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        for (pick, tamper) in steps {
            let mut bytes = genuine[pick % genuine.len()].clone();
            let tampered = match tamper {
                // Flip a byte outside the unauthenticated route id (bytes 2..10).
                Some((at, mask)) => {
                    let i = at % bytes.len();
                    if (2..10).contains(&i) { false } else { bytes[i] ^= mask; true }
                }
                None => false,
            };
            let before = vault.store().clone();
            vault.handle_relay_message(0, &mut rng, RELAY, &bytes);
            let writes = drain_writes(&mut vault);
            if tampered {
                prop_assert_eq!(writes, 0);
                prop_assert_eq!(vault.store(), &before);
            }
            // INV-ATTEMPTS: the counter never passes the limit.
            if let Some(AccountRecord { state: RecordState::Active(a), .. }) = vault.store().record(&account("alice")) {
                prop_assert!(a.attempts_used <= a.registration.attempt_limit);
            }
        }
    }

    #[test]
    fn vault_fed_authenticated_requests_with_arbitrary_fields_never_panics(bodies in proptest::collection::vec(request(), 1..8)) {
        let suite = InsecureFastSuite;
        let pinned = suite.fleet_public_keys(&fast_fleet());
        let mut vault = fresh_vault();
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let alice = account("alice");
        for (route_id, body) in (0u64..).zip(bodies) {
            let aad = e2ee_backup::internal::wire::request_aad(&alice, body.kind());
            let sealed = suite.seal_request(&mut rng, &pinned, &aad, &body.encode()).unwrap();
            let m = VaultRequest { route_id, account: alice.clone(), kind: body.kind(), sealed: sealed.sealed };
            vault.handle_relay_message(0, &mut rng, RELAY, &m.encode());
            let mut replies = 0;
            while let Some(out) = vault.poll_output() {
                if matches!(out, SingleVaultOutput::ToRelay { .. }) {
                    replies += 1;
                }
            }
            prop_assert_eq!(replies, 1);
            if let Some(AccountRecord { state: RecordState::Active(a), .. }) = vault.store().record(&alice) {
                prop_assert!(a.attempts_used <= a.registration.attempt_limit);
            }
        }
    }

    #[test]
    fn relay_fed_arbitrary_bytes_never_panics(b in bytes(300), from_vault in any::<bool>()) {
        let mut relay = Relay::new(RelayConfig::default());
        relay.handle_connection_opened(ConnectionId(1), account("alice"));
        if from_vault {
            relay.handle_vault_message(0, &b);
        } else {
            relay.handle_client_message(0, ConnectionId(1), &b);
        }
        while relay.poll_output().is_some() {}
    }

    #[test]
    fn client_fed_arbitrary_bytes_never_panics_or_completes_with_a_result(b in bytes(300), id in 0..3u64, k in kind(), body in body()) {
        let suite = InsecureFastSuite;
        let fleet = suite.fleet_public_keys(&fast_fleet());
        let mut client = Client::new(suite, fleet, account("alice"), ClientConfig::default());
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        client.start_recover(0, &mut rng, b"pw").unwrap();
        while client.poll_output().is_some() {}
        client.handle_relay_message(0, &mut rng, &b);
        client.handle_relay_message(0, &mut rng, &ClientReply { request_id: id, kind: k, body }.encode());
        while let Some(out) = client.poll_output() {
            match out {
                ClientOutput::Completed { outcome, .. } => prop_assert_eq!(outcome, ClientOutcome::Unavailable),
                other => prop_assert!(false, "unexpected output {:?}", other),
            }
        }
    }
}
