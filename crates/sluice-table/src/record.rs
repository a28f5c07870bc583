//! Records as a table sees them, decoded from stored (or fetched) Kafka record batches.

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use sluice_protocol::batch::BatchIter;

use crate::TableError;

/// One Kafka record: the columns every table has, and the value still as bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRecord {
    /// The Kafka partition index.
    pub partition: i32,
    /// The record's absolute offset in its partition.
    pub offset: i64,
    /// Milliseconds since the Unix epoch (CreateTime or LogAppendTime, as the batch says).
    pub timestamp_ms: i64,
    /// The record key; `None` for a null key.
    pub key: Option<Bytes>,
    /// The record value as produced (out of the decompressed batch, not parsed); `None` for a
    /// tombstone.
    pub value: Option<Bytes>,
    /// Header keys and values in record order. (Decoded through `kafka-protocol`, which keeps one
    /// value per key: a record repeating a header key keeps the last.)
    pub headers: Vec<(String, Option<Bytes>)>,
}

impl TableRecord {
    /// Topic bytes this record accounts for (key + value + headers), for throughput figures.
    pub fn payload_len(&self) -> usize {
        self.key.as_ref().map_or(0, Bytes::len)
            + self.value.as_ref().map_or(0, Bytes::len)
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, Bytes::len))
                .sum::<usize>()
    }
}

/// An aborted transaction as Fetch reports it: its producer and first offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The transactional producer's id.
    pub producer_id: i64,
    /// The offset of the transaction's first batch (Kafka's `FetchResponse`
    /// `AbortedTransaction.first_offset`).
    pub first_offset: i64,
}

/// Decodes the records of `partition` with offsets in `from..to` out of concatenated magic-v2
/// batches (base offsets already real, as the agent's reader and Fetch responses give them),
/// as a read_committed consumer sees them.
///
/// Control batches (transaction markers) are skipped, and so are the transactional batches of
/// `aborted` transactions (Kafka's consumer rule: from the transaction's first offset, a
/// producer's transactional batches are aborted until its next control batch). A trailing
/// partial batch (Fetch may cut one) ends the run. Returns the records and the offset after the
/// last batch looked at, so a caller can continue from there even when a whole batch was
/// control records.
pub fn decode_batches(
    partition: i32,
    data: &Bytes,
    from: i64,
    to: i64,
    aborted: &[AbortedTxn],
) -> Result<(Vec<TableRecord>, i64), TableError> {
    let mut out = Vec::new();
    let mut next = from;
    let mut pending: Vec<AbortedTxn> = aborted.to_vec();
    pending.sort_by_key(|a| std::cmp::Reverse(a.first_offset));
    let mut aborting: Vec<i64> = Vec::new();
    for item in BatchIter::new(data) {
        let (pos, h) = item.map_err(|e| TableError::Batch {
            partition,
            offset: next,
            reason: e.to_string(),
        })?;
        if h.base_offset >= to {
            break;
        }
        let end = h.base_offset + h.offset_count();
        while pending.last().is_some_and(|a| a.first_offset < end) {
            let a = pending.pop().expect("checked");
            aborting.push(a.producer_id);
        }
        if h.is_control() {
            aborting.retain(|p| *p != h.producer_id);
        }
        if end <= from {
            continue;
        }
        next = next.max(end.min(to));
        if h.is_control() || (h.is_transactional() && aborting.contains(&h.producer_id)) {
            continue;
        }
        let mut one = data.slice(pos..pos + h.total_len);
        let set = RecordBatchDecoder::decode(&mut one).map_err(|e| TableError::Batch {
            partition,
            offset: h.base_offset,
            reason: e.to_string(),
        })?;
        for r in set.records {
            if r.offset < from || r.offset >= to || r.control {
                continue;
            }
            out.push(TableRecord {
                partition,
                offset: r.offset,
                timestamp_ms: r.timestamp,
                key: r.key,
                value: r.value,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            });
        }
    }
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::batch;

    #[test]
    fn records_in_range_are_decoded_and_the_rest_skipped() {
        let mut data = batch(10, &[b"a", b"b", b"c"]).to_vec();
        data.extend_from_slice(&batch(13, &[b"d", b"e"]));
        let data = Bytes::from(data);
        let (recs, next) = decode_batches(3, &data, 11, 14, &[]).unwrap();
        let got: Vec<(i64, &[u8])> = recs
            .iter()
            .map(|r| (r.offset, r.value.as_deref().unwrap()))
            .collect();
        assert_eq!(got, vec![(11, &b"b"[..]), (12, b"c"), (13, b"d")]);
        assert_eq!(next, 14);
        assert!(recs.iter().all(|r| r.partition == 3));
        assert_eq!(
            recs[0].headers,
            vec![("h".to_string(), Some(Bytes::from_static(b"v")))]
        );
    }

    #[test]
    fn a_truncated_tail_ends_the_run() {
        let full = batch(0, &[b"x", b"y"]);
        let mut data = full.to_vec();
        data.extend_from_slice(&full[..20]);
        let (recs, next) = decode_batches(0, &Bytes::from(data), 0, 100, &[]).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(next, 2);
    }
}
