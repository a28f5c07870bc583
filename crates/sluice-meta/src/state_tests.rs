//! Given/when/then tests of the pure state machine: offsets, dedupe, topics, retention.

use super::*;
use crate::command::*;

const T: &str = "orders";

fn state_with_topic(partitions: i32) -> (MetaState, Uuid) {
    let mut s = MetaState::default();
    let id = Uuid::from_u128(7);
    let r = s.apply(&Command::CreateTopic {
        name: T.into(),
        id,
        partitions,
        configs: vec![],
        now_ms: 1,
    });
    assert_eq!(r, CommandResponse::Ok);
    (s, id)
}

fn batch(pos: u64, records: i64, pid: i64, epoch: i16, seq: i32) -> BatchMeta {
    BatchMeta {
        pos,
        len: 100,
        records,
        max_timestamp: 1_000 + pos as i64,
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        transactional: false,
        implicit_add_to_txn: false,
    }
}

fn commit(
    s: &mut MetaState,
    id: Uuid,
    object: &str,
    parts: Vec<(i32, Vec<BatchMeta>)>,
) -> Vec<Vec<BatchOutcome>> {
    let cmd = Command::CommitSegment(SegmentCommit {
        object: object.into(),
        object_len: 10_000,
        agent_id: 1,
        now_ms: 5,
        uploaded_ms: 5,
        max_age_ms: 0,
        partitions: parts
            .into_iter()
            .map(|(p, batches)| PartitionAppend {
                topic: T.into(),
                topic_id: id,
                partition: p,
                batches,
            })
            .collect(),
    });
    match s.apply(&cmd) {
        CommandResponse::Committed(r) => r.into_iter().map(|p| p.outcomes).collect(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn offsets_are_dense_per_partition_across_segments() {
    let (mut s, id) = state_with_topic(2);
    let r = commit(
        &mut s,
        id,
        "a",
        vec![
            (0, vec![batch(0, 3, -1, -1, -1), batch(100, 2, -1, -1, -1)]),
            (1, vec![batch(200, 4, -1, -1, -1)]),
        ],
    );
    assert_eq!(
        r[0],
        vec![
            BatchOutcome::Appended { base_offset: 0 },
            BatchOutcome::Appended { base_offset: 3 }
        ]
    );
    assert_eq!(r[1], vec![BatchOutcome::Appended { base_offset: 0 }]);
    let r = commit(&mut s, id, "b", vec![(0, vec![batch(0, 1, -1, -1, -1)])]);
    assert_eq!(r[0], vec![BatchOutcome::Appended { base_offset: 5 }]);
    let p0 = s.partition(T, 0).unwrap();
    assert_eq!(p0.high_watermark, 6);
    // Contiguous batches of one object coalesce into one chunk.
    assert_eq!(p0.chunks.len(), 2);
    assert_eq!(
        p0.chunks[&0],
        Chunk {
            object: "a".into(),
            object_len: 10_000,
            pos: 0,
            len: 200,
            records: 5,
            max_timestamp: 1_100,
            marker: None,
        }
    );
    assert_eq!(
        p0.chunks_from(4).map(|(b, _)| b).collect::<Vec<_>>(),
        vec![0, 5]
    );
    assert_eq!(
        p0.chunks_from(5).map(|(b, _)| b).collect::<Vec<_>>(),
        vec![5]
    );
    assert_eq!(p0.chunks_from(6).count(), 0);
    assert_eq!(s.object_refs["a"], 2);
}

#[test]
fn idempotent_retry_is_deduplicated_and_gaps_are_rejected() {
    let (mut s, id) = state_with_topic(1);
    let pid = match s.apply(&Command::InitProducerId {
        producer_id: -1,
        producer_epoch: -1,
        now_ms: 1,
    }) {
        CommandResponse::Producer(p) => p.producer_id,
        other => panic!("{other:?}"),
    };
    let r = commit(
        &mut s,
        id,
        "a",
        vec![(0, vec![batch(0, 2, pid, 0, 0), batch(100, 3, pid, 0, 2)])],
    );
    assert_eq!(
        r[0],
        vec![
            BatchOutcome::Appended { base_offset: 0 },
            BatchOutcome::Appended { base_offset: 2 }
        ]
    );
    // The same batch again (a retry after a lost response): same offset, nothing appended.
    let r = commit(&mut s, id, "b", vec![(0, vec![batch(0, 3, pid, 0, 2)])]);
    assert_eq!(r[0], vec![BatchOutcome::Duplicate { base_offset: 2 }]);
    assert_eq!(s.partition(T, 0).unwrap().high_watermark, 5);
    assert!(
        s.garbage.contains("b"),
        "an object with nothing committed is garbage"
    );
    // A gap in sequence numbers.
    let r = commit(&mut s, id, "c", vec![(0, vec![batch(0, 1, pid, 0, 9)])]);
    assert_eq!(
        r[0],
        vec![BatchOutcome::Rejected {
            error_code: codes::OUT_OF_ORDER_SEQUENCE_NUMBER
        }]
    );
    // The next in order.
    let r = commit(&mut s, id, "d", vec![(0, vec![batch(0, 1, pid, 0, 5)])]);
    assert_eq!(r[0], vec![BatchOutcome::Appended { base_offset: 5 }]);
}

#[test]
fn a_partition_without_state_for_the_producer_accepts_any_first_sequence() {
    // given a fresh producer id (InitProducerId) and a two-partition topic
    let (mut s, id) = state_with_topic(2);
    s.apply(&Command::InitProducerId {
        producer_id: -1,
        producer_epoch: -1,
        now_ms: 1,
    });
    // when its first batch on partition 0 starts at sequence 42: appended (Kafka: the
    // producer's state may have expired; continuity is enforced from there on)
    let r = commit(&mut s, id, "a", vec![(0, vec![batch(0, 3, 0, 0, 42)])]);
    assert_eq!(r[0], vec![BatchOutcome::Appended { base_offset: 0 }]);
    // then a gap is refused, a retry is a duplicate, the next in order is appended
    let r = commit(&mut s, id, "b", vec![(0, vec![batch(0, 1, 0, 0, 46)])]);
    assert_eq!(
        r[0],
        vec![BatchOutcome::Rejected {
            error_code: codes::OUT_OF_ORDER_SEQUENCE_NUMBER
        }]
    );
    let r = commit(&mut s, id, "c", vec![(0, vec![batch(0, 3, 0, 0, 42)])]);
    assert_eq!(r[0], vec![BatchOutcome::Duplicate { base_offset: 0 }]);
    let r = commit(&mut s, id, "d", vec![(0, vec![batch(0, 1, 0, 0, 45)])]);
    assert_eq!(r[0], vec![BatchOutcome::Appended { base_offset: 3 }]);
    // and partition 1, where it never wrote, takes its first batch at any sequence too
    let r = commit(&mut s, id, "e", vec![(1, vec![batch(0, 1, 0, 0, 7)])]);
    assert_eq!(r[0], vec![BatchOutcome::Appended { base_offset: 0 }]);
    // even from a producer id the quorum never handed out (its state expired)
    let r = commit(&mut s, id, "f", vec![(1, vec![batch(0, 1, 99, 4, 1000)])]);
    assert_eq!(r[0], vec![BatchOutcome::Appended { base_offset: 1 }]);
}

#[test]
fn a_new_epoch_restarts_sequences_at_zero_per_partition() {
    let (mut s, id) = state_with_topic(2);
    let r = commit(
        &mut s,
        id,
        "a",
        vec![
            (0, vec![batch(0, 2, 5, 0, 0)]),
            (1, vec![batch(100, 2, 5, 0, 0)]),
        ],
    );
    assert_eq!(r[0], vec![BatchOutcome::Appended { base_offset: 0 }]);
    // a client-side epoch bump (Kafka's idempotent producer bumps locally) must restart at 0
    let r = commit(&mut s, id, "b", vec![(0, vec![batch(0, 1, 5, 1, 2)])]);
    assert_eq!(
        r[0],
        vec![BatchOutcome::Rejected {
            error_code: codes::OUT_OF_ORDER_SEQUENCE_NUMBER
        }]
    );
    let r = commit(&mut s, id, "c", vec![(0, vec![batch(0, 1, 5, 1, 0)])]);
    assert_eq!(r[0], vec![BatchOutcome::Appended { base_offset: 2 }]);
    // partition 1 still holds epoch 0: its in-flight epoch-0 batch continues there
    let r = commit(&mut s, id, "d", vec![(1, vec![batch(0, 1, 5, 0, 2)])]);
    assert_eq!(r[0], vec![BatchOutcome::Appended { base_offset: 2 }]);
    // while on partition 0 epoch 0 is now fenced
    let r = commit(&mut s, id, "e", vec![(0, vec![batch(0, 1, 5, 0, 2)])]);
    assert_eq!(
        r[0],
        vec![BatchOutcome::Rejected {
            error_code: codes::INVALID_PRODUCER_EPOCH
        }]
    );
    assert_eq!(s.producers[&5].epoch, 1);
    assert_eq!(s.producers[&5].partitions[T][&0].epoch, 1);
    assert_eq!(s.producers[&5].partitions[T][&1].epoch, 0);
}

#[test]
fn producer_state_from_before_per_partition_epochs_still_loads() {
    let old = r#"{"epoch":3,"last_update_ms":9,"partitions":{"orders":{"0":[
        {"first_seq":0,"last_seq":4,"base_offset":10,"timestamp":77}]}}}"#;
    let p: ProducerState = serde_json::from_str(old).unwrap();
    let part = &p.partitions[T][&0];
    assert_eq!(part.epoch, 3);
    assert_eq!(part.batches[0].last_seq, 4);
    let again: ProducerState = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(again.partitions[T][&0], *part);
}

