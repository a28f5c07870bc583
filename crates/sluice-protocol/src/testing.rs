//! Record-batch fixtures for tests and benches across the workspace: records as a producer
//! builds them and their v2 encoding, so each test states only what it is about.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// A plain record: at `offset`, creation time `timestamp` (ms), value `value`, no key or headers,
/// not idempotent (producer id, epoch and sequence -1), not transactional. Change what a test
/// is about with struct update syntax: `Record { key: Some(k), ..record(0, ts, b"v") }`.
pub fn record(offset: i64, timestamp: i64, value: &[u8]) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp,
        key: None,
        value: Some(Bytes::copy_from_slice(value)),
        headers: Default::default(),
    }
}

/// `records` encoded as v2 record batches with `compression` (kafka-protocol's encoder starts a
/// new batch where the records' sequences are not consecutive).
///
/// # Panics
/// If the encoder refuses the records (a test bug).
pub fn encode(records: &[Record], compression: Compression) -> BytesMut {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &options).expect("records encode");
    buf
}
