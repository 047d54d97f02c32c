//! Shared pieces of the fuzz targets: the fixed keys the seed corpora are made with, and the
//! harness of the two structured targets (`vault_replica`, `replicated_vault`), which feed a real
//! `SingleVault` or `ReplicatedVault` (insecure fast suite) a sequence of relay and replica messages chosen by the
//! fuzzer.
//!
//! The structured harness seals what the fuzzer chooses under the real keys where a peer could
//! (a client seals any `Request` plaintext to the fleet; a replica of the group seals any
//! consensus message under the link key), so the inputs get past the AEADs and reach the
//! vault's logic. It also replays real traffic captured once from an honest client, raw or
//! with one byte changed. Its oracles: no panic; every reply the vault sends decodes as a
//! `VaultReply` for a route it was given, and a sealed reply to a request the harness sealed
//! opens under that request's reply key and decodes as a `Reply`; every replica message decodes
//! as a `LinkEnvelope` from this replica; every durable write opens with
//! `open_replica_write` (what a restart would do).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use e2ee_backup::internal::client::{ClientConfig, ClientOutput};
use e2ee_backup::internal::consensus::{Config, ReplicaId};
use e2ee_backup::internal::crypto::real::{InsecureFastFleetSecrets, InsecureFastSuite};
use e2ee_backup::internal::crypto::{CryptoSuite, FleetPublicKeys, SecretBytes};
use e2ee_backup::internal::ids::{AccountId, FleetId};
use e2ee_backup::internal::relay::{RelayConfig, RelayOutput};
use e2ee_backup::internal::vault::replica_link::link_aad;
use e2ee_backup::internal::vault::{
    ConsensusStore, DurableSlot, LinkEnvelope, MemoryTrustedState, RecordState, ReplicaPlace,
    ReplicatedVault, ReplicatedVaultOutput, SingleVault, SingleVaultOutput, open_replica_write,
};
use e2ee_backup::internal::wire::{
    Reply, ReplyBody, RequestKind, VaultReply, VaultRequest, reply_aad, request_aad,
};
use e2ee_backup::{BackupKey, Client, Relay, RelayTag};
use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The decoder properties of every codec target: decoding never panics (libFuzzer catches
/// that); a successful decode re-encodes to exactly the input (one encoding per message); and
/// the input with its last byte cut off or one byte appended does not decode (SPEC: every
/// decoder rejects truncated and trailing input).
pub fn check_codec<T, E>(
    what: &str,
    data: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, E>,
    encode: impl Fn(&T) -> Vec<u8>,
) {
    let Ok(decoded) = decode(data) else {
        return;
    };
    assert_eq!(encode(&decoded), data, "{what} re-encodes to its input");
    if let Some((_, shorter)) = data.split_last() {
        assert!(decode(shorter).is_err(), "{what} rejects a truncated input");
    }
    let mut longer = data.to_vec();
    longer.push(0);
    assert!(decode(&longer).is_err(), "{what} rejects a trailing byte");
}

/// The backup key of the `stream_open` target; the stream seeds are sealed under it.
pub const STREAM_KEY: [u8; 32] = [0x42; 32];

/// [`STREAM_KEY`] as a [`BackupKey`].
pub fn stream_key() -> BackupKey {
    BackupKey::from_bytes(STREAM_KEY)
}

/// Seed of the fleet secrets of the structured targets.
pub const FLEET_SEED: u64 = 0xF022;

/// The suite of the structured targets.
pub type Suite = InsecureFastSuite;

/// The fleet secrets of the structured targets (the same on every call).
pub fn fleet() -> InsecureFastFleetSecrets {
    InsecureFastFleetSecrets::generate(
        &mut ChaCha20Rng::seed_from_u64(FLEET_SEED),
        FleetId::new(b"fleet-fuzz").unwrap(),
    )
}

/// The accounts the harness speaks for: the registered one, and one without a record.
pub fn accounts() -> [AccountId; 2] {
    [
        AccountId::new(b"alice").unwrap(),
        AccountId::new(b"mallory").unwrap(),
    ]
}

/// The password of the registered account.
pub const PASSWORD: &[u8] = b"correct horse";

/// Real traffic of one honest client, captured once.
pub struct Captured {
    /// The fleet's public keys (what a client pins).
    pub pinned: FleetPublicKeys,
    /// Every `VaultRequest` the relay sent: register, expose, a wrong and a right recovery.
    pub requests: Vec<Vec<u8>>,
    /// Alice's sealed record after her registration was exposed (for `restore_record`).
    pub registered_record: Vec<u8>,
}

/// The captured traffic (made on first use, with a single vault replica).
pub fn captured() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(capture)
}

