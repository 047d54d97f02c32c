//! The relay's per-account token bucket (SPEC.md "Relay"): a burst of `bucket_capacity`
//! requests, one more per `refill_interval_ms`, per account, with a bounded bucket map.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup::ConnectionId;
use e2ee_backup::internal::ids::AccountId;
use e2ee_backup::internal::relay::{Relay, RelayConfig, RelayFault, RelayOutput};
use e2ee_backup::internal::wire::{ClientReply, ClientRequest, ReplyBody, RequestKind};

const INTERVAL_MS: u64 = 1_000;

fn relay(max_buckets: usize) -> Relay {
    relay_with(max_buckets, RelayFault::None)
}

fn relay_with(max_buckets: usize, fault: RelayFault) -> Relay {
    Relay::new(RelayConfig {
        bucket_capacity: 2,
        refill_interval_ms: INTERVAL_MS,
        max_buckets,
        fault,
        ..RelayConfig::default()
    })
}

fn open(relay: &mut Relay, connection: u64, name: &str) {
    relay.handle_connection_opened(
        ConnectionId(connection),
        AccountId::new(name.as_bytes()).unwrap(),
    );
}

/// Sends one request on `connection`; true if it was forwarded, false if rate-limited.
fn send(relay: &mut Relay, now_ms: u64, connection: u64) -> bool {
    let request = ClientRequest {
        request_id: now_ms,
        kind: RequestKind::LoginStart,
        sealed: vec![1; 40],
    };
    relay.handle_client_message(now_ms, ConnectionId(connection), &request.encode());
    let outputs: Vec<RelayOutput> = std::iter::from_fn(|| relay.poll_output()).collect();
    match outputs.as_slice() {
        [RelayOutput::ToReplica { replica: 0, .. }] => true,
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

#[test]
fn a_full_map_of_spent_buckets_makes_room_for_a_batch_of_new_accounts_at_once() {
    use e2ee_backup::internal::relay::BUCKET_EVICTION_BATCH;
    let max = 4 * BUCKET_EVICTION_BATCH;
    let mut r = relay(max);
    // `max` accounts, each with a partly spent bucket (nothing refills at time 0); the last
    // `BUCKET_EVICTION_BATCH` of them spent their whole burst.
    for i in 0..max {
        let connection = u64::try_from(i).unwrap();
        open(&mut r, connection, &format!("user-{i:03}"));
        assert!(send(&mut r, 0, connection));
        if i >= max - BUCKET_EVICTION_BATCH {
            assert!(send(&mut r, 0, connection));
        }
    }
    assert_eq!(r.bucket_count(), max);
    // A new account: the map drops the fullest `max / BUCKET_EVICTION_BATCH` at once.
    open(&mut r, 1_000, "newcomer-0");
    assert!(send(&mut r, 0, 1_000));
    let batch = max / BUCKET_EVICTION_BATCH;
    assert_eq!(r.bucket_count(), max - batch + 1);
    // The next `batch - 1` new accounts find room without dropping anything.
    for j in 1..batch {
        let connection = 1_000 + u64::try_from(j).unwrap();
        open(&mut r, connection, &format!("newcomer-{j}"));
        assert!(send(&mut r, 0, connection));
        assert_eq!(r.bucket_count(), max - batch + 1 + j);
    }
    // The accounts that spent their whole burst kept their empty buckets throughout.
    for i in max - BUCKET_EVICTION_BATCH..max {
        assert!(
            !send(&mut r, 0, u64::try_from(i).unwrap()),
            "user {i} is still limited"
        );
    }
}

/// An account spends its burst, the relay's clock steps back `step_ms`, and from then on the
/// account keeps to the rate: one request per refill interval, for `intervals` intervals. Returns
/// how long after the step its first request was admitted (None: never, in the window).
fn first_admission_after_step_back(fault: RelayFault, step_ms: u64, intervals: u64) -> Option<u64> {
    let mut r = relay_with(16, fault);
    open(&mut r, 1, "alice");
    let before = 1_000_000;
    while send(&mut r, before, 1) {}
    let after = before - step_ms;
    (0..=intervals)
        .map(|k| k * INTERVAL_MS)
        .find(|&offset| send(&mut r, after + offset, 1))
}

#[test]
fn after_a_clock_step_back_of_minutes_an_account_at_the_rate_is_admitted_within_one_interval() {
    // Steps back of one to ten minutes, watched for twenty intervals each.
    for step_ms in [60_000, 260_000, 600_000] {
        let admitted = first_admission_after_step_back(RelayFault::None, step_ms, 20);
        assert!(
            admitted.is_some_and(|offset| offset <= INTERVAL_MS),
            "step back {step_ms} ms: first admission {admitted:?} ms after the step"
        );
        // The checker can fail: without the re-anchor rule (the old relay) the empty bucket
        // earns nothing until the clock is back where it was, and the account stays refused.
        let broken =
            first_admission_after_step_back(RelayFault::NoReanchorAfterClockStep, step_ms, 20);
        assert_eq!(
            broken, None,
            "step back {step_ms} ms: the relay without re-anchoring must be caught"
        );
    }
    // No step: the same account is admitted one interval after its burst, both variants.
    for fault in [RelayFault::None, RelayFault::NoReanchorAfterClockStep] {
        assert_eq!(
            first_admission_after_step_back(fault, 0, 20),
            Some(INTERVAL_MS),
            "{fault:?}"
        );
    }
}
