//! [`MetaClient`]: how agents talk to the metadata quorum.
//!
//! - `Local` wraps an in-process [`MetaNode`] (`sluice dev`): proposals go
//!   straight to raft (forwarded if this node is not the leader), and the replica
//!   is the node's own state machine state.
//! - `Remote` talks HTTP to a list of meta nodes: proposals try the nodes in turn
//!   and follow leader hints; a background task long-polls `/api/changes` and
//!   applies the commands, in order, to a local [`Replica`] (resetting from a
//!   full state when it has fallen behind the node's feed).
//!
//! A feed node that is cut off from the quorum (partitioned, or lagging) still answers polls,
//! just with nothing new: when the replica stays behind an index a proposal already returned,
//! the feed moves to the next node.
//!
//! Either way, after `propose` returns index `i`, [`MetaClient::wait_applied`]`(i)`
//! makes the write visible in [`MetaClient::replica`].

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{
    decode_response, parse_endpoints, ChangesResponse, MembershipResponse, ProposeResponse,
};
use crate::command::{Command, CommandResponse};
use crate::error::MetaError;
use crate::health::NotReady;
use crate::node::MetaNode;
use crate::replica::Replica;
use crate::state::MetaState;

/// Client of the metadata quorum.
#[derive(Clone)]
pub enum MetaClient {
    /// An in-process meta node.
    Local(Arc<MetaNode>),
    /// Meta nodes reached over HTTP, with a locally maintained replica.
    Remote(Arc<RemoteClient>),
}

impl MetaClient {
    /// A client of an in-process node.
    pub fn local(node: Arc<MetaNode>) -> Self {
        MetaClient::Local(node)
    }

    /// A client of the meta nodes in `endpoints` (`http://host:port,http://host2:port`;
    /// the scheme may be omitted). Starts the replica's feed task.
    pub fn remote(endpoints: &str) -> Result<Self, MetaError> {
        Self::remote_with(endpoints, RemoteOptions::default())
    }

    /// Like [`MetaClient::remote`], with explicit options.
    pub fn remote_with(endpoints: &str, opts: RemoteOptions) -> Result<Self, MetaError> {
        Ok(MetaClient::Remote(RemoteClient::start(endpoints, opts)?))
    }

    /// The quorum as its leader sees it (membership, term, applied index, each member's
    /// replication progress), for DescribeQuorum. Asks the node(s) it knows, then the leader
    /// they name, since only the leader knows the followers' progress.
    pub async fn quorum_status(&self) -> Result<MembershipResponse, MetaError> {
        match self {
            MetaClient::Local(node) => Ok(node.membership()),
            MetaClient::Remote(c) => c.quorum_status().await,
        }
    }

    /// Proposes `cmd`; returns the log index it was applied at and the response.
    pub async fn propose(&self, cmd: Command) -> Result<(u64, CommandResponse), MetaError> {
        match self {
            MetaClient::Local(node) => node.propose(cmd).await,
            MetaClient::Remote(r) => r.propose(cmd).await,
        }
    }

    /// Proposes `cmd` and waits until this client's replica reflects it.
    pub async fn propose_and_wait(
        &self,
        cmd: Command,
    ) -> Result<(u64, CommandResponse), MetaError> {
        let (index, response) = self.propose(cmd).await?;
        self.wait_applied(index).await?;
        Ok((index, response))
    }

    /// The replica of the metadata state this client reads from.
    pub fn replica(&self) -> Replica {
        match self {
            MetaClient::Local(node) => node.replica(),
            MetaClient::Remote(r) => r.replica.clone(),
        }
    }

    /// Waits until the replica has applied `index`.
    pub async fn wait_applied(&self, index: u64) -> Result<(), MetaError> {
        self.replica().wait_applied(index).await
    }

    /// Whether this client can serve: for `Local`, the node's own readiness; for `Remote`, the
    /// change feed answers and the replica has applied every write a proposal of this client
    /// returned (see [`crate::health`]).
    pub fn readiness(&self) -> Result<(), NotReady> {
        match self {
            MetaClient::Local(node) => node.readiness(),
            MetaClient::Remote(r) => r.readiness(),
        }
    }

    /// Stops the client's background work. For `Local` this does not stop the
    /// node, which belongs to whoever started it (call [`MetaNode::shutdown`]).
    pub async fn shutdown(&self) {
        if let MetaClient::Remote(r) = self {
            r.shutdown().await;
        }
    }
}