fn capture() -> Captured {
    let suite = InsecureFastSuite;
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let fleet = fleet();
    let pinned = suite.fleet_public_keys(&fleet);
    let mut vault = SingleVault::new(suite, fleet);
    let mut relay = Relay::new(RelayConfig::default());
    let [alice, _] = accounts();
    relay.handle_connection_opened(e2ee_backup::ConnectionId(1), alice.clone());
    let mut client = Client::new(suite, pinned.clone(), alice, ClientConfig::default());
    let mut requests = Vec::new();
    let mut last_record = Vec::new();
    let mut registered_record = Vec::new();
    let key = BackupKey::from_bytes([7; 32]);
    for step in 0..3 {
        match step {
            0 => client.start_register(0, &mut rng, PASSWORD, &key, 3),
            1 => client.start_recover(0, &mut rng, b"wrong password"),
            _ => client.start_recover(0, &mut rng, PASSWORD),
        }
        .unwrap();
        'operation: loop {
            let Some(out) = client.poll_output() else {
                panic!("the client waits for a reply that never comes");
            };
            let bytes = match out {
                ClientOutput::Completed { .. } => break 'operation,
                ClientOutput::Send { bytes } => bytes,
            };
            relay.handle_client_message(0, e2ee_backup::ConnectionId(1), &bytes);
            while let Some(out) = relay.poll_output() {
                match out {
                    RelayOutput::ToReplica { bytes, .. } => {
                        requests.push(bytes.clone());
                        vault.handle_relay_message(0, &mut rng, RELAY, &bytes);
                    }
                    RelayOutput::ToClient { bytes, .. } => {
                        client.handle_relay_message(0, &mut rng, &bytes);
                    }
                }
                while let Some(out) = vault.poll_output() {
                    match out {
                        SingleVaultOutput::Persist { sealed_record, .. } => {
                            last_record = sealed_record;
                        }
                        SingleVaultOutput::ToRelay { bytes, .. } => {
                            relay.handle_vault_message(0, &bytes);
                        }
                    }
                }
            }
        }
        if step == 0 {
            registered_record = last_record.clone();
        }
    }
    Captured {
        pinned,
        requests,
        registered_record,
    }
}

/// What the harness sealed for a route: the kind and the key its reply is sealed under.
struct Sent {
    kind: RequestKind,
    reply_key: SecretBytes,
}

/// The tag the harness's vault host gives its one relay.
const RELAY: RelayTag = RelayTag(0);

/// An output of either vault type, for the harness's oracles.
pub enum Output {
    /// A single vault's sealed record.
    Record,
    /// A reply for a relay.
    ToRelay {
        /// The relay.
        relay: RelayTag,
        /// The encoded reply.
        bytes: Vec<u8>,
    },
    /// A replicated vault's durable write.
    Persist {
        /// Where.
        slot: DurableSlot,
        /// The sealed write.
        sealed: Vec<u8>,
    },
    /// A replicated vault's message to a replica.
    ToReplica {
        /// The replica.
        to: ReplicaId,
        /// The encoded envelope.
        bytes: Vec<u8>,
    },
}

/// The vault types the harness drives, with the inputs the fuzzer chooses from.
pub trait Fuzzed {
    /// A relay's request.
    fn relay_message(&mut self, now_ms: u64, rng: &mut ChaCha20Rng, bytes: &[u8]);
    /// Time passes (a replicated vault's timers; a single vault has none).
    fn time_passes(&mut self, now_ms: u64, rng: &mut ChaCha20Rng);
    /// A replica's message (the harness sends these to a replicated vault only).
    fn replica_message(&mut self, now_ms: u64, rng: &mut ChaCha20Rng, bytes: &[u8]);
    /// The next output.
    fn output(&mut self) -> Option<Output>;
}

