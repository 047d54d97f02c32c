//! Shared test support for the consensus engine: a test change type, a seeded in-memory
//! network with faults, and a Wing–Gong linearizability checker.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use e2ee_backup::internal::consensus::{
    Ballot, Change, Config, DurableState, DurableWrite, FailReason, FaultInjection, OpId, Output,
    PeerMessage, Replica, ReplicaId,
};
use rand_chacha::ChaCha8Rng;

use crate::linearizability::{self, Event, Observed, Sequential, linearizable};
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// The changes the tests run on a `u64` register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TestChange {
    /// Count one attempt if fewer than `limit` were counted (INV-ATTEMPTS in miniature).
    Increment {
        /// Attempts allowed in all.
        limit: u64,
    },
    /// Set to `new` if the register holds `expect`.
    CompareAndSet {
        /// The value the register must hold.
        expect: Option<u64>,
        /// The value it is set to.
        new: u64,
    },
    /// Read the register (the identity change).
    Read,
}

/// What a [`TestChange`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TestOutcome {
    /// The attempt was counted; the register now holds `now`.
    Counted {
        /// Attempts counted so far.
        now: u64,
    },
    /// No attempts were left.
    LimitReached,
    /// The compare-and-set swapped.
    Swapped,
    /// The compare-and-set found another value.
    Mismatch {
        /// The value the register held.
        found: Option<u64>,
    },
    /// The value read.
    Value(Option<u64>),
}

impl Change<u64> for TestChange {
    type Outcome = TestOutcome;
    type Context = ();
    fn apply(&self, _: &(), current: Option<&u64>) -> (Option<u64>, TestOutcome) {
        let current = current.copied();
        match *self {
            TestChange::Increment { limit } => {
                let used = current.unwrap_or(0);
                if used < limit {
                    (Some(used + 1), TestOutcome::Counted { now: used + 1 })
                } else {
                    (current, TestOutcome::LimitReached)
                }
            }
            TestChange::CompareAndSet { expect, new } => {
                if current == expect {
                    (Some(new), TestOutcome::Swapped)
                } else {
                    (current, TestOutcome::Mismatch { found: current })
                }
            }
            TestChange::Read => (current, TestOutcome::Value(current)),
        }
    }
}

/// A register's key.
pub type Key = u8;
/// The consensus engine on `u64` registers.
pub type TestReplica = Replica<Key, u64, TestChange>;
/// An output of a [`TestReplica`].
pub type TestOutput = Output<Key, u64, TestOutcome>;
/// A message between [`TestReplica`]s.
pub type TestMessage = PeerMessage<Key, u64>;

/// Replica ids 1 to `n`.
pub fn ids(n: u8) -> Vec<ReplicaId> {
    (1..=n).map(ReplicaId).collect()
}

/// Every output `replica` has, in order.
pub fn drain(replica: &mut TestReplica) -> Vec<TestOutput> {
    std::iter::from_fn(|| replica.poll_output()).collect()
}

// ---- linearizability ------------------------------------------------------------------------

/// The test register as a sequential object, for the linearizability search.
pub struct Register;

impl Sequential for Register {
    type Change = TestChange;
    type Outcome = TestOutcome;
    type Value = Option<u64>;
    type Key = Option<u64>;

    fn apply(change: &TestChange, value: &Option<u64>) -> (Option<u64>, TestOutcome) {
        change.apply(&(), value.as_ref())
    }

    fn key(value: &Option<u64>) -> Option<u64> {
        *value
    }
}

// ---- history ----------------------------------------------------------------------------------

/// What the harness saw of one operation.
#[derive(Clone, Debug)]
pub struct OpRecord {
    /// The replica it was proposed to.
    pub proposer: ReplicaId,
    /// Its operation id at that replica.
    pub op: OpId,
    /// The register.
    pub key: Key,
    /// The change.
    pub change: TestChange,
    /// Logical time of the proposal.
    pub invoked: u64,
    /// Logical time of the answer (`None`: unanswered).
    pub responded: Option<u64>,
    /// The outcome it completed with.
    pub outcome: Option<TestOutcome>,
    /// Why it failed, if it did.
    pub failed: Option<FailReason>,
    /// Ballots of its Prepare rounds.
    pub prepare_ballots: BTreeSet<Ballot>,
    /// Ballots of its Accept rounds (each may have taken effect).
    pub accept_ballots: BTreeSet<Ballot>,
}

