//! In-memory transport for the vault protocol roles: one vault replica, one relay, any number of
//! clients, and hooks on every hop to drop, duplicate, replay or tamper with messages.
//!
//! The `Oracle` is a test-only omniscient observer: it holds a copy of the fleet secrets (made
//! from the same seed) and opens every request and reply the vault handled, so the tests can
//! count login challenges and key releases per registration (INV-ATTEMPTS, INV-DISCLOSE).

use std::collections::{BTreeMap, VecDeque};

use e2ee_backup::GroupId;
use e2ee_backup::internal::client::{
    Client, ClientConfig, ClientOutcome, ClientOutput, OperationId,
};
use e2ee_backup::internal::crypto::CryptoSuite;
use e2ee_backup::internal::crypto::real::InsecureFastSuite;
use e2ee_backup::internal::ids::AccountId;
use e2ee_backup::internal::relay::{ConnectionId, Relay, RelayConfig, RelayOutput};
use e2ee_backup::internal::vault::{SingleVault, SingleVaultOutput};
use e2ee_backup::internal::wire::VaultRequest;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::fixtures::RELAY;
use crate::observer::ReplyObserver;

/// Where a message is travelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hop {
    /// From a client to the relay.
    ClientToRelay,
    /// From the relay to the vault.
    RelayToVault,
    /// From the vault to the relay.
    VaultToRelay,
    /// From the relay to a client.
    RelayToClient,
}

/// Decides what is delivered for each message on each hop: an empty vector drops it, two
/// copies duplicate it, changed bytes tamper with it.
pub type Hook = Box<dyn FnMut(Hop, &[u8]) -> Vec<Vec<u8>>>;

pub use crate::fixtures::{account, fast_fleet, fleet_id};

/// One vault replica, one relay and any number of clients, with a hook on every hop.
pub struct Net<S: CryptoSuite> {
    /// The crypto suite.
    pub suite: S,
    /// The roles' seeded randomness.
    pub rng: ChaCha20Rng,
    /// The current time.
    pub now_ms: u64,
    /// The vault.
    pub vault: SingleVault<S>,
    /// The relay.
    pub relay: Relay,
    /// The clients, by connection.
    pub clients: BTreeMap<ConnectionId, Client<S>>,
    /// What happens to each message on each hop (`None`: delivered once, unchanged).
    pub hook: Option<Hook>,
    /// Every outcome the clients reported, in order.
    pub outcomes: Vec<(ConnectionId, OperationId, ClientOutcome)>,
    /// Every byte the vault emitted (replies and persisted records).
    pub vault_emitted: Vec<Vec<u8>>,
    /// Every byte the relay received or sent.
    pub relay_view: Vec<Vec<u8>>,
    /// The host's disk: the latest sealed record per account.
    pub persisted: BTreeMap<AccountId, Vec<u8>>,
    /// What the oracle saw: every request by route id and every reply it opened, with its
    /// copy of the fleet secrets ([`ReplyObserver::fleet`]).
    pub oracle: ReplyObserver<S, u64>,
    /// After every reply it opens, the harness asserts that the judge found no violation of
    /// INV-ATTEMPTS or INV-DISCLOSE (on by default). A test of a deliberately broken vault
    /// turns it off and reads `oracle.judge` itself.
    pub assert_promises: bool,
    /// The password of the latest operation started on each connection: what the judge is
    /// told the connection's requests are sealed with.
    passwords: BTreeMap<ConnectionId, Vec<u8>>,
    queue: VecDeque<(Hop, Option<ConnectionId>, Vec<u8>)>,
}

impl Net<InsecureFastSuite> {
    /// A network of the test fleet with cheap key stretching and the default relay.
    pub fn fast(seed: u64) -> Self {
        Net::new(
            InsecureFastSuite,
            fast_fleet(),
            fast_fleet(),
            seed,
            RelayConfig::default(),
        )
    }
}

impl<S: CryptoSuite + Copy> Net<S> {
    /// A network of `fleet` (the vault's) and `oracle_fleet` (the oracle's copy).
    pub fn new(
        suite: S,
        fleet: S::FleetSecrets,
        oracle_fleet: S::FleetSecrets,
        seed: u64,
        relay: RelayConfig,
    ) -> Self {
        Self {
            suite,
            rng: ChaCha20Rng::seed_from_u64(seed),
            now_ms: 1_000,
            vault: SingleVault::new(suite, fleet),
            relay: Relay::new(relay),
            clients: BTreeMap::new(),
            hook: None,
            outcomes: Vec::new(),
            vault_emitted: Vec::new(),
            relay_view: Vec::new(),
            persisted: BTreeMap::new(),
            oracle: ReplyObserver::new(suite, oracle_fleet),
            passwords: BTreeMap::new(),
            assert_promises: true,
            queue: VecDeque::new(),
        }
    }

