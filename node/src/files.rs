//! Files the hosts read and write: secret files with mode 0600, the per-replica provisioning
//! file (SPEC.md "Hosts", "Replica secrets file"), and durable replacement of small files.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::FleetSecrets;

/// Magic of a replica secrets file.
pub const REPLICA_SECRETS_MAGIC: &[u8; 6] = b"E2EERS";
/// Version of the replica secrets file.
pub const REPLICA_SECRETS_VERSION: u8 = 1;

/// A file operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file's contents are not what was expected.
    #[error("{path}: {what}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a whole file.
pub fn read(path: &Path) -> Result<Vec<u8>, FileError> {
    fs::read(path).map_err(io(path))
}

/// Reads a secret file into a buffer that is wiped when dropped.
pub fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, FileError> {
    fs::read(path).map(Zeroizing::new).map_err(io(path))
}

/// Replaces `path` durably and atomically with `bytes`, mode 0600 if `secret` (else 0644):
/// writes a temporary file beside it, fsyncs it, renames it over `path` and fsyncs the folder.
pub fn write_atomic(path: &Path, bytes: &[u8], secret: bool) -> Result<(), FileError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(&tmp)
        .map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io(path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// What one replica's provisioning file holds: its place and the fleet secrets.
pub struct ReplicaSecrets {
    /// The replica group.
    pub group: u32,
    /// The replica id within the group.
    pub replica: u8,
    /// The fleet secrets (zeroized on drop).
    pub fleet: FleetSecrets,
}

impl ReplicaSecrets {
    /// Encodes: magic ‖ version ‖ group (u32) ‖ replica (u8) ‖ fleet secrets (u32 length +
    /// `FleetSecrets::to_bytes`).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let fleet = self.fleet.to_bytes();
        let mut out = Zeroizing::new(Vec::with_capacity(16 + fleet.len()));
        out.extend_from_slice(REPLICA_SECRETS_MAGIC);
        out.push(REPLICA_SECRETS_VERSION);
        out.extend_from_slice(&self.group.to_be_bytes());
        out.push(self.replica);
        let len = u32::try_from(fleet.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&fleet);
        out
    }

    /// Decodes what [`Self::to_bytes`] wrote (exact length, no trailing bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, &'static str> {
        let rest = bytes
            .strip_prefix(REPLICA_SECRETS_MAGIC.as_slice())
            .ok_or("not a replica secrets file")?;
        let (&version, rest) = rest.split_first().ok_or("truncated")?;
        if version != REPLICA_SECRETS_VERSION {
            return Err("unsupported replica secrets version");
        }
        let (group, rest) = rest.split_at_checked(4).ok_or("truncated")?;
        let group = u32::from_be_bytes(group.try_into().map_err(|_| "truncated")?);
        let (&replica, rest) = rest.split_first().ok_or("truncated")?;
        let (len, rest) = rest.split_at_checked(4).ok_or("truncated")?;
        let len = u32::from_be_bytes(len.try_into().map_err(|_| "truncated")?);
        if usize::try_from(len).ok() != Some(rest.len()) {
            return Err("wrong length");
        }
        let fleet =
            FleetSecrets::from_bytes(rest).map_err(|_| "the fleet secrets do not decode")?;
        Ok(Self {
            group,
            replica,
            fleet,
        })
    }

    /// Reads a replica secrets file.
    pub fn read(path: &Path) -> Result<Self, FileError> {
        let bytes = read_secret(path)?;
        Self::from_bytes(&bytes).map_err(|what| FileError::Invalid {
            path: path.to_path_buf(),
            what: what.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use e2ee_backup::FleetId;

    #[test]
    fn replica_secrets_round_trip_and_reject_any_other_length() {
        let mut rng = crate::os_rng();
        let id = FleetId::new(b"t").unwrap_or_else(|_| unreachable!());
        let secrets = ReplicaSecrets {
            group: 3,
            replica: 4,
            fleet: FleetSecrets::generate(&mut rng, id),
        };
        let bytes = secrets.to_bytes();
        let back = ReplicaSecrets::from_bytes(&bytes).ok();
        assert_eq!(back.as_ref().map(|b| (b.group, b.replica)), Some((3, 4)));
        assert_eq!(back.map(|b| b.to_bytes()), Some(bytes.clone()));
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(ReplicaSecrets::from_bytes(&longer).is_err());
        assert!(ReplicaSecrets::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn secret_files_are_written_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("s");
        assert!(write_atomic(&path, b"x", true).is_ok());
        let mode = fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .ok();
        assert_eq!(mode, Some(0o600));
        assert_eq!(read(&path).ok(), Some(b"x".to_vec()));
    }
}