impl Fuzzed for SingleVault<Suite> {
    fn relay_message(&mut self, now_ms: u64, rng: &mut ChaCha20Rng, bytes: &[u8]) {
        self.handle_relay_message(now_ms, rng, RELAY, bytes);
    }
    fn time_passes(&mut self, _: u64, _: &mut ChaCha20Rng) {}
    fn replica_message(&mut self, _: u64, _: &mut ChaCha20Rng, _: &[u8]) {
        panic!("the harness sends replica messages to a replicated vault only");
    }
    fn output(&mut self) -> Option<Output> {
        Some(match self.poll_output()? {
            SingleVaultOutput::Persist { .. } => Output::Record,
            SingleVaultOutput::ToRelay { relay, bytes } => Output::ToRelay { relay, bytes },
        })
    }
}

impl Fuzzed for ReplicatedVault<Suite, ConsensusStore<MemoryTrustedState>> {
    fn relay_message(&mut self, now_ms: u64, rng: &mut ChaCha20Rng, bytes: &[u8]) {
        self.handle_relay_message(now_ms, rng, RELAY, bytes);
    }
    fn time_passes(&mut self, now_ms: u64, rng: &mut ChaCha20Rng) {
        self.handle_timeout(now_ms, rng);
    }
    fn replica_message(&mut self, now_ms: u64, rng: &mut ChaCha20Rng, bytes: &[u8]) {
        self.handle_replica_message(now_ms, rng, bytes);
    }
    fn output(&mut self) -> Option<Output> {
        Some(match self.poll_output()? {
            ReplicatedVaultOutput::Persist { slot, sealed } => Output::Persist { slot, sealed },
            ReplicatedVaultOutput::ToRelay { relay, bytes } => Output::ToRelay { relay, bytes },
            ReplicatedVaultOutput::ToReplica { to, bytes } => Output::ToReplica { to, bytes },
        })
    }
}

/// The vault under test and what the oracles need to know about it.
pub struct Harness<V: Fuzzed> {
    vault: V,
    /// A second copy of the fleet secrets (the vault owns its own), for the oracles.
    fleet: InsecureFastFleetSecrets,
    rng: ChaCha20Rng,
    now_ms: u64,
    /// Every request given to the vault, by route: `None` for one the harness did not seal.
    routes: BTreeMap<u64, Vec<Option<Sent>>>,
    place: Option<ReplicaPlace>,
    /// Per account, the last record state seen: (generation, state rank, attempts used).
    seen: BTreeMap<AccountId, (u64, u8, u32)>,
}

/// Replicas in the group of the replicated target (this one is replica 0).
pub const GROUP_SIZE: u8 = 3;

impl Harness<SingleVault<Suite>> {
    /// A single vault.
    pub fn single(registered: bool) -> Self {
        let mut vault = SingleVault::new(InsecureFastSuite, fleet());
        if registered {
            let [alice, _] = accounts();
            vault
                .restore_record(alice, &captured().registered_record)
                .expect("the captured record restores");
        }
        Self::wrap(vault, None)
    }
}

impl Harness<SingleVault<Suite>> {
    /// INV-ATTEMPTS as the records show it: without the password nobody can reset a count,
    /// so within one generation the attempts used never go down, a locked or deleted record
    /// stays so, and the count never passes the limit; generations never go back.
    pub fn check_records(&mut self) {
        for (account, record) in self.vault.store().records() {
            let (rank, used) = match &record.state {
                RecordState::Pending(_) => (0, 0),
                RecordState::Active(active) => {
                    assert!(
                        active.attempts_used <= active.registration.attempt_limit,
                        "INV-ATTEMPTS: attempts within the limit"
                    );
                    (1, active.attempts_used)
                }
                RecordState::Locked => (2, 0),
                RecordState::Deleted => (3, 0),
            };
            let now = (record.generation, rank, used);
            if let Some(&(generation, old_rank, old_used)) = self.seen.get(account) {
                assert!(record.generation >= generation, "generations never go back");
                if record.generation == generation {
                    assert!(
                        rank >= old_rank,
                        "INV-ATTEMPTS: no way back from locked or deleted, or to pending"
                    );
                    if rank == 1 && old_rank == 1 {
                        assert!(
                            used >= old_used,
                            "INV-ATTEMPTS: no reset without the password"
                        );
                    }
                }
            }
            self.seen.insert(account.clone(), now);
        }
    }
}

