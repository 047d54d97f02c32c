//! The seed corpora of the fuzz targets (`fuzz/`), taken from real traffic: an honest client
//! registers, recovers with a wrong and then the right password, and deletes, through a relay
//! and a three-replica vault group (insecure fast suite). Every message and durable write on
//! the way is captured, opened where it is sealed (the test holds the fleet secrets), and
//! checked to decode and re-encode to exactly its bytes: the encoding each honest role sends is
//! the one encoding its decoder accepts. Streams, recovery keys and the fleet encodings (public
//! keys file, secrets of both real suites) come from fixed keys.
//!
//! The seeds are written to `target/tmp/fuzz-seeds/<target>/` on every run; `fuzz/smoke`
//! (and `.ci/run`, after the tests) hands that directory to each target as its seed corpus.
//! Deriving the seeds from the encoders keeps them current when a message layout changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup_testkit::fixtures::RELAY;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use e2ee_backup::ConnectionId;
use e2ee_backup::GroupId;
use e2ee_backup::internal::client::{ClientConfig, ClientOutcome, ClientOutput};
use e2ee_backup::internal::consensus::{Config, PeerMessage, ReplicaId};
use e2ee_backup::internal::crypto::real::{
    InsecureFastFleetSecrets, InsecureFastSuite, ProductionFleetSecrets, ProductionSuite,
};
use e2ee_backup::internal::crypto::{CryptoSuite, FleetPublicKeys, SecretBytes};
use e2ee_backup::internal::ids::{AccountId, FleetId};
use e2ee_backup::internal::relay::{FirstReplica, RelayConfig, RelayOutput};
use e2ee_backup::internal::stream::{HEADER_LEN, seal_to_vec};
use e2ee_backup::internal::vault::replica_link::{durable_aad, link_aad};
use e2ee_backup::internal::vault::replica_wire::{
    decode_replica_message, decode_replica_write, encode_replica_message, encode_replica_write,
};
use e2ee_backup::internal::vault::{
    AccountRecord, ConsensusStore, LinkEnvelope, MemoryTrustedState, ReplicaBody, ReplicaPlace,
    ReplicaWrite, ReplicatedVault, ReplicatedVaultOutput,
};
use e2ee_backup::internal::wire::{
    ClientReply, ClientRequest, Reply, ReplyBody, Request, VaultReply, VaultRequest, reply_aad,
    request_aad,
};
use e2ee_backup::{BackupKey, Client, RecoveryKey, Relay};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The key of the `stream_open` target (`e2ee_backup_fuzz::STREAM_KEY`; keep the two equal).
const FUZZ_STREAM_KEY: [u8; 32] = [0x42; 32];

const REPLICAS: u8 = 3;

