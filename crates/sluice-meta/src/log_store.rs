//! Durable raft log storage on [redb].
//!
//! One redb file (`<data_dir>/raft-log.redb`) holds two tables:
//! - `raft_entries`: log index → JSON of the [`Entry`];
//! - `raft_meta`: the vote, the last committed log id and the last purged log id.
//!
//! Every mutation is one redb write transaction with the default (immediate)
//! durability, so a commit is fsynced before it returns; `append` reports the
//! flush to openraft only after the transaction has committed. redb calls block,
//! so they run on tokio's blocking pool.
//!
//! The store is cheap to clone (it shares the database handle); a clone serves as
//! the [`RaftLogReader`] openraft's replication tasks use.

use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader, StorageIOError, Vote};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::MetaError;
use crate::types::{Entry, LogId, NodeId, StorageError, TypeConfig};

const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_entries");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");

const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_LAST_PURGED: &str = "last_purged";

/// File name of the log database inside the node's data directory.
pub const LOG_FILE_NAME: &str = "raft-log.redb";

/// Raft log, vote and commit index, persisted in redb.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

/// Which kind of storage operation failed, to build the matching openraft error.
#[derive(Clone, Copy)]
enum Op {
    ReadLogs,
    WriteLogs,
    ReadVote,
    WriteVote,
}

impl Op {
    fn err(self, e: impl std::error::Error + 'static) -> StorageError {
        let io = match self {
            Op::ReadLogs => StorageIOError::read_logs(&e),
            Op::WriteLogs => StorageIOError::write_logs(&e),
            Op::ReadVote => StorageIOError::read_vote(&e),
            Op::WriteVote => StorageIOError::write_vote(&e),
        };
        io.into()
    }
}

impl LogStore {
    /// Opens (or creates) the log database at `path`.
    pub fn open(path: &Path) -> Result<Self, MetaError> {
        let db = Database::create(path).map_err(redb::Error::from)?;
        // Create both tables up front so read transactions never see them missing.
        let txn = db.begin_write().map_err(redb::Error::from)?;
        {
            txn.open_table(ENTRIES).map_err(redb::Error::from)?;
            txn.open_table(META).map_err(redb::Error::from)?;
        }
        txn.commit().map_err(redb::Error::from)?;
        Ok(LogStore { db: Arc::new(db) })
    }

    /// Runs a blocking redb operation off the async executor.
    async fn blocking<T, F>(&self, op: Op, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, redb::Error> + Send + 'static,
    {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || f(&db)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(op.err(e)),
            Err(join) => Err(op.err(join)),
        }
    }

    async fn read_meta<T>(&self, key: &'static str, op: Op) -> Result<Option<T>, StorageError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let bytes = self
            .blocking(op, move |db| {
                let txn = db.begin_read()?;
                let table = txn.open_table(META)?;
                let value = table.get(key)?.map(|v| v.value().to_vec());
                Ok(value)
            })
            .await?;
        match bytes {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| op.err(e)),
        }
    }

    async fn write_meta<T: Serialize>(
        &self,
        key: &'static str,
        value: &T,
        op: Op,
    ) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(value).map_err(|e| op.err(e))?;
        self.blocking(op, move |db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(META)?;
                table.insert(key, bytes.as_slice())?;
            }
            txn.commit()?;
            Ok(())
        })
        .await
    }
}

fn decode_entry(bytes: &[u8]) -> Result<Entry, serde_json::Error> {
    serde_json::from_slice(bytes)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = range.start_bound().cloned();
        let end = range.end_bound().cloned();
        let raw = self
            .blocking(Op::ReadLogs, move |db| {
                let txn = db.begin_read()?;
                let table = txn.open_table(ENTRIES)?;
                let mut out = Vec::new();
                for item in table.range::<u64>((start, end))? {
                    let (_, v) = item?;
                    out.push(v.value().to_vec());
                }
                Ok(out)
            })
            .await?;
        let mut entries = Vec::with_capacity(raw.len());
        for bytes in &raw {
            entries.push(decode_entry(bytes).map_err(|e| Op::ReadLogs.err(e))?);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_raw = self
            .blocking(Op::ReadLogs, |db| {
                let txn = db.begin_read()?;
                let table = txn.open_table(ENTRIES)?;
                let last = table.last()?.map(|(_, v)| v.value().to_vec());
                Ok(last)
            })
            .await?;
        let last_purged: Option<LogId> = self.read_meta(KEY_LAST_PURGED, Op::ReadLogs).await?;
        let last_log_id = match last_raw {
            Some(b) => Some(decode_entry(&b).map_err(|e| Op::ReadLogs.err(e))?.log_id),
            None => last_purged,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.write_meta(KEY_VOTE, vote, Op::WriteVote).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.read_meta(KEY_VOTE, Op::ReadVote).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.write_meta(KEY_COMMITTED, &committed, Op::WriteLogs)
            .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self
            .read_meta::<Option<LogId>>(KEY_COMMITTED, Op::ReadLogs)
            .await?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut encoded = Vec::new();
        for entry in entries {
            let bytes = serde_json::to_vec(&entry).map_err(|e| Op::WriteLogs.err(e))?;
            encoded.push((entry.log_id.index, bytes));
        }
        let res = self
            .blocking(Op::WriteLogs, move |db| {
                let txn = db.begin_write()?;
                {
                    let mut table = txn.open_table(ENTRIES)?;
                    for (index, bytes) in &encoded {
                        table.insert(*index, bytes.as_slice())?;
                    }
                }
                // Immediate durability: the commit is on disk when this returns.
                txn.commit()?;
                Ok(())
            })
            .await;
        match res {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "truncating raft log");
        self.blocking(Op::WriteLogs, move |db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(ENTRIES)?;
                table.retain_in::<u64, _>(log_id.index.., |_, _| false)?;
            }
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "purging raft log");
        let purged = serde_json::to_vec(&Some(log_id)).map_err(|e| Op::WriteLogs.err(e))?;
        self.blocking(Op::WriteLogs, move |db| {
            let txn = db.begin_write()?;
            {
                let mut meta = txn.open_table(META)?;
                meta.insert(KEY_LAST_PURGED, purged.as_slice())?;
                let mut table = txn.open_table(ENTRIES)?;
                table.retain_in::<u64, _>(..=log_id.index, |_, _| false)?;
            }
            txn.commit()?;
            Ok(())
        })
        .await
    }
}
