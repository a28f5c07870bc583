//! "Latest value per key" tables (`sluice.table.mode=latest`, compacted topics only): the table
//! holds, per (partition, key), the newest record committed so far, as a log-compacted topic
//! would once fully compacted, and tombstones remove keys.
//!
//! Each commit is an Iceberg `overwrite` snapshot, copy-on-write: the writer reads the rows of the
//! current snapshot's data files, merges them with the commit's records ([`plan`]), writes the
//! result as one new Parquet file (rows ordered by partition, then offset) and marks every file
//! of the current snapshot deleted in the new manifest. Readers never merge anything: a snapshot
//! is exactly its one data file (none when every key was deleted).
//!
//! The merge rules, per (partition, key):
//! - the record with the highest offset wins, whether it was in the table or is new;
//! - a winning tombstone (null value) removes the key;
//! - a record without a key cannot be placed: it is skipped, and counted
//!   ([`MergePlan::keyless`]); a keyless row already in the table (written in append mode before
//!   the topic switched to latest) is dropped too.
//!
//! Replaced files stay in the object store while a snapshot that lists them may still be read:
//! a snapshot stops being current when the next one is committed, and is kept (in the metadata,
//! with its files) for `sluice.table.retain.ms` after that ([`expired_prefix`]). The snapshots
//! past that are dropped from the next metadata file, and the files only they listed are deleted
//! before that metadata is committed (so a crash leaves them listed, and the next pass deletes
//! them again: deleting a missing file is not an error).
//!
//! Trade-off: every commit rewrites the whole table (one GET and one PUT of every live row), and
//! the merge holds it in memory. That suits compacted topics, whose key space is what the table
//! holds, up to some hundreds of MiB of rows; a table much larger than one commit would want
//! per-partition files, which Sluice does not write yet.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{make_array, new_null_array, Array, ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, Schema as ArrowSchema};

use crate::iceberg::Snapshot;
use crate::TableRecord;

/// A row's identity and age: where it sits, and its key (`None` for a keyless row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowKey<'a> {
    /// The Kafka partition.
    pub partition: i32,
    /// The record's offset in its partition: the higher, the newer.
    pub offset: i64,
    /// The record key's bytes.
    pub key: Option<&'a [u8]>,
}

/// Where a row of the merged table comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowSource {
    /// The `i`th row of the previous snapshot (in the order the caller listed them).
    Previous(usize),
    /// `records[i]` of the commit.
    New(usize),
}

/// What a latest-mode commit writes: the rows of the new data file and what was dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergePlan {
    /// The new data file's rows, ordered by partition, then offset.
    pub rows: Vec<RowSource>,
    /// Previous rows not carried over: replaced by a newer record of their key, removed by a
    /// tombstone, or keyless.
    pub dropped_previous: u64,
    /// New records skipped because they have no key.
    pub keyless: u64,
}

impl MergePlan {
    /// Whether the merged table is the previous one, row for row (no new row, none dropped):
    /// then the commit needs no new snapshot.
    pub fn changes_nothing(&self) -> bool {
        self.dropped_previous == 0
            && self
                .rows
                .iter()
                .all(|r| matches!(r, RowSource::Previous(_)))
    }
}

