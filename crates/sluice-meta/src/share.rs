//! KIP-932 share-partition state: which records of one partition a share group has handed out,
//! to whom, how often, and what became of them.
//!
//! Range-encoded like Kafka's share-group state records: a start offset (SPSO) and a list of
//! `{first, last, state, delivery_count}` ranges covering `[SPSO, SPEO)`. Records below SPSO are
//! done (acknowledged or archived); records at or above SPEO have never been acquired. Ranges
//! split when an operation covers part of one and merge back when neighbours become alike, so
//! the state stays small however records are acknowledged.
//!
//! Pure and deterministic: time arrives as `now_ms`, so acquisition and lock expiry replay the
//! same on every replica. One ShareFetch acquisition or one acknowledgement batch is one call.

use serde::{Deserialize, Serialize};

/// Kafka's `RecordState` of an in-flight record (KIP-932 `SharePartition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordState {
    /// Released, or its lock ran out: acquired again before records never delivered.
    Available,
    /// Delivered to one member (`owner`) until its acquisition lock runs out.
    Acquired,
    /// Accepted (or a gap): done.
    Acknowledged,
    /// Rejected, past the delivery limit, or of an aborted transaction: never delivered again.
    Archived,
}

/// Kafka's acknowledge types (ShareAcknowledge / ShareFetch AcknowledgeTypes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AckType {
    /// 0: a gap in the log (offsets with no record); treated as done.
    Gap,
    /// 1
    Accept,
    /// 2: back to Available for redelivery (or Archived at the delivery limit).
    Release,
    /// 3: never deliver again.
    Reject,
}

impl AckType {
    /// The type with Kafka's wire code `code` (0 gap, 1 accept, 2 release, 3 reject); `None` for
    /// any other.
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            0 => Some(AckType::Gap),
            1 => Some(AckType::Accept),
            2 => Some(AckType::Release),
            3 => Some(AckType::Reject),
            _ => None,
        }
    }
}

/// One range of in-flight records, all in the same state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    /// First offset of the range (inclusive).
    pub first: i64,
    /// Last offset of the range (inclusive).
    pub last: i64,
    /// State of every record of the range.
    pub state: RecordState,
    /// How many times the records were acquired (Kafka's delivery count); archived at
    /// `group.share.delivery.count.limit`.
    pub delivery_count: i16,
    /// The member holding an Acquired range.
    pub owner: Option<String>,
    /// When the acquisition lock of an Acquired range runs out.
    pub lock_until_ms: i64,
}

/// Limits from the group's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareLimits {
    /// `group.share.record.lock.duration.ms`
    pub lock_ms: i64,
    /// `group.share.delivery.count.limit`
    pub delivery_limit: i16,
    /// `group.share.partition.max.record.locks`: at most this many records in `[SPSO, SPEO)`.
    pub max_in_flight: i64,
}

impl Default for ShareLimits {
    fn default() -> Self {
        ShareLimits {
            lock_ms: 30_000,
            delivery_limit: 5,
            max_in_flight: 2_000,
        }
    }
}

/// A range handed to a consumer by one acquisition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acquired {
    /// First offset handed out (inclusive).
    pub first: i64,
    /// Last offset handed out (inclusive).
    pub last: i64,
    /// The records' delivery count, this delivery included (1 for a first delivery).
    pub delivery_count: i16,
}