#[test]
fn epoch_bump_fences_the_old_epoch() {
    let (mut s, id) = state_with_topic(1);
    s.apply(&Command::InitProducerId {
        producer_id: -1,
        producer_epoch: -1,
        now_ms: 1,
    });
    commit(&mut s, id, "a", vec![(0, vec![batch(0, 1, 0, 0, 0)])]);
    let bumped = s.apply(&Command::InitProducerId {
        producer_id: 0,
        producer_epoch: 0,
        now_ms: 2,
    });
    assert_eq!(
        bumped,
        CommandResponse::Producer(ProducerInfo {
            producer_id: 0,
            producer_epoch: 1
        })
    );
    // The bump stands in for Kafka's fresh producer id: the partition starts clean, then the
    // new epoch fences the old one there.
    let r = commit(&mut s, id, "c", vec![(0, vec![batch(0, 1, 0, 1, 0)])]);
    assert_eq!(r[0], vec![BatchOutcome::Appended { base_offset: 1 }]);
    let r = commit(&mut s, id, "b", vec![(0, vec![batch(0, 1, 0, 0, 1)])]);
    assert_eq!(
        r[0],
        vec![BatchOutcome::Rejected {
            error_code: codes::INVALID_PRODUCER_EPOCH
        }]
    );
    let stale = s.apply(&Command::InitProducerId {
        producer_id: 0,
        producer_epoch: 0,
        now_ms: 3,
    });
    assert!(matches!(
        stale,
        CommandResponse::Error {
            code: codes::PRODUCER_FENCED,
            ..
        }
    ));
}

