//! The client counts the replies it drops (SPEC.md "Dropped inputs"), and a dropped reply
//! leaves the operation running: the real answer still ends it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup::BackupKey;
use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::{ClientOutcome, ClientOutput};
use e2ee_backup::internal::drops::DropReason;
use e2ee_backup::internal::wire::{ClientReply, ClientRequest, ReplyBody};
use e2ee_backup_testkit::net::{Net, account};

#[test]
fn the_client_counts_replies_it_cannot_use_and_keeps_waiting_for_the_real_one() {
    let mut net = Net::fast(7);
    net.add_client(ConnectionId(1), &account("alice"));
    let outcome = net.register(ConnectionId(1), b"pw", &BackupKey::from_bytes([3; 32]), 5);
    assert!(matches!(outcome, ClientOutcome::Registered { .. }));
    assert_eq!(
        net.client(ConnectionId(1)).drops().total(),
        0,
        "an honest run drops nothing"
    );

    let op = net.start_status(ConnectionId(1));
    let Some(ClientOutput::Send { bytes }) = net.client(ConnectionId(1)).poll_output() else {
        panic!("the status sent nothing")
    };
    let request = ClientRequest::decode(&bytes).unwrap();
    let reply = |request_id, body| {
        ClientReply {
            request_id,
            kind: request.kind,
            body,
        }
        .encode()
    };

    net.deliver_to_client(ConnectionId(1), b"\xffnot a reply");
    assert_eq!(
        net.client(ConnectionId(1))
            .drops()
            .get(DropReason::CannotDecode),
        1
    );
    net.deliver_to_client(
        ConnectionId(1),
        &reply(request.request_id + 1, ReplyBody::Sealed(vec![0; 64])),
    );
    assert_eq!(
        net.client(ConnectionId(1))
            .drops()
            .get(DropReason::Replayed),
        1
    );
    net.deliver_to_client(
        ConnectionId(1),
        &reply(request.request_id, ReplyBody::Sealed(vec![0; 64])),
    );
    assert_eq!(
        net.client(ConnectionId(1))
            .drops()
            .get(DropReason::CannotOpen),
        1
    );
    assert_eq!(net.client(ConnectionId(1)).drops().total(), 3);
    assert!(
        net.client(ConnectionId(1)).poll_output().is_none(),
        "a dropped reply ended the operation"
    );

    // The retry timer resends the same request; the vault's answer ends it.
    assert!(matches!(
        net.outcome(ConnectionId(1), op),
        ClientOutcome::Status {
            attempts_remaining: 5,
            ..
        }
    ));
}
