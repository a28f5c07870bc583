//! Keeps an idempotent producer's batches in order across a failed segment.
//!
//! The quorum checks sequence continuity only where it holds state for the producer on the
//! partition; like Kafka, it takes a producer's first batch there at any sequence. A Kafka
//! partition leader appends in order, so a producer's batch never lands while an earlier one of
//! the same partition failed. Sluice's writer can: batch A (the producer's first on partition P)
//! fails with its segment while batch B, next in sequence, waits in a later segment; committed,
//! B would be taken as P's first batch, ahead of A. So when a segment fails (or is failed
//! because an earlier one did), each idempotent producer's earliest failed batch per partition
//! is fenced: later batches of that producer, epoch and partition are answered without being
//! proposed until the failed batch's retry, or a new epoch, comes through.
//!
//! The answer depends on what is known of the failed batch. If it certainly did not land (its
//! upload failed), OUT_OF_ORDER_SEQUENCE_NUMBER, as the quorum would answer if it held state.
//! If its commit's fate is unknown, REQUEST_TIMED_OUT, as the failed batch got: clients read
//! OUT_OF_ORDER_SEQUENCE_NUMBER for a later batch as proof that the earlier one is not in the log
//! (librdkafka then bumps the epoch and sends the earlier records again under new sequence
//! numbers, which would duplicate them if they did land), while a possibly-persisted error makes
//! them retry both in order, and the quorum's dedupe settles it.

use std::collections::HashMap;

use sluice_meta::codes;
use sluice_meta::command::{BatchOutcome, PartitionAppend};
use uuid::Uuid;

/// (producer id, topic id, partition).
type FenceKey = (i64, Uuid, i32);

/// The earliest failed batch of a producer on a partition: its epoch and base sequence, and the
/// Kafka error code later batches get while it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fence {
    epoch: i16,
    first_seq: i32,
    answer: i16,
}

/// Fences per producer and partition; owned by the writer's committer (one per agent).
#[derive(Debug, Default)]
pub struct SequenceFences {
    fences: HashMap<FenceKey, Fence>,
}

impl SequenceFences {
    /// Records the idempotent batches of a segment that was not (`fate_unknown` false) or maybe
    /// not (`fate_unknown` true) committed. An existing fence is kept: it names an earlier batch.
    pub fn failed(&mut self, partitions: &[PartitionAppend], fate_unknown: bool) {
        let answer = if fate_unknown {
            codes::REQUEST_TIMED_OUT
        } else {
            codes::OUT_OF_ORDER_SEQUENCE_NUMBER
        };
        for pa in partitions {
            for b in pa.batches.iter().filter(|b| b.producer_id >= 0) {
                self.fences
                    .entry((b.producer_id, pa.topic_id, pa.partition))
                    .or_insert(Fence {
                        epoch: b.producer_epoch,
                        first_seq: b.base_sequence,
                        answer,
                    });
            }
        }
    }

    /// Screens a segment about to be proposed: removes the batches that follow a fenced failed
    /// batch and returns their positions in the segment's batch order (partition by partition,
    /// batches in order) with their answers. The failed batch's retry, or any batch of another
    /// epoch, lifts its fence and goes through with what follows it.
    pub fn screen(&mut self, partitions: &mut [PartitionAppend]) -> Vec<(usize, BatchOutcome)> {
        if self.fences.is_empty() {
            return Vec::new();
        }
        let mut removed = Vec::new();
        let mut at = 0;
        for pa in partitions.iter_mut() {
            let (topic_id, partition) = (pa.topic_id, pa.partition);
            pa.batches.retain(|b| {
                let pos = at;
                at += 1;
                let key = (b.producer_id, topic_id, partition);
                let Some(f) = self.fences.get(&key) else {
                    return true;
                };
                if b.producer_epoch != f.epoch || b.base_sequence == f.first_seq {
                    self.fences.remove(&key);
                    return true;
                }
                removed.push((
                    pos,
                    BatchOutcome::Rejected {
                        error_code: f.answer,
                    },
                ));
                false
            });
        }
        removed
    }

    /// Number of fences held (metrics, tests).
    pub fn len(&self) -> usize {
        self.fences.len()
    }

    /// Whether no fence is held.
    pub fn is_empty(&self) -> bool {
        self.fences.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_meta::command::BatchMeta;

    const T: Uuid = Uuid::from_u128(3);

    fn part(partition: i32, batches: &[(i64, i16, i32)]) -> PartitionAppend {
        PartitionAppend {
            topic: "t".into(),
            topic_id: T,
            partition,
            batches: batches
                .iter()
                .map(|&(producer_id, producer_epoch, base_sequence)| BatchMeta {
                    pos: 0,
                    len: 1,
                    records: 1,
                    max_timestamp: 0,
                    producer_id,
                    producer_epoch,
                    base_sequence,
                    transactional: false,
                    implicit_add_to_txn: false,
                })
                .collect(),
        }
    }

    #[test]
    fn later_batches_wait_for_the_failed_ones_retry() {
        let mut f = SequenceFences::default();
        // given producer 1's batches 0 and 1 on partition 0 failed, and a plain producer's
        f.failed(
            &[part(0, &[(1, 0, 0), (-1, -1, -1)]), part(0, &[(1, 0, 1)])],
            false,
        );
        assert_eq!(f.len(), 1);
        // when its batch 2 comes (with other producers' and partitions' batches): held back
        let mut seg = vec![part(0, &[(2, 0, 5), (1, 0, 2)]), part(1, &[(1, 0, 9)])];
        assert_eq!(
            f.screen(&mut seg),
            vec![(
                1,
                BatchOutcome::Rejected {
                    error_code: codes::OUT_OF_ORDER_SEQUENCE_NUMBER
                }
            )]
        );
        assert_eq!(seg[0].batches.len(), 1);
        assert_eq!(seg[1].batches.len(), 1);
        // when the retry of batch 0 comes, followed by 1 and 2: all go, and the fence is gone
        let mut seg = vec![part(0, &[(1, 0, 0), (1, 0, 1), (1, 0, 2)])];
        assert!(f.screen(&mut seg).is_empty());
        assert!(f.is_empty());
    }

    #[test]
    fn a_new_epoch_lifts_the_fence() {
        let mut f = SequenceFences::default();
        f.failed(&[part(0, &[(1, 0, 7)])], false);
        let mut seg = vec![part(0, &[(1, 1, 0)])];
        assert!(f.screen(&mut seg).is_empty());
        assert!(f.is_empty());
    }

    #[test]
    fn after_a_commit_of_unknown_fate_later_batches_are_possibly_persisted_too() {
        // given producer 1's batch 4 was in a segment whose commit's fate is unknown
        let mut f = SequenceFences::default();
        f.failed(&[part(0, &[(1, 0, 4)])], true);
        // then its batch 5 is answered REQUEST_TIMED_OUT, never OUT_OF_ORDER_SEQUENCE_NUMBER,
        // which would tell the client batch 4 is not in the log
        let mut seg = vec![part(0, &[(1, 0, 5)])];
        assert_eq!(
            f.screen(&mut seg),
            vec![(
                0,
                BatchOutcome::Rejected {
                    error_code: codes::REQUEST_TIMED_OUT
                }
            )]
        );
    }
}