#[test]
fn commits_to_deleted_or_recreated_topics_are_rejected() {
    let (mut s, id) = state_with_topic(1);
    assert_eq!(
        s.apply(&Command::DeleteTopic { name: T.into() }),
        CommandResponse::Ok
    );
    s.apply(&Command::CreateTopic {
        name: T.into(),
        id: Uuid::from_u128(8),
        partitions: 1,
        configs: vec![],
        now_ms: 2,
    });
    let r = commit(&mut s, id, "a", vec![(0, vec![batch(0, 1, -1, -1, -1)])]);
    assert_eq!(
        r[0],
        vec![BatchOutcome::Rejected {
            error_code: codes::UNKNOWN_TOPIC_OR_PARTITION
        }]
    );
    let r = commit(
        &mut s,
        Uuid::from_u128(8),
        "b",
        vec![(3, vec![batch(0, 1, -1, -1, -1)])],
    );
    assert_eq!(
        r[0],
        vec![BatchOutcome::Rejected {
            error_code: codes::UNKNOWN_TOPIC_OR_PARTITION
        }]
    );
}

#[test]
fn topic_admin_errors() {
    let (mut s, _) = state_with_topic(2);
    let again = s.apply(&Command::CreateTopic {
        name: T.into(),
        id: Uuid::from_u128(9),
        partitions: 1,
        configs: vec![],
        now_ms: 1,
    });
    assert!(matches!(
        again,
        CommandResponse::Error {
            code: codes::TOPIC_ALREADY_EXISTS,
            ..
        }
    ));
    let shrink = s.apply(&Command::CreatePartitions {
        name: T.into(),
        count: 2,
    });
    assert!(matches!(
        shrink,
        CommandResponse::Error {
            code: codes::INVALID_PARTITIONS,
            ..
        }
    ));
    assert_eq!(
        s.apply(&Command::CreatePartitions {
            name: T.into(),
            count: 5
        }),
        CommandResponse::Ok
    );
    assert_eq!(s.topic(T).unwrap().partitions.len(), 5);
    let unknown = s.apply(&Command::DeleteTopic {
        name: "nope".into(),
    });
    assert!(matches!(
        unknown,
        CommandResponse::Error {
            code: codes::UNKNOWN_TOPIC_OR_PARTITION,
            ..
        }
    ));
}