/// Merges the previous snapshot's rows (`previous`, any order) with a commit's `records`: per
/// (partition, key) the highest offset wins, a winning tombstone removes the key, keyless
/// records are skipped (see the module doc). On an offset tie the previous row stays.
pub fn plan<'a>(previous: &[RowKey<'a>], records: &'a [TableRecord]) -> MergePlan {
    /// (partition, key) -> (offset, source) of the newest row so far.
    type Newest<'a> = HashMap<(i32, &'a [u8]), (i64, RowSource)>;
    fn offer<'a>(newest: &mut Newest<'a>, r: RowKey<'a>, src: RowSource) {
        let Some(key) = r.key else { return };
        match newest.entry((r.partition, key)) {
            Entry::Vacant(v) => {
                v.insert((r.offset, src));
            }
            Entry::Occupied(mut o) => {
                if r.offset > o.get().0 {
                    o.insert((r.offset, src));
                }
            }
        }
    }
    let mut out = MergePlan::default();
    let mut newest: Newest<'a> = HashMap::with_capacity(previous.len() + records.len());
    for (i, r) in previous.iter().enumerate() {
        offer(&mut newest, *r, RowSource::Previous(i));
    }
    for (i, r) in records.iter().enumerate() {
        if r.key.is_none() {
            out.keyless += 1;
        }
        let key = RowKey {
            partition: r.partition,
            offset: r.offset,
            key: r.key.as_deref(),
        };
        offer(&mut newest, key, RowSource::New(i));
    }
    let mut rows: Vec<(i32, i64, RowSource)> = newest
        .into_iter()
        .filter(|(_, (_, src))| match src {
            RowSource::Previous(_) => true,
            RowSource::New(i) => records[*i].value.is_some(),
        })
        .map(|((partition, _), (offset, src))| (partition, offset, src))
        .collect();
    rows.sort_unstable_by_key(|(p, o, _)| (*p, *o));
    let kept = rows
        .iter()
        .filter(|(_, _, s)| matches!(s, RowSource::Previous(_)))
        .count();
    out.dropped_previous = (previous.len() - kept) as u64;
    out.rows = rows.into_iter().map(|(_, _, s)| s).collect();
    out
}

/// The partition, offset and key of every row of `batch` (a table data file's batch: columns
/// `partition` int32, `offset` int64, `key` binary). `None` if a column is missing or typed
/// otherwise.
pub fn row_keys(batch: &RecordBatch) -> Option<Vec<RowKey<'_>>> {
    let partition = batch
        .column_by_name("partition")?
        .as_primitive_opt::<Int32Type>()?;
    let offset = batch
        .column_by_name("offset")?
        .as_primitive_opt::<Int64Type>()?;
    let key = batch.column_by_name("key")?.as_binary_opt::<i32>()?;
    Some(
        (0..batch.num_rows())
            .map(|i| RowKey {
                partition: partition.value(i),
                offset: offset.value(i),
                key: key.is_valid(i).then(|| key.value(i)),
            })
            .collect(),
    )
}

/// `batch` (a row batch of an older data file) under `schema`: columns matched by name; a
/// column the file lacks (added by a later schema), or holds with another type (a value format
/// switch), reads null. A nested column whose type differs only in field names or metadata (as
/// read back from Parquet) is relabelled, not dropped.
pub fn conform(batch: &RecordBatch, schema: &Arc<ArrowSchema>) -> Result<RecordBatch, ArrowError> {
    let cols = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) if c.data_type().equals_datatype(f.data_type()) => {
                let data = c
                    .to_data()
                    .into_builder()
                    .data_type(f.data_type().clone())
                    .build()?;
                Ok(make_array(data))
            }
            _ => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<Result<Vec<ArrayRef>, ArrowError>>()?;
    RecordBatch::try_new(schema.clone(), cols)
}

/// The oldest snapshots of `snapshots` whose retention is over at `now_ms`: each replaced by its
/// successor (by sequence number) at least `retain_ms` ago. Never the current snapshot; always a
/// prefix in sequence order (a snapshot is kept while an older one is, so the first kept
/// snapshot's deleted entries name everything the dropped ones alone listed). Returns their ids,
/// oldest first.
pub fn expired_prefix(
    snapshots: &[Snapshot],
    current: i64,
    now_ms: i64,
    retain_ms: i64,
) -> Vec<i64> {
    let mut by_seq: Vec<&Snapshot> = snapshots.iter().collect();
    by_seq.sort_by_key(|s| s.sequence_number);
    by_seq
        .windows(2)
        .take_while(|w| {
            w[0].snapshot_id != current && w[1].timestamp_ms.saturating_add(retain_ms) <= now_ms
        })
        .map(|w| w[0].snapshot_id)
        .collect()
}

