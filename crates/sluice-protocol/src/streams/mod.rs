//! The Kafka Streams rebalance protocol's messages (KIP-1071), which `kafka-protocol` 0.18 lacks:
//! StreamsGroupHeartbeat (API key 88) and StreamsGroupDescribe (API key 89), requests and
//! responses, versions 0-1 (every version Kafka 4.1-4.4 define; 4.1 defines only 0).
//!
//! The types mirror `kafka-protocol`'s generated ones (public fields, `Default` from the JSON
//! defaults, `unknown_tagged_fields`, `GroupId`/`TopicName` for entity-typed strings, one module
//! per message) and implement its `Encodable`/`Decodable`/`Message`/`HeaderVersion`, so they frame
//! with [`crate::codec::encode_message`]. Unlike `kafka-protocol`'s decoders, these never trust a
//! wire length: see [`wire`].
//!
//! ```
//! use bytes::BytesMut;
//! use kafka_protocol::protocol::{Decodable, Encodable};
//! use sluice_protocol::streams::streams_group_describe_request::StreamsGroupDescribeRequest;
//!
//! let req = StreamsGroupDescribeRequest {
//!     group_ids: vec![kafka_protocol::messages::GroupId("app".into())],
//!     ..Default::default()
//! };
//! let mut buf = BytesMut::new();
//! req.encode(&mut buf, 1).unwrap();
//! let back = StreamsGroupDescribeRequest::decode(&mut buf.freeze(), 1).unwrap();
//! assert_eq!(back, req);
//! ```

mod common;
pub mod wire;

pub mod streams_group_describe_request;
pub mod streams_group_describe_response;
pub mod streams_group_heartbeat_request;
pub mod streams_group_heartbeat_response;

pub use streams_group_describe_request::StreamsGroupDescribeRequest;
pub use streams_group_describe_response::StreamsGroupDescribeResponse;
pub use streams_group_heartbeat_request::StreamsGroupHeartbeatRequest;
pub use streams_group_heartbeat_response::StreamsGroupHeartbeatResponse;
pub use wire::WireError;

/// API key of StreamsGroupHeartbeat.
pub const STREAMS_GROUP_HEARTBEAT_KEY: i16 = 88;
/// API key of StreamsGroupDescribe.
pub const STREAMS_GROUP_DESCRIBE_KEY: i16 = 89;
