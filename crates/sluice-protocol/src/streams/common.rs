//! The structs several Streams messages share (Kafka's per-message `commonStructs` with identical
//! fields in all versions): defined once, re-exported by each message module under its Kafka name.

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

use super::wire::{wire_struct, LATEST};

wire_struct! {
    /// Tasks of one sub-topology, by partition.
    pub struct TaskIds {
        /// The sub-topology identifier.
        [0, LATEST, false] pub subtopology_id: StrBytes = StrBytes::default(),
        /// The partitions (task numbers).
        [0, LATEST, false] pub partitions: Vec<i32> = Vec::new(),
    }
}

wire_struct! {
    /// A task's cumulative changelog offset (or end offset).
    pub struct TaskOffset {
        /// The sub-topology identifier.
        [0, LATEST, false] pub subtopology_id: StrBytes = StrBytes::default(),
        /// The partition (task number within the sub-topology).
        [0, LATEST, false] pub partition: i32 = 0,
        /// The offset.
        [0, LATEST, false] pub offset: i64 = 0,
    }
}

wire_struct! {
    /// A host and port for interactive queries.
    pub struct Endpoint {
        /// The host.
        [0, LATEST, false] pub host: StrBytes = StrBytes::default(),
        /// The port.
        [0, LATEST, false] pub port: u16 = 0,
    }
}

wire_struct! {
    /// A configuration entry or client tag.
    pub struct KeyValue {
        /// The key.
        [0, LATEST, false] pub key: StrBytes = StrBytes::default(),
        /// The value.
        [0, LATEST, false] pub value: StrBytes = StrBytes::default(),
    }
}

wire_struct! {
    /// An internal topic the topology needs.
    pub struct TopicInfo {
        /// The topic's name.
        [0, LATEST, false] pub name: TopicName = TopicName::default(),
        /// Partition count; 0 if not enforced, always 0 for changelog topics.
        [0, LATEST, false] pub partitions: i32 = 0,
        /// Replication factor; 0 for the default.
        [0, LATEST, false] pub replication_factor: i16 = 0,
        /// Topic-level configurations.
        [0, LATEST, false] pub topic_configs: Vec<KeyValue> = Vec::new(),
    }
}
