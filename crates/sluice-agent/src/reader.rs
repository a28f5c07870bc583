//! Reading a partition: offset index (local replica) -> block cache -> batches with their real
//! offsets patched in.
//!
//! An index entry is read a cache block at a time, from its start to where the fetch's limit
//! stops, so a fetch costs about its own bytes whatever the entry's size. The batches are copied
//! once, into the partition's `records` (the offset patch needs a private copy); the connection
//! then writes them to the socket without another copy (`sluice_protocol::chunked`).

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use sluice_meta::state::Chunk;
use sluice_protocol::batch::{
    control_batch, patch_base_offset, BatchError, BatchHeader, HEADER_LEN,
};

use crate::agent::Agent;

/// A partition's offsets as of one replica read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    /// The first offset still readable (Kafka's log start offset).
    pub log_start_offset: i64,
    /// The offset after the last committed record (Kafka's high watermark, which in Sluice is
    /// also the log end offset).
    pub high_watermark: i64,
    /// The last stable offset (LSO): read_committed consumers read below it.
    pub last_stable_offset: i64,
}

/// The index entries a read from `offset` needs, copied out of the replica.
pub struct ReadPlan {
    /// The partition's offsets at planning time.
    pub marks: Watermarks,
    /// The index entries to read, `(base offset, chunk)`, in offset order.
    pub chunks: Vec<(i64, Chunk)>,
}

/// Partition leader epoch written into every served batch (Sluice has no leader changes that
/// truncate logs, so one epoch serves forever).
pub const LEADER_EPOCH: i32 = 0;

impl Agent {
    /// The partition's offsets in the local replica; `None` for an unknown partition.
    pub fn watermarks(&self, topic: &str, partition: i32) -> Option<Watermarks> {
        self.read(|s| {
            s.partition(topic, partition).map(|p| Watermarks {
                log_start_offset: p.log_start_offset,
                high_watermark: p.high_watermark,
                last_stable_offset: p.last_stable_offset(),
            })
        })
    }

