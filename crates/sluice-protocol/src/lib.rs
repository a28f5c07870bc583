//! Sluice's wire layer: Kafka framing, request/response codec over the `kafka-protocol`
//! crate, the ApiVersions table, and the record-batch header view used on the hot path.
//!
//! Nothing here knows about storage, metadata or sockets beyond `AsyncRead`.

#![warn(missing_docs)]

pub mod batch;
pub mod bounds;
pub mod chunked;
pub mod codec;
pub mod compression;
pub mod frame;
pub mod streams;
pub mod testing;
pub mod versions;

pub use kafka_protocol;