#[test]
fn deleting_a_topic_turns_its_objects_into_garbage() {
    let (mut s, id) = state_with_topic(2);
    commit(
        &mut s,
        id,
        "a",
        vec![
            (0, vec![batch(0, 1, -1, -1, -1)]),
            (1, vec![batch(100, 1, -1, -1, -1)]),
        ],
    );
    assert!(s.garbage.is_empty());
    s.apply(&Command::DeleteTopic { name: T.into() });
    assert_eq!(s.garbage.iter().collect::<Vec<_>>(), vec!["a"]);
    s.apply(&Command::ObjectsDeleted {
        keys: vec!["a".into()],
    });
    assert!(s.garbage.is_empty() && s.object_refs.is_empty());
}

#[test]
fn retention_drops_old_chunks_and_advances_log_start() {
    let (mut s, id) = state_with_topic(1);
    s.apply(&Command::AlterTopicConfigs {
        name: T.into(),
        ops: vec![("retention.ms".into(), Some("500".into()))],
    });
    commit(&mut s, id, "old", vec![(0, vec![batch(0, 2, -1, -1, -1)])]); // max ts 1000
    commit(
        &mut s,
        id,
        "new",
        vec![(0, vec![batch(5_000, 3, -1, -1, -1)])],
    ); // max ts 6000
    s.apply(&Command::ApplyRetention {
        now_ms: 6_000,
        defaults: Default::default(),
    });
    let p = s.partition(T, 0).unwrap();
    assert_eq!(p.log_start_offset, 2);
    assert_eq!(p.high_watermark, 5);
    assert_eq!(p.chunks.keys().copied().collect::<Vec<_>>(), vec![2]);
    assert_eq!(s.garbage.iter().collect::<Vec<_>>(), vec!["old"]);
}

#[test]
fn apply_is_deterministic_for_replicas() {
    let (mut a, id) = state_with_topic(3);
    let mut b = a.clone();
    let cmds = vec![
        Command::InitProducerId {
            producer_id: -1,
            producer_epoch: -1,
            now_ms: 1,
        },
        Command::AgentHeartbeat {
            agent: AgentInfo {
                agent_id: -1,
                host: "h".into(),
                port: 1,
                rack: None,
                last_seen_ms: 0,
                listeners: vec![],
            },
            now_ms: 3,
        },
    ];
    for c in &cmds {
        assert_eq!(a.apply(c), b.apply(c));
    }
    commit(&mut a, id, "x", vec![(2, vec![batch(0, 4, 0, 0, 0)])]);
    commit(&mut b, id, "x", vec![(2, vec![batch(0, 4, 0, 0, 0)])]);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}

