use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder};
use sluice_protocol::testing;

use super::*;

const NOW: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;

fn policy() -> ProducePolicy {
    ProducePolicy {
        max_message_bytes: 1_048_588,
        log_append_time: false,
        compression: None,
        compression_level: None,
        timestamp_before_max_ms: i64::MAX,
        timestamp_after_max_ms: HOUR,
        compacted: false,
    }
}

fn validator(policy: &ProducePolicy, api_version: i16) -> LogValidator<'_> {
    LogValidator {
        topic: "t",
        partition: 0,
        policy,
        now_ms: NOW,
        api_version,
        max_decompressed_bytes: 100 << 20,
    }
}

/// An idempotent batch (producer 7, epoch 3, base sequence 42) with one record per timestamp.
fn batch(timestamps: &[i64], compression: Compression, value_len: usize) -> Bytes {
    let records: Vec<Record> = timestamps
        .iter()
        .enumerate()
        .map(|(i, ts)| Record {
            producer_id: 7,
            producer_epoch: 3,
            sequence: 42 + i as i32,
            key: (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
            ..testing::record(i as i64, *ts, &vec![b'x'; value_len])
        })
        .collect();
    testing::encode(&records, compression).freeze()
}

fn decode(b: &Bytes) -> kafka_protocol::records::RecordSet {
    RecordBatchDecoder::decode(&mut b.clone()).unwrap()
}

#[test]
fn the_producers_codec_is_kept_without_a_copy() {
    let p = policy();
    for c in [Compression::Lz4, Compression::None, Compression::Gzip] {
        let b = batch(&[NOW, NOW + 1], c, 10);
        let out = validator(&p, 9).validate(&b).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, b);
        assert_eq!(
            out[0].0.as_ptr(),
            b.as_ptr(),
            "{c:?}: stored as sent, no copy"
        );
    }
}

#[test]
fn a_topic_codec_recompresses_and_keeps_producer_fields_and_timestamps() {
    for (topic, level) in [
        (Codec::Zstd, Some(19)),
        (Codec::None, None),
        (Codec::Gzip, Some(1)),
        (Codec::Snappy, None),
        (Codec::Lz4, Some(17)),
    ] {
        let mut p = policy();
        p.compression = Some(topic);
        p.compression_level = level;
        let src = if topic == Codec::Lz4 {
            Compression::Gzip
        } else {
            Compression::Lz4
        };
        let b = batch(&[NOW - 5, NOW - 9, NOW - 1], src, 100);
        let (out, h) = validator(&p, 9).validate(&b).unwrap().remove(0);
        assert_eq!(h.compression(), topic.id(), "{topic:?}");
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (7, 3, 42)
        );
        let sent = BatchHeader::parse(&b).unwrap();
        assert_eq!(
            (h.base_timestamp, h.max_timestamp),
            (sent.base_timestamp, NOW - 1)
        );
        let (a, b) = (decode(&b), decode(&out));
        assert_eq!(a.records, b.records, "{topic:?}");
    }
}

#[test]
fn the_same_codec_at_another_level_is_not_recompressed() {
    let mut p = policy();
    p.compression = Some(Codec::Zstd);
    p.compression_level = Some(19);
    let b = batch(&[NOW], Compression::Zstd, 10);
    assert_eq!(validator(&p, 9).validate(&b).unwrap()[0].0, b);
}

#[test]
fn max_message_bytes_applies_to_the_batch_as_stored() {
    let mut p = policy();
    p.compression = Some(Codec::None);
    p.max_message_bytes = 100_000;
    // 500 KB of repetitive values, a few KB gzipped.
    let b = batch(&[NOW; 50], Compression::Gzip, 10_000);
    assert!(b.len() < 100_000);
    let e = validator(&p, 9).validate(&b).unwrap_err();
    assert_eq!(e.error(), ResponseError::MessageTooLarge);
    assert_eq!(e.client_message(), None);
    // As sent, it fits a topic that keeps the producer's codec.
    p.compression = None;
    assert!(validator(&p, 9).validate(&b).is_ok());
    // And a batch too large as sent is refused before anything is decompressed.
    p.max_message_bytes = 100;
    assert_eq!(
        validator(&p, 9).validate(&b).unwrap_err().error(),
        ResponseError::MessageTooLarge
    );
}

#[test]
fn zstd_needs_produce_v7() {
    let p = policy();
    let b = batch(&[NOW], Compression::Zstd, 10);
    for v in 3..7 {
        let e = validator(&p, v).validate(&b).unwrap_err();
        assert_eq!(e.error(), ResponseError::UnsupportedCompressionType);
        assert_eq!(e.client_message(), None);
    }
    assert!(validator(&p, 7).validate(&b).is_ok());
    // Nor may a topic's zstd be refused for an old request: the rule is about what is sent.
    let mut p = policy();
    p.compression = Some(Codec::Zstd);
    let b = batch(&[NOW], Compression::Gzip, 10);
    assert!(validator(&p, 3).validate(&b).is_ok());
}