/// Why an acknowledgement was refused. The messages are Kafka's (`SharePartition.acknowledge`),
/// which clients show; [`ShareError::code`] is the error code the partition is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    /// INVALID_RECORD_STATE: nothing of the partition is in flight (never acquired, or all of it
    /// already finished), so the range names no cached record.
    #[error("Batch record not found. The request batch offsets are not found in the cache.")]
    NotInCache {
        /// First offset of the acknowledged range (inclusive).
        first: i64,
        /// Last offset of the acknowledged range (inclusive).
        last: i64,
    },
    /// INVALID_REQUEST: the range starts at or past SPEO (records never acquired).
    #[error("Batch record not found. The first offset in request is past acquired records.")]
    FirstPastAcquired {
        /// First offset of the acknowledged range (inclusive).
        first: i64,
        /// Last offset of the acknowledged range (inclusive).
        last: i64,
    },
    /// INVALID_REQUEST: the range ends at or past SPEO.
    #[error("Batch record not found. The last offset in request is past acquired records.")]
    LastPastAcquired {
        /// First offset of the acknowledged range (inclusive).
        first: i64,
        /// Last offset of the acknowledged range (inclusive).
        last: i64,
    },
    /// INVALID_RECORD_STATE: some record of the range is not Acquired (released, acknowledged,
    /// archived, or its acquisition lock ran out). `subset`: the range covers only part of the
    /// run of records it hit, which Kafka checks (and words) per offset rather than per batch.
    #[error(
        "The batch cannot be acknowledged. {}",
        if *subset { "The offset is not acquired." } else { "The batch is not in the acquired state." }
    )]
    NotAcquired {
        /// First offset of the acknowledged range (inclusive).
        first: i64,
        /// Last offset of the acknowledged range (inclusive).
        last: i64,
        /// The range covers only part of the run of records it hit (Kafka's per-offset message).
        subset: bool,
    },
    /// INVALID_RECORD_STATE: some record of the range is acquired by another member.
    #[error("Member is not the owner of {}", if *subset { "offset" } else { "batch record" })]
    NotOwner {
        /// First offset of the acknowledged range (inclusive).
        first: i64,
        /// Last offset of the acknowledged range (inclusive).
        last: i64,
        /// The range covers only part of the run of records it hit (Kafka's per-offset message).
        subset: bool,
    },
    /// INVALID_REQUEST: `first > last`.
    #[error("invalid acknowledgement range {first}..={last}")]
    InvalidRange {
        /// First offset of the acknowledged range (inclusive).
        first: i64,
        /// Last offset of the acknowledged range (inclusive).
        last: i64,
    },
}

impl ShareError {
    /// The Kafka error code: INVALID_REQUEST (42) or INVALID_RECORD_STATE (121).
    pub fn code(&self) -> i16 {
        match self {
            ShareError::FirstPastAcquired { .. }
            | ShareError::LastPastAcquired { .. }
            | ShareError::InvalidRange { .. } => crate::codes::INVALID_REQUEST,
            ShareError::NotInCache { .. }
            | ShareError::NotAcquired { .. }
            | ShareError::NotOwner { .. } => crate::codes::INVALID_RECORD_STATE,
        }
    }
}

/// One acknowledgement range of a partition, all of one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckRange {
    /// First offset acknowledged (inclusive).
    pub first: i64,
    /// Last offset acknowledged (inclusive).
    pub last: i64,
    /// What becomes of the records.
    pub ack: AckType,
}

/// One share group's state on one partition (Kafka's `SharePartition` / share-group state records):
/// SPSO plus the in-flight ranges up to SPEO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharePartition {
    /// SPSO: everything below is done.
    pub start_offset: i64,
    /// Ranges covering `[start_offset, end_offset)`, contiguous and sorted.
    pub in_flight: Vec<InFlight>,
    /// Kafka's share-group state epoch: 0 at creation, +1 at each reset by AlterShareGroupOffsets.
    pub state_epoch: i32,
}

impl SharePartition {
    /// A share-partition with SPSO at `start_offset` and nothing in flight, state epoch 0.
    pub fn new(start_offset: i64) -> Self {
        SharePartition {
            start_offset,
            in_flight: Vec::new(),
            state_epoch: 0,
        }
    }

    /// SPEO: the first offset never acquired.
    pub fn end_offset(&self) -> i64 {
        self.in_flight
            .last()
            .map_or(self.start_offset, |r| r.last + 1)
    }

    /// Returns expired acquisitions to Available (or Archived at the delivery limit).
    pub fn expire_locks(&mut self, now_ms: i64, limits: &ShareLimits) {
        for r in &mut self.in_flight {
            if r.state == RecordState::Acquired && r.lock_until_ms <= now_ms {
                r.state = if r.delivery_count >= limits.delivery_limit {
                    RecordState::Archived
                } else {
                    RecordState::Available
                };
                r.owner = None;
            }
        }
        self.normalize();
    }

