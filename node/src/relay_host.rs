//! The relay host (`e2ee-vault-relay`): TLS for clients, an account token per connection, one
//! link to every replica, and the core's `Relay` in one thread (SPEC.md "Hosts").
//!
//! A client connection is TLS; its first frame is an account token ([`crate::token`]). The
//! host checks it and answers one frame: [`HANDSHAKE_OK`] or [`HANDSHAKE_REFUSED`] (then closes).
//! Only after an accepted token does it call `Relay::handle_connection_opened(conn, account)`:
//! the relay core never sees a connection without an authenticated account. Every later frame
//! is a `ClientRequest`, answered by `ClientReply` frames.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use e2ee_backup::internal::relay::{Relay, RelayConfig, RelayOutput};
use e2ee_backup::{AccountId, ConnectionId, GroupId};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info};

use crate::accept::accept_loop;
use crate::config::RelayConfigFile;
use crate::frame::{self, FrameError, ROLE_RELAY};
use crate::stats::{HostCounters, INPUT_QUEUE, deliver, drops_line, offer};
use crate::token::{TokenKey, unix_now};

/// The relay's answer to an accepted token.
pub const HANDSHAKE_OK: u8 = 0;
/// The relay's answer to a refused token (the connection closes).
pub const HANDSHAKE_REFUSED: u8 = 1;
/// The longest token frame accepted.
pub const TOKEN_FRAME_MAX: usize = 1024;
/// How long a client has for TLS and its token.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most client connections the relay keeps open at once.
pub const MAX_CONNECTIONS: usize = 10_000;
/// Frames queued per connection before new ones are dropped (counted).
pub const SEND_QUEUE: usize = 4096;