/// The events of one key's history (see [`linearizability::events`]): a completed operation
/// must take effect once with its outcome; a failed or unanswered one may take effect once per
/// Accept round, at any later time.
pub fn events_for(records: &[OpRecord], key: Key) -> Vec<Event<TestChange, TestOutcome>> {
    let history: Vec<_> = records
        .iter()
        .filter(|r| r.key == key)
        .map(|r| Observed {
            change: r.change,
            invoked: r.invoked,
            answered: r.responded.zip(r.outcome),
            accept_rounds: r.accept_ballots.len(),
        })
        .collect();
    linearizability::events(&history)
}

// ---- the simulated network ---------------------------------------------------------------------

/// What a randomized run may do.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Replicas in the group.
    pub replicas: u8,
    /// The run's seed.
    pub seed: u64,
    /// Random steps before the run settles.
    pub steps: u32,
    /// Registers the operations spread over.
    pub keys: u8,
    /// Proposals at most in the run.
    pub max_ops: usize,
    /// A deliberately broken engine behaviour, for showing the checks catch it.
    pub fault: FaultInjection,
    /// Crash and restart replicas (with their durable state).
    pub crashes: bool,
    /// Restart some crashed replicas with their durable state lost.
    pub amnesia: bool,
    /// Deliver old messages again.
    pub replays: bool,
    /// Only `Increment { limit }` and `Read` (for the INV-ATTEMPTS check).
    pub increments_only: Option<u64>,
    /// Turn on the skip-Prepare optimisation.
    pub skip_prepare: bool,
}

impl SimOptions {
    /// The default run: every fault on, skip-Prepare on odd seeds.
    pub fn new(replicas: u8, seed: u64) -> Self {
        Self {
            replicas,
            seed,
            steps: 1500,
            keys: 2,
            max_ops: 16,
            fault: FaultInjection::None,
            crashes: true,
            amnesia: true,
            replays: true,
            increments_only: None,
            skip_prepare: seed % 2 == 1,
        }
    }
}

/// One replica's host.
pub struct Node {
    /// The running instance (`None`: down).
    pub replica: Option<TestReplica>,
    /// What the host persisted.
    pub durable: DurableState<Key, u64>,
    /// Instances started so far.
    pub incarnation: u64,
}

/// Counters of what the hosts did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Messages sent.
    pub sends: u64,
    /// Durable writes.
    pub persists: u64,
    /// Operations completed.
    pub completed: u64,
    /// Operations failed.
    pub failed: u64,
    /// Crashes.
    pub crashes: u64,
    /// Restarts without durable state.
    pub amnesia_restarts: u64,
    /// Old messages delivered again.
    pub replays: u64,
    /// Accept rounds that skipped Prepare.
    pub skipped_prepares: u64,
}

type Envelope = (ReplicaId, ReplicaId, TestMessage);

/// A randomized run of the consensus engine: hosts that persist before they send, a network
/// that reorders, drops and replays, crashes and restarts, and the history of every operation.
pub struct Sim {
    /// What the run may do.
    pub options: SimOptions,
    /// The group's consensus configuration.
    pub config: Config,
    /// The run's seeded randomness.
    pub rng: ChaCha8Rng,
    /// Simulated time in milliseconds.
    pub now: u64,
    /// Logical time of the history (one tick per event).
    pub clock: u64,
    /// The hosts, by replica id.
    pub nodes: BTreeMap<ReplicaId, Node>,
    /// Messages (from, to, message) sent and not yet delivered.
    pub in_flight: Vec<Envelope>,
    /// Messages delivered so far (the replay pool, bounded).
    pub history: Vec<Envelope>,
    /// Every operation proposed.
    pub records: Vec<OpRecord>,
    index: BTreeMap<(ReplicaId, u64, OpId), usize>,
    active: BTreeMap<(ReplicaId, Key), VecDeque<usize>>,
    announced: BTreeSet<(ReplicaId, Key, Ballot)>,
    /// What the hosts did.
    pub stats: Stats,
}

const HISTORY_MAX: usize = 4096;

/// Counts a broadcast once: only its copy to the lowest-numbered other replica.
fn message_is_first(ballot: Ballot, to: ReplicaId) -> bool {
    let first = if ballot.replica == ReplicaId(1) { 2 } else { 1 };
    to == ReplicaId(first)
}

