//! The repository: which key it belongs to (the key check), and the snapshot objects.
//!
//! Layout in a store (SPEC.md "CLI formats"):
//! - `config`: cleartext, 58 bytes: `REPO_MAGIC`, version (u16 = 1), a random 16-byte
//!   repository id, and the 32-byte key check `HKDF-SHA256(salt = repository id, IKM = backup
//!   key, info = KEY_CHECK_LABEL)`. A wrong key is refused from this object alone, before any
//!   snapshot is read or written. It reveals nothing about the key (HKDF is a PRF keyed by it).
//! - `snapshots/<id>.data`: the archive (tar, optionally zstd-compressed) as one backup stream.
//! - `snapshots/<id>.manifest`: the snapshot's metadata, sealed as its own backup stream, bound
//!   to the repository id, the snapshot id, and the data object's header and length.

use std::time::{SystemTime, UNIX_EPOCH};

use e2ee_backup::BackupKey;
use e2ee_backup::internal::stream::{DEFAULT_SEGMENT_SIZE, HEADER_LEN, open_to_vec, seal_to_vec};
use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{CliError, describe_stream_error};
use crate::keys::os_rng;
use crate::store::{Store, StoreError};

/// Name of the repository's config object.
pub const CONFIG_OBJECT: &str = "config";
/// First 8 bytes of the config object.
pub const REPO_MAGIC: &[u8; 8] = b"E2EEREPO";
/// Repository format version written and read by this version.
pub const REPO_VERSION: u16 = 1;
/// HKDF info of the key check.
pub const KEY_CHECK_LABEL: &[u8] = b"e2ee-backup v1 cli repository key check";
/// Length of the config object.
pub const CONFIG_LEN: usize = 8 + 2 + 16 + 32;
/// First 8 bytes of a snapshot manifest's plaintext.
pub const MANIFEST_MAGIC: &[u8; 8] = b"E2EESNAP";
/// Snapshot manifest version written and read by this version.
pub const MANIFEST_VERSION: u16 = 1;
/// Largest manifest object read (a manifest is at most about 66 KiB of plaintext).
const MAX_MANIFEST_OBJECT: u64 = 1024 * 1024;

/// The repository's config object.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RepoConfig {
    /// Random, per repository: the salt of the key check, and bound into every manifest.
    pub repo_id: [u8; 16],
    /// `HKDF-SHA256(salt = repo_id, IKM = key, info = KEY_CHECK_LABEL)`, 32 bytes.
    pub key_check: [u8; 32],
}

/// The key check of `key` for repository `repo_id`.
pub fn key_check(key: &BackupKey, repo_id: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit: expand cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(repo_id), key.as_bytes()).expand(KEY_CHECK_LABEL, &mut out);
    out
}

impl RepoConfig {
    /// The object's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CONFIG_LEN);
        out.extend_from_slice(REPO_MAGIC);
        out.extend_from_slice(&REPO_VERSION.to_be_bytes());
        out.extend_from_slice(&self.repo_id);
        out.extend_from_slice(&self.key_check);
        out
    }

    /// Reads the object; rejects anything but exactly one version 1 config.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader(bytes);
        if r.take(8)? != REPO_MAGIC {
            return Err("not an e2ee-backup repository config".to_owned());
        }
        let version = r.u16()?;
        if version != REPO_VERSION {
            return Err(format!(
                "repository format {version} is not supported by this version (it reads \
                 {REPO_VERSION})"
            ));
        }
        let config = Self {
            repo_id: r.array()?,
            key_check: r.array()?,
        };
        r.end()?;
        Ok(config)
    }
}

/// A repository opened with a key that passed its key check.
pub struct Repository<'s> {
    store: &'s dyn Store,
    config: RepoConfig,
    key: BackupKey,
}

/// How [`Repository::open`] treats a store without a repository.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IfMissing {
    /// Fail with a message saying so.
    Fail,
    /// Create one if the store is empty.
    Create,
}

