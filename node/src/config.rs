//! One TOML file per node (SPEC.md "Hosts", README "Run the vault").
//!
//! Paths inside a file are relative to the folder of that file. Unknown keys are errors, so a
//! typo does not silently fall back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Trusted-state mode of a replica (SPEC.md "Rollback").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No trusted state: every start is an amnesia recovery from the peers (the default).
    #[default]
    Volatile,
    /// A trusted-cell file stands in for the HSM's NVRAM (no rollback protection: see
    /// [`crate::trust`]).
    Durable,
}

/// Another replica of the group.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// Its replica id.
    pub replica: u8,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// `e2ee-vault-replica --config FILE`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaConfig {
    /// Where relays and peers connect.
    pub listen: SocketAddr,
    /// This replica's provisioning file (its group and id are read from it).
    pub secrets: PathBuf,
    /// The folder of the database (`replica.redb`).
    pub data_dir: PathBuf,
    /// Trusted-state mode.
    #[serde(default)]
    pub mode: Mode,
    /// The trusted cell file (durable mode only; keep it outside `data_dir`).
    #[serde(default)]
    pub trusted_cell: Option<PathBuf>,
    /// The other replicas of the group.
    pub peers: Vec<Peer>,
    /// Seconds between two stats lines in the log.
    #[serde(default = "default_stats_interval")]
    pub stats_interval_s: u64,
    /// A consensus phase without a quorum of answers is abandoned after this long (the core's
    /// default, 100 ms, suits a group in one place; raise it for WAN round trips).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_timeout_ms: Option<u64>,
    /// Base of the backoff after a refused round (the core's default, 20 ms, if absent; use
    /// about one round trip across the group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_base_ms: Option<u64>,
}

/// One replica as the relay reaches it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelayReplica {
    /// Its group.
    pub group: u32,
    /// Its id within the group.
    pub replica: u8,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// `e2ee-vault-relay --config FILE`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfigFile {
    /// Where clients connect (TLS).
    pub listen: SocketAddr,
    /// The key that signs account tokens (`e2ee-vault token`).
    pub token_key: PathBuf,
    /// The TLS certificate chain (PEM).
    pub tls_cert: PathBuf,
    /// The TLS private key (PEM).
    pub tls_key: PathBuf,
    /// Replicas in every group.
    pub replicas_per_group: u8,
    /// Every replica of every group.
    pub replicas: Vec<RelayReplica>,
    /// Requests an account may send in a burst (the core's default if absent).
    #[serde(default)]
    pub bucket_capacity: Option<u32>,
    /// Milliseconds per refilled request token (the core's default if absent).
    #[serde(default)]
    pub refill_interval_ms: Option<u64>,
    /// Seconds between two stats lines in the log.
    #[serde(default = "default_stats_interval")]
    pub stats_interval_s: u64,
}

fn default_stats_interval() -> u64 {
    10
}

/// A configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not valid TOML for this node.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// It parses but says something impossible.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn load<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn resolve(base: &Path, p: &mut PathBuf) {
    if p.is_relative() {
        *p = base.join(&*p);
    }
}

fn base_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl ReplicaConfig {
    /// Reads and checks a replica configuration; relative paths are resolved.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut c: Self = load(path)?;
        let base = base_of(path);
        resolve(&base, &mut c.secrets);
        resolve(&base, &mut c.data_dir);
        if let Some(t) = c.trusted_cell.as_mut() {
            resolve(&base, t);
        }
        let invalid = |message: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: message.to_string(),
        };
        match (c.mode, &c.trusted_cell) {
            (Mode::Durable, None) => return Err(invalid("mode = \"durable\" needs trusted_cell")),
            (Mode::Volatile, Some(_)) => {
                return Err(invalid("trusted_cell is only for mode = \"durable\""));
            }
            _ => {}
        }
        let mut ids: Vec<u8> = c.peers.iter().map(|p| p.replica).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != c.peers.len() {
            return Err(invalid("two peers have the same replica id"));
        }
        if c.stats_interval_s == 0 {
            return Err(invalid("stats_interval_s must be at least 1"));
        }
        if c.round_timeout_ms == Some(0) || c.backoff_base_ms == Some(0) {
            return Err(invalid(
                "round_timeout_ms and backoff_base_ms must be at least 1",
            ));
        }
        Ok(c)
    }
}