    /// Adds a client for `account` on a new connection the relay authenticated.
    pub fn add_client(&mut self, connection: ConnectionId, account: &AccountId) {
        let fleet = self.suite.fleet_public_keys(self.vault.fleet());
        self.clients.insert(
            connection,
            Client::new(self.suite, fleet, account.clone(), ClientConfig::default()),
        );
        self.relay
            .handle_connection_opened(connection, account.clone());
    }

    /// The client on `connection`.
    pub fn client(&mut self, connection: ConnectionId) -> &mut Client<S> {
        self.clients.get_mut(&connection).unwrap()
    }

    fn collect_client_outputs(&mut self) {
        for (conn, client) in self.clients.iter_mut() {
            while let Some(out) = client.poll_output() {
                match out {
                    ClientOutput::Send { bytes } => {
                        self.queue
                            .push_back((Hop::ClientToRelay, Some(*conn), bytes))
                    }
                    ClientOutput::Completed { operation, outcome } => {
                        self.outcomes.push((*conn, operation, outcome))
                    }
                }
            }
        }
    }

    fn collect_relay_outputs(&mut self) {
        while let Some(out) = self.relay.poll_output() {
            match out {
                RelayOutput::ToReplica {
                    group,
                    replica,
                    bytes,
                } => {
                    assert_eq!((group, replica), (GroupId(0), 0));
                    self.relay_view.push(bytes.clone());
                    self.queue.push_back((Hop::RelayToVault, None, bytes));
                }
                RelayOutput::ToClient { connection, bytes } => {
                    self.relay_view.push(bytes.clone());
                    self.queue
                        .push_back((Hop::RelayToClient, Some(connection), bytes));
                }
            }
        }
    }

    fn collect_vault_outputs(&mut self) {
        while let Some(out) = self.vault.poll_output() {
            match out {
                SingleVaultOutput::Persist {
                    account,
                    sealed_record,
                } => {
                    self.vault_emitted.push(sealed_record.clone());
                    self.persisted.insert(account, sealed_record);
                }
                SingleVaultOutput::ToRelay { relay, bytes } => {
                    assert_eq!(relay, RELAY, "a reply goes to the relay that asked");
                    self.vault_emitted.push(bytes.clone());
                    self.observe_reply(&bytes);
                    self.queue.push_back((Hop::VaultToRelay, None, bytes));
                }
            }
        }
    }

    /// A client on `conn` sent `bytes`: the judge learns the password they are sealed with.
    fn note_sent(&mut self, conn: Option<ConnectionId>, bytes: &[u8]) {
        if let Some(password) = conn.and_then(|c| self.passwords.get(&c)) {
            self.oracle.note_sent(bytes, password);
        }
    }

    fn observe_request(&mut self, bytes: &[u8]) {
        if let Ok(request) = VaultRequest::decode(bytes) {
            self.oracle.observe_request(request.route_id, bytes);
        }
    }

    /// Every sealed reply to a request the oracle opened must open under that request's key.
    fn observe_reply(&mut self, bytes: &[u8]) {
        self.oracle
            .check_reply(self.now_ms, bytes, self.assert_promises);
    }

    fn deliver(&mut self, hop: Hop, conn: Option<ConnectionId>, bytes: Vec<u8>) {
        if matches!(hop, Hop::ClientToRelay) {
            self.note_sent(conn, &bytes);
        }
        let copies = match self.hook.as_mut() {
            Some(hook) => hook(hop, &bytes),
            None => vec![bytes],
        };
        for bytes in copies {
            match hop {
                Hop::ClientToRelay => {
                    self.relay_view.push(bytes.clone());
                    self.relay
                        .handle_client_message(self.now_ms, conn.unwrap(), &bytes);
                }
                Hop::RelayToVault => {
                    self.observe_request(&bytes);
                    self.vault
                        .handle_relay_message(self.now_ms, &mut self.rng, RELAY, &bytes);
                }
                Hop::VaultToRelay => {
                    self.relay_view.push(bytes.clone());
                    self.relay.handle_vault_message(self.now_ms, &bytes);
                }
                Hop::RelayToClient => {
                    if let Some(client) = self.clients.get_mut(&conn.unwrap()) {
                        client.handle_relay_message(self.now_ms, &mut self.rng, &bytes);
                    }
                }
            }
            self.collect_all();
        }
    }

    fn collect_all(&mut self) {
        self.collect_client_outputs();
        self.collect_relay_outputs();
        self.collect_vault_outputs();
    }

    /// Delivers messages (and fires client timeouts) until nothing is left to do.
    pub fn run(&mut self) {
        self.collect_all();
        for _ in 0..100_000 {
            if let Some((hop, conn, bytes)) = self.queue.pop_front() {
                self.deliver(hop, conn, bytes);
                continue;
            }
            let next = self.clients.values().filter_map(|c| c.poll_timeout()).min();
            let Some(deadline) = next else { return };
            self.now_ms = self.now_ms.max(deadline);
            for client in self.clients.values_mut() {
                client.handle_timeout(self.now_ms);
            }
            self.collect_all();
        }
        panic!("network did not settle");
    }

