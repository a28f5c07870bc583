//! Opening the object store named by a URL.
//!
//! `file:///abs/dir` (the embedded default), `s3://bucket[/prefix]` (S3, MinIO, any S3-compatible
//! server via `endpoint`), and `memory://` (tests). Every data read and write goes through
//! `object_store`, except the segment writes of a `file://` store, which [`crate::direct`] does
//! with `O_DIRECT`; credentials for S3 come from the usual AWS environment variables.

use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

/// Which object store to open: the data store (segments, tables) or the quorum's snapshot store.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ObjectStoreConfig {
    /// `file:///path`, `s3://bucket[/prefix]` or `memory://`.
    pub url: String,
    /// S3 endpoint override (MinIO: `http://127.0.0.1:9000`).
    pub s3_endpoint: Option<String>,
    /// S3 region override (else `AWS_REGION` / `AWS_DEFAULT_REGION`, as `object_store` reads
    /// them).
    pub s3_region: Option<String>,
    /// Path-style addressing, needed by MinIO and most S3-compatible servers.
    #[serde(default)]
    pub s3_path_style: bool,
}

/// Why the object store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL's scheme is not `file://`, `s3://` or `memory://`.
    #[error("unsupported object store url '{0}' (expected file://, s3:// or memory://)")]
    UnsupportedUrl(String),
    /// `object_store` refused the configuration (e.g. an S3 builder error).
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// A `file://` store's directory could not be created.
    #[error("cannot create {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Opens the store `cfg.url` names: a local directory (created if missing), S3 (credentials
/// from the AWS environment; S3 Express for directory buckets; a `/prefix` wraps it in a
/// `PrefixStore`) or memory. Nothing is contacted yet. Errors: [`StoreError`].
pub fn open_object_store(cfg: &ObjectStoreConfig) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let url = cfg.url.as_str();
    if let Some(path) = url.strip_prefix("file://") {
        std::fs::create_dir_all(path).map_err(|source| StoreError::CreateDir {
            path: path.into(),
            source,
        })?;
        return Ok(Arc::new(LocalFileSystem::new_with_prefix(path)?));
    }
    if url.starts_with("memory://") {
        return Ok(Arc::new(InMemory::new()));
    }
    if let Some((bucket, prefix)) = crate::bucket::s3_bucket_and_prefix(url) {
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if crate::bucket::directory_bucket_zone(bucket).is_some() {
            // S3 Express One Zone: session-based auth and the zonal endpoint.
            b = b.with_s3_express(true);
        }
        if let Some(ep) = &cfg.s3_endpoint {
            b = b
                .with_endpoint(ep)
                .with_allow_http(ep.starts_with("http://"));
        }
        if let Some(r) = &cfg.s3_region {
            b = b.with_region(r);
        }
        if cfg.s3_path_style || cfg.s3_endpoint.is_some() {
            b = b.with_virtual_hosted_style_request(false);
        }
        let s3: Arc<dyn ObjectStore> = Arc::new(b.build()?);
        if prefix.is_empty() {
            return Ok(s3);
        }
        return Ok(Arc::new(PrefixStore::new(s3, prefix)));
    }
    Err(StoreError::UnsupportedUrl(url.to_string()))
}

/// Key [`probe_store`] asks for; it never exists.
const PROBE_KEY: &str = "sluice-health-probe";

/// Checks that `store` answers: a `HEAD` of a key that does not exist must come back
/// "not found" (anything else, such as access denied or a connection error, is returned).
/// Used by the readiness endpoints; costs one request.
pub async fn probe_store(store: &dyn ObjectStore) -> Result<(), object_store::Error> {
    match store.head(&object_store::path::Path::from(PROBE_KEY)).await {
        Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The directory behind a `file://` store, whose writes need an explicit fsync to be durable.
pub fn local_root(cfg: &ObjectStoreConfig) -> Option<std::path::PathBuf> {
    cfg.url
        .strip_prefix("file://")
        .map(std::path::PathBuf::from)
}

/// Writes `data` as the object `key` and returns once it is durable: the one way a segment
/// (an agent's flush, or a compaction job's output) is written.
///
/// - `local` is the directory behind a `file://` store ([`local_root`]), `None` for any other;
/// - there, with `direct`, the file is written with `O_DIRECT` and fsynced
///   ([`crate::direct::write_local_object`]); without it, `store.put` then
///   [`sync_local_object`] (a fault-injecting store wraps `store`, so tests keep their faults);
/// - elsewhere `store.put` alone (an object store's PUT is durable when it answers).
///
/// Errors: the store's error, or an I/O error of the local write or sync as
/// `object_store::Error::Generic` (store `LocalFileSystem`).
pub async fn put_durable(
    store: &dyn ObjectStore,
    local: Option<&std::path::Path>,
    direct: bool,
    key: &str,
    data: Bytes,
) -> Result<(), object_store::Error> {
    let io_error = |e: std::io::Error| object_store::Error::Generic {
        store: "LocalFileSystem",
        source: Box::new(e),
    };
    match local {
        Some(root) if direct => crate::direct::write_local_object(root, key, data)
            .await
            .map_err(io_error),
        Some(root) => {
            store
                .put(&ObjectPath::from(key), PutPayload::from(data))
                .await?;
            sync_local_object(root, key).await.map_err(io_error)
        }
        None => store
            .put(&ObjectPath::from(key), PutPayload::from(data))
            .await
            .map(|_| ()),
    }
}

/// Makes a freshly written object of a `file://` store durable: `object_store`'s local backend
/// writes and renames but never fsyncs, and an acknowledged record must survive a power loss,
/// not only a process crash. Syncs the file, then its directory (which holds the rename).
pub async fn sync_local_object(root: &std::path::Path, key: &str) -> std::io::Result<()> {
    let path = root.join(key);
    tokio::task::spawn_blocking(move || {
        std::fs::File::open(&path)?.sync_all()?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })
    .await
    .map_err(std::io::Error::other)?
}
