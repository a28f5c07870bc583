//! Produce-time validation of a partition's records, as Kafka does it, in Kafka's order:
//! `ProduceRequest.validateRecords` (one magic-v2 batch; zstd needs Produce v7+), then
//! `UnifiedLog.analyzeAndValidateRecords` (base offset 0, `max.message.bytes`, CRC), then
//! `LogValidator` (batch fields, keys of compacted topics, KIP-937 timestamp bounds, the topic's
//! `compression.type`, LogAppendTime), then `max.message.bytes` again on the batch as stored.
//!
//! Every record is checked, as Kafka does: uncompressed batches are walked in place, compressed
//! ones are decompressed into a scratch buffer (so a batch consumers could not decode is never
//! stored). What is stored stays the producer's bytes, not copied, unless the batch must be
//! rebuilt: when its codec changes ([`sluice_protocol::batch::rebuild`]: same header fields, so
//! producer id, epoch, base sequence and timestamps survive), when its `maxTimestamp` was wrong,
//! or to stamp LogAppendTime.
//!
//! Kafka recompresses when the producer's codec differs from the topic's (Kafka's
//! `inPlaceAssignment`); the same codec at another KIP-390 level is kept as sent.

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use sluice_protocol::batch::{
    read_records, rebuild, records_section, set_max_timestamp, stamp_log_append_time, BatchError,
    BatchHeader, RecordInfo,
};
use sluice_protocol::compression::{self, Codec, CodecError};

use crate::topic_config::ProducePolicy;

/// Kafka's "no timestamp" (-1): such records are exempt from the timestamp bounds.
const NO_TIMESTAMP: i64 = -1;

/// One partition's produce input, and what validating it needs.
#[derive(Debug, Clone, Copy)]
pub struct LogValidator<'a> {
    /// The topic name (Kafka's error messages name the partition).
    pub topic: &'a str,
    /// The partition index.
    pub partition: i32,
    /// The topic's effective produce configs.
    pub policy: &'a ProducePolicy,
    /// The agent's clock, for timestamp bounds and LogAppendTime.
    pub now_ms: i64,
    /// Produce request version (zstd needs v7+).
    pub api_version: i16,
    /// Bound on a batch's decompressed records section, in bytes.
    pub max_decompressed_bytes: usize,
}

/// Kafka's `ProduceResponse.RecordError`: a record's index in its batch and why it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The record's 0-based position in its batch.
    pub batch_index: i32,
    /// Why, in Kafka's words.
    pub message: String,
}

/// Why a partition's records were refused; nothing of them is appended.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// INVALID_RECORD (87) without a message, from Kafka's request-level check
    /// (`ProduceRequest.validateRecords`: one magic-v2 batch per partition).
    #[error("invalid records: {0}")]
    InvalidRequestRecords(String),
    /// INVALID_RECORD (87) without a message, as Kafka's `InvalidRecordException` while
    /// appending (batch fields, record structure, compressed data).
    #[error("invalid record batch: {0}")]
    InvalidRecord(String),
    /// UNKNOWN_SERVER_ERROR (-1): the records section does not decompress (Kafka's decompression
    /// fails with a `KafkaException`, which it answers with this code).
    #[error("undecodable records: {0}")]
    Undecodable(CodecError),
    /// CORRUPT_MESSAGE (2): a CRC mismatch, a truncated batch, or a `batchLength` below the
    /// v2 header.
    #[error(transparent)]
    Corrupt(BatchError),
    /// UNSUPPORTED_COMPRESSION_TYPE (76).
    #[error("Produce requests with version {0} are not allowed to use ZStandard compression")]
    ZstdNeedsV7(i16),
    /// MESSAGE_TOO_LARGE (10): the batch, as received or as it would be stored.
    #[error("Message batch size is {size} bytes in append to partition {tp} which exceeds the maximum configured size of {max}.")]
    TooLarge {
        /// The batch's size, bytes.
        size: usize,
        /// The topic's `max.message.bytes`.
        max: usize,
        /// `topic-partition`, as Kafka names it.
        tp: String,
    },
    /// INVALID_TIMESTAMP (32) with per-record errors (KIP-937 bounds, or LogAppendTime sent by
    /// a producer).
    #[error("One or more records have been rejected due to invalid timestamp")]
    InvalidTimestamp(Vec<RecordError>),
    /// INVALID_RECORD (87) with per-record errors (a keyless record in a compacted topic).
    #[error("{}", record_errors_message(.0))]
    RecordErrors(Vec<RecordError>),
}

/// Kafka's message for per-record errors other than timestamps: the count and the first three.
fn record_errors_message(errors: &[RecordError]) -> String {
    let shown: Vec<String> = errors
        .iter()
        .take(3)
        .map(|e| {
            format!(
                "RecordError(batchIndex={}, message='{}')",
                e.batch_index, e.message
            )
        })
        .collect();
    format!(
        "One or more records have been rejected due to {} record errors in total, and only \
         showing the first three errors at most: [{}]",
        errors.len(),
        shown.join(", ")
    )
}

