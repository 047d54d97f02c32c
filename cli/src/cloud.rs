//! A [`Store`] in S3 or an S3-compatible service, through the `object_store` crate.
//!
//! `--repo s3://BUCKET/PREFIX`. Credentials, region and endpoint come from the usual AWS
//! environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL` for an S3-compatible service, `AWS_ALLOW_HTTP=true` for a
//! plain-HTTP endpoint on loopback), as `object_store`'s `AmazonS3Builder::from_env` reads them.
//!
//! **Writes.** An object smaller than one part ([`PART_SIZE`], 8 MiB: repository configs and
//! manifests) is one `PUT` with `If-None-Match: *`, so it is created atomically and never
//! replaces an object of the same name. A larger one is a multipart upload of 8 MiB parts with
//! at most [`MAX_PARTS_IN_FLIGHT`] parts uploading while the next is filled, so memory stays
//! below (1 + [`MAX_PARTS_IN_FLIGHT`]) × 8 MiB whatever the size; it becomes visible only when
//! `commit` completes the upload, and dropping the writer aborts it (nothing is left but what
//! the service keeps of an aborted upload). The multipart path has no atomic create in
//! `object_store`: `put` and `commit` check that the name is free, and names carry 32 random bits
//! besides the time (`SnapshotId`), so only a concurrent writer of the same name could race.
//!
//! **Reads** stream the object's body; nothing is held but the chunk being read.

use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{
    ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload, WriteMultipart,
};
use tokio::runtime::Runtime;

use crate::store::{ObjectWriter, Store, StoreError, validate_name};

/// The size of each part of a multipart upload (S3 wants at least 5 MiB for all but the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploading at once while the next one is filled.
pub const MAX_PARTS_IN_FLIGHT: usize = 2;

/// The scheme of an S3 store location.
pub const S3_SCHEME: &str = "s3://";

/// A store under a prefix of an S3 bucket.
pub struct CloudStore {
    runtime: Runtime,
    store: Arc<dyn ObjectStore>,
    /// The prefix (no leading or trailing `/`; empty for the bucket's root).
    prefix: String,
    /// The location as given, for messages.
    location: String,
}

impl CloudStore {
    /// Opens `s3://BUCKET[/PREFIX]` with the AWS settings of the environment.
    pub fn open_s3(location: &str) -> Result<Self, StoreError> {
        let config = |message: String| StoreError::Io {
            location: location.to_owned(),
            what: "opening",
            name: String::new(),
            source: io::Error::new(io::ErrorKind::InvalidInput, message),
        };
        let rest = location
            .strip_prefix(S3_SCHEME)
            .ok_or_else(|| config("not an s3:// location".into()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(config("no bucket named: s3://BUCKET/PREFIX".into()));
        }
        let prefix = prefix.trim_matches('/').to_owned();
        if !prefix.is_empty() {
            validate_name(&prefix).map_err(|_| {
                config(format!(
                    "the prefix {prefix:?} must be /-separated segments of [A-Za-z0-9_.-]"
                ))
            })?;
        }
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| config(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| config(format!("cannot start the I/O runtime: {e}")))?;
        Ok(Self {
            runtime,
            store: Arc::new(store),
            prefix,
            location: location.trim_end_matches('/').to_owned(),
        })
    }

    /// The bucket key of `name` (which may be empty: the key prefix of the whole store).
    fn key_of(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    fn path_of(&self, name: &str) -> Result<ObjectPath, StoreError> {
        validate_name(name)?;
        Ok(ObjectPath::from(self.key_of(name)))
    }

    fn error(&self, what: &'static str, name: &str, err: object_store::Error) -> StoreError {
        match err {
            object_store::Error::NotFound { .. } => StoreError::NotFound {
                location: self.location(),
                name: name.to_owned(),
            },
            object_store::Error::AlreadyExists { .. } => StoreError::Exists {
                location: self.location(),
                name: name.to_owned(),
            },
            other => StoreError::Io {
                location: self.location(),
                what,
                name: name.to_owned(),
                source: io::Error::other(other.to_string()),
            },
        }
    }

    fn exists(&self, name: &str, path: &ObjectPath) -> Result<bool, StoreError> {
        match self.runtime.block_on(self.store.head(path)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(self.error("checking", name, err)),
        }
    }

    /// The names (relative to the prefix) of every object whose key starts with `key_prefix`.
    fn keys(&self, key_prefix: &str, limit: Option<usize>) -> Result<Vec<String>, StoreError> {
        // object_store lists by folder: list the folder, then filter on the full prefix.
        let folder = key_prefix
            .rsplit_once('/')
            .map(|(folder, _)| ObjectPath::from(folder));
        let strip = self.key_of("");
        self.runtime.block_on(async {
            let mut listing = self.store.list(folder.as_ref());
            let mut names = Vec::new();
            while let Some(meta) = listing.next().await {
                let meta = meta.map_err(|e| self.error("listing", key_prefix, e))?;
                let key = meta.location.to_string();
                if let Some(name) = key.strip_prefix(&strip)
                    && key.starts_with(key_prefix)
                {
                    names.push(name.to_owned());
                    if limit.is_some_and(|l| names.len() >= l) {
                        break;
                    }
                }
            }
            names.sort();
            Ok(names)
        })
    }
}

impl Store for CloudStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn get(&self, name: &str) -> Result<Box<dyn Read + '_>, StoreError> {
        let path = self.path_of(name)?;
        let result = self
            .runtime
            .block_on(self.store.get(&path))
            .map_err(|e| self.error("opening", name, e))?;
        Ok(Box::new(BodyReader {
            store: self,
            body: result.into_stream(),
            chunk: Bytes::new(),
            name: name.to_owned(),
        }))
    }