#[test]
fn retention_forgets_producers_silent_for_a_day() {
    let (mut s, _) = state_with_topic(1);
    s.apply(&Command::InitProducerId {
        producer_id: -1,
        producer_epoch: -1,
        now_ms: 1_000,
    });
    s.apply(&Command::InitProducerId {
        producer_id: -1,
        producer_epoch: -1,
        now_ms: 50_000_000,
    });
    s.apply(&Command::ApplyRetention {
        now_ms: PRODUCER_ID_EXPIRATION_MS + 2_000,
        defaults: Default::default(),
    });
    assert_eq!(s.producers.keys().copied().collect::<Vec<_>>(), vec![1]);
}

#[test]
fn a_busy_state_survives_a_snapshot_roundtrip() {
    // Snapshots are serde_json: every map key type must round-trip (integer keys become strings).
    let (mut s, id) = state_with_topic(2);
    s.apply(&Command::InitProducerId {
        producer_id: -1,
        producer_epoch: -1,
        now_ms: 1,
    });
    s.apply(&Command::AgentHeartbeat {
        agent: AgentInfo {
            agent_id: 3,
            host: "h".into(),
            port: 9092,
            rack: Some("r1".into()),
            last_seen_ms: 0,
            listeners: vec![("PLAINTEXT".into(), "h".into(), 9092)],
        },
        now_ms: 2,
    });
    commit(
        &mut s,
        id,
        "a",
        vec![
            (0, vec![batch(0, 2, 0, 0, 0)]),
            (1, vec![batch(100, 1, -1, -1, -1)]),
        ],
    );
    s.apply(&Command::DeleteTopic { name: T.into() });
    s.apply(&Command::CreateTopic {
        name: T.into(),
        id,
        partitions: 1,
        configs: vec![("retention.ms".into(), "5".into())],
        now_ms: 3,
    });
    commit(&mut s, id, "b", vec![(0, vec![batch(0, 3, 0, 0, 0)])]);
    // A share group with partition state (integer-keyed maps inside).
    use crate::share_group::{AcquireRequest, ShareCommand};
    s.apply(&Command::Share(ShareCommand::Join {
        group: "sg".into(),
        member_id: "m".into(),
        rack: None,
        client_id: "c".into(),
        client_host: "h".into(),
        subscribed: vec![T.into()],
    }));
    s.apply(&Command::Share(ShareCommand::SetConfigs {
        group: "sg".into(),
        ops: vec![("share.auto.offset.reset".into(), Some("earliest".into()))],
    }));
    s.apply(&Command::Share(ShareCommand::Acquire {
        group: "sg".into(),
        member_id: "m".into(),
        now_ms: 4,
        limits: Default::default(),
        max_records: 2,
        partitions: vec![AcquireRequest {
            topic: T.into(),
            partition: 0,
        }],
    }));
    assert_eq!(
        s.groups.share("sg").unwrap().partitions[T][&0]
            .in_flight
            .len(),
        1
    );
    let json = serde_json::to_string(&s).unwrap();
    let back: MetaState = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    assert_eq!(
        back.partition(T, 0)
            .unwrap()
            .chunks
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        vec![0]
    );
    assert_eq!(
        back.producers[&0].partitions[T][&0]
            .batches
            .back()
            .unwrap()
            .last_seq,
        2
    );
    assert!(back.garbage.contains("a"));
}

#[test]
fn a_segment_uploaded_longer_ago_than_its_max_age_is_refused() {
    // given: a segment uploaded at t=1000 whose commit allows 300 s between upload and commit
    let (mut s, id) = state_with_topic(1);
    let segment = |object: &str, now_ms: i64| {
        Command::CommitSegment(SegmentCommit {
            object: object.into(),
            object_len: 100,
            agent_id: 1,
            now_ms,
            uploaded_ms: 1_000,
            max_age_ms: 300_000,
            partitions: vec![PartitionAppend {
                topic: T.into(),
                topic_id: id,
                partition: 0,
                batches: vec![batch(0, 3, -1, -1, -1)],
            }],
        })
    };
    // when: it is proposed 300.001 s after its upload (the janitor may be deleting it)
    let r = s.apply(&segment("late", 301_001));
    // then: refused with a retriable code; nothing appended, the object referenced by nothing
    // (and not garbage either: the janitor's orphan pass deletes it)
    assert_eq!(
        r,
        CommandResponse::Error {
            code: codes::REQUEST_TIMED_OUT,
            message:
                "segment object too old to commit (the janitor may delete it); upload it again"
                    .into()
        }
    );
    assert_eq!(s.partition(T, 0).unwrap().high_watermark, 0);
    assert!(!s.object_refs.contains_key("late") && !s.garbage.contains("late"));
    // when: the same segment is proposed exactly 300 s after its upload, then it commits
    let r = s.apply(&segment("in-time", 301_000));
    assert!(matches!(r, CommandResponse::Committed(_)), "{r:?}");
    assert_eq!(s.partition(T, 0).unwrap().high_watermark, 3);
    assert_eq!(s.object_refs["in-time"], 1);
}

