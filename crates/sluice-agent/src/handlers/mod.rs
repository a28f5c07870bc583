//! One module per Kafka API. Shared patterns (topic lookup, string conversions) live here once.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod alter_share_group_offsets;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod client_quotas;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_share_group_offsets;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_share_group_offsets;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod elect_leaders;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod groups;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod partition_reassignments;
pub mod produce;
pub mod share_acknowledge;
pub mod share_fetch;
pub mod share_group_describe;
pub mod share_group_heartbeat;
pub mod share_requests;
pub mod streams_group;
pub mod streams_group_describe;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod update_features;
pub mod write_txn_markers;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::agent::Agent;

/// A `kafka-protocol` string from an owned or borrowed string (one copy at most).
pub fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// A `kafka-protocol` topic name from a string.
pub fn topic_name(s: impl Into<String>) -> TopicName {
    TopicName(str_bytes(s))
}

/// A topic as requests name it (by name before topic ids, by id after), resolved.
#[derive(Debug, Clone)]
pub struct ResolvedTopic {
    /// The topic's name.
    pub name: String,
    /// The topic's id (KIP-516).
    pub id: Uuid,
    /// The topic's partition count.
    pub partitions: i32,
}

impl Agent {
    /// Resolves a topic by id when one is given (non-nil), else by name.
    pub fn resolve_topic(&self, name: Option<&str>, id: Uuid) -> Option<ResolvedTopic> {
        self.read(|s| {
            let t = if !id.is_nil() {
                s.topic_by_id(id)
            } else {
                name.and_then(|n| s.topic(n))
            }?;
            Some(ResolvedTopic {
                name: t.name.clone(),
                id: t.id,
                partitions: t.partitions.len() as i32,
            })
        })
    }
}

/// Kafka's checks of a classic group member (SyncGroup, Heartbeat): a static member fenced by
/// a newer instance, an unknown member, a stale generation.
pub fn group_member_error(
    g: &sluice_meta::classic_group::ClassicGroup,
    member_id: &str,
    instance_id: Option<&str>,
    generation: i32,
) -> Option<i16> {
    if let Some(inst) = instance_id {
        if g.member_by_instance(inst)
            .is_some_and(|m| m.member_id != member_id)
        {
            return Some(kafka_protocol::error::ResponseError::FencedInstanceId.code());
        }
    }
    sluice_meta::groups::check_member(g, member_id, generation)
}

/// A partition as Metadata, DescribeTopicPartitions and the reassignment APIs show it: any
/// agent serves any partition, so the leader is a live agent picked by hash (spreading clients),
/// its one replica and in-sync replica, in Sluice's one leader epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    /// The agent id reported as leader (and only replica).
    pub leader: kafka_protocol::messages::BrokerId,
    /// Always [`crate::reader::LEADER_EPOCH`].
    pub leader_epoch: i32,
    /// The replica set, which is also the ISR: the leader alone.
    pub replicas: Vec<kafka_protocol::messages::BrokerId>,
}

impl PartitionView {
    /// The view of `topic`'s `partition` among the live `agents`.
    pub fn of(agents: &[sluice_meta::state::AgentInfo], topic: &str, partition: i32) -> Self {
        let leader =
            kafka_protocol::messages::BrokerId(Agent::leader_for(agents, topic, partition));
        PartitionView {
            leader,
            leader_epoch: crate::reader::LEADER_EPOCH,
            replicas: vec![leader],
        }
    }
}

/// Kafka's fencing of a client's view of the leader (ListOffsets v4+, OffsetForLeaderEpoch;
/// -1 means "not sent"). Sluice has one leader epoch forever ([`crate::reader::LEADER_EPOCH`]),
/// so only a client confused about it is refused: FENCED_LEADER_EPOCH below it,
/// UNKNOWN_LEADER_EPOCH above it.
pub fn check_leader_epoch(current: i32) -> Result<(), kafka_protocol::error::ResponseError> {
    use std::cmp::Ordering;
    match current.cmp(&crate::reader::LEADER_EPOCH) {
        _ if current < 0 => Ok(()),
        Ordering::Less => Err(kafka_protocol::error::ResponseError::FencedLeaderEpoch),
        Ordering::Greater => Err(kafka_protocol::error::ResponseError::UnknownLeaderEpoch),
        Ordering::Equal => Ok(()),
    }
}

