//! Commands proposed to the metadata quorum, and their responses.
//!
//! A command carries everything its application needs, including the proposer's clock
//! (`now_ms`) and any random ids, so that applying it is deterministic on every replica.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::acl::{AclBinding, AclBindingFilter};
use crate::groups::{GroupCommand, GroupResponse};
use crate::state::{AgentInfo, ProducerInfo, ScramCredential};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Command {
    /// A blank command (tests, leadership probes).
    Noop,
    /// Sets the cluster id once; later ones are ignored.
    InitCluster {
        cluster_id: String,
    },
    /// Registers or refreshes an agent. `agent_id < 0` asks for a fresh id.
    AgentHeartbeat {
        agent: AgentInfo,
        now_ms: i64,
    },
    /// An agent leaving cleanly.
    AgentLeave {
        agent_id: i32,
    },
    CreateTopic {
        name: String,
        id: Uuid,
        partitions: i32,
        configs: Vec<(String, String)>,
        now_ms: i64,
    },
    DeleteTopic {
        name: String,
    },
    CreatePartitions {
        name: String,
        count: i32,
    },
    /// Sets (`Some`) or removes (`None`) topic config overrides.
    AlterTopicConfigs {
        name: String,
        ops: Vec<(String, Option<String>)>,
    },
    /// One flushed segment object: assigns offsets to every batch it holds.
    CommitSegment(SegmentCommit),
    /// KIP-932 share groups (membership, acquisitions, acknowledgements, admin).
    Share(crate::share_group::ShareCommand),
    /// Allocates a producer id, or bumps the epoch of an existing one.
    InitProducerId {
        producer_id: i64,
        producer_epoch: i16,
        now_ms: i64,
    },
    /// Drops data past each topic's retention, as of `now_ms`; topics without overrides use
    /// `defaults` (the proposer's `--log-retention-*`).
    ApplyRetention {
        now_ms: i64,
        #[serde(default)]
        defaults: crate::lifecycle::RetentionDefaults,
    },
    /// Storage lifecycle: DeleteRecords, job leases, compaction swaps.
    Lifecycle(crate::lifecycle::LifecycleCommand),
    /// The janitor deleted these unreferenced objects.
    ObjectsDeleted {
        keys: Vec<String>,
    },
    /// AlterUserScramCredentials upsertion (keys derived by the agent from the salted password).
    UpsertScramCredential {
        user: String,
        mechanism: i8,
        credential: ScramCredential,
    },
    /// AlterUserScramCredentials deletion; RESOURCE_NOT_FOUND when there is no such credential.
    DeleteScramCredential {
        user: String,
        mechanism: i8,
    },
    /// Consumer group membership and committed offsets (see [`crate::groups`]).
    Group(GroupCommand),
    /// CreateAcls: bindings the agent validated; existing ones are left as they are.
    CreateAcls {
        bindings: Vec<AclBinding>,
    },
    /// Topics as tables: the writer's lease and each table commit (see [`crate::tables`]).
    Table(crate::tables::TableCommand),
    /// DeleteAcls: answered with the bindings each filter removed ([`CommandResponse::AclsDeleted`]).
    DeleteAcls {
        filters: Vec<AclBindingFilter>,
    },
    /// The transaction coordinator ([`crate::txn`]).
    Txn(crate::txn::TxnCommand),
}

/// One segment object and, per partition, the batches it holds in byte order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentCommit {
    pub object: String,
    pub object_len: u64,
    pub agent_id: i32,
    /// Proposer's clock when it proposed the commit (after the upload).
    pub now_ms: i64,
    pub partitions: Vec<PartitionAppend>,
    /// Proposer's clock when the object's upload began (at or before its last-modified time).
    #[serde(default)]
    pub uploaded_ms: i64,
    /// The commit is refused (REQUEST_TIMED_OUT, nothing appended) when `now_ms - uploaded_ms`
    /// exceeds this: the janitor may already consider the object an orphan. Half the janitor's
    /// grace period; 0 = no limit.
    #[serde(default)]
    pub max_age_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartitionAppend {
    pub topic: String,
    /// Guards against a topic deleted and re-created while the segment was in flight.
    pub topic_id: Uuid,
    pub partition: i32,
    pub batches: Vec<BatchMeta>,
}

/// What the state machine needs of one stored batch; the bytes stay in the object.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct BatchMeta {
    pub pos: u64,
    pub len: u64,
    /// Offsets the batch occupies (`lastOffsetDelta + 1`).
    pub records: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    /// The batch belongs to a transaction (attributes bit 4).
    #[serde(default)]
    pub transactional: bool,
    /// Its Produce request (v12+, KIP-890 transaction version 2) lets the partition join the
    /// producer's transaction without AddPartitionsToTxn.
    #[serde(default)]
    pub implicit_add_to_txn: bool,
}

/// The fate of one batch in a `CommitSegment`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum BatchOutcome {
    Appended {
        base_offset: i64,
    },
    /// An idempotent retry of a batch already in the log: answered with its original offset.
    Duplicate {
        base_offset: i64,
    },
    /// Rejected with a Kafka error code; nothing was appended.
    Rejected {
        error_code: i16,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartitionAppendResult {
    pub outcomes: Vec<BatchOutcome>,
    pub log_start_offset: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub enum CommandResponse {
    #[default]
    Ok,
    /// A Kafka error code with a message.
    Error {
        code: i16,
        message: String,
    },
    AgentId(i32),
    /// One result per `PartitionAppend`, in order.
    Committed(Vec<PartitionAppendResult>),
    Producer(ProducerInfo),
    Share(crate::share_group::ShareResponse),
    Group(GroupResponse),
    /// Per DeleteAcls filter, in order, the bindings it removed.
    AclsDeleted(Vec<Vec<AclBinding>>),
    /// One Kafka error code per item of the command (WriteTxnMarkers' partitions).
    Codes(Vec<i16>),
    /// A [`crate::lifecycle::LifecycleCommand`]'s answer.
    Lifecycle(crate::lifecycle::LifecycleResponse),
}
