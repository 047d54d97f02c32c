//! The replica wire (SPEC.md "Replication", "Replica wire", "Replica link"): round trips,
//! "decode never panics", frozen vectors, and forged/tampered/misdirected envelopes dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup::ConnectionId;
use e2ee_backup::GroupId;
use e2ee_backup::internal::consensus::{
    AcceptedValue, AcceptorState, Ballot, Config, PeerMessage, Refusal, ReplicaId, ReplicaMeta,
    RequestTag,
};
use e2ee_backup::internal::crypto::CryptoSuite;
use e2ee_backup::internal::crypto::SecretBytes;
use e2ee_backup::internal::crypto::real::{InsecureFastFleetSecrets, InsecureFastSuite};
use e2ee_backup::internal::drops::DropReason;
use e2ee_backup::internal::ids::{AccountId, FleetId};
use e2ee_backup::internal::relay::{Relay, RelayConfig};
use e2ee_backup::internal::vault::replica_wire::{
    decode_replica_message, decode_replica_write, encode_replica_message, encode_replica_write,
};
use e2ee_backup::internal::vault::{
    AccountRecord, CensusMessage, ConsensusStore, CountedWrite, Lineage, LinkEnvelope,
    MemoryTrustedState, PendingRecord, RecordState, Registration, ReplicaBody, ReplicaMessage,
    ReplicaWrite, ReplicatedVault, ReplicatedVaultOutput, SingleVault, VolatileTrust,
};
use e2ee_backup::internal::wire::{
    DecodeError, ReplyBody, Request, RequestKind, VaultReply, VaultRequest, request_aad,
};
use e2ee_backup::{FailReason, RelayTag};
use e2ee_backup_testkit::fixtures::RELAY;
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn account_strategy() -> impl Strategy<Value = AccountId> {
    proptest::collection::vec(any::<u8>(), 1..12).prop_map(|b| AccountId::new(&b).unwrap())
}

fn ballot_strategy() -> impl Strategy<Value = Ballot> {
    (any::<u64>(), any::<u64>(), any::<u8>()).prop_map(|(epoch, counter, r)| Ballot {
        epoch,
        counter,
        replica: ReplicaId(r),
    })
}

fn record_strategy() -> impl Strategy<Value = Option<AccountRecord>> {
    let pending = (
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 1..40),
        1u32..=100,
    )
        .prop_map(|(generation, secret, attempt_limit)| AccountRecord {
            generation,
            state: RecordState::Pending(PendingRecord {
                registration: Registration {
                    oprf_seed: SecretBytes::new(secret.clone()),
                    opaque_registration: SecretBytes::new(secret.clone()),
                    wrapped_key: SecretBytes::new(secret),
                    attempt_limit,
                    expose_check: [1; 32],
                    delete_check: [2; 32],
                    registration_digest: [3; 32],
                },
            }),
        });
    prop_oneof![
        Just(None),
        any::<u64>().prop_map(|generation| Some(AccountRecord {
            generation,
            state: RecordState::Locked
        })),
        any::<u64>().prop_map(|generation| Some(AccountRecord {
            generation,
            state: RecordState::Deleted
        })),
        pending.prop_map(Some),
    ]
}

fn accepted_strategy() -> impl Strategy<Value = AcceptedValue<AccountRecord>> {
    (ballot_strategy(), record_strategy())
        .prop_map(|(ballot, value)| AcceptedValue { ballot, value })
}

fn tag_strategy() -> impl Strategy<Value = RequestTag> {
    (any::<u64>(), any::<u64>()).prop_map(|(incarnation, sequence)| RequestTag {
        incarnation,
        sequence,
    })
}

fn lineage_strategy() -> impl Strategy<Value = Option<Lineage>> {
    proptest::option::of((any::<u8>(), tag_strategy()).prop_map(|(r, tag)| Lineage {
        founder: ReplicaId(r),
        tag,
    }))
}

