//! In-memory five-replica vault group for the replicated tests: one relay, any number of
//! clients, five `ReplicatedVault<_, ConsensusStore>` (one per datacenter), a seeded network that
//! reorders, drops and duplicates every hop, crashes with and without durable state, and two
//! omniscient observers:
//!
//! - the `oracle`, the shared [`ReplyObserver`], opens every reply a replica emitted (it holds a
//!   copy of the fleet secrets) and counts login challenges per (account, generation) for
//!   INV-ATTEMPTS;
//! - the `Log` wraps every replica's store and records each record change (invocation, response,
//!   outcome, Accept rounds) for the Wing–Gong linearizability check of INV-LINEAR.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use e2ee_backup::BackupKey;
use e2ee_backup::GroupId;
use e2ee_backup::internal::client::{
    Client, ClientConfig, ClientOutcome, ClientOutput, OperationId,
};
use e2ee_backup::internal::consensus::{Ballot, Config, PeerMessage, ReplicaId};
use e2ee_backup::internal::crypto::CryptoSuite;
use e2ee_backup::internal::crypto::real::{InsecureFastFleetSecrets, InsecureFastSuite};
use e2ee_backup::internal::ids::AccountId;
use e2ee_backup::internal::relay::{ConnectionId, Relay, RelayConfig, RelayOutput};
use e2ee_backup::internal::vault::{
    AccountRecord, ChangeOutcome, ConsensusStore, DurableSlot, Lineage, MemoryOrVolatileTrust,
    RecordChange, RecordStore, ReplicaBody, ReplicaEffect, ReplicaMessage, ReplicaPlace,
    ReplicatedStore, ReplicatedVault, ReplicatedVaultOutput, StoreEvent, StoreFault, Ticket,
    open_disk,
};
use e2ee_backup::internal::wire::{RequestKind, VaultRequest};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::fixtures::RELAY;
use crate::linearizability::{self, Event, Observed, Sequential, linearizable};
use crate::observer::ReplyObserver;

/// The crypto suite every cluster replica and client runs (cheap key stretching).
pub type Suite = InsecureFastSuite;
/// One replica of the cluster: a vault over a logged consensus store.
pub type Vault = ReplicatedVault<Suite, LoggedStore>;

/// The cluster's replica group.
pub const GROUP: u32 = 0;
/// Replicas in the group (one per datacenter).
pub const REPLICAS: u8 = 5;

pub use crate::fixtures::{account, fast_fleet as fleet};

