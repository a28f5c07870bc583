//! Errors of the metadata quorum's public API.
//!
//! [`MetaError`] is what every fallible public function of this crate returns.
//! `NotLeader` carries the leader (if known) so callers can redirect; the HTTP
//! surface maps each variant to a status code and back (see [`crate::api`]).

use serde::{Deserialize, Serialize};

/// Identity and address of a meta node believed to be the leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderInfo {
    /// Raft node id of the leader.
    pub id: u64,
    /// `host:port` of the leader's HTTP listener.
    pub addr: String,
}

/// Error returned by the metadata quorum's API.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// This node is not the leader; `leader` is the current leader if known.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        /// The leader, if this node knows it.
        leader: Option<LeaderInfo>,
    },
    /// No meta node could serve the request (no leader, unreachable, timed out).
    #[error("metadata quorum unavailable: {0}")]
    Unavailable(String),
    /// The request reached a node but its outcome is unknown (e.g. the leader did
    /// not answer in time): the command may or may not have been applied. Not
    /// retried automatically, since commands need not be idempotent.
    #[error("outcome unknown: {0}")]
    Indeterminate(String),
    /// Local I/O failed (data directory, snapshot files, listener).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The embedded log store failed.
    #[error("log store error: {0}")]
    Storage(String),
    /// openraft returned an error that is neither "not leader" nor "unavailable".
    #[error("raft error: {0}")]
    Raft(String),
    /// (De)serialization failed.
    #[error("serialization error: {0}")]
    Serde(#[from] serde_json::Error),
    /// The request was rejected as malformed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The node or client has been shut down.
    #[error("shut down")]
    Shutdown,
}

impl From<redb::Error> for MetaError {
    fn from(e: redb::Error) -> Self {
        MetaError::Storage(e.to_string())
    }
}