    /// Acquires up to `max_records` for `member`: first records released for redelivery, then
    /// records never delivered, up to `high_watermark` and the in-flight limit.
    pub fn acquire(
        &mut self,
        member: &str,
        max_records: i64,
        high_watermark: i64,
        log_start_offset: i64,
        now_ms: i64,
        limits: &ShareLimits,
    ) -> Vec<Acquired> {
        self.expire_locks(now_ms, limits);
        if self.start_offset < log_start_offset {
            // Retention removed records below SPSO: they can never be delivered.
            self.advance_to(log_start_offset);
        }
        let mut budget = max_records.max(0);
        let mut out = Vec::new();
        let lock_until_ms = now_ms + limits.lock_ms;
        // Redeliveries.
        let mut i = 0;
        while i < self.in_flight.len() && budget > 0 {
            if self.in_flight[i].state == RecordState::Available {
                let r = &self.in_flight[i];
                let take_last = (r.first + budget - 1).min(r.last);
                self.split_at(i, take_last + 1);
                let r = &mut self.in_flight[i];
                r.state = RecordState::Acquired;
                r.delivery_count += 1;
                r.owner = Some(member.to_string());
                r.lock_until_ms = lock_until_ms;
                budget -= r.last - r.first + 1;
                out.push(Acquired {
                    first: r.first,
                    last: r.last,
                    delivery_count: r.delivery_count,
                });
            }
            i += 1;
        }
        // Fresh records.
        let end = self.end_offset();
        let room = limits.max_in_flight - (end - self.start_offset);
        let take = budget.min(room).min(high_watermark - end);
        if take > 0 {
            let r = InFlight {
                first: end,
                last: end + take - 1,
                state: RecordState::Acquired,
                delivery_count: 1,
                owner: Some(member.to_string()),
                lock_until_ms,
            };
            out.push(Acquired {
                first: r.first,
                last: r.last,
                delivery_count: 1,
            });
            self.in_flight.push(r);
        }
        self.normalize();
        out.sort_by_key(|a| a.first);
        out
    }

    /// `share.isolation.level=read_committed`: records of aborted transactions among those just
    /// `acquired` (offset runs `aborted`, sorted and disjoint) are archived, never delivered, as
    /// Kafka's `SharePartition` does with the aborted transactions of the batches it fetched;
    /// returns what stays acquired. (The caller bounds acquisition by the last stable offset, so
    /// no record of an open transaction is acquired.)
    pub fn archive_aborted(
        &mut self,
        aborted: &[(i64, i64)],
        acquired: Vec<Acquired>,
    ) -> Vec<Acquired> {
        if aborted.is_empty() {
            return acquired;
        }
        let mut out = Vec::with_capacity(acquired.len());
        for a in acquired {
            let mut from = a.first;
            let start = aborted.partition_point(|r| r.1 < a.first);
            for &(first, last) in aborted[start..].iter().take_while(|r| r.0 <= a.last) {
                let (first, last) = (first.max(a.first), last.min(a.last));
                if from < first {
                    out.push(Acquired {
                        first: from,
                        last: first - 1,
                        ..a
                    });
                }
                self.archive(first, last);
                from = last + 1;
            }
            if from <= a.last {
                out.push(Acquired { first: from, ..a });
            }
        }
        self.normalize();
        out
    }

    /// Archives `[first, last]` (in flight), whatever its state.
    fn archive(&mut self, first: i64, last: i64) {
        for r in self.isolate(first, last) {
            r.state = RecordState::Archived;
            r.owner = None;
        }
    }

    /// Splits ranges so that `[first, last]` (in flight) is covered by whole ranges, and returns
    /// those ranges.
    fn isolate(&mut self, first: i64, last: i64) -> impl Iterator<Item = &mut InFlight> {
        let i = self.index_of(first);
        self.split_at(i, first);
        let j = self.index_of(last);
        self.split_at(j, last + 1);
        self.in_flight
            .iter_mut()
            .filter(move |r| r.first >= first && r.last <= last)
    }