#[test]
fn acls_are_created_deleted_and_kept_in_snapshots() {
    use crate::acl::*;
    let binding = |name: &str, op: AclOperation| AclBinding {
        pattern: ResourcePattern {
            resource_type: ResourceType::Topic,
            pattern_type: PatternType::Literal,
            name: name.into(),
        },
        entry: AccessControlEntry {
            principal: "User:alice".into(),
            host: "*".into(),
            operation: op,
            permission: AclPermissionType::Allow,
        },
    };
    let (read_a, write_a, read_b) = (
        binding("a", AclOperation::Read),
        binding("a", AclOperation::Write),
        binding("b", AclOperation::Read),
    );
    let mut invalid = binding("c", AclOperation::Read);
    invalid.pattern.pattern_type = PatternType::Match;
    // given two replicas applying the same commands
    let cmds = [
        Command::CreateAcls {
            bindings: vec![read_a.clone(), write_a.clone(), read_b.clone(), invalid],
        },
        Command::DeleteAcls {
            filters: vec![
                AclBindingFilter {
                    name: Some("a".into()),
                    operation: AclOperation::Write,
                    ..AclBindingFilter::any()
                },
                AclBindingFilter {
                    principal: Some("User:bob".into()),
                    ..AclBindingFilter::any()
                },
            ],
        },
    ];
    let (mut s1, mut s2) = (MetaState::default(), MetaState::default());
    let mut answers = Vec::new();
    for c in &cmds {
        answers.push(s1.apply(c));
        assert_eq!(s2.apply(c), *answers.last().unwrap());
    }
    // then the invalid binding was never stored, and the delete answered what it removed
    assert_eq!(
        answers[1],
        CommandResponse::AclsDeleted(vec![vec![write_a], vec![]])
    );
    assert_eq!(s1.acls.iter().collect::<Vec<_>>(), vec![read_a, read_b]);
    assert_eq!(s1.acls, s2.acls);
    // and a snapshot keeps them
    let back: MetaState = serde_json::from_str(&serde_json::to_string(&s1).unwrap()).unwrap();
    assert_eq!(back.acls, s1.acls);
}

