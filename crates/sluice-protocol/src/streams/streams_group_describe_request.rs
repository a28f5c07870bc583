//! StreamsGroupDescribeRequest (API key 89), versions 0-1, all flexible (KIP-1071).
//!
//! Follows `StreamsGroupDescribeRequest.json` of Kafka 4.4; version 1 adds
//! `IncludeTopologyDescription` (KIP-1331).

use kafka_protocol::messages::GroupId;

use super::wire::{wire_message, wire_struct, LATEST};

wire_struct! {
    /// Describe one or more Streams groups.
    pub struct StreamsGroupDescribeRequest {
        /// The ids of the groups to describe.
        [0, LATEST, false] pub group_ids: Vec<GroupId> = Vec::new(),
        /// Whether to include authorized operations.
        [0, LATEST, false] pub include_authorized_operations: bool = false,
        /// Whether to include the full topology description.
        [1, LATEST, false] pub include_topology_description: bool = false,
    }
}

wire_message!(StreamsGroupDescribeRequest, 0, 1, header 2);
