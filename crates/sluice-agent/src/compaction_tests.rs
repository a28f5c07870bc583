//! Compaction planning and log cleaning, without a store: given an index or batches, then the
//! jobs or the output.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder};
use sluice_meta::state::{Chunk, PartitionLog};
use sluice_protocol::testing;

use super::*;

fn chunk(object: &str, object_len: u64, len: u64, records: i64, ts: i64) -> Chunk {
    Chunk {
        object: object.into(),
        object_len,
        pos: 0,
        len,
        records,
        max_timestamp: ts,
        marker: None,
    }
}

fn log(chunks: Vec<(i64, Chunk)>) -> PartitionLog {
    PartitionLog {
        high_watermark: chunks.last().map_or(0, |(b, c)| b + c.records),
        chunks: chunks.into_iter().collect(),
        ..Default::default()
    }
}

fn bases(runs: &[Vec<(i64, Chunk)>]) -> Vec<Vec<i64>> {
    runs.iter()
        .map(|r| r.iter().map(|(b, _)| *b).collect())
        .collect()
}

#[test]
fn flush_slices_merge_up_to_the_target_and_big_compacted_objects_stay() {
    let c = |o: &str, ol, l| chunk(o, ol, l, 1, 0);
    let p = log(vec![
        (0, c("segments/a", 500, 40)),
        (1, c("segments/b", 500, 40)),
        (2, c("segments/c", 500, 40)),    // 120 > 100: a new run
        (3, c("segments/c-big", 90, 90)), // compacted, >= target/2: stays, splits runs
        (4, c("segments/c-small1", 10, 10)),
        (5, c("segments/c-small2", 10, 10)),
        (6, c("segments/c-alone", 10, 10)),
    ]);
    assert_eq!(
        bases(&plan_merges(&p, 100, i64::MAX)),
        vec![vec![0, 1], vec![2], vec![4, 5, 6]]
    );
    // a lone small compacted object is left alone
    let p = log(vec![(0, c("segments/c-x", 10, 10))]);
    assert!(plan_merges(&p, 100, i64::MAX).is_empty());
}

#[test]
fn objects_younger_than_the_minimum_age_wait() {
    let c = |o: &str| chunk(o, 400, 10, 1, 0);
    let p = log(vec![
        (0, c("segments/0000000001000-1-a.seg")),
        (1, c("segments/0000000002000-1-b.seg")),
        (2, c("segments/c-0000000003000-1-c.seg")),
        (3, c("segments/0000000009000-1-d.seg")), // written after 5000: not yet
        (4, c("segments/0000000004000-1-e.seg")),
    ]);
    assert_eq!(
        bases(&plan_merges(&p, 1000, 5_000)),
        vec![vec![0, 1, 2], vec![4]]
    );
    assert_eq!(
        object_written_ms("segments/c-0000000003000-1-c.seg"),
        Some(3_000)
    );
    assert_eq!(
        object_written_ms("segments/0000000009000-1-d.seg"),
        Some(9_000)
    );
    assert_eq!(object_written_ms("elsewhere/x"), None);
    // everything young: no job
    assert!(plan_merges(&p, 1000, 0).is_empty());
}

fn compacted_topic(configs: &[(&str, &str)], p: PartitionLog) -> Topic {
    let mut all: BTreeMap<String, String> = configs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.insert("cleanup.policy".into(), "compact".into());
    Topic {
        name: "t".into(),
        id: Uuid::nil(),
        configs: all,
        partitions: vec![p],
        created_ms: 0,
    }
}

#[test]
fn cleaning_is_due_by_dirty_ratio_or_max_lag_and_waits_for_min_lag() {
    let p = || {
        let mut p = log(vec![
            (0, chunk("a", 100, 100, 10, 1_000)),
            (10, chunk("b", 100, 100, 10, 2_000)),
        ]);
        p.cleaned_offset = 10; // "a" is clean: 50% dirty
        p
    };
    let due = |configs: &[(&str, &str)], now| {
        let t = compacted_topic(configs, p());
        plan_clean(&t, &t.partitions[0], now).map(|(inputs, _)| inputs.len())
    };
    assert_eq!(due(&[], 5_000), Some(2), "0.5 >= the default ratio 0.5");
    assert_eq!(due(&[("min.cleanable.dirty.ratio", "0.6")], 5_000), None);
    assert_eq!(
        due(
            &[
                ("min.cleanable.dirty.ratio", "0.6"),
                ("max.compaction.lag.ms", "1000")
            ],
            5_000
        ),
        Some(2),
        "overdue"
    );
    // min lag: "b" is too young, and the clean part alone has nothing dirty
    assert_eq!(due(&[("min.compaction.lag.ms", "3500")], 5_000), None);
}