/// The relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum RelayHostError {
    /// A file could not be used.
    #[error(transparent)]
    File(#[from] crate::files::FileError),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The token key file is not a key.
    #[error("the token key file must hold exactly 32 bytes")]
    TokenKey,
    /// A socket could not be bound.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

enum Event {
    Opened(ConnectionId, AccountId, mpsc::Sender<Vec<u8>>),
    Client(ConnectionId, Vec<u8>),
    Closed(ConnectionId),
    Vault(Vec<u8>),
}

/// Runs the relay until `shutdown` resolves.
pub async fn run(
    config: RelayConfigFile,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RelayHostError> {
    let key = crate::files::read_secret(&config.token_key)?;
    let key = Arc::new(TokenKey::from_bytes(&key).ok_or(RelayHostError::TokenKey)?);
    let tls = crate::tls::server_config(&config.tls_cert, &config.tls_key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let mut relay_config = RelayConfig {
        vault_groups: config.groups(),
        replicas_per_group: config.replicas_per_group,
        ..RelayConfig::default()
    };
    if let Some(c) = config.bucket_capacity {
        relay_config.bucket_capacity = c;
    }
    if let Some(r) = config.refill_interval_ms {
        relay_config.refill_interval_ms = r.max(1);
    }
    let counters = Arc::new(HostCounters::default());
    let (events_tx, events_rx) = std_mpsc::sync_channel::<Event>(INPUT_QUEUE);
    let mut links = BTreeMap::new();
    for r in &config.replicas {
        let (tx, rx) = mpsc::channel::<Vec<u8>>(SEND_QUEUE);
        links.insert((GroupId(r.group), r.replica), tx);
        tokio::spawn(replica_link(
            r.addr,
            rx,
            events_tx.clone(),
            counters.clone(),
        ));
    }
    let listener = TcpListener::bind(config.listen).await?;
    info!(listen = %config.listen, groups = relay_config.vault_groups, replicas_per_group = relay_config.replicas_per_group, "relay listening");
    let client_counters = counters.clone();
    tokio::spawn(accept_loop(
        listener,
        MAX_CONNECTIONS,
        counters.clone(),
        move |stream, from, conn| {
            let (acceptor, key, events, counters) = (
                acceptor.clone(),
                key.clone(),
                events_tx.clone(),
                client_counters.clone(),
            );
            serve_client(
                stream,
                from,
                ConnectionId(conn),
                acceptor,
                key,
                events,
                counters,
            )
        },
    ));
    let stats_every = Duration::from_secs(config.stats_interval_s);
    let core = tokio::task::spawn_blocking(move || {
        relay_loop(
            Relay::new(relay_config),
            links,
            events_rx,
            counters,
            stats_every,
        );
    });
    tokio::select! {
        _ = core => {}
        () = shutdown => info!("shutting down"),
    }
    Ok(())
}

fn relay_loop(
    mut relay: Relay,
    links: BTreeMap<(GroupId, u8), mpsc::Sender<Vec<u8>>>,
    events: std_mpsc::Receiver<Event>,
    counters: Arc<HostCounters>,
    stats_every: Duration,
) {
    let clock = Instant::now();
    let mut clients: BTreeMap<ConnectionId, mpsc::Sender<Vec<u8>>> = BTreeMap::new();
    let mut next_stats = Instant::now() + stats_every;
    loop {
        let now = crate::elapsed_ms(clock);
        let timer = relay
            .poll_timeout()
            .map(|t| Duration::from_millis(t.saturating_sub(now)));
        let until_stats = next_stats.saturating_duration_since(Instant::now());
        let wait = timer.map_or(until_stats, |t| t.min(until_stats));
        let event = match events.recv_timeout(wait) {
            Ok(e) => Some(e),
            Err(std_mpsc::RecvTimeoutError::Timeout) => None,
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let now = crate::elapsed_ms(clock);
        match event {
            Some(Event::Opened(conn, account, tx)) => {
                clients.insert(conn, tx);
                relay.handle_connection_opened(conn, account);
            }
            Some(Event::Closed(conn)) => {
                clients.remove(&conn);
                relay.handle_connection_closed(conn);
            }
            Some(Event::Client(conn, bytes)) => relay.handle_client_message(now, conn, &bytes),
            Some(Event::Vault(bytes)) => relay.handle_vault_message(now, &bytes),
            None => {}
        }
        if relay.poll_timeout().is_some_and(|t| t <= now) {
            relay.handle_timeout(now);
        }
        while let Some(output) = relay.poll_output() {
            let (tx, bytes) = match output {
                RelayOutput::ToReplica {
                    group,
                    replica,
                    bytes,
                } => (links.get(&(group, replica)), bytes),
                RelayOutput::ToClient { connection, bytes } => (clients.get(&connection), bytes),
            };
            if tx.is_none_or(|tx| tx.try_send(bytes).is_err()) {
                HostCounters::bump(&counters.send_queue_full);
            }
        }
        if Instant::now() >= next_stats {
            next_stats = Instant::now() + stats_every;
            info!(
                target: "stats",
                "clients={} buckets={} {} {}",
                clients.len(),
                relay.bucket_count(),
                drops_line(relay.drops()),
                counters.line()
            );
        }
    }
}

/// Keeps one connection to a replica open: writes requests, reads replies.
async fn replica_link(
    addr: SocketAddr,
    mut rx: mpsc::Receiver<Vec<u8>>,
    events: std_mpsc::SyncSender<Event>,
    counters: Arc<HostCounters>,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let stream = match TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(_) => {
                // Requests for an unreachable replica are dropped: the relay core fails over.
                while rx.try_recv().is_ok() {
                    HostCounters::bump(&counters.send_queue_full);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        stream.set_nodelay(true).ok();
        let (mut reader, mut writer) = stream.into_split();
        if frame::write_frame(&mut writer, &frame::hello(ROLE_RELAY))
            .await
            .is_err()
        {
            continue;
        }
        debug!(%addr, "connected to replica");
        let events2 = events.clone();
        let counters2 = counters.clone();
        let mut read_task = tokio::spawn(async move {
            loop {
                match frame::read_frame(&mut reader).await {
                    Ok(bytes) => {
                        if !offer(&events2, Event::Vault(bytes), &counters2) {
                            return;
                        }
                    }
                    Err(e) => {
                        if matches!(e, FrameError::Oversize(_)) {
                            HostCounters::bump(&counters2.oversize_frames);
                        }
                        return;
                    }
                }
            }
        });
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(bytes) => {
                        if frame::write_frame(&mut writer, &bytes).await.is_err() {
                            break;
                        }
                    }
                    None => return,
                },
                _ = &mut read_task => break,
            }
        }
        read_task.abort();
    }
}

async fn serve_client(
    stream: TcpStream,
    from: SocketAddr,
    conn: ConnectionId,
    acceptor: tokio_rustls::TlsAcceptor,
    key: Arc<TokenKey>,
    events: std_mpsc::SyncSender<Event>,
    counters: Arc<HostCounters>,
) {
    let handshake = async {
        let mut tls = acceptor.accept(stream).await.ok()?;
        let token = frame::read_frame_max(&mut tls, TOKEN_FRAME_MAX).await;
        Some((tls, token))
    };
    let Ok(Some((mut tls, token))) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await
    else {
        HostCounters::bump(&counters.bad_handshakes);
        return;
    };
    let token = match token {
        Ok(t) => t,
        Err(FrameError::Oversize(_)) => {
            HostCounters::bump(&counters.oversize_frames);
            return;
        }
        Err(FrameError::Io(_)) => {
            HostCounters::bump(&counters.bad_handshakes);
            return;
        }
    };
    let verified = std::str::from_utf8(&token)
        .map_err(|_| crate::token::TokenError::Malformed)
        .and_then(|t| key.verify(t, unix_now()));
    let account = match verified {
        Ok(a) => a,
        Err(e) => {
            HostCounters::bump(&counters.tokens_refused);
            debug!(%from, %e, "token refused");
            let _ = frame::write_frame(&mut tls, &[HANDSHAKE_REFUSED]).await;
            return;
        }
    };
    if frame::write_frame(&mut tls, &[HANDSHAKE_OK]).await.is_err() {
        return;
    }
    let (mut reader, mut writer) = tokio::io::split(tls);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(SEND_QUEUE);
    if !deliver(&events, Event::Opened(conn, account, tx)).await {
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
                if !offer(&events, Event::Client(conn, bytes), &counters) {
                    break;
                }
            }
            Err(e) => {
                if matches!(e, FrameError::Oversize(_)) {
                    HostCounters::bump(&counters.oversize_frames);
                }
                break;
            }
        }
    }
    writer_task.abort();
    deliver(&events, Event::Closed(conn)).await;
}
