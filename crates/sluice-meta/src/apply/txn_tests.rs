//! Given/when/then tests of the transaction coordinator state machine, including every
//! illegal transition a client can ask for.

use uuid::Uuid;

use super::*;
use crate::command::{BatchOutcome, Command, PartitionAppend, SegmentCommit};
use crate::groups::OffsetCommitEntry;
use crate::txn::expiry_due;

const T: &str = "orders";
const TID: &str = "tx-1";
const TOPIC_ID: Uuid = Uuid::from_u128(9);

fn state() -> MetaState {
    let mut s = MetaState::default();
    let r = s.apply(&Command::CreateTopic {
        name: T.into(),
        id: TOPIC_ID,
        partitions: 2,
        configs: vec![],
        now_ms: 1,
    });
    assert_eq!(r, CommandResponse::Ok);
    s
}

fn txn(s: &mut MetaState, c: TxnCommand) -> CommandResponse {
    s.apply(&Command::Txn(c))
}

fn init(s: &mut MetaState, tid: &str, now_ms: i64) -> (i64, i16) {
    match txn(
        s,
        TxnCommand::InitProducerId {
            transactional_id: tid.into(),
            timeout_ms: 1_000,
            expected: None,
            now_ms,
        },
    ) {
        CommandResponse::Producer(p) => (p.producer_id, p.producer_epoch),
        other => panic!("unexpected {other:?}"),
    }
}

fn add(s: &mut MetaState, p: (i64, i16), partitions: &[i32]) -> CommandResponse {
    add_as(s, TID, p, partitions)
}

fn add_as(
    s: &mut MetaState,
    tid: &str,
    (pid, epoch): (i64, i16),
    partitions: &[i32],
) -> CommandResponse {
    txn(
        s,
        TxnCommand::AddPartitions {
            transactional_id: tid.into(),
            producer_id: pid,
            producer_epoch: epoch,
            partitions: partitions.iter().map(|p| (T.to_string(), *p)).collect(),
            now_ms: 10,
        },
    )
}

fn end(s: &mut MetaState, p: (i64, i16), commit: bool, bump: bool) -> CommandResponse {
    end_as(s, TID, p, commit, bump)
}

fn end_as(
    s: &mut MetaState,
    tid: &str,
    (pid, epoch): (i64, i16),
    commit: bool,
    bump: bool,
) -> CommandResponse {
    txn(
        s,
        TxnCommand::End {
            transactional_id: tid.into(),
            producer_id: pid,
            producer_epoch: epoch,
            commit,
            bump,
            now_ms: 20,
        },
    )
}

static OBJECTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Commits one batch of `records` to `partition`: transactional when `pid` >= 0.
fn produce(
    s: &mut MetaState,
    partition: i32,
    (pid, epoch): (i64, i16),
    seq: i32,
    records: i64,
    implicit: bool,
) -> BatchOutcome {
    let cmd = Command::CommitSegment(SegmentCommit {
        // Unique per call: a commit of an object already committed is answered as then.
        object: format!(
            "obj-{partition}-{seq}-{}",
            OBJECTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
        object_len: 1_000,
        agent_id: 1,
        now_ms: 15,
        uploaded_ms: 15,
        max_age_ms: 0,
        partitions: vec![PartitionAppend {
            topic: T.into(),
            topic_id: TOPIC_ID,
            partition,
            batches: vec![BatchMeta {
                pos: 0,
                len: 100,
                records,
                max_timestamp: 15,
                producer_id: pid,
                producer_epoch: epoch,
                base_sequence: seq,
                transactional: pid >= 0,
                implicit_add_to_txn: implicit,
            }],
        }],
    });
    match s.apply(&cmd) {
        CommandResponse::Committed(r) => r[0].outcomes[0],
        other => panic!("unexpected {other:?}"),
    }
}

fn code(r: &CommandResponse) -> i16 {
    match r {
        CommandResponse::Error { code, .. } => *code,
        _ => codes::NONE,
    }
}

fn log(s: &MetaState, p: i32) -> &PartitionLog {
    s.partition(T, p).unwrap()
}

fn meta(s: &MetaState) -> &TransactionMeta {
    &s.transactions.by_id[TID]
}

#[test]
fn init_gives_a_new_id_then_bumps_its_epoch() {
    let mut s = state();
    let (pid, epoch) = init(&mut s, TID, 1);
    assert_eq!(epoch, 0);
    assert_eq!(init(&mut s, TID, 2), (pid, 1));
    // another transactional id gets another producer id
    assert_ne!(init(&mut s, "tx-2", 3).0, pid);
    assert_eq!(meta(&s).state, TxnState::Empty);
}

#[test]
fn commit_places_a_marker_in_every_partition_and_moves_the_lso() {
    let mut s = state();
    let p = init(&mut s, TID, 1);
    assert_eq!(add(&mut s, p, &[0, 1]), CommandResponse::Ok);
    assert_eq!(meta(&s).state, TxnState::Ongoing);
    assert_eq!(meta(&s).start_ms, 10);
    assert_eq!(
        produce(&mut s, 0, p, 0, 3, false),
        BatchOutcome::Appended { base_offset: 0 }
    );
    // plain data after the open transaction: the LSO stays at the transaction's first offset
    assert_eq!(
        produce(&mut s, 0, (-1, -1), -1, 2, false),
        BatchOutcome::Appended { base_offset: 3 }
    );
    assert_eq!(log(&s, 0).high_watermark, 5);
    assert_eq!(log(&s, 0).last_stable_offset(), 0);
    // partition 1 was added but got no data: its LSO is its high watermark
    assert_eq!(log(&s, 1).last_stable_offset(), 0);

    assert_eq!(
        end(&mut s, p, true, false),
        CommandResponse::Producer(ProducerInfo {
            producer_id: p.0,
            producer_epoch: p.1
        })
    );
    assert_eq!(meta(&s).state, TxnState::CompleteCommit);
    for part in [0, 1] {
        let l = log(&s, part);
        let (&offset, marker) = l.chunks.iter().next_back().unwrap();
        assert_eq!(offset, l.high_watermark - 1);
        assert_eq!(
            marker.marker,
            Some(TxnMarker {
                producer_id: p.0,
                producer_epoch: p.1,
                commit: true,
                coordinator_epoch: 0
            })
        );
        assert!(l.open_txns.is_empty());
        assert!(l.aborted_txns.is_empty());
        assert_eq!(l.last_stable_offset(), l.high_watermark);
    }
    assert_eq!(log(&s, 0).high_watermark, 6);
    assert_eq!(log(&s, 1).high_watermark, 1);
}

#[test]
fn abort_remembers_the_aborted_range() {
    let mut s = state();
    let p = init(&mut s, TID, 1);
    add(&mut s, p, &[0]);
    produce(&mut s, 0, p, 0, 3, false);
    produce(&mut s, 0, p, 3, 2, false);
    assert_eq!(code(&end(&mut s, p, false, false)), codes::NONE);
    assert_eq!(
        log(&s, 0).aborted_txns,
        vec![AbortedTxn {
            producer_id: p.0,
            first_offset: 0,
            last_offset: 5
        }]
    );
    assert_eq!(log(&s, 0).aborted_between(0, 6).len(), 1);
    assert!(log(&s, 0).aborted_between(6, 10).is_empty());
    assert_eq!(meta(&s).state, TxnState::CompleteAbort);
}

#[test]
fn data_needs_the_partition_in_the_transaction() {
    let mut s = state();
    let p = init(&mut s, TID, 1);
    // transaction version 1: not added -> refused
    assert_eq!(
        produce(&mut s, 0, p, 0, 1, false),
        BatchOutcome::Rejected {
            error_code: codes::INVALID_TXN_STATE
        }
    );
    // an unknown transactional producer id
    assert_eq!(
        produce(&mut s, 0, (p.0 + 100, 0), 0, 1, false),
        BatchOutcome::Rejected {
            error_code: codes::INVALID_TXN_STATE
        }
    );
    // transaction version 2: the partition joins, and the transaction opens
    assert_eq!(
        produce(&mut s, 1, p, 0, 1, true),
        BatchOutcome::Appended { base_offset: 0 }
    );
    assert_eq!(meta(&s).state, TxnState::Ongoing);
    assert!(meta(&s).partitions.contains(&(T.to_string(), 1)));
    assert_eq!(meta(&s).start_ms, 15);
}

#[test]
fn a_new_incarnation_fences_the_old_and_aborts_its_transaction() {
    let mut s = state();
    let old = init(&mut s, TID, 1);
    add(&mut s, old, &[0]);
    produce(&mut s, 0, old, 0, 2, false);
    let new = init(&mut s, TID, 30);
    // Kafka: fence (epoch + 1, abort), then the retried InitProducerId bumps again
    assert_eq!(new, (old.0, old.1 + 2));
    assert_eq!(log(&s, 0).high_watermark, 3);
    assert_eq!(log(&s, 0).aborted_txns.len(), 1);
    assert_eq!(meta(&s).state, TxnState::Empty);
    // the zombie: data, AddPartitions and EndTxn all refused
    assert_eq!(
        produce(&mut s, 0, old, 2, 1, false),
        BatchOutcome::Rejected {
            error_code: codes::INVALID_PRODUCER_EPOCH
        }
    );
    assert_eq!(code(&add(&mut s, old, &[1])), codes::PRODUCER_FENCED);
    assert_eq!(code(&end(&mut s, old, true, false)), codes::PRODUCER_FENCED);
    // a KIP-360 recovery naming the zombie's epoch is fenced too
    let r = txn(
        &mut s,
        TxnCommand::InitProducerId {
            transactional_id: TID.into(),
            timeout_ms: 1_000,
            expected: Some(old),
            now_ms: 31,
        },
    );
    assert_eq!(code(&r), codes::PRODUCER_FENCED);
    assert_eq!(log(&s, 0).high_watermark, 3);
}

#[test]
fn end_txn_illegal_transitions() {
    let mut s = state();
    let p = init(&mut s, TID, 1);
    // nothing open
    assert_eq!(code(&end(&mut s, p, true, false)), codes::INVALID_TXN_STATE);
    assert_eq!(
        code(&end(&mut s, p, false, false)),
        codes::INVALID_TXN_STATE
    );
    // unknown id, wrong producer id, old epoch
    let r = txn(
        &mut s,
        TxnCommand::End {
            transactional_id: "nope".into(),
            producer_id: p.0,
            producer_epoch: p.1,
            commit: true,
            bump: false,
            now_ms: 5,
        },
    );
    assert_eq!(code(&r), codes::INVALID_PRODUCER_ID_MAPPING);
    assert_eq!(
        code(&end(&mut s, (p.0 + 1, p.1), true, false)),
        codes::INVALID_PRODUCER_ID_MAPPING
    );
    add(&mut s, p, &[0]);
    assert_eq!(
        code(&end(&mut s, (p.0, p.1 + 1), true, false)),
        codes::PRODUCER_FENCED
    );
    assert_eq!(code(&end(&mut s, p, false, false)), codes::NONE);
    // a retry of the same outcome is answered again; the other outcome is refused
    assert_eq!(code(&end(&mut s, p, false, false)), codes::NONE);
    assert_eq!(code(&end(&mut s, p, true, false)), codes::INVALID_TXN_STATE);
    assert_eq!(log(&s, 0).high_watermark, 1, "one marker, not two");
    // TxnOffsetCommit outside a transaction
    let r = txn(
        &mut s,
        TxnCommand::OffsetCommit {
            transactional_id: TID.into(),
            producer_id: p.0,
            producer_epoch: p.1,
            group: "g".into(),
            generation: -1,
            member_id: String::new(),
            instance_id: None,
            offsets: vec![],
            implicit_add: false,
            now_ms: 40,
        },
    );
    assert_eq!(code(&r), codes::INVALID_TXN_STATE);
    // AddPartitions to a partition that does not exist
    assert_eq!(
        code(&add(&mut s, p, &[7])),
        codes::UNKNOWN_TOPIC_OR_PARTITION
    );
}

#[test]
fn transaction_version_2_bumps_the_epoch_at_every_end() {
    let mut s = state();
    let p = init(&mut s, TID, 1);
    produce(&mut s, 0, p, 0, 1, true);
    let next = (p.0, p.1 + 1);
    assert_eq!(
        end(&mut s, p, true, true),
        CommandResponse::Producer(ProducerInfo {
            producer_id: next.0,
            producer_epoch: next.1
        })
    );
    // the marker carries the new epoch: the old one is fenced from the partition
    assert_eq!(
        log(&s, 0).chunks[&1].marker.map(|m| m.producer_epoch),
        Some(next.1)
    );
    // a retry with the old epoch gets the same answer
    assert_eq!(
        end(&mut s, p, true, true),
        CommandResponse::Producer(ProducerInfo {
            producer_id: next.0,
            producer_epoch: next.1
        })
    );
    // and the other outcome is refused
    assert_eq!(code(&end(&mut s, p, false, true)), codes::INVALID_TXN_STATE);
    // the next transaction starts at sequence 0 of the new epoch
    assert_eq!(
        produce(&mut s, 0, next, 0, 1, true),
        BatchOutcome::Appended { base_offset: 2 }
    );
    assert_eq!(code(&end(&mut s, next, false, true)), codes::NONE);
    // an abort with nothing open is allowed in version 2, and bumps the epoch
    let after = (next.0, next.1 + 1);
    assert_eq!(
        end(&mut s, after, false, true),
        CommandResponse::Producer(ProducerInfo {
            producer_id: after.0,
            producer_epoch: after.1 + 1
        })
    );
    assert_eq!(
        code(&end(&mut s, (after.0, after.1 + 1), true, true)),
        codes::INVALID_TXN_STATE
    );
}

#[test]
fn offsets_are_committed_with_the_transaction_only() {
    let mut s = state();
    let p = init(&mut s, TID, 1);
    let stage = |s: &mut MetaState, p: (i64, i16), offset: i64| {
        txn(
            s,
            TxnCommand::AddOffsets {
                transactional_id: TID.into(),
                producer_id: p.0,
                producer_epoch: p.1,
                group: "g".into(),
                now_ms: 11,
            },
        );
        txn(
            s,
            TxnCommand::OffsetCommit {
                transactional_id: TID.into(),
                producer_id: p.0,
                producer_epoch: p.1,
                group: "g".into(),
                generation: -1,
                member_id: String::new(),
                instance_id: None,
                offsets: vec![OffsetCommitEntry {
                    topic: T.into(),
                    partition: 0,
                    offset,
                    leader_epoch: -1,
                    metadata: None,
                }],
                implicit_add: false,
                now_ms: 12,
            },
        )
    };
    assert_eq!(stage(&mut s, p, 5), CommandResponse::Ok);
    assert!(
        !s.groups.groups.contains_key("g"),
        "not visible before the commit"
    );
    end(&mut s, p, false, false);
    assert!(!s.groups.groups.contains_key("g"), "discarded by the abort");
    assert_eq!(stage(&mut s, p, 7), CommandResponse::Ok);
    end(&mut s, p, true, false);
    assert_eq!(s.groups.offsets_of("g").unwrap()[T][&0].offset, 7);
    // no partition got a marker: the transaction had only offsets
    assert_eq!(log(&s, 0).high_watermark, 0);
}

#[test]
fn timed_out_transactions_are_aborted_and_idle_ids_forgotten() {
    let mut s = state();
    let p = init(&mut s, TID, 1);
    add(&mut s, p, &[0]);
    produce(&mut s, 0, p, 0, 1, false);
    let expire = |s: &mut MetaState, now_ms| {
        txn(
            s,
            TxnCommand::Expire {
                now_ms,
                id_expiration_ms: 100_000,
            },
        )
    };
    // started at 10 with a 1 s timeout
    assert!(!expiry_due(&s.transactions, 1_009, 100_000));
    expire(&mut s, 1_009);
    assert_eq!(meta(&s).state, TxnState::Ongoing);
    assert!(expiry_due(&s.transactions, 1_010, 100_000));
    expire(&mut s, 1_010);
    assert_eq!(meta(&s).state, TxnState::CompleteAbort);
    assert_eq!(meta(&s).producer_epoch, p.1 + 1, "the producer is fenced");
    assert_eq!(log(&s, 0).last_stable_offset(), 2);
    assert_eq!(code(&end(&mut s, p, true, false)), codes::PRODUCER_FENCED);
    // idle for the expiration: forgotten, with its producer id mapping
    expire(&mut s, 1_010 + 100_000);
    assert!(s.transactions.by_id.is_empty());
    assert!(s.transactions.by_producer.is_empty());
}

#[test]
fn an_exhausted_epoch_moves_to_a_new_producer_id() {
    let mut s = state();
    let p = init(&mut s, TID, 1);
    s.transactions.by_id.get_mut(TID).unwrap().producer_epoch = i16::MAX - 1;
    let (pid, epoch) = init(&mut s, TID, 2);
    assert_ne!(pid, p.0);
    assert_eq!(epoch, 0);
    assert_eq!(s.transactions.of_producer(pid).map(|(id, _)| id), Some(TID));
}

#[test]
fn write_markers_closes_a_hanging_transaction() {
    let mut s = state();
    let p = init(&mut s, TID, 1);
    add(&mut s, p, &[0]);
    produce(&mut s, 0, p, 0, 2, false);
    let r = txn(
        &mut s,
        TxnCommand::WriteMarkers {
            producer_id: p.0,
            producer_epoch: p.1,
            commit: false,
            partitions: vec![(T.into(), 0), (T.into(), 1), ("nope".into(), 0)],
            now_ms: 50,
        },
    );
    assert_eq!(
        r,
        CommandResponse::Codes(vec![
            codes::NONE,
            codes::NONE,
            codes::UNKNOWN_TOPIC_OR_PARTITION
        ])
    );
    assert_eq!(log(&s, 0).last_stable_offset(), 3);
    assert_eq!(
        log(&s, 1).high_watermark,
        0,
        "no marker where nothing was open"
    );
}

#[test]
fn aborted_runs_hold_the_aborted_transactions_records_only() {
    // given two transactions and a plain producer interleaved on partition 0
    let mut s = state();
    let a = init(&mut s, TID, 1);
    let b = init(&mut s, "tx-2", 1);
    add(&mut s, a, &[0]);
    add_as(&mut s, "tx-2", b, &[0]);
    produce(&mut s, 0, a, 0, 3, false); // 0..=2
    produce(&mut s, 0, (-1, -1), -1, 2, false); // 3..=4
    produce(&mut s, 0, b, 0, 1, false); // 5
    produce(&mut s, 0, a, 3, 2, false); // 6..=7
    assert_eq!(log(&s, 0).open_txn_runs[&a.0], vec![(0, 2), (6, 7)]);
    // when b commits (marker at 8) and a aborts (marker at 9)
    assert_eq!(code(&end_as(&mut s, "tx-2", b, true, false)), codes::NONE);
    assert_eq!(code(&end(&mut s, a, false, false)), codes::NONE);
    // then only a's records are aborted runs, and nothing is open
    assert_eq!(log(&s, 0).aborted_runs, vec![(0, 2), (6, 7)]);
    assert!(log(&s, 0).open_txn_runs.is_empty());
    crate::invariants::check(&s).unwrap();
}

#[test]
fn a_read_committed_share_group_stops_at_the_lso_and_archives_aborted_records() {
    use crate::share::{Acquired, ShareLimits};
    use crate::share_group::{AcquireRequest, ShareCommand, ShareResponse};
    let share = |s: &mut MetaState, c: ShareCommand| match s.apply(&Command::Share(c)) {
        CommandResponse::Share(r) => r,
        other => panic!("unexpected {other:?}"),
    };
    let acquire = |s: &mut MetaState| {
        share(
            s,
            ShareCommand::Acquire {
                group: "g".into(),
                member_id: "m".into(),
                now_ms: 20,
                limits: ShareLimits::default(),
                max_records: 100,
                partitions: vec![AcquireRequest {
                    topic: T.into(),
                    partition: 0,
                }],
            },
        )
    };
    // given a share group reading committed data from the start of partition 0
    let mut s = state();
    share(
        &mut s,
        ShareCommand::Join {
            group: "g".into(),
            member_id: "m".into(),
            rack: None,
            client_id: "c".into(),
            client_host: "h".into(),
            subscribed: vec![T.into()],
        },
    );
    share(
        &mut s,
        ShareCommand::SetConfigs {
            group: "g".into(),
            ops: vec![
                ("share.auto.offset.reset".into(), Some("earliest".into())),
                (
                    "share.isolation.level".into(),
                    Some("read_committed".into()),
                ),
            ],
        },
    );
    // when a transaction is open from offset 0: nothing can be acquired (LSO 0)
    let a = init(&mut s, TID, 1);
    add(&mut s, a, &[0]);
    produce(&mut s, 0, a, 0, 3, false); // 0..=2
    produce(&mut s, 0, (-1, -1), -1, 2, false); // 3..=4
    assert_eq!(acquire(&mut s), ShareResponse::Acquired(vec![vec![]]));
    // when it aborts (marker at 5) and a plain record follows (6)
    assert_eq!(code(&end(&mut s, a, false, false)), codes::NONE);
    produce(&mut s, 0, (-1, -1), -1, 1, false);
    // then the aborted records are archived, never handed out; the rest is (the marker too,
    // as a gap the client acknowledges, as with read_uncommitted)
    let got = |first, last| Acquired {
        first,
        last,
        delivery_count: 1,
    };
    assert_eq!(
        acquire(&mut s),
        ShareResponse::Acquired(vec![vec![got(3, 6)]])
    );
    crate::invariants::check(&s).unwrap();
}
