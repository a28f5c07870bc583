//! StreamsGroupDescribeResponse (API key 89), versions 0-1, all flexible (KIP-1071).
//!
//! Follows `StreamsGroupDescribeResponse.json` of Kafka 4.4; version 1 adds the topology
//! description, its status and the assignor name (KIP-1331).

use kafka_protocol::messages::{GroupId, TopicName};
use kafka_protocol::protocol::StrBytes;

pub use super::common::{Endpoint, KeyValue, TaskIds, TaskOffset, TopicInfo};
use super::wire::{wire_message, wire_struct, LATEST};

wire_struct! {
    /// The described groups.
    pub struct StreamsGroupDescribeResponse {
        /// Milliseconds the request was throttled for, or 0.
        [0, LATEST, false] pub throttle_time_ms: i32 = 0,
        /// Each described group.
        [0, LATEST, false] pub groups: Vec<DescribedGroup> = Vec::new(),
    }
}

wire_message!(StreamsGroupDescribeResponse, 0, 1, header 1);

wire_struct! {
    /// One described group.
    pub struct DescribedGroup {
        /// The describe error, or 0.
        [0, LATEST, false] pub error_code: i16 = 0,
        /// The error message, or null.
        [0, LATEST, false] pub error_message: Option<StrBytes> = None,
        /// The group ID.
        [0, LATEST, false] pub group_id: GroupId = GroupId::default(),
        /// The group state string, or the empty string.
        [0, LATEST, false] pub group_state: StrBytes = StrBytes::default(),
        /// The group epoch.
        [0, LATEST, false] pub group_epoch: i32 = 0,
        /// The assignment epoch.
        [0, LATEST, false] pub assignment_epoch: i32 = 0,
        /// The topology currently initialized; null on a describe error.
        [0, LATEST, false] pub topology: Option<Topology> = None,
        /// The members.
        [0, LATEST, false] pub members: Vec<Member> = Vec::new(),
        /// Bitfield of the operations the caller may perform on the group.
        [0, LATEST, false] pub authorized_operations: i32 = i32::MIN,
        /// The full topology description; non-null exactly when the status is AVAILABLE (3).
        [1, LATEST, false] pub topology_description: Option<TopologyDescription> = None,
        /// 0 NOT_REQUESTED, 1 NOT_STORED, 2 ERROR, 3 AVAILABLE.
        [1, LATEST, false] pub topology_description_status: i8 = 0,
        /// The task assignor the next assignment will use; null on a describe error.
        [1, LATEST, true] pub assignor_name: Option<StrBytes> = None,
    }
}

wire_struct! {
    /// The topology initialized for the group.
    pub struct Topology {
        /// The topology epoch.
        [0, LATEST, false] pub epoch: i32 = 0,
        /// The configured sub-topologies; null if uninitialized or source topics are missing.
        [0, LATEST, false] pub subtopologies: Option<Vec<Subtopology>> = None,
    }
}

wire_struct! {
    /// One configured sub-topology (regexes resolved, partition counts set).
    pub struct Subtopology {
        /// The sub-topology identifier.
        [0, LATEST, false] pub subtopology_id: StrBytes = StrBytes::default(),
        /// The topics it reads from.
        [0, LATEST, false] pub source_topics: Vec<TopicName> = Vec::new(),
        /// The repartition topics it writes to.
        [0, LATEST, false] pub repartition_sink_topics: Vec<TopicName> = Vec::new(),
        /// Its state changelog topics.
        [0, LATEST, false] pub state_changelog_topics: Vec<TopicInfo> = Vec::new(),
        /// Its repartition source topics.
        [0, LATEST, false] pub repartition_source_topics: Vec<TopicInfo> = Vec::new(),
    }
}

