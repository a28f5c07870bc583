//! The raft state machine: [`MetaState`] plus what openraft needs around it.
//!
//! Applying an entry mutates the shared [`Replica`] (so local readers see it at
//! once), appends `(index, Option<Command>)` to the [`ChangeFeed`], and then
//! publishes the new applied index. The state machine itself is not persisted on
//! every apply: durability comes from the raft log, and a restart loads the
//! latest snapshot and then replays the committed log after it (openraft
//! re-applies up to the saved committed index on startup).
//!
//! Snapshots serialize the state to JSON, are written atomically by
//! [`SnapshotStore`], and only the latest is kept. The data is serialized when the
//! builder is created (on the state machine task, so it is consistent with
//! `last_applied`); the file write happens in the builder, off that task.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};

use crate::archive::SnapshotArchive;
use crate::error::MetaError;
use crate::feed::{ChangeEntry, ChangeFeed};
use crate::replica::Replica;
use crate::snapshot_store::SnapshotStore;
use crate::state::MetaState;
use crate::types::{Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};

/// openraft state machine over [`MetaState`].
pub struct StateMachineStore {
    replica: Replica,
    feed: Arc<ChangeFeed>,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    snapshots: Arc<SnapshotStore>,
    archive: Option<Arc<dyn SnapshotArchive>>,
}

impl StateMachineStore {
    /// Opens the state machine, loading the latest snapshot from `snapshot_dir`.
    pub fn open(snapshot_dir: &Path, feed_capacity: usize) -> Result<Self, MetaError> {
        let (snapshots, loaded) = SnapshotStore::open(snapshot_dir)?;
        let (state, last_applied, last_membership) = match loaded {
            Some((meta, data)) => {
                let state: MetaState = serde_json::from_slice(&data)?;
                tracing::info!(snapshot = %meta, "loaded metadata snapshot");
                (state, meta.last_log_id, meta.last_membership)
            }
            None => (MetaState::default(), None, StoredMembership::default()),
        };
        let applied = last_applied.map_or(0, |l| l.index);
        Ok(StateMachineStore {
            replica: Replica::new(state, applied),
            feed: Arc::new(ChangeFeed::new(feed_capacity, applied)),
            last_applied,
            last_membership,
            snapshots: Arc::new(snapshots),
            archive: None,
        })
    }

    /// Also uploads every snapshot built to `archive`.
    pub fn with_archive(mut self, archive: Option<Arc<dyn SnapshotArchive>>) -> Self {
        self.archive = archive;
        self
    }

    /// The state this machine applies to.
    pub fn replica(&self) -> Replica {
        self.replica.clone()
    }

    /// The feed of applied entries.
    pub fn feed(&self) -> Arc<ChangeFeed> {
        self.feed.clone()
    }
}

/// Builds one snapshot from state serialized when the builder was created.
pub struct SnapshotBuilder {
    meta: SnapshotMeta,
    data: Result<Vec<u8>, String>,
    snapshots: Arc<SnapshotStore>,
    archive: Option<Arc<dyn SnapshotArchive>>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let meta = self.meta.clone();
        let sig = Some(meta.signature());
        let data = match &self.data {
            Ok(d) => d.clone(),
            Err(e) => {
                return Err(
                    StorageIOError::write_snapshot(sig, &std::io::Error::other(e.clone())).into(),
                )
            }
        };
        let store = self.snapshots.clone();
        let (m, d) = (meta.clone(), data.clone());
        let saved = tokio::task::spawn_blocking(move || store.save(&m, &d))
            .await
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?;
        tracing::info!(snapshot = %meta, bytes = data.len(), saved, "built metadata snapshot");
        if let (true, Some(archive)) = (saved, &self.archive) {
            // Best effort: the local snapshot is what raft relies on; the archive speeds up
            // recovering a node that lost its disk, and the next snapshot retries.
            let name = crate::archive::archive_name(&meta);
            match crate::archive::encode(&meta, &data) {
                Ok(blob) => match archive.put(name.clone(), blob).await {
                    Ok(()) => tracing::info!(%name, "archived metadata snapshot"),
                    Err(e) => {
                        tracing::warn!(%name, error = %e, "archiving the metadata snapshot failed")
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "encoding the snapshot for the archive failed")
                }
            }
        }
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.last_membership.clone()))
    }

    async fn apply<I>(
        &mut self,
        entries: I,
    ) -> Result<Vec<crate::command::CommandResponse>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let Some(last) = entries.last().map(|e| e.log_id) else {
            return Ok(Vec::new());
        };
        let mut memberships = Vec::new();
        let (responses, changes) = self.replica.update(|state| {
            let mut responses = Vec::with_capacity(entries.len());
            let mut changes = Vec::with_capacity(entries.len());
            for entry in entries {
                let index = entry.log_id.index;
                let command = match entry.payload {
                    EntryPayload::Normal(cmd) => {
                        responses.push(state.apply(&cmd));
                        Some(cmd)
                    }
                    EntryPayload::Blank => {
                        responses.push(Default::default());
                        None
                    }
                    EntryPayload::Membership(m) => {
                        memberships.push(StoredMembership::new(Some(entry.log_id), m));
                        responses.push(Default::default());
                        None
                    }
                };
                changes.push(ChangeEntry { index, command });
            }
            (last.index, (responses, changes))
        });
        if let Some(m) = memberships.pop() {
            tracing::info!(membership = %m, "applied membership change");
            self.last_membership = m;
        }
        self.last_applied = Some(last);
        self.feed.push(changes);
        self.replica.publish(last.index);
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let data = self
            .replica
            .read(serde_json::to_vec)
            .map_err(|e| e.to_string());
        let index = self.last_applied.map_or(0, |l| l.index);
        let snapshot_id = format!("{}-{}", index, uuid::Uuid::new_v4().simple());
        SnapshotBuilder {
            meta: SnapshotMeta {
                last_log_id: self.last_applied,
                last_membership: self.last_membership.clone(),
                snapshot_id,
            },
            data,
            snapshots: self.snapshots.clone(),
            archive: self.archive.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let sig = Some(meta.signature());
        let data = snapshot.into_inner();
        let state: MetaState = serde_json::from_slice(&data)
            .map_err(|e| StorageIOError::read_snapshot(sig.clone(), &e))?;
        let store = self.snapshots.clone();
        let m = meta.clone();
        tokio::task::spawn_blocking(move || store.save(&m, &data))
            .await
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?;

        let index = meta.last_log_id.map_or(0, |l| l.index);
        tracing::info!(snapshot = %meta, "installed metadata snapshot");
        self.replica.reset(state, index);
        self.last_applied = meta.last_log_id;
        self.last_membership = meta.last_membership.clone();
        self.feed.reset(index);
        self.replica.publish(index);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let store = self.snapshots.clone();
        let sig = store.current_meta().map(|m| m.signature());
        let loaded = tokio::task::spawn_blocking(move || store.load_current())
            .await
            .map_err(|e| StorageIOError::read_snapshot(sig.clone(), &e))?
            .map_err(|e| StorageIOError::read_snapshot(sig.clone(), &e))?;
        Ok(loaded.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}
