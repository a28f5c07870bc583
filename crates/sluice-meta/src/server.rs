//! The HTTP listener of a meta node: raft RPCs and the client API.
//!
//! Raft (peer to peer):
//! - `POST /raft/append`, `POST /raft/vote`: openraft requests, answered with
//!   `Result<Response, RaftError>` as JSON.
//! - `POST /raft/snapshot`: a whole snapshot ([`InstallSnapshotBody`]).
//!
//! Client API:
//! - `POST /api/propose` (body: a `Command`): answers [`ProposeResponse`]; a
//!   follower forwards to the leader unless the request was itself forwarded.
//! - `GET /api/changes?after=N&wait_ms=M`: long-poll of the change feed
//!   ([`ChangesResponse`]).
//! - `GET /api/leader`, `GET /api/membership`, `POST /api/add-learner`,
//!   `POST /api/change-membership`, `POST /api/init`.
//! - `POST /api/add-node` (learner, catch up, then voter) and `POST /api/remove-node`:
//!   what `sluice meta add-node|remove-node` call on the leader.
//!
//! Fault injection (only with `MetaNodeConfig::fault_injection`):
//! - `GET|POST /admin/net-faults` ([`NetFaultConfig`]): cut or delay raft traffic; a cut
//!   link answers `/raft/*` with `503`.
//!
//! Errors are an [`ErrorBody`] with a status derived from the [`MetaError`].
//! Request bodies are bounded per route group.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use openraft::error::Fatal;
use openraft::raft::{AppendEntriesRequest, SnapshotResponse, VoteRequest};
use openraft::Snapshot;

use crate::api::{
    AddLearnerRequest, AddNodeRequest, ChangeMembershipRequest, ChangesQuery, ChangesResponse,
    ErrorBody, IndexResponse, InitRequest, InstallSnapshotBody, LeaderResponse, MembershipResponse,
    ProposeResponse, RemoveNodeRequest, FORWARDED_HEADER, MAX_CHANGES_PER_RESPONSE,
};
use crate::command::Command;
use crate::error::MetaError;
use crate::feed::FeedRead;
use crate::netfault::{NetFaultConfig, NetFaultStatus};
use crate::node_core::NodeCore;
use crate::types::{NodeId, TypeConfig};

/// Largest append-entries batch accepted.
const RAFT_BODY_LIMIT: usize = 64 << 20;
/// Largest snapshot accepted.
const SNAPSHOT_BODY_LIMIT: usize = 1 << 30;
/// Largest client API request accepted.
const API_BODY_LIMIT: usize = 16 << 20;
/// Longest a `/api/changes` long-poll may wait.
const MAX_WAIT: Duration = Duration::from_secs(30);

type Core = State<Arc<NodeCore>>;

/// A [`MetaError`] answered as an [`ErrorBody`].
struct ApiError(MetaError);

impl From<MetaError> for ApiError {
    fn from(e: MetaError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = ErrorBody::from_error(&self.0);
        (status, Json(body)).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// All routes of a meta node.
pub(crate) fn router(core: Arc<NodeCore>) -> Router {
    let raft = Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .layer(DefaultBodyLimit::max(RAFT_BODY_LIMIT));
    let snapshot = Router::new()
        .route("/raft/snapshot", post(snapshot))
        .layer(DefaultBodyLimit::max(SNAPSHOT_BODY_LIMIT));
    let api = Router::new()
        .route("/api/propose", post(propose))
        .route("/api/changes", get(changes))
        .route("/api/leader", get(leader))
        .route("/api/add-learner", post(add_learner))
        .route("/api/change-membership", post(change_membership))
        .route("/api/init", post(init))
        .route("/api/membership", get(membership))
        .route("/api/add-node", post(add_node))
        .route("/api/remove-node", post(remove_node))
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT));
    let mut router = raft.merge(snapshot).merge(api);
    if core.fault_injection {
        router = router.route("/admin/net-faults", get(net_faults).post(set_net_faults));
    }
    router.with_state(core)
}

/// `503` for raft traffic from a peer whose link is cut by fault injection.
fn refuse_cut(core: &NodeCore, from: NodeId) -> Option<Response> {
    core.net_faults.is_cut(Some(from)).then(|| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "link cut by fault injection",
        )
            .into_response()
    })
}

async fn net_faults(State(core): Core) -> Json<NetFaultStatus> {
    Json(core.net_faults.status())
}