/// Paths in `candidates` that no path in `live` names, each once, in first-seen order.
pub fn unreferenced<'a>(
    candidates: impl IntoIterator<Item = &'a str>,
    live: &HashSet<&str>,
) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    candidates
        .into_iter()
        .filter(|c| !live.contains(c) && seen.insert(*c))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow_array::cast::AsArray;
    use bytes::Bytes;

    use super::*;
    use crate::columns::build_batch;
    use crate::parquet_file::parse_values;
    use crate::schema::{TableSchema, ValueFormat};

    fn rec(partition: i32, offset: i64, key: Option<&str>, value: Option<&str>) -> TableRecord {
        TableRecord {
            partition,
            offset,
            timestamp_ms: 1_000 + offset,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: vec![],
        }
    }

    fn key<'a>(partition: i32, offset: i64, k: &'a str) -> RowKey<'a> {
        RowKey {
            partition,
            offset,
            key: Some(k.as_bytes()),
        }
    }

    #[test]
    fn newest_record_per_partition_and_key_wins_and_tombstones_remove() {
        // Given a table holding a@0:0, b@0:1, a@1:0 (same key, other partition), c@1:1
        let previous = [
            key(0, 0, "a"),
            key(0, 1, "b"),
            key(1, 0, "a"),
            key(1, 1, "c"),
        ];
        // when a commit updates a in partition 0 twice, deletes b, deletes c then writes it back,
        // adds d, and has one keyless record
        let records = [
            rec(0, 2, Some("a"), Some("a1")),
            rec(0, 3, Some("b"), None),
            rec(0, 4, None, Some("nokey")),
            rec(0, 5, Some("a"), Some("a2")),
            rec(1, 2, Some("c"), None),
            rec(1, 3, Some("c"), Some("c2")),
            rec(1, 4, Some("d"), Some("d1")),
        ];
        let p = plan(&previous, &records);
        // then the table is a@0:5, a@1:0 (kept), c@1:3, d@1:4, in partition/offset order
        assert_eq!(
            p.rows,
            vec![
                RowSource::New(3),
                RowSource::Previous(2),
                RowSource::New(5),
                RowSource::New(6),
            ]
        );
        assert_eq!((p.dropped_previous, p.keyless), (3, 1));
        assert!(!p.changes_nothing());
    }

    #[test]
    fn a_tombstone_for_an_absent_key_and_keyless_records_change_nothing() {
        let previous = [key(0, 0, "a")];
        let records = [rec(0, 1, Some("zz"), None), rec(0, 2, None, Some("x"))];
        let p = plan(&previous, &records);
        assert_eq!(p.rows, vec![RowSource::Previous(0)]);
        assert_eq!((p.dropped_previous, p.keyless), (0, 1));
        assert!(p.changes_nothing());
    }

    #[test]
    fn an_older_or_replayed_record_does_not_replace_a_newer_row() {
        let previous = [key(0, 7, "a")];
        let records = [
            rec(0, 3, Some("a"), Some("old")),
            rec(0, 7, Some("a"), Some("same")),
        ];
        let p = plan(&previous, &records);
        assert_eq!(p.rows, vec![RowSource::Previous(0)]);
        assert!(p.changes_nothing());
    }

    #[test]
    fn keyless_and_duplicate_previous_rows_are_dropped() {
        // Rows appended before the topic switched to latest: a twice, and a keyless row.
        let previous = [
            key(0, 0, "a"),
            RowKey {
                partition: 0,
                offset: 1,
                key: None,
            },
            key(0, 2, "a"),
        ];
        let p = plan(&previous, &[]);
        assert_eq!(p.rows, vec![RowSource::Previous(2)]);
        assert_eq!((p.dropped_previous, p.keyless), (2, 0));
    }

    #[test]
    fn merged_rows_are_exact_through_arrow() {
        // Given a JSON table batch written under the first schema
        let old = [
            rec(0, 0, Some("a"), Some(r#"{"n": 1}"#)),
            rec(0, 1, Some("b"), Some(r#"{"n": 2}"#)),
        ];
        let parsed = parse_values(ValueFormat::Json, &old);
        let s1 = TableSchema::new(ValueFormat::Json).evolve(&parsed).unwrap();
        let prev = build_batch(&s1, &old, &parsed).unwrap().batch;
        // when a commit brings a new version of b with a new field, and a new key c
        let new = [
            rec(0, 2, Some("b"), Some(r#"{"n": 3, "tag": "x"}"#)),
            rec(0, 3, Some("c"), Some(r#"{"n": 4}"#)),
        ];
        let keys = row_keys(&prev).unwrap();
        let p = plan(&keys, &new);
        let parsed_new = parse_values(ValueFormat::Json, &new);
        let s2 = s1.evolve(&parsed_new).unwrap();
        let prev2 = conform(&prev, &s2.arrow()).unwrap();
        let added = build_batch(&s2, &new, &parsed_new).unwrap().batch;
        let idx: Vec<(usize, usize)> = p
            .rows
            .iter()
            .map(|r| match r {
                RowSource::Previous(i) => (0, *i),
                RowSource::New(i) => (1, *i),
            })
            .collect();
        let merged =
            arrow_select::interleave::interleave_record_batch(&[&prev2, &added], &idx).unwrap();
        // then the rows are a (old, tag null), b (new), c, with their offsets
        let col = |name: &str| merged.column_by_name(name).unwrap().clone();
        let offsets: Vec<i64> = col("offset").as_primitive::<Int64Type>().values().to_vec();
        let n: Vec<Option<i64>> = col("n").as_primitive::<Int64Type>().iter().collect();
        let tag: Vec<Option<String>> = col("tag")
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect();
        let keys: Vec<Vec<u8>> = col("key")
            .as_binary::<i32>()
            .iter()
            .map(|k| k.unwrap().to_vec())
            .collect();
        assert_eq!(offsets, vec![0, 2, 3]);
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(n, vec![Some(1), Some(3), Some(4)]);
        assert_eq!(tag, vec![None, Some("x".to_string()), None]);
    }

    fn snap(id: i64, ts: i64) -> Snapshot {
        Snapshot {
            snapshot_id: id,
            parent_snapshot_id: None,
            sequence_number: id,
            timestamp_ms: ts,
            manifest_list: format!("/t/metadata/snap-{id}.avro"),
            summary: BTreeMap::new(),
            schema_id: 0,
        }
    }

    #[test]
    fn snapshots_expire_retain_ms_after_they_were_replaced() {
        let snaps = [snap(1, 100), snap(2, 200), snap(3, 300), snap(4, 400)];
        // 1 was replaced at 200, 2 at 300, 3 at 400; 4 is current.
        assert_eq!(expired_prefix(&snaps, 4, 299, 100), Vec::<i64>::new());
        assert_eq!(expired_prefix(&snaps, 4, 300, 100), vec![1]);
        assert_eq!(expired_prefix(&snaps, 4, 450, 100), vec![1, 2]);
        assert_eq!(expired_prefix(&snaps, 4, 10_000, 100), vec![1, 2, 3]);
        assert_eq!(expired_prefix(&snaps, 4, 400, 0), vec![1, 2, 3]);
        // The current snapshot never expires, nor anything after it.
        assert_eq!(expired_prefix(&snaps, 2, 10_000, 0), vec![1]);
    }

    #[test]
    fn only_unreferenced_paths_are_deleted_once() {
        let live: HashSet<&str> = ["/d/3", "/d/4"].into();
        assert_eq!(
            unreferenced(["/d/1", "/d/3", "/d/2", "/d/1"], &live),
            vec!["/d/1", "/d/2"]
        );
    }
}
