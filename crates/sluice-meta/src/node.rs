//! A running meta node: raft + log store + state machine + HTTP listener.
//!
//! [`MetaNode::start`] opens the storage under the data directory, binds the
//! listener, starts raft and the HTTP server, and bootstraps the cluster on first
//! start when asked to. Every task it spawns is owned by the node and ends in
//! [`MetaNode::shutdown`]. Proposals made on a follower are forwarded to the
//! leader over HTTP ([`NodeCore::propose`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, ChangeMembers, ServerState, SnapshotPolicy};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{ErrorBody, MembershipResponse, ProposeResponse, FORWARDED_HEADER};
use crate::command::{Command, CommandResponse};
use crate::config::MetaNodeConfig;
use crate::error::{LeaderInfo, MetaError};
use crate::feed::ChangeFeed;
use crate::health::{NotReady, APPLY_SLACK};
use crate::log_store::{LogStore, LOG_FILE_NAME};
use crate::netfault::NetFaults;
use crate::network::HttpNetworkFactory;
use crate::replica::Replica;
use crate::state_machine::StateMachineStore;
use crate::types::{MetaRaft, NodeId};

/// Pause between attempts while a leader is being elected.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// A running meta node.
pub struct MetaNode {
    core: Arc<NodeCore>,
    local_addr: SocketAddr,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// What the HTTP handlers and the node share.
pub(crate) struct NodeCore {
    pub(crate) id: NodeId,
    pub(crate) advertised: String,
    pub(crate) raft: MetaRaft,
    pub(crate) replica: Replica,
    pub(crate) feed: Arc<ChangeFeed>,
    pub(crate) http: reqwest::Client,
    pub(crate) cancel: CancellationToken,
    /// Raft traffic faults (shared with the raft network); switchable over HTTP only
    /// when `fault_injection` is on.
    pub(crate) net_faults: Arc<NetFaults>,
    pub(crate) fault_injection: bool,
    propose_timeout: Duration,
    /// A leader no quorum has acknowledged for this long refuses proposals (see
    /// [`NodeCore::cut_off_leader`]).
    quorum_ack_limit_ms: u64,
}

impl MetaNode {
    /// Opens storage, binds the listener, starts raft and the HTTP server, and
    /// bootstraps the cluster if configured and not yet initialized.
    pub async fn start(cfg: MetaNodeConfig) -> Result<Arc<MetaNode>, MetaError> {
        std::fs::create_dir_all(&cfg.data_dir)?;
        let rejoin = cfg.rejoin
            && !cfg.data_dir.join(LOG_FILE_NAME).exists()
            && prepare_rejoin(&cfg).await?;
        if let Some(archive) = &cfg.snapshot_archive {
            restore_from_archive(&cfg.data_dir, archive.as_ref()).await?;
        }
        let log_store = LogStore::open(&cfg.data_dir.join(LOG_FILE_NAME))?;
        let sm =
            StateMachineStore::open(&cfg.data_dir.join("snapshots"), cfg.tuning.feed_capacity)?
                .with_archive(cfg.snapshot_archive.clone());
        let replica = sm.replica();
        let feed = sm.feed();

        let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
        let local_addr = listener.local_addr()?;
        let advertised = cfg
            .advertised
            .clone()
            .unwrap_or_else(|| local_addr.to_string());
        if cfg.advertised.is_none() && local_addr.ip().is_unspecified() {
            tracing::warn!(%local_addr, "no advertised address and listening on a wildcard address; peers cannot reach this node by it");
        }

        let t = &cfg.tuning;
        let raft_config = openraft::Config {
            cluster_name: "sluice-meta".to_string(),
            heartbeat_interval: t.heartbeat_ms,
            election_timeout_min: t.election_min_ms,
            election_timeout_max: t.election_max_ms,
            install_snapshot_timeout: 30_000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(t.snapshot_every),
            max_in_snapshot_log_to_keep: t.logs_to_keep,
            ..Default::default()
        }
        .validate()
        .map_err(|e| MetaError::Invalid(e.to_string()))?;

        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| MetaError::Invalid(format!("http client: {e}")))?;
        let net_faults = Arc::new(NetFaults::default());
        let network = HttpNetworkFactory::new(cfg.id, http.clone()).with_faults(net_faults.clone());
        let raft = MetaRaft::new(cfg.id, Arc::new(raft_config), network, log_store, sm)
            .await
            .map_err(MetaError::raft)?;

