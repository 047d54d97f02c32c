//! Which store a repository location names: `s3://BUCKET/PREFIX` or a local folder.

use std::io;
use std::path::Path;

use crate::cloud::{CloudStore, S3_SCHEME};
use crate::store::{LocalStore, Store, StoreError};

/// The store `location` names: `s3://BUCKET/PREFIX` (see [`crate::cloud`]) or a local folder.
pub fn open(location: &Path) -> Result<Box<dyn Store>, StoreError> {
    if let Some(text) = location.to_str()
        && let Some((scheme, _)) = text.split_once("://")
        && !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+')
    {
        if format!("{scheme}://") == S3_SCHEME {
            return Ok(Box::new(CloudStore::open_s3(text)?));
        }
        return Err(StoreError::Io {
            location: text.to_owned(),
            what: "opening",
            name: String::new(),
            source: io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "{scheme}:// stores are not supported: use s3:// (S3 and S3-compatible \
                     services) or a local folder"
                ),
            ),
        });
    }
    Ok(Box::new(LocalStore::new(location)))
}
