//! Arbitrary (authentic but nonsensical) peer messages never panic a replica, and never make it
//! report an operation it was not asked to run (SPEC.md "Replication", transport).

use e2ee_backup::internal::consensus::{
    AcceptedValue, Ballot, Config, OpId, Output, PeerMessage, Refusal, ReplicaId, RequestTag,
};
use e2ee_backup_testkit::consensus::{TestChange, TestMessage, TestReplica, drain, ids};
use proptest::prelude::*;

fn ballot() -> impl Strategy<Value = Ballot> {
    (0u64..4, prop_oneof![0u64..4, Just(u64::MAX)], 0u8..5).prop_map(|(epoch, counter, r)| Ballot {
        epoch,
        counter,
        replica: ReplicaId(r),
    })
}

fn tag() -> impl Strategy<Value = RequestTag> {
    (0u64..3, 0u64..4).prop_map(|(incarnation, sequence)| RequestTag {
        incarnation,
        sequence,
    })
}

fn accepted() -> impl Strategy<Value = AcceptedValue<u64>> {
    (ballot(), proptest::option::of(0u64..5))
        .prop_map(|(ballot, value)| AcceptedValue { ballot, value })
}

fn message() -> impl Strategy<Value = TestMessage> {
    let key = 0u8..3;
    prop_oneof![
        (key.clone(), ballot()).prop_map(|(key, ballot)| PeerMessage::Prepare { key, ballot }),
        (key.clone(), ballot(), proptest::option::of(accepted())).prop_map(
            |(key, ballot, accepted)| PeerMessage::Promise {
                key,
                ballot,
                accepted
            }
        ),
        (
            key.clone(),
            ballot(),
            proptest::option::of(0u64..5),
            proptest::option::of(ballot())
        )
            .prop_map(|(key, ballot, value, next)| PeerMessage::Accept {
                key,
                ballot,
                value,
                next
            }),
        (key.clone(), ballot(), proptest::option::of(ballot()))
            .prop_map(|(key, ballot, next)| PeerMessage::Accepted { key, ballot, next }),
        (
            key.clone(),
            ballot(),
            proptest::option::of(ballot()),
            0u64..5
        )
            .prop_map(|(key, ballot, promised, epoch_floor)| PeerMessage::Reject {
                key,
                ballot,
                refusal: Refusal {
                    promised,
                    epoch_floor
                },
            }),
        (tag(), prop_oneof![0u64..5, Just(u64::MAX)])
            .prop_map(|(tag, epoch)| PeerMessage::Fence { tag, epoch }),
        (tag(), prop_oneof![0u64..5, Just(u64::MAX)])
            .prop_map(|(tag, epoch_floor)| PeerMessage::FenceAck { tag, epoch_floor }),
        (
            tag(),
            0u64..5,
            proptest::option::of(key.clone()),
            any::<u32>()
        )
            .prop_map(|(tag, epoch, after, limit)| PeerMessage::CatchUp {
                tag,
                epoch,
                after,
                limit
            }),
        (
            tag(),
            proptest::collection::vec((key, accepted()), 0..4),
            any::<bool>()
        )
            .prop_map(|(tag, entries, more)| PeerMessage::CatchUpPage {
                tag,
                entries,
                more
            }),
    ]
}

/// Feeds the messages (and a timer tick after each) and checks every output.
fn feed(mut replica: TestReplica, proposed: &[OpId], inputs: Vec<(u8, TestMessage)>) {
    let mut now = 0;
    for (from, message) in inputs {
        now += 7;
        replica.handle_message(now, ReplicaId(from), message, &());
        replica.handle_timeout(now, &());
        for output in drain(&mut replica) {
            match output {
                Output::Completed { op, .. } | Output::Failed { op, .. } => {
                    assert!(proposed.contains(&op), "reported an unknown {op:?}");
                }
                Output::Send { to, .. } => assert_ne!(to, replica.id()),
                Output::Persist(_) => {}
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn voting_replica_survives_arbitrary_messages(
        inputs in proptest::collection::vec((0u8..5, message()), 0..40),
        skip_prepare in any::<bool>(),
    ) {
        let mut config = Config::new(ids(3));
        config.skip_prepare = skip_prepare;
        let mut replica = TestReplica::new(ReplicaId(1), config, 1).unwrap();
        let ops = vec![
            replica.propose(0, 0, TestChange::Increment { limit: 3 }, &()),
            replica.propose(0, 1, TestChange::Read, &()),
            replica.propose(0, 0, TestChange::CompareAndSet { expect: None, new: 1 }, &()),
        ];
        feed(replica, &ops, inputs);
    }

    #[test]
    fn recovering_replica_survives_arbitrary_messages(
        inputs in proptest::collection::vec((0u8..5, message()), 0..40)
    ) {
        let mut config = Config::new(ids(3));
        config.catch_up_page = 2;
        // Incarnation 1: some generated tags match the replica's own requests.
        let replica = TestReplica::recover_amnesiac(ReplicaId(1), config, 1, 0).unwrap();
        feed(replica, &[], inputs);
    }
}