impl RelayConfigFile {
    /// Reads and checks a relay configuration; relative paths are resolved.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut c: Self = load(path)?;
        let base = base_of(path);
        resolve(&base, &mut c.token_key);
        resolve(&base, &mut c.tls_cert);
        resolve(&base, &mut c.tls_key);
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        if c.replicas_per_group == 0 {
            return Err(invalid("replicas_per_group must be at least 1".into()));
        }
        let groups = c.groups();
        for g in 0..groups {
            for r in 0..c.replicas_per_group {
                let n = c
                    .replicas
                    .iter()
                    .filter(|x| x.group == g && x.replica == r)
                    .count();
                if n != 1 {
                    return Err(invalid(format!(
                        "group {g} replica {r} is listed {n} times (each must be listed once)"
                    )));
                }
            }
        }
        if c.replicas.iter().any(|x| x.replica >= c.replicas_per_group) {
            return Err(invalid(
                "a replica id is not below replicas_per_group".into(),
            ));
        }
        if c.stats_interval_s == 0 {
            return Err(invalid("stats_interval_s must be at least 1".into()));
        }
        Ok(c)
    }

    /// Number of groups (one more than the highest group listed).
    pub fn groups(&self) -> u32 {
        self.replicas
            .iter()
            .map(|r| r.group.saturating_add(1))
            .max()
            .unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("node.toml");
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn a_replica_config_resolves_paths_and_refuses_mistakes() {
        let dir = tempfile::tempdir().expect("dir");
        let good = "listen = \"127.0.0.1:1\"\nsecrets = \"s\"\ndata_dir = \"d\"\nmode = \"durable\"\ntrusted_cell = \"c\"\npeers = [{ replica = 1, addr = \"127.0.0.1:2\" }]\n";
        let c = ReplicaConfig::load(&write(dir.path(), good)).expect("valid");
        assert_eq!(c.secrets, dir.path().join("s"));
        assert_eq!(c.mode, Mode::Durable);
        let no_cell = good.replace("trusted_cell = \"c\"\n", "");
        assert!(matches!(
            ReplicaConfig::load(&write(dir.path(), &no_cell)),
            Err(ConfigError::Invalid { .. })
        ));
        let typo = good.replace("data_dir", "datadir");
        assert!(matches!(
            ReplicaConfig::load(&write(dir.path(), &typo)),
            Err(ConfigError::Parse { .. })
        ));
        let bad_mode = good.replace("durable", "sometimes");
        assert!(matches!(
            ReplicaConfig::load(&write(dir.path(), &bad_mode)),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn a_relay_config_must_list_every_replica_of_every_group_once() {
        let dir = tempfile::tempdir().expect("dir");
        let good = "listen = \"127.0.0.1:1\"\ntoken_key = \"k\"\ntls_cert = \"c\"\ntls_key = \"p\"\nreplicas_per_group = 2\nreplicas = [{ group = 0, replica = 0, addr = \"127.0.0.1:2\" }, { group = 0, replica = 1, addr = \"127.0.0.1:3\" }]\n";
        let c = RelayConfigFile::load(&write(dir.path(), good)).expect("valid");
        assert_eq!(c.groups(), 1);
        let missing = good.replace("replicas_per_group = 2", "replicas_per_group = 3");
        assert!(matches!(
            RelayConfigFile::load(&write(dir.path(), &missing)),
            Err(ConfigError::Invalid { .. })
        ));
    }
}