impl<'s> Repository<'s> {
    /// Fails as [`Repository::open`] with [`IfMissing::Fail`] would if `store` holds no
    /// repository, without a key (checked before a vault attempt is spent on the key).
    pub fn check_present(store: &dyn Store) -> Result<(), CliError> {
        match store.get_small(CONFIG_OBJECT, CONFIG_LEN as u64) {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound { .. }) => Err(CliError::Refused(format!(
                "no e2ee-backup repository at {}",
                store.location()
            ))),
            Err(err) => Err(err.into()),
        }
    }

    /// Opens the repository in `store` and checks that `key` is its key, before anything else.
    /// Returns whether it was created now.
    pub fn open(
        store: &'s dyn Store,
        key: BackupKey,
        if_missing: IfMissing,
    ) -> Result<(Self, bool), CliError> {
        match store.get_small(CONFIG_OBJECT, CONFIG_LEN as u64) {
            Ok(bytes) => {
                let config = RepoConfig::decode(&bytes)
                    .map_err(|why| CliError::Integrity(format!("{}: {why}", store.location())))?;
                let expected = key_check(&key, &config.repo_id);
                if !bool::from(expected.ct_eq(&config.key_check)) {
                    return Err(CliError::Key(format!(
                        "this key does not belong to the repository at {} (its key check does \
                         not match): use the key file made for it, or its recovery key",
                        store.location()
                    )));
                }
                Ok((Self { store, config, key }, false))
            }
            Err(StoreError::NotFound { .. }) => {
                if if_missing == IfMissing::Fail {
                    return Err(CliError::Refused(format!(
                        "no e2ee-backup repository at {}",
                        store.location()
                    )));
                }
                if !store.is_empty()? {
                    return Err(CliError::Refused(format!(
                        "{} is not empty and holds no e2ee-backup repository; choose an empty or \
                         new folder",
                        store.location()
                    )));
                }
                let mut repo_id = [0u8; 16];
                rand::rand_core::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut repo_id)
                    .map_err(|err| CliError::Io {
                        context: "reading the operating system's random number generator"
                            .to_owned(),
                        source: std::io::Error::other(err.to_string()),
                    })?;
                let config = RepoConfig {
                    repo_id,
                    key_check: key_check(&key, &repo_id),
                };
                let mut writer = store.put(CONFIG_OBJECT)?;
                std::io::Write::write_all(&mut writer, &config.encode()).map_err(|err| {
                    CliError::Io {
                        context: format!("writing the repository config to {}", store.location()),
                        source: err,
                    }
                })?;
                writer.commit()?;
                Ok((Self { store, config, key }, true))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The store.
    pub fn store(&self) -> &'s dyn Store {
        self.store
    }

    /// The backup key.
    pub fn key(&self) -> &BackupKey {
        &self.key
    }

    /// The repository id.
    pub fn repo_id(&self) -> &[u8; 16] {
        &self.config.repo_id
    }

    /// The ids of the snapshots whose manifest exists, oldest first, and the number of data
    /// objects without a manifest (interrupted backups).
    pub fn snapshot_ids(&self) -> Result<(Vec<SnapshotId>, usize), CliError> {
        let names = self.store.list("snapshots/")?;
        let mut ids = Vec::new();
        let mut data = Vec::new();
        for name in &names {
            let Some(rest) = name.strip_prefix("snapshots/") else {
                continue;
            };
            if let Some(id) = rest.strip_suffix(".manifest").and_then(SnapshotId::parse) {
                ids.push(id);
            } else if let Some(id) = rest.strip_suffix(".data").and_then(SnapshotId::parse) {
                data.push(id);
            }
        }
        let orphans = data.iter().filter(|id| !ids.contains(id)).count();
        ids.sort();
        Ok((ids, orphans))
    }

    /// Resolves `latest` or a full snapshot id to an existing snapshot.
    pub fn resolve(&self, spec: &str) -> Result<SnapshotId, CliError> {
        let (ids, _) = self.snapshot_ids()?;
        if spec == "latest" {
            return ids.last().cloned().ok_or_else(|| {
                CliError::Refused(format!("no snapshots in {}", self.store.location()))
            });
        }
        let id = SnapshotId::parse(spec).ok_or_else(|| {
            CliError::Refused(format!(
                "{spec:?} is not a snapshot id (like 20261202T100000Z-0a1b2c3d) nor `latest`"
            ))
        })?;
        if ids.contains(&id) {
            Ok(id)
        } else {
            Err(CliError::Refused(format!(
                "no snapshot {} in {} (`e2ee-backup list` shows them)",
                id.as_str(),
                self.store.location()
            )))
        }
    }

    /// Reads, authenticates and checks a snapshot's manifest.
    pub fn manifest(&self, id: &SnapshotId) -> Result<Manifest, CliError> {
        let sealed = self
            .store
            .get_small(&id.manifest_object(), MAX_MANIFEST_OBJECT)?;
        let plain = open_to_vec(&self.key, &sealed).map_err(|err| {
            CliError::Integrity(format!(
                "snapshot {}: its manifest failed authentication: {}",
                id.as_str(),
                describe_stream_error(err)
            ))
        })?;
        let manifest = Manifest::decode(&plain).map_err(|why| {
            CliError::Integrity(format!(
                "snapshot {}: malformed manifest: {why}",
                id.as_str()
            ))
        })?;
        if manifest.repo_id != self.config.repo_id || manifest.id != *id {
            return Err(CliError::Integrity(format!(
                "snapshot {}: its manifest belongs to another snapshot or repository (objects \
                 were renamed or copied in the store)",
                id.as_str()
            )));
        }
        Ok(manifest)
    }

    /// Seals and stores a snapshot's manifest (after its data object was committed).
    pub fn put_manifest(&self, manifest: &Manifest) -> Result<(), CliError> {
        let sealed = seal_to_vec(
            &self.key,
            DEFAULT_SEGMENT_SIZE,
            &manifest.encode(),
            &mut os_rng(),
        )
        .map_err(|err| CliError::Integrity(format!("sealing the manifest: {err}")))?;
        let mut writer = self.store.put(&manifest.id.manifest_object())?;
        std::io::Write::write_all(&mut writer, &sealed).map_err(|err| CliError::Io {
            context: format!("writing the manifest to {}", self.store.location()),
            source: err,
        })?;
        writer.commit()?;
        Ok(())
    }
}