/// Seeds by target name, each a list of (file name, bytes).
#[derive(Default)]
struct Corpus(BTreeMap<&'static str, BTreeMap<String, Vec<u8>>>);

impl Corpus {
    fn add(&mut self, target: &'static str, name: impl Into<String>, bytes: Vec<u8>) {
        self.0.entry(target).or_default().insert(name.into(), bytes);
    }

    fn write(&self, root: &Path) {
        for (target, seeds) in &self.0 {
            let dir = root.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in seeds {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }
}

/// Checks the round trip of an envelope, then files it under `envelopes`.
fn envelope<T>(
    corpus: &mut Corpus,
    name: &str,
    bytes: &[u8],
    decode: fn(&[u8]) -> Result<T, e2ee_backup::internal::wire::DecodeError>,
    encode: fn(&T) -> Vec<u8>,
) -> T {
    let decoded = decode(bytes).unwrap_or_else(|e| panic!("{name} decodes: {e}"));
    assert_eq!(encode(&decoded), bytes, "{name} re-encodes to its bytes");
    corpus.add("envelopes", name, bytes.to_vec());
    decoded
}

enum Packet {
    Replica { to: u8, bytes: Vec<u8> },
    Relay(Vec<u8>),
    Client(Vec<u8>),
}

struct World {
    suite: InsecureFastSuite,
    fleet: InsecureFastFleetSecrets,
    rng: ChaCha20Rng,
    relay: Relay,
    vaults: Vec<ReplicatedVault<InsecureFastSuite, ConsensusStore<MemoryTrustedState>>>,
    client: Client<InsecureFastSuite>,
    account: AccountId,
    corpus: Corpus,
    /// Reply keys of the requests seen, by route id.
    reply_keys: BTreeMap<u64, SecretBytes>,
    count: usize,
}

fn fleet() -> InsecureFastFleetSecrets {
    InsecureFastFleetSecrets::generate(
        &mut ChaCha20Rng::seed_from_u64(0x5EED),
        FleetId::new(b"fleet-seeds").unwrap(),
    )
}

impl World {
    fn new() -> Self {
        let suite = InsecureFastSuite;
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let config = Config::new((0..REPLICAS).map(ReplicaId));
        let mut vaults = Vec::new();
        for id in 0..REPLICAS {
            let store = ConsensusStore::new(
                GroupId(0),
                ReplicaId(id),
                config.clone(),
                1,
                MemoryTrustedState::new(),
            )
            .unwrap();
            vaults.push(ReplicatedVault::new(suite, fleet(), store));
        }
        let relay = Relay::new(RelayConfig {
            replicas_per_group: REPLICAS,
            first_replica: FirstReplica::Fixed(0),
            ..RelayConfig::default()
        });
        let account = AccountId::new(b"alice").unwrap();
        let fleet = fleet();
        let client = Client::new(
            suite,
            suite.fleet_public_keys(&fleet),
            account.clone(),
            ClientConfig::default(),
        );
        let mut world = Self {
            suite,
            fleet,
            rng: ChaCha20Rng::seed_from_u64(4),
            relay,
            vaults,
            client,
            account,
            corpus: Corpus::default(),
            reply_keys: BTreeMap::new(),
            count: 0,
        };
        world
            .relay
            .handle_connection_opened(ConnectionId(1), world.account.clone());
        let mut queue = VecDeque::new();
        for id in 0..usize::from(REPLICAS) {
            world.vaults[id].start(&mut rng);
            world.drain_vault(id, &mut queue);
        }
        world.deliver(queue);
        world
    }

    fn name(&mut self, what: &str) -> String {
        self.count += 1;
        format!("{:03}-{what}", self.count)
    }

    /// Runs the operation the client just started to its end.
    fn run(&mut self) -> ClientOutcome {
        loop {
            let out = self
                .client
                .poll_output()
                .expect("the client gets its answer");
            let bytes = match out {
                ClientOutput::Completed { outcome, .. } => return outcome,
                ClientOutput::Send { bytes } => bytes,
            };
            let name = self.name("client-request");
            envelope(
                &mut self.corpus,
                &name,
                &bytes,
                ClientRequest::decode,
                ClientRequest::encode,
            );
            self.relay.handle_client_message(0, ConnectionId(1), &bytes);
            let mut queue = VecDeque::new();
            self.drain_relay(&mut queue);
            self.deliver(queue);
        }
    }

    fn deliver(&mut self, mut queue: VecDeque<Packet>) {
        while let Some(packet) = queue.pop_front() {
            match packet {
                Packet::Replica { to, bytes } => {
                    let id = usize::from(to);
                    if let Ok(link) = LinkEnvelope::decode(&bytes) {
                        self.seed_link(&link, &bytes);
                        self.vaults[id].handle_replica_message(0, &mut self.rng, &bytes);
                    } else {
                        self.seed_vault_request(&bytes);
                        self.vaults[id].handle_relay_message(0, &mut self.rng, RELAY, &bytes);
                    }
                    self.drain_vault(id, &mut queue);
                }
                Packet::Relay(bytes) => {
                    self.seed_vault_reply(&bytes);
                    self.relay.handle_vault_message(0, &bytes);
                    self.drain_relay(&mut queue);
                }
                Packet::Client(bytes) => {
                    let name = self.name("client-reply");
                    envelope(
                        &mut self.corpus,
                        &name,
                        &bytes,
                        ClientReply::decode,
                        ClientReply::encode,
                    );
                    self.client.handle_relay_message(0, &mut self.rng, &bytes);
                }
            }
        }
    }

    fn drain_relay(&mut self, queue: &mut VecDeque<Packet>) {
        while let Some(out) = self.relay.poll_output() {
            match out {
                RelayOutput::ToReplica { replica, bytes, .. } => {
                    queue.push_back(Packet::Replica { to: replica, bytes });
                }
                RelayOutput::ToClient { bytes, .. } => queue.push_back(Packet::Client(bytes)),
            }
        }
    }

    fn drain_vault(&mut self, id: usize, queue: &mut VecDeque<Packet>) {
        let place = ReplicaPlace {
            group: GroupId(0),
            replica: ReplicaId(u8::try_from(id).unwrap()),
        };
        while let Some(out) = self.vaults[id].poll_output() {
            match out {
                ReplicatedVaultOutput::ToRelay { bytes, .. } => {
                    queue.push_back(Packet::Relay(bytes))
                }
                ReplicatedVaultOutput::ToReplica { to, bytes } => {
                    queue.push_back(Packet::Replica { to: to.0, bytes });
                }
                ReplicatedVaultOutput::Persist { slot, sealed } => {
                    let plain = self
                        .suite
                        .open_storage(&self.fleet, &durable_aad(place, &slot), &sealed)
                        .expect("a durable write opens");
                    let write = decode_replica_write(plain.expose()).expect("it decodes");
                    assert_eq!(
                        encode_replica_write(&write),
                        plain.expose(),
                        "it re-encodes"
                    );
                    if let ReplicaWrite::Register { state, .. } = &write.write
                        && let Some(accepted) = &state.accepted
                    {
                        self.seed_record(accepted.value.as_ref());
                    }
                    let name = self.name("durable-write");
                    self.corpus
                        .add("replica_wire", name, plain.expose().to_vec());
                }
            }
        }
    }

    fn seed_vault_request(&mut self, bytes: &[u8]) {
        let name = self.name("vault-request");
        let request = envelope(
            &mut self.corpus,
            &name,
            bytes,
            VaultRequest::decode,
            VaultRequest::encode,
        );
        let opened = self
            .suite
            .open_request(
                &self.fleet,
                &request_aad(&request.account, request.kind),
                &request.sealed,
            )
            .expect("an honest request opens");
        let body = Request::decode(&opened.plaintext).expect("an honest request decodes");
        assert_eq!(body.encode(), opened.plaintext, "a request body re-encodes");
        self.reply_keys.insert(request.route_id, opened.reply_key);
        let name = self.name("request");
        self.corpus.add("sealed_bodies", name, opened.plaintext);
    }

    fn seed_vault_reply(&mut self, bytes: &[u8]) {
        let name = self.name("vault-reply");
        let reply = envelope(
            &mut self.corpus,
            &name,
            bytes,
            VaultReply::decode,
            VaultReply::encode,
        );
        if let ReplyBody::Sealed(sealed) = &reply.body {
            let key = &self.reply_keys[&reply.route_id];
            let plain = self
                .suite
                .open_reply(key, &reply_aad(reply.kind), sealed)
                .expect("a reply opens");
            let body = Reply::decode_padded(&plain).expect("a reply body decodes");
            assert_eq!(
                body.encode_padded(reply.kind),
                plain,
                "a reply body re-encodes to its padded size"
            );
            let name = self.name("reply");
            self.corpus.add("sealed_bodies", name, plain);
        }
    }

    fn seed_link(&mut self, link: &LinkEnvelope, bytes: &[u8]) {
        assert_eq!(link.encode(), bytes, "a link envelope re-encodes");
        let name = self.name("link-envelope");
        self.corpus.add("replica_wire", name, bytes.to_vec());
        let plain = self
            .suite
            .open_link(
                &self.fleet,
                &link_aad(link.group, link.from, link.to),
                &link.sealed,
            )
            .expect("a link message opens");
        let message = decode_replica_message(plain.expose()).expect("it decodes");
        assert_eq!(
            encode_replica_message(&message),
            plain.expose(),
            "it re-encodes"
        );
        match &message.body {
            ReplicaBody::Peer(PeerMessage::Accept { value, .. }) => {
                self.seed_record(value.as_ref())
            }
            ReplicaBody::Peer(PeerMessage::Promise {
                accepted: Some(accepted),
                ..
            }) => self.seed_record(accepted.value.as_ref()),
            _ => {}
        }
        let name = self.name("replica-message");
        self.corpus
            .add("replica_wire", name, plain.expose().to_vec());
    }

    fn seed_record(&mut self, record: Option<&AccountRecord>) {
        if let Some(record) = record {
            let bytes = record.encode();
            assert_eq!(
                &AccountRecord::decode(&bytes).unwrap(),
                record,
                "a record decodes"
            );
            let name = self.name("record");
            self.corpus.add("account_record", name, bytes);
        }
    }
}

fn stream_and_recovery_key_seeds(corpus: &mut Corpus) {
    let key = BackupKey::from_bytes(FUZZ_STREAM_KEY);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    for (segment_size, len) in [(16u32, 0usize), (16, 16), (16, 40), (17, 100), (64, 200)] {
        let file = seal_to_vec(&key, segment_size, &vec![0x61; len], &mut rng).unwrap();
        corpus.add(
            "stream_header",
            format!("header-{segment_size}-{len}"),
            file[..HEADER_LEN].to_vec(),
        );
        // Mode 0: open the stream as it is.
        let mut open = vec![0u8];
        open.extend_from_slice(&file);
        corpus.add("stream_open", format!("open-{segment_size}-{len}"), open);
    }
    // Mode 1: segment size 16 + 20, salt seed 9, tamper position 77, flip 0x01, 50 bytes.
    let mut seal = vec![1u8, 0, 20, 9, 0, 77, 1];
    seal.extend_from_slice(&[0x62; 50]);
    corpus.add("stream_open", "seal-tamper", seal);

    for (i, bytes) in [[0u8; 32], [0xFF; 32], FUZZ_STREAM_KEY].iter().enumerate() {
        let key = RecoveryKey::from_backup_key(&BackupKey::from_bytes(*bytes));
        let shown = key.to_string();
        corpus.add(
            "recovery_key",
            format!("key-{i}"),
            shown.clone().into_bytes(),
        );
        corpus.add(
            "recovery_key",
            format!("lines-{i}"),
            key.to_lines().as_bytes().to_vec(),
        );
        let mut typo = shown.into_bytes();
        typo[6] = if typo[6] == b'X' { b'Y' } else { b'X' };
        corpus.add("recovery_key", format!("typo-{i}"), typo);
    }
}

/// Seeds of the `fleet_encodings` target: the fleet public keys file and the fleet secrets of
/// both real suites, each checked to round-trip, whole and cut short (a cut seed sits next to a
/// framing check, where the fuzzer would otherwise have to find the lengths itself).
fn fleet_seeds(corpus: &mut Corpus) {
    fn add_with_cuts(corpus: &mut Corpus, name: &str, bytes: &[u8]) {
        corpus.add("fleet_encodings", name, bytes.to_vec());
        for cut in [1, 7, bytes.len() / 2, bytes.len() - 1] {
            corpus.add(
                "fleet_encodings",
                format!("{name}-cut-{cut}"),
                bytes[..cut].to_vec(),
            );
        }
    }
    /// One suite's secrets and the public keys they derive, each checked to round-trip and
    /// never to load under the other suite, whole and cut short.
    fn add_suite<S: CryptoSuite>(
        corpus: &mut Corpus,
        which: &str,
        suite: S,
        secrets: &S::FleetSecrets,
        encode: impl Fn(&S::FleetSecrets) -> Vec<u8>,
        decode: impl Fn(&[u8]) -> Option<S::FleetSecrets>,
        other_suite_loads: impl Fn(&[u8]) -> bool,
    ) {
        let bytes = encode(secrets);
        let decoded = decode(&bytes).unwrap();
        assert_eq!(encode(&decoded), bytes, "{which} fleet secrets re-encode");
        assert!(!other_suite_loads(&bytes));
        add_with_cuts(corpus, &format!("secrets-{which}"), &bytes);
        let public = suite.fleet_public_keys(secrets);
        assert_eq!(
            FleetPublicKeys::from_bytes(&public.to_bytes()),
            Ok(public.clone())
        );
        add_with_cuts(corpus, &format!("public-{which}"), &public.to_bytes());
    }
    let id = FleetId::new(b"fleet-seeds").unwrap();
    add_suite(
        corpus,
        "insecure",
        InsecureFastSuite,
        &fleet(),
        |s| s.to_bytes().to_vec(),
        |b| InsecureFastFleetSecrets::from_bytes(b).ok(),
        |b| ProductionFleetSecrets::from_bytes(b).is_ok(),
    );
    add_suite(
        corpus,
        "production",
        ProductionSuite,
        &ProductionFleetSecrets::generate(&mut ChaCha20Rng::seed_from_u64(0x5EED), id.clone()),
        |s| s.to_bytes().to_vec(),
        |b| ProductionFleetSecrets::from_bytes(b).ok(),
        |b| InsecureFastFleetSecrets::from_bytes(b).is_ok(),
    );

    // A one-byte fleet id and one-byte keys: the shortest file the decoder accepts.
    let tiny = FleetPublicKeys {
        fleet_id: FleetId::new(b"f").unwrap(),
        hpke_public_key: vec![1],
        opaque_server_public_key: vec![2],
    };
    assert_eq!(
        FleetPublicKeys::from_bytes(&tiny.to_bytes()),
        Ok(tiny.clone())
    );
    corpus.add("fleet_encodings", "public-tiny", tiny.to_bytes());
}

#[test]
fn every_honest_message_is_the_one_encoding_its_decoder_accepts() {
    let mut world = World::new();
    let backup_key = BackupKey::from_bytes([9; 32]);
    world
        .client
        .start_register(0, &mut ChaCha20Rng::seed_from_u64(6), b"pw", &backup_key, 3)
        .unwrap();
    assert_eq!(world.run(), ClientOutcome::Registered { generation: 1 });
    world
        .client
        .start_recover(0, &mut ChaCha20Rng::seed_from_u64(7), b"not pw")
        .unwrap();
    assert_eq!(world.run(), ClientOutcome::WrongPassword { remaining: 2 });
    world
        .client
        .start_recover(0, &mut ChaCha20Rng::seed_from_u64(8), b"pw")
        .unwrap();
    assert_eq!(world.run(), ClientOutcome::Recovered(backup_key));
    world
        .client
        .start_delete(0, &mut ChaCha20Rng::seed_from_u64(9), b"pw")
        .unwrap();
    assert_eq!(world.run(), ClientOutcome::Deleted);

    let mut corpus = std::mem::take(&mut world.corpus);
    stream_and_recovery_key_seeds(&mut corpus);
    fleet_seeds(&mut corpus);
    for target in [
        "envelopes",
        "sealed_bodies",
        "replica_wire",
        "account_record",
        "stream_header",
        "stream_open",
        "recovery_key",
        "fleet_encodings",
    ] {
        assert!(
            corpus.0.get(target).is_some_and(|seeds| !seeds.is_empty()),
            "target {target} has seeds"
        );
    }
    corpus.write(&PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-seeds"));
}