fn census_strategy() -> impl Strategy<Value = CensusMessage> {
    prop_oneof![
        tag_strategy().prop_map(|tag| CensusMessage::Query { tag }),
        (tag_strategy(), any::<u64>())
            .prop_map(|(tag, instance)| CensusMessage::Frozen { tag, instance }),
        tag_strategy().prop_map(|tag| CensusMessage::Check { tag }),
        (tag_strategy(), any::<u64>())
            .prop_map(|(tag, instance)| CensusMessage::StillFrozen { tag, instance }),
        tag_strategy().prop_map(|tag| CensusMessage::Commit { tag }),
    ]
}

fn message_strategy() -> impl Strategy<Value = ReplicaMessage> {
    let body = prop_oneof![
        peer_strategy().prop_map(ReplicaBody::Peer),
        census_strategy().prop_map(ReplicaBody::Census),
    ];
    (lineage_strategy(), body).prop_map(|(lineage, body)| ReplicaMessage { lineage, body })
}

fn peer_strategy() -> impl Strategy<Value = PeerMessage<AccountId, AccountRecord>> {
    prop_oneof![
        (account_strategy(), ballot_strategy())
            .prop_map(|(key, ballot)| PeerMessage::Prepare { key, ballot }),
        (
            account_strategy(),
            ballot_strategy(),
            proptest::option::of(accepted_strategy())
        )
            .prop_map(|(key, ballot, accepted)| PeerMessage::Promise {
                key,
                ballot,
                accepted
            }),
        (
            account_strategy(),
            ballot_strategy(),
            record_strategy(),
            proptest::option::of(ballot_strategy())
        )
            .prop_map(|(key, ballot, value, next)| PeerMessage::Accept {
                key,
                ballot,
                value,
                next
            }),
        (
            account_strategy(),
            ballot_strategy(),
            proptest::option::of(ballot_strategy())
        )
            .prop_map(|(key, ballot, next)| PeerMessage::Accepted { key, ballot, next }),
        (
            account_strategy(),
            ballot_strategy(),
            proptest::option::of(ballot_strategy()),
            any::<u64>()
        )
            .prop_map(|(key, ballot, promised, epoch_floor)| PeerMessage::Reject {
                key,
                ballot,
                refusal: Refusal {
                    promised,
                    epoch_floor
                }
            }),
        (tag_strategy(), any::<u64>()).prop_map(|(tag, epoch)| PeerMessage::Fence { tag, epoch }),
        (tag_strategy(), any::<u64>())
            .prop_map(|(tag, epoch_floor)| PeerMessage::FenceAck { tag, epoch_floor }),
        (
            tag_strategy(),
            any::<u64>(),
            proptest::option::of(account_strategy()),
            any::<u32>()
        )
            .prop_map(|(tag, epoch, after, limit)| PeerMessage::CatchUp {
                tag,
                epoch,
                after,
                limit
            }),
        (
            tag_strategy(),
            proptest::collection::vec((account_strategy(), accepted_strategy()), 0..4),
            any::<bool>()
        )
            .prop_map(|(tag, entries, more)| PeerMessage::CatchUpPage {
                tag,
                entries,
                more
            }),
    ]
}

