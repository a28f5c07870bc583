//! Topics and the offset index of their partitions: [`Topic`], [`PartitionLog`], [`Chunk`].
//!
//! Plain data, stored in [`crate::state::MetaState::topics`] (and re-exported from
//! [`crate::state`]) and read by agents from their replica. A chunk may be a transaction marker
//! ([`TxnMarker`]; [`crate::txn`] is the transaction coordinator that writes them); the
//! logic that changes the index (segment commits, retention, markers) lives in
//! [`crate::apply`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A topic: its id, config overrides and the offset index of each partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Topic {
    /// The topic's name.
    pub name: String,
    /// The topic's id (Kafka's topic id, KIP-516); a re-created topic gets a new one.
    pub id: Uuid,
    /// Overrides only; defaults live with the agent's config.
    pub configs: BTreeMap<String, String>,
    /// The partitions' offset indexes, by partition index.
    pub partitions: Vec<PartitionLog>,
    /// Proposer's clock at creation (ms since the Unix epoch).
    pub created_ms: i64,
}

/// The offset index of one partition.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PartitionLog {
    /// Kafka's log start offset: the first offset still readable (moved by retention and
    /// DeleteRecords).
    pub log_start_offset: i64,
    /// Kafka's high watermark: the offset the next appended record gets (everything below is
    /// committed).
    pub high_watermark: i64,
    /// Base offset -> a run of batches stored contiguously in one object.
    pub chunks: BTreeMap<i64, Chunk>,
    /// Largest timestamp in the log and the base offset of the batch holding it
    /// (ListOffsets MAX_TIMESTAMP).
    pub max_timestamp: i64,
    /// Base offset of the batch holding `max_timestamp`.
    pub max_timestamp_offset: i64,
    /// Producer id -> first offset of its open transaction here; the smallest is the last
    /// stable offset ([`PartitionLog::last_stable_offset`]).
    #[serde(default)]
    pub open_txns: BTreeMap<i64, i64>,
    /// Aborted transactions' offset ranges, oldest first, for read_committed fetches.
    #[serde(default)]
    pub aborted_txns: Vec<AbortedTxn>,
    /// Producer id -> the offsets `(first, last)` of its open transaction's batches here,
    /// coalesced. At an abort they join `aborted_runs`; at a commit they are forgotten.
    #[serde(default)]
    pub open_txn_runs: BTreeMap<i64, Vec<(i64, i64)>>,
    /// The offsets `(first, last)` of aborted transactions' records, sorted, disjoint and
    /// coalesced: what a share group reading committed data archives instead of delivering
    /// (Kafka's `SharePartition` finds them by reading the batches; Sluice's index knows them).
    #[serde(default)]
    pub aborted_runs: Vec<(i64, i64)>,
    /// Log compaction's checkpoint: offsets below it have been cleaned (0: never).
    #[serde(default)]
    pub cleaned_offset: i64,
}

/// A run of batches of one partition, contiguous in one object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Chunk {
    /// The object's key in the object store; empty for a transaction marker.
    pub object: String,
    /// The object's size in bytes.
    pub object_len: u64,
    /// Byte position of the chunk's first batch in the object.
    pub pos: u64,
    /// Length of the chunk in bytes (its batches, back to back).
    pub len: u64,
    /// Offsets covered: `[base, base + records)`.
    pub records: i64,
    /// Largest `maxTimestamp` of the chunk's batches (ms since the Unix epoch); retention and time
    /// lookups use it.
    pub max_timestamp: i64,
    /// A transaction marker in place of stored bytes: the chunk holds one offset, has no
    /// object (`object` empty, `len` 0), and readers render its control batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<TxnMarker>,
}

impl PartitionLog {
    /// The chunks holding `offset` and everything after it, in offset order.
    pub fn chunks_from(&self, offset: i64) -> impl Iterator<Item = (i64, &Chunk)> {
        let start = self
            .chunks
            .range(..=offset)
            .next_back()
            .filter(|(b, c)| **b + c.records > offset)
            .map(|(b, _)| *b)
            .unwrap_or(offset);
        self.chunks.range(start..).map(|(b, c)| (*b, c))
    }

    /// Adds `chunk` at `base` and counts its object's reference in `refs`.
    pub(crate) fn append_chunk(
        &mut self,
        base: i64,
        chunk: Chunk,
        refs: &mut BTreeMap<String, u64>,
    ) {
        *refs.entry(chunk.object.clone()).or_default() += 1;
        self.chunks.insert(base, chunk);
    }

    /// The last stable offset (LSO): the first offset of the oldest open transaction, or the
    /// high watermark when none is open. read_committed consumers read below it.
    pub fn last_stable_offset(&self) -> i64 {
        self.open_txns
            .values()
            .copied()
            .min()
            .unwrap_or(self.high_watermark)
            .min(self.high_watermark)
    }

    /// Aborted transactions overlapping `[from, to)`, oldest first (Fetch's
    /// `AbortedTransactions`, as Kafka's `LogSegment.collectAbortedTxns`).
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        self.aborted_txns
            .iter()
            .filter(|a| a.last_offset >= from && a.first_offset < to)
            .copied()
            .collect()
    }
}

/// A commit or abort marker stored in a partition's index in place of a control batch.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct TxnMarker {
    /// Producer id of the transaction the marker ends (the id its data was written with).
    pub producer_id: i64,
    /// Producer epoch of the marker (the new epoch when the end bumped it).
    pub producer_epoch: i16,
    /// `true` for a COMMIT marker, `false` for ABORT.
    pub commit: bool,
    /// Kafka's coordinator epoch in the marker's value (Sluice has one coordinator: 0).
    pub coordinator_epoch: i32,
}

/// An aborted transaction's offsets in one partition: data from `first_offset` up to the abort
/// marker at `last_offset`, Fetch's `AbortedTransaction` (Kafka's `AbortedTxn`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The aborted transaction's producer id.
    pub producer_id: i64,
    /// First offset of the transaction's data in the partition (inclusive).
    pub first_offset: i64,
    /// Offset of the abort marker (inclusive).
    pub last_offset: i64,
}