/// A snapshot id: `YYYYMMDDTHHMMSSZ-` (UTC creation time) and 8 random hex digits.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct SnapshotId(String);

impl SnapshotId {
    /// A new id for a snapshot made at `unix_s`.
    pub fn new(unix_s: i64) -> Result<Self, CliError> {
        let mut random = [0u8; 4];
        rand::rand_core::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut random).map_err(
            |err| CliError::Io {
                context: "reading the operating system's random number generator".to_owned(),
                source: std::io::Error::other(err.to_string()),
            },
        )?;
        let (y, mo, d, h, mi, s) = civil_from_unix(unix_s);
        Ok(Self(format!(
            "{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z-{:08x}",
            u32::from_be_bytes(random)
        )))
    }

    /// Parses an id; `None` unless it has exactly the form above.
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let digits =
            |r: core::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
        let hex = b.get(17..25).is_some_and(|s| {
            s.iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        });
        let ok = b.len() == 25
            && digits(0..8)
            && b[8] == b'T'
            && digits(9..15)
            && b[15] == b'Z'
            && b[16] == b'-'
            && hex;
        ok.then(|| Self(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The data object's name.
    pub fn data_object(&self) -> String {
        format!("snapshots/{}.data", self.0)
    }

    /// The manifest object's name.
    pub fn manifest_object(&self) -> String {
        format!("snapshots/{}.manifest", self.0)
    }
}

/// How the archive is compressed before encryption.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Compression {
    /// Plain tar.
    None = 0,
    /// One zstd stream of the tar.
    Zstd = 1,
}

/// A snapshot's metadata, sealed in its manifest object (never visible to the store).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Manifest {
    /// The repository it belongs to.
    pub repo_id: [u8; 16],
    /// The snapshot's id (also its object names).
    pub id: SnapshotId,
    /// Creation time, seconds since the Unix epoch (UTC).
    pub created_unix_s: i64,
    /// The backed-up folder as given, made absolute (raw OS bytes).
    pub source_path: Vec<u8>,
    /// Permission bits of the backed-up folder itself.
    pub root_mode: u32,
    /// Modification time of the backed-up folder itself (Unix seconds).
    pub root_mtime: i64,
    /// Regular files in the archive.
    pub files: u64,
    /// Directories in the archive (the root not counted).
    pub dirs: u64,
    /// Symbolic links in the archive.
    pub symlinks: u64,
    /// Entries left out (unreadable, or not a file, directory or symlink).
    pub skipped: u64,
    /// Sum of the regular files' sizes.
    pub source_bytes: u64,
    /// Length of the tar archive before compression.
    pub archive_len: u64,
    /// Compression of the archive.
    pub compression: Compression,
    /// Length of the data object.
    pub data_len: u64,
    /// The data object's 80-byte stream header (its salt and key commitment bind it).
    pub data_header: [u8; HEADER_LEN],
}

