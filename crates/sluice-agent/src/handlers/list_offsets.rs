//! ListOffsets: the offset for a timestamp, or for one of Kafka's special timestamps (latest,
//! earliest, max timestamp, earliest local, latest tiered).
//!
//! Latest and earliest come straight from the local metadata replica. A timestamp search walks
//! the offset index, whose chunks know their max timestamp, reads only the first chunk that can
//! hold a match, and decodes only the first batch whose max timestamp reaches the target.
//! MAX_TIMESTAMP reads the batch the state names as holding the largest timestamp and decodes it
//! to find the exact record. These two are the only places outside consumers where records are
//! materialised; everything else stays at the batch-header level.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::records::RecordBatchDecoder;
use sluice_meta::state::{Chunk, PartitionLog};
use sluice_protocol::batch::{BatchIter, ATTR_LOG_APPEND_TIME};

use super::check_leader_epoch;
use crate::agent::Agent;
use crate::authz::{Op, Res};
use crate::reader::{ReadPlan, Watermarks, LEADER_EPOCH};
use crate::request::RequestContext;

/// Kafka's special timestamps (`ListOffsetsRequest`): -1, the next offset to be written (the
/// high watermark, or the last stable offset for read_committed).
pub const LATEST_TIMESTAMP: i64 = -1;
/// -2: the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// -3 (KIP-734): the offset and timestamp of the record with the largest timestamp.
pub const MAX_TIMESTAMP: i64 = -3;
/// -4 (KIP-405): the earliest offset on local storage; Sluice's log start offset.
pub const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
/// -5 (KIP-1005): the latest offset on tiered storage; Sluice has no tiering and answers -1.
pub const LATEST_TIERED_TIMESTAMP: i64 = -5;
/// -6: the earliest offset not yet uploaded to tiered storage; answered -1.
pub const EARLIEST_PENDING_UPLOAD_TIMESTAMP: i64 = -6;

/// The answer for one partition: Kafka's `TimestampAndOffset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Found {
    timestamp: i64,
    offset: i64,
    leader_epoch: i32,
}

impl Found {
    /// "No such offset": not an error, just -1 everywhere.
    const NONE: Found = Found {
        timestamp: -1,
        offset: -1,
        leader_epoch: -1,
    };

    fn at(offset: i64) -> Found {
        Found {
            timestamp: -1,
            offset,
            leader_epoch: LEADER_EPOCH,
        }
    }
}

/// Answers one ListOffsets request (API key 2): per partition the offset (and timestamp) for the
/// asked timestamp, or -1 when no record matches, or an error code.
pub async fn handle(cx: &RequestContext, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    // v10 bounds the time spent reading storage; earlier versions have no timeout field.
    let timeout =
        (version >= 10 && req.timeout_ms > 0).then(|| Duration::from_millis(req.timeout_ms as u64));
    // v2+ carry the isolation level (1 = READ_COMMITTED).
    let read_committed = version >= 2 && req.isolation_level == 1;
    let mut seen = HashSet::new();
    let duplicated: HashSet<(String, i32)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.0.to_string(), p.partition_index))
        })
        .filter(|k| !seen.insert(k.clone()))
        .collect();

    let mut resp = ListOffsetsResponse::default();
    for topic in req.topics {
        let name = topic.name.0.to_string();
        let mut t = ListOffsetsTopicResponse::default();
        if !cx.authorize(Op::Describe, Res::Topic(&name)) {
            t.partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let mut r = ListOffsetsPartitionResponse::default();
                    r.partition_index = p.partition_index;
                    r.error_code = ResponseError::TopicAuthorizationFailed.code();
                    r.timestamp = -1;
                    r.offset = -1;
                    r
                })
                .collect();
            t.name = topic.name;
            resp.topics.push(t);
            continue;
        }
        let answers = topic.partitions.iter().map(|p| {
            let duplicate = duplicated.contains(&(name.clone(), p.partition_index));
            answer_partition(agent, &name, p, duplicate, timeout, version, read_committed)
        });
        t.partitions = join_all(answers).await;
        t.name = topic.name;
        resp.topics.push(t);
    }
    resp
}