        let core = Arc::new(NodeCore {
            id: cfg.id,
            advertised,
            raft,
            replica,
            feed,
            http,
            cancel: CancellationToken::new(),
            net_faults,
            fault_injection: cfg.fault_injection,
            propose_timeout: t.propose_timeout,
            quorum_ack_limit_ms: 2 * t.election_max_ms,
        });

        let server = {
            let router = crate::server::router(core.clone());
            let cancel = core.cancel.clone();
            tokio::spawn(async move {
                let res = axum::serve(listener, router)
                    .with_graceful_shutdown(cancel.cancelled_owned())
                    .await;
                if let Err(e) = res {
                    tracing::error!(error = %e, "meta HTTP server failed");
                }
            })
        };
        let watcher = tokio::spawn(log_role_changes(core.clone()));
        let node = Arc::new(MetaNode {
            core,
            local_addr,
            tasks: Mutex::new(vec![server, watcher]),
        });
        tracing::info!(id = cfg.id, %local_addr, advertised = %node.core.advertised, "meta node started");

        if rejoin {
            let task = tokio::spawn(add_back(
                other_peers(&cfg)?,
                cfg.id,
                node.core.advertised.clone(),
                node.core.cancel.clone(),
            ));
            node.tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(task);
        } else if cfg.bootstrap {
            node.bootstrap(&cfg.peers).await?;
        }
        Ok(node)
    }

    async fn bootstrap(&self, peers: &BTreeMap<NodeId, String>) -> Result<(), MetaError> {
        let raft = &self.core.raft;
        if raft.is_initialized().await.map_err(MetaError::raft)? {
            tracing::info!(id = self.core.id, "already initialized; not bootstrapping");
            return Ok(());
        }
        let mut members = peers.clone();
        members.insert(self.core.id, self.core.advertised.clone());
        let lowest = members.keys().next().copied();
        if lowest != Some(self.core.id) {
            tracing::info!(
                id = self.core.id,
                ?lowest,
                "waiting for the lowest id to bootstrap the cluster"
            );
            return Ok(());
        }
        // A bootstrap node whose data directory was lost must not found a second
        // cluster next to the running one: if any peer already has a membership,
        // this node waits to be (re-)added instead.
        if let Some(peer) = self.core.initialized_peer(peers).await {
            tracing::warn!(
                id = self.core.id,
                peer,
                "a peer already belongs to an initialized cluster; not bootstrapping (add this node with `sluice meta add-node`)"
            );
            return Ok(());
        }
        self.initialize(members).await
    }

    /// This node's raft id.
    pub fn id(&self) -> NodeId {
        self.core.id
    }

    /// The address the HTTP listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `host:port` peers use to reach this node.
    pub fn advertised_addr(&self) -> &str {
        &self.core.advertised
    }

    /// The raft handle (metrics, triggers).
    pub fn raft(&self) -> &MetaRaft {
        &self.core.raft
    }

    /// The state machine's state, readable in place.
    pub fn replica(&self) -> Replica {
        self.core.replica.clone()
    }

    /// The feed of applied entries.
    pub fn feed(&self) -> Arc<ChangeFeed> {
        self.core.feed.clone()
    }

    /// The current leader, as this node knows it.
    pub fn leader(&self) -> Option<LeaderInfo> {
        self.core.leader()
    }

    /// Proposes `cmd` (forwarding to the leader if needed); returns the log index
    /// it was committed at and the state machine's response. When this returns the
    /// command is applied on the leader; use [`Replica::wait_applied`] to read it
    /// from this node's replica.
    pub async fn propose(&self, cmd: Command) -> Result<(u64, CommandResponse), MetaError> {
        self.core.propose(cmd, true).await
    }

    /// Initializes a new cluster with `members` (id → `host:port`) as voters.
    /// A node that is already initialized is left alone.
    pub async fn initialize(&self, members: BTreeMap<NodeId, String>) -> Result<(), MetaError> {
        self.core.initialize(members).await
    }

    /// Adds a learner and waits for it to catch up; returns the membership log index.
    pub async fn add_learner(&self, id: NodeId, addr: String) -> Result<u64, MetaError> {
        self.core.add_learner(id, addr).await
    }

