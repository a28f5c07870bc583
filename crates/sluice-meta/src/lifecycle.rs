//! Storage lifecycle in the quorum: retention, DeleteRecords, job leases and the conditional
//! index swap that segment compaction and log compaction end with.
//!
//! Every change here only ever removes index entries or replaces a run of them by entries
//! covering the same records; objects no entry references any more go to
//! [`crate::state::MetaState::garbage`], which the janitor deletes after a grace period (readers that
//! resolved the old entries just before a swap still find their objects).
//!
//! A compaction job reads some index entries, writes their (possibly filtered) batches into a
//! new object, then proposes ONE [`ChunkSwap`]: it applies only if every entry the job read is
//! still in the index unchanged, so a concurrent retention, DeleteRecords, topic deletion or
//! another job's swap wins, and the job's object becomes garbage at once.
//!
//! This module holds the commands, answers and leases; applying them (and retention) to the
//! state is [`crate::apply::lifecycle`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::topics::Chunk;

/// Kafka's POLICY_VIOLATION (DeleteRecords on a topic without `delete` in `cleanup.policy`).
pub const POLICY_VIOLATION: i16 = 44;
/// Kafka's OFFSET_OUT_OF_RANGE.
pub const OFFSET_OUT_OF_RANGE: i16 = 1;

/// Broker-wide retention, for topics without a `retention.ms` / `retention.bytes` override
/// (Kafka's `log.retention.ms` and `log.retention.bytes`). `-1` keeps forever.
///
/// A command stored before these existed decodes with both at -1, which is what such a
/// command meant when it was applied.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct RetentionDefaults {
    /// Milliseconds; data whose newest timestamp is older than this goes.
    pub retention_ms: i64,
    /// Bytes per partition; the oldest chunks go while the rest still holds at least this.
    pub retention_bytes: i64,
}

impl Default for RetentionDefaults {
    fn default() -> Self {
        RetentionDefaults {
            retention_ms: -1,
            retention_bytes: -1,
        }
    }
}

/// Lifecycle commands ([`crate::command::Command::Lifecycle`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum LifecycleCommand {
    /// DeleteRecords (Kafka API 21): moves each partition's log start offset up to `offset`
    /// (`-1` = the high watermark). Answered with [`LifecycleResponse::RecordsDeleted`].
    DeleteRecords {
        /// The partitions and their new log start offsets.
        partitions: Vec<DeleteRecordsTarget>,
    },
    /// Takes (or renews) the lease on `job` for `holder` until `now_ms + ttl_ms`, unless another
    /// holder's lease is still running. Answered with [`LifecycleResponse::Lease`].
    AcquireLease {
        /// The job's lease name (one per kind of job, e.g. the compaction lease).
        job: String,
        /// The node id asking for the lease.
        holder: i32,
        /// Proposer's clock (ms since the Unix epoch); a lease with `expires_ms <= now_ms` is free.
        now_ms: i64,
        /// Lease length (ms).
        ttl_ms: i64,
    },
    /// Gives the lease on `job` up, if `holder` holds it.
    ReleaseLease {
        /// The job's lease name.
        job: String,
        /// The node giving the lease up; a lease held by another is left alone.
        holder: i32,
    },
    /// Replaces index entries of one partition by a compaction's output (see [`ChunkSwap`]).
    SwapChunks(ChunkSwap),
}

/// One partition of a DeleteRecords request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeleteRecordsTarget {
    /// The topic's name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// The new log start offset; `-1` means the high watermark.
    pub offset: i64,
}

/// One partition's DeleteRecords result (Kafka's `DeleteRecordsPartitionResult`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeleteRecordsResult {
    /// NONE, UNKNOWN_TOPIC_OR_PARTITION, [`POLICY_VIOLATION`] or [`OFFSET_OUT_OF_RANGE`] (offset
    /// negative or above the high watermark).
    pub error_code: i16,
    /// The log start offset after the deletion; -1 on error.
    pub low_watermark: i64,
}

/// A compaction's index swap for one partition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChunkSwap {
    /// The topic's name.
    pub topic: String,
    /// The topic's id when the job read it; the swap does not apply to a re-created topic.
    pub topic_id: Uuid,
    /// The partition index.
    pub partition: i32,
    /// The entries the job read, exactly as it read them (base offset and chunk).
    pub inputs: Vec<(i64, Chunk)>,
    /// What replaces them: entries in the new object, within the inputs' offset range. Offsets
    /// the inputs held that no output covers are gone (log compaction dropped their batches).
    pub outputs: Vec<(i64, Chunk)>,
    /// Log compaction: every offset below this has been cleaned (Kafka's cleaner checkpoint).
    pub cleaned_offset: Option<i64>,
    /// Proposer's clock at the proposal (ms since the Unix epoch). With the two fields below it
    /// refuses a swap whose output the janitor may take for an orphan, as in
    /// [`crate::command::SegmentCommit`].
    pub now_ms: i64,
    /// When the output's upload began (proposer's clock, ms since the Unix epoch).
    pub uploaded_ms: i64,
    /// Refused with REQUEST_TIMED_OUT (the outputs become garbage) when `now_ms - uploaded_ms`
    /// exceeds this; 0 disables the check.
    pub max_age_ms: i64,
}

/// Lifecycle responses ([`crate::command::CommandResponse::Lifecycle`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum LifecycleResponse {
    /// Per DeleteRecords target, in order.
    RecordsDeleted(Vec<DeleteRecordsResult>),
    /// Whether the lease was granted.
    Lease(bool),
    /// Whether the swap applied; `false` means the inputs changed (the output is garbage).
    Swapped(bool),
}

/// A held job lease.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lease {
    /// The node id holding the lease.
    pub holder: i32,
    /// Proposer's clock at which the lease lapses.
    pub expires_ms: i64,
}

/// Whether `cleanup.policy` (default `delete`) names `policy`.
pub fn has_policy(configs: &std::collections::BTreeMap<String, String>, policy: &str) -> bool {
    configs
        .get("cleanup.policy")
        .map_or("delete", String::as_str)
        .split(',')
        .any(|p| p.trim() == policy)
}
