//! The replica host (`e2ee-vault-replica`): sockets, timers, the disk and the OS RNG around one
//! [`SoftHsm`] (SPEC.md "Hosts").
//!
//! One thread (the *HSM thread*) owns the HSM and the database and does everything in order:
//! it takes one input, drains the replica's outputs and carries them out in order. Writes are
//! gathered and committed (redb, fsync) **before** the next reply or replica message is handed
//! to the network — the Persist-before-send contract: nothing leaves the host that depends on
//! a write not yet on disk. The network is tokio tasks that only move frames: one listener
//! (peers and relays say who they are in a hello frame), one outgoing connection per peer.
//! A commit that fails stops the host: it cannot keep the contract, and a restart is safe (the
//! trusted cell was advanced when the writes were emitted, so an unwritten batch makes the disk
//! not current and the replica recovers).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use e2ee_backup::RelayTag;
use e2ee_backup::internal::consensus::{Config, ReplicaId};
use e2ee_backup::internal::vault::{DurableSlot, ReplicatedVaultOutput};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::accept::accept_loop;
use crate::config::{Mode, ReplicaConfig};
use crate::frame::{self, FrameError, ROLE_RELAY, ROLE_REPLICA};
use crate::hsm::{Provisioned, SoftHsm};
use crate::stats::{HostCounters, INPUT_QUEUE, deliver, drops_line, failures_line, offer};
use crate::storage::Storage;
use crate::trust::{FileTrustedState, NodeTrust};

