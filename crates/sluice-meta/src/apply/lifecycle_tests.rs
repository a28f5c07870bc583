//! Given/when/then tests of retention, DeleteRecords, leases and compaction swaps.

use uuid::Uuid;

use super::*;
use crate::command::{BatchMeta, Command, PartitionAppend, SegmentCommit};
use crate::topics::Chunk;

const T: &str = "t";

fn topic(s: &mut MetaState, name: &str, configs: &[(&str, &str)]) -> Uuid {
    let id = Uuid::from_u128(name.len() as u128 + 1);
    s.apply(&Command::CreateTopic {
        name: name.into(),
        id,
        partitions: 1,
        configs: configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        now_ms: 0,
    });
    id
}

/// Commits one object holding one batch of `records` (100 bytes, max timestamp `ts`) for each
/// named topic's partition 0.
fn commit(s: &mut MetaState, object: &str, topics: &[(&str, Uuid)], records: i64, ts: i64) {
    let partitions = topics
        .iter()
        .enumerate()
        .map(|(i, (t, id))| PartitionAppend {
            topic: t.to_string(),
            topic_id: *id,
            partition: 0,
            batches: vec![BatchMeta {
                pos: i as u64 * 100,
                len: 100,
                records,
                max_timestamp: ts,
                producer_id: -1,
                producer_epoch: -1,
                base_sequence: -1,
                transactional: false,
                implicit_add_to_txn: false,
            }],
        })
        .collect();
    s.apply(&Command::CommitSegment(SegmentCommit {
        object: object.into(),
        object_len: 100 * topics.len() as u64,
        agent_id: 1,
        now_ms: ts,
        partitions,
        uploaded_ms: ts,
        max_age_ms: 0,
    }));
}

fn retention(s: &mut MetaState, now_ms: i64, retention_ms: i64, retention_bytes: i64) {
    s.apply(&Command::ApplyRetention {
        now_ms,
        defaults: RetentionDefaults {
            retention_ms,
            retention_bytes,
        },
    });
}

fn starts(s: &MetaState, name: &str) -> (i64, Vec<i64>) {
    let p = s.partition(name, 0).unwrap();
    (p.log_start_offset, p.chunks.keys().copied().collect())
}

#[test]
fn a_topic_without_overrides_follows_the_broker_default() {
    let mut s = MetaState::default();
    let d = topic(&mut s, "d", &[]);
    let keep = topic(&mut s, "keep", &[("retention.ms", "-1")]);
    let compact = topic(&mut s, "cmp", &[("cleanup.policy", "compact")]);
    let all = [("d", d), ("keep", keep), ("cmp", compact)];
    commit(&mut s, "old", &all, 2, 1_000);
    commit(&mut s, "new", &all, 3, 9_000);
    // when: the broker keeps 5 s, at 10 s
    retention(&mut s, 10_000, 5_000, -1);
    // then: the default topic lost its old chunk; the -1 and the compact-only topics did not
    assert_eq!(starts(&s, "d"), (2, vec![2]));
    assert_eq!(starts(&s, "keep"), (0, vec![0, 2]));
    assert_eq!(starts(&s, "cmp"), (0, vec![0, 2]));
    assert!(s.garbage.is_empty(), "'old' is still referenced");
    // and a missing default keeps everything, as a command stored before defaults existed
    retention(&mut s, 100_000, -1, -1);
    assert_eq!(starts(&s, "d"), (2, vec![2]));
}

#[test]
fn size_retention_keeps_at_least_retention_bytes_as_kafka() {
    let mut s = MetaState::default();
    let id = topic(&mut s, T, &[("retention.bytes", "150")]);
    for (i, o) in ["a", "b", "c"].iter().enumerate() {
        commit(&mut s, o, &[(T, id)], 1, i as i64);
    }
    retention(&mut s, 10, -1, -1);
    // 300 bytes: dropping "a" leaves 200 >= 150; dropping "b" would leave 100 < 150.
    assert_eq!(starts(&s, T), (1, vec![1, 2]));
    assert_eq!(s.garbage.iter().collect::<Vec<_>>(), vec!["a"]);
}