    /// Changes the voter set; returns the membership log index.
    pub async fn change_membership(
        &self,
        voters: BTreeSet<NodeId>,
        retain: bool,
    ) -> Result<u64, MetaError> {
        self.core.change_membership(voters, retain).await
    }

    /// Adds node `id` as a learner, waits for it to catch up, then promotes it
    /// to voter; returns the membership log index.
    pub async fn add_voter(&self, id: NodeId, addr: String) -> Result<u64, MetaError> {
        self.core.add_voter(id, addr).await
    }

    /// Removes node `id` (voter or learner) from the cluster; returns the
    /// membership log index.
    pub async fn remove_node(&self, id: NodeId) -> Result<u64, MetaError> {
        self.core.remove_node(id).await
    }

    /// The membership as this node knows it.
    pub fn membership(&self) -> MembershipResponse {
        self.core.membership()
    }

    /// Whether this node has joined the quorum and caught up (see [`crate::health`]).
    pub fn readiness(&self) -> Result<(), NotReady> {
        self.core.readiness()
    }

    /// Builds a snapshot now (it happens automatically per the snapshot policy).
    pub async fn trigger_snapshot(&self) -> Result<(), MetaError> {
        self.core
            .raft
            .trigger()
            .snapshot()
            .await
            .map_err(MetaError::raft)
    }

    /// Stops the HTTP server and raft and waits for every task of the node.
    /// Idempotent.
    pub async fn shutdown(&self) {
        self.core.cancel.cancel();
        if let Err(e) = self.core.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "meta node task ended abnormally");
            }
        }
        self.core.replica.close();
        tracing::info!(id = self.core.id, "meta node stopped");
    }
}

impl Drop for MetaNode {
    /// Dropping without [`MetaNode::shutdown`] at least stops the HTTP server and
    /// the node's helper tasks (raft itself only stops in `shutdown`).
    fn drop(&mut self) {
        self.core.cancel.cancel();
    }
}

/// An admin client of the peers of `cfg` other than this node.
fn other_peers(cfg: &MetaNodeConfig) -> Result<crate::admin::MetaAdmin, MetaError> {
    let others: Vec<String> = cfg
        .peers
        .iter()
        .filter(|(id, _)| **id != cfg.id)
        .map(|(_, addr)| format!("http://{addr}"))
        .collect();
    crate::admin::MetaAdmin::new(&others.join(","))
}

/// `rejoin` on an empty data directory: when a peer knows a cluster with a leader, this node
/// comes back as a new member, so the leader first drops its id if the old incarnation is
/// still listed (a raft voter must not forget its log and votes). Returns whether the node
/// must add itself back once started; `false` (a first start, or no leader anywhere yet)
/// leaves the normal bootstrap path.
async fn prepare_rejoin(cfg: &MetaNodeConfig) -> Result<bool, MetaError> {
    if cfg.peers.keys().all(|id| *id == cfg.id) {
        return Ok(false);
    }
    let admin = other_peers(cfg)?;
    let Ok(m) = admin.membership().await else {
        return Ok(false);
    };
    if m.voters.is_empty() || m.leader.is_none() {
        return Ok(false);
    }
    if !m.voters.contains_key(&cfg.id) && !m.learners.contains_key(&cfg.id) {
        return Ok(true);
    }
    // Whether this id ever held state cannot be told from outside (a new leader has not
    // replicated to a dead node): remove and add back either way. A member that merely
    // started later than its peers on a new cluster costs two membership changes.
    tracing::info!(
        id = cfg.id,
        "empty data directory: removing this node's old incarnation before rejoining"
    );
    admin.remove_node(cfg.id).await?;
    Ok(true)
}

