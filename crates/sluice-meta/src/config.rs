//! Configuration of a meta node.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::feed::DEFAULT_FEED_CAPACITY;
use crate::types::NodeId;

/// How to start a [`MetaNode`](crate::MetaNode).
#[derive(Debug, Clone)]
pub struct MetaNodeConfig {
    /// Raft node id; unique in the cluster and stable across restarts.
    pub id: NodeId,
    /// Directory holding the raft log database and `snapshots/`.
    pub data_dir: PathBuf,
    /// Address the HTTP listener binds (port 0 picks a free port; see
    /// [`MetaNode::local_addr`](crate::MetaNode::local_addr)).
    pub listen: SocketAddr,
    /// `host:port` peers use to reach this node; defaults to the bound address.
    pub advertised: Option<String>,
    /// The other voters (or all voters, this one included): id → `host:port`.
    /// Only used to bootstrap a new cluster.
    pub peers: BTreeMap<NodeId, String>,
    /// Initialize the cluster on first start (from the lowest id of `peers` ∪ {self}).
    pub bootstrap: bool,
    /// Upload every snapshot here too, and start from the newest one when the data directory
    /// is empty (see [`crate::archive`]).
    pub snapshot_archive: Option<std::sync::Arc<dyn crate::archive::SnapshotArchive>>,
    /// Automatic replacement: started with an empty data directory next to peers that already
    /// form a cluster with a leader, this node has the leader remove its id (its old
    /// incarnation's log and votes are gone) and, once started, adds itself back (learner,
    /// catch up from the archived snapshot and the log, voter). See `MetaNode::start`.
    pub rejoin: bool,
    /// Serve `/admin/net-faults` (cut or delay raft traffic; tests and drills only).
    pub fault_injection: bool,
    /// Timeouts, snapshot policy and buffer sizes.
    pub tuning: MetaTuning,
}

impl MetaNodeConfig {
    /// A single node that bootstraps itself, with default tuning.
    pub fn new(id: NodeId, data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        MetaNodeConfig {
            id,
            data_dir: data_dir.into(),
            listen,
            advertised: None,
            peers: BTreeMap::new(),
            bootstrap: true,
            snapshot_archive: None,
            rejoin: false,
            fault_injection: false,
            tuning: MetaTuning::default(),
        }
    }
}

/// Knobs with sensible LAN defaults; tests shrink them.
#[derive(Debug, Clone)]
pub struct MetaTuning {
    /// Leader heartbeat interval (also the append-entries RPC timeout).
    pub heartbeat_ms: u64,
    /// Lower bound of the randomized election timeout.
    pub election_min_ms: u64,
    /// Upper bound of the randomized election timeout.
    pub election_max_ms: u64,
    /// Build a snapshot after this many entries since the last one.
    pub snapshot_every: u64,
    /// Entries kept in the log behind a snapshot (so slightly lagging followers
    /// catch up from the log instead of a snapshot).
    pub logs_to_keep: u64,
    /// Entries kept in the in-memory change feed.
    pub feed_capacity: usize,
    /// How long a proposal may wait for a leader (election, forwarding).
    pub propose_timeout: Duration,
}

impl Default for MetaTuning {
    fn default() -> Self {
        MetaTuning {
            heartbeat_ms: 100,
            election_min_ms: 300,
            election_max_ms: 600,
            snapshot_every: 10_000,
            logs_to_keep: 1_000,
            feed_capacity: DEFAULT_FEED_CAPACITY,
            propose_timeout: Duration::from_secs(10),
        }
    }
}
