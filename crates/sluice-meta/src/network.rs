//! Raft RPCs over HTTP (client side): `POST /raft/append`, `/raft/vote`,
//! `/raft/snapshot` on the target's listener, JSON bodies.
//!
//! Snapshots are sent whole in one request (`full_snapshot`); the metadata state
//! is small enough for that, and it keeps the receiver simple. Connection failures
//! map to `Unreachable` (openraft backs off), timeouts to `Timeout`, and an error
//! the remote raft returned to `RemoteError`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    Fatal, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed,
    StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend, Snapshot, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::InstallSnapshotBody;
use crate::netfault::NetFaults;
use crate::types::{NodeId, TypeConfig};

/// Creates one [`HttpNetwork`] per replication target.
#[derive(Clone)]
pub struct HttpNetworkFactory {
    id: NodeId,
    http: reqwest::Client,
    faults: Arc<NetFaults>,
}

impl HttpNetworkFactory {
    /// A factory for node `id`, sharing the HTTP connection pool `http`.
    pub fn new(id: NodeId, http: reqwest::Client) -> Self {
        HttpNetworkFactory {
            id,
            http,
            faults: Arc::default(),
        }
    }

    /// Routes every RPC through `faults` (cut links, added delay).
    pub fn with_faults(mut self, faults: Arc<NetFaults>) -> Self {
        self.faults = faults;
        self
    }
}

impl RaftNetworkFactory<TypeConfig> for HttpNetworkFactory {
    type Network = HttpNetwork;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> HttpNetwork {
        HttpNetwork {
            id: self.id,
            target,
            addr: node.addr.clone(),
            http: self.http.clone(),
            faults: self.faults.clone(),
        }
    }
}

/// Connection to one peer.
pub struct HttpNetwork {
    id: NodeId,
    target: NodeId,
    addr: String,
    http: reqwest::Client,
    faults: Arc<NetFaults>,
}

/// Why an HTTP round trip failed, before mapping to openraft's error types.
enum PostError {
    Unreachable(reqwest::Error),
    Timeout,
    Network(std::io::Error),
    /// Refused by fault injection (a cut link).
    Cut,
}

impl HttpNetwork {
    async fn post<Req, Resp>(&self, path: &str, req: &Req, ttl: Duration) -> Result<Resp, PostError>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
    {
        let url = format!("http://{}{}", self.addr, path);
        tracing::debug!(target_node = self.target, %url, "raft rpc");
        let delay = self.faults.delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if self.faults.is_cut(Some(self.target)) {
            return Err(PostError::Cut);
        }
        let resp = self
            .http
            .post(&url)
            .timeout(ttl)
            .json(req)
            .send()
            .await
            .map_err(classify)?;
        let status = resp.status();
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            // The peer refuses raft traffic (a cut link): unreachable, so openraft backs off.
            return Err(PostError::Cut);
        }
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(PostError::Network(std::io::Error::other(format!(
                "{url} answered {status}: {text}"
            ))));
        }
        resp.json::<Resp>().await.map_err(classify)
    }

    fn rpc_error<E: std::error::Error>(
        &self,
        e: PostError,
        action: RPCTypes,
        ttl: Duration,
    ) -> RPCError<NodeId, BasicNode, E> {
        match e {
            PostError::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
            PostError::Timeout => RPCError::Timeout(self.timeout(action, ttl)),
            PostError::Network(e) => RPCError::Network(NetworkError::new(&e)),
            PostError::Cut => RPCError::Unreachable(Unreachable::new(&cut_error())),
        }
    }

    fn timeout(&self, action: RPCTypes, ttl: Duration) -> Timeout<NodeId> {
        Timeout {
            action,
            id: self.id,
            target: self.target,
            timeout: ttl,
        }
    }

    fn remote<E: std::error::Error>(&self, e: E) -> RemoteError<NodeId, BasicNode, E> {
        RemoteError::new_with_node(self.target, BasicNode::new(self.addr.clone()), e)
    }
}

fn cut_error() -> std::io::Error {
    std::io::Error::other("link cut by fault injection")
}

fn classify(e: reqwest::Error) -> PostError {
    if e.is_timeout() {
        PostError::Timeout
    } else if e.is_connect() {
        PostError::Unreachable(e)
    } else {
        PostError::Network(std::io::Error::other(e))
    }
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl RaftNetwork<TypeConfig> for HttpNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let ttl = option.hard_ttl();
        let res: Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>> = self
            .post("/raft/append", &rpc, ttl)
            .await
            .map_err(|e| self.rpc_error(e, RPCTypes::AppendEntries, ttl))?;
        res.map_err(|e| RPCError::RemoteError(self.remote(e)))
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        // Never called: `full_snapshot` is overridden to send snapshots whole.
        let e = std::io::Error::other("chunked snapshot transfer is not supported");
        Err(RPCError::Network(NetworkError::new(&e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        let ttl = option.hard_ttl();
        let res: Result<VoteResponse<NodeId>, RaftError<NodeId>> = self
            .post("/raft/vote", &rpc, ttl)
            .await
            .map_err(|e| self.rpc_error(e, RPCTypes::Vote, ttl))?;
        res.map_err(|e| RPCError::RemoteError(self.remote(e)))
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote<NodeId>,
        snapshot: Snapshot<TypeConfig>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        let ttl = option.hard_ttl();
        let data = String::from_utf8(snapshot.snapshot.into_inner())
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let body = InstallSnapshotBody {
            vote,
            meta: snapshot.meta,
            data,
        };
        tracing::info!(target_node = self.target, meta = %body.meta, "sending snapshot");
        let send = self.post::<_, Result<SnapshotResponse<NodeId>, Fatal<NodeId>>>(
            "/raft/snapshot",
            &body,
            ttl,
        );
        let res = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            res = send => res,
        };
        let res = res.map_err(|e| match e {
            PostError::Unreachable(e) => StreamingError::Unreachable(Unreachable::new(&e)),
            PostError::Timeout => {
                StreamingError::Timeout(self.timeout(RPCTypes::InstallSnapshot, ttl))
            }
            PostError::Network(e) => StreamingError::Network(NetworkError::new(&e)),
            PostError::Cut => StreamingError::Unreachable(Unreachable::new(&cut_error())),
        })?;
        res.map_err(|e| StreamingError::RemoteError(self.remote(e)))
    }
}
