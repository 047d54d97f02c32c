//! The multi-process fleet the node tests share: provisioning in a temporary folder, five
//! replica processes and a relay on free loopback ports, and a client over the real TLS link.
//! Every child is killed when its handle drops.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2ee_backup::internal::client::{Client, ClientConfig, ClientOutcome};
use e2ee_backup::internal::crypto::FleetPublicKeys;
use e2ee_backup::{AccountId, BackupKey};
use e2ee_backup_node::Suite;
use e2ee_backup_node::client_link::{ClientLink, LinkError};
use e2ee_backup_node::config::Mode;
use e2ee_backup_node::provision;
use e2ee_backup_node::token::{TokenKey, unix_now};

pub const REPLICA_BIN: &str = env!("CARGO_BIN_EXE_e2ee-vault-replica");
pub const RELAY_BIN: &str = env!("CARGO_BIN_EXE_e2ee-vault-relay");

/// Whole-test backstop (the test normally takes far less).
pub const TEST_BUDGET: Duration = Duration::from_secs(85);

/// A port free right now (bound, then released).
pub fn free_port_block(n: u16) -> u16 {
    // Find `n` consecutive free ports starting at an OS-chosen one.
    'outer: for _ in 0..50 {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        if base > 65_000 {
            continue;
        }
        for i in 0..n {
            if TcpListener::bind(("127.0.0.1", base + i)).is_err() {
                continue 'outer;
            }
        }
        return base;
    }
    panic!("no block of free ports");
}

pub struct Proc {
    pub name: String,
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> String {
        self.child
            .as_ref()
            .map(|c| c.id().to_string())
            .unwrap_or_default()
    }
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.pid()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {sig} {}", self.name);
    }
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_ref() {
            // A stopped child must be continued to die of SIGKILL cleanly in every kernel.
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
        }
        self.kill9();
    }
}

/// What a client needs to reach the fleet (shareable between tasks).
pub struct Link {
    pub relay_addr: SocketAddr,
    pub pinned: Vec<u8>,
    pub fleet: FleetPublicKeys,
    pub token_key: TokenKey,
}

impl Link {
    pub fn token(&self, account: &AccountId) -> String {
        self.token_key.issue(account, unix_now() + 3_600)
    }
}

pub struct Fleet {
    pub dir: PathBuf,
    pub replica_configs: Vec<PathBuf>,
    pub replicas: Vec<Proc>,
    pub relay: Option<Proc>,
    pub relay_config: PathBuf,
    pub link: Link,
    pub starts: Vec<u32>,
}

impl Fleet {
    pub fn spawn(bin: &str, config: &Path, log: PathBuf, name: String) -> Proc {
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        Proc {
            name,
            child: Some(child),
            log,
        }
    }

    pub fn start_replica(&mut self, r: usize) {
        self.starts[r] += 1;
        let log = self
            .dir
            .join(format!("replica-{r}.start{}.log", self.starts[r]));
        let p = Self::spawn(
            REPLICA_BIN,
            &self.replica_configs[r],
            log,
            format!("replica {r}"),
        );
        if r < self.replicas.len() {
            self.replicas[r] = p;
        } else {
            self.replicas.push(p);
        }
    }

    pub fn new(dir: &Path) -> Self {
        Self::with_mode(dir, Mode::Durable)
    }

    pub fn with_mode(dir: &Path, mode: Mode) -> Self {
        Self::with_options(dir, mode, "")
    }

    /// A fleet whose relay configuration gets `relay_extra` (TOML lines) appended.
    pub fn with_options(dir: &Path, mode: Mode, relay_extra: &str) -> Self {
        let base = free_port_block(6);
        provision::provision(dir, "fault-test", 1, 5, &["localhost".into()]).unwrap();
        let (replica_configs, relay_config) =
            provision::write_local_configs(dir, base, 5, mode, 1).unwrap();
        // E2EE_FLEET_REPLICA_TOML: extra top-level keys for every replica (the WAN variant
        // raises the consensus timeouts with it; node/netem/run-wan-test).
        if let Ok(extra) = std::env::var("E2EE_FLEET_REPLICA_TOML") {
            for path in &replica_configs {
                let text = std::fs::read_to_string(path).unwrap();
                std::fs::write(path, format!("{extra}\n{text}")).unwrap();
            }
        }
        if !relay_extra.is_empty() {
            let text = std::fs::read_to_string(&relay_config).unwrap();
            // Top-level keys must come before the first table array.
            let text = format!("{relay_extra}\n{text}");
            std::fs::write(&relay_config, text).unwrap();
        }
        let mut fleet = Fleet {
            dir: dir.to_path_buf(),
            replica_configs,
            replicas: Vec::new(),
            relay: None,
            relay_config: relay_config.clone(),
            link: Link {
                relay_addr: SocketAddr::from(([127, 0, 0, 1], base)),
                pinned: std::fs::read(dir.join(provision::CERT_FILE)).unwrap(),
                fleet: FleetPublicKeys::from_bytes(
                    &std::fs::read(dir.join(provision::PUBLIC_KEYS_FILE)).unwrap(),
                )
                .unwrap(),
                token_key: TokenKey::from_bytes(
                    &std::fs::read(dir.join(provision::TOKEN_KEY_FILE)).unwrap(),
                )
                .unwrap(),
            },
            starts: vec![0; 5],
        };
        for r in 0..5 {
            fleet.start_replica(r);
        }
        fleet.relay = Some(Self::spawn(
            RELAY_BIN,
            &relay_config,
            dir.join("relay.log"),
            "relay".into(),
        ));
        fleet
    }