    /// Applies one acknowledgement of `[first, last]` by `member`, with Kafka's rules
    /// (`SharePartition.acknowledge`): a range wholly below SPSO is already done and succeeds
    /// without effect; a range reaching SPEO or beyond names records never acquired
    /// (INVALID_REQUEST); otherwise every record of it from SPSO on must be Acquired by
    /// `member` (INVALID_RECORD_STATE). On error nothing changes. Locks are not expired here:
    /// [`SharePartition::acknowledge_all`] does that first, with the proposer's clock.
    pub fn acknowledge(
        &mut self,
        member: &str,
        first: i64,
        last: i64,
        ack: AckType,
        limits: &ShareLimits,
    ) -> Result<(), ShareError> {
        if first > last {
            return Err(ShareError::InvalidRange { first, last });
        }
        if last < self.start_offset {
            return Ok(());
        }
        if self.in_flight.is_empty() {
            return Err(ShareError::NotInCache { first, last });
        }
        let end = self.end_offset();
        if first >= end {
            return Err(ShareError::FirstPastAcquired { first, last });
        }
        if last >= end {
            return Err(ShareError::LastPastAcquired { first, last });
        }
        let (req_first, req_last) = (first, last);
        let first = first.max(self.start_offset);
        for r in self
            .in_flight
            .iter()
            .filter(|r| r.last >= first && r.first <= last)
        {
            let subset = r.first < first || r.last > last;
            match r.owner.as_deref() {
                Some(o) if r.state == RecordState::Acquired && o == member => {}
                Some(_) if r.state == RecordState::Acquired => {
                    return Err(ShareError::NotOwner {
                        first: req_first,
                        last: req_last,
                        subset,
                    })
                }
                _ => {
                    return Err(ShareError::NotAcquired {
                        first: req_first,
                        last: req_last,
                        subset,
                    })
                }
            }
        }
        for r in self.isolate(first, last) {
            r.owner = None;
            r.state = match ack {
                AckType::Accept => RecordState::Acknowledged,
                AckType::Reject | AckType::Gap => RecordState::Archived,
                AckType::Release if r.delivery_count >= limits.delivery_limit => {
                    RecordState::Archived
                }
                AckType::Release => RecordState::Available,
            };
        }
        self.normalize();
        Ok(())
    }

    /// One request's acknowledgements of this partition, all or nothing as in Kafka (the first
    /// refused range refuses the partition's whole batch list and nothing of it is applied).
    /// Locks that ran out by `now_ms` (the proposer's clock) are expired first, so a late
    /// acknowledgement of records whose lock expired is refused (INVALID_RECORD_STATE) and the
    /// records stay available for redelivery.
    pub fn acknowledge_all(
        &mut self,
        member: &str,
        ranges: &[AckRange],
        now_ms: i64,
        limits: &ShareLimits,
    ) -> Result<(), ShareError> {
        self.expire_locks(now_ms, limits);
        let mut next = self.clone();
        for r in ranges {
            next.acknowledge(member, r.first, r.last, r.ack, limits)?;
        }
        *self = next;
        Ok(())
    }

    /// A member left or timed out: everything it held goes back (or to Archived at the limit).
    pub fn release_member(&mut self, member: &str, limits: &ShareLimits) {
        for r in &mut self.in_flight {
            if r.state == RecordState::Acquired && r.owner.as_deref() == Some(member) {
                r.owner = None;
                r.state = if r.delivery_count >= limits.delivery_limit {
                    RecordState::Archived
                } else {
                    RecordState::Available
                };
            }
        }
        self.normalize();
    }

    /// Moves SPSO to `offset` (AlterShareGroupOffsets, retention), dropping state below it.
    pub fn advance_to(&mut self, offset: i64) {
        if offset <= self.start_offset {
            return;
        }
        self.in_flight.retain(|r| r.last >= offset);
        if let Some(r) = self.in_flight.first_mut() {
            r.first = r.first.max(offset);
        }
        self.start_offset = offset;
        self.normalize();
    }