async fn answer_partition(
    agent: &Agent,
    topic: &str,
    p: &ListOffsetsPartition,
    duplicate: bool,
    timeout: Option<Duration>,
    version: i16,
    read_committed: bool,
) -> ListOffsetsPartitionResponse {
    let mut r = ListOffsetsPartitionResponse::default();
    r.partition_index = p.partition_index;
    let result = if duplicate {
        Err(ResponseError::InvalidRequest)
    } else if let Err(e) = check_leader_epoch(p.current_leader_epoch) {
        Err(e)
    } else {
        let lookup = offset_for(agent, topic, p.partition_index, p.timestamp, read_committed);
        match timeout {
            Some(d) => tokio::time::timeout(d, lookup)
                .await
                .unwrap_or(Err(ResponseError::RequestTimedOut)),
            None => lookup.await,
        }
    };
    match result {
        Ok(found) => {
            r.timestamp = found.timestamp;
            r.offset = found.offset;
            // v0-3 have no leader epoch; the codec refuses a non-default value there.
            if version >= 4 {
                r.leader_epoch = found.leader_epoch;
            }
        }
        Err(e) => r.error_code = e.code(),
    }
    r
}

/// Kafka's `fetchOffsetByTimestamp` for one partition: read_committed reads up to the last
/// stable offset (LATEST is the LSO, and a search finding an offset at or past it finds
/// nothing), read_uncommitted up to the high watermark.
async fn offset_for(
    agent: &Agent,
    topic: &str,
    partition: i32,
    timestamp: i64,
    read_committed: bool,
) -> Result<Found, ResponseError> {
    let marks = agent
        .watermarks(topic, partition)
        .ok_or(ResponseError::UnknownTopicOrPartition)?;
    let fetchable = if read_committed {
        marks.last_stable_offset
    } else {
        marks.high_watermark
    };
    let below_fetchable = |f: Found| {
        if f.offset >= fetchable {
            Found::NONE
        } else {
            f
        }
    };
    match timestamp {
        LATEST_TIMESTAMP => Ok(Found::at(fetchable)),
        // All data is "local": object storage is the log itself, not a tier behind it.
        EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => Ok(Found::at(marks.log_start_offset)),
        // Without tiered storage Kafka answers these with offset -1.
        LATEST_TIERED_TIMESTAMP | EARLIEST_PENDING_UPLOAD_TIMESTAMP => Ok(Found::NONE),
        MAX_TIMESTAMP => max_timestamp(agent, topic, partition)
            .await
            .map(below_fetchable),
        // Any other value, including unknown negative ones, is a search (as in Kafka).
        t => search(agent, topic, partition, t)
            .await
            .map(below_fetchable),
    }
}

/// What a record search looks for.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// The first record whose timestamp is at least this.
    AtLeast(i64),
    /// The first record whose timestamp is exactly this (the partition's max timestamp).
    Exactly(i64),
}

impl Target {
    /// Whether a batch with this max timestamp can hold a matching record.
    fn batch_may_match(self, max_timestamp: i64) -> bool {
        match self {
            Target::AtLeast(t) => max_timestamp >= t,
            Target::Exactly(t) => max_timestamp == t,
        }
    }

    fn matches(self, timestamp: i64) -> bool {
        match self {
            Target::AtLeast(t) => timestamp >= t,
            Target::Exactly(t) => timestamp == t,
        }
    }
}

/// The first offset at or after the log start whose record timestamp is >= `target`.
async fn search(
    agent: &Agent,
    topic: &str,
    partition: i32,
    target: i64,
) -> Result<Found, ResponseError> {
    let mut after = i64::MIN;
    // A chunk's max timestamp may promise a match its records do not hold (a producer's batch
    // header is trusted as written), so keep walking until a record really matches.
    loop {
        let next = agent.read(|s| {
            let p = s.partition(topic, partition)?;
            // `chunks_from` also yields a chunk the log start falls inside.
            p.chunks_from(after.max(p.log_start_offset))
                // Transaction markers hold no records to find.
                .find(|(_, c)| c.marker.is_none() && c.max_timestamp >= target)
                .map(|(b, c)| (b, c.clone(), marks_of(p)))
        });
        let Some((base, chunk, marks)) = next else {
            return Ok(Found::NONE);
        };
        if let Some(found) =
            search_chunk(agent, marks, base, chunk.clone(), Target::AtLeast(target)).await?
        {
            return Ok(found);
        }
        after = base + chunk.records.max(1);
    }
}