    fn size(&self, name: &str) -> Result<u64, StoreError> {
        let path = self.path_of(name)?;
        self.runtime
            .block_on(self.store.head(&path))
            .map(|meta| meta.size)
            .map_err(|e| self.error("reading the size of", name, e))
    }

    fn put(&self, name: &str) -> Result<Box<dyn ObjectWriter + '_>, StoreError> {
        let path = self.path_of(name)?;
        if self.exists(name, &path)? {
            return Err(StoreError::Exists {
                location: self.location(),
                name: name.to_owned(),
            });
        }
        Ok(Box::new(CloudObjectWriter {
            store: self,
            name: name.to_owned(),
            path,
            first_part: Vec::new(),
            upload: None,
        }))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .keys(&self.key_of(prefix), None)?
            .into_iter()
            .filter(|name| validate_name(name).is_ok())
            .collect())
    }

    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.keys(&self.key_of(""), Some(1))?.is_empty())
    }
}

/// A streamed object body as a blocking reader.
struct BodyReader<'s> {
    store: &'s CloudStore,
    body: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
    name: String,
}

impl Read for BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.store.runtime.block_on(self.body.next()) {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(err)) => {
                    return Err(io::Error::other(format!(
                        "{}: reading {}: {err}",
                        self.store.location, self.name
                    )));
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        let head = self.chunk.split_to(n);
        buf.get_mut(..n)
            .ok_or_else(|| io::Error::other("short buffer"))?
            .copy_from_slice(&head);
        Ok(n)
    }
}

/// A new object: buffered until it outgrows one part, then a multipart upload.
struct CloudObjectWriter<'s> {
    store: &'s CloudStore,
    name: String,
    path: ObjectPath,
    /// The bytes written before the upload started (at most one part).
    first_part: Vec<u8>,
    upload: Option<WriteMultipart>,
}

impl CloudObjectWriter<'_> {
    fn start_upload(&mut self) -> io::Result<()> {
        let store = self.store;
        let mut upload = store
            .runtime
            .block_on(store.store.put_multipart(&self.path))
            .map(|u| WriteMultipart::new_with_chunk_size(u, PART_SIZE))
            .map_err(|e| io::Error::other(store.error("starting the upload of", &self.name, e)))?;
        // A full part is spawned as an upload task on the runtime.
        let _context = store.runtime.enter();
        upload.write(&std::mem::take(&mut self.first_part));
        self.upload = Some(upload);
        Ok(())
    }
}

impl Write for CloudObjectWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(upload) = self.upload.as_mut() {
            // Back-pressure: wait while too many parts are on their way.
            self.store
                .runtime
                .block_on(upload.wait_for_capacity(MAX_PARTS_IN_FLIGHT))
                .map_err(|e| io::Error::other(self.store.error("uploading", &self.name, e)))?;
            let _context = self.store.runtime.enter();
            upload.write(buf);
            return Ok(buf.len());
        }
        if self.first_part.len() + buf.len() <= PART_SIZE {
            self.first_part.extend_from_slice(buf);
            return Ok(buf.len());
        }
        self.start_upload()?;
        self.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ObjectWriter for CloudObjectWriter<'_> {
    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let store = self.store;
        let name = self.name.clone();
        match self.upload.take() {
            None => {
                let payload = PutPayload::from(std::mem::take(&mut self.first_part));
                let options = PutOptions {
                    mode: PutMode::Create,
                    ..PutOptions::default()
                };
                store
                    .runtime
                    .block_on(store.store.put_opts(&self.path, payload, options))
                    .map(drop)
                    .map_err(|e| store.error("writing", &name, e))
            }
            Some(upload) => {
                if store.exists(&name, &self.path)? {
                    let _ = store.runtime.block_on(upload.abort());
                    return Err(StoreError::Exists {
                        location: store.location(),
                        name,
                    });
                }
                store
                    .runtime
                    .block_on(upload.finish())
                    .map(drop)
                    .map_err(|e| store.error("completing the upload of", &name, e))
            }
        }
    }
}

impl Drop for CloudObjectWriter<'_> {
    fn drop(&mut self) {
        // Not committed: abort the upload so that its parts are not kept (and billed).
        if let Some(upload) = self.upload.take() {
            let _ = self.store.runtime.block_on(upload.abort());
        }
    }
}