impl Sim {
    /// A run with every replica up and nothing proposed.
    pub fn new(options: SimOptions) -> Self {
        let mut config = Config::new(ids(options.replicas));
        config.fault = options.fault;
        config.round_timeout_ms = 50;
        config.backoff_base_ms = 10;
        config.max_rounds = 6;
        config.catch_up_page = 2;
        config.counter_block = 4;
        config.jitter_seed = options.seed;
        config.skip_prepare = options.skip_prepare;
        let mut sim = Self {
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            options,
            config: config.clone(),
            now: 0,
            clock: 0,
            nodes: BTreeMap::new(),
            in_flight: Vec::new(),
            history: Vec::new(),
            records: Vec::new(),
            index: BTreeMap::new(),
            active: BTreeMap::new(),
            announced: BTreeSet::new(),
            stats: Stats::default(),
        };
        for id in config.replicas.clone() {
            let replica = TestReplica::new(id, config.clone(), 0).expect("member");
            sim.nodes.insert(
                id,
                Node {
                    replica: Some(replica),
                    durable: DurableState::default(),
                    incarnation: 0,
                },
            );
            sim.process(id, None);
        }
        sim
    }

    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.rng.next_u64() % 1000 < per_mille
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Carries out a replica's outputs in order, as a host would; `crash_after` crashes the
    /// replica after that many outputs (the rest are lost).
    pub fn process(&mut self, id: ReplicaId, crash_after: Option<usize>) {
        let mut outputs = Vec::new();
        if let Some(replica) = self.nodes.get_mut(&id).and_then(|n| n.replica.as_mut()) {
            outputs = drain(replica);
        }
        for (i, output) in outputs.into_iter().enumerate() {
            if crash_after == Some(i) {
                self.crash(id);
                return;
            }
            match output {
                Output::Persist(write) => {
                    self.stats.persists += 1;
                    self.attribute_persist(id, &write);
                    if let Some(node) = self.nodes.get_mut(&id) {
                        node.durable.apply(&write);
                    }
                }
                Output::Send { to, message } => {
                    self.stats.sends += 1;
                    self.attribute_send(id, to, &message);
                    if self.history.len() < HISTORY_MAX {
                        self.history.push((id, to, message.clone()));
                    }
                    self.in_flight.push((id, to, message));
                }
                Output::Completed { op, outcome } => {
                    self.stats.completed += 1;
                    self.respond(id, op, Some(outcome), None);
                }
                Output::Failed { op, reason } => {
                    self.stats.failed += 1;
                    self.respond(id, op, None, Some(reason));
                }
            }
        }
    }

    fn front(&self, id: ReplicaId, key: Key) -> Option<usize> {
        self.active.get(&(id, key)).and_then(|q| q.front().copied())
    }

    fn attribute_send(&mut self, id: ReplicaId, to: ReplicaId, message: &TestMessage) {
        match message {
            PeerMessage::Prepare { key, ballot } if ballot.replica == id => {
                if let Some(i) = self.front(id, *key) {
                    self.records[i].prepare_ballots.insert(*ballot);
                }
            }
            PeerMessage::Accept {
                key, ballot, next, ..
            } if ballot.replica == id => {
                if self.announced.contains(&(id, *key, *ballot)) && message_is_first(*ballot, to) {
                    self.stats.skipped_prepares += 1;
                }
                self.attribute_accept(id, *key, *ballot);
                // Skip-Prepare: the next operation on the key may start at `next` directly.
                if let Some(next) = next {
                    self.announced.insert((id, *key, *next));
                }
            }
            _ => {}
        }
    }

    fn attribute_persist(&mut self, id: ReplicaId, write: &DurableWrite<Key, u64>) {
        if let DurableWrite::Register { key, state } = write
            && let Some(accepted) = &state.accepted
            && accepted.ballot.replica == id
        {
            self.attribute_accept(id, *key, accepted.ballot);
        }
    }

    fn attribute_accept(&mut self, id: ReplicaId, key: Key, ballot: Ballot) {
        if let Some(i) = self.front(id, key) {
            let announced = self.announced.contains(&(id, key, ballot));
            if self.records[i].prepare_ballots.contains(&ballot) || announced {
                self.records[i].accept_ballots.insert(ballot);
            }
        }
    }

    fn respond(
        &mut self,
        id: ReplicaId,
        op: OpId,
        outcome: Option<TestOutcome>,
        failed: Option<FailReason>,
    ) {
        let incarnation = self.nodes[&id].incarnation;
        let Some(&i) = self.index.get(&(id, incarnation, op)) else {
            panic!("completion of an unknown op {op:?} at {id}");
        };
        let stamp = self.tick();
        let record = &mut self.records[i];
        assert!(record.responded.is_none(), "op answered twice");
        record.responded = Some(stamp);
        record.outcome = outcome;
        record.failed = failed;
        let key = record.key;
        if let Some(queue) = self.active.get_mut(&(id, key)) {
            queue.retain(|&j| j != i);
        }
    }

