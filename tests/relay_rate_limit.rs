//! The relay's per-account token bucket (SPEC.md "Relay"): a burst of `bucket_capacity`
//! requests, one more per `refill_interval_ms`, per account, with a bounded bucket map.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup::ids::AccountId;
use e2ee_backup::relay::{Relay, RelayConfig, RelayOutput};
use e2ee_backup::wire::{ClientReply, ClientRequest, ReplyBody, RequestKind};

fn relay(max_buckets: usize) -> Relay {
    Relay::new(RelayConfig {
        bucket_capacity: 2,
        refill_interval_ms: 1_000,
        max_buckets,
        ..RelayConfig::default()
    })
}

fn open(relay: &mut Relay, connection: u64, name: &str) {
    relay.handle_connection_opened(connection, AccountId::new(name.as_bytes()).unwrap());
}

/// Sends one request on `connection`; true if it was forwarded, false if rate-limited.
fn send(relay: &mut Relay, now_ms: u64, connection: u64) -> bool {
    let request = ClientRequest {
        request_id: now_ms,
        kind: RequestKind::LoginStart,
        sealed: vec![1; 40],
    };
    relay.handle_client_message(now_ms, connection, &request.encode());
    let outputs: Vec<RelayOutput> = std::iter::from_fn(|| relay.poll_output()).collect();
    match outputs.as_slice() {
        [RelayOutput::ToVault { .. }] => true,
        [RelayOutput::ToClient { bytes, .. }] => {
            assert_eq!(
                ClientReply::decode(bytes).unwrap().body,
                ReplyBody::RateLimited
            );
            false
        }
        other => panic!("unexpected outputs {other:?}"),
    }
}

#[test]
fn an_account_is_limited_after_its_burst_and_earns_a_token_per_interval() {
    let mut r = relay(16);
    open(&mut r, 1, "alice");
    assert!(send(&mut r, 0, 1));
    assert!(send(&mut r, 1, 1));
    assert!(!send(&mut r, 2, 1), "burst of two spent");
    assert!(!send(&mut r, 999, 1), "no token before the interval");
    assert!(send(&mut r, 1_000, 1), "one token back after one interval");
    assert!(!send(&mut r, 1_001, 1));
}

#[test]
fn rate_limits_are_per_account() {
    let mut r = relay(16);
    open(&mut r, 1, "alice");
    open(&mut r, 2, "bob");
    assert!(send(&mut r, 0, 1));
    assert!(send(&mut r, 0, 1));
    assert!(!send(&mut r, 0, 1));
    assert!(send(&mut r, 0, 2), "bob has his own bucket");
}

#[test]
fn the_bucket_map_is_bounded_and_keeps_an_empty_bucket_over_a_fuller_one() {
    let mut r = relay(2);
    open(&mut r, 1, "alice");
    open(&mut r, 2, "bob");
    open(&mut r, 3, "carol");
    assert!(send(&mut r, 0, 1));
    assert!(send(&mut r, 0, 1)); // alice: 0 tokens
    assert!(send(&mut r, 0, 2)); // bob: 1 token
    assert!(
        send(&mut r, 0, 3),
        "carol gets a bucket: bob's (the fullest) is dropped"
    );
    assert_eq!(r.bucket_count(), 2);
    assert!(!send(&mut r, 0, 1), "alice is still limited");
    // Much later every bucket has refilled: they are all dropped to make room, which changes
    // nothing for their accounts (a full bucket is the same as none).
    open(&mut r, 4, "dave");
    assert!(send(&mut r, 10_000, 4));
    assert_eq!(r.bucket_count(), 1);
    assert!(send(&mut r, 10_000, 1));
    assert!(send(&mut r, 10_000, 1));
    assert!(!send(&mut r, 10_000, 1));
}

#[test]
fn a_clock_stepped_back_neither_grants_tokens_nor_stalls_the_bucket() {
    // The simulator's clock-jumps fault: a relay clock stepped back 260 s left an empty bucket
    // earning nothing until the clock caught up, refusing the account for minutes.
    let mut r = relay(16);
    open(&mut r, 1, "alice");
    assert!(send(&mut r, 300_000, 1));
    assert!(send(&mut r, 300_001, 1));
    assert!(!send(&mut r, 300_002, 1), "burst of two spent");
    // The clock steps back by 260 s: the step earns nothing.
    assert!(!send(&mut r, 40_000, 1), "a step back grants no token");
    // From the new time on, one token per interval as usual.
    assert!(!send(&mut r, 40_999, 1));
    assert!(
        send(&mut r, 41_000, 1),
        "one interval after the step, a token"
    );
    assert!(!send(&mut r, 41_001, 1));
}