    pub fn replica_addr(&self, r: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.link.relay_addr.port() + 1 + r))
    }

    /// Kills the relay with SIGKILL and starts a new one (it keeps no state).
    pub fn restart_relay(&mut self) {
        if let Some(mut p) = self.relay.take() {
            p.kill9();
        }
        let n = self.starts.iter().sum::<u32>();
        self.relay = Some(Self::spawn(
            RELAY_BIN,
            &self.relay_config,
            self.dir.join(format!("relay.{n}.log")),
            "relay".into(),
        ));
    }

    /// Waits until `replica`'s current log shows it voting (a stats or transition line).
    pub fn wait_voting(&self, r: usize, deadline: Instant) -> bool {
        while Instant::now() < deadline {
            let text = self.replicas[r].log_text();
            if text
                .lines()
                .rev()
                .find(|l| l.contains("voting="))
                .is_some_and(|l| l.contains("voting=true"))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Whether `replica`'s current log says it votes now (one look, no waiting).
    pub fn is_voting_now(&self, r: usize) -> bool {
        let text = self.replicas[r].log_text();
        text.lines()
            .rev()
            .find(|l| l.contains("voting="))
            .is_some_and(|l| l.contains("voting=true"))
    }

    pub fn started_as(&self, r: usize) -> Option<String> {
        let text = self.replicas[r].log_text();
        let line = text.lines().find(|l| l.contains("replica started"))?;
        let s = line.split("started=").nth(1)?;
        Some(s.split_whitespace().next()?.to_string())
    }
}

/// Sends an oversize frame, a bad hello, and a replica hello followed by an undecodable link
/// envelope, each on its own connection.
pub fn garbage(addr: SocketAddr) {
    use std::io::Write as _;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(&[0, 0, 0, 3, 1, 2, 3]).unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let hello = e2ee_backup_node::frame::hello(e2ee_backup_node::frame::ROLE_REPLICA);
    let mut bytes = u32::try_from(hello.len()).unwrap().to_be_bytes().to_vec();
    bytes.extend_from_slice(&hello);
    bytes.extend_from_slice(&[0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef]);
    s.write_all(&bytes).unwrap();
    std::thread::sleep(Duration::from_millis(200));
}

/// One operation through a fresh TLS connection; retried on `Unavailable` or a dropped link up
/// to `tries` times. Returns every outcome seen (the last one is final).
pub async fn op(
    fleet: &Link,
    client: &mut Client<Suite>,
    what: &Op<'_>,
    tries: u32,
) -> Vec<ClientOutcome> {
    let mut seen = Vec::new();
    for _ in 0..tries {
        let token = fleet.token(client.account());
        let link = ClientLink::connect(fleet.relay_addr, "localhost", &fleet.pinned, &token).await;
        let mut link = match link {
            Ok(l) => l,
            Err(LinkError::Refused) => panic!("token refused"),
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let outcome = match *what {
            Op::Register(pw, key, limit) => {
                link.run(client, |c, now, rng| {
                    c.start_register(now, rng, pw, key, limit)
                })
                .await
            }
            Op::Recover(pw) => {
                link.run(client, |c, now, rng| c.start_recover(now, rng, pw))
                    .await
            }
        };
        match outcome {
            Ok(ClientOutcome::Unavailable) => seen.push(ClientOutcome::Unavailable),
            Ok(o) => {
                seen.push(o);
                return seen;
            }
            Err(_) => {}
        }
    }
    seen
}

pub enum Op<'a> {
    Register(&'a [u8], &'a BackupKey, u32),
    Recover(&'a [u8]),
}

pub fn client(fleet: &Link, name: &str) -> Client<Suite> {
    let config = ClientConfig {
        retry_interval_ms: 1_500,
        max_sends: 4,
        resume_unfinished_login: true,
    };
    Client::new(
        Suite::default(),
        fleet.fleet.clone(),
        AccountId::new(name.as_bytes()).unwrap(),
        config,
    )
}