    /// Crashes replica `id`; its durable state stays.
    pub fn crash(&mut self, id: ReplicaId) {
        if let Some(node) = self.nodes.get_mut(&id)
            && node.replica.take().is_some()
        {
            self.stats.crashes += 1;
        }
        self.active.retain(|(p, _), _| *p != id);
    }

    /// Replicas whose durable state is lost or incomplete (recovering, or down without meta).
    pub fn impaired(&self) -> usize {
        self.nodes
            .values()
            .filter(|n| match &n.replica {
                Some(r) => !r.is_voting(),
                None => n.durable.meta.is_none(),
            })
            .count()
    }

    /// Restarts replica `id` from its durable state, or without it (`amnesia`).
    pub fn restart(&mut self, id: ReplicaId, amnesia: bool) {
        let now = self.now;
        let config = self.config.clone();
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        if node.replica.is_some() {
            return;
        }
        node.incarnation += 1;
        let incarnation = node.incarnation;
        let forgets = amnesia || node.durable.meta.is_none();
        let replica = if forgets {
            node.durable = DurableState::default();
            TestReplica::recover_amnesiac(id, config, incarnation, now).expect("member")
        } else {
            TestReplica::restore(id, config, node.durable.clone(), incarnation).expect("restore")
        };
        node.replica = Some(replica);
        if forgets {
            self.stats.amnesia_restarts += 1;
        }
        self.process(id, None);
    }

    /// Proposes `change` on `key` at replica `id`; the index of its record, or `None` if the
    /// replica is down.
    pub fn propose(&mut self, id: ReplicaId, key: Key, change: TestChange) -> Option<usize> {
        let now = self.now;
        let incarnation = self.nodes[&id].incarnation;
        let invoked = self.tick();
        let replica = self.nodes.get_mut(&id)?.replica.as_mut()?;
        let op = replica.propose(now, key, change, &());
        let i = self.records.len();
        self.records.push(OpRecord {
            proposer: id,
            op,
            key,
            change,
            invoked,
            responded: None,
            outcome: None,
            failed: None,
            prepare_ballots: BTreeSet::new(),
            accept_ballots: BTreeSet::new(),
        });
        self.index.insert((id, incarnation, op), i);
        self.active.entry((id, key)).or_default().push_back(i);
        self.process(id, None);
        Some(i)
    }

    /// Mostly the oldest messages, a little reordered; now and then any message at all.
    pub fn pick_in_flight(&mut self) -> usize {
        let len = self.in_flight.len();
        if self.chance(50) {
            self.below(len)
        } else {
            self.below(len.min(6))
        }
    }

    /// Delivers in-flight message `index` (keeping a copy in flight if `keep_copy`); with
    /// `crash_after = Some(k)` the receiver crashes after carrying out `k` outputs.
    pub fn deliver(&mut self, index: usize, keep_copy: bool, crash_after: Option<usize>) {
        if index >= self.in_flight.len() {
            return;
        }
        let (from, to, message) = if keep_copy {
            self.in_flight[index].clone()
        } else {
            self.in_flight.remove(index)
        };
        self.deliver_envelope(from, to, message, crash_after);
    }

    fn deliver_envelope(
        &mut self,
        from: ReplicaId,
        to: ReplicaId,
        message: TestMessage,
        crash_after: Option<usize>,
    ) {
        let now = self.now;
        if let Some(replica) = self.nodes.get_mut(&to).and_then(|n| n.replica.as_mut()) {
            replica.handle_message(now, from, message, &());
            self.process(to, crash_after);
        }
    }