impl Harness<ReplicatedVault<Suite, ConsensusStore<MemoryTrustedState>>> {
    /// Replica 0 of a fresh group.
    pub fn replicated() -> Self {
        let store = ConsensusStore::new(
            e2ee_backup::GroupId(0),
            ReplicaId(0),
            Config::new((0..GROUP_SIZE).map(ReplicaId)),
            1,
            MemoryTrustedState::new(),
        )
        .expect("a valid group");
        let vault = ReplicatedVault::new(InsecureFastSuite, fleet(), store);
        let place = ReplicaPlace {
            group: e2ee_backup::GroupId(0),
            replica: ReplicaId(0),
        };
        let mut harness = Self::wrap(vault, Some(place));
        harness.vault.start(&mut harness.rng);
        harness.check_outputs();
        harness
    }
}

impl<V: Fuzzed> Harness<V> {
    fn wrap(vault: V, place: Option<ReplicaPlace>) -> Self {
        Self {
            vault,
            fleet: fleet(),
            rng: ChaCha20Rng::seed_from_u64(2),
            now_ms: 1_000,
            routes: BTreeMap::new(),
            place,
            seen: BTreeMap::new(),
        }
    }

    /// Runs the operations the fuzzer chose, checking every output, and `check` after each.
    pub fn run(&mut self, u: &mut Unstructured<'_>, check: fn(&mut Self)) -> ArbResult<()> {
        let ops = if self.place.is_some() { 8 } else { 5 };
        for _ in 0..64 {
            if u.is_empty() {
                break;
            }
            match u.int_in_range(0..=ops - 1)? {
                0 => {
                    let bytes: Vec<u8> = u.arbitrary()?;
                    self.relay_message(None, &bytes);
                }
                1 => self.sealed_request(u)?,
                2 => {
                    let requests = &captured().requests;
                    let bytes = u.choose(requests)?.clone();
                    self.replay(u, bytes, false)?;
                }
                3 => {
                    let requests = &captured().requests;
                    let bytes = u.choose(requests)?.clone();
                    self.replay(u, bytes, true)?;
                }
                4 => {
                    self.now_ms += u64::from(u.arbitrary::<u16>()?);
                    self.vault.time_passes(self.now_ms, &mut self.rng);
                }
                5 => {
                    let bytes: Vec<u8> = u.arbitrary()?;
                    self.vault
                        .replica_message(self.now_ms, &mut self.rng, &bytes);
                }
                _ => self.link_message(u)?,
            }
            self.check_outputs();
            check(self);
        }
        Ok(())
    }

    /// A client seals any plaintext to the fleet under the right AAD for its account and kind.
    fn sealed_request(&mut self, u: &mut Unstructured<'_>) -> ArbResult<()> {
        let account = u.choose(&accounts())?.clone();
        let kind = RequestKind::from_code(u.int_in_range(1..=6)?).expect("codes 1..=6 are kinds");
        let plaintext: Vec<u8> = u.arbitrary()?;
        let route_id: u64 = u.arbitrary()?;
        let sealed = InsecureFastSuite
            .seal_request(
                &mut self.rng,
                &captured().pinned,
                &request_aad(&account, kind),
                &plaintext,
            )
            .expect("sealing succeeds");
        let request = VaultRequest {
            route_id,
            account,
            kind,
            sealed: sealed.sealed,
        };
        self.relay_message(
            Some(Sent {
                kind,
                reply_key: sealed.reply_key,
            }),
            &request.encode(),
        );
        Ok(())
    }