/// The record with the largest timestamp: the state keeps the base offset of the batch that
/// holds it. Should retention have dropped that batch, the largest among the chunks left is
/// used instead.
async fn max_timestamp(agent: &Agent, topic: &str, partition: i32) -> Result<Found, ResponseError> {
    let located = agent.read(|s| {
        let p = s.partition(topic, partition)?;
        if p.high_watermark <= p.log_start_offset {
            return None;
        }
        let marks = marks_of(p);
        let from_state = p
            .chunks_from(p.max_timestamp_offset)
            .next()
            .filter(|(b, c)| {
                p.max_timestamp_offset >= p.log_start_offset
                    && *b <= p.max_timestamp_offset
                    && p.max_timestamp_offset < *b + c.records
            })
            .map(|(b, c)| (b, c.clone(), p.max_timestamp_offset, p.max_timestamp));
        from_state.or_else(|| largest_chunk(p)).map(|l| (l, marks))
    });
    let Some(((base, chunk, batch_offset, max_ts), marks)) = located else {
        return Ok(Found::NONE);
    };
    let plan = ReadPlan {
        marks,
        chunks: vec![(base, chunk)],
    };
    let batches = agent
        .read_batches(&plan, batch_offset, usize::MAX, true)
        .await?;
    Ok(
        find_record(&batches, batch_offset, Target::Exactly(max_ts))?
            // A batch header claiming a max its records lack: answer the batch itself.
            .unwrap_or(Found {
                timestamp: max_ts,
                offset: batch_offset,
                leader_epoch: LEADER_EPOCH,
            }),
    )
}

/// The chunk with the largest max timestamp (the earliest on ties, as Kafka keeps the first).
fn largest_chunk(p: &PartitionLog) -> Option<(i64, Chunk, i64, i64)> {
    let mut best: Option<(&i64, &Chunk)> = None;
    for (b, c) in &p.chunks {
        if best.is_none_or(|(_, bc)| c.max_timestamp > bc.max_timestamp) {
            best = Some((b, c));
        }
    }
    best.map(|(b, c)| (*b, c.clone(), *b, c.max_timestamp))
}

fn marks_of(p: &PartitionLog) -> Watermarks {
    Watermarks {
        log_start_offset: p.log_start_offset,
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset(),
    }
}

async fn search_chunk(
    agent: &Agent,
    marks: Watermarks,
    base: i64,
    chunk: Chunk,
    target: Target,
) -> Result<Option<Found>, ResponseError> {
    let from = base.max(marks.log_start_offset);
    let plan = ReadPlan {
        marks,
        chunks: vec![(base, chunk)],
    };
    let batches = agent.read_batches(&plan, from, usize::MAX, true).await?;
    find_record(&batches, from, target)
}

