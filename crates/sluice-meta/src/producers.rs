//! Idempotent producers as quorum state: each producer id's epoch and, per partition, its
//! last few batches (Kafka's `ProducerStateEntry`), for dedupe and sequence checks (KIP-98,
//! KIP-360).
//!
//! Plain data, stored in [`crate::state::MetaState::producers`] (and re-exported from
//! [`crate::state`]); the segment commit in [`crate::apply`] checks batches against it.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::codes;

/// How many recent batches per producer and partition are remembered for dedupe (Kafka: 5,
/// matching `max.in.flight.requests.per.connection`).
pub const PRODUCER_BATCH_CACHE: usize = 5;

/// Kafka's default `producer.id.expiration.ms`.
pub const PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;

/// A producer id and epoch, as InitProducerId answers them ([`crate::command::CommandResponse::Producer`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProducerInfo {
    /// The producer id (Kafka's `ProducerId`).
    pub producer_id: i64,
    /// The producer epoch (Kafka's `ProducerEpoch`).
    pub producer_epoch: i16,
}

/// An idempotent producer id known to the quorum.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "ProducerStateRepr")]
pub struct ProducerState {
    /// The newest epoch handed out by InitProducerId or seen in a batch; what an epoch bump
    /// (KIP-360) must name. Batches are checked against each partition's own epoch.
    pub epoch: i16,
    /// Proposer's clock at the producer's last InitProducerId or batch (ms since the Unix epoch);
    /// its state expires [`PRODUCER_ID_EXPIRATION_MS`] later.
    pub last_update_ms: i64,
    /// Per topic and partition: the producer's state there (Kafka keeps producer state per
    /// partition: a partition without it accepts the producer's first batch at any sequence).
    pub partitions: BTreeMap<String, BTreeMap<i32, PartitionProducerState>>,
}

/// One producer's state on one partition, Kafka's `ProducerStateEntry`: the epoch of its
/// batches there and the last few of them, for dedupe and sequence continuity.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PartitionProducerState {
    /// The producer epoch of the batches in `batches`; an older one is INVALID_PRODUCER_EPOCH.
    pub epoch: i16,
    /// The newest [`PRODUCER_BATCH_CACHE`] batches, newest last; never empty.
    pub batches: VecDeque<SeqEntry>,
}

/// What a producer's batch is, given the producer's state on the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New and in order: append it.
    Append,
    /// A retry of a batch in the log, at this base offset.
    Duplicate(i64),
    /// Refused with this Kafka error code.
    Reject(i16),
}

impl PartitionProducerState {
    /// Kafka's `ProducerStateEntry.findDuplicateBatch`, then `ProducerAppendInfo`'s
    /// `checkProducerEpoch` and `checkSequence`, for a batch of `epoch` covering sequences
    /// `first_seq..=last_seq`:
    /// - a retry of one of the cached batches (same epoch and sequences) is a duplicate;
    /// - an older epoch is INVALID_PRODUCER_EPOCH;
    /// - a newer epoch must start at sequence 0 (the producer bumped its epoch and reset its
    ///   sequences), else OUT_OF_ORDER_SEQUENCE_NUMBER;
    /// - the same epoch must continue right after the newest batch (wrapping at `i32::MAX`),
    ///   else OUT_OF_ORDER_SEQUENCE_NUMBER.
    ///
    /// A partition with no state for the producer accepts any first sequence (the state may
    /// have expired, or the producer never wrote there); that case never reaches this.
    pub fn check(&self, epoch: i16, first_seq: i32, last_seq: i32) -> SequenceCheck {
        if epoch == self.epoch {
            if let Some(dup) = self
                .batches
                .iter()
                .find(|e| e.first_seq == first_seq && e.last_seq == last_seq)
            {
                return SequenceCheck::Duplicate(dup.base_offset);
            }
        }
        if epoch < self.epoch {
            return SequenceCheck::Reject(codes::INVALID_PRODUCER_EPOCH);
        }
        let in_order = if epoch > self.epoch {
            first_seq == 0
        } else {
            self.batches
                .back()
                .is_some_and(|prev| first_seq == next_seq(prev.last_seq, 1))
        };
        if in_order {
            SequenceCheck::Append
        } else {
            SequenceCheck::Reject(codes::OUT_OF_ORDER_SEQUENCE_NUMBER)
        }
    }

    /// Records an appended batch; a new epoch starts a fresh cache.
    pub(crate) fn push(&mut self, epoch: i16, entry: SeqEntry) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
        self.batches.push_back(entry);
        if self.batches.len() > PRODUCER_BATCH_CACHE {
            self.batches.pop_front();
        }
    }
}

/// [`ProducerState`] as stored, including snapshots from before per-partition epochs (a bare
/// list of batches per partition, whose epoch was the producer's).
#[derive(Deserialize)]
struct ProducerStateRepr {
    epoch: i16,
    last_update_ms: i64,
    partitions: BTreeMap<String, BTreeMap<i32, PartitionProducerRepr>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PartitionProducerRepr {
    Current(PartitionProducerState),
    Legacy(VecDeque<SeqEntry>),
}

impl From<ProducerStateRepr> for ProducerState {
    fn from(r: ProducerStateRepr) -> Self {
        let partitions = r
            .partitions
            .into_iter()
            .map(|(topic, parts)| {
                let parts = parts
                    .into_iter()
                    .map(|(p, e)| match e {
                        PartitionProducerRepr::Current(s) => (p, s),
                        PartitionProducerRepr::Legacy(batches) => (
                            p,
                            PartitionProducerState {
                                epoch: r.epoch,
                                batches,
                            },
                        ),
                    })
                    .filter(|(_, s)| !s.batches.is_empty())
                    .collect();
                (topic, parts)
            })
            .collect();
        ProducerState {
            epoch: r.epoch,
            last_update_ms: r.last_update_ms,
            partitions,
        }
    }
}

/// One appended batch of a producer on a partition (Kafka's `BatchMetadata`), for duplicate
/// detection.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct SeqEntry {
    /// The batch's base sequence.
    pub first_seq: i32,
    /// The batch's last sequence (base + records - 1, wrapping at `i32::MAX`).
    pub last_seq: i32,
    /// The offset the batch was appended at; a duplicate is answered with it.
    pub base_offset: i64,
    /// The batch's `maxTimestamp` (ms since the Unix epoch).
    pub timestamp: i64,
}

/// The sequence `records` after `seq`.
pub(crate) fn next_seq(seq: i32, records: i64) -> i32 {
    // Sequences wrap at i32::MAX back to 0, as in Kafka.
    ((seq as i64 + records) % (i32::MAX as i64 + 1)) as i32
}