    /// Plans a read of up to `max_bytes` of index entries from `offset`. Errors:
    /// UNKNOWN_TOPIC_OR_PARTITION, or OFFSET_OUT_OF_RANGE outside `[log start, high watermark]`.
    pub fn plan_read(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<ReadPlan, ResponseError> {
        self.read(|s| {
            let p = s
                .partition(topic, partition)
                .ok_or(ResponseError::UnknownTopicOrPartition)?;
            let marks = Watermarks {
                log_start_offset: p.log_start_offset,
                high_watermark: p.high_watermark,
                last_stable_offset: p.last_stable_offset(),
            };
            if offset < p.log_start_offset || offset > p.high_watermark {
                return Err(ResponseError::OffsetOutOfRange);
            }
            let mut chunks = Vec::new();
            let mut bytes = 0usize;
            for (base, c) in p.chunks_from(offset) {
                chunks.push((base, c.clone()));
                // A marker has no stored bytes; its control batch is about this long.
                bytes += if c.marker.is_some() {
                    70
                } else {
                    c.len as usize
                };
                if bytes >= max_bytes {
                    break;
                }
            }
            Ok(ReadPlan { marks, chunks })
        })
    }

    /// Reads batches holding offsets from `offset` on, patched with their offsets, up to
    /// `max_bytes` — but always at least one batch when `must_return_one` (Kafka's rule that the
    /// first batch of a fetch is returned even when larger than the limit).
    pub async fn read_batches(
        &self,
        plan: &ReadPlan,
        offset: i64,
        max_bytes: usize,
        must_return_one: bool,
    ) -> Result<Bytes, ResponseError> {
        self.read_batches_below(plan, offset, i64::MAX, max_bytes, must_return_one)
            .await
            .map(|(b, _)| b)
    }

    /// [`read_batches`](Self::read_batches) of batches starting below `upto` only (a
    /// read_committed fetch stops at the last stable offset). Also returns the offset after the
    /// last batch served (`offset` when none), the upper bound of a fetch's aborted
    /// transactions.
    pub async fn read_batches_below(
        &self,
        plan: &ReadPlan,
        offset: i64,
        upto: i64,
        max_bytes: usize,
        must_return_one: bool,
    ) -> Result<(Bytes, i64), ResponseError> {
        let mut next = offset;
        // What the plan holds, at most the limit: the buffer is sized once instead of regrowing
        // by copies (only a first batch above the limit, returned whole, makes it grow).
        let stored: usize = plan.chunks.iter().map(|(_, c)| c.len as usize).sum();
        let capacity = stored.min(max_bytes);
        let bytes = self
            .collect_batches(&plan.chunks, offset, capacity, |base, h, taken| {
                let take = base < upto
                    && (taken + h.total_len <= max_bytes || (must_return_one && taken == 0));
                if take {
                    next = base + h.offset_count();
                }
                take
            })
            .await?;
        Ok((bytes, next))
    }

    /// Reads every batch holding offsets `first..=last` (whole batches, patched), however many
    /// bytes that is: used where records were already handed out, as share acquisitions are.
    pub async fn read_offsets(
        &self,
        topic: &str,
        partition: i32,
        first: i64,
        last: i64,
    ) -> Result<Bytes, ResponseError> {
        let chunks: Vec<(i64, Chunk)> = self.read(|s| {
            let p = s
                .partition(topic, partition)
                .ok_or(ResponseError::UnknownTopicOrPartition)?;
            Ok::<_, ResponseError>(
                p.chunks_from(first)
                    .take_while(|(b, _)| *b <= last)
                    .map(|(b, c)| (b, c.clone()))
                    .collect(),
            )
        })?;
        let capacity = chunks.iter().map(|(_, c)| c.len as usize).sum();
        self.collect_batches(&chunks, first, capacity, |base, _, _| base <= last)
            .await
    }

    /// Walks the batches of `chunks` that hold offsets from `from` on, copying each (with its
    /// offset patched in) while `take(batch base offset, header, bytes taken so far)` agrees;
    /// `capacity` is the bytes expected (a hint: the buffer grows past it if need be).
    async fn collect_batches(
        &self,
        chunks: &[(i64, Chunk)],
        from: i64,
        capacity: usize,
        mut take: impl FnMut(i64, &BatchHeader, usize) -> bool,
    ) -> Result<Bytes, ResponseError> {
        let mut out = BytesMut::with_capacity(capacity);
        for (base, chunk) in chunks {
            if let Some(m) = &chunk.marker {
                // A transaction marker: an index entry rendered as its control batch.
                if *base < from {
                    continue;
                }
                let batch = control_batch(
                    *base,
                    LEADER_EPOCH,
                    m.producer_id,
                    m.producer_epoch,
                    m.commit,
                    m.coordinator_epoch,
                    chunk.max_timestamp,
                );
                let h = BatchHeader::parse(&batch).map_err(|e| {
                    tracing::error!(error = %e, "rendered control batch is malformed");
                    ResponseError::CorruptMessage
                })?;
                if !take(*base, &h, out.len()) {
                    return Ok(out.freeze());
                }
                out.extend_from_slice(&batch);
                continue;
            }
            // The entry is read a cache block at a time (each read a slice of the cached block,
            // no copy), and no further than `take` wants: a fetch needs the batches from `from`
            // up to its limit, not the whole entry. A batch running past its block is copied
            // from the blocks it spans straight into `out`, or not read at all when skipped.
            let end = chunk.pos + chunk.len;
            let block = self.cache.block_size();
            let storage_error = |e: sluice_storage::cache::CacheError| {
                tracing::error!(object = %chunk.object, error = %e, "segment read failed");
                ResponseError::KafkaStorageError
            };
            let malformed = |e: BatchError| {
                tracing::error!(object = %chunk.object, error = %e, "stored batch is malformed");
                ResponseError::CorruptMessage
            };
            let (mut window, mut window_pos, mut at) = (Bytes::new(), chunk.pos, 0usize);
            let mut next = *base;
            while window_pos + (at as u64) < end {
                let p = window_pos + at as u64;
                let (h, spanning) = match BatchHeader::parse(&window[at..]) {
                    Ok(h) => (h, None),
                    // The header is here, the rest in the next blocks.
                    Err(BatchError::Truncated { need, .. })
                        if need > HEADER_LEN && window.len() - at >= HEADER_LEN =>
                    {
                        (
                            BatchHeader::parse_header(&window[at..]).map_err(malformed)?,
                            Some(p..p + need as u64),
                        )
                    }
                    Err(BatchError::Truncated { need, .. }) => {
                        // The next window: to the end of this block, or the whole header.
                        let want = (p + need.max(HEADER_LEN) as u64)
                            .max((p / block + 1) * block)
                            .min(end);
                        if want - p < need as u64 {
                            tracing::warn!(object = %chunk.object, at = p, need, "index entry ends inside a batch");
                            break;
                        }
                        window = self
                            .cache
                            .read(&chunk.object, chunk.object_len, p..want)
                            .await
                            .map_err(storage_error)?;
                        (window_pos, at) = (p, 0);
                        continue;
                    }
                    Err(e) => return Err(malformed(e)),
                };
                if spanning.as_ref().is_some_and(|r| r.end > end) {
                    tracing::warn!(object = %chunk.object, at = p, need = h.total_len, "index entry ends inside a batch");
                    break;
                }
                let batch = at..at + h.total_len;
                if spanning.is_some() {
                    (window, window_pos, at) = (Bytes::new(), p + h.total_len as u64, 0);
                } else {
                    at = batch.end;
                }
                let batch_base = next;
                next += h.offset_count();
                if next <= from {
                    continue;
                }
                if !take(batch_base, &h, out.len()) {
                    return Ok(out.freeze());
                }
                let start = out.len();
                match spanning {
                    None => out.extend_from_slice(&window[batch]),
                    Some(range) => {
                        let parts = self
                            .cache
                            .read_parts(&chunk.object, chunk.object_len, range)
                            .await
                            .map_err(storage_error)?;
                        for part in &parts {
                            out.extend_from_slice(part);
                        }
                    }
                }
                patch_base_offset(&mut out[start..], batch_base, LEADER_EPOCH);
            }
        }
        Ok(out.freeze())
    }
}
