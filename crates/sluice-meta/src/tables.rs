//! Topics written as tables (`sluice.table.enable`): per topic, how far the table has got in
//! each partition and which Iceberg metadata file is current, changed only by one conditional
//! command per table commit. That command is what makes the table exactly-once: the files of a
//! commit are written first (under unique names), then [`TableCommand::Commit`] names them and
//! the offsets they cover, and is refused unless it follows the current commit and comes from
//! the lease holder. An agent that dies before it leaves only unreferenced files; one that dies
//! after has moved the offsets on; either way the next writer starts from the quorum's offsets.
//!
//! This module holds the tables' data and commands; applying them is [`crate::apply::tables`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Kafka's FENCED_LEADER_EPOCH: the answer to a lease or commit from an agent that does not
/// hold the table's lease.
pub const LEASE_NOT_HELD: i16 = 74;

/// One topic's table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TableState {
    /// The topic incarnation the table belongs to (a re-created topic starts a new table).
    pub topic_id: Uuid,
    /// Per partition (index = partition), the first offset not yet in the table.
    pub next_offsets: Vec<i64>,
    /// Object key of the current Iceberg metadata file; empty before the first commit.
    pub metadata: String,
    /// Commits so far; a commit must carry `version + 1`.
    pub version: u64,
    /// The agent allowed to lease and commit, if any (an expired lease is kept until replaced).
    pub lease: Option<TableLease>,
    /// Records written, and how many of them had a value that could not be decoded.
    pub records: u64,
    /// Of `records`, how many had a value that could not be decoded.
    pub malformed: u64,
    /// Proposer's clock at the newest commit.
    pub committed_ms: i64,
}

/// Which agent may write a table, until when (the proposers' clocks).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableLease {
    /// The holding agent's node id.
    pub agent_id: i32,
    /// When the lease ends (ms since the Unix epoch, proposer's clock, exclusive): held while
    /// `now_ms < expires_ms`.
    pub expires_ms: i64,
}

/// A table commit: the files are written; this makes them current.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableCommit {
    /// Name of the topic the table belongs to.
    pub topic: String,
    /// The topic's current id; the commit is refused (UNKNOWN_TOPIC_OR_PARTITION) for another
    /// incarnation.
    pub topic_id: Uuid,
    /// The committing agent; must hold the lease ([`LEASE_NOT_HELD`] otherwise).
    pub agent_id: i32,
    /// Proposer's clock at the commit (ms since the Unix epoch); the lease must not have expired by
    /// then.
    pub now_ms: i64,
    /// Must be the table's `version + 1`.
    pub version: u64,
    /// The new first-offset-not-in-the-table per partition: never below the current ones, never
    /// above a partition's high watermark.
    pub next_offsets: Vec<i64>,
    /// The new current metadata file (the current one again when only offsets moved, e.g. past
    /// transaction markers).
    pub metadata: String,
    /// Records the commit added, and how many of them are malformed.
    pub records: u64,
    /// Of `records`, how many had a value that could not be decoded.
    pub malformed: u64,
    /// The lease is extended to `now_ms + lease_ms`.
    pub lease_ms: i64,
}

/// A command on one topic's table, applied by [`crate::apply::tables::apply`]: `Ok`, or an error with
/// [`LEASE_NOT_HELD`], UNKNOWN_TOPIC_OR_PARTITION or INVALID_REQUEST.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum TableCommand {
    /// Takes or renews the lease: granted when free, expired, or already this agent's.
    Lease {
        /// Name of the topic.
        topic: String,
        /// The topic's current id (UNKNOWN_TOPIC_OR_PARTITION for another incarnation).
        topic_id: Uuid,
        /// The agent asking for the lease.
        agent_id: i32,
        /// Proposer's clock (ms since the Unix epoch).
        now_ms: i64,
        /// Lease length (ms): it runs until `now_ms + lease_ms`.
        lease_ms: i64,
    },
    /// Makes a written table commit current (see [`TableCommit`]); INVALID_REQUEST when its version
    /// or offsets do not follow the table's, [`LEASE_NOT_HELD`] without the lease.
    Commit(TableCommit),
}