impl Rejection {
    /// The partition's error code.
    pub fn error(&self) -> ResponseError {
        match self {
            Rejection::InvalidRequestRecords(_)
            | Rejection::InvalidRecord(_)
            | Rejection::RecordErrors(_) => ResponseError::InvalidRecord,
            Rejection::Corrupt(_) => ResponseError::CorruptMessage,
            Rejection::Undecodable(_) => ResponseError::UnknownServerError,
            Rejection::ZstdNeedsV7(_) => ResponseError::UnsupportedCompressionType,
            Rejection::TooLarge { .. } => ResponseError::MessageTooLarge,
            Rejection::InvalidTimestamp(_) => ResponseError::InvalidTimestamp,
        }
    }

    /// The error message the client gets: Kafka sends one only with per-record errors
    /// (`RecordValidationException`); other refusals carry just the code.
    pub fn client_message(&self) -> Option<String> {
        match self {
            Rejection::InvalidTimestamp(_) | Rejection::RecordErrors(_) => Some(self.to_string()),
            _ => None,
        }
    }

    /// Whether Kafka's answer carries the partition's log start offset: it does for refusals
    /// raised while appending to the log (`ReplicaManager.processFailedRecord`), not for the
    /// request-level checks nor MESSAGE_TOO_LARGE and CORRUPT_MESSAGE (-1 there).
    pub fn reports_log_start_offset(&self) -> bool {
        matches!(
            self,
            Rejection::InvalidRecord(_)
                | Rejection::Undecodable(_)
                | Rejection::InvalidTimestamp(_)
                | Rejection::RecordErrors(_)
        )
    }

    /// Per-record errors (ProduceResponse v8+ `record_errors`).
    pub fn record_errors(&self) -> &[RecordError] {
        match self {
            Rejection::InvalidTimestamp(e) | Rejection::RecordErrors(e) => e,
            _ => &[],
        }
    }
}

impl From<BatchError> for Rejection {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::Crc { .. } | BatchError::Truncated { .. } | BatchError::TooShort(_) => {
                Rejection::Corrupt(e)
            }
            // Produce v3+ accepts only magic 2, with INVALID_RECORD.
            BatchError::Magic(_) => Rejection::InvalidRequestRecords(e.to_string()),
            BatchError::Invalid(_) => Rejection::InvalidRecord(e.to_string()),
        }
    }
}

impl From<CodecError> for Rejection {
    fn from(e: CodecError) -> Self {
        Rejection::Undecodable(e)
    }
}

/// How a record's timestamp relates to the topic's bounds.
enum TimestampCheck {
    Ok,
    /// Kafka's message for a CreateTime timestamp out of bounds.
    OutOfRange(String),
}