impl Manifest {
    /// The plaintext bytes sealed in the manifest object.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.source_path.len());
        out.extend_from_slice(MANIFEST_MAGIC);
        out.extend_from_slice(&MANIFEST_VERSION.to_be_bytes());
        out.extend_from_slice(&self.repo_id);
        let id = self.id.as_str().as_bytes();
        out.push(id.len() as u8); // 25 bytes, by SnapshotId's form
        out.extend_from_slice(id);
        out.extend_from_slice(&self.created_unix_s.to_be_bytes());
        let path = &self.source_path[..self.source_path.len().min(usize::from(u16::MAX))];
        out.extend_from_slice(&(path.len() as u16).to_be_bytes());
        out.extend_from_slice(path);
        out.extend_from_slice(&self.root_mode.to_be_bytes());
        out.extend_from_slice(&self.root_mtime.to_be_bytes());
        for n in [
            self.files,
            self.dirs,
            self.symlinks,
            self.skipped,
            self.source_bytes,
            self.archive_len,
        ] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.push(self.compression as u8);
        out.extend_from_slice(&self.data_len.to_be_bytes());
        out.extend_from_slice(&self.data_header);
        out
    }

    /// Reads manifest plaintext; rejects truncated, trailing or unknown input.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader(bytes);
        if r.take(8)? != MANIFEST_MAGIC {
            return Err("bad magic".to_owned());
        }
        let version = r.u16()?;
        if version != MANIFEST_VERSION {
            return Err(format!(
                "manifest format {version} is not supported by this version"
            ));
        }
        let repo_id = r.array()?;
        let id_len = usize::from(r.array::<1>()?[0]);
        let id = std::str::from_utf8(r.take(id_len)?)
            .ok()
            .and_then(SnapshotId::parse)
            .ok_or("bad snapshot id")?;
        let created_unix_s = i64::from_be_bytes(r.array()?);
        let path_len = usize::from(r.u16()?);
        let source_path = r.take(path_len)?.to_vec();
        let root_mode = u32::from_be_bytes(r.array()?);
        let root_mtime = i64::from_be_bytes(r.array()?);
        let mut n = [0u64; 6];
        for slot in &mut n {
            *slot = u64::from_be_bytes(r.array()?);
        }
        let compression = match r.array::<1>()?[0] {
            0 => Compression::None,
            1 => Compression::Zstd,
            other => return Err(format!("unknown compression {other}")),
        };
        let data_len = u64::from_be_bytes(r.array()?);
        let data_header = r.array()?;
        r.end()?;
        let [files, dirs, symlinks, skipped, source_bytes, archive_len] = n;
        Ok(Self {
            repo_id,
            id,
            created_unix_s,
            source_path,
            root_mode,
            root_mtime,
            files,
            dirs,
            symlinks,
            skipped,
            source_bytes,
            archive_len,
            compression,
            data_len,
            data_header,
        })
    }
}

/// A strict big-endian reader over a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated".to_owned());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn end(&self) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err("trailing bytes".to_owned())
        }
    }
}

/// Seconds since the Unix epoch now (0 if the clock is before it).
pub fn now_unix_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `(year, month, day, hour, minute, second)` in UTC of a Unix time (proleptic Gregorian).
pub fn civil_from_unix(unix_s: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = unix_s.div_euclid(86_400);
    let secs = unix_s.rem_euclid(86_400);
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
    )
}

/// `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_utc(unix_s: i64) -> String {
    let (y, mo, d, h, mi, s) = civil_from_unix(unix_s);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            repo_id: [1; 16],
            id: SnapshotId::parse("20261202T100000Z-0a1b2c3d").expect("id"),
            created_unix_s: 1_796_205_600,
            source_path: "/home/ünï/Chats".as_bytes().to_vec(),
            root_mode: 0o755,
            root_mtime: 1_700_000_000,
            files: 3,
            dirs: 2,
            symlinks: 1,
            skipped: 0,
            source_bytes: 12345,
            archive_len: 20480,
            compression: Compression::Zstd,
            data_len: 999,
            data_header: [9; HEADER_LEN],
        }
    }

    #[test]
    fn manifest_round_trips_and_rejects_truncated_or_trailing_bytes() {
        let m = manifest();
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes).expect("decodes"), m);
        for cut in 0..bytes.len() {
            assert!(
                Manifest::decode(&bytes[..cut]).is_err(),
                "cut at {cut} accepted"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(Manifest::decode(&long).is_err());
    }

    #[test]
    fn config_round_trips_and_its_key_check_depends_on_key_and_repository() {
        let key = BackupKey::from_bytes([3; 32]);
        let config = RepoConfig {
            repo_id: [5; 16],
            key_check: key_check(&key, &[5; 16]),
        };
        let bytes = config.encode();
        assert_eq!(bytes.len(), CONFIG_LEN);
        assert_eq!(RepoConfig::decode(&bytes).expect("decodes"), config);
        assert!(RepoConfig::decode(&bytes[..CONFIG_LEN - 1]).is_err());
        assert_ne!(key_check(&key, &[6; 16]), config.key_check);
        assert_ne!(
            key_check(&BackupKey::from_bytes([4; 32]), &[5; 16]),
            config.key_check
        );
        // Never a raw hash of the key.
        use sha2::Digest;
        assert_ne!(
            sha2::Sha256::digest(key.as_bytes()).as_slice(),
            &config.key_check
        );
    }

    #[test]
    fn snapshot_ids_have_one_form() {
        let id = SnapshotId::new(1_796_205_600).expect("id");
        assert!(
            id.as_str().starts_with("20261202T100000Z-"),
            "{}",
            id.as_str()
        );
        assert_eq!(SnapshotId::parse(id.as_str()), Some(id));
        for bad in [
            "latest",
            "../config",
            "20261202T100000Z-0A1B2C3D",
            "20261202T100000Z-0a1b2c3",
        ] {
            assert_eq!(SnapshotId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn utc_formatting_matches_known_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(format_utc(1_796_205_600), "2026-12-02 10:00:00");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59");
    }
}