    /// Runs until idle and returns the outcome of `operation` on `connection`.
    pub fn outcome(&mut self, connection: ConnectionId, operation: OperationId) -> ClientOutcome {
        self.run();
        self.outcomes
            .iter()
            .find(|(c, o, _)| *c == connection && *o == operation)
            .map(|(_, _, outcome)| outcome.clone())
            .expect("operation finished")
    }

    /// Starts a registration on `connection` and runs it to the end.
    pub fn register(
        &mut self,
        connection: ConnectionId,
        password: &[u8],
        key: &e2ee_backup::BackupKey,
        limit: u32,
    ) -> ClientOutcome {
        let now = self.now_ms;
        self.passwords.insert(connection, password.to_vec());
        let op = self
            .clients
            .get_mut(&connection)
            .unwrap()
            .start_register(now, &mut self.rng, password, key, limit)
            .unwrap();
        self.outcome(connection, op)
    }

    /// Starts a recovery on `connection` without running the network.
    pub fn start_recover(&mut self, connection: ConnectionId, password: &[u8]) -> OperationId {
        let now = self.now_ms;
        self.passwords.insert(connection, password.to_vec());
        self.clients
            .get_mut(&connection)
            .unwrap()
            .start_recover(now, &mut self.rng, password)
            .unwrap()
    }

    /// Starts a recovery on `connection` and carries its guess-free `Status` request through
    /// relay and vault and the answer back, without running the network: the client's next
    /// output is then the `LoginStart` it made from that answer.
    pub fn start_recover_past_status(
        &mut self,
        connection: ConnectionId,
        password: &[u8],
    ) -> OperationId {
        let op = self.start_recover(connection, password);
        let Some(ClientOutput::Send { bytes }) = self.client(connection).poll_output() else {
            panic!("the recovery sent nothing")
        };
        assert_eq!(
            e2ee_backup::internal::wire::ClientRequest::decode(&bytes)
                .unwrap()
                .kind,
            e2ee_backup::internal::wire::RequestKind::Status
        );
        let now = self.now_ms;
        self.note_sent(Some(connection), &bytes);
        self.relay.handle_client_message(now, connection, &bytes);
        let to_vault: Vec<Vec<u8>> = std::iter::from_fn(|| self.relay.poll_output())
            .map(|out| match out {
                RelayOutput::ToReplica { bytes, .. } => bytes,
                other => panic!("unexpected relay output {other:?}"),
            })
            .collect();
        for bytes in to_vault {
            self.vault
                .handle_relay_message(now, &mut self.rng, RELAY, &bytes);
            while let Some(out) = self.vault.poll_output() {
                let SingleVaultOutput::ToRelay { bytes, .. } = out else {
                    panic!("a Status wrote something")
                };
                self.relay.handle_vault_message(now, &bytes);
            }
        }
        while let Some(out) = self.relay.poll_output() {
            let RelayOutput::ToClient { bytes, .. } = out else {
                panic!("unexpected relay output {out:?}")
            };
            if let Some(client) = self.clients.get_mut(&connection) {
                client.handle_relay_message(now, &mut self.rng, &bytes);
            }
        }
        op
    }

    /// Starts a guess-free status query on `connection` without running the network.
    pub fn start_status(&mut self, connection: ConnectionId) -> OperationId {
        let now = self.now_ms;
        self.clients
            .get_mut(&connection)
            .unwrap()
            .start_status(now, &mut self.rng)
            .unwrap()
    }

    /// Hands `bytes` (a `ClientReply`) straight to the client on `connection`.
    pub fn deliver_to_client(&mut self, connection: ConnectionId, bytes: &[u8]) {
        let now = self.now_ms;
        self.clients
            .get_mut(&connection)
            .unwrap()
            .handle_relay_message(now, &mut self.rng, bytes);
    }

    /// Starts a recovery on `connection` and runs it to the end.
    pub fn recover(&mut self, connection: ConnectionId, password: &[u8]) -> ClientOutcome {
        let now = self.now_ms;
        self.passwords.insert(connection, password.to_vec());
        let op = self
            .clients
            .get_mut(&connection)
            .unwrap()
            .start_recover(now, &mut self.rng, password)
            .unwrap();
        self.outcome(connection, op)
    }

    /// Starts a deletion on `connection` and runs it to the end.
    pub fn delete(&mut self, connection: ConnectionId, password: &[u8]) -> ClientOutcome {
        let now = self.now_ms;
        self.passwords.insert(connection, password.to_vec());
        let op = self
            .clients
            .get_mut(&connection)
            .unwrap()
            .start_delete(now, &mut self.rng, password)
            .unwrap();
        self.outcome(connection, op)
    }
}

/// True if `needle` occurs anywhere in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
