//! Exact-output scenarios for the consensus engine (raft-rs style): which Persist, Send,
//! Completed and Failed outputs, in which order (SPEC.md "Replication").

use e2ee_backup::internal::consensus::{
    AcceptedValue, AcceptorState, Ballot, Config, DurableState, DurableWrite, FailReason, OpId,
    Output, PeerMessage, Refusal, ReplicaId, ReplicaMeta, RequestTag,
};
use e2ee_backup_testkit::consensus::{
    TestChange, TestOutcome, TestOutput, TestReplica, drain, ids,
};

const KEY: u8 = 7;
const INC: TestChange = TestChange::Increment { limit: 3 };

fn r(id: u8) -> ReplicaId {
    ReplicaId(id)
}

fn ballot(epoch: u64, counter: u64, replica: u8) -> Ballot {
    Ballot {
        epoch,
        counter,
        replica: r(replica),
    }
}

fn group(n: u8) -> Vec<TestReplica> {
    group_with(Config::new(ids(n)))
}

fn group_with(config: Config) -> Vec<TestReplica> {
    config
        .replicas
        .clone()
        .into_iter()
        .map(|id| {
            let mut replica = TestReplica::new(id, config.clone(), 100 + u64::from(id.0)).unwrap();
            assert_eq!(
                drain(&mut replica),
                vec![Output::Persist(DurableWrite::Meta(ReplicaMeta::default()))]
            );
            replica
        })
        .collect()
}

fn meta(floor: u64, established: u64, reserved: u64) -> TestOutput {
    Output::Persist(DurableWrite::Meta(ReplicaMeta {
        epoch_floor: floor,
        established_epoch: established,
        counter_reserved: reserved,
    }))
}

fn promised(b: Ballot) -> TestOutput {
    Output::Persist(DurableWrite::Register {
        key: KEY,
        state: AcceptorState {
            promised: Some(b),
            accepted: None,
        },
    })
}

fn accepted(b: Ballot, value: u64) -> TestOutput {
    Output::Persist(DurableWrite::Register {
        key: KEY,
        state: AcceptorState {
            promised: Some(b),
            accepted: Some(AcceptedValue {
                ballot: b,
                value: Some(value),
            }),
        },
    })
}

fn send(to: u8, message: PeerMessage<u8, u64>) -> TestOutput {
    Output::Send { to: r(to), message }
}

fn prepare(b: Ballot) -> PeerMessage<u8, u64> {
    PeerMessage::Prepare {
        key: KEY,
        ballot: b,
    }
}

fn promise(b: Ballot, acc: Option<(Ballot, u64)>) -> PeerMessage<u8, u64> {
    PeerMessage::Promise {
        key: KEY,
        ballot: b,
        accepted: acc.map(|(ballot, v)| AcceptedValue {
            ballot,
            value: Some(v),
        }),
    }
}

fn accept(b: Ballot, value: u64) -> PeerMessage<u8, u64> {
    PeerMessage::Accept {
        key: KEY,
        ballot: b,
        value: Some(value),
        next: None,
    }
}

fn accepted_msg(b: Ballot) -> PeerMessage<u8, u64> {
    PeerMessage::Accepted {
        key: KEY,
        ballot: b,
        next: None,
    }
}

/// Delivers `message` from `from` to `group[to - 1]` and returns its outputs.
fn deliver(
    group: &mut [TestReplica],
    from: u8,
    to: u8,
    message: PeerMessage<u8, u64>,
) -> Vec<TestOutput> {
    let replica = &mut group[usize::from(to - 1)];
    replica.handle_message(10, r(from), message, &());
    drain(replica)
}

