//! Helpers shared by the meta node integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sluice_meta::command::Command;
use sluice_meta::{ChangeEntry, MetaNode, MetaNodeConfig, MetaTuning};

/// Fails the test if `fut` takes longer than `secs`.
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs}s: {what}"))
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A node on an ephemeral localhost port with small, test-friendly tuning.
pub fn config(id: u64, dir: &Path) -> MetaNodeConfig {
    let mut cfg = MetaNodeConfig::new(id, dir, "127.0.0.1:0".parse().unwrap());
    cfg.tuning = MetaTuning {
        propose_timeout: Duration::from_secs(10),
        ..MetaTuning::default()
    };
    cfg
}

pub async fn start(cfg: MetaNodeConfig) -> Arc<MetaNode> {
    within(10, "node start", MetaNode::start(cfg))
        .await
        .expect("node starts")
}

/// Every entry the node's feed still holds.
pub fn feed_entries(node: &MetaNode) -> Vec<ChangeEntry> {
    match node.feed().read_after(node.feed().base(), usize::MAX) {
        sluice_meta::feed::FeedRead::Entries(e) => e,
        sluice_meta::feed::FeedRead::Behind => unreachable!("reading from the base"),
    }
}

pub fn init_cluster(id: &str) -> Command {
    Command::InitCluster {
        cluster_id: id.to_string(),
    }
}

/// The state as JSON, for equality checks.
pub fn state_json(replica: &sluice_meta::Replica) -> serde_json::Value {
    replica.read(|s| serde_json::to_value(s).unwrap())
}