fn delete_records(
    s: &mut MetaState,
    topic: &str,
    partition: i32,
    offset: i64,
) -> DeleteRecordsResult {
    let r = s.apply(&Command::Lifecycle(LifecycleCommand::DeleteRecords {
        partitions: vec![DeleteRecordsTarget {
            topic: topic.into(),
            partition,
            offset,
        }],
    }));
    match r {
        CommandResponse::Lifecycle(LifecycleResponse::RecordsDeleted(v)) => v[0],
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn delete_records_moves_the_log_start_as_kafka() {
    let mut s = MetaState::default();
    let id = topic(&mut s, T, &[]);
    topic(&mut s, "cmp", &[("cleanup.policy", "compact")]);
    commit(&mut s, "a", &[(T, id)], 5, 1);
    commit(&mut s, "b", &[(T, id)], 5, 2);
    let ok = |low_watermark| DeleteRecordsResult {
        error_code: 0,
        low_watermark,
    };
    // inside the first chunk: it stays, the start moves
    assert_eq!(delete_records(&mut s, T, 0, 3), ok(3));
    assert_eq!(starts(&s, T), (3, vec![0, 5]));
    // below the start: nothing moves
    assert_eq!(delete_records(&mut s, T, 0, 1), ok(3));
    // past the high watermark, or below -1: OFFSET_OUT_OF_RANGE
    assert_eq!(
        delete_records(&mut s, T, 0, 11).error_code,
        OFFSET_OUT_OF_RANGE
    );
    assert_eq!(
        delete_records(&mut s, T, 0, -2).error_code,
        OFFSET_OUT_OF_RANGE
    );
    assert_eq!(
        delete_records(&mut s, T, 1, 0).error_code,
        codes::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        delete_records(&mut s, "cmp", 0, 0).error_code,
        POLICY_VIOLATION
    );
    // -1: up to the high watermark; every chunk goes
    assert_eq!(delete_records(&mut s, T, 0, -1), ok(10));
    assert_eq!(starts(&s, T), (10, vec![]));
    assert_eq!(s.garbage.iter().collect::<Vec<_>>(), vec!["a", "b"]);
}

fn lease(s: &mut MetaState, holder: i32, now_ms: i64) -> bool {
    s.apply(&Command::Lifecycle(LifecycleCommand::AcquireLease {
        job: "compaction".into(),
        holder,
        now_ms,
        ttl_ms: 100,
    })) == CommandResponse::Lifecycle(LifecycleResponse::Lease(true))
}

#[test]
fn a_lease_has_one_holder_until_it_lapses_or_is_released() {
    let mut s = MetaState::default();
    assert!(lease(&mut s, 1, 0));
    assert!(!lease(&mut s, 2, 50));
    assert!(lease(&mut s, 1, 50), "the holder renews");
    assert!(!lease(&mut s, 2, 149));
    assert!(lease(&mut s, 2, 150), "lapsed");
    s.apply(&Command::Lifecycle(LifecycleCommand::ReleaseLease {
        job: "compaction".into(),
        holder: 2,
    }));
    assert!(lease(&mut s, 3, 151));
}

fn swap(s: &mut MetaState, id: Uuid, output: &str) -> ChunkSwap {
    let p = s.partition(T, 0).unwrap();
    let inputs: Vec<(i64, Chunk)> = p.chunks.iter().map(|(b, c)| (*b, c.clone())).collect();
    let records = inputs.iter().map(|(_, c)| c.records).sum();
    ChunkSwap {
        topic: T.into(),
        topic_id: id,
        partition: 0,
        outputs: vec![(
            inputs[0].0,
            Chunk {
                object: output.into(),
                object_len: 200,
                pos: 0,
                len: 200,
                records,
                max_timestamp: 2,
                marker: None,
            },
        )],
        inputs,
        cleaned_offset: None,
        now_ms: 10,
        uploaded_ms: 9,
        max_age_ms: 100,
    }
}

fn apply_swap(s: &mut MetaState, w: &ChunkSwap) -> CommandResponse {
    s.apply(&Command::Lifecycle(LifecycleCommand::SwapChunks(w.clone())))
}

#[test]
fn a_swap_replaces_its_inputs_and_frees_objects_nobody_else_holds() {
    let mut s = MetaState::default();
    let id = topic(&mut s, T, &[]);
    let other = topic(&mut s, "other", &[]);
    commit(&mut s, "a", &[(T, id), ("other", other)], 2, 1);
    commit(&mut s, "b", &[(T, id)], 3, 2);
    let w = swap(&mut s, id, "merged");
    assert_eq!(
        apply_swap(&mut s, &w),
        CommandResponse::Lifecycle(LifecycleResponse::Swapped(true))
    );
    let p = s.partition(T, 0).unwrap();
    assert_eq!(p.chunks.len(), 1);
    assert_eq!(p.chunks[&0].object, "merged");
    assert_eq!(p.high_watermark, 5);
    // "a" still holds the other topic's data; "b" is free
    assert_eq!(s.garbage.iter().collect::<Vec<_>>(), vec!["b"]);
    assert_eq!(s.object_refs.get("merged"), Some(&1));
}

#[test]
fn a_swap_whose_inputs_changed_loses_and_its_output_is_garbage() {
    let mut s = MetaState::default();
    let id = topic(&mut s, T, &[]);
    commit(&mut s, "a", &[(T, id)], 2, 1);
    commit(&mut s, "b", &[(T, id)], 3, 2);
    let w = swap(&mut s, id, "merged");
    // a concurrent DeleteRecords dropped chunk "a"
    delete_records(&mut s, T, 0, 2);
    assert_eq!(
        apply_swap(&mut s, &w),
        CommandResponse::Lifecycle(LifecycleResponse::Swapped(false))
    );
    assert_eq!(starts(&s, T), (2, vec![2]));
    assert!(s.garbage.contains("merged") && !s.object_refs.contains_key("merged"));
    // a swap committed too long after its upload is refused the same way
    let mut late = swap(&mut s, id, "late");
    late.now_ms = 1_000;
    assert!(matches!(
        apply_swap(&mut s, &late),
        CommandResponse::Error { .. }
    ));
    assert!(s.garbage.contains("late"));
}

#[test]
fn a_swap_keeps_only_outputs_above_a_log_start_moved_meanwhile() {
    let mut s = MetaState::default();
    let id = topic(&mut s, T, &[]);
    commit(&mut s, "a", &[(T, id)], 2, 1);
    commit(&mut s, "b", &[(T, id)], 3, 2);
    let w = swap(&mut s, id, "merged");
    delete_records(&mut s, T, 0, 1); // inside chunk "a": the inputs stay as read
    assert_eq!(
        apply_swap(&mut s, &w),
        CommandResponse::Lifecycle(LifecycleResponse::Swapped(true))
    );
    assert_eq!(starts(&s, T), (1, vec![0]));
}