wire_struct! {
    /// One member of the group.
    pub struct Member {
        /// The member ID.
        [0, LATEST, false] pub member_id: StrBytes = StrBytes::default(),
        /// The member epoch.
        [0, LATEST, false] pub member_epoch: i32 = 0,
        /// The instance ID for static membership.
        [0, LATEST, false] pub instance_id: Option<StrBytes> = None,
        /// The rack ID.
        [0, LATEST, false] pub rack_id: Option<StrBytes> = None,
        /// The client ID.
        [0, LATEST, false] pub client_id: StrBytes = StrBytes::default(),
        /// The client host.
        [0, LATEST, false] pub client_host: StrBytes = StrBytes::default(),
        /// The topology epoch on the client.
        [0, LATEST, false] pub topology_epoch: i32 = 0,
        /// Identity of the Streams instance.
        [0, LATEST, false] pub process_id: StrBytes = StrBytes::default(),
        /// Endpoint for interactive queries, if defined.
        [0, LATEST, false] pub user_endpoint: Option<Endpoint> = None,
        /// Client tags for rack-aware assignment.
        [0, LATEST, false] pub client_tags: Vec<KeyValue> = Vec::new(),
        /// Cumulative changelog offsets per task.
        [0, LATEST, false] pub task_offsets: Vec<TaskOffset> = Vec::new(),
        /// Cumulative changelog end offsets per task.
        [0, LATEST, false] pub task_end_offsets: Vec<TaskOffset> = Vec::new(),
        /// The current assignment.
        [0, LATEST, false] pub assignment: Assignment = Assignment::default(),
        /// The target assignment.
        [0, LATEST, false] pub target_assignment: Assignment = Assignment::default(),
        /// True for classic members not upgraded yet.
        [0, LATEST, false] pub is_classic: bool = false,
    }
}

wire_struct! {
    /// Active, standby and warm-up tasks of a member.
    pub struct Assignment {
        /// Active tasks.
        [0, LATEST, false] pub active_tasks: Vec<TaskIds> = Vec::new(),
        /// Standby tasks.
        [0, LATEST, false] pub standby_tasks: Vec<TaskIds> = Vec::new(),
        /// Warm-up tasks.
        [0, LATEST, false] pub warmup_tasks: Vec<TaskIds> = Vec::new(),
    }
}

wire_struct! {
    /// The full topology description (KIP-1331).
    pub struct TopologyDescription {
        /// The sub-topologies.
        [1, LATEST, false] pub subtopologies: Vec<TopologyDescriptionSubtopology> = Vec::new(),
        /// Global state stores.
        [1, LATEST, false] pub global_stores: Vec<TopologyDescriptionGlobalStore> = Vec::new(),
    }
}

wire_struct! {
    /// A described sub-topology.
    pub struct TopologyDescriptionSubtopology {
        /// The sub-topology identifier.
        [1, LATEST, false] pub subtopology_id: StrBytes = StrBytes::default(),
        /// Its processing nodes.
        [1, LATEST, false] pub nodes: Vec<TopologyDescriptionNode> = Vec::new(),
    }
}

wire_struct! {
    /// A processing node.
    pub struct TopologyDescriptionNode {
        /// The node's name (e.g. KSTREAM-SOURCE-0000000000).
        [1, LATEST, false] pub name: StrBytes = StrBytes::default(),
        /// 1 SOURCE, 2 PROCESSOR, 3 SINK.
        [1, LATEST, false] pub node_type: i8 = 0,
        /// Source topics (source nodes only).
        [1, LATEST, false] pub source_topics: Vec<TopicName> = Vec::new(),
        /// The topic written to (sink nodes only), null if dynamic.
        [1, LATEST, false] pub sink_topic: Option<TopicName> = None,
        /// State stores accessed (processor nodes only).
        [1, LATEST, false] pub stores: Vec<StrBytes> = Vec::new(),
        /// Successor nodes' names.
        [1, LATEST, false] pub successors: Vec<StrBytes> = Vec::new(),
    }
}

wire_struct! {
    /// A global state store.
    pub struct TopologyDescriptionGlobalStore {
        /// The source node feeding the store.
        [1, LATEST, false] pub source: TopologyDescriptionNode = TopologyDescriptionNode::default(),
        /// The processor node populating it.
        [1, LATEST, false] pub processor: TopologyDescriptionNode = TopologyDescriptionNode::default(),
    }
}