#[test]
fn one_operation_on_three_replicas_emits_exactly_these_outputs() {
    let mut g = group(3);
    let b = ballot(0, 0, 1);
    let op = g[0].propose(0, KEY, INC, &());
    assert_eq!(
        drain(&mut g[0]),
        vec![
            meta(0, 0, 1024),
            promised(b),
            send(2, prepare(b)),
            send(3, prepare(b)),
        ]
    );
    assert_eq!(
        deliver(&mut g, 1, 2, prepare(b)),
        vec![promised(b), send(1, promise(b, None))]
    );
    assert_eq!(
        deliver(&mut g, 2, 1, promise(b, None)),
        vec![accepted(b, 1), send(2, accept(b, 1)), send(3, accept(b, 1))]
    );
    assert_eq!(
        deliver(&mut g, 1, 2, accept(b, 1)),
        vec![accepted(b, 1), send(1, accepted_msg(b))]
    );
    assert_eq!(
        deliver(&mut g, 2, 1, accepted_msg(b)),
        vec![Output::Completed {
            op,
            outcome: TestOutcome::Counted { now: 1 }
        }]
    );
    // Late and duplicate messages change nothing at the proposer.
    assert_eq!(
        deliver(&mut g, 1, 3, prepare(b)),
        vec![promised(b), send(1, promise(b, None))]
    );
    assert_eq!(deliver(&mut g, 3, 1, promise(b, None)), vec![]);
    assert_eq!(
        deliver(&mut g, 1, 3, accept(b, 1)),
        vec![accepted(b, 1), send(1, accepted_msg(b))]
    );
    assert_eq!(deliver(&mut g, 3, 1, accepted_msg(b)), vec![]);
    // A duplicate Accept is answered again without a second durable write.
    assert_eq!(
        deliver(&mut g, 1, 2, accept(b, 1)),
        vec![send(1, accepted_msg(b))]
    );
    assert_eq!(g[0].poll_timeout(), None);
}

#[test]
fn one_operation_on_five_replicas_waits_for_three_promises_and_three_acceptances() {
    let mut g = group(5);
    let b = ballot(0, 0, 1);
    let op = g[0].propose(0, KEY, INC, &());
    let mut expected = vec![meta(0, 0, 1024), promised(b)];
    expected.extend((2..=5).map(|to| send(to, prepare(b))));
    assert_eq!(drain(&mut g[0]), expected);
    for to in [2, 3] {
        assert_eq!(
            deliver(&mut g, 1, to, prepare(b)),
            vec![promised(b), send(1, promise(b, None))]
        );
    }
    assert_eq!(deliver(&mut g, 2, 1, promise(b, None)), vec![]);
    let mut expected = vec![accepted(b, 1)];
    expected.extend((2..=5).map(|to| send(to, accept(b, 1))));
    assert_eq!(deliver(&mut g, 3, 1, promise(b, None)), expected);
    for to in [4, 5] {
        // Never prepared: the Accept alone is enough to accept.
        assert_eq!(
            deliver(&mut g, 1, to, accept(b, 1)),
            vec![accepted(b, 1), send(1, accepted_msg(b))]
        );
    }
    assert_eq!(deliver(&mut g, 4, 1, accepted_msg(b)), vec![]);
    assert_eq!(
        deliver(&mut g, 5, 1, accepted_msg(b)),
        vec![Output::Completed {
            op,
            outcome: TestOutcome::Counted { now: 1 }
        }]
    );
}