fn batch(first: i64, records: &[(Option<&str>, Option<&str>, i64)]) -> Bytes {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v, ts))| Record {
            // kafka-protocol's encoder starts a new batch where sequences break
            sequence: i as i32,
            key: k.map(|k| Bytes::from(k.to_string())),
            value: v.map(|v| Bytes::from(v.to_string())),
            ..testing::record(first + i as i64, *ts, b"")
        })
        .collect();
    testing::encode(&records, Compression::Lz4).freeze()
}

fn in_batch(base: i64, bytes: Bytes) -> Item {
    let header = BatchHeader::parse(&bytes).unwrap();
    Item::Batch(InBatch {
        base,
        header,
        bytes,
    })
}

/// (offset, key, value) of every record in `out`, decoded as a consumer would after the reader
/// patched each entry's batches with their offsets.
fn decode(out: &Output) -> Vec<(i64, String, Option<String>)> {
    let mut got = Vec::new();
    for (base, c) in &out.entries {
        let mut data = BytesMut::from(&out.data[c.pos as usize..(c.pos + c.len) as usize]);
        let mut next = *base;
        let mut at = 0;
        while at < data.len() {
            let h = BatchHeader::parse(&data[at..]).unwrap();
            sluice_protocol::batch::patch_base_offset(&mut data[at..], next, 0);
            next += h.offset_count();
            at += h.total_len;
        }
        let mut buf = data.freeze();
        for b in RecordBatchDecoder::decode_all(&mut buf).unwrap() {
            for r in b.records {
                got.push((
                    r.offset,
                    String::from_utf8(r.key.unwrap().to_vec()).unwrap(),
                    r.value.map(|v| String::from_utf8(v.to_vec()).unwrap()),
                ));
            }
        }
    }
    got
}

#[test]
fn cleaning_keeps_the_latest_record_per_key_at_its_offset() {
    let batches = vec![
        in_batch(
            0,
            batch(
                0,
                &[(Some("a"), Some("a1"), 10), (Some("b"), Some("b1"), 10)],
            ),
        ),
        in_batch(
            2,
            batch(2, &[(Some("a"), Some("a2"), 20), (Some("c"), None, 20)]),
        ),
        in_batch(4, batch(4, &[(Some("b"), None, 5_000)])), // a young tombstone
        in_batch(5, batch(5, &[(Some("d"), Some("d1"), 30)])),
    ];
    let out = clean(&batches, "o", 6_000, 2_000, true).unwrap();
    // batch 0 lost every record: a gap before offset 2; "c"'s old tombstone went
    assert_eq!(
        decode(&out),
        vec![
            (2, "a".into(), Some("a2".into())),
            (4, "b".into(), None),
            (5, "d".into(), Some("d1".into())),
        ]
    );
    // offsets 2..6 are one entry (batch 1 keeps its two-offset span)
    assert_eq!(
        out.entries
            .iter()
            .map(|(b, c)| (*b, c.records))
            .collect::<Vec<_>>(),
        vec![(2, 4)]
    );
    // once the tombstone is old, it goes too; the last batch is kept whole
    let out = clean(&batches, "o", 60_000, 2_000, true).unwrap();
    assert_eq!(
        decode(&out).iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![2, 5]
    );
    assert_eq!(
        out.entries
            .iter()
            .map(|(b, c)| (*b, c.records))
            .collect::<Vec<_>>(),
        vec![(2, 2), (5, 1)]
    );
}

#[test]
fn merged_entries_stay_within_a_cache_block_so_fetches_read_near_their_offset() {
    // 40 contiguous batches of 100 KiB, 10 offsets each: 4,000 KiB in entries of at most 1 MiB
    let mut out = Output::default();
    let bytes = vec![0u8; 100 << 10];
    for i in 0..40 {
        out.push(i * 10, 10, i, &bytes);
    }
    let entries: Vec<(i64, i64, u64, u64)> = out
        .entries
        .iter()
        .map(|(b, c)| (*b, c.records, c.pos, c.len))
        .collect();
    // 10 batches (1,000 KiB) fit in 1 MiB, an 11th would not
    assert_eq!(
        entries,
        vec![
            (0, 100, 0, 1_024_000),
            (100, 100, 1_024_000, 1_024_000),
            (200, 100, 2_048_000, 1_024_000),
            (300, 100, 3_072_000, 1_024_000),
        ]
    );
    // a batch bigger than the limit is an entry of its own
    let mut out = Output::default();
    out.push(0, 1, 0, &[0u8; 10]);
    out.push(1, 1, 0, &vec![0u8; 2 << 20]);
    out.push(2, 1, 0, &[0u8; 10]);
    assert_eq!(
        out.entries
            .iter()
            .map(|(b, c)| (*b, c.len))
            .collect::<Vec<_>>(),
        vec![(0, 10), (1, 2 << 20), (2, 10)]
    );
}