fn write_strategy() -> impl Strategy<Value = ReplicaWrite> {
    prop_oneof![
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(a, b, c)| ReplicaWrite::Meta(
            ReplicaMeta {
                epoch_floor: a,
                established_epoch: b,
                counter_reserved: c
            }
        )),
        (
            account_strategy(),
            proptest::option::of(ballot_strategy()),
            proptest::option::of(accepted_strategy())
        )
            .prop_map(|(key, promised, accepted)| ReplicaWrite::Register {
                key,
                state: AcceptorState { promised, accepted }
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_replica_message_round_trips(message in message_strategy()) {
        let bytes = encode_replica_message(&message);
        prop_assert_eq!(decode_replica_message(&bytes), Ok(message));
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert_eq!(decode_replica_message(&longer), Err(DecodeError::TrailingBytes));
        for cut in 0..bytes.len() {
            prop_assert!(decode_replica_message(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn every_durable_write_round_trips(
        write in write_strategy(),
        era in any::<u64>(),
        slot_writes in any::<u64>(),
        lineage in lineage_strategy(),
    ) {
        let lineage = lineage.unwrap_or(Lineage::ORIGINAL);
        let write = CountedWrite { write, era, slot_writes, lineage };
        let bytes = encode_replica_write(&write);
        prop_assert_eq!(decode_replica_write(&bytes), Ok(write));
        let mut longer = bytes;
        longer.push(0);
        prop_assert_eq!(decode_replica_write(&longer), Err(DecodeError::TrailingBytes));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_replica_message(&bytes);
        let _ = decode_replica_write(&bytes);
        let _ = LinkEnvelope::decode(&bytes);
    }
}

#[test]
fn rejects_unknown_versions_and_codes() {
    let message = ReplicaMessage {
        lineage: None,
        body: ReplicaBody::Peer(PeerMessage::Fence {
            tag: RequestTag {
                incarnation: 1,
                sequence: 2,
            },
            epoch: 3,
        }),
    };
    let mut bytes = encode_replica_message(&message);
    bytes[0] = 1;
    assert_eq!(
        decode_replica_message(&bytes),
        Err(DecodeError::UnsupportedVersion(1))
    );
    bytes[0] = 2;
    bytes[2] = 0x7F;
    assert_eq!(
        decode_replica_message(&bytes),
        Err(DecodeError::UnknownCode(0x7F))
    );
}

#[test]
fn rejects_a_catch_up_page_claiming_more_entries_than_allowed() {
    // version, no lineage, CatchUpPage, tag (16 bytes), more = 0, count = u32::MAX, nothing else.
    let mut bytes = vec![2, 0, 0x09];
    bytes.extend_from_slice(&[0; 16]);
    bytes.push(0);
    bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        decode_replica_message(&bytes),
        Err(DecodeError::InvalidValue)
    );
}

// ---- frozen vectors -----------------------------------------------------------------------------

fn vector_account() -> AccountId {
    AccountId::new(b"alice").unwrap()
}

/// Sent by a recovering replica: no lineage.
const PREPARE_HEX: &str = "02000105616c6963650000000000000001000000000000000203";
/// Sent by a voter of the original lineage: founder 0, tag {0, 0}.
const ACCEPT_LOCKED_HEX: &str = "020100000000000000000000000000000000000305616c6963650000000000000001000000000000000203010000000a0200000000000000070300";
/// The Fence an amnesiac replica 0 (incarnation 9) of group 0 sends replica 1, sealed under the
/// test fleet's link key with the salt drawn from `ChaCha20Rng::seed_from_u64(2)`.
const SEALED_FENCE_HEX: &str = "010000000000010000004b8e0bb7534fcf4f12ac7458fb8092fe529ce56ea0bb68edb63b5f6ccb168aad930b3e7f2ee3f690e6aa63169b4d1517dab99bc3792b759335ed84f6144b25398f857c316141b796b57bee32";

#[test]
fn prepare_matches_its_frozen_vector() {
    let message = ReplicaMessage {
        lineage: None,
        body: ReplicaBody::Peer(PeerMessage::Prepare {
            key: vector_account(),
            ballot: Ballot {
                epoch: 1,
                counter: 2,
                replica: ReplicaId(3),
            },
        }),
    };
    assert_eq!(hex::encode(encode_replica_message(&message)), PREPARE_HEX);
}

#[test]
fn accept_of_a_locked_record_matches_its_frozen_vector() {
    let message = ReplicaMessage {
        lineage: Some(Lineage::ORIGINAL),
        body: ReplicaBody::Peer(PeerMessage::Accept {
            key: vector_account(),
            ballot: Ballot {
                epoch: 1,
                counter: 2,
                replica: ReplicaId(3),
            },
            value: Some(AccountRecord {
                generation: 7,
                state: RecordState::Locked,
            }),
            next: None,
        }),
    };
    let bytes = encode_replica_message(&message);
    assert_eq!(hex::encode(&bytes), ACCEPT_LOCKED_HEX);
    assert_eq!(decode_replica_message(&bytes), Ok(message));
}

// ---- sealing ---------------------------------------------------------------------------------------

fn fleet() -> InsecureFastFleetSecrets {
    InsecureFastFleetSecrets::generate(
        &mut ChaCha20Rng::seed_from_u64(0xF1EE7),
        FleetId::new(b"fleet-test-1").unwrap(),
    )
}

type Vault = ReplicatedVault<InsecureFastSuite, ConsensusStore<VolatileTrust>>;

fn config() -> Config {
    Config::new((0..5).map(ReplicaId))
}

fn vault(group: u32, id: u8) -> Vault {
    let store =
        ConsensusStore::new(GroupId(group), ReplicaId(id), config(), 1, VolatileTrust).unwrap();
    let mut v = ReplicatedVault::new(InsecureFastSuite, fleet(), store);
    v.start(&mut ChaCha20Rng::seed_from_u64(1));
    while v.poll_output().is_some() {}
    v
}

/// The first sealed message an amnesiac replica 0 sends to replica `to`.
fn fence_to(to: u8) -> Vec<u8> {
    let store =
        ConsensusStore::recover_amnesiac(GroupId(0), ReplicaId(0), config(), 9, 0, VolatileTrust)
            .unwrap();
    let mut v = ReplicatedVault::new(InsecureFastSuite, fleet(), store);
    v.start(&mut ChaCha20Rng::seed_from_u64(2));
    let mut found = None;
    while let Some(out) = v.poll_output() {
        if let ReplicatedVaultOutput::ToReplica { to: dest, bytes } = out
            && dest == ReplicaId(to)
        {
            found = Some(bytes);
        }
    }
    found.expect("a fence to the replica")
}

fn outputs(v: &mut Vault) -> Vec<ReplicatedVaultOutput> {
    std::iter::from_fn(|| v.poll_output()).collect()
}

#[test]
fn a_sealed_message_is_answered_by_its_addressee() {
    let mut b = vault(0, 1);
    b.handle_replica_message(0, &mut ChaCha20Rng::seed_from_u64(3), &fence_to(1));
    let outs = outputs(&mut b);
    assert!(
        outs.iter().any(
            |o| matches!(o, ReplicatedVaultOutput::ToReplica { to, .. } if *to == ReplicaId(0))
        ),
        "{outs:?}"
    );
}

#[test]
fn drops_every_tampered_byte_of_a_sealed_message() {
    let bytes = fence_to(1);
    for i in 0..bytes.len() {
        let mut tampered = bytes.clone();
        tampered[i] ^= 0x01;
        let mut b = vault(0, 1);
        b.handle_replica_message(0, &mut ChaCha20Rng::seed_from_u64(3), &tampered);
        assert!(outputs(&mut b).is_empty(), "byte {i} tampered but accepted");
    }
}

#[test]
fn drops_messages_for_another_replica_or_group() {
    // Addressed to replica 2, delivered to replica 1.
    let mut b = vault(0, 1);
    b.handle_replica_message(0, &mut ChaCha20Rng::seed_from_u64(3), &fence_to(2));
    assert!(outputs(&mut b).is_empty());
    // Re-addressed in the clear header: the AAD no longer matches.
    let mut env = LinkEnvelope::decode(&fence_to(2)).unwrap();
    env.to = ReplicaId(1);
    b.handle_replica_message(0, &mut ChaCha20Rng::seed_from_u64(3), &env.encode());
    assert!(outputs(&mut b).is_empty());
    // Replica 1 of group 7 never accepts group 0's messages.
    let mut other_group = vault(7, 1);
    other_group.handle_replica_message(0, &mut ChaCha20Rng::seed_from_u64(3), &fence_to(1));
    assert!(outputs(&mut other_group).is_empty());
    // A forged sender in the header fails the AAD too.
    let mut env = LinkEnvelope::decode(&fence_to(1)).unwrap();
    env.from = ReplicaId(4);
    b.handle_replica_message(0, &mut ChaCha20Rng::seed_from_u64(3), &env.encode());
    assert!(outputs(&mut b).is_empty());
}

#[test]
fn drops_a_message_sealed_under_another_fleets_link_key() {
    let other = InsecureFastFleetSecrets::generate(
        &mut ChaCha20Rng::seed_from_u64(99),
        FleetId::new(b"fleet-test-1").unwrap(),
    );
    let store =
        ConsensusStore::recover_amnesiac(GroupId(0), ReplicaId(0), config(), 9, 0, VolatileTrust)
            .unwrap();
    let mut forger = ReplicatedVault::new(InsecureFastSuite, other, store);
    forger.start(&mut ChaCha20Rng::seed_from_u64(2));
    let forged = outputs(&mut forger)
        .into_iter()
        .find_map(|o| match o {
            ReplicatedVaultOutput::ToReplica {
                to: ReplicaId(1),
                bytes,
            } => Some(bytes),
            _ => None,
        })
        .unwrap();
    let mut b = vault(0, 1);
    b.handle_replica_message(0, &mut ChaCha20Rng::seed_from_u64(3), &forged);
    assert!(outputs(&mut b).is_empty());
}

#[test]
fn a_sealed_fence_matches_its_frozen_vector() {
    let bytes = fence_to(1);
    assert_eq!(hex::encode(&bytes), SEALED_FENCE_HEX);
    let env = LinkEnvelope::decode(&bytes).unwrap();
    assert_eq!(
        (env.group, env.from, env.to),
        (GroupId(0), ReplicaId(0), ReplicaId(1))
    );
}

// ---- dropped inputs are counted for the host ---------------------------------------------------

#[test]
fn every_dropped_replica_message_is_counted_by_reason() {
    let mut b = vault(0, 1);
    b.handle_replica_message(0, &mut ChaCha20Rng::seed_from_u64(3), b"garbage");
    assert_eq!(b.drops().get(DropReason::CannotDecode), 1);
    b.handle_replica_message(0, &mut ChaCha20Rng::seed_from_u64(3), &fence_to(2));
    assert_eq!(b.drops().get(DropReason::NotAddressed), 1);
    let mut tampered = fence_to(1);
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    b.handle_replica_message(0, &mut ChaCha20Rng::seed_from_u64(3), &tampered);
    assert_eq!(b.drops().get(DropReason::CannotOpen), 1);
    assert_eq!(b.drops().total(), 3);
    assert!(
        outputs(&mut b).is_empty(),
        "nothing answers a dropped input"
    );
    // A good message is not counted.
    b.handle_replica_message(0, &mut ChaCha20Rng::seed_from_u64(3), &fence_to(1));
    assert_eq!(b.drops().total(), 3);
}

#[test]
fn a_single_vault_counts_garbage_requests_as_dropped() {
    // (A single vault has no input for replica messages: `SingleVault` has no
    // `handle_replica_message`.)
    let mut single = SingleVault::new(InsecureFastSuite, fleet());
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    single.handle_relay_message(0, &mut rng, RELAY, b"\x02garbage");
    assert_eq!(single.drops().get(DropReason::CannotDecode), 1);
    assert_eq!(single.drops().total(), 1);
    assert!(
        single.poll_output().is_none(),
        "nothing answers a dropped input"
    );
}

type DurableVault = ReplicatedVault<InsecureFastSuite, ConsensusStore<MemoryTrustedState>>;

/// Replica `id` of a fresh group 0 whose replicas keep a trusted cell (they vote at once).
fn durable_vault(id: u8) -> DurableVault {
    let store = ConsensusStore::new(
        GroupId(0),
        ReplicaId(id),
        config(),
        1,
        MemoryTrustedState::new(),
    )
    .unwrap();
    let mut v = ReplicatedVault::new(InsecureFastSuite, fleet(), store);
    v.start(&mut ChaCha20Rng::seed_from_u64(1));
    while v.poll_output().is_some() {}
    v
}

/// Runs a group of five replicas until no replica message is left; returns what replica 0
/// sent to relays, in order.
fn settle(group: &mut [DurableVault], rng: &mut ChaCha20Rng) -> Vec<(RelayTag, VaultReply)> {
    let mut replies = Vec::new();
    for _ in 0..50 {
        let mut mail = Vec::new();
        for (id, v) in group.iter_mut().enumerate() {
            while let Some(out) = v.poll_output() {
                match out {
                    ReplicatedVaultOutput::ToReplica { to, bytes } => mail.push((to, bytes)),
                    ReplicatedVaultOutput::ToRelay { relay, bytes } => {
                        assert_eq!(id, 0, "only the replica asked answers");
                        replies.push((relay, VaultReply::decode(&bytes).unwrap()));
                    }
                    ReplicatedVaultOutput::Persist { .. } => {}
                }
            }
        }
        if mail.is_empty() {
            return replies;
        }
        for (to, bytes) in mail {
            group[usize::from(to.0)].handle_replica_message(0, rng, &bytes);
        }
    }
    panic!("the group did not settle");
}

/// A sealed `Status` request of alice's on route `route_id`.
fn status_request(rng: &mut ChaCha20Rng, route_id: u64) -> Vec<u8> {
    let account = AccountId::new(b"alice").unwrap();
    let pinned = InsecureFastSuite.fleet_public_keys(&fleet());
    let sealed = InsecureFastSuite
        .seal_request(
            rng,
            &pinned,
            &request_aad(&account, RequestKind::Status),
            &Request::Status.encode(),
        )
        .unwrap();
    VaultRequest {
        route_id,
        account,
        kind: RequestKind::Status,
        sealed: sealed.sealed,
    }
    .encode()
}

#[test]
fn a_give_up_is_answered_outcome_unknown_and_counted_by_reason() {
    // Replica 0 of five hears from no peer: every round times out until the retry budget is
    // spent, the client gets an answer (OutcomeUnknown, sealed), and the host sees why.
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let mut lone = durable_vault(0);
    let request = status_request(&mut rng, 1);
    lone.handle_relay_message(0, &mut rng, RELAY, &request);
    let mut answered = false;
    for _ in 0..100 {
        while let Some(out) = lone.poll_output() {
            if let ReplicatedVaultOutput::ToRelay { relay, bytes } = out {
                assert_eq!(relay, RELAY);
                assert!(matches!(
                    VaultReply::decode(&bytes).unwrap().body,
                    ReplyBody::Sealed(_)
                ));
                answered = true;
            }
        }
        if answered {
            break;
        }
        let Some(at) = lone.poll_timeout() else {
            break;
        };
        lone.handle_timeout(at, &mut rng);
    }
    assert!(answered, "a give-up is answered");
    let failures = lone.store().failures();
    assert_eq!(failures.get(FailReason::Unavailable), 1, "{failures:?}");
    assert_eq!(failures.total(), 1);
}

#[test]
fn replies_go_to_the_relay_that_asked_and_copies_are_keyed_by_relay_and_route() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut group: Vec<DurableVault> = (0..5).map(durable_vault).collect();
    let request = status_request(&mut rng, 5);
    let (a, b) = (RelayTag(1), RelayTag(2));
    // Relay a's request starts a consensus read; an identical copy from relay b with the same
    // route id (route ids are each relay's own) waits for the same answer; relay a's own copy
    // of its route is a duplicate, dropped and counted.
    group[0].handle_relay_message(0, &mut rng, a, &request);
    group[0].handle_relay_message(0, &mut rng, b, &request);
    group[0].handle_relay_message(0, &mut rng, a, &request);
    assert_eq!(group[0].drops().get(DropReason::Replayed), 1);
    assert_eq!(group[0].drops().total(), 1);
    let replies = settle(&mut group, &mut rng);
    let routed: Vec<(RelayTag, u64)> = replies.iter().map(|(r, v)| (*r, v.route_id)).collect();
    assert_eq!(
        routed,
        vec![(a, 5), (b, 5)],
        "one answer per (relay, route)"
    );
    assert!(
        replies
            .iter()
            .all(|(_, v)| matches!(v.body, ReplyBody::Sealed(_))),
        "{replies:?}"
    );
}

#[test]
fn the_relay_counts_what_it_drops() {
    let mut relay = Relay::new(RelayConfig::default());
    relay.handle_client_message(0, ConnectionId(9), b"anything");
    assert_eq!(relay.drops().get(DropReason::NotAddressed), 1);
    relay.handle_connection_opened(ConnectionId(1), AccountId::new(b"alice").unwrap());
    relay.handle_client_message(0, ConnectionId(1), b"\xffnot a request");
    assert_eq!(relay.drops().get(DropReason::CannotDecode), 1);
    relay.handle_vault_message(0, b"\xffnot a reply");
    assert_eq!(relay.drops().get(DropReason::CannotDecode), 2);
    assert_eq!(relay.drops().total(), 3);
    assert!(relay.poll_output().is_none());
}
