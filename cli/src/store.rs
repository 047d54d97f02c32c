//! Where snapshots are kept: the [`Store`] trait and the local-directory store.
//!
//! A store holds named, immutable objects. Names are relative, `/`-separated, and made of
//! `[A-Za-z0-9_.-]` segments that never start with a dot (see [`validate_name`]), so they can
//! never leave the store's root, and temporary files (which start with a dot) are never listed.
//! A new object becomes visible only when it is complete ([`ObjectWriter::commit`]); dropping the
//! writer without committing discards it. [`open`] picks the backend from the location: a
//! local folder ([`LocalStore`]) or `s3://` ([`crate::cloud::CloudStore`], S3 and S3-compatible
//! services through the `object_store` crate).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A store failed or refused an operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist.
    #[error("{location}: object {name} does not exist")]
    NotFound {
        /// The store.
        location: String,
        /// The object's name.
        name: String,
    },
    /// An object of that name exists already (objects are never replaced).
    #[error("{location}: object {name} exists already")]
    Exists {
        /// The store.
        location: String,
        /// The object's name.
        name: String,
    },
    /// An object name the store does not accept.
    #[error("invalid object name {0:?}")]
    InvalidName(String),
    /// The store's I/O failed.
    #[error("{location}: {what} {name}: {source}")]
    Io {
        /// The store.
        location: String,
        /// The operation.
        what: &'static str,
        /// The object's name (or the prefix listed).
        name: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// An object being written; it becomes visible under its name only on [`commit`](Self::commit).
pub trait ObjectWriter: Write {
    /// Makes the object durable and visible. Fails if an object of that name appeared meanwhile.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// A place that keeps named, immutable objects.
pub trait Store {
    /// Where the store is, for messages.
    fn location(&self) -> String;

    /// Opens an object for streaming reads.
    fn get(&self, name: &str) -> Result<Box<dyn Read + '_>, StoreError>;

    /// The length of an object in bytes.
    fn size(&self, name: &str) -> Result<u64, StoreError>;

    /// Starts writing a new object; nothing is visible until `commit`.
    fn put(&self, name: &str) -> Result<Box<dyn ObjectWriter + '_>, StoreError>;

    /// The names of the objects whose names start with `prefix`, sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Whether the store holds nothing at all (a place where a new repository may be made).
    fn is_empty(&self) -> Result<bool, StoreError>;

    /// Reads a whole object of at most `max_len` bytes.
    fn get_small(&self, name: &str, max_len: u64) -> Result<Vec<u8>, StoreError> {
        let mut bytes = Vec::new();
        let io_err = |source| StoreError::Io {
            location: self.location(),
            what: "reading",
            name: name.to_owned(),
            source,
        };
        self.get(name)?
            .take(max_len.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        if bytes.len() as u64 > max_len {
            return Err(io_err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("larger than the {max_len} bytes such an object may have"),
            )));
        }
        Ok(bytes)
    }
}

/// Checks that `name` is a valid object name: non-empty `/`-separated segments of
/// `[A-Za-z0-9_.-]`, none starting with a dot, at most 255 bytes in all.
pub fn validate_name(name: &str) -> Result<(), StoreError> {
    let valid_segment = |segment: &str| {
        !segment.is_empty()
            && !segment.starts_with('.')
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    if name.len() <= 255 && name.split('/').all(valid_segment) {
        Ok(())
    } else {
        Err(StoreError::InvalidName(name.to_owned()))
    }
}

/// A store in a local directory: one file per object, `/` in names being subdirectories.
///
/// Writes go to a temporary file (`.tmp-…`) in the object's directory, which is flushed to disk
/// (`fsync`), renamed into place without replacing anything, and followed by an `fsync` of the
/// directory, so a crash never leaves a half-written object under its name.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root` (which need not exist yet: the first write creates it).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path_of(&self, name: &str) -> Result<PathBuf, StoreError> {
        validate_name(name)?;
        Ok(name.split('/').fold(self.root.clone(), |p, s| p.join(s)))
    }

    fn io_error(&self, what: &'static str, name: &str, source: io::Error) -> StoreError {
        StoreError::Io {
            location: self.location(),
            what,
            name: name.to_owned(),
            source,
        }
    }
}

