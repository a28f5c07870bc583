//! The openraft type configuration for the metadata quorum.
//!
//! Application data is a [`Command`], the response an applied command yields is a
//! [`CommandResponse`], nodes are numbered with `u64` and described by a
//! [`BasicNode`] whose `addr` is the `host:port` of the node's HTTP listener
//! (raft RPCs and the client API share it). Snapshots travel as an in-memory
//! byte buffer holding the JSON of the [`MetaState`](crate::state::MetaState).

use std::io::Cursor;

use openraft::BasicNode;

use crate::command::{Command, CommandResponse};

openraft::declare_raft_types!(
    /// Type configuration of Sluice's metadata raft group.
    pub TypeConfig:
        D = Command,
        R = CommandResponse,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// Identifier of a meta node.
pub type NodeId = u64;
/// A raft log id in this group.
pub type LogId = openraft::LogId<NodeId>;
/// A raft log entry in this group.
pub type Entry = openraft::Entry<TypeConfig>;
/// The raft handle of this group.
pub type MetaRaft = openraft::Raft<TypeConfig>;
/// Membership as stored with the state machine.
pub type StoredMembership = openraft::StoredMembership<NodeId, BasicNode>;
/// Metadata describing a snapshot.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, BasicNode>;
/// Storage error type expected by openraft's storage traits.
pub type StorageError = openraft::StorageError<NodeId>;