async fn set_net_faults(
    State(core): Core,
    Json(cfg): Json<NetFaultConfig>,
) -> Json<NetFaultStatus> {
    core.net_faults.set(cfg);
    Json(core.net_faults.status())
}

async fn append(State(core): Core, Json(req): Json<AppendEntriesRequest<TypeConfig>>) -> Response {
    if let Some(refused) = refuse_cut(&core, req.vote.leader_id().node_id) {
        return refused;
    }
    Json(core.raft.append_entries(req).await).into_response()
}

async fn vote(State(core): Core, Json(req): Json<VoteRequest<NodeId>>) -> Response {
    if let Some(refused) = refuse_cut(&core, req.vote.leader_id().node_id) {
        return refused;
    }
    Json(core.raft.vote(req).await).into_response()
}

async fn snapshot(State(core): Core, Json(body): Json<InstallSnapshotBody>) -> Response {
    if let Some(refused) = refuse_cut(&core, body.vote.leader_id().node_id) {
        return refused;
    }
    tracing::info!(meta = %body.meta, "receiving snapshot");
    let snapshot = Snapshot {
        meta: body.meta,
        snapshot: Box::new(Cursor::new(body.data.into_bytes())),
    };
    let res: Result<SnapshotResponse<NodeId>, Fatal<NodeId>> =
        core.raft.install_full_snapshot(body.vote, snapshot).await;
    Json(res).into_response()
}

async fn propose(
    State(core): Core,
    headers: HeaderMap,
    Json(cmd): Json<Command>,
) -> ApiResult<ProposeResponse> {
    let forwarded = headers.contains_key(FORWARDED_HEADER);
    let (index, response) = core.propose(cmd, !forwarded).await?;
    Ok(Json(ProposeResponse { index, response }))
}

async fn changes(State(core): Core, Query(q): Query<ChangesQuery>) -> ApiResult<ChangesResponse> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(q.wait_ms).min(MAX_WAIT);
    // Subscribe before reading the feed: the applier publishes after pushing, so
    // nothing applied after this read can be missed.
    let mut applied = core.replica.applied();
    loop {
        match core.feed.read_after(q.after, MAX_CHANGES_PER_RESPONSE) {
            FeedRead::Behind => {
                let (index, state) = core.replica.snapshot();
                tracing::debug!(
                    after = q.after,
                    index,
                    "change feed reader is behind; sending state"
                );
                return Ok(Json(ChangesResponse::Snapshot {
                    index,
                    state: Box::new(state),
                }));
            }
            FeedRead::Entries(entries) if !entries.is_empty() => {
                return Ok(Json(ChangesResponse::Entries(entries)));
            }
            FeedRead::Entries(_) => {}
        }
        tokio::select! {
            changed = applied.changed() => {
                if changed.is_err() {
                    return Err(MetaError::Shutdown.into());
                }
            }
            _ = tokio::time::sleep_until(deadline) => return Ok(Json(ChangesResponse::Entries(Vec::new()))),
            _ = core.cancel.cancelled() => return Err(MetaError::Shutdown.into()),
        }
    }
}

async fn leader(State(core): Core) -> Json<LeaderResponse> {
    Json(LeaderResponse {
        node_id: core.id,
        leader: core.leader(),
    })
}

async fn add_learner(
    State(core): Core,
    Json(req): Json<AddLearnerRequest>,
) -> ApiResult<IndexResponse> {
    let index = core.add_learner(req.id, req.addr).await?;
    Ok(Json(IndexResponse { index }))
}

async fn change_membership(
    State(core): Core,
    Json(req): Json<ChangeMembershipRequest>,
) -> ApiResult<IndexResponse> {
    let index = core.change_membership(req.voters, req.retain).await?;
    Ok(Json(IndexResponse { index }))
}

async fn init(State(core): Core, Json(req): Json<InitRequest>) -> ApiResult<()> {
    core.initialize(req.members).await?;
    Ok(Json(()))
}

async fn membership(State(core): Core) -> Json<MembershipResponse> {
    Json(core.membership())
}

async fn add_node(
    State(core): Core,
    Json(req): Json<AddNodeRequest>,
) -> ApiResult<MembershipResponse> {
    core.add_voter(req.id, req.addr).await?;
    Ok(Json(core.membership()))
}

async fn remove_node(
    State(core): Core,
    Json(req): Json<RemoveNodeRequest>,
) -> ApiResult<MembershipResponse> {
    core.remove_node(req.id).await?;
    Ok(Json(core.membership()))
}
