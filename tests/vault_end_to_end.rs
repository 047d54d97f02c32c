//! End-to-end: register → expose → recover (SPEC.md "Vault protocol"; INV-DISCLOSE).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup::BackupKey;
use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup::internal::crypto::CryptoSuite;
use e2ee_backup::internal::crypto::real::{ProductionFleetSecrets, ProductionSuite};
use e2ee_backup::internal::relay::RelayConfig;
use e2ee_backup::internal::stream::{open_to_vec, seal_to_vec};
use e2ee_backup::internal::vault::{DEFAULT_ATTEMPT_LIMIT, RecordState};
use e2ee_backup_testkit::net::{Net, account, fleet_id};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

#[test]
fn recovers_the_registered_backup_key_with_the_password() {
    let mut net = Net::fast(1);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(99));

    assert_eq!(
        net.register(
            ConnectionId(1),
            b"correct horse",
            &key,
            DEFAULT_ATTEMPT_LIMIT
        ),
        ClientOutcome::Registered { generation: 1 }
    );
    let record = net.vault.store().record(&alice).unwrap();
    assert!(matches!(record.state, RecordState::Active(_)));

    // The device backs up its chat history with the stream cipher; the cloud keeps only `backup`.
    let history: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let backup = seal_to_vec(
        &key,
        64 * 1024,
        &history,
        &mut ChaCha20Rng::seed_from_u64(3),
    )
    .unwrap();

    // A fresh device (new client) recovers the key with the password alone ...
    net.add_client(ConnectionId(2), &alice);
    let recovered = match net.recover(ConnectionId(2), b"correct horse") {
        ClientOutcome::Recovered(recovered) => recovered,
        other => panic!("expected a recovered key, got {other:?}"),
    };
    assert_eq!(recovered, key);

    // ... and restores the backup from the cloud with it.
    assert_eq!(open_to_vec(&recovered, &backup).unwrap(), history);
}

#[test]
fn changing_the_password_replaces_the_record() {
    let mut net = Net::fast(2);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(5));
    assert_eq!(
        net.register(ConnectionId(1), b"old password", &key, 5),
        ClientOutcome::Registered { generation: 1 }
    );
    assert_eq!(
        net.register(ConnectionId(1), b"new password", &key, 5),
        ClientOutcome::Registered { generation: 2 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"old password"),
        ClientOutcome::WrongPassword { remaining: 4 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"new password"),
        ClientOutcome::Recovered(key)
    );
}

#[test]
fn recovery_before_any_registration_finds_no_record() {
    let mut net = Net::fast(3);
    net.add_client(ConnectionId(1), &account("nobody"));
    assert_eq!(
        net.recover(ConnectionId(1), b"anything"),
        ClientOutcome::NoRecord
    );
}

#[test]
fn deleted_record_can_no_longer_be_recovered() {
    let mut net = Net::fast(4);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(6));
    net.register(ConnectionId(1), b"pw", &key, 3);
    assert_eq!(net.delete(ConnectionId(1), b"pw"), ClientOutcome::Deleted);
    assert_eq!(
        net.vault.store().record(&alice).unwrap().state,
        RecordState::Deleted
    );
    assert_eq!(net.recover(ConnectionId(1), b"pw"), ClientOutcome::NoRecord);
}

#[test]
fn restored_replica_keeps_records_across_a_restart() {
    let mut net = Net::fast(5);
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(7));
    net.register(ConnectionId(1), b"pw", &key, 3);
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 2 }
    );
    let mut restarted = e2ee_backup::internal::vault::SingleVault::new(
        e2ee_backup::internal::crypto::real::InsecureFastSuite,
        e2ee_backup_testkit::fixtures::fast_fleet(),
    );
    for (acct, sealed) in &net.persisted {
        restarted.restore_record(acct.clone(), sealed).unwrap();
    }
    assert_eq!(
        restarted.store().record(&alice),
        net.vault.store().record(&alice)
    );
    net.vault = restarted;
    assert_eq!(
        net.recover(ConnectionId(1), b"pw"),
        ClientOutcome::Recovered(key)
    );
}

#[test]
fn production_argon2id_suite_recovers_the_backup_key() {
    let seed = 42;
    let make =
        || ProductionFleetSecrets::generate(&mut ChaCha20Rng::seed_from_u64(seed), fleet_id());
    let mut net = Net::new(ProductionSuite, make(), make(), 7, RelayConfig::default());
    let alice = account("alice");
    net.add_client(ConnectionId(1), &alice);
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(8));
    assert_eq!(
        net.register(ConnectionId(1), b"pw", &key, DEFAULT_ATTEMPT_LIMIT),
        ClientOutcome::Registered { generation: 1 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"pw"),
        ClientOutcome::Recovered(key)
    );
    let _ = ProductionSuite.fleet_public_keys(net.vault.fleet());
}
