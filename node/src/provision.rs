//! Fleet provisioning and the local fleet's configuration (SPEC.md "Hosts", README "Run the
//! vault").
//!
//! The ceremony this reference performs, and what a production fleet does instead:
//! 1. One process generates the fleet secrets from the OS RNG (in production: inside one HSM,
//!    or jointly, never on a general-purpose machine).
//! 2. It writes one *replica secrets file* per replica (mode 0600: its group, its id and the
//!    fleet secrets), the *public keys file* clients pin, the relay's token key and TLS
//!    certificate. In production each replica's copy is wrapped to that HSM's own key and
//!    imported there; nothing else ever holds it.
//! 3. The secrets in memory are zeroized when the process ends. The operator moves each replica
//!    file to its host and **destroys every other copy** (including the output folder's): a
//!    copy of the fleet secrets can open every stored record's seal and answer as the fleet.
//!    Losing **every** copy makes every record unrecoverable (each replica's disk is sealed under
//!    the storage key): keep the replica files as safe as the HSMs.

use std::path::{Path, PathBuf};

use e2ee_backup::{CryptoSuite as _, FleetId};

use crate::config::{Mode, Peer, RelayConfigFile, RelayReplica, ReplicaConfig};
use crate::files::{self, FileError, ReplicaSecrets};
use crate::token::TokenKey;
use crate::{FleetSecrets, Suite};

/// File name of the public keys file.
pub const PUBLIC_KEYS_FILE: &str = "fleet-public.keys";
/// File name of the token key.
pub const TOKEN_KEY_FILE: &str = "token.key";
/// File name of the relay's certificate (clients pin it).
pub const CERT_FILE: &str = "relay-cert.pem";
/// File name of the relay's TLS key.
pub const CERT_KEY_FILE: &str = "relay-key.pem";

/// The file of replica `replica` of group `group`, inside `dir`.
pub fn replica_secrets_path(dir: &Path, group: u32, replica: u8) -> PathBuf {
    dir.join(format!("replica-g{group}-r{replica}.secrets"))
}

/// Provisioning failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A file could not be written.
    #[error(transparent)]
    File(#[from] FileError),
    /// The fleet id is empty or longer than 255 bytes.
    #[error("the fleet id must be 1 to 255 bytes")]
    FleetId,
    /// The folder already holds a fleet.
    #[error("{0} already holds a fleet (refusing to overwrite its secrets)")]
    Exists(PathBuf),
    /// The certificate could not be made.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A folder could not be made.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Creates a fleet in `out`: `groups × replicas` replica secrets files, the public keys file,
/// the token key and a self-signed relay certificate for `tls_names`.
pub fn provision(
    out: &Path,
    fleet_id: &str,
    groups: u32,
    replicas: u8,
    tls_names: &[String],
) -> Result<(), ProvisionError> {
    let public_path = out.join(PUBLIC_KEYS_FILE);
    if public_path.exists() {
        return Err(ProvisionError::Exists(out.to_path_buf()));
    }
    std::fs::create_dir_all(out)?;
    let id = FleetId::new(fleet_id.as_bytes()).map_err(|_| ProvisionError::FleetId)?;
    let mut rng = crate::os_rng();
    let fleet = FleetSecrets::generate(&mut rng, id);
    let public = Suite::default().fleet_public_keys(&fleet);
    let fleet_bytes = fleet.to_bytes();
    for group in 0..groups {
        for replica in 0..replicas {
            let secrets = ReplicaSecrets {
                group,
                replica,
                fleet: FleetSecrets::from_bytes(&fleet_bytes).map_err(|_| {
                    ProvisionError::Io(std::io::Error::other("fleet secrets round trip"))
                })?,
            };
            files::write_atomic(
                &replica_secrets_path(out, group, replica),
                &secrets.to_bytes(),
                true,
            )?;
        }
    }
    files::write_atomic(
        &out.join(TOKEN_KEY_FILE),
        TokenKey::generate(&mut rng).as_bytes(),
        true,
    )?;
    let (cert, key) = crate::tls::self_signed(tls_names)?;
    files::write_atomic(&out.join(CERT_FILE), cert.as_bytes(), false)?;
    files::write_atomic(&out.join(CERT_KEY_FILE), key.as_bytes(), true)?;
    // Written last: its presence means the fleet is complete.
    files::write_atomic(&public_path, &public.to_bytes(), false)?;
    Ok(())
}

/// Writes the configuration of a one-group fleet of `replicas` replicas and a relay on
/// loopback into `dir` (which holds a provisioned fleet): the relay on `base_port`, replica
/// `r` on `base_port + 1 + r`. Returns the replica config files and the relay's.
pub fn write_local_configs(
    dir: &Path,
    base_port: u16,
    replicas: u8,
    mode: Mode,
    stats_interval_s: u64,
) -> Result<(Vec<PathBuf>, PathBuf), ProvisionError> {
    let addr = |r: u8| -> std::net::SocketAddr {
        let port = base_port.saturating_add(1).saturating_add(u16::from(r));
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    };
    let mut replica_files = Vec::new();
    for r in 0..replicas {
        let config = ReplicaConfig {
            listen: addr(r),
            secrets: replica_secrets_path(Path::new("."), 0, r),
            data_dir: PathBuf::from(format!("replica-{r}/data")),
            mode,
            trusted_cell: (mode == Mode::Durable)
                .then(|| PathBuf::from(format!("replica-{r}/hsm-trusted-cell"))),
            peers: (0..replicas)
                .filter(|p| *p != r)
                .map(|p| Peer {
                    replica: p,
                    addr: addr(p),
                })
                .collect(),
            stats_interval_s,
            round_timeout_ms: None,
            backoff_base_ms: None,
        };
        let path = dir.join(format!("replica-{r}.toml"));
        let text = toml::to_string(&config).map_err(std::io::Error::other)?;
        files::write_atomic(&path, text.as_bytes(), false)?;
        std::fs::create_dir_all(dir.join(format!("replica-{r}")))?;
        replica_files.push(path);
    }
    let relay = RelayConfigFile {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], base_port)),
        token_key: PathBuf::from(TOKEN_KEY_FILE),
        tls_cert: PathBuf::from(CERT_FILE),
        tls_key: PathBuf::from(CERT_KEY_FILE),
        replicas_per_group: replicas,
        replicas: (0..replicas)
            .map(|r| RelayReplica {
                group: 0,
                replica: r,
                addr: addr(r),
            })
            .collect(),
        bucket_capacity: None,
        refill_interval_ms: None,
        stats_interval_s,
    };
    let relay_path = dir.join("relay.toml");
    let text = toml::to_string(&relay).map_err(std::io::Error::other)?;
    files::write_atomic(&relay_path, text.as_bytes(), false)?;
    Ok((replica_files, relay_path))
}