    /// Resets to `offset`, forgetting every in-flight record (AlterShareGroupOffsets).
    pub fn reset_to(&mut self, offset: i64) {
        self.in_flight.clear();
        self.start_offset = offset;
        self.state_epoch += 1;
    }

    fn index_of(&self, offset: i64) -> usize {
        self.in_flight.partition_point(|r| r.last < offset)
    }

    /// Splits range `i` so that a range starts at `at` (if `at` falls strictly inside it).
    fn split_at(&mut self, i: usize, at: i64) {
        let Some(r) = self.in_flight.get(i) else {
            return;
        };
        if at <= r.first || at > r.last {
            return;
        }
        let mut tail = r.clone();
        tail.first = at;
        self.in_flight[i].last = at - 1;
        self.in_flight.insert(i + 1, tail);
    }

    /// Merges alike neighbours and advances SPSO over the done prefix.
    fn normalize(&mut self) {
        let done = |s: RecordState| matches!(s, RecordState::Acknowledged | RecordState::Archived);
        let prefix = self.in_flight.iter().take_while(|r| done(r.state)).count();
        if prefix > 0 {
            self.start_offset = self.in_flight[prefix - 1].last + 1;
            self.in_flight.drain(..prefix);
        }
        let mut merged: Vec<InFlight> = Vec::with_capacity(self.in_flight.len());
        for r in self.in_flight.drain(..) {
            match merged.last_mut() {
                Some(m)
                    if m.state == r.state
                        && m.delivery_count == r.delivery_count
                        && m.owner == r.owner
                        && m.lock_until_ms == r.lock_until_ms
                        && m.last + 1 == r.first =>
                {
                    m.last = r.last
                }
                _ => merged.push(r),
            }
        }
        self.in_flight = merged;
    }

