//! The segment object: one flush's worth of record batches from many partitions.
//!
//! Layout: batches grouped by partition, partitions in key order, batches in arrival order,
//! stored exactly as the producer sent them (placeholder offsets). There is no header or footer:
//! the metadata quorum's offset index is the only map into an object, so an object nobody
//! committed is simply garbage. Grouping by partition makes each partition's share of a segment
//! one contiguous byte range, so a consumer reads it with one ranged GET.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};

/// Where one appended batch landed: `(ticket, pos, len)`.
pub type Placement = (u64, u64, u64);

/// Where each appended batch landed in the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentLayout<K> {
    /// Per partition, in key order, its batches in append order.
    pub partitions: Vec<(K, Vec<Placement>)>,
}

/// Accumulates batches until a flush. `K` names a partition; tickets name appends.
#[derive(Debug)]
pub struct SegmentBuilder<K: Ord> {
    buckets: BTreeMap<K, Vec<(u64, Bytes)>>,
    bytes: usize,
    batches: usize,
}

impl<K: Ord + Clone> Default for SegmentBuilder<K> {
    fn default() -> Self {
        SegmentBuilder {
            buckets: BTreeMap::new(),
            bytes: 0,
            batches: 0,
        }
    }
}

impl<K: Ord + Clone> SegmentBuilder<K> {
    /// Appends `batch` (bytes as produced) to `partition`'s run; `ticket` is the caller's
    /// name for this append, returned in the [`SegmentLayout`].
    pub fn push(&mut self, partition: K, ticket: u64, batch: Bytes) {
        self.bytes += batch.len();
        self.batches += 1;
        self.buckets
            .entry(partition)
            .or_default()
            .push((ticket, batch));
    }

    /// Bytes appended so far (the object's size once finished).
    pub fn len_bytes(&self) -> usize {
        self.bytes
    }

    /// Whether nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.batches == 0
    }

    /// Lays the batches out into one contiguous object.
    pub fn finish(self) -> (Bytes, SegmentLayout<K>) {
        let mut out = BytesMut::with_capacity(self.bytes);
        let mut partitions = Vec::with_capacity(self.buckets.len());
        for (k, batches) in self.buckets {
            let mut places = Vec::with_capacity(batches.len());
            for (ticket, b) in batches {
                places.push((ticket, out.len() as u64, b.len() as u64));
                out.extend_from_slice(&b);
            }
            partitions.push((k, places));
        }
        (out.freeze(), SegmentLayout { partitions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_partition_keeping_arrival_order() {
        let mut b = SegmentBuilder::default();
        b.push(("t", 1), 10, Bytes::from_static(b"AA"));
        b.push(("t", 0), 11, Bytes::from_static(b"B"));
        b.push(("t", 1), 12, Bytes::from_static(b"CCC"));
        assert_eq!(b.len_bytes(), 6);
        let (obj, layout) = b.finish();
        assert_eq!(&obj[..], b"BAACCC");
        assert_eq!(
            layout.partitions,
            vec![
                (("t", 0), vec![(11, 0, 1)]),
                (("t", 1), vec![(10, 1, 2), (12, 3, 3)])
            ]
        );
    }
}