/// The backup key of the test seeded with `seed`.
pub fn seeded_key(seed: u64) -> BackupKey {
    BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

/// Alice (connection 1) registers password `pw` with `limit` and guesses wrong once, leaving
/// `limit - 1` attempts; returns her backup key. The prefix most replicated tests share.
pub fn register_and_guess_wrong_once(c: &mut Cluster, seed: u64, limit: u32) -> BackupKey {
    c.add_client(ConnectionId(1), &account("alice"));
    let k = seeded_key(seed);
    assert_eq!(
        c.register(ConnectionId(1), b"pw", &k, limit),
        ClientOutcome::Registered { generation: 1 }
    );
    assert_eq!(
        c.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword {
            remaining: limit - 1
        }
    );
    k
}

/// The consensus configuration of the five-replica group.
pub fn group_config() -> Config {
    Config::new((0..REPLICAS).map(ReplicaId))
}

/// The HSM's trusted state of one replica identity in the harness: a shared in-memory cell the
/// simulated host cannot roll back (durable mode), or none (volatile mode).
pub type Trust = MemoryOrVolatileTrust;

/// The store every harness replica runs.
pub type Store = ConsensusStore<Trust>;

// ---- the change log (INV-LINEAR) ------------------------------------------------------------

/// One record change as a store saw it.
#[derive(Clone, Debug)]
pub struct ChangeRecord {
    /// The account whose record changes.
    pub account: AccountId,
    /// The change.
    pub change: RecordChange,
    /// Log clock at submission.
    pub invoked: u64,
    /// Log clock at completion (`None`: never completed).
    pub responded: Option<u64>,
    /// The outcome it completed with.
    pub outcome: Option<ChangeOutcome>,
    /// Ballots of the Accept rounds run for it (each may have taken effect).
    pub accept_ballots: BTreeSet<Ballot>,
}

/// Every record change every replica's store handled, for the INV-LINEAR check.
#[derive(Default, Debug)]
pub struct Log {
    /// Logical time, advanced by the cluster on every step.
    pub clock: u64,
    /// The changes in submission order.
    pub changes: Vec<ChangeRecord>,
    /// (replica, incarnation, ticket) → index into `changes`.
    open: BTreeMap<(u8, u64, Ticket), usize>,
    /// (replica, incarnation, account) → open changes in submission order.
    queues: BTreeMap<(u8, u64, AccountId), Vec<usize>>,
    /// Replicas that sent an Accept since the cluster last looked.
    pub accept_senders: BTreeSet<u8>,
}

/// A `ConsensusStore` that reports every change and its Accept rounds to the shared `Log`.
pub struct LoggedStore {
    /// The store being logged.
    pub inner: Store,
    log: Rc<RefCell<Log>>,
    replica: u8,
    incarnation: u64,
}

impl LoggedStore {
    fn observe(&mut self, event: &StoreEvent<ReplicaEffect>) {
        let mut log = self.log.borrow_mut();
        let clock = log.clock;
        match event {
            StoreEvent::Effect(ReplicaEffect::Send { message, .. }) => {
                if let ReplicaBody::Peer(PeerMessage::Accept { key, ballot, .. }) = &message.body {
                    log.accept_senders.insert(self.replica);
                    let q = (self.replica, self.incarnation, key.clone());
                    if let Some(&front) = log.queues.get(&q).and_then(|v| v.first()) {
                        log.changes[front].accept_ballots.insert(*ballot);
                    }
                }
            }
            StoreEvent::Completed { ticket, outcome } => {
                if let Some(index) = log.open.remove(&(self.replica, self.incarnation, *ticket)) {
                    let record = &mut log.changes[index];
                    record.responded = Some(clock);
                    record.outcome = Some(outcome.clone());
                    let q = (self.replica, self.incarnation, record.account.clone());
                    if let Some(v) = log.queues.get_mut(&q) {
                        v.retain(|i| *i != index);
                    }
                }
            }
            _ => {}
        }
    }
}

impl RecordStore for LoggedStore {
    type Effect = ReplicaEffect;

    fn poll_event(&mut self) -> Option<StoreEvent<ReplicaEffect>> {
        let event = self.inner.poll_event()?;
        self.observe(&event);
        Some(event)
    }
    fn submit_at(&mut self, now: u64, ticket: Ticket, account: AccountId, change: RecordChange) {
        {
            let mut log = self.log.borrow_mut();
            let index = log.changes.len();
            let clock = log.clock;
            log.changes.push(ChangeRecord {
                account: account.clone(),
                change: change.clone(),
                invoked: clock,
                responded: None,
                outcome: None,
                accept_ballots: BTreeSet::new(),
            });
            log.open
                .insert((self.replica, self.incarnation, ticket), index);
            log.queues
                .entry((self.replica, self.incarnation, account.clone()))
                .or_default()
                .push(index);
        }
        self.inner.submit_at(now, ticket, account, change);
    }
    fn lineage(&self) -> Option<Lineage> {
        self.inner.lineage()
    }
}

impl ReplicatedStore for LoggedStore {
    fn place(&self) -> ReplicaPlace {
        self.inner.place()
    }
    fn handle_replica_message(&mut self, now: u64, from: ReplicaId, message: ReplicaMessage) {
        self.inner.handle_replica_message(now, from, message);
    }
    fn handle_timeout(&mut self, now: u64) {
        self.inner.handle_timeout(now);
    }
    fn poll_timeout(&self) -> Option<u64> {
        self.inner.poll_timeout()
    }
}

/// An account's record as a sequential object, for the linearizability search.
pub struct Record;

impl Sequential for Record {
    type Change = RecordChange;
    type Outcome = ChangeOutcome;
    type Value = Option<AccountRecord>;
    type Key = Option<Vec<u8>>;

    fn apply(change: &RecordChange, value: &Option<AccountRecord>) -> (Self::Value, ChangeOutcome) {
        let applied = change.apply(value.as_ref());
        (applied.write.or_else(|| value.clone()), applied.outcome)
    }

    fn key(value: &Option<AccountRecord>) -> Option<Vec<u8>> {
        value.as_ref().map(AccountRecord::encode)
    }
}

/// The events of one account (see [`linearizability::events`]): a change that completed
/// `Unknown` (a consensus give-up) counts as unanswered.
fn events_for(log: &Log, account: &AccountId) -> Vec<Event<RecordChange, ChangeOutcome>> {
    let history: Vec<_> = log
        .changes
        .iter()
        .filter(|r| &r.account == account)
        .map(|r| Observed {
            change: r.change.clone(),
            invoked: r.invoked,
            answered: r
                .responded
                .zip(r.outcome.clone())
                .filter(|(_, outcome)| *outcome != ChangeOutcome::Unknown),
            accept_rounds: r.accept_ballots.len(),
        })
        .collect();
    linearizability::events(&history)
}

/// Wing–Gong: is there a sequential order of the account's record changes that respects real
/// time and reproduces every completed outcome? (INV-LINEAR)
pub fn account_history_is_linearizable(log: &Log, account: &AccountId) -> bool {
    linearizable::<Record>(&events_for(log, account))
}

// ---- the oracle (INV-ATTEMPTS) ---------------------------------------------------------------

// ---- the cluster ---------------------------------------------------------------------------------

/// A message in flight in the cluster.
#[derive(Clone, Debug)]
pub enum Packet {
    /// From a client (its connection) to the relay.
    ClientToRelay(ConnectionId, Vec<u8>),
    /// From the relay to a replica.
    RelayToReplica(u8, Vec<u8>),
    /// From a replica to the relay.
    ReplicaToRelay(Vec<u8>),
    /// From the relay to a client (its connection).
    RelayToClient(ConnectionId, Vec<u8>),
    /// (from, to, bytes).
    Peer(u8, u8, Vec<u8>),
}

/// One replica's host: the running instance, its disk and its trusted cell.
pub struct Node {
    /// The running instance (`None`: down).
    pub vault: Option<Vault>,
    /// The host's disk: the latest sealed write per durable slot.
    pub disk: BTreeMap<DurableSlot, Vec<u8>>,
    /// Instances started so far (grows at every restart).
    pub incarnation: u64,
    /// The HSM's trusted cell: survives crashes and disk rollbacks; shared by clones.
    pub trusted: Trust,
}

/// Counters of what the cluster carried.
#[derive(Default, Debug, Clone, Copy)]
pub struct Stats {
    /// Messages between replicas.
    pub replica_messages: u64,
    /// Durable writes the hosts made.
    pub durable_writes: u64,
    /// Messages from the relay to a replica.
    pub relay_to_replica: u64,
}

/// The network and host faults of a cluster (all off by default).
#[derive(Default, Debug, Clone, Copy)]
pub struct Faults {
    /// Drop each message with this probability.
    pub drop_per_mille: u64,
    /// Deliver each message twice with this probability.
    pub dup_per_mille: u64,
    /// After each delivery to a replica, crash it (keeping its disk) with this probability.
    pub crash_per_mille: u64,
    /// ...and restart it with its durable state after this many deliveries.
    pub down_steps: u64,
    /// Never more than this many replicas down at once from random crashes.
    pub max_down: usize,
    /// Crash this many proposers at the moment they send Accepts (after the prepare quorum),
    /// alternately losing those Accepts ("crashed between prepare and accept") or not.
    pub crash_at_accept: u32,
}

/// A five-replica group, one relay and any number of clients, on a seeded faulty network.
pub struct Cluster {
    /// The crypto suite.
    pub suite: Suite,
    /// The run's seeded randomness (network choices and the roles' randomness).
    pub rng: ChaCha20Rng,
    /// The current time.
    pub now_ms: u64,
    /// The replicas' hosts, by replica id.
    pub nodes: Vec<Node>,
    /// The relay.
    pub relay: Relay,
    /// The clients, by connection.
    pub clients: BTreeMap<ConnectionId, Client<Suite>>,
    /// Every outcome the clients reported, in order.
    pub outcomes: Vec<(ConnectionId, OperationId, ClientOutcome)>,
    /// Messages sent and not yet delivered.
    pub in_flight: Vec<Packet>,
    /// The faults the network and hosts inject.
    pub faults: Faults,
    /// The record-change log every replica's store reports to (INV-LINEAR).
    pub log: Rc<RefCell<Log>>,
    /// The reply observer, with the judge of INV-ATTEMPTS and INV-DISCLOSE.
    pub oracle: ReplyObserver<Suite, u64>,
    /// After every reply it opens, the harness asserts that the judge found no violation of
    /// INV-ATTEMPTS or INV-DISCLOSE (on by default). A test of a deliberately broken vault
    /// turns it off and reads `oracle.judge` itself.
    pub assert_promises: bool,
    /// The password of the latest operation started on each connection: what the judge is
    /// told the connection's requests are sealed with.
    passwords: BTreeMap<ConnectionId, Vec<u8>>,
    /// What the cluster carried.
    pub stats: Stats,
    oracle_fleet: InsecureFastFleetSecrets,
    restart_at: BTreeMap<u8, u64>,
    steps: u64,
    /// Requests of these kinds are delivered to the given replica instead (cross-replica tests).
    pub redirect: BTreeMap<RequestKind, u8>,
    /// Deliver each relay request to replica `route id % 5` instead of the relay's choice, so
    /// concurrent clients go through different replicas.
    pub spread: bool,
    /// How many proposers `Faults::crash_at_accept` crashed.
    pub crashes_at_accept: u32,
    /// Deliberately broken store behaviour of every replica started from now on (tests that
    /// show a checker can fail).
    pub fault: StoreFault,
    /// When set, a copy of every delivered packet (the operator's wiretap, for replay tests).
    pub wiretap: Option<Vec<Packet>>,
}

impl Cluster {
    /// Five replicas in durable mode (each HSM has a trusted cell).
    pub fn new(seed: u64) -> Self {
        Self::with_mode(seed, true)
    }

    /// Five replicas in volatile mode (no trusted state: every start is an amnesia recovery).
    pub fn volatile(seed: u64) -> Self {
        Self::with_mode(seed, false)
    }

    fn with_mode(seed: u64, durable: bool) -> Self {
        let log = Rc::new(RefCell::new(Log::default()));
        let relay = Relay::new(RelayConfig {
            bucket_capacity: 10_000,
            replicas_per_group: REPLICAS,
            first_replica: e2ee_backup::internal::relay::FirstReplica::Fixed(0),
            vault_retry_ms: 700,
            vault_sends_max: 4,
            ..RelayConfig::default()
        });
        let mut cluster = Self {
            suite: InsecureFastSuite,
            rng: ChaCha20Rng::seed_from_u64(seed),
            now_ms: 1_000,
            nodes: Vec::new(),
            relay,
            clients: BTreeMap::new(),
            outcomes: Vec::new(),
            in_flight: Vec::new(),
            faults: Faults::default(),
            log,
            oracle: ReplyObserver::new(InsecureFastSuite, fleet()),
            passwords: BTreeMap::new(),
            assert_promises: true,
            stats: Stats::default(),
            oracle_fleet: fleet(),
            restart_at: BTreeMap::new(),
            steps: 0,
            redirect: BTreeMap::new(),
            spread: false,
            crashes_at_accept: 0,
            fault: StoreFault::None,
            wiretap: None,
        };
        for id in 0..REPLICAS {
            let trusted = Trust::new(durable);
            let store = ConsensusStore::new(
                GroupId(GROUP),
                ReplicaId(id),
                group_config(),
                1,
                trusted.clone(),
            )
            .unwrap();
            cluster.nodes.push(Node {
                vault: None,
                disk: BTreeMap::new(),
                incarnation: 1,
                trusted,
            });
            cluster.install(id, store);
        }
        cluster
    }

    fn install(&mut self, id: u8, store: Store) {
        let node = &mut self.nodes[usize::from(id)];
        let logged = LoggedStore {
            inner: store,
            log: self.log.clone(),
            replica: id,
            incarnation: node.incarnation,
        };
        let mut vault = ReplicatedVault::new(InsecureFastSuite, fleet(), logged);
        vault.start(&mut self.rng);
        node.vault = Some(vault);
        self.collect();
    }

    /// Whether replica `id` runs.
    pub fn is_up(&self, id: u8) -> bool {
        self.nodes[usize::from(id)].vault.is_some()
    }

    /// Replicas that are down.
    pub fn down_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.vault.is_none()).count()
    }

    /// Crashes replica `id`: its volatile state is gone, its disk stays.
    pub fn crash(&mut self, id: u8) {
        self.nodes[usize::from(id)].vault = None;
    }

    /// Restarts replica `id` from what its disk holds: the store trusts the disk only if the
    /// trusted cell vouches for it, else it recovers as an amnesiac (INV-DURABLE, rollback).
    pub fn restart(&mut self, id: u8) {
        let store = self.start_instance(id);
        self.install(id, store);
    }

    /// A new instance of replica `id` over its current disk (the caller installs it).
    fn start_instance(&mut self, id: u8) -> Store {
        let place = ReplicaPlace {
            group: GroupId(GROUP),
            replica: ReplicaId(id),
        };
        let config = group_config();
        let node = &mut self.nodes[usize::from(id)];
        node.incarnation += 1;
        let disk = node
            .disk
            .iter()
            .map(|(slot, sealed)| (slot, sealed.as_slice()));
        let opened = open_disk(&self.suite, &self.oracle_fleet, place, disk);
        assert_eq!(opened.unusable, [], "own durable writes open");
        ConsensusStore::start_with_fault(
            GroupId(GROUP),
            ReplicaId(id),
            config,
            &opened.image,
            node.trusted.clone(),
            node.incarnation,
            self.now_ms,
            self.fault,
        )
        .unwrap()
    }

    /// The operator starts a second instance of replica `id` on a copy of its disk; it
    /// replaces the running one in the cluster, which is returned (still running: the operator
    /// may keep feeding it).
    pub fn clone_instance(&mut self, id: u8) -> Vault {
        let store = self.start_instance(id);
        let older = self.nodes[usize::from(id)]
            .vault
            .take()
            .expect("replica is up");
        self.install(id, store);
        older
    }

    /// Sealed messages addressed to replica `id` in flight now (for feeding an old instance).
    pub fn any_peer_message_to(&mut self, id: u8) -> Vec<Vec<u8>> {
        self.in_flight
            .iter()
            .filter_map(|p| match p {
                Packet::Peer(_, to, bytes) if *to == id => Some(bytes.clone()),
                _ => None,
            })
            .collect()
    }

    /// Whether replica `id` is up but halted (a newer instance of it started).
    pub fn halted(&self, id: u8) -> bool {
        self.nodes[usize::from(id)]
            .vault
            .as_ref()
            .is_some_and(|v| v.store().inner.is_halted())
    }

    /// NVRAM writes of every replica's trusted cell so far.
    pub fn nvram_writes(&self) -> u64 {
        self.nodes.iter().map(|n| n.trusted.nvram_writes()).sum()
    }

    /// Restarts replica `id` with its disk wiped: it must not vote until it has caught up.
    pub fn restart_amnesiac(&mut self, id: u8) {
        let config = group_config();
        let node = &mut self.nodes[usize::from(id)];
        node.vault = None;
        node.disk.clear();
        node.incarnation += 1;
        let mut store = ConsensusStore::recover_amnesiac(
            GroupId(GROUP),
            ReplicaId(id),
            config,
            node.incarnation,
            self.now_ms,
            node.trusted.clone(),
        )
        .unwrap();
        store.inject_fault(self.fault);
        self.install(id, store);
    }

    /// The operator's copy of replica `id`'s durable writes (every slot, as the host holds it).
    pub fn copy_disk(&self, id: u8) -> BTreeMap<DurableSlot, Vec<u8>> {
        self.nodes[usize::from(id)].disk.clone()
    }

    /// The operator puts an earlier copy of replica `id`'s durable writes back (a rollback of the
    /// whole disk); the replica must be down.
    pub fn put_disk(&mut self, id: u8, disk: BTreeMap<DurableSlot, Vec<u8>>) {
        assert!(
            !self.is_up(id),
            "roll a disk back only while its replica is down"
        );
        self.nodes[usize::from(id)].disk = disk;
    }

    /// The lineage replica `id` votes in (`None` if it is down or recovering).
    pub fn lineage(&self, id: u8) -> Option<Lineage> {
        self.nodes[usize::from(id)]
            .vault
            .as_ref()
            .and_then(|v| v.store().inner.lineage())
    }

    /// How often replica `id`'s current instance founded or joined a lineage, and abandoned.
    pub fn regenesis_counts(&self, id: u8) -> (u64, u64) {
        self.nodes[usize::from(id)]
            .vault
            .as_ref()
            .map_or((0, 0), |v| v.store().inner.regenesis_counts())
    }

    /// Consensus messages replica `id` dropped as another lineage's.
    pub fn foreign_lineage_drops(&self, id: u8) -> u64 {
        self.nodes[usize::from(id)]
            .vault
            .as_ref()
            .map_or(0, |v| v.store().inner.foreign_lineage_drops())
    }

    /// Whether replica `id` is up and voting (not recovering or halted).
    pub fn voting(&self, id: u8) -> bool {
        self.nodes[usize::from(id)]
            .vault
            .as_ref()
            .is_some_and(|v| v.store().inner.replica().is_voting())
    }

    /// Opens `connection` for `account` with a new client (4 sends, 2.5 s apart).
    pub fn add_client(&mut self, connection: ConnectionId, account: &AccountId) {
        let keys = self.suite.fleet_public_keys(&self.oracle_fleet);
        let config = ClientConfig {
            retry_interval_ms: 2_500,
            max_sends: 4,
            resume_unfinished_login: true,
        };
        self.clients.insert(
            connection,
            Client::new(self.suite, keys, account.clone(), config),
        );
        self.relay
            .handle_connection_opened(connection, account.clone());
    }

    /// Starts a registration on `conn`; run the cluster to finish it.
    pub fn start_register(
        &mut self,
        conn: ConnectionId,
        password: &[u8],
        key: &BackupKey,
        limit: u32,
    ) -> OperationId {
        let now = self.now_ms;
        self.passwords.insert(conn, password.to_vec());
        let op = self
            .clients
            .get_mut(&conn)
            .unwrap()
            .start_register(now, &mut self.rng, password, key, limit)
            .unwrap();
        self.collect();
        op
    }

    /// Starts a recovery on `conn`; run the cluster to finish it.
    pub fn start_recover(&mut self, conn: ConnectionId, password: &[u8]) -> OperationId {
        let now = self.now_ms;
        self.passwords.insert(conn, password.to_vec());
        let op = self
            .clients
            .get_mut(&conn)
            .unwrap()
            .start_recover(now, &mut self.rng, password)
            .unwrap();
        self.collect();
        op
    }

    /// The outcome `op` on `conn` reported, if it finished.
    pub fn outcome_of(&self, conn: ConnectionId, op: OperationId) -> Option<ClientOutcome> {
        self.outcomes
            .iter()
            .find(|(c, o, _)| *c == conn && *o == op)
            .map(|(_, _, outcome)| outcome.clone())
    }

    /// Runs until idle, then returns the outcome of `op`.
    pub fn finish(&mut self, conn: ConnectionId, op: OperationId) -> ClientOutcome {
        self.run();
        self.outcome_of(conn, op).expect("operation finished")
    }

    /// Registers on `conn` and runs until the outcome.
    pub fn register(
        &mut self,
        conn: ConnectionId,
        password: &[u8],
        key: &BackupKey,
        limit: u32,
    ) -> ClientOutcome {
        let op = self.start_register(conn, password, key, limit);
        self.finish(conn, op)
    }

    /// Recovers on `conn` and runs until the outcome.
    pub fn recover(&mut self, conn: ConnectionId, password: &[u8]) -> ClientOutcome {
        let op = self.start_recover(conn, password);
        self.finish(conn, op)
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        per_mille > 0 && self.rng.next_u64() % 1000 < per_mille
    }

    fn collect(&mut self) {
        for (conn, client) in self.clients.iter_mut() {
            while let Some(out) = client.poll_output() {
                match out {
                    ClientOutput::Send { bytes } => {
                        if let Some(password) = self.passwords.get(conn) {
                            self.oracle.note_sent(&bytes, password);
                        }
                        self.in_flight.push(Packet::ClientToRelay(*conn, bytes))
                    }
                    ClientOutput::Completed { operation, outcome } => {
                        self.outcomes.push((*conn, operation, outcome))
                    }
                }
            }
        }
        while let Some(out) = self.relay.poll_output() {
            match out {
                RelayOutput::ToReplica {
                    group,
                    replica,
                    bytes,
                } => {
                    assert_eq!(group, GroupId(GROUP));
                    self.observe_request(&bytes);
                    self.stats.relay_to_replica += 1;
                    self.in_flight.push(Packet::RelayToReplica(replica, bytes));
                }
                RelayOutput::ToClient { connection, bytes } => self
                    .in_flight
                    .push(Packet::RelayToClient(connection, bytes)),
            }
        }
        for id in 0..u8::try_from(self.nodes.len()).unwrap() {
            let mut outs = Vec::new();
            if let Some(vault) = self.nodes[usize::from(id)].vault.as_mut() {
                while let Some(out) = vault.poll_output() {
                    outs.push(out);
                }
            }
            for out in outs {
                match out {
                    ReplicatedVaultOutput::Persist { slot, sealed } => {
                        self.stats.durable_writes += 1;
                        self.nodes[usize::from(id)].disk.insert(slot, sealed);
                    }
                    ReplicatedVaultOutput::ToReplica { to, bytes } => {
                        self.stats.replica_messages += 1;
                        self.in_flight.push(Packet::Peer(id, to.0, bytes));
                    }
                    ReplicatedVaultOutput::ToRelay { relay, bytes } => {
                        assert_eq!(relay, RELAY, "a reply goes to the relay that asked");
                        self.observe_reply(&bytes);
                        self.in_flight.push(Packet::ReplicaToRelay(bytes));
                    }
                }
            }
        }
    }

    fn observe_request(&mut self, bytes: &[u8]) {
        let request = VaultRequest::decode(bytes).unwrap();
        self.oracle.observe_request(request.route_id, bytes);
    }

    /// Every sealed reply to a request the oracle opened must open under that request's key.
    fn observe_reply(&mut self, bytes: &[u8]) {
        for id in 0..u8::try_from(self.nodes.len()).unwrap() {
            if let Some(lineage) = self.lineage(id) {
                self.oracle.note_lineage(lineage);
            }
        }
        self.oracle
            .check_reply(self.now_ms, bytes, self.assert_promises);
    }

    fn deliver(&mut self, packet: Packet) {
        if let Some(tap) = self.wiretap.as_mut() {
            tap.push(packet.clone());
        }
        let now = self.now_ms;
        self.collect();
        let mark = self.in_flight.len();
        self.log.borrow_mut().accept_senders.clear();
        let target = match &packet {
            Packet::RelayToReplica(id, _) | Packet::Peer(_, id, _) => Some(*id),
            _ => None,
        };
        match packet {
            Packet::ClientToRelay(conn, bytes) => {
                self.relay.handle_client_message(now, conn, &bytes)
            }
            Packet::RelayToClient(conn, bytes) => {
                if let Some(client) = self.clients.get_mut(&conn) {
                    client.handle_relay_message(now, &mut self.rng, &bytes);
                }
            }
            Packet::ReplicaToRelay(bytes) => self.relay.handle_vault_message(now, &bytes),
            Packet::RelayToReplica(id, bytes) => {
                let request = VaultRequest::decode(&bytes).unwrap();
                let id = if self.spread {
                    u8::try_from(request.route_id % u64::from(REPLICAS)).unwrap()
                } else {
                    id
                };
                let id = self.redirect.get(&request.kind).copied().unwrap_or(id);
                if let Some(vault) = self.nodes[usize::from(id)].vault.as_mut() {
                    vault.handle_relay_message(now, &mut self.rng, RELAY, &bytes);
                }
            }
            Packet::Peer(_, id, bytes) => {
                if let Some(vault) = self
                    .nodes
                    .get_mut(usize::from(id))
                    .and_then(|n| n.vault.as_mut())
                {
                    vault.handle_replica_message(now, &mut self.rng, &bytes);
                }
            }
        }
        self.collect();
        let sent_accept = target.is_some_and(|id| self.log.borrow().accept_senders.contains(&id));
        if let Some(id) = target
            && sent_accept
            && self.faults.crash_at_accept > 0
            && self.down_count() < self.faults.max_down
        {
            self.faults.crash_at_accept -= 1;
            self.crash(id);
            if self.faults.crash_at_accept.is_multiple_of(2) {
                let fresh = self.in_flight.split_off(mark.min(self.in_flight.len()));
                self.in_flight.extend(
                    fresh
                        .into_iter()
                        .filter(|p| !matches!(p, Packet::Peer(from, _, _) if *from == id)),
                );
            }
            self.crashes_at_accept += 1;
            self.restart_at
                .insert(id, self.steps + self.faults.down_steps.max(1));
            return;
        }
        if let Some(id) = target
            && self.is_up(id)
            && self.down_count() < self.faults.max_down
        {
            let p = self.faults.crash_per_mille;
            if self.chance(p) {
                self.crash(id);
                self.restart_at
                    .insert(id, self.steps + self.faults.down_steps);
            }
        }
    }

    fn restart_due(&mut self) {
        let due: Vec<u8> = self
            .restart_at
            .iter()
            .filter(|(_, at)| **at <= self.steps)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.restart_at.remove(&id);
            if !self.is_up(id) {
                self.restart(id);
            }
        }
    }

    /// Restarts every replica crashed by random faults and turns faults off.
    pub fn heal(&mut self) {
        self.faults = Faults::default();
        let down: Vec<u8> = self.restart_at.keys().copied().collect();
        self.restart_at.clear();
        for id in down {
            if !self.is_up(id) {
                self.restart(id);
            }
        }
    }

    /// Delivers messages in a seeded random order (with the configured faults) and fires timers
    /// until nothing is left to do.
    pub fn run(&mut self) {
        assert!(self.run_steps(2_000_000), "the cluster did not settle");
    }

    /// Like `run`, but stops after `steps` steps; returns whether the cluster is idle.
    pub fn run_steps(&mut self, steps: u64) -> bool {
        self.collect();
        for _ in 0..steps {
            self.steps += 1;
            self.log.borrow_mut().clock += 1;
            self.restart_due();
            if !self.in_flight.is_empty() {
                let i = (self.rng.next_u64() % self.in_flight.len() as u64) as usize;
                let packet = self.in_flight.swap_remove(i);
                let (drop, dup) = (self.faults.drop_per_mille, self.faults.dup_per_mille);
                if self.chance(drop) {
                    continue;
                }
                if self.chance(dup) {
                    self.in_flight.push(packet.clone());
                }
                self.deliver(packet);
                continue;
            }
            let clients = self.clients.values().filter_map(|c| c.poll_timeout());
            let vaults = self
                .nodes
                .iter()
                .filter_map(|n| n.vault.as_ref().and_then(|v| v.poll_timeout()));
            let next = clients.chain(self.relay.poll_timeout()).chain(vaults).min();
            let Some(next) = next else {
                if self.restart_at.is_empty() {
                    return true;
                }
                self.steps = self
                    .restart_at
                    .values()
                    .copied()
                    .min()
                    .unwrap_or(self.steps);
                continue;
            };
            self.now_ms = self.now_ms.max(next);
            let now = self.now_ms;
            for client in self.clients.values_mut() {
                if client.poll_timeout().is_some_and(|t| t <= now) {
                    client.handle_timeout(now);
                }
            }
            if self.relay.poll_timeout().is_some_and(|t| t <= now) {
                self.relay.handle_timeout(now);
            }
            for node in self.nodes.iter_mut() {
                if let Some(vault) = node.vault.as_mut()
                    && vault.poll_timeout().is_some_and(|t| t <= now)
                {
                    vault.handle_timeout(now, &mut self.rng);
                }
            }
            self.collect();
        }
        false
    }

    /// The record a quorum of live replicas agrees on is not directly visible (CASPaxos keeps
    /// no "chosen" flag); this returns the record accepted at the highest ballot among the live
    /// replicas, which after a settled run is the latest chosen one.
    pub fn latest_record(&self, account: &AccountId) -> Option<AccountRecord> {
        self.nodes
            .iter()
            .filter_map(|n| n.vault.as_ref())
            .filter_map(|v| {
                v.store()
                    .inner
                    .replica()
                    .register(account)
                    .and_then(|s| s.accepted.clone())
            })
            .max_by_key(|a| a.ballot)
            .and_then(|a| a.value)
    }
}
