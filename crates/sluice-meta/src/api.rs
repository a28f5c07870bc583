//! Wire types of the HTTP surface, shared by the server, the raft network and
//! the remote client.
//!
//! Raft RPCs (`/raft/*`) carry openraft's own request/response types as JSON;
//! the replies are `Result<Response, RaftError>` serialized as `{"Ok": ..}` /
//! `{"Err": ..}`. Client API errors are an [`ErrorBody`] with a status code that
//! [`MetaError`] maps to and from, so a remote caller gets the same error enum a
//! local one does.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use openraft::Vote;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::command::CommandResponse;
use crate::error::{LeaderInfo, MetaError};
use crate::feed::ChangeEntry;
use crate::state::MetaState;
use crate::types::{NodeId, SnapshotMeta};

/// Set on a proposal a node forwards to the leader, so it is not forwarded again.
pub const FORWARDED_HEADER: &str = "x-sluice-forwarded";

/// Most entries returned by one `/api/changes` call.
pub const MAX_CHANGES_PER_RESPONSE: usize = 5_000;

/// Answer to `POST /api/propose`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposeResponse {
    /// Log index at which the command was committed and applied.
    pub index: u64,
    /// What the state machine returned.
    pub response: CommandResponse,
}

/// Answer to `GET /api/changes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ChangesResponse {
    /// Entries after the requested index, in order (possibly empty on timeout).
    #[serde(rename = "entries")]
    Entries(Vec<ChangeEntry>),
    /// The requested index is too old; reset to this state, which reflects every
    /// entry up to `index`, then continue from `index`.
    #[serde(rename = "snapshot")]
    Snapshot {
        /// Index the state reflects.
        index: u64,
        /// The full state.
        state: Box<MetaState>,
    },
}

/// Query of `GET /api/changes`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ChangesQuery {
    /// Return entries with index greater than this.
    pub after: u64,
    /// How long to wait for new entries if there are none yet.
    #[serde(default)]
    pub wait_ms: u64,
}

/// Answer to `GET /api/leader`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaderResponse {
    /// The id of the node answering.
    pub node_id: NodeId,
    /// The leader as this node knows it.
    pub leader: Option<LeaderInfo>,
}

/// Body of `POST /api/add-learner`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddLearnerRequest {
    /// Node id of the learner.
    pub id: NodeId,
    /// `host:port` of its HTTP listener.
    pub addr: String,
}

/// Body of `POST /api/change-membership`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeMembershipRequest {
    /// The new voter set (each must already be a learner or voter).
    pub voters: BTreeSet<NodeId>,
    /// Keep removed voters as learners.
    #[serde(default)]
    pub retain: bool,
}

/// Body of `POST /api/add-node`: a node to add as a learner, then promote to voter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddNodeRequest {
    /// Node id of the new node.
    pub id: NodeId,
    /// `host:port` of its HTTP listener.
    pub addr: String,
}

/// Body of `POST /api/remove-node`: a voter or learner to drop from the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoveNodeRequest {
    /// Node id to remove.
    pub id: NodeId,
}

/// Answer to `GET /api/membership` (and to add-node / remove-node, after the change).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MembershipResponse {
    /// The id of the node answering.
    pub node_id: NodeId,
    /// The leader as this node knows it.
    pub leader: Option<LeaderInfo>,
    /// Voters: id → `host:port` (empty while the node is not initialized).
    pub voters: BTreeMap<NodeId, String>,
    /// Learners: id → `host:port`.
    pub learners: BTreeMap<NodeId, String>,
    /// Log index of the membership config (0 when none).
    pub index: u64,
    /// The raft term this node is in (Kafka's leader epoch in DescribeQuorum).
    #[serde(default)]
    pub term: u64,
    /// Last log index this node applied (the high watermark DescribeQuorum reports).
    #[serde(default)]
    pub applied: u64,
    /// Last log index in this node's log.
    #[serde(default)]
    pub last_log_index: u64,
    /// On the leader: each other member's matched log index (replication progress, absent
    /// until the first append reaches it); empty on followers.
    #[serde(default)]
    pub matched: BTreeMap<NodeId, u64>,
}