// ---- Shared by the admin handlers ----

pub use admin::*;

/// Helpers two or more admin handlers need (errors, duplicate checks, topic config listings).
mod admin {
    use std::collections::HashSet;

    use kafka_protocol::error::ResponseError;
    use sluice_meta::command::{Command, CommandResponse};

    use crate::agent::Agent;
    use crate::request::RequestContext;

    /// A per-resource error as admin responses carry it: Kafka's code and, where Kafka sends one,
    /// its message.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ApiError {
        /// Kafka's error code (`ResponseError::code`).
        pub code: i16,
        /// The error message; `None` where Kafka sends null.
        pub message: Option<String>,
    }

    impl ApiError {
        /// An error with Kafka's code for `error` and a message.
        pub fn new(error: ResponseError, message: impl Into<String>) -> Self {
            ApiError {
                code: error.code(),
                message: Some(message.into()),
            }
        }

        /// An error Kafka sends without a message.
        pub fn bare(error: ResponseError) -> Self {
            ApiError {
                code: error.code(),
                message: None,
            }
        }

        /// A per-resource outcome as the wire carries it: `(error_code, error_message)`, with
        /// the null message Kafka sends on success.
        pub fn fields(
            outcome: Result<(), ApiError>,
        ) -> (i16, Option<kafka_protocol::protocol::StrBytes>) {
            match outcome {
                Ok(()) => (0, None),
                Err(e) => (e.code, e.message.map(super::str_bytes)),
            }
        }
    }

    /// Kafka caps the partitions one CreateTopics (or CreatePartitions) request may add, so that a
    /// single request cannot blow up the metadata.
    pub const MAX_PARTITIONS_PER_REQUEST: i64 = 10_000;

    /// The whole-request error when [`MAX_PARTITIONS_PER_REQUEST`] is exceeded (Kafka's words).
    pub fn too_many_partitions() -> ApiError {
        ApiError::new(
            ResponseError::PolicyViolation,
            "Excessively large number of partitions per request.",
        )
    }

    /// The items that occur more than once (Kafka rejects a duplicated resource).
    pub fn duplicates<T: Eq + std::hash::Hash + Copy>(
        items: impl IntoIterator<Item = T>,
    ) -> HashSet<T> {
        let mut seen = HashSet::new();
        let mut dup = HashSet::new();
        for n in items {
            if !seen.insert(n) {
                dup.insert(n);
            }
        }
        dup
    }

    /// `resource_type` of the config APIs (Kafka's `ConfigResource.Type` ids).
    pub mod resource_type {
        /// A topic (`resource_name` is the topic name).
        pub const TOPIC: i8 = 2;
        /// A broker (`resource_name` is its id; empty for the cluster-wide defaults).
        pub const BROKER: i8 = 4;
        /// A consumer or share group (KIP-848 / KIP-932 group configs).
        pub const GROUP: i8 = 32;
        /// A broker's log4j loggers (refused: Sluice has none to configure).
        pub const BROKER_LOGGER: i8 = 8;
    }

    /// `INVALID_CONFIG` for a topic config Kafka refuses, with Kafka's message.
    pub fn invalid_config(e: crate::topic_config::ConfigError) -> ApiError {
        ApiError::new(ResponseError::InvalidConfig, e.to_string())
    }

    /// `INVALID_TOPIC_EXCEPTION` for a topic name Kafka refuses, with Kafka's message.
    impl From<crate::topic_config::IllegalTopicName> for ApiError {
        fn from(e: crate::topic_config::IllegalTopicName) -> Self {
            ApiError::new(ResponseError::InvalidTopicException, e.to_string())
        }
    }

    /// `INVALID_CONFIG` for a group config Kafka refuses, with Kafka's message.
    impl From<crate::group_config::GroupConfigError> for ApiError {
        fn from(e: crate::group_config::GroupConfigError) -> Self {
            ApiError::new(ResponseError::InvalidConfig, e.to_string())
        }
    }

    /// Kafka's checks on one partition's manual replica list (CreateTopics, CreatePartitions):
    /// not empty, every broker registered and named once, and as many replicas as the
    /// partitions before it (`replicas`). Agents serve any partition, so the list only has to
    /// be well-formed; it does not pin the partition anywhere.
    pub fn validate_manual_assignment(
        broker_ids: &[i32],
        registered: &dyn Fn(i32) -> bool,
        replicas: Option<usize>,
    ) -> Result<(), ApiError> {
        let invalid = |m: String| ApiError::new(ResponseError::InvalidReplicaAssignment, m);
        if broker_ids.is_empty() {
            return Err(invalid(
                "The manual partition assignment includes an empty replica list.".into(),
            ));
        }
        let mut sorted = broker_ids.to_vec();
        sorted.sort_unstable();
        for (i, id) in sorted.iter().enumerate() {
            if !registered(*id) {
                return Err(invalid(format!(
                    "The manual partition assignment includes broker {id}, but no such broker is registered."
                )));
            }
            if i > 0 && sorted[i - 1] == *id {
                return Err(invalid(format!(
                    "The manual partition assignment includes the broker {id} more than once."
                )));
            }
        }
        match replicas {
            Some(n) if n != broker_ids.len() => Err(invalid(format!(
                "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {n} replica(s).",
                broker_ids.len()
            ))),
            _ => Ok(()),
        }
    }

    /// The gate of the ACL APIs: SECURITY_DISABLED without an authorizer (Kafka's words), else
    /// `op` (ALTER or DESCRIBE) on the cluster or CLUSTER_AUTHORIZATION_FAILED.
    pub fn acl_gate(cx: &RequestContext, op: crate::authz::Op) -> Result<(), ApiError> {
        if !cx.agent.authorizer_enabled() {
            return Err(ApiError::new(
                ResponseError::SecurityDisabled,
                "No Authorizer is configured.",
            ));
        }
        if !cx.authorize(op, crate::authz::Res::Cluster) {
            return Err(cluster_denied());
        }
        Ok(())
    }

    /// DescribeConfigs / IncrementalAlterConfigs: `op` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on
    /// the resource a config resource names, with that resource's authorization error.
    pub fn config_resource_gate(
        cx: &RequestContext,
        op: crate::authz::Op,
        resource_type: i8,
        name: &str,
    ) -> Result<(), ApiError> {
        use crate::authz::Res;
        let (res, error) = match resource_type {
            resource_type::TOPIC => (Res::Topic(name), ResponseError::TopicAuthorizationFailed),
            resource_type::GROUP => (Res::Group(name), ResponseError::GroupAuthorizationFailed),
            resource_type::BROKER | resource_type::BROKER_LOGGER => {
                (Res::Cluster, ResponseError::ClusterAuthorizationFailed)
            }
            _ => return Ok(()),
        };
        if cx.authorize(op, res) {
            Ok(())
        } else {
            Err(ApiError::new(error, "Authorization failed."))
        }
    }

    /// CLUSTER_AUTHORIZATION_FAILED as admin responses carry it.
    pub fn cluster_denied() -> ApiError {
        ApiError::new(
            ResponseError::ClusterAuthorizationFailed,
            "Cluster authorization failed.",
        )
    }

    impl Agent {
        /// Proposes a command and folds both failure kinds (quorum trouble, a refusal by the state
        /// machine) into the [`ApiError`] the client gets.
        pub async fn propose_admin(&self, cmd: Command) -> Result<CommandResponse, ApiError> {
            match self.propose(cmd).await {
                Ok(CommandResponse::Error { code, message }) => Err(ApiError {
                    code,
                    message: Some(message),
                }),
                Ok(r) => Ok(r),
                Err(e) => Err(ApiError::new(
                    e,
                    "The metadata quorum did not answer in time.",
                )),
            }
        }
    }
}

/// Fixtures shared by the handlers' unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::collections::BTreeMap;

    use sluice_meta::state::{MetaState, PartitionLog, Topic};
    use uuid::Uuid;

    /// A replica state holding `topics`, each (name, topic id, partition count) with empty
    /// partitions and no configs.
    pub fn state_with_topics(topics: &[(&str, Uuid, usize)]) -> MetaState {
        let mut s = MetaState::default();
        for (name, id, partitions) in topics {
            let t = Topic {
                name: name.to_string(),
                id: *id,
                configs: BTreeMap::new(),
                partitions: vec![PartitionLog::default(); *partitions],
                created_ms: 0,
            };
            s.topics.insert(name.to_string(), t);
        }
        s
    }
}
