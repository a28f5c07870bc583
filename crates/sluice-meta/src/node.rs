//! A running meta node: raft + log store + state machine + HTTP listener.
//!
//! [`MetaNode::start`] opens the storage under the data directory, binds the
//! listener, starts raft and the HTTP server, and bootstraps the cluster on first
//! start when asked to. Every task it spawns is owned by the node and ends in
//! [`MetaNode::shutdown`]. Proposals made on a follower are forwarded to the
//! leader over HTTP (`NodeCore::propose`); the state the node and its HTTP
//! handlers share lives in `node_core`, below both this module and `server`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::{ServerState, SnapshotPolicy};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::MembershipResponse;
use crate::command::{Command, CommandResponse};
use crate::config::MetaNodeConfig;
use crate::error::{LeaderInfo, MetaError};
use crate::feed::ChangeFeed;
use crate::health::NotReady;
use crate::log_store::{LogStore, LOG_FILE_NAME};
use crate::netfault::NetFaults;
use crate::network::HttpNetworkFactory;
use crate::node_core::NodeCore;
use crate::replica::Replica;
use crate::state_machine::StateMachineStore;
use crate::types::{MetaRaft, NodeId};

/// A running meta node.
pub struct MetaNode {
    core: Arc<NodeCore>,
    local_addr: SocketAddr,
    tasks: Mutex<Vec<JoinHandle<()>>>,
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