#[test]
fn second_operation_reads_the_value_chosen_by_the_first() {
    let mut g = group(3);
    let b1 = ballot(0, 0, 1);
    g[0].propose(0, KEY, INC, &());
    drain(&mut g[0]);
    deliver(&mut g, 1, 2, prepare(b1));
    deliver(&mut g, 2, 1, promise(b1, None));
    deliver(&mut g, 1, 2, accept(b1, 1));
    deliver(&mut g, 2, 1, accepted_msg(b1));
    // Replica 3 never saw the first op; its promise is empty but replica 2's carries the value.
    let b2 = ballot(0, 0, 3);
    let op = g[2].propose(20, KEY, INC, &());
    assert_eq!(
        drain(&mut g[2]),
        vec![
            meta(0, 0, 1024),
            promised(b2),
            send(1, prepare(b2)),
            send(2, prepare(b2)),
        ]
    );
    assert_eq!(
        deliver(&mut g, 3, 2, prepare(b2)),
        vec![
            Output::Persist(DurableWrite::Register {
                key: KEY,
                state: AcceptorState {
                    promised: Some(b2),
                    accepted: Some(AcceptedValue {
                        ballot: b1,
                        value: Some(1)
                    }),
                },
            }),
            send(3, promise(b2, Some((b1, 1))))
        ]
    );
    assert_eq!(
        deliver(&mut g, 2, 3, promise(b2, Some((b1, 1)))),
        vec![
            accepted(b2, 2),
            send(1, accept(b2, 2)),
            send(2, accept(b2, 2))
        ]
    );
    deliver(&mut g, 3, 2, accept(b2, 2));
    assert_eq!(
        deliver(&mut g, 2, 3, accepted_msg(b2)),
        vec![Output::Completed {
            op,
            outcome: TestOutcome::Counted { now: 2 }
        }]
    );
}

#[test]
fn refused_proposer_backs_off_then_retries_above_the_promised_ballot() {
    let mut g = group(3);
    let high = ballot(0, 0, 3);
    deliver(&mut g, 3, 2, prepare(high));
    let low = ballot(0, 0, 1);
    let op = g[0].propose(0, KEY, INC, &());
    drain(&mut g[0]);
    let refusal = Refusal {
        promised: Some(high),
        epoch_floor: 0,
    };
    let reject = PeerMessage::Reject {
        key: KEY,
        ballot: low,
        refusal,
    };
    assert_eq!(
        deliver(&mut g, 1, 2, prepare(low)),
        vec![send(1, reject.clone())]
    );
    assert_eq!(deliver(&mut g, 2, 1, reject.clone()), vec![]);
    let wake = g[0].poll_timeout().expect("backoff timer");
    assert!((10 + 20..10 + 60).contains(&wake), "backoff {wake}");
    // A replayed refusal of the old round does nothing.
    assert_eq!(deliver(&mut g, 2, 1, reject), vec![]);
    g[0].handle_timeout(wake, &());
    let retry = ballot(0, 1, 1);
    assert_eq!(
        drain(&mut g[0]),
        vec![
            promised(retry),
            send(2, prepare(retry)),
            send(3, prepare(retry))
        ]
    );
    assert_eq!(
        deliver(&mut g, 1, 2, prepare(retry)),
        vec![promised(retry), send(1, promise(retry, None))]
    );
    deliver(&mut g, 2, 1, promise(retry, None));
    deliver(&mut g, 1, 2, accept(retry, 1));
    assert_eq!(
        deliver(&mut g, 2, 1, accepted_msg(retry)),
        vec![Output::Completed {
            op,
            outcome: TestOutcome::Counted { now: 1 }
        }]
    );
}

#[test]
fn operation_without_quorum_fails_after_its_round_budget() {
    let mut g = group(3);
    let op = g[0].propose(0, KEY, INC, &());
    let mut now = 0;
    let mut rounds = 1;
    loop {
        let outputs = drain(&mut g[0]);
        if let Some(Output::Failed { op: failed, reason }) = outputs.last() {
            assert_eq!((*failed, *reason), (op, FailReason::Unavailable));
            break;
        }
        now = g[0].poll_timeout().expect("a retry is pending");
        g[0].handle_timeout(now, &());
        rounds += 1;
    }
    assert_eq!(rounds, 9, "8 rounds, then the failure");
    assert_eq!(now, 800);
    assert_eq!(g[0].pending_ops(), 0);
}