    /// Real traffic again, with the route and (sometimes) the account rewritten, optionally
    /// with one byte of the envelope changed.
    fn replay(&mut self, u: &mut Unstructured<'_>, bytes: Vec<u8>, mutate: bool) -> ArbResult<()> {
        let mut bytes = match VaultRequest::decode(&bytes) {
            Ok(mut request) => {
                request.route_id = u.arbitrary()?;
                if u.ratio(1, 4)? {
                    request.account = u.choose(&accounts())?.clone();
                }
                request.encode()
            }
            Err(_) => bytes,
        };
        if mutate && !bytes.is_empty() {
            let at = u.choose_index(bytes.len())?;
            bytes[at] ^= u.int_in_range(1..=255)?;
        }
        self.relay_message(None, &bytes);
        Ok(())
    }

    /// A member of the group seals any consensus message to this replica under the link key.
    fn link_message(&mut self, u: &mut Unstructured<'_>) -> ArbResult<()> {
        let from = ReplicaId(u.int_in_range(0..=GROUP_SIZE)?);
        let plaintext: Vec<u8> = u.arbitrary()?;
        let sealed = InsecureFastSuite
            .seal_link(
                &mut self.rng,
                &self.fleet,
                &link_aad(e2ee_backup::GroupId(0), from, ReplicaId(0)),
                &plaintext,
            )
            .expect("sealing succeeds");
        let envelope = LinkEnvelope {
            group: e2ee_backup::GroupId(0),
            from,
            to: ReplicaId(0),
            sealed,
        };
        self.vault
            .replica_message(self.now_ms, &mut self.rng, &envelope.encode());
        Ok(())
    }

    fn relay_message(&mut self, sent: Option<Sent>, bytes: &[u8]) {
        if let Ok(request) = VaultRequest::decode(bytes) {
            self.routes.entry(request.route_id).or_default().push(sent);
        }
        self.vault.relay_message(self.now_ms, &mut self.rng, bytes);
    }

    fn check_outputs(&mut self) {
        while let Some(out) = self.vault.output() {
            match out {
                Output::Record => {}
                Output::ToRelay { relay, bytes } => {
                    assert_eq!(relay, RELAY, "a reply goes to the relay that asked");
                    self.check_reply(&bytes);
                }
                Output::Persist { slot, sealed } => {
                    let place = self
                        .place
                        .expect("only a replicated vault writes replica state");
                    open_replica_write(&InsecureFastSuite, &self.fleet, place, &slot, &sealed)
                        .expect("the vault's own durable write restores");
                }
                Output::ToReplica { to, bytes } => {
                    let place = self
                        .place
                        .expect("only a replicated vault talks to replicas");
                    let envelope = LinkEnvelope::decode(&bytes).expect("a decodable envelope");
                    assert_eq!(envelope.from, place.replica, "sent as this replica");
                    assert_eq!(envelope.to, to, "addressed as the output says");
                    assert_eq!(envelope.group, place.group, "within this group");
                }
            }
        }
    }

    fn check_reply(&self, bytes: &[u8]) {
        let reply = VaultReply::decode(bytes).expect("every reply decodes");
        let Some(sent) = self.routes.get(&reply.route_id) else {
            panic!("a reply on route {} that no request used", reply.route_id);
        };
        let ReplyBody::Sealed(sealed) = &reply.body else {
            return;
        };
        // Only when the harness sealed every request on this route does it hold the key.
        let Some(sent) = sent
            .iter()
            .map(Option::as_ref)
            .collect::<Option<Vec<&Sent>>>()
        else {
            return;
        };
        let opened = sent
            .iter()
            .filter(|s| s.kind == reply.kind)
            .find_map(|s| {
                InsecureFastSuite
                    .open_reply(&s.reply_key, &reply_aad(reply.kind), sealed)
                    .ok()
            })
            .expect("a reply to a sealed request opens under its reply key");
        Reply::decode_padded(&opened).expect("the sealed reply decodes");
    }
}
