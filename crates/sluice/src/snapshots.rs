//! `sluice meta --snapshot-store URL`: the meta node's [`SnapshotArchive`] on an object store,
//! under `meta-snapshots/` (the newest few are kept; names sort by log index).

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sluice_meta::archive::SnapshotArchive;
use sluice_meta::error::BoxError;

const PREFIX: &str = "meta-snapshots";
/// Archived snapshots kept; older ones are deleted after each upload.
const KEEP: usize = 3;

#[derive(Debug)]
pub struct ObjectSnapshotArchive {
    store: Arc<dyn ObjectStore>,
}

impl ObjectSnapshotArchive {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        ObjectSnapshotArchive { store }
    }

    /// Archived snapshot paths, oldest first.
    async fn names(&self) -> object_store::Result<Vec<Path>> {
        let mut names: Vec<Path> = self
            .store
            .list(Some(&Path::from(PREFIX)))
            .map_ok(|m| m.location)
            .try_collect()
            .await?;
        names.sort();
        Ok(names)
    }
}

impl SnapshotArchive for ObjectSnapshotArchive {
    fn put(&self, name: String, data: Vec<u8>) -> BoxFuture<'_, Result<(), BoxError>> {
        async move {
            let path = Path::from(format!("{PREFIX}/{name}"));
            self.store
                .put(&path, PutPayload::from(data))
                .await
                .map_err(BoxError::from)?;
            let names = self.names().await.map_err(BoxError::from)?;
            for old in names.iter().take(names.len().saturating_sub(KEEP)) {
                if let Err(e) = self.store.delete(old).await {
                    tracing::warn!(object = %old, error = %e, "deleting an old archived snapshot");
                }
            }
            Ok(())
        }
        .boxed()
    }

    fn latest(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, BoxError>> {
        async move {
            let names = self.names().await.map_err(BoxError::from)?;
            let Some(newest) = names.last() else {
                return Ok(None);
            };
            let bytes = self
                .store
                .get(newest)
                .await
                .map_err(BoxError::from)?
                .bytes()
                .await
                .map_err(BoxError::from)?;
            Ok(Some(bytes.to_vec()))
        }
        .boxed()
    }
}