#[test]
fn fenced_acceptor_refuses_old_epochs_and_proposer_raises_its_epoch_first() {
    let mut g = group(3);
    let tag = RequestTag {
        incarnation: 9,
        sequence: 0,
    };
    assert_eq!(
        deliver(&mut g, 3, 2, PeerMessage::Fence { tag, epoch: 2 }),
        vec![
            meta(2, 0, 0),
            send(
                3,
                PeerMessage::FenceAck {
                    tag,
                    epoch_floor: 2
                }
            )
        ]
    );
    let old = ballot(0, 0, 1);
    g[0].propose(0, KEY, INC, &());
    drain(&mut g[0]);
    let reject = PeerMessage::Reject {
        key: KEY,
        ballot: old,
        refusal: Refusal {
            promised: None,
            epoch_floor: 2,
        },
    };
    assert_eq!(
        deliver(&mut g, 1, 2, prepare(old)),
        vec![send(1, reject.clone())]
    );
    deliver(&mut g, 2, 1, reject);
    let wake = g[0].poll_timeout().unwrap();
    g[0].handle_timeout(wake, &());
    // Epoch 2 is not yet known to be held by a quorum: raise it before using it.
    let raise = RequestTag {
        incarnation: 101,
        sequence: 0,
    };
    assert_eq!(
        drain(&mut g[0]),
        vec![
            meta(2, 0, 1024),
            send(
                2,
                PeerMessage::Fence {
                    tag: raise,
                    epoch: 2
                }
            ),
            send(
                3,
                PeerMessage::Fence {
                    tag: raise,
                    epoch: 2
                }
            ),
        ]
    );
    let new = ballot(2, 1, 1);
    assert_eq!(
        deliver(
            &mut g,
            2,
            1,
            PeerMessage::FenceAck {
                tag: raise,
                epoch_floor: 2
            }
        ),
        vec![
            meta(2, 2, 1024),
            promised(new),
            send(2, prepare(new)),
            send(3, prepare(new)),
        ]
    );
}

#[test]
fn restored_replica_never_reuses_a_ballot_counter() {
    let mut g = group(3);
    g[0].propose(0, KEY, INC, &());
    let mut durable = DurableState::default();
    for output in drain(&mut g[0]) {
        if let Output::Persist(write) = output {
            durable.apply(&write);
        }
    }
    let config = g[0].config().clone();
    let mut restored = TestReplica::restore(r(1), config, durable.clone(), 555).unwrap();
    assert_eq!(restored.register(&KEY), durable.registers.get(&KEY));
    let op = restored.propose(0, KEY, INC, &());
    assert_eq!(op, OpId(0));
    let b = ballot(0, 1024, 1);
    assert_eq!(
        drain(&mut restored),
        vec![
            meta(0, 0, 2048),
            promised(b),
            send(2, prepare(b)),
            send(3, prepare(b)),
        ]
    );
}

#[test]
fn incomplete_durable_state_cannot_be_restored() {
    let config = Config::new(ids(3));
    let durable = DurableState::<u8, u64>::default();
    assert_eq!(
        TestReplica::restore(r(1), config.clone(), durable, 1).err(),
        Some(e2ee_backup::internal::consensus::StartError::IncompleteDurableState)
    );
    assert_eq!(
        TestReplica::new(r(9), config, 1).err(),
        Some(e2ee_backup::internal::consensus::StartError::NotAMember)
    );
}