/// Adds this (rejoining) node back through the leader, retrying until it is a voter or the
/// node shuts down.
async fn add_back(
    admin: crate::admin::MetaAdmin,
    id: NodeId,
    addr: String,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            res = admin.add_node(id, &addr) => match res {
                Ok(m) => {
                    tracing::info!(id, voters = ?m.voters.keys().collect::<Vec<_>>(), "rejoined the quorum");
                    return;
                }
                Err(e) => tracing::warn!(id, error = %e, "adding this node back failed; retrying"),
            },
            _ = cancel.cancelled() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// On a node with an empty data directory (no raft log, no snapshot), saves the newest
/// archived snapshot as the local one, so the state machine starts from it.
async fn restore_from_archive(
    data_dir: &std::path::Path,
    archive: &dyn crate::archive::SnapshotArchive,
) -> Result<(), MetaError> {
    let snapshot_dir = data_dir.join("snapshots");
    if data_dir.join(LOG_FILE_NAME).exists() || snapshot_dir.join("current.snap").exists() {
        return Ok(());
    }
    let Some(blob) = archive.latest().await.map_err(|e| MetaError::Unavailable {
        reason: e.to_string(),
        source: Some(e),
    })?
    else {
        tracing::info!("empty data directory and no archived snapshot: starting empty");
        return Ok(());
    };
    let (meta, data) = crate::archive::decode(&blob)?;
    let (store, _) = crate::snapshot_store::SnapshotStore::open(&snapshot_dir)?;
    tokio::task::spawn_blocking(move || store.save(&meta, &data).map(|_| meta))
        .await
        .map_err(|e| MetaError::Storage(Box::new(e)))?
        .map(|meta| tracing::info!(snapshot = %meta, "restored metadata snapshot from the object store"))
}

/// Logs leader and membership changes at info level until shutdown.
async fn log_role_changes(core: Arc<NodeCore>) {
    let mut rx = core.raft.metrics();
    let mut last: Option<(u64, Option<NodeId>, ServerState)> = None;
    let mut last_membership = None;
    loop {
        {
            let m = rx.borrow_and_update();
            let now = (m.current_term, m.current_leader, m.state);
            if last != Some(now) {
                tracing::info!(id = core.id, term = now.0, leader = ?now.1, state = ?now.2, "raft role");
                last = Some(now);
            }
            let membership = m.membership_config.log_id().map(|l| l.index);
            if last_membership != Some(membership) {
                tracing::info!(id = core.id, membership = %m.membership_config, "raft membership");
                last_membership = Some(membership);
            }
        }
        tokio::select! {
            _ = core.cancel.cancelled() => return,
            changed = rx.changed() => if changed.is_err() { return },
        }
    }
}

/// An error before the request left this process (safe to retry) vs after.
enum ForwardError {
    NotSent(MetaError),
    Failed(MetaError),
}

impl NodeCore {
    pub(crate) fn leader(&self) -> Option<LeaderInfo> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let id = m.current_leader?;
        let node = m.membership_config.membership().get_node(&id)?;
        Some(LeaderInfo {
            id,
            addr: node.addr.clone(),
        })
    }

    /// Whether this node leads but has not heard from a quorum for `quorum_ack_limit_ms`: cut off
    /// from its followers (openraft 0.9 keeps such a leader leading until it hears a higher
    /// term), so its proposals would hang until the partition heals.
    fn cut_off_leader(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.state == ServerState::Leader
            && m.millis_since_quorum_ack
                .is_some_and(|ms| ms > self.quorum_ack_limit_ms)
    }

    /// See [`MetaNode::readiness`].
    pub(crate) fn readiness(&self) -> Result<(), NotReady> {
        if self.is_shutting_down() {
            return Err(NotReady::ShuttingDown);
        }
        let m = self.raft.metrics();
        let m = m.borrow();
        if !m
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == self.id)
        {
            return Err(NotReady::NotVoter { id: self.id });
        }
        if m.current_leader.is_none() {
            return Err(NotReady::NoLeader);
        }
        if m.state == ServerState::Leader {
            if let Some(ms) = m
                .millis_since_quorum_ack
                .filter(|&ms| ms > self.quorum_ack_limit_ms)
            {
                return Err(NotReady::CutOff { ms });
            }
        }
        let applied = m.last_applied.map_or(0, |l| l.index);
        let last = m.last_log_index.unwrap_or(0);
        if applied + APPLY_SLACK < last {
            return Err(NotReady::Behind {
                applied,
                needed: last - APPLY_SLACK,
            });
        }
        Ok(())
    }

    fn is_shutting_down(&self) -> bool {
        self.cancel.is_cancelled()
    }

    fn raft_error<E: std::error::Error + Send + Sync + 'static>(&self, e: E) -> MetaError {
        if self.is_shutting_down() {
            MetaError::Shutdown
        } else {
            MetaError::raft(e)
        }
    }

    /// Proposes `cmd`. With `forward`, a follower relays it to the leader and
    /// retries (until `propose_timeout`) while no leader is known; without, it
    /// answers [`MetaError::NotLeader`].
    pub(crate) async fn propose(
        &self,
        cmd: Command,
        forward: bool,
    ) -> Result<(u64, CommandResponse), MetaError> {
        let deadline = Instant::now() + self.propose_timeout;
        loop {
            let started = Instant::now();
            if self.cut_off_leader() {
                // Nothing this node appends can commit until it hears from a quorum again, and
                // the others have likely elected a new leader: callers should try other nodes.
                return Err(MetaError::NotLeader { leader: None });
            }
            // Bounded: a leader cut off mid-proposal would otherwise hold the caller until it
            // heals. The entry may still commit later: the outcome is unknown.
            let written =
                tokio::time::timeout(self.propose_timeout, self.raft.client_write(cmd.clone()))
                    .await
                    .map_err(|_| {
                        MetaError::indeterminate(format!(
                            "not committed within {:?}",
                            self.propose_timeout
                        ))
                    })?;
            let leader = match written {
                Ok(resp) => {
                    crate::metrics::record_commit(&cmd, started.elapsed());
                    return Ok((resp.log_id.index, resp.data));
                }
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    f.leader_id.zip(f.leader_node).map(|(id, node)| LeaderInfo {
                        id,
                        addr: node.addr,
                    })
                }
                Err(RaftError::APIError(e)) => return Err(MetaError::raft(e)),
                Err(RaftError::Fatal(e)) => return Err(self.raft_error(e)),
            };
            if !forward {
                return Err(MetaError::NotLeader { leader });
            }
            let err = match leader {
                Some(l) if l.id != self.id => {
                    match self
                        .forward::<_, ProposeResponse>(&l, "/api/propose", &cmd)
                        .await
                    {
                        Ok(r) => return Ok((r.index, r.response)),
                        Err(ForwardError::Failed(e)) => return Err(e),
                        Err(ForwardError::NotSent(e)) => e,
                    }
                }
                _ => MetaError::unavailable("no leader elected"),
            };
            if Instant::now() >= deadline {
                return Err(err);
            }
            tracing::debug!(error = %err, "proposal not accepted yet; retrying");
            tokio::select! {
                _ = tokio::time::sleep(RETRY_PAUSE) => {}
                _ = self.cancel.cancelled() => return Err(MetaError::Shutdown),
            }
        }
    }

    /// POSTs `body` to the leader's `path`, marked as forwarded so it is not
    /// forwarded again.
    async fn forward<Req, Resp>(
        &self,
        leader: &LeaderInfo,
        path: &str,
        body: &Req,
    ) -> Result<Resp, ForwardError>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
    {
        let url = format!("http://{}{}", leader.addr, path);
        if self.net_faults.is_isolated() {
            return Err(ForwardError::NotSent(MetaError::unavailable(format!(
                "{url}: isolated by fault injection"
            ))));
        }
        tracing::debug!(%url, leader = leader.id, "forwarding to leader");
        let resp = self
            .http
            .post(&url)
            .header(FORWARDED_HEADER, self.id.to_string())
            .timeout(self.propose_timeout)
            .json(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    ForwardError::NotSent(MetaError::unavailable_from(&url, e))
                } else {
                    ForwardError::Failed(MetaError::indeterminate_from(&url, e))
                }
            })?;
        decode_response(resp).await.map_err(|e| match e {
            // The leader refused before proposing: safe to retry.
            e @ (MetaError::NotLeader { .. } | MetaError::Unavailable { .. }) => {
                ForwardError::NotSent(e)
            }
            e => ForwardError::Failed(e),
        })
    }

    pub(crate) async fn initialize(
        &self,
        members: BTreeMap<NodeId, String>,
    ) -> Result<(), MetaError> {
        let nodes: BTreeMap<NodeId, BasicNode> = members
            .into_iter()
            .map(|(id, addr)| (id, BasicNode::new(addr)))
            .collect();
        tracing::info!(id = self.id, members = ?nodes, "initializing meta cluster");
        match self.raft.initialize(nodes).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotAllowed(e))) => {
                tracing::info!(id = self.id, reason = %e, "already initialized");
                Ok(())
            }
            Err(RaftError::APIError(e)) => Err(MetaError::Invalid(e.to_string())),
            Err(RaftError::Fatal(e)) => Err(self.raft_error(e)),
        }
    }

    pub(crate) async fn add_learner(&self, id: NodeId, addr: String) -> Result<u64, MetaError> {
        tracing::info!(learner = id, %addr, "adding learner");
        let res = self.raft.add_learner(id, BasicNode::new(addr), true).await;
        self.membership_result(res)
    }

    pub(crate) async fn change_membership(
        &self,
        voters: BTreeSet<NodeId>,
        retain: bool,
    ) -> Result<u64, MetaError> {
        tracing::info!(?voters, retain, "changing membership");
        let res = self.raft.change_membership(voters, retain).await;
        self.membership_result(res)
    }

    pub(crate) async fn add_voter(&self, id: NodeId, addr: String) -> Result<u64, MetaError> {
        if self.membership().voters.contains_key(&id) {
            tracing::info!(id, "already a voter");
            return self.raft_index();
        }
        self.add_learner(id, addr).await?;
        tracing::info!(voter = id, "promoting learner to voter");
        let res = self
            .raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await;
        self.membership_result(res)
    }

    pub(crate) async fn remove_node(&self, id: NodeId) -> Result<u64, MetaError> {
        let m = self.membership();
        let change = if m.voters.contains_key(&id) {
            if m.voters.len() == 1 {
                return Err(MetaError::Invalid(format!(
                    "node {id} is the last voter; it cannot be removed"
                )));
            }
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else if m.learners.contains_key(&id) {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        } else {
            return Err(MetaError::Invalid(format!("node {id} is not a member")));
        };
        tracing::info!(node = id, "removing node");
        let res = self.raft.change_membership(change, false).await;
        self.membership_result(res)
    }

    fn raft_index(&self) -> Result<u64, MetaError> {
        Ok(self.membership().index)
    }

    pub(crate) fn membership(&self) -> MembershipResponse {
        let m = self.raft.metrics();
        let m = m.borrow();
        let stored = &m.membership_config;
        let membership = stored.membership();
        let addr = |id: NodeId| {
            membership
                .get_node(&id)
                .map(|n| n.addr.clone())
                .unwrap_or_default()
        };
        let voters = membership.voter_ids().map(|id| (id, addr(id))).collect();
        let learners = membership.learner_ids().map(|id| (id, addr(id))).collect();
        let leader = m.current_leader.and_then(|id| {
            membership.get_node(&id).map(|n| LeaderInfo {
                id,
                addr: n.addr.clone(),
            })
        });
        let matched = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .filter_map(|(id, log)| log.map(|l| (*id, l.index)))
                    .collect()
            })
            .unwrap_or_default();
        MembershipResponse {
            node_id: self.id,
            leader,
            voters,
            learners,
            index: stored.log_id().map(|l| l.index).unwrap_or(0),
            term: m.current_term,
            applied: m.last_applied.map(|l| l.index).unwrap_or(0),
            last_log_index: m.last_log_index.unwrap_or(0),
            matched,
        }
    }

    /// The id of a peer that already has a membership, if any answers.
    async fn initialized_peer(&self, peers: &BTreeMap<NodeId, String>) -> Option<NodeId> {
        for (&id, addr) in peers {
            if id == self.id {
                continue;
            }
            let url = format!("http://{addr}/api/membership");
            let resp = self
                .http
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            let Ok(resp) = resp else { continue };
            if let Ok(m) = decode_response::<MembershipResponse>(resp).await {
                if !m.voters.is_empty() {
                    return Some(id);
                }
            }
        }
        None
    }

    fn membership_result(
        &self,
        res: Result<
            openraft::raft::ClientWriteResponse<crate::types::TypeConfig>,
            RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>,
        >,
    ) -> Result<u64, MetaError> {
        match res {
            Ok(r) => Ok(r.log_id.index),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(MetaError::NotLeader {
                    leader: f.leader_id.zip(f.leader_node).map(|(id, node)| LeaderInfo {
                        id,
                        addr: node.addr,
                    }),
                })
            }
            Err(RaftError::APIError(e)) => Err(MetaError::Invalid(e.to_string())),
            Err(RaftError::Fatal(e)) => Err(self.raft_error(e)),
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
