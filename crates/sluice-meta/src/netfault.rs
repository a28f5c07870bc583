//! Fault injection for raft traffic: cut a node off from its peers (a network partition),
//! cut single links, or delay every outbound raft RPC.
//!
//! A [`NetFaults`] is shared by the node's raft client ([`crate::network`]) and its HTTP
//! listener: a cut link fails outbound RPCs as unreachable and answers inbound ones with
//! `503`, so both directions are severed, and an isolated node also stops forwarding
//! proposals to the leader. Agents can still reach an isolated node (it serves its own,
//! possibly stale, state), which is what a partition between meta nodes looks like to them.
//!
//! Only reachable over HTTP (`GET|POST /admin/net-faults`) on nodes started with fault
//! injection enabled (`sluice meta --fault-injection`); meant for tests and drills.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::NodeId;

/// What to do to this node's raft traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetFaultConfig {
    /// Cut every raft link of this node, both directions, and proposal forwarding.
    pub isolate: bool,
    /// Cut the links to and from these peers only.
    pub cut: BTreeSet<NodeId>,
    /// Delay every outbound raft RPC by this many milliseconds.
    pub delay_ms: u64,
}

/// Answer of `/admin/net-faults`: the settings and how many RPCs they refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetFaultStatus {
    /// Current settings.
    pub config: NetFaultConfig,
    /// Raft RPCs refused (sent or received) since start.
    pub dropped: u64,
}

/// Shared, runtime-switchable raft traffic faults.
#[derive(Debug, Default)]
pub struct NetFaults {
    cfg: RwLock<NetFaultConfig>,
    dropped: AtomicU64,
}

impl NetFaults {
    /// Replaces the settings.
    pub fn set(&self, cfg: NetFaultConfig) {
        tracing::warn!(?cfg, "raft network fault injection changed");
        *self.cfg.write().unwrap_or_else(|e| e.into_inner()) = cfg;
    }

    /// The settings and counters.
    pub fn status(&self) -> NetFaultStatus {
        NetFaultStatus {
            config: self.cfg.read().unwrap_or_else(|e| e.into_inner()).clone(),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// Whether traffic with `peer` (`None`: unknown sender) is cut; counts it if so.
    pub fn is_cut(&self, peer: Option<NodeId>) -> bool {
        let cfg = self.cfg.read().unwrap_or_else(|e| e.into_inner());
        let cut = cfg.isolate || peer.is_some_and(|p| cfg.cut.contains(&p));
        if cut {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        cut
    }

    /// Whether the node is isolated (no forwarding to the leader either).
    pub fn is_isolated(&self) -> bool {
        self.cfg.read().unwrap_or_else(|e| e.into_inner()).isolate
    }

    /// Delay to add before an outbound RPC.
    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.cfg.read().unwrap_or_else(|e| e.into_inner()).delay_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_cuts_everyone_and_cut_sets_only_their_peers() {
        let f = NetFaults::default();
        assert!(!f.is_cut(Some(2)));
        f.set(NetFaultConfig {
            cut: BTreeSet::from([2]),
            ..Default::default()
        });
        assert!(f.is_cut(Some(2)));
        assert!(!f.is_cut(Some(3)));
        assert!(!f.is_cut(None));
        f.set(NetFaultConfig {
            isolate: true,
            delay_ms: 5,
            ..Default::default()
        });
        assert!(f.is_cut(Some(3)) && f.is_cut(None) && f.is_isolated());
        assert_eq!(f.delay(), Duration::from_millis(5));
        assert_eq!(f.status().dropped, 3);
    }
}