/// Body of `POST /api/init`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitRequest {
    /// Initial voters: node id → `host:port`.
    pub members: BTreeMap<NodeId, String>,
}

/// Answer to membership changes: the log index of the change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexResponse {
    /// Log index of the (last) entry written.
    pub index: u64,
}

/// Body of `POST /raft/snapshot`: a complete snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstallSnapshotBody {
    /// The leader's vote.
    pub vote: Vote<NodeId>,
    /// Snapshot metadata.
    pub meta: SnapshotMeta,
    /// Snapshot data (the JSON of a `MetaState`, hence valid UTF-8).
    pub data: String,
}

/// Error body of the client API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable kind: `not_leader`, `unavailable`, `indeterminate`, `invalid`,
    /// `shutdown`, `internal`.
    pub error: String,
    /// Human-readable message.
    pub message: String,
    /// The leader, for `not_leader`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<LeaderInfo>,
}

impl ErrorBody {
    /// The status code and body a [`MetaError`] is answered with.
    pub fn from_error(e: &MetaError) -> (StatusCode, ErrorBody) {
        let (status, kind, leader) = match e {
            MetaError::NotLeader { leader } => (
                StatusCode::MISDIRECTED_REQUEST,
                "not_leader",
                leader.clone(),
            ),
            MetaError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
            MetaError::Shutdown => (StatusCode::SERVICE_UNAVAILABLE, "shutdown", None),
            MetaError::Indeterminate { .. } => (StatusCode::GATEWAY_TIMEOUT, "indeterminate", None),
            MetaError::Invalid(_) | MetaError::Serde(_) => {
                (StatusCode::BAD_REQUEST, "invalid", None)
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        };
        let body = ErrorBody {
            error: kind.to_string(),
            message: e.to_string(),
            leader,
        };
        (status, body)
    }

    /// The [`MetaError`] a remote caller reconstructs from this body, answered with
    /// `status`. Only the message crossed the wire, so the error has no source; an
    /// `internal` (or unknown) kind becomes [`MetaError::Remote`].
    pub fn into_error(self, status: StatusCode) -> MetaError {
        match self.error.as_str() {
            "not_leader" => MetaError::NotLeader {
                leader: self.leader,
            },
            "unavailable" => MetaError::unavailable(self.message),
            "shutdown" => {
                MetaError::unavailable(format!("remote node shut down: {}", self.message))
            }
            "invalid" => MetaError::Invalid(self.message),
            "indeterminate" => MetaError::indeterminate(self.message),
            _ => MetaError::Remote {
                status,
                message: self.message,
            },
        }
    }
}

/// Decodes a client-API answer: JSON `Resp` on success, an [`ErrorBody`] otherwise.
pub(crate) async fn decode_response<Resp: DeserializeOwned>(
    resp: reqwest::Response,
) -> Result<Resp, MetaError> {
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| MetaError::indeterminate_from("reading answer", e))?;
    if status.is_success() {
        return Ok(serde_json::from_slice(&bytes)?);
    }
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => Err(body.into_error(status)),
        Err(_) => Err(MetaError::Remote {
            status,
            message: format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)),
        }),
    }
}

/// Parses a comma-separated list of meta endpoints (`host:port` or full URLs, `http://`
/// assumed when no scheme is given, trailing `/` dropped); an empty list is [`MetaError::Invalid`].
pub(crate) fn parse_endpoints(endpoints: &str) -> Result<Vec<String>, MetaError> {
    let list: Vec<String> = endpoints
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let s = s.trim_end_matches('/');
            if s.contains("://") {
                s.to_string()
            } else {
                format!("http://{s}")
            }
        })
        .collect();
    if list.is_empty() {
        return Err(MetaError::Invalid("no meta endpoints given".to_string()));
    }
    Ok(list)
}
