//! A client's link to the relay: TLS with a pinned certificate, the account token, then the
//! core's `Client` driven over frames. The backup CLI's password path can reuse this.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use e2ee_backup::internal::client::{
    Client, ClientError, ClientOutcome, ClientOutput, OperationId,
};
use e2ee_backup::internal::rng::Compat;
use rustls::pki_types::ServerName;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::client::TlsStream;

use crate::Suite;
use crate::frame;
use crate::relay_host::HANDSHAKE_OK;

/// The OS RNG type clients use.
pub type OsRng = Compat<rand::rand_core::UnwrapErr<rand::rngs::SysRng>>;

/// The link failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Connecting or TLS failed.
    #[error("cannot reach the relay: {0}")]
    Connect(String),
    /// The relay refused the token.
    #[error("the relay refused the account token")]
    Refused,
    /// The connection closed during an operation (the client keeps what it needs to resume).
    #[error("the connection to the relay closed")]
    Closed,
    /// The operation could not start.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The operation did not end in time (the client's own retries are bounded; this is a
    /// backstop).
    #[error("no outcome in time")]
    Timeout,
}

/// An open, authenticated link to the relay.
pub struct ClientLink {
    writer: WriteHalf<TlsStream<TcpStream>>,
    frames: mpsc::Receiver<Vec<u8>>,
    clock: Instant,
    rng: OsRng,
    reader_task: tokio::task::JoinHandle<()>,
}

impl Drop for ClientLink {
    fn drop(&mut self) {
        self.reader_task.abort();
    }
}

impl ClientLink {
    /// Connects to the relay at `addr` over TLS, trusting only the certificate(s) in
    /// `pinned_pem` for `server_name`, and presents `token`.
    pub async fn connect(
        addr: SocketAddr,
        server_name: &str,
        pinned_pem: &[u8],
        token: &str,
    ) -> Result<Self, LinkError> {
        let c = |e: &dyn std::fmt::Display| LinkError::Connect(e.to_string());
        let config = crate::tls::client_config(pinned_pem).map_err(|e| c(&e))?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let name = ServerName::try_from(server_name.to_string()).map_err(|e| c(&e))?;
        let tcp = TcpStream::connect(addr).await.map_err(|e| c(&e))?;
        tcp.set_nodelay(true).ok();
        let mut tls = connector.connect(name, tcp).await.map_err(|e| c(&e))?;
        frame::write_frame(&mut tls, token.as_bytes())
            .await
            .map_err(|e| c(&e))?;
        let answer = frame::read_frame(&mut tls)
            .await
            .map_err(|_| LinkError::Refused)?;
        if answer != [HANDSHAKE_OK] {
            return Err(LinkError::Refused);
        }
        let (mut reader, writer): (ReadHalf<_>, WriteHalf<_>) = tokio::io::split(tls);
        let (tx, frames) = mpsc::channel(1024);
        let reader_task = tokio::spawn(async move {
            while let Ok(f) = frame::read_frame(&mut reader).await {
                if tx.send(f).await.is_err() {
                    return;
                }
            }
        });
        Ok(Self {
            writer,
            frames,
            clock: Instant::now(),
            rng: crate::os_rng(),
            reader_task,
        })
    }

    /// Milliseconds since the link opened (the time the client is told).
    pub fn now_ms(&self) -> u64 {
        crate::elapsed_ms(self.clock)
    }

    /// Starts one operation with `start` (for example
    /// `|c, now, rng| c.start_recover(now, rng, password)`) and drives `client` until it ends.
    pub async fn run(
        &mut self,
        client: &mut Client<Suite>,
        start: impl FnOnce(&mut Client<Suite>, u64, &mut OsRng) -> Result<OperationId, ClientError>,
    ) -> Result<ClientOutcome, LinkError> {
        let now = self.now_ms();
        let op = start(client, now, &mut self.rng)?;
        // A backstop far beyond the client's own retry budget.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            while let Some(output) = client.poll_output() {
                match output {
                    ClientOutput::Send { bytes } => {
                        frame::write_frame(&mut self.writer, &bytes)
                            .await
                            .map_err(|_| LinkError::Closed)?;
                    }
                    ClientOutput::Completed { operation, outcome } if operation == op => {
                        return Ok(outcome);
                    }
                    // An earlier operation of this client ending late (one link runs one
                    // operation at a time, so nothing waits for it).
                    ClientOutput::Completed { .. } => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(LinkError::Timeout);
            }
            let now = self.now_ms();
            let wait = client.poll_timeout().map_or(Duration::from_secs(1), |t| {
                Duration::from_millis(t.saturating_sub(now))
            });
            tokio::select! {
                f = self.frames.recv() => match f {
                    Some(bytes) => {
                        let now = self.now_ms();
                        client.handle_relay_message(now, &mut self.rng, &bytes);
                    }
                    None => return Err(LinkError::Closed),
                },
                () = tokio::time::sleep(wait) => {
                    let now = self.now_ms();
                    client.handle_timeout(now);
                }
            }
        }
    }
}