#[test]
fn future_timestamps_beyond_after_max_are_refused_per_record() {
    let p = policy();
    for c in [Compression::None, Compression::Lz4] {
        let b = batch(&[NOW, NOW + 2 * HOUR, NOW + HOUR], c, 10);
        let e = validator(&p, 9).validate(&b).unwrap_err();
        assert_eq!(e.error(), ResponseError::InvalidTimestamp);
        assert_eq!(
            e.client_message().as_deref(),
            Some("One or more records have been rejected due to invalid timestamp")
        );
        assert_eq!(
            e.record_errors(),
            &[RecordError {
                batch_index: 1,
                message: format!(
                    "Timestamp {} of message with offset 1 is out of range. The timestamp \
                     should be within [{}, {}]",
                    NOW + 2 * HOUR,
                    NOW.wrapping_sub(i64::MAX),
                    NOW + HOUR
                ),
            }]
        );
    }
}

#[test]
fn before_max_bounds_old_timestamps_and_log_append_time_topics_are_exempt() {
    let mut p = policy();
    p.timestamp_before_max_ms = HOUR;
    let b = batch(&[NOW - 2 * HOUR, NOW, -1], Compression::Snappy, 10);
    let e = validator(&p, 9).validate(&b).unwrap_err();
    assert_eq!(e.error(), ResponseError::InvalidTimestamp);
    assert_eq!(e.record_errors().len(), 1);
    assert_eq!(e.record_errors()[0].batch_index, 0);
    p.log_append_time = true;
    let (out, h) = validator(&p, 9).validate(&b).unwrap().remove(0);
    assert!(h.is_log_append_time());
    assert_eq!(h.max_timestamp, NOW);
    // As Kafka's in-place path: the records keep the timestamps they were sent with; readers take
    // the batch's (LogAppendTime) max timestamp for every record.
    assert_eq!(decode(&out).records[0].timestamp, NOW - 2 * HOUR);
}

#[test]
fn compacted_topics_need_keys() {
    let mut p = policy();
    p.compacted = true;
    let b = batch(&[NOW, NOW, NOW], Compression::Gzip, 10);
    let e = validator(&p, 9).validate(&b).unwrap_err();
    assert_eq!(e.error(), ResponseError::InvalidRecord);
    let msg = "Compacted topic cannot accept message without key in topic partition t-0";
    assert_eq!(
        e.record_errors(),
        &[RecordError {
            batch_index: 1,
            message: msg.to_string()
        }]
    );
    assert_eq!(
        e.client_message().unwrap(),
        format!(
            "One or more records have been rejected due to 1 record errors in total, and only \
             showing the first three errors at most: [RecordError(batchIndex=1, message='{msg}')]"
        )
    );
}

#[test]
fn a_wrong_max_timestamp_is_corrected() {
    let p = policy();
    let b = batch(&[NOW - 10, NOW - 3], Compression::None, 10);
    let mut lying = BytesMut::from(&b[..]);
    sluice_protocol::batch::set_max_timestamp(&mut lying, NOW - 50);
    let (_, h) = validator(&p, 9)
        .validate(&lying.freeze())
        .unwrap()
        .remove(0);
    assert_eq!(h.max_timestamp, NOW - 3);
}

#[test]
fn malformed_input_gets_kafkas_codes() {
    let p = policy();
    let v = validator(&p, 9);
    let b = batch(&[NOW], Compression::None, 10);
    // Two batches for one partition.
    let two = Bytes::from([&b[..], &b[..]].concat());
    assert_eq!(
        v.validate(&two).unwrap_err().error(),
        ResponseError::InvalidRecord
    );
    // Trailing bytes too short for a batch are ignored, as Kafka's iterator does.
    let tail = Bytes::from([&b[..], &[0u8; 5]].concat());
    assert_eq!(v.validate(&tail).unwrap()[0].0, b);
    // A base offset other than 0.
    let mut off = BytesMut::from(&b[..]);
    off[7] = 5;
    assert_eq!(
        v.validate(&off.freeze()).unwrap_err().error(),
        ResponseError::InvalidRecord
    );
    // Magic 1.
    let mut magic = BytesMut::from(&b[..]);
    magic[16] = 1;
    assert_eq!(
        v.validate(&magic.freeze()).unwrap_err().error(),
        ResponseError::InvalidRecord
    );
    // Garbage in a compressed section, with a valid CRC: Kafka fails to decompress it and
    // answers UNKNOWN_SERVER_ERROR, whether or not the topic recompresses.
    let z = batch(&[NOW], Compression::Gzip, 10);
    let h = BatchHeader::parse(&z).unwrap();
    let mut garbage = BytesMut::from(&z[..]);
    for x in &mut garbage[sluice_protocol::batch::HEADER_LEN..] {
        *x = 0x5a;
    }
    sluice_protocol::batch::set_max_timestamp(&mut garbage, h.max_timestamp);
    let garbage = garbage.freeze();
    let mut p2 = policy();
    p2.compression = Some(Codec::Lz4);
    for p in [&policy(), &p2] {
        let e = validator(p, 9).validate(&garbage).unwrap_err();
        assert_eq!(e.error(), ResponseError::UnknownServerError);
        assert!(e.reports_log_start_offset());
    }
    // Bytes that end before the batch does hold no batch for Kafka's iterator: INVALID_RECORD,
    // as ProduceRequest.validateRecords answers, never a panic.
    for cut in 0..b.len() {
        let e = v.validate(&b.slice(..cut)).unwrap_err();
        assert_eq!(e.error(), ResponseError::InvalidRecord, "cut at {cut}");
        assert_eq!(
            e.to_string(),
            "invalid records: Produce requests with version 9 must have at least one record batch \
             per partition",
            "cut at {cut}"
        );
    }
}