/// Options of a remote client.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// How long one `/api/changes` long-poll may wait on the server.
    pub poll_wait: Duration,
    /// Pause after a failed poll before trying the next node.
    pub retry_pause: Duration,
    /// Total time a proposal may spend trying nodes.
    pub propose_timeout: Duration,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            poll_wait: Duration::from_secs(5),
            retry_pause: Duration::from_millis(200),
            propose_timeout: Duration::from_secs(15),
        }
    }
}

/// Client of meta nodes over HTTP. Build it with [`MetaClient::remote`].
pub struct RemoteClient {
    endpoints: Vec<String>,
    http: reqwest::Client,
    replica: Replica,
    /// Index into `endpoints` of the node that last accepted a proposal.
    preferred: AtomicUsize,
    /// Highest log index a proposal returned: the replica must reach it.
    committed: Arc<AtomicU64>,
    /// Whether the last poll of the change feed was answered.
    feed_ok: Arc<AtomicBool>,
    opts: RemoteOptions,
    cancel: CancellationToken,
    feed_task: Mutex<Option<JoinHandle<()>>>,
}

impl RemoteClient {
    fn start(endpoints: &str, opts: RemoteOptions) -> Result<Arc<Self>, MetaError> {
        let endpoints = parse_endpoints(endpoints)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| MetaError::Invalid(format!("http client: {e}")))?;
        let client = Arc::new(RemoteClient {
            endpoints,
            http,
            replica: Replica::new(MetaState::default(), 0),
            preferred: AtomicUsize::new(0),
            committed: Arc::new(AtomicU64::new(0)),
            feed_ok: Arc::new(AtomicBool::new(false)),
            opts,
            cancel: CancellationToken::new(),
            feed_task: Mutex::new(None),
        });
        let task = tokio::spawn(follow_feed(
            client.endpoints.clone(),
            client.http.clone(),
            client.replica.clone(),
            client.committed.clone(),
            client.feed_ok.clone(),
            client.opts.clone(),
            client.cancel.clone(),
        ));
        *client.feed_task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(client)
    }

    /// The replica fed from the meta nodes' change feed.
    pub fn replica(&self) -> Replica {
        self.replica.clone()
    }

    async fn quorum_status(&self) -> Result<MembershipResponse, MetaError> {
        let get = |base: String| async move {
            let url = format!("{base}/api/membership");
            let resp = self
                .http
                .get(&url)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .map_err(|e| MetaError::unavailable_from(&url, e))?;
            decode_response::<MembershipResponse>(resp).await
        };
        let mut last = MetaError::unavailable("no endpoint");
        for base in &self.endpoints {
            match get(base.clone()).await {
                Ok(m) => match &m.leader {
                    Some(l) if l.id != m.node_id => {
                        return get(format!("http://{}", l.addr)).await;
                    }
                    _ => return Ok(m),
                },
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// See [`MetaClient::readiness`].
    pub fn readiness(&self) -> Result<(), NotReady> {
        if self.cancel.is_cancelled() {
            return Err(NotReady::ShuttingDown);
        }
        if !self.feed_ok.load(Ordering::Relaxed) {
            return Err(NotReady::FeedDown);
        }
        let (applied, needed) = (
            self.replica.applied_index(),
            self.committed.load(Ordering::Relaxed),
        );
        if applied < needed {
            return Err(NotReady::Behind { applied, needed });
        }
        Ok(())
    }

    /// Proposes `cmd`, trying each node in turn and following leader hints.
    /// Retries only when the command certainly was not proposed (connection
    /// refused, not leader, no leader yet).
    pub async fn propose(&self, cmd: Command) -> Result<(u64, CommandResponse), MetaError> {
        let deadline = Instant::now() + self.opts.propose_timeout;
        let n = self.endpoints.len();
        let mut i = self.preferred.load(Ordering::Relaxed);
        let mut hint: Option<String> = None;
        loop {
            let base = hint.take().unwrap_or_else(|| self.endpoints[i % n].clone());
            let url = format!("{base}/api/propose");
            let res = match self
                .http
                .post(&url)
                .timeout(self.opts.propose_timeout)
                .json(&cmd)
                .send()
                .await
            {
                Ok(resp) => decode_response::<ProposeResponse>(resp).await,
                Err(e) if e.is_connect() => Err(MetaError::unavailable_from(&url, e)),
                Err(e) => Err(MetaError::indeterminate_from(&url, e)),
            };
            let err = match res {
                Ok(r) => {
                    self.preferred.store(i % n, Ordering::Relaxed);
                    self.committed.fetch_max(r.index, Ordering::Relaxed);
                    return Ok((r.index, r.response));
                }
                Err(MetaError::NotLeader { leader: Some(l) }) => {
                    hint = Some(format!("http://{}", l.addr));
                    MetaError::NotLeader { leader: Some(l) }
                }
                Err(e @ (MetaError::NotLeader { .. } | MetaError::Unavailable { .. })) => {
                    i += 1;
                    e
                }
                Err(e) => return Err(e),
            };
            if Instant::now() >= deadline {
                return Err(err);
            }
            tracing::debug!(error = %err, "meta proposal not accepted; retrying");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = self.cancel.cancelled() => return Err(MetaError::Shutdown),
            }
        }
    }

    /// Stops the feed task and wakes `wait_applied` callers. Idempotent.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        let task = self
            .feed_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "meta feed task ended abnormally");
            }
        }
        self.replica.close();
    }
}

