//! The roles are generic over `CryptoSuite`: the model checker's symbolic suite (readable tokens,
//! no real cryptography) drives the real client, relay and vault through register, wrong
//! password, recovery and lockout over the same test network as the real suite. This is the
//! seam the model checker relies on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup::BackupKey;
use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup::internal::crypto::symbolic::{SymbolicFleetSecrets, SymbolicSuite};
use e2ee_backup::internal::relay::RelayConfig;
use e2ee_backup_testkit::net::{Net, account, fleet_id};

fn symbolic_net(seed: u64) -> Net<SymbolicSuite> {
    let fleet = || SymbolicFleetSecrets::new(fleet_id());
    Net::new(
        SymbolicSuite,
        fleet(),
        fleet(),
        seed,
        RelayConfig::default(),
    )
}

#[test]
fn roles_run_unchanged_over_the_symbolic_suite() {
    let mut net = symbolic_net(1);
    net.add_client(ConnectionId(1), &account("alice"));
    let key = BackupKey::from_bytes([7; 32]);
    assert_eq!(
        net.register(ConnectionId(1), b"pw", &key, 2),
        ClientOutcome::Registered { generation: 1 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 1 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"pw"),
        ClientOutcome::Recovered(key.clone())
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { remaining: 1 }
    );
    assert_eq!(
        net.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::Locked
    );
    assert_eq!(net.recover(ConnectionId(1), b"pw"), ClientOutcome::Locked);
}
