//! Readiness of a meta node and of a quorum client, for the `/health/ready` endpoints.
//!
//! A meta node is ready when it has joined the quorum: it is a voter, knows a leader (and, when
//! it leads, has heard from a quorum recently), and has applied what it has in its log, give or
//! take [`APPLY_SLACK`] entries in flight. A [`MetaClient`](crate::MetaClient) (what agents use)
//! is ready when its replica's change feed answers and the replica has applied every write a
//! proposal of this client returned.

use crate::types::NodeId;

/// Entries a ready node's apply may trail its log by: entries appended but not yet known
/// committed, normally a handful.
pub const APPLY_SLACK: u64 = 64;

/// Why a meta node or a quorum client is not ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// No leader is known (an election is going on, or this node is cut off).
    #[error("no meta leader known")]
    NoLeader,
    /// This node is not a voter of the membership it knows (a fresh or replacement node
    /// waiting to be added, or a learner catching up).
    #[error("meta node {id} is not a voter of the quorum")]
    NotVoter {
        /// This node's id.
        id: NodeId,
    },
    /// This node leads but no quorum acknowledged it for `ms` milliseconds.
    #[error("meta leader cut off from its followers for {ms} ms")]
    CutOff {
        /// Milliseconds since the last quorum acknowledgement.
        ms: u64,
    },
    /// The state machine (or the client's replica) trails what it must have applied.
    #[error("replica behind: applied {applied}, needs {needed}")]
    Behind {
        /// Last applied log index.
        applied: u64,
        /// Index it must reach.
        needed: u64,
    },
    /// The client's last poll of the change feed failed (no meta node reachable).
    #[error("meta change feed unreachable")]
    FeedDown,
    /// The node or client is shutting down.
    #[error("shutting down")]
    ShuttingDown,
}