#[test]
fn deleting_a_topic_takes_the_state_keyed_by_its_name_with_it() {
    use crate::groups::{GroupCommand, OffsetCommitEntry};
    use crate::share::{Acquired, ShareLimits};
    use crate::share_group::{AcquireRequest, ShareCommand, ShareResponse};
    // Given: topic T with 5 records (an idempotent producer wrote them), another topic U, a group
    // with offsets committed on both, and a share group that consumed T (records 0..=4 acquired).
    let (mut s, id) = state_with_topic(1);
    s.apply(&Command::CreateTopic {
        name: "u".into(),
        id: Uuid::from_u128(70),
        partitions: 1,
        configs: vec![],
        now_ms: 1,
    });
    s.apply(&Command::InitProducerId {
        producer_id: -1,
        producer_epoch: -1,
        now_ms: 1,
    });
    commit(&mut s, id, "a", vec![(0, vec![batch(0, 5, 0, 0, 0)])]);
    let offset = |topic: &str, offset| OffsetCommitEntry {
        topic: topic.into(),
        partition: 0,
        offset,
        leader_epoch: -1,
        metadata: None,
    };
    s.apply(&Command::Group(GroupCommand::CommitOffsets {
        group: "g".into(),
        generation: -1,
        member_id: String::new(),
        instance_id: None,
        offsets: vec![offset(T, 7), offset("u", 3)],
        now_ms: 2,
        api_version: Some(9),
    }));
    let share = |s: &mut MetaState, cmd: ShareCommand| match s.apply(&Command::Share(cmd)) {
        CommandResponse::Share(r) => r,
        other => panic!("unexpected {other:?}"),
    };
    share(
        &mut s,
        ShareCommand::SetConfigs {
            group: "sg".into(),
            ops: vec![("share.auto.offset.reset".into(), Some("earliest".into()))],
        },
    );
    share(
        &mut s,
        ShareCommand::Join {
            group: "sg".into(),
            member_id: "m".into(),
            rack: None,
            client_id: String::new(),
            client_host: String::new(),
            subscribed: vec![T.into()],
        },
    );
    let acquire = ShareCommand::Acquire {
        group: "sg".into(),
        member_id: "m".into(),
        now_ms: 3,
        limits: ShareLimits::default(),
        max_records: 500,
        partitions: vec![AcquireRequest {
            topic: T.into(),
            partition: 0,
        }],
    };
    let acquired = |last| {
        ShareResponse::Acquired(vec![vec![Acquired {
            first: 0,
            last,
            delivery_count: 1,
        }]])
    };
    assert_eq!(share(&mut s, acquire.clone()), acquired(4));
    let epoch_before = s.groups.share("sg").unwrap().group_epoch;

    // When T is deleted and created again under its name
    s.apply(&Command::DeleteTopic { name: T.into() });
    let new_id = Uuid::from_u128(77);

    // Then its offsets, share-partition state, share assignment and producer sequences are gone
    let g = s.groups.offsets_of("g").unwrap();
    assert!(!g.contains_key(T));
    assert_eq!(g["u"][&0].offset, 3, "other topics keep theirs");
    let sg = s.groups.share("sg").unwrap();
    assert!(sg.partitions.is_empty());
    assert!(sg.members["m"].assignment.is_empty());
    assert_eq!(sg.group_epoch, epoch_before + 1, "members learn of it");
    assert!(s.producers[&0].partitions.is_empty());

    s.apply(&Command::CreateTopic {
        name: T.into(),
        id: new_id,
        partitions: 1,
        configs: vec![],
        now_ms: 4,
    });
    commit(
        &mut s,
        new_id,
        "b",
        vec![(0, vec![batch(0, 2, -1, -1, -1)])],
    );
    // ...so the new topic's first records arrive with delivery count 1, and the producer's
    // next batch on it starts a fresh sequence.
    assert_eq!(share(&mut s, acquire), acquired(1));
    let r = commit(&mut s, new_id, "c", vec![(0, vec![batch(0, 1, 0, 0, 0)])]);
    assert_eq!(r[0], vec![BatchOutcome::Appended { base_offset: 2 }]);
}

mod tables {
    use super::*;
    use crate::tables::{TableCommand, TableCommit, LEASE_NOT_HELD};

    fn topic_with_data(s: &mut MetaState) -> Uuid {
        let id = Uuid::from_u128(7);
        s.apply(&Command::CreateTopic {
            name: "t".into(),
            id,
            partitions: 2,
            configs: vec![],
            now_ms: 0,
        });
        // Ten records in each partition, committed as data is (the invariants hold throughout).
        s.apply(&Command::CommitSegment(SegmentCommit {
            object: "o".into(),
            object_len: 1_000,
            agent_id: 1,
            now_ms: 0,
            uploaded_ms: 0,
            max_age_ms: 0,
            partitions: (0..2)
                .map(|p| PartitionAppend {
                    topic: "t".into(),
                    topic_id: id,
                    partition: p,
                    batches: vec![super::batch(p as u64 * 100, 10, -1, -1, -1)],
                })
                .collect(),
        }));
        assert_eq!(s.partition("t", 1).unwrap().high_watermark, 10);
        id
    }

    fn lease(s: &mut MetaState, id: Uuid, agent: i32, now: i64) -> CommandResponse {
        s.apply(&Command::Table(TableCommand::Lease {
            topic: "t".into(),
            topic_id: id,
            agent_id: agent,
            now_ms: now,
            lease_ms: 100,
        }))
    }