impl LogValidator<'_> {
    /// Validates a partition's `records` and returns the batches to store (for Produce v3+,
    /// exactly one), recompressed and stamped as the topic requires.
    pub fn validate(&self, records: &Bytes) -> Result<Vec<(Bytes, BatchHeader)>, Rejection> {
        // ProduceRequest.validateRecords: headers only, before anything else. Kafka's batch
        // iterator yields nothing for bytes that end before the first batch does, and the
        // request is refused as holding no batch.
        let first = match BatchHeader::parse(records) {
            Err(BatchError::Truncated { .. }) => {
                return Err(Rejection::InvalidRequestRecords(format!(
                    "Produce requests with version {} must have at least one record batch per \
                     partition",
                    self.api_version
                )))
            }
            parsed => parsed?,
        };
        if self.api_version < 7 && first.compression() == Codec::Zstd.id() {
            return Err(Rejection::ZstdNeedsV7(self.api_version));
        }
        // A second complete batch is refused; trailing bytes too short to hold one are dropped,
        // as Kafka's batch iterator ignores them.
        let rest = &records[first.total_len..];
        if !rest.is_empty()
            && !matches!(BatchHeader::parse(rest), Err(BatchError::Truncated { .. }))
        {
            return Err(Rejection::InvalidRequestRecords(format!(
                "Produce requests with version {} are only allowed to contain exactly one record \
                 batch per partition",
                self.api_version
            )));
        }
        // UnifiedLog.analyzeAndValidateRecords.
        if first.base_offset != 0 {
            return Err(Rejection::InvalidRecord(format!(
                "The baseOffset of the record batch in the append to {} should be 0, but it is {}",
                self.tp(),
                first.base_offset
            )));
        }
        self.check_size(first.total_len)?;
        let h = BatchHeader::parse_validated(records)?;
        // LogValidator.validateBatch.
        if h.has_producer_id() && h.base_sequence < 0 {
            return Err(Rejection::InvalidRecord(format!(
                "Invalid sequence number {} in record batch with producerId {} in topic partition {}",
                h.base_sequence,
                h.producer_id,
                self.tp()
            )));
        }
        let batch = self.validate_records(records.slice(..h.total_len), h)?;
        let h = BatchHeader::parse(&batch)?;
        Ok(vec![(batch, h)])
    }

    fn tp(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    fn check_size(&self, size: usize) -> Result<(), Rejection> {
        if size > self.policy.max_message_bytes {
            return Err(Rejection::TooLarge {
                size,
                max: self.policy.max_message_bytes,
                tp: self.tp(),
            });
        }
        Ok(())
    }

    /// The per-record part of Kafka's `LogValidator`, then recompression and stamping.
    fn validate_records(&self, batch: Bytes, h: BatchHeader) -> Result<Bytes, Rejection> {
        let source = Codec::from_attributes(h.attributes)?;
        let target = self.policy.compression.unwrap_or(source);
        let recompress = source != target;
        let create_time = !self.policy.log_append_time;
        let raw = match source {
            Codec::None => None,
            codec => Some(compression::decompress(
                codec,
                records_section(&batch, &h),
                self.max_decompressed_bytes,
            )?),
        };
        let section = raw
            .as_deref()
            .unwrap_or_else(|| records_section(&batch, &h));
        let records = read_records(section, h.records_count)?;
        let max_timestamp = self.check_records(&h, &records)?;
        let mut out = if recompress {
            let level = self.policy.compression_level;
            let rebuilt = rebuild(&batch, section, target, level)?;
            self.check_size(rebuilt.len())?;
            Some(rebuilt)
        } else {
            None
        };
        // Kafka sets a CreateTime batch's maxTimestamp to its records' largest timestamp.
        if create_time && max_timestamp != h.max_timestamp {
            let buf = out.get_or_insert_with(|| BytesMut::from(&batch[..]));
            set_max_timestamp(buf, max_timestamp);
        }
        Ok(self.stamp(out.map_or(batch, BytesMut::freeze)))
    }

    /// Stamps LogAppendTime when the topic asks for it.
    fn stamp(&self, batch: Bytes) -> Bytes {
        if !self.policy.log_append_time {
            return batch;
        }
        let mut m = BytesMut::from(&batch[..]);
        stamp_log_append_time(&mut m, self.now_ms);
        m.freeze()
    }

    /// Kafka's KIP-937 bound check (in Java's wrapping arithmetic), `None` when within bounds.
    fn out_of_range(&self, timestamp: i64) -> Option<(i64, i64)> {
        if timestamp == NO_TIMESTAMP {
            return None;
        }
        let (before, after) = (
            self.policy.timestamp_before_max_ms,
            self.policy.timestamp_after_max_ms,
        );
        let diff = self.now_ms.wrapping_sub(timestamp);
        (diff > before || diff.wrapping_neg() > after).then(|| {
            (
                self.now_ms.wrapping_sub(before),
                self.now_ms.wrapping_add(after),
            )
        })
    }

    fn check_timestamp(&self, timestamp: i64, offset: i64) -> TimestampCheck {
        match self.out_of_range(timestamp) {
            None => TimestampCheck::Ok,
            Some((lo, hi)) => TimestampCheck::OutOfRange(format!(
                "Timestamp {timestamp} of message with offset {offset} is out of range. The \
                 timestamp should be within [{lo}, {hi}]"
            )),
        }
    }

    /// Kafka's `validateRecord` for every record; returns the records' largest timestamp.
    fn check_records(&self, h: &BatchHeader, records: &[RecordInfo]) -> Result<i64, Rejection> {
        let create_time = !self.policy.log_append_time;
        let mut errors = Vec::new();
        let mut timestamp_error = false;
        let mut max_timestamp = NO_TIMESTAMP;
        for (index, r) in records.iter().enumerate() {
            let batch_index = index as i32;
            let offset = h.base_offset + r.offset_delta as i64;
            // A LogAppendTime batch's records all carry its maxTimestamp.
            let timestamp = if h.is_log_append_time() {
                h.max_timestamp
            } else {
                h.base_timestamp.wrapping_add(r.timestamp_delta)
            };
            if self.policy.compacted && r.key_len < 0 {
                errors.push(RecordError {
                    batch_index,
                    message: format!(
                        "Compacted topic cannot accept message without key in topic partition {}",
                        self.tp()
                    ),
                });
                continue;
            }
            if create_time && timestamp != NO_TIMESTAMP {
                if let TimestampCheck::OutOfRange(message) = self.check_timestamp(timestamp, offset)
                {
                    timestamp_error = true;
                    errors.push(RecordError {
                        batch_index,
                        message,
                    });
                    continue;
                }
            } else if h.is_log_append_time() {
                timestamp_error = true;
                errors.push(RecordError {
                    batch_index,
                    message: format!(
                        "Invalid timestamp type in message DefaultRecord(offset={offset}, \
                         timestamp={timestamp}, key={} bytes, value={} bytes). Producer should \
                         not set timestamp type to LogAppendTime.",
                        r.key_len.max(0),
                        r.value_len.max(0)
                    ),
                });
                continue;
            }
            max_timestamp = max_timestamp.max(timestamp);
        }
        match (errors.is_empty(), timestamp_error) {
            (true, _) => Ok(max_timestamp),
            (false, true) => Err(Rejection::InvalidTimestamp(errors)),
            (false, false) => Err(Rejection::RecordErrors(errors)),
        }
    }
}

#[cfg(test)]
#[path = "log_validator_tests.rs"]
mod tests;