/// Frames queued for one peer or relay connection before new ones are dropped (counted).
pub const SEND_QUEUE: usize = 4096;
/// Most connections a replica host keeps open at once (peers, relays, and anyone else).
pub const MAX_CONNECTIONS: usize = 1024;
/// How long a new connection may take to send its hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// The host could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A file could not be used.
    #[error(transparent)]
    File(#[from] crate::files::FileError),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// The HSM refused to start.
    #[error(transparent)]
    Hsm(#[from] crate::hsm::HsmError),
    /// A socket could not be bound.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The configuration is inconsistent with the provisioning file.
    #[error("{0}")]
    Config(String),
    /// A newer instance of this replica started on the same trusted cell.
    #[error("superseded by a newer instance of this replica: stopping")]
    Superseded,
}

enum Event {
    Peer(Vec<u8>),
    RelayOpened(u64, mpsc::Sender<Vec<u8>>),
    Relay(u64, Vec<u8>),
    RelayClosed(u64),
}

/// The consensus configuration of a group with replicas `ids`.
pub fn group_config(ids: impl IntoIterator<Item = u8>) -> Config {
    let mut config = Config::new(ids.into_iter().map(ReplicaId));
    // Loopback and LAN round trips are far below the default 100 ms round timeout; a WAN group
    // should raise it (`round_timeout_ms`, `backoff_base_ms` in the node's config; the
    // deployment default across datacenters, `Config::across_datacenters`, uses 1,200 ms and
    // 400 ms, as the simulator does for 150 ms one-way links).
    config.skip_prepare = true;
    config
}

/// Runs a replica host until it fails or `shutdown` resolves.
pub async fn run(
    config: ReplicaConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), HostError> {
    let secrets = Provisioned::read(&config.secrets)?;
    let (group, me) = (secrets.group(), secrets.replica());
    if config.peers.iter().any(|p| p.replica == me) {
        return Err(HostError::Config(format!(
            "replica {me} (from {}) is listed among its own peers",
            config.secrets.display()
        )));
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let storage = Storage::open(&config.data_dir.join("replica.redb"))?;
    let trust = match (config.mode, &config.trusted_cell) {
        (Mode::Durable, Some(path)) => NodeTrust::Durable(FileTrustedState::new(path)),
        _ => NodeTrust::Volatile(e2ee_backup::internal::vault::VolatileTrust),
    };
    let ids = config
        .peers
        .iter()
        .map(|p| p.replica)
        .chain([me])
        .collect::<Vec<_>>();
    let clock = Instant::now();
    let mut rng = crate::os_rng();
    let disk = storage.load()?;
    let slots_on_disk = disk.len();
    let mut consensus = group_config(ids);
    if let Some(t) = config.round_timeout_ms {
        consensus.round_timeout_ms = t;
    }
    if let Some(b) = config.backoff_base_ms {
        consensus.backoff_base_ms = b;
    }
    let hsm = SoftHsm::start(
        secrets,
        consensus,
        trust,
        disk,
        crate::elapsed_ms(clock),
        &mut rng,
    )?;
    info!(
        group,
        replica = me,
        mode = ?config.mode,
        started = ?hsm.started(),
        slots_on_disk,
        unusable_writes = hsm.unusable_writes(),
        "replica started"
    );
    let counters = Arc::new(HostCounters::default());
    let listener = TcpListener::bind(config.listen).await?;
    info!(listen = %config.listen, "listening");
    let (events_tx, events_rx) = std_mpsc::sync_channel::<Event>(INPUT_QUEUE);

    let mut peers = BTreeMap::new();
    for peer in &config.peers {
        let (tx, rx) = mpsc::channel::<Vec<u8>>(SEND_QUEUE);
        peers.insert(peer.replica, tx);
        tokio::spawn(peer_link(peer.addr, rx, counters.clone()));
    }
    let peer_counters = counters.clone();
    let peer_events = events_tx.clone();
    tokio::spawn(accept_loop(
        listener,
        MAX_CONNECTIONS,
        counters.clone(),
        move |stream, from, conn| {
            serve(
                stream,
                from,
                conn,
                peer_events.clone(),
                peer_counters.clone(),
            )
        },
    ));

    let stats_every = Duration::from_secs(config.stats_interval_s);
    let hsm_counters = counters.clone();
    let hsm_thread = tokio::task::spawn_blocking(move || {
        HsmLoop {
            hsm,
            storage,
            peers,
            relays: BTreeMap::new(),
            clock,
            counters: hsm_counters,
            voting: false,
            writes_committed: 0,
            commits: 0,
        }
        .run(events_rx, rng, stats_every)
    });
    tokio::select! {
        result = hsm_thread => match result {
            Ok(r) => r,
            Err(e) => Err(HostError::Config(format!("the HSM thread failed: {e}"))),
        },
        () = shutdown => {
            info!("shutting down");
            Ok(())
        }
    }
}

struct HsmLoop {
    hsm: SoftHsm,
    storage: Storage,
    peers: BTreeMap<u8, mpsc::Sender<Vec<u8>>>,
    relays: BTreeMap<u64, mpsc::Sender<Vec<u8>>>,
    clock: Instant,
    counters: Arc<HostCounters>,
    voting: bool,
    writes_committed: u64,
    commits: u64,
}

impl HsmLoop {
    fn now(&self) -> u64 {
        crate::elapsed_ms(self.clock)
    }

    fn run(
        mut self,
        events: std_mpsc::Receiver<Event>,
        mut rng: impl rand_core::RngCore + rand_core::CryptoRng,
        stats_every: Duration,
    ) -> Result<(), HostError> {
        let mut next_stats = Instant::now() + stats_every;
        self.carry_out()?;
        loop {
            let now = self.now();
            let timer = self
                .hsm
                .poll_timeout()
                .map(|t| Duration::from_millis(t.saturating_sub(now)));
            let until_stats = next_stats.saturating_duration_since(Instant::now());
            let wait = timer.map_or(until_stats, |t| t.min(until_stats));
            match events.recv_timeout(wait) {
                Ok(event) => self.handle(event, &mut rng),
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            }
            let now = self.now();
            self.hsm.handle_timeout(now, &mut rng);
            self.carry_out()?;
            if self.hsm.is_halted() {
                error!("a newer instance of this replica started: halting");
                return Err(HostError::Superseded);
            }
            let voting = self.hsm.is_voting();
            if voting != self.voting {
                self.voting = voting;
                info!(voting, "voting changed");
            }
            if Instant::now() >= next_stats {
                next_stats = Instant::now() + stats_every;
                self.stats();
            }
        }
    }

    fn stats(&self) {
        info!(
            target: "stats",
            "voting={} started={:?} relays={} commits={} writes={} {} foreign_lineage={} {} {}",
            self.voting,
            self.hsm.started(),
            self.relays.len(),
            self.commits,
            self.writes_committed,
            drops_line(&self.hsm.drops()),
            self.hsm.foreign_lineage_drops(),
            failures_line(&self.hsm.failures()),
            self.counters.line(),
        );
    }

    fn handle(&mut self, event: Event, rng: &mut (impl rand_core::RngCore + rand_core::CryptoRng)) {
        let now = self.now();
        match event {
            Event::Peer(bytes) => self.hsm.handle_replica_message(now, rng, &bytes),
            Event::RelayOpened(conn, tx) => {
                self.relays.insert(conn, tx);
            }
            Event::RelayClosed(conn) => {
                // Replies still on the way to it are dropped (its requests time out).
                self.relays.remove(&conn);
            }
            // The connection names the relay; the vault's reply comes back tagged with it.
            Event::Relay(conn, bytes) => {
                self.hsm
                    .handle_relay_message(now, rng, RelayTag(conn), &bytes);
            }
        }
    }

    /// Carries out every output in order; writes are committed before any later message.
    fn carry_out(&mut self) -> Result<(), HostError> {
        let mut writes: Vec<(DurableSlot, Vec<u8>)> = Vec::new();
        while let Some(output) = self.hsm.poll_output() {
            match output {
                ReplicatedVaultOutput::Persist { slot, sealed } => {
                    // A later write to the same slot replaces an earlier one in the batch.
                    writes.retain(|(s, _)| *s != slot);
                    writes.push((slot, sealed));
                }
                ReplicatedVaultOutput::ToRelay { relay, bytes } => {
                    self.commit(&mut writes)?;
                    self.send_reply(relay, bytes);
                }
                ReplicatedVaultOutput::ToReplica { to, bytes } => {
                    self.commit(&mut writes)?;
                    match self.peers.get(&to.0) {
                        Some(tx) => {
                            if tx.try_send(bytes).is_err() {
                                HostCounters::bump(&self.counters.send_queue_full);
                            }
                        }
                        None => warn!(to = to.0, "a message for a replica this host does not know"),
                    }
                }
            }
        }
        self.commit(&mut writes)
    }

    fn commit(&mut self, writes: &mut Vec<(DurableSlot, Vec<u8>)>) -> Result<(), HostError> {
        if writes.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.storage.commit(writes) {
            error!(%e, "a durable write failed: stopping (a restart recovers)");
            return Err(e.into());
        }
        self.commits += 1;
        self.writes_committed += u64::try_from(writes.len()).unwrap_or(u64::MAX);
        writes.clear();
        Ok(())
    }

    fn send_reply(&mut self, relay: RelayTag, bytes: Vec<u8>) {
        if let Some(tx) = self.relays.get(&relay.0)
            && tx.try_send(bytes).is_err()
        {
            HostCounters::bump(&self.counters.send_queue_full);
        }
    }
}

/// Keeps one connection to a peer open and writes what the HSM sends it. While the peer is
/// unreachable, queued messages are dropped (the core resends what matters).
async fn peer_link(addr: SocketAddr, mut rx: mpsc::Receiver<Vec<u8>>, counters: Arc<HostCounters>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match TcpStream::connect(addr).await {
            Ok(mut stream) => {
                stream.set_nodelay(true).ok();
                backoff = Duration::from_millis(50);
                if frame::write_frame(&mut stream, &frame::hello(ROLE_REPLICA))
                    .await
                    .is_err()
                {
                    continue;
                }
                debug!(%addr, "connected to peer");
                while let Some(bytes) = rx.recv().await {
                    if frame::write_frame(&mut stream, &bytes).await.is_err() {
                        break;
                    }
                }
                if rx.is_closed() {
                    return;
                }
            }
            Err(_) => {
                // Drop what piled up for an unreachable peer.
                while rx.try_recv().is_ok() {
                    HostCounters::bump(&counters.send_queue_full);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

fn note_frame_error(e: &FrameError, counters: &HostCounters, from: SocketAddr) {
    if let FrameError::Oversize(len) = e {
        HostCounters::bump(&counters.oversize_frames);
        warn!(%from, len, "oversize frame: connection dropped");
    }
}

async fn serve(
    stream: TcpStream,
    from: SocketAddr,
    conn: u64,
    events: std_mpsc::SyncSender<Event>,
    counters: Arc<HostCounters>,
) {
    let (mut reader, mut writer) = stream.into_split();
    let hello = tokio::time::timeout(
        HELLO_TIMEOUT,
        frame::read_frame_max(&mut reader, frame::HELLO_LEN),
    )
    .await;
    let role = match hello {
        Ok(Ok(f)) => frame::parse_hello(&f),
        Ok(Err(e)) => {
            note_frame_error(&e, &counters, from);
            if matches!(e, FrameError::Oversize(_)) {
                return;
            }
            None
        }
        Err(_) => None,
    };
    match role {
        Some(ROLE_REPLICA) => loop {
            match frame::read_frame(&mut reader).await {
                Ok(bytes) => {
                    if !offer(&events, Event::Peer(bytes), &counters) {
                        return;
                    }
                }
                Err(e) => {
                    note_frame_error(&e, &counters, from);
                    return;
                }
            }
        },
        Some(ROLE_RELAY) => {
            let (tx, mut rx) = mpsc::channel::<Vec<u8>>(SEND_QUEUE);
            if !deliver(&events, Event::RelayOpened(conn, tx)).await {
                return;
            }
            let writer_task = tokio::spawn(async move {
                while let Some(bytes) = rx.recv().await {
                    if frame::write_frame(&mut writer, &bytes).await.is_err() {
                        return;
                    }
                }
            });
            loop {
                match frame::read_frame(&mut reader).await {
                    Ok(bytes) => {
                        if !offer(&events, Event::Relay(conn, bytes), &counters) {
                            break;
                        }
                    }
                    Err(e) => {
                        note_frame_error(&e, &counters, from);
                        break;
                    }
                }
            }
            writer_task.abort();
            deliver(&events, Event::RelayClosed(conn)).await;
        }
        _ => {
            HostCounters::bump(&counters.bad_handshakes);
            debug!(%from, "no valid hello: connection dropped");
        }
    }
}
