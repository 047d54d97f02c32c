//! Relay failover for replicated groups (SPEC.md "Replication", "Relay failover"): the account's
//! preferred replica (or a fixed one) first, the same bytes to the next replica on timeout, bounded sends, a reply from any replica
//! routed back once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup::ConnectionId;
use e2ee_backup::internal::ids::AccountId;
use e2ee_backup::internal::relay::{
    FirstReplica, Relay, RelayConfig, RelayOutput, preferred_replica,
};
use e2ee_backup::internal::wire::{
    ClientReply, ClientRequest, ReplyBody, RequestKind, VaultReply, VaultRequest,
};

fn relay(home: u8) -> Relay {
    relay_with(FirstReplica::Fixed(home))
}

fn relay_with(first_replica: FirstReplica) -> Relay {
    let mut relay = Relay::new(RelayConfig {
        replicas_per_group: 5,
        first_replica,
        vault_retry_ms: 100,
        vault_sends_max: 3,
        ..RelayConfig::default()
    });
    relay.handle_connection_opened(ConnectionId(1), AccountId::new(b"alice").unwrap());
    relay
}

fn request(id: u64) -> Vec<u8> {
    ClientRequest {
        request_id: id,
        kind: RequestKind::LoginStart,
        sealed: vec![7; 40],
    }
    .encode()
}

fn outputs(relay: &mut Relay) -> Vec<RelayOutput> {
    std::iter::from_fn(|| relay.poll_output()).collect()
}

fn sent_to(outs: &[RelayOutput]) -> Vec<(u8, Vec<u8>)> {
    outs.iter()
        .filter_map(|o| match o {
            RelayOutput::ToReplica { replica, bytes, .. } => Some((*replica, bytes.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn sends_to_the_first_replica_then_fails_over_with_the_same_bytes() {
    let mut r = relay(2);
    r.handle_client_message(0, ConnectionId(1), &request(9));
    let first = sent_to(&outputs(&mut r));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, 2, "the fixed first replica first");
    assert_eq!(r.poll_timeout(), Some(100));
    r.handle_timeout(99);
    assert!(outputs(&mut r).is_empty(), "not yet due");
    r.handle_timeout(100);
    let second = sent_to(&outputs(&mut r));
    assert_eq!(
        second,
        vec![(3, first[0].1.clone())],
        "same bytes to the next replica"
    );
    r.handle_timeout(200);
    let third = sent_to(&outputs(&mut r));
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].0, 4);
    // vault_sends_max = 3: the route is dropped, nothing more is sent.
    r.handle_timeout(300);
    assert!(outputs(&mut r).is_empty());
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn every_relay_sends_an_account_to_its_preferred_replica_first() {
    let alice = AccountId::new(b"alice").unwrap();
    let preferred = preferred_replica(&alice, 5);
    for _relay in 0..3 {
        let mut r = relay_with(FirstReplica::PerAccount);
        r.handle_client_message(0, ConnectionId(1), &request(1));
        assert_eq!(sent_to(&outputs(&mut r))[0].0, preferred);
    }
    // The preference spreads accounts over every replica of the group.
    let mut seen = [false; 5];
    for i in 0..200u32 {
        let account = AccountId::new(format!("user-{i}").as_bytes()).unwrap();
        seen[usize::from(preferred_replica(&account, 5))] = true;
    }
    assert_eq!(seen, [true; 5]);
    assert_eq!(preferred_replica(&alice, 1), 0);
}

#[test]
fn avoids_a_suspected_replica_for_later_requests() {
    let mut r = relay(0);
    r.handle_client_message(0, ConnectionId(1), &request(1));
    assert_eq!(sent_to(&outputs(&mut r))[0].0, 0);
    r.handle_timeout(100);
    assert_eq!(sent_to(&outputs(&mut r))[0].0, 1);
    r.handle_client_message(150, ConnectionId(1), &request(2));
    assert_eq!(sent_to(&outputs(&mut r))[0].0, 1, "replica 0 is suspected");
}

#[test]
fn routes_the_first_reply_from_any_replica_and_drops_duplicates() {
    let mut r = relay(0);
    r.handle_client_message(0, ConnectionId(1), &request(5));
    let (_, bytes) = sent_to(&outputs(&mut r)).remove(0);
    r.handle_timeout(100);
    outputs(&mut r);
    let route_id = VaultRequest::decode(&bytes).unwrap().route_id;
    let reply = VaultReply {
        route_id,
        kind: RequestKind::LoginStart,
        body: ReplyBody::Sealed(vec![1, 2, 3]),
    }
    .encode();
    // Replica 1 answers first, then the slow replica 0 answers too.
    r.handle_vault_message(120, &reply);
    r.handle_vault_message(130, &reply);
    let outs = outputs(&mut r);
    assert_eq!(outs.len(), 1, "{outs:?}");
    let RelayOutput::ToClient { connection, bytes } = &outs[0] else {
        panic!("{outs:?}")
    };
    assert_eq!(*connection, ConnectionId(1));
    assert_eq!(ClientReply::decode(bytes).unwrap().request_id, 5);
    // The route is gone: no retry is pending any more.
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn a_single_replica_group_keeps_the_old_output() {
    let mut r = Relay::new(RelayConfig::default());
    r.handle_connection_opened(ConnectionId(1), AccountId::new(b"alice").unwrap());
    r.handle_client_message(0, ConnectionId(1), &request(1));
    assert!(matches!(
        outputs(&mut r)[..],
        [RelayOutput::ToReplica { replica: 0, .. }]
    ));
    // No failover, but the route expires (lost replies cannot fill the route table).
    let ttl = RelayConfig::default().route_ttl_ms;
    assert_eq!(r.poll_timeout(), Some(ttl));
    r.handle_timeout(ttl);
    assert!(outputs(&mut r).is_empty());
    assert_eq!(r.poll_timeout(), None);
}