#[test]
fn amnesiac_replica_fences_above_the_highest_floor_then_catches_up_then_votes() {
    let mut g = group(3);
    // Replica 2 holds a value at ballot b and floor 4; replica 3 holds nothing, floor 0.
    let b = ballot(0, 0, 1);
    deliver(&mut g, 1, 2, accept(b, 5));
    let t = RequestTag {
        incarnation: 9,
        sequence: 0,
    };
    assert_eq!(
        deliver(&mut g, 3, 2, PeerMessage::Fence { tag: t, epoch: 4 }),
        vec![
            meta(4, 0, 0),
            send(
                3,
                PeerMessage::FenceAck {
                    tag: t,
                    epoch_floor: 4
                }
            )
        ]
    );
    let config = g[0].config().clone();
    let mut amnesiac = TestReplica::recover_amnesiac(r(1), config, 77, 0).unwrap();
    let tag = |sequence| RequestTag {
        incarnation: 77,
        sequence,
    };
    assert!(!amnesiac.is_voting());
    assert_eq!(
        drain(&mut amnesiac),
        vec![
            send(
                2,
                PeerMessage::Fence {
                    tag: tag(0),
                    epoch: 0
                }
            ),
            send(
                3,
                PeerMessage::Fence {
                    tag: tag(0),
                    epoch: 0
                }
            ),
        ]
    );
    // It ignores votes while recovering.
    amnesiac.handle_message(1, r(2), prepare(ballot(9, 0, 2)), &());
    assert_eq!(drain(&mut amnesiac), vec![]);
    // Floors 4 and 0 → fence at 5 (a replayed answer to another request is not counted).
    amnesiac.handle_message(
        1,
        r(3),
        PeerMessage::FenceAck {
            tag: t,
            epoch_floor: 0,
        },
        &(),
    );
    amnesiac.handle_message(
        1,
        r(2),
        PeerMessage::FenceAck {
            tag: tag(0),
            epoch_floor: 4,
        },
        &(),
    );
    assert_eq!(drain(&mut amnesiac), vec![]);
    amnesiac.handle_message(
        1,
        r(3),
        PeerMessage::FenceAck {
            tag: tag(0),
            epoch_floor: 0,
        },
        &(),
    );
    assert_eq!(
        drain(&mut amnesiac),
        vec![
            send(
                2,
                PeerMessage::Fence {
                    tag: tag(1),
                    epoch: 5
                }
            ),
            send(
                3,
                PeerMessage::Fence {
                    tag: tag(1),
                    epoch: 5
                }
            ),
        ]
    );
    for from in [2, 3] {
        let ack = deliver(
            &mut g,
            1,
            from,
            PeerMessage::Fence {
                tag: tag(1),
                epoch: 5,
            },
        );
        assert_eq!(ack.len(), 2, "persist the floor, then acknowledge");
        amnesiac.handle_message(
            2,
            r(from),
            PeerMessage::FenceAck {
                tag: tag(1),
                epoch_floor: 5,
            },
            &(),
        );
    }
    let catch_up = PeerMessage::CatchUp {
        tag: tag(2),
        epoch: 5,
        after: None,
        limit: 256,
    };
    assert_eq!(
        drain(&mut amnesiac),
        vec![send(2, catch_up.clone()), send(3, catch_up.clone())]
    );
    let page = |entries: Vec<(u8, AcceptedValue<u64>)>| PeerMessage::CatchUpPage {
        tag: tag(2),
        entries,
        more: false,
    };
    let held = AcceptedValue {
        ballot: b,
        value: Some(5),
    };
    assert_eq!(
        deliver(&mut g, 1, 2, catch_up.clone()),
        vec![send(1, page(vec![(KEY, held.clone())]))]
    );
    assert_eq!(deliver(&mut g, 1, 3, catch_up), vec![send(1, page(vec![]))]);
    amnesiac.handle_message(3, r(3), page(vec![]), &());
    amnesiac.handle_message(3, r(2), page(vec![(KEY, held)]), &());
    assert_eq!(drain(&mut amnesiac), vec![accepted(b, 5), meta(5, 5, 0)]);
    assert!(amnesiac.is_voting());
    // Its own floor now refuses every ballot of an older epoch.
    amnesiac.handle_message(4, r(2), prepare(ballot(4, 99, 2)), &());
    assert_eq!(
        drain(&mut amnesiac),
        vec![send(
            2,
            PeerMessage::Reject {
                key: KEY,
                ballot: ballot(4, 99, 2),
                refusal: Refusal {
                    promised: Some(b),
                    epoch_floor: 5
                },
            }
        )]
    );
}

#[test]
fn replica_state_is_hashable_and_comparable_for_the_model_checker() {
    fn model_state<T: Clone + Eq + std::hash::Hash + std::fmt::Debug>(_: &T) {}
    let g = group(3);
    model_state(&g[0]);
    assert_eq!(g[0].clone(), g[0]);
    assert_ne!(g[0], g[1]);
}

