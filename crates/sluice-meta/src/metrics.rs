//! Prometheus metrics of the metadata quorum, recorded by the leader.
//!
//! - `sluice_meta_raft_commit_seconds` (histogram): from handing a command to raft on the leader
//!   to its commit and application there, i.e. what a proposal costs in the quorum (one round of
//!   log replication to a majority plus the apply). Forwarding from a follower or an agent's HTTP
//!   hop is not included: agents see that in `sluice_segment_flush_seconds`.
//! - `sluice_meta_proposals_total{kind}`: commands committed by this node as leader, by kind
//!   (`commit_segment`, `agent_heartbeat`, ...).
//!
//! The metrics go to whichever recorder the binary installs (`--metrics-listen`); without one
//! they cost next to nothing. [`RAFT_COMMIT_BUCKETS`] are the histogram's bucket bounds, which
//! the exporter must be told (it renders summaries otherwise).

use std::time::Duration;

use crate::command::Command;

/// Name of the commit latency histogram.
pub const RAFT_COMMIT_SECONDS: &str = "sluice_meta_raft_commit_seconds";

/// Bucket upper bounds (seconds) of [`RAFT_COMMIT_SECONDS`]: fine below 10 ms, where a healthy
/// LAN quorum commits, coarse up to the 10 s proposal timeout.
pub const RAFT_COMMIT_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.000_75, 0.001, 0.001_5, 0.002, 0.002_5, 0.003, 0.004, 0.005, 0.006, 0.008,
    0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Records one command committed and applied on this node as leader.
pub(crate) fn record_commit(cmd: &Command, took: Duration) {
    metrics::histogram!(RAFT_COMMIT_SECONDS).record(took.as_secs_f64());
    metrics::counter!("sluice_meta_proposals_total", "kind" => command_kind(cmd)).increment(1);
}

/// A short, stable label for a command's kind.
pub fn command_kind(cmd: &Command) -> &'static str {
    match cmd {
        Command::Noop => "noop",
        Command::InitCluster { .. } => "init_cluster",
        Command::AgentHeartbeat { .. } => "agent_heartbeat",
        Command::AgentLeave { .. } => "agent_leave",
        Command::CreateTopic { .. } => "create_topic",
        Command::DeleteTopic { .. } => "delete_topic",
        Command::CreatePartitions { .. } => "create_partitions",
        Command::AlterTopicConfigs { .. } => "alter_topic_configs",
        Command::CommitSegment(_) => "commit_segment",
        Command::Share(_) => "share",
        Command::InitProducerId { .. } => "init_producer_id",
        Command::ApplyRetention { .. } => "apply_retention",
        Command::ObjectsDeleted { .. } => "objects_deleted",
        Command::Lifecycle(c) => match c {
            crate::lifecycle::LifecycleCommand::DeleteRecords { .. } => "delete_records",
            crate::lifecycle::LifecycleCommand::AcquireLease { .. }
            | crate::lifecycle::LifecycleCommand::ReleaseLease { .. } => "lifecycle_lease",
            crate::lifecycle::LifecycleCommand::SwapChunks(_) => "swap_chunks",
        },
        Command::UpsertScramCredential { .. } => "upsert_scram_credential",
        Command::DeleteScramCredential { .. } => "delete_scram_credential",
        Command::Group(_) => "group",
        Command::CreateAcls { .. } => "create_acls",
        Command::DeleteAcls { .. } => "delete_acls",
        Command::Txn(c) => match c {
            crate::txn::TxnCommand::InitProducerId { .. } => "txn_init_producer_id",
            crate::txn::TxnCommand::AddPartitions { .. } => "txn_add_partitions",
            crate::txn::TxnCommand::AddOffsets { .. } => "txn_add_offsets",
            crate::txn::TxnCommand::OffsetCommit { .. } => "txn_offset_commit",
            crate::txn::TxnCommand::End { .. } => "txn_end",
            crate::txn::TxnCommand::WriteMarkers { .. } => "txn_write_markers",
            crate::txn::TxnCommand::Expire { .. } => "txn_expire",
        },
        Command::Table(_) => "table",
    }
}