/// Long-poll wait while the replica is behind a known commit.
const STALE_POLL_WAIT: Duration = Duration::from_millis(300);
/// Polls in a row that bring nothing while behind before the feed moves to another node.
const STALE_POLLS_BEFORE_SWITCH: u32 = 3;

/// Keeps `replica` current by long-polling the nodes' change feeds, moving to
/// the next node on failure.
async fn follow_feed(
    endpoints: Vec<String>,
    http: reqwest::Client,
    replica: Replica,
    committed: Arc<AtomicU64>,
    feed_ok: Arc<AtomicBool>,
    opts: RemoteOptions,
    cancel: CancellationToken,
) {
    let mut current = 0usize;
    let mut failures = 0u32;
    let mut stale_polls = 0u32;
    loop {
        let base = &endpoints[current % endpoints.len()];
        let after = replica.applied_index();
        // Behind a known commit: poll briefly, so a node that has nothing new is noticed soon.
        let behind = after < committed.load(Ordering::Relaxed);
        let wait = if behind {
            STALE_POLL_WAIT.min(opts.poll_wait)
        } else {
            opts.poll_wait
        };
        let url = format!(
            "{base}/api/changes?after={after}&wait_ms={}",
            wait.as_millis()
        );
        let request = http
            .get(&url)
            .timeout(opts.poll_wait + Duration::from_secs(5))
            .send();
        let res = tokio::select! {
            _ = cancel.cancelled() => return,
            res = request => match res {
                Ok(resp) => decode_response::<ChangesResponse>(resp).await,
                Err(e) => Err(MetaError::Unavailable {
                    reason: e.to_string(),
                    source: Some(Box::new(e)),
                }),
            },
        };
        match res {
            Ok(changes) => {
                failures = 0;
                feed_ok.store(true, Ordering::Relaxed);
                apply_changes(&replica, after, changes);
                let applied = replica.applied_index();
                if applied == after && applied < committed.load(Ordering::Relaxed) {
                    stale_polls += 1;
                    if stale_polls >= STALE_POLLS_BEFORE_SWITCH {
                        tracing::warn!(%base, applied, "meta feed node serves nothing past a known commit; switching node");
                        stale_polls = 0;
                        current += 1;
                    }
                } else {
                    stale_polls = 0;
                }
            }
            Err(e) => {
                failures += 1;
                feed_ok.store(false, Ordering::Relaxed);
                if failures == 1 || failures.is_multiple_of(50) {
                    tracing::warn!(%url, error = %e, failures, "meta change feed poll failed");
                }
                current += 1;
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(opts.retry_pause) => {}
                }
            }
        }
    }
}

/// Applies one feed answer to `replica`, which was at `after` when it was asked.
fn apply_changes(replica: &Replica, after: u64, changes: ChangesResponse) {
    match changes {
        ChangesResponse::Snapshot { index, state } => {
            tracing::info!(index, "meta replica reset from a full state");
            replica.reset(*state, index);
            replica.publish(index);
        }
        ChangesResponse::Entries(entries) => {
            if entries.is_empty() {
                return;
            }
            let outcome = replica.update(|state| {
                let mut applied = after;
                for entry in entries {
                    if entry.index <= applied {
                        continue;
                    }
                    // Entry 0 (the initial membership) is never in a feed; any
                    // other hole means this replica cannot be trusted.
                    if entry.index != applied + 1 && applied != 0 {
                        return (applied, None);
                    }
                    if let Some(cmd) = &entry.command {
                        state.apply(cmd);
                    }
                    applied = entry.index;
                }
                (applied, Some(applied))
            });
            let Some(applied) = outcome else {
                tracing::warn!(after, "gap in the meta change feed; rebuilding the replica");
                replica.reset(MetaState::default(), 0);
                replica.publish(0);
                return;
            };
            replica.publish(applied);
        }
    }
}