    /// Advances time to the earliest timer (or by 10 ms) and fires every due timer.
    pub fn advance(&mut self) {
        let next = self
            .nodes
            .values()
            .filter_map(|n| n.replica.as_ref().and_then(|r| r.poll_timeout()))
            .min();
        self.now = match next {
            Some(t) if t > self.now => t,
            Some(_) => self.now,
            None => self.now + 10,
        };
        let now = self.now;
        let due: Vec<ReplicaId> = self
            .nodes
            .iter()
            .filter(|(_, n)| {
                n.replica
                    .as_ref()
                    .and_then(|r| r.poll_timeout())
                    .is_some_and(|t| t <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(replica) = self.nodes.get_mut(&id).and_then(|n| n.replica.as_mut()) {
                replica.handle_timeout(now, &());
            }
            self.process(id, None);
        }
    }

    fn random_change(&mut self) -> TestChange {
        if let Some(limit) = self.options.increments_only {
            return if self.chance(800) {
                TestChange::Increment { limit }
            } else {
                TestChange::Read
            };
        }
        match self.below(3) {
            0 => TestChange::Increment { limit: 4 },
            1 => {
                let expect = match self.below(3) {
                    0 => None,
                    n => Some(n as u64),
                };
                TestChange::CompareAndSet {
                    expect,
                    new: self.below(4) as u64,
                }
            }
            _ => TestChange::Read,
        }
    }

    /// The faulty phase: random deliveries, drops, duplicates, replays, timers, proposals,
    /// crashes (also in the middle of carrying out outputs), restarts and amnesia.
    pub fn run_faulty(&mut self) {
        let ids = self.config.replicas.clone();
        let impaired_max = (ids.len() - 1) / 2;
        for _ in 0..self.options.steps {
            let roll = self.below(1000);
            match roll {
                0..=599 => {
                    if !self.in_flight.is_empty() {
                        let i = self.pick_in_flight();
                        let dup = self.chance(50);
                        let crash = self.options.crashes && self.chance(1);
                        let crash_after = if crash { Some(self.below(4)) } else { None };
                        self.deliver(i, dup, crash_after);
                    }
                }
                600..=659 => {
                    if !self.in_flight.is_empty() {
                        let i = self.below(self.in_flight.len());
                        self.in_flight.remove(i);
                    }
                }
                660..=689 => {
                    if self.options.replays && !self.history.is_empty() {
                        let i = self.below(self.history.len());
                        let (from, to, message) = self.history[i].clone();
                        self.stats.replays += 1;
                        self.deliver_envelope(from, to, message, None);
                    }
                }
                690..=769 => {
                    if self.in_flight.len() < 4 || self.chance(200) {
                        self.advance();
                    }
                }
                770..=899 => {
                    let pending = self
                        .records
                        .iter()
                        .filter(|r| r.responded.is_none())
                        .count();
                    if self.records.len() < self.options.max_ops * 2
                        && pending < self.options.max_ops
                    {
                        let id = ids[self.below(ids.len())];
                        let key = self.below(self.options.keys as usize) as Key;
                        let change = self.random_change();
                        self.propose(id, key, change);
                    }
                }
                900..=939 => {
                    if self.options.crashes && self.chance(400) {
                        let id = ids[self.below(ids.len())];
                        self.crash(id);
                    }
                }
                _ => {
                    let down: Vec<ReplicaId> = ids
                        .iter()
                        .copied()
                        .filter(|id| self.nodes[id].replica.is_none())
                        .collect();
                    if !down.is_empty() {
                        let id = down[self.below(down.len())];
                        let may_forget = self.options.amnesia && self.impaired() < impaired_max;
                        let amnesia = may_forget && self.chance(300);
                        self.restart(id, amnesia);
                    }
                }
            }
        }
    }

    /// The healed phase: every replica up, no loss; runs until no message, timer or operation
    /// is left. Returns false if it did not settle.
    pub fn heal(&mut self) -> bool {
        let ids = self.config.replicas.clone();
        for id in &ids {
            self.restart(*id, false);
        }
        self.settle()
    }

    /// Whether every replica is up and voting.
    pub fn all_voting(&self) -> bool {
        self.nodes
            .values()
            .all(|n| n.replica.as_ref().is_some_and(|r| r.is_voting()))
    }

    /// Delivers everything and fires timers until the group is idle; whether every replica
    /// votes at the end.
    pub fn settle(&mut self) -> bool {
        for _ in 0..200_000 {
            if !self.in_flight.is_empty() {
                let i = self.pick_in_flight();
                self.deliver(i, false, None);
                continue;
            }
            let busy = self.nodes.values().any(|n| {
                n.replica
                    .as_ref()
                    .is_some_and(|r| r.poll_timeout().is_some())
            });
            if !busy {
                return true;
            }
            self.advance();
        }
        false
    }

    /// Checks every key's history; returns the first key that is not linearizable.
    pub fn check_linearizable(&self) -> Result<(), Key> {
        for key in 0..self.options.keys {
            let events = events_for(&self.records, key);
            if !linearizable::<Register>(&events) {
                return Err(key);
            }
        }
        Ok(())
    }

    /// Per key, how many increments completed as counted.
    pub fn counted(&self) -> BTreeMap<Key, u64> {
        let mut counted = BTreeMap::new();
        for record in &self.records {
            if let Some(TestOutcome::Counted { .. }) = record.outcome {
                *counted.entry(record.key).or_insert(0) += 1;
            }
        }
        counted
    }
}