    /// Records in `[SPSO, SPEO)` still to be finished.
    pub fn in_flight_records(&self) -> i64 {
        self.end_offset() - self.start_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: ShareLimits = ShareLimits {
        lock_ms: 1_000,
        delivery_limit: 3,
        max_in_flight: 10,
    };

    fn states(p: &SharePartition) -> Vec<(i64, i64, RecordState, i16)> {
        p.in_flight
            .iter()
            .map(|r| (r.first, r.last, r.state, r.delivery_count))
            .collect()
    }

    #[test]
    fn acquire_is_bounded_by_records_watermark_and_in_flight_limit() {
        let mut p = SharePartition::new(0);
        assert_eq!(
            p.acquire("a", 4, 100, 0, 0, &L),
            vec![Acquired {
                first: 0,
                last: 3,
                delivery_count: 1
            }]
        );
        assert_eq!(
            p.acquire("b", 100, 100, 0, 0, &L),
            vec![Acquired {
                first: 4,
                last: 9,
                delivery_count: 1
            }]
        );
        // 10 in flight: nothing more until some are finished.
        assert!(p.acquire("c", 5, 100, 0, 0, &L).is_empty());
        let mut q = SharePartition::new(0);
        assert_eq!(
            q.acquire("a", 5, 2, 0, 0, &L),
            vec![Acquired {
                first: 0,
                last: 1,
                delivery_count: 1
            }]
        );
    }

    #[test]
    fn accept_in_the_middle_splits_and_prefix_advances_spso() {
        let mut p = SharePartition::new(0);
        p.acquire("a", 6, 100, 0, 0, &L);
        p.acknowledge("a", 2, 3, AckType::Accept, &L).unwrap();
        assert_eq!(p.start_offset, 0);
        assert_eq!(
            states(&p),
            vec![
                (0, 1, RecordState::Acquired, 1),
                (2, 3, RecordState::Acknowledged, 1),
                (4, 5, RecordState::Acquired, 1)
            ]
        );
        p.acknowledge("a", 0, 1, AckType::Reject, &L).unwrap();
        assert_eq!(p.start_offset, 4, "accepted and rejected prefix is done");
        assert_eq!(states(&p), vec![(4, 5, RecordState::Acquired, 1)]);
    }

    #[test]
    fn release_redelivers_with_a_higher_count_until_the_limit_archives() {
        let mut p = SharePartition::new(0);
        for round in 1..=3 {
            let got = p.acquire("a", 1, 1, 0, round * 10, &L);
            assert_eq!(
                got,
                vec![Acquired {
                    first: 0,
                    last: 0,
                    delivery_count: round as i16
                }]
            );
            p.acknowledge("a", 0, 0, AckType::Release, &L).unwrap();
        }
        // The third release hit the limit: archived, never delivered again, SPSO moves past it.
        assert_eq!(p.start_offset, 1);
        assert!(p.acquire("a", 1, 1, 0, 100, &L).is_empty());
    }

    #[test]
    fn lock_timeout_makes_records_available_to_others() {
        let mut p = SharePartition::new(0);
        p.acquire("dead", 3, 3, 0, 0, &L);
        assert!(
            p.acquire("b", 3, 3, 0, 999, &L).is_empty(),
            "locks still held"
        );
        assert_eq!(
            p.acquire("b", 3, 3, 0, 1_000, &L),
            vec![Acquired {
                first: 0,
                last: 2,
                delivery_count: 2
            }]
        );
        // The dead member's late acknowledgement is refused: b holds the records now (0 is part
        // of b's run 0..=2, so Kafka words it per offset).
        assert_eq!(
            p.acknowledge("dead", 0, 0, AckType::Accept, &L),
            Err(ShareError::NotOwner {
                first: 0,
                last: 0,
                subset: true
            })
        );
        p.acknowledge("b", 0, 2, AckType::Accept, &L).unwrap();
        assert_eq!((p.start_offset, p.in_flight.len()), (3, 0));
    }

    #[test]
    fn acknowledging_what_others_hold_or_outside_the_window_fails_without_change() {
        let mut p = SharePartition::new(5);
        assert_eq!(
            p.acknowledge("a", 5, 5, AckType::Accept, &L),
            Err(ShareError::NotInCache { first: 5, last: 5 }),
            "nothing in flight"
        );
        p.acquire("a", 2, 10, 0, 0, &L);
        p.acquire("b", 2, 10, 0, 0, &L);
        let before = p.clone();
        let refused = p.acknowledge("a", 6, 7, AckType::Accept, &L).unwrap_err();
        assert_eq!(
            refused,
            ShareError::NotOwner {
                first: 6,
                last: 7,
                subset: true
            }
        );
        // Kafka words it per offset when the range covers part of a batch
        assert_eq!(refused.to_string(), "Member is not the owner of offset");
        assert_eq!(
            p.acknowledge("a", 9, 9, AckType::Accept, &L),
            Err(ShareError::FirstPastAcquired { first: 9, last: 9 })
        );
        assert_eq!(
            p.acknowledge("b", 8, 9, AckType::Accept, &L),
            Err(ShareError::LastPastAcquired { first: 8, last: 9 })
        );
        assert_eq!(
            p.acknowledge("a", 6, 5, AckType::Accept, &L),
            Err(ShareError::InvalidRange { first: 6, last: 5 })
        );
        assert_eq!(p, before);
        assert_eq!(
            (
                ShareError::NotOwner {
                    first: 0,
                    last: 0,
                    subset: false
                }
                .code(),
                ShareError::FirstPastAcquired { first: 0, last: 0 }.code()
            ),
            (121, 42)
        );
        // Below SPSO is done already: fine, and a range reaching into the window from below
        // acknowledges its part from SPSO on.
        assert_eq!(p.acknowledge("a", 0, 4, AckType::Accept, &L), Ok(()));
        assert_eq!(p, before);
        p.acknowledge("a", 3, 5, AckType::Accept, &L).unwrap();
        assert_eq!(
            states(&p),
            vec![
                (6, 6, RecordState::Acquired, 1),
                (7, 8, RecordState::Acquired, 1)
            ]
        );
    }

    #[test]
    fn a_late_acknowledgement_after_the_lock_ran_out_is_refused_and_the_records_redelivered() {
        let mut p = SharePartition::new(0);
        p.acquire("a", 10, 10, 0, 0, &L);
        let ack = [AckRange {
            first: 0,
            last: 9,
            ack: AckType::Accept,
        }];
        // L.lock_ms is 1 000: at 1 500 (the proposer's clock) the lock is gone.
        let refused = p.acknowledge_all("a", &ack, 1_500, &L).unwrap_err();
        assert_eq!(
            refused,
            ShareError::NotAcquired {
                first: 0,
                last: 9,
                subset: false
            }
        );
        assert_eq!(
            refused.to_string(),
            "The batch cannot be acknowledged. The batch is not in the acquired state."
        );
        assert_eq!(states(&p), vec![(0, 9, RecordState::Available, 1)]);
        assert_eq!(
            p.acquire("a", 10, 10, 0, 1_500, &L),
            vec![Acquired {
                first: 0,
                last: 9,
                delivery_count: 2
            }]
        );
        // Within the new lock the same acknowledgement is honoured.
        assert_eq!(p.acknowledge_all("a", &ack, 2_499, &L), Ok(()));
        assert_eq!((p.start_offset, p.in_flight.len()), (10, 0));
    }

    #[test]
    fn a_partitions_ranges_are_all_or_nothing() {
        let mut p = SharePartition::new(0);
        p.acquire("a", 4, 10, 0, 0, &L);
        let before = p.clone();
        let ranges = [
            AckRange {
                first: 0,
                last: 1,
                ack: AckType::Accept,
            },
            AckRange {
                first: 2,
                last: 5,
                ack: AckType::Release,
            },
        ];
        assert_eq!(
            p.acknowledge_all("a", &ranges, 10, &L),
            Err(ShareError::LastPastAcquired { first: 2, last: 5 })
        );
        assert_eq!(p, before);
    }

    #[test]
    fn member_leaving_returns_its_records_and_ranges_merge_back() {
        let mut p = SharePartition::new(0);
        p.acquire("a", 2, 10, 0, 0, &L);
        p.acquire("b", 2, 10, 0, 0, &L);
        p.release_member("a", &L);
        p.release_member("b", &L);
        assert_eq!(states(&p), vec![(0, 3, RecordState::Available, 1)]);
        assert_eq!(
            p.acquire("c", 10, 4, 0, 5, &L),
            vec![Acquired {
                first: 0,
                last: 3,
                delivery_count: 2
            }]
        );
    }

    #[test]
    fn retention_and_reset_move_spso() {
        let mut p = SharePartition::new(0);
        p.acquire("a", 4, 10, 0, 0, &L);
        p.acquire("a", 4, 10, 2, 0, &L); // log start moved to 2
        assert_eq!(p.start_offset, 2);
        assert_eq!(p.in_flight.first().map(|r| r.first), Some(2));
        p.reset_to(8);
        assert_eq!((p.start_offset, p.end_offset(), p.state_epoch), (8, 8, 1));
    }

    #[test]
    fn archive_aborted_takes_aborted_runs_out_of_an_acquisition() {
        let mut p = SharePartition::new(0);
        let got = p.acquire("a", 10, 10, 0, 0, &L);
        let kept = p.archive_aborted(&[(2, 3), (6, 6), (12, 14)], got);
        let acq = |first, last| Acquired {
            first,
            last,
            delivery_count: 1,
        };
        assert_eq!(kept, vec![acq(0, 1), acq(4, 5), acq(7, 9)]);
        let states: Vec<(i64, i64, RecordState)> = p
            .in_flight
            .iter()
            .map(|r| (r.first, r.last, r.state))
            .collect();
        assert_eq!(
            states,
            vec![
                (0, 1, RecordState::Acquired),
                (2, 3, RecordState::Archived),
                (4, 5, RecordState::Acquired),
                (6, 6, RecordState::Archived),
                (7, 9, RecordState::Acquired)
            ]
        );
        // an acquisition starting with aborted records moves SPSO past them once acknowledged
        p.acknowledge("a", 0, 1, AckType::Accept, &L).unwrap();
        assert_eq!(p.start_offset, 4);
    }
}
