//! Frozen test vectors: the exact bytes of each wire message, the persisted record and the
//! key derivations, produced once from fixed inputs and a fixed seed and then pinned
//! (SPEC.md "Vault protocol"). A change here is a wire or derivation change and needs a new
//! protocol version.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup::BackupKey;
use e2ee_backup::internal::crypto::labels::{
    LABEL_DELETE_PROOF, LABEL_EXPOSE_PROOF, LABEL_PROOF_CHECK,
};
use e2ee_backup::internal::crypto::real::InsecureFastSuite;
use e2ee_backup::internal::crypto::{CryptoSuite, Identities, SecretBytes};
use e2ee_backup::internal::ids::{AccountId, FleetId};
use e2ee_backup::internal::vault::{
    AccountRecord, ActiveRecord, PendingLogin, RecordState, Registration,
};
use e2ee_backup::internal::wire::{
    ClientReply, ClientRequest, RecordStatus, Reply, ReplyBody, Request, RequestKind, VaultReply,
    VaultRequest, reply_aad, request_aad,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn alice() -> AccountId {
    AccountId::new(b"alice").unwrap()
}

fn fleet() -> FleetId {
    FleetId::new(b"fleet-1").unwrap()
}

fn vectors() -> Vec<(&'static str, Vec<u8>)> {
    let suite = InsecureFastSuite;
    let (account, fleet_id) = (alice(), fleet());
    let ids = Identities {
        account: &account,
        fleet: &fleet_id,
    };
    let export_key = SecretBytes::new(vec![0x11; 64]);
    let session_key = SecretBytes::new(vec![0x22; 64]);
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let backup_key = BackupKey::from_bytes([0x33; 32]);
    let record = AccountRecord {
        generation: 3,
        state: RecordState::Active(ActiveRecord {
            registration: Registration {
                oprf_seed: SecretBytes::new(vec![0x43; 2]),
                opaque_registration: SecretBytes::new(vec![0x44; 4]),
                wrapped_key: SecretBytes::new(vec![0x55; 3]),
                attempt_limit: 10,
                expose_check: [0x66; 32],
                delete_check: [0x77; 32],
                registration_digest: [0x88; 32],
            },
            attempts_used: 2,
            login_epoch: 5,
            pending_login: Some(PendingLogin {
                login_id: [0x99; 16],
                request_digest: [0xAA; 32],
                sealed_server_login: SecretBytes::new(vec![0xBB; 2]),
                credential_response: vec![0xCC; 2],
            }),
            recent_login_digests: vec![[0xDD; 32]],
        }),
    };
    vec![
        (
            "client_request",
            ClientRequest {
                request_id: 0x0102_0304_0506_0708,
                kind: RequestKind::LoginStart,
                sealed: vec![0xAA; 4],
            }
            .encode(),
        ),
        (
            "client_reply_sealed",
            ClientReply {
                request_id: 7,
                kind: RequestKind::LoginFinish,
                body: ReplyBody::Sealed(vec![1, 2, 3]),
            }
            .encode(),
        ),
        (
            "client_reply_rate_limited",
            ClientReply {
                request_id: 7,
                kind: RequestKind::RegisterStart,
                body: ReplyBody::RateLimited,
            }
            .encode(),
        ),
        (
            "vault_request",
            VaultRequest {
                route_id: 9,
                account: alice(),
                kind: RequestKind::Expose,
                sealed: vec![0xBB; 2],
            }
            .encode(),
        ),
        (
            "vault_reply_rejected",
            VaultReply {
                route_id: 9,
                kind: RequestKind::Delete,
                body: ReplyBody::Rejected,
            }
            .encode(),
        ),
        (
            "request_register_start",
            Request::RegisterStart {
                registration_request: vec![1; 3],
            }
            .encode(),
        ),
        (
            "request_register_finish",
            Request::RegisterFinish {
                base_generation: 2,
                attempt_limit: 10,
                registration_upload: vec![2; 3],
                wrapped_key: vec![3; 2],
                expose_check: [4; 32],
                delete_check: [5; 32],
                ticket: vec![0x0B; 2],
            }
            .encode(),
        ),
        (
            "request_expose",
            Request::Expose {
                generation: 3,
                proof: [6; 32],
            }
            .encode(),
        ),
        (
            "request_login_start",
            Request::LoginStart {
                generation: 3,
                login_epoch: 5,
                credential_request: vec![7; 2],
            }
            .encode(),
        ),
        (
            "request_login_finish",
            Request::LoginFinish {
                login_id: [8; 16],
                credential_finalization: vec![9; 2],
            }
            .encode(),
        ),
        (
            "request_delete",
            Request::Delete {
                generation: 3,
                proof: [10; 32],
            }
            .encode(),
        ),
        (
            "reply_registration_response",
            Reply::RegistrationResponse {
                generation: 0,
                registration_response: vec![1; 2],
                ticket: vec![0x0B; 2],
            }
            .encode(),
        ),
        ("request_status", Request::Status.encode()),
        (
            "reply_status",
            Reply::Status {
                generation: 3,
                state: RecordStatus::Active,
                attempts_remaining: 8,
                login_epoch: 5,
            }
            .encode(),
        ),
        (
            "reply_login_stale",
            Reply::LoginStale {
                generation: 3,
                login_epoch: 6,
            }
            .encode(),
        ),
        ("reply_outcome_unknown", Reply::OutcomeUnknown.encode()),
        (
            "reply_locked_padded_for_login_finish",
            Reply::Locked.encode_padded(RequestKind::LoginFinish),
        ),
        (
            "reply_registered",
            Reply::Registered { generation: 1 }.encode(),
        ),
        (
            "reply_login_challenge",
            Reply::LoginChallenge {
                login_id: [8; 16],
                generation: 1,
                attempts_remaining: 9,
                credential_response: vec![2; 2],
            }
            .encode(),
        ),
        (
            "reply_key_released",
            Reply::KeyReleased {
                sealed_wrapped_key: vec![3; 2],
            }
            .encode(),
        ),
        (
            "reply_login_failed",
            Reply::LoginFailed {
                attempts_remaining: 4,
            }
            .encode(),
        ),
        ("reply_locked", Reply::Locked.encode()),
        ("record_active", record.encode()),
        (
            "request_aad",
            request_aad(&alice(), RequestKind::LoginStart),
        ),
        ("reply_aad", reply_aad(RequestKind::LoginStart)),
        (
            "expose_proof",
            suite
                .record_proof(&export_key, LABEL_EXPOSE_PROOF, ids, 1)
                .to_vec(),
        ),
        (
            "delete_proof",
            suite
                .record_proof(&export_key, LABEL_DELETE_PROOF, ids, 1)
                .to_vec(),
        ),
        (
            "proof_check",
            suite.digest(LABEL_PROOF_CHECK, &[&[0x5A; 32]]).to_vec(),
        ),
        (
            "wrapped_key",
            suite
                .wrap_backup_key(&mut rng, &export_key, ids, &backup_key)
                .unwrap(),
        ),
        (
            "release",
            suite
                .seal_release(&mut rng, &session_key, &[8; 16], &[0x55; 3])
                .unwrap(),
        ),
    ]
}

const PINNED: &[(&str, &str)] = &[
    ("client_request", "021001020304050607080400000004aaaaaaaa"),
    (
        "client_reply_sealed",
        "02110000000000000007050000000003010203",
    ),
    ("client_reply_rate_limited", "021100000000000000070102"),
    (
        "vault_request",
        "0220000000000000000905616c6963650300000002bbbb",
    ),
    ("vault_reply_rejected", "022100000000000000090601"),
    ("request_register_start", "010003010101"),
    (
        "request_register_finish",
        "0200000000000000020000000a0003020202000203030404040404040404040404040404040404040404040404040404040404040404050505050505050505050505050505050505050505050505050505050505050500020b0b",
    ),
    (
        "request_expose",
        "0300000000000000030606060606060606060606060606060606060606060606060606060606060606",
    ),
    (
        "request_login_start",
        "040000000000000003000000000000000500020707",
    ),
    (
        "request_login_finish",
        "050808080808080808080808080808080800020909",
    ),
    (
        "request_delete",
        "0600000000000000030a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a",
    ),
    (
        "reply_registration_response",
        "0100000000000000000002010100020b0b",
    ),
    ("request_status", "07"),
    (
        "reply_status",
        "0f000000000000000302000000080000000000000005",
    ),
    ("reply_login_stale", "1000000000000000030000000000000006"),
    ("reply_outcome_unknown", "11"),
    (
        "reply_locked_padded_for_login_finish",
        "0001090000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    ),
    ("reply_registered", "020000000000000001"),
    (
        "reply_login_challenge",
        "060808080808080808080808080808080800000000000000010000000900020202",
    ),
    ("reply_key_released", "0700020303"),
    ("reply_login_failed", "0800000004"),
    ("reply_locked", "09"),
    (
        "record_active",
        "020000000000000003020002434300044444444400035555550000000a6666666666666666666666666666666666666666666666666666666666666666777777777777777777777777777777777777777777777777777777777777777788888888888888888888888888888888888888888888888888888888888888880000000200000000000000050199999999999999999999999999999999aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0002bbbb0002cccc01dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
    ),
    (
        "request_aad",
        "653265652d6261636b757020763120726571756573742061616400000005616c69636504",
    ),
    (
        "reply_aad",
        "653265652d6261636b7570207631207265706c792061616404",
    ),
    (
        "expose_proof",
        "6efad1083777b78e11edee6aabab0096cc3733b8135e3553012c9bb93515ed8a",
    ),
    (
        "delete_proof",
        "c32f51d2c19915d0296b93978c83f19c3235eeda7db1ed0d4c7597747004ce95",
    ),
    (
        "proof_check",
        "3e2b425b0443c0badccc188a3534273318628096c6193e1d86a99e58fc730f6d",
    ),
    (
        "wrapped_key",
        "22ec148010e5aa80fea2d5d3334c661a439f75c0dd8f1acdb3ecdc027b939dd88e8ace9ef4864ffcc38efb11ad3fa1f9f5285f3bb291a0ddef7704eb",
    ),
    (
        "release",
        "892674a040cb6b70cf63978d36a2ea9bfd4cef3e332fa28eca69111b4e09c76d3d14c29942f8eb518e1310dea3fafbd2e84f64",
    ),
];

#[test]
#[ignore = "prints the vectors, for pinning a deliberate protocol change"]
fn print_vectors() {
    for (name, bytes) in vectors() {
        println!("VECTOR {name} {}", hex::encode(bytes));
    }
}

#[test]
fn wire_messages_and_derivations_match_frozen_vectors() {
    let got = vectors();
    assert_eq!(got.len(), PINNED.len());
    for ((name, bytes), (pinned_name, pinned_hex)) in got.iter().zip(PINNED) {
        assert_eq!(name, pinned_name);
        assert_eq!(&hex::encode(bytes), pinned_hex, "vector {name}");
    }
}

#[test]
fn frozen_wrapped_key_unwraps_to_the_backup_key() {
    let suite = InsecureFastSuite;
    let (account, fleet_id) = (alice(), fleet());
    let ids = Identities {
        account: &account,
        fleet: &fleet_id,
    };
    let export_key = SecretBytes::new(vec![0x11; 64]);
    let wrapped = &vectors()
        .iter()
        .find(|(n, _)| *n == "wrapped_key")
        .unwrap()
        .1
        .clone();
    assert_eq!(
        suite.unwrap_backup_key(&export_key, ids, wrapped).unwrap(),
        BackupKey::from_bytes([0x33; 32])
    );
    let wrong = SecretBytes::new(vec![0x12; 64]);
    assert!(suite.unwrap_backup_key(&wrong, ids, wrapped).is_err());
}