fn held(promised: Ballot, at: Ballot, value: u64) -> TestOutput {
    Output::Persist(DurableWrite::Register {
        key: KEY,
        state: AcceptorState {
            promised: Some(promised),
            accepted: Some(AcceptedValue {
                ballot: at,
                value: Some(value),
            }),
        },
    })
}

fn accept_next(b: Ballot, value: u64, next: Ballot) -> PeerMessage<u8, u64> {
    PeerMessage::Accept {
        key: KEY,
        ballot: b,
        value: Some(value),
        next: Some(next),
    }
}

fn accepted_next(b: Ballot, next: Ballot) -> PeerMessage<u8, u64> {
    PeerMessage::Accepted {
        key: KEY,
        ballot: b,
        next: Some(next),
    }
}

#[test]
fn skip_prepare_runs_the_next_operation_on_a_key_in_one_round_trip() {
    let mut config = Config::new(ids(3));
    config.skip_prepare = true;
    let mut g = group_with(config);
    let (b0, b1, b2) = (ballot(0, 0, 1), ballot(0, 1, 1), ballot(0, 2, 1));
    let first = g[0].propose(0, KEY, INC, &());
    drain(&mut g[0]);
    deliver(&mut g, 1, 2, prepare(b0));
    // The Accept also asks for a promise of the proposer's next ballot b1.
    assert_eq!(
        deliver(&mut g, 2, 1, promise(b0, None)),
        vec![
            held(b1, b0, 1),
            send(2, accept_next(b0, 1, b1)),
            send(3, accept_next(b0, 1, b1)),
        ]
    );
    assert_eq!(
        deliver(&mut g, 1, 2, accept_next(b0, 1, b1)),
        vec![held(b1, b0, 1), send(1, accepted_next(b0, b1))]
    );
    assert_eq!(
        deliver(&mut g, 2, 1, accepted_next(b0, b1)),
        vec![Output::Completed {
            op: first,
            outcome: TestOutcome::Counted { now: 1 }
        }]
    );
    // The next operation on the key starts with Accept at b1: no Prepare.
    let second = g[0].propose(30, KEY, INC, &());
    assert_eq!(
        drain(&mut g[0]),
        vec![
            held(b2, b1, 2),
            send(2, accept_next(b1, 2, b2)),
            send(3, accept_next(b1, 2, b2)),
        ]
    );
    deliver(&mut g, 1, 2, accept_next(b1, 2, b2));
    assert_eq!(
        deliver(&mut g, 2, 1, accepted_next(b1, b2)),
        vec![Output::Completed {
            op: second,
            outcome: TestOutcome::Counted { now: 2 }
        }]
    );
    // Replica 3 slips in a higher ballot at replica 2: the skip-Prepare round is refused and
    // the proposer falls back to a full round above it.
    let intruder = ballot(0, 9, 3);
    deliver(&mut g, 3, 2, prepare(intruder));
    g[0].propose(60, KEY, INC, &());
    let b3 = ballot(0, 3, 1);
    assert_eq!(
        drain(&mut g[0]),
        vec![
            held(b3, b2, 3),
            send(2, accept_next(b2, 3, b3)),
            send(3, accept_next(b2, 3, b3)),
        ]
    );
    let refusal = PeerMessage::Reject {
        key: KEY,
        ballot: b2,
        refusal: Refusal {
            promised: Some(intruder),
            epoch_floor: 0,
        },
    };
    assert_eq!(
        deliver(&mut g, 1, 2, accept_next(b2, 3, b3)),
        vec![send(1, refusal.clone())]
    );
    assert_eq!(deliver(&mut g, 2, 1, refusal), vec![]);
    let wake = g[0].poll_timeout().unwrap();
    g[0].handle_timeout(wake, &());
    let full = ballot(0, 10, 1);
    assert_eq!(
        drain(&mut g[0]),
        vec![
            held(full, b2, 3),
            send(2, prepare(full)),
            send(3, prepare(full)),
        ]
    );
}