/// The first record at offset >= `from` in `batches` (concatenated, offsets already patched)
/// that matches `target`. Only batches whose header can match are decoded. LogAppendTime
/// batches give every record the batch's max timestamp, as Kafka reports them.
fn find_record(batches: &Bytes, from: i64, target: Target) -> Result<Option<Found>, ResponseError> {
    for item in BatchIter::new(batches) {
        let (pos, h) = item.map_err(|e| {
            tracing::error!(error = %e, "stored batch is malformed");
            ResponseError::CorruptMessage
        })?;
        let last_offset = h.base_offset + h.last_offset_delta as i64;
        if last_offset < from || !target.batch_may_match(h.max_timestamp) {
            continue;
        }
        let mut one = batches.slice(pos..pos + h.total_len);
        let set = RecordBatchDecoder::decode(&mut one).map_err(|e| {
            tracing::error!(error = %e, base_offset = h.base_offset, "cannot decode a stored batch");
            ResponseError::KafkaStorageError
        })?;
        let log_append_time = h.attributes & ATTR_LOG_APPEND_TIME != 0;
        for rec in set.records {
            let ts = if log_append_time {
                h.max_timestamp
            } else {
                rec.timestamp
            };
            if rec.offset >= from && target.matches(ts) {
                return Ok(Some(Found {
                    timestamp: ts,
                    offset: rec.offset,
                    leader_epoch: LEADER_EPOCH,
                }));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::records::{Compression, Record};
    use sluice_protocol::batch::{patch_base_offset, stamp_log_append_time};
    use sluice_protocol::testing;

    /// One batch at `base` whose records carry `timestamps`, compressed as given.
    fn batch(base: i64, timestamps: &[i64], compression: Compression) -> BytesMut {
        let records: Vec<Record> = timestamps
            .iter()
            .enumerate()
            .map(|(i, ts)| Record {
                // Consecutive, or the encoder starts a new batch per record.
                sequence: i as i32,
                ..testing::record(i as i64, *ts, b"v")
            })
            .collect();
        let mut buf = testing::encode(&records, compression);
        patch_base_offset(&mut buf, base, 0);
        buf
    }

    fn log(parts: &[BytesMut]) -> Bytes {
        let mut out = BytesMut::new();
        for p in parts {
            out.extend_from_slice(p);
        }
        out.freeze()
    }

    #[test]
    fn search_finds_the_first_record_at_or_after_the_timestamp() {
        // given two batches: offsets 10..13 at 100,300,200 and 13..15 at 400,500
        let l = log(&[
            batch(10, &[100, 300, 200], Compression::None),
            batch(13, &[400, 500], Compression::Lz4),
        ]);
        let at = |t, from| find_record(&l, from, Target::AtLeast(t)).unwrap();
        // then the first record whose timestamp reaches the target, in offset order
        assert_eq!(
            at(150, 10),
            Some(Found {
                timestamp: 300,
                offset: 11,
                leader_epoch: 0
            })
        );
        assert_eq!(
            at(0, 10),
            Some(Found {
                timestamp: 100,
                offset: 10,
                leader_epoch: 0
            })
        );
        assert_eq!(
            at(350, 10),
            Some(Found {
                timestamp: 400,
                offset: 13,
                leader_epoch: 0
            })
        );
        // records before the log start do not count
        assert_eq!(
            at(0, 12),
            Some(Found {
                timestamp: 200,
                offset: 12,
                leader_epoch: 0
            })
        );
        // and nothing past the newest timestamp
        assert_eq!(at(501, 10), None);
    }

    #[test]
    fn max_timestamp_is_the_first_record_holding_it() {
        let l = log(&[batch(0, &[5, 9, 7, 9], Compression::Snappy)]);
        let found = find_record(&l, 0, Target::Exactly(9)).unwrap();
        assert_eq!(
            found,
            Some(Found {
                timestamp: 9,
                offset: 1,
                leader_epoch: 0
            })
        );
    }

    #[test]
    fn log_append_time_batches_use_the_batch_timestamp_for_every_record() {
        // given a batch stamped with LogAppendTime 1000 whose records were created at 1..3
        let mut b = batch(20, &[1, 2, 3], Compression::None);
        stamp_log_append_time(&mut b, 1_000);
        let l = log(&[b]);
        // then every record reads as 1000: the first one matches any target up to it
        let found = find_record(&l, 20, Target::AtLeast(500)).unwrap();
        assert_eq!(
            found,
            Some(Found {
                timestamp: 1_000,
                offset: 20,
                leader_epoch: 0
            })
        );
        let max = find_record(&l, 20, Target::Exactly(1_000)).unwrap();
        assert_eq!(
            max,
            Some(Found {
                timestamp: 1_000,
                offset: 20,
                leader_epoch: 0
            })
        );
    }

    #[test]
    fn largest_chunk_prefers_the_earliest_on_ties() {
        let chunk = |ts| Chunk {
            object: "o".into(),
            object_len: 10,
            pos: 0,
            len: 10,
            records: 2,
            max_timestamp: ts,
            marker: None,
        };
        let mut p = PartitionLog::default();
        p.chunks.insert(0, chunk(5));
        p.chunks.insert(2, chunk(9));
        p.chunks.insert(4, chunk(9));
        let (base, _, offset, ts) = largest_chunk(&p).unwrap();
        assert_eq!((base, offset, ts), (2, 2, 9));
    }
}
