//! In-memory throughput of the consensus engine on one core: a lossless FIFO network, every
//! replica answering, Persist outputs counted but not written anywhere (SPEC.md "Replication").
//!
//! Besides the criterion timings it prints messages and durable writes per operation.

use std::collections::VecDeque;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use e2ee_backup::internal::consensus::{Config, Output, ReplicaId};
use e2ee_backup_testkit::consensus::{TestChange, TestMessage, TestReplica, ids};

struct Group {
    replicas: Vec<TestReplica>,
    queue: VecDeque<(ReplicaId, ReplicaId, TestMessage)>,
    sends: u64,
    persists: u64,
    completed: u64,
}

impl Group {
    fn new(n: u8, skip_prepare: bool) -> Self {
        let mut config = Config::new(ids(n));
        config.skip_prepare = skip_prepare;
        let replicas = ids(n)
            .into_iter()
            .map(|id| TestReplica::new(id, config.clone(), u64::from(id.0)).expect("member"))
            .collect();
        let mut group = Self {
            replicas,
            queue: VecDeque::new(),
            sends: 0,
            persists: 0,
            completed: 0,
        };
        group.collect_all();
        group.persists = 0;
        group
    }

    fn collect(&mut self, index: usize) {
        let replica = &mut self.replicas[index];
        let from = replica.id();
        while let Some(output) = replica.poll_output() {
            match output {
                Output::Persist(_) => self.persists += 1,
                Output::Send { to, message } => {
                    self.sends += 1;
                    self.queue.push_back((from, to, message));
                }
                Output::Completed { .. } => self.completed += 1,
                Output::Failed { .. } => panic!("no failures on a lossless network"),
            }
        }
    }

    fn collect_all(&mut self) {
        for i in 0..self.replicas.len() {
            self.collect(i);
        }
    }

    /// One operation proposed at `at`, run until the network is quiet.
    fn run_op(&mut self, at: usize, key: u8, change: TestChange) {
        self.replicas[at].propose(0, key, change, &());
        self.collect(at);
        while let Some((from, to, message)) = self.queue.pop_front() {
            let index = usize::from(to.0 - 1);
            self.replicas[index].handle_message(0, from, message, &());
            self.collect(index);
        }
    }
}

fn bench(c: &mut Criterion) {
    let change = TestChange::CompareAndSet {
        expect: None,
        new: 1,
    };
    // (replicas, skip-Prepare, operations all on one key from one proposer)
    for (n, skip, one_key) in [(3u8, false, false), (5, false, false), (5, true, true)] {
        let name = match (skip, one_key) {
            (true, _) => format!("consensus/{n}_replicas_skip_prepare_same_key/one_operation"),
            (false, _) => format!("consensus/{n}_replicas/one_operation"),
        };
        let mut group = Group::new(n, skip);
        let pick = |i: u64| -> (usize, u8) {
            if one_key {
                (0, 0)
            } else {
                ((i % u64::from(n)) as usize, (i % 251) as u8)
            }
        };
        let ops = 10_000u64;
        for i in 0..ops {
            let (at, key) = pick(i);
            group.run_op(at, key, change);
        }
        assert_eq!(group.completed, ops);
        println!(
            "{name}: {:.2} messages per operation, {:.3} durable writes per operation",
            group.sends as f64 / ops as f64,
            group.persists as f64 / ops as f64,
        );
        let mut i = 0u64;
        c.bench_function(&name, |b| {
            b.iter(|| {
                i += 1;
                let (at, key) = pick(i);
                group.run_op(black_box(at), key, change);
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