    fn commit(id: Uuid, agent: i32, now: i64, version: u64, next: Vec<i64>) -> Command {
        Command::Table(TableCommand::Commit(TableCommit {
            topic: "t".into(),
            topic_id: id,
            agent_id: agent,
            now_ms: now,
            version,
            next_offsets: next,
            metadata: format!("m{version}"),
            records: 4,
            malformed: 1,
            lease_ms: 100,
        }))
    }

    fn code(r: CommandResponse) -> i16 {
        match r {
            CommandResponse::Error { code, .. } => code,
            _ => 0,
        }
    }

    #[test]
    fn one_lease_holder_commits_each_version_once() {
        let mut s = MetaState::default();
        let id = topic_with_data(&mut s);
        assert_eq!(code(lease(&mut s, id, 1, 0)), 0);
        assert_eq!(code(lease(&mut s, id, 2, 50)), LEASE_NOT_HELD);
        assert_eq!(
            code(s.apply(&commit(id, 2, 50, 1, vec![3, 4]))),
            LEASE_NOT_HELD
        );
        assert_eq!(code(s.apply(&commit(id, 1, 50, 1, vec![3, 4]))), 0);
        // A retry of the same commit (an ambiguous proposal) is refused: the offsets moved once.
        assert_eq!(
            code(s.apply(&commit(id, 1, 60, 1, vec![3, 4]))),
            codes::INVALID_REQUEST
        );
        let t = &s.tables["t"];
        assert_eq!(
            (t.version, t.next_offsets.clone(), t.records, t.malformed),
            (1, vec![3, 4], 4, 1)
        );
        assert_eq!(t.metadata, "m1");
        // Offsets never go back nor past the high watermark.
        assert_eq!(
            code(s.apply(&commit(id, 1, 60, 2, vec![2, 4]))),
            codes::INVALID_REQUEST
        );
        assert_eq!(
            code(s.apply(&commit(id, 1, 60, 2, vec![3, 11]))),
            codes::INVALID_REQUEST
        );
        // The commit extended the lease to 150; past it another agent takes over.
        assert_eq!(code(lease(&mut s, id, 2, 140)), LEASE_NOT_HELD);
        assert_eq!(code(lease(&mut s, id, 2, 150)), 0);
        assert_eq!(
            code(s.apply(&commit(id, 1, 151, 2, vec![5, 5]))),
            LEASE_NOT_HELD
        );
        assert_eq!(code(s.apply(&commit(id, 2, 151, 2, vec![5, 5]))), 0);
        // Deleting the topic drops its table.
        s.apply(&Command::DeleteTopic { name: "t".into() });
        assert!(!s.tables.contains_key("t"));
    }
}

#[test]
fn a_segment_commit_proposed_again_is_answered_as_the_first_time_and_applied_once() {
    // given a commit of plain and idempotent batches, applied
    let (mut s, id) = state_with_topic(1);
    let parts = vec![(0, vec![batch(0, 3, -1, -1, -1), batch(100, 2, 9, 0, 0)])];
    let first = commit(&mut s, id, "seg-1", parts.clone());
    assert_eq!(
        first[0],
        vec![
            BatchOutcome::Appended { base_offset: 0 },
            BatchOutcome::Appended { base_offset: 3 }
        ]
    );
    // when the agent proposes it again (the first proposal's outcome was unknown to it)
    let again = commit(&mut s, id, "seg-1", parts.clone());
    // then it gets the same answer, and nothing is appended twice
    assert_eq!(again, first);
    assert_eq!(s.topics[T].partitions[0].high_watermark, 5);
    assert_eq!(s.object_refs["seg-1"], 1);
    // and another object with the same batches is new data (the plain batch appends again,
    // the idempotent one is a duplicate of its sequence)
    let other = commit(&mut s, id, "seg-2", parts);
    assert_eq!(
        other[0],
        vec![
            BatchOutcome::Appended { base_offset: 5 },
            BatchOutcome::Duplicate { base_offset: 3 }
        ]
    );
    // and an agent remembers only its latest commits
    assert_eq!(s.recent_commits[&1].len(), RECENT_COMMITS_PER_AGENT);
}