impl Store for LocalStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn get(&self, name: &str) -> Result<Box<dyn Read + '_>, StoreError> {
        let path = self.path_of(name)?;
        match File::open(&path) {
            Ok(file) => Ok(Box::new(io::BufReader::with_capacity(256 * 1024, file))),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(StoreError::NotFound {
                location: self.location(),
                name: name.to_owned(),
            }),
            Err(err) => Err(self.io_error("opening", name, err)),
        }
    }

    fn size(&self, name: &str) -> Result<u64, StoreError> {
        let path = self.path_of(name)?;
        match fs::metadata(&path) {
            Ok(meta) => Ok(meta.len()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(StoreError::NotFound {
                location: self.location(),
                name: name.to_owned(),
            }),
            Err(err) => Err(self.io_error("reading the size of", name, err)),
        }
    }

    fn put(&self, name: &str) -> Result<Box<dyn ObjectWriter + '_>, StoreError> {
        let path = self.path_of(name)?;
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir)
            .map_err(|err| self.io_error("creating the folder of", name, err))?;
        if path.exists() {
            return Err(StoreError::Exists {
                location: self.location(),
                name: name.to_owned(),
            });
        }
        let file = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .map_err(|err| self.io_error("creating a temporary file for", name, err))?;
        Ok(Box::new(LocalObjectWriter {
            store: self,
            name: name.to_owned(),
            path,
            dir,
            file: io::BufWriter::with_capacity(256 * 1024, file),
        }))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        // Objects live in the folder named by the prefix up to its last '/'.
        let (dir_part, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let dir = if dir_part.is_empty() {
            self.root.clone()
        } else {
            self.path_of(dir_part)?
        };
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(self.io_error("listing", prefix, err)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|err| self.io_error("listing", prefix, err))?;
            let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let name = if dir_part.is_empty() {
                file_name
            } else {
                format!("{dir_part}/{file_name}")
            };
            let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
            if is_file && name.starts_with(prefix) && validate_name(&name).is_ok() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn is_empty(&self) -> Result<bool, StoreError> {
        match fs::read_dir(&self.root) {
            Ok(mut entries) => Ok(entries.next().is_none()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(err) => Err(self.io_error("listing", "/", err)),
        }
    }
}

struct LocalObjectWriter<'a> {
    store: &'a LocalStore,
    name: String,
    path: PathBuf,
    dir: PathBuf,
    file: io::BufWriter<NamedTempFile>,
}

impl Write for LocalObjectWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl ObjectWriter for LocalObjectWriter<'_> {
    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let Self {
            store,
            name,
            path,
            dir,
            file,
        } = *self;
        let file = file
            .into_inner()
            .map_err(|err| store.io_error("writing", &name, err.into_error()))?;
        file.as_file()
            .sync_all()
            .map_err(|err| store.io_error("syncing", &name, err))?;
        file.persist_noclobber(&path).map_err(|err| {
            if err.error.kind() == io::ErrorKind::AlreadyExists {
                StoreError::Exists {
                    location: store.location(),
                    name: name.clone(),
                }
            } else {
                store.io_error("renaming into place", &name, err.error)
            }
        })?;
        sync_dir(&dir).map_err(|err| store.io_error("syncing the folder of", &name, err))
    }
}

/// Flushes a directory's entries (a rename in it) to disk.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_names_that_could_leave_the_store() {
        for bad in [
            "", "/abs", "a/../b", "..", ".hidden", "a//b", "a/", "sn\u{e9}", "a\\b",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["config", "snapshots/20261202T100000Z-0a1b2c3d.data"] {
            assert!(validate_name(good).is_ok(), "{good:?} rejected");
        }
    }

    #[test]
    fn an_object_is_invisible_until_committed_and_never_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalStore::new(dir.path().join("repo"));
        assert!(store.is_empty().expect("empty"));
        let mut writer = store.put("snapshots/a.data").expect("put");
        writer.write_all(b"half").expect("write");
        assert_eq!(
            store.list("snapshots/").expect("list"),
            Vec::<String>::new()
        );
        drop(writer);
        assert_eq!(
            store.list("snapshots/").expect("list"),
            Vec::<String>::new()
        );
        let leftovers = fs::read_dir(dir.path().join("repo/snapshots"))
            .expect("dir")
            .count();
        assert_eq!(leftovers, 0, "an abandoned write left a temporary file");

        let mut writer = store.put("snapshots/a.data").expect("put");
        writer.write_all(b"whole").expect("write");
        writer.commit().expect("commit");
        assert_eq!(
            store.list("snapshots/").expect("list"),
            ["snapshots/a.data"]
        );
        assert_eq!(
            store.get_small("snapshots/a.data", 5).expect("get"),
            b"whole"
        );
        assert!(store.get_small("snapshots/a.data", 4).is_err());
        assert!(matches!(
            store.put("snapshots/a.data"),
            Err(StoreError::Exists { .. })
        ));
        assert!(matches!(
            store.get("snapshots/b.data"),
            Err(StoreError::NotFound { .. })
        ));
    }
}
