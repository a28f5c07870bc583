//! The invariants of the quorum state, stated once and checked after every apply in tests.
//!
//! [`MetaState::apply`] keeps these true whatever the command; a command that cannot keep them
//! is refused. Under `cfg(test)` (this crate's unit tests) and with the `invariants` feature
//! (other crates' tests, through their dev-dependency) `apply` calls [`assert_holds`] after every
//! command, so the churn tests, the randomized state-machine test and every given/when/then test
//! check all of them at every step, not only the outcome each asserts.
//!
//! | invariant | what it protects |
//! | --- | --- |
//! | [`Invariant::DenseOffsets`] | a partition's chunks cover `[first base, high watermark)` without gap or overlap, the log start inside it; a transaction marker is one offset without an object |
//! | [`Invariant::ObjectRefs`] | each object's reference count is the number of chunks naming it, markers aside (the janitor deletes an object at zero) |
//! | [`Invariant::Garbage`] | no object awaiting deletion is still referenced |
//! | [`Invariant::ShareInFlight`] | a share-partition's in-flight ranges are sorted, disjoint and contiguous from its SPSO, below the high watermark |
//! | [`Invariant::ConsumerOwnership`] | no partition is owned twice in a KIP-848 group: not in the target assignment, not among current assignments and pending revocations |
//! | [`Invariant::StreamsOwnership`] | no task is active on two members of a streams group: not in the target assignment, not among current assignments and pending revocations |
//! | [`Invariant::GroupOffsets`] | committed offsets belong to an existing classic, consumer or streams group (one group-id namespace: a share group keeps none), and no group's offsets are an empty map |
//! | [`Invariant::ProducerBatches`] | a producer's state on a partition remembers at least one batch |
//! | [`Invariant::Transactions`] | a partition's open transactions start inside its log, below the high watermark, and belong to an Ongoing transaction holding the partition; aborted ranges are ordered and end at a marker; every transactional producer id maps to its id |

use std::collections::{BTreeMap, BTreeSet};

use crate::share::{RecordState, SharePartition};
use crate::state::{MetaState, PartitionLog};

/// The invariants [`check`] verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invariant {
    /// A partition's chunks cover `[first base, high watermark)` without gap or overlap, the log
    /// start inside.
    DenseOffsets,
    /// Each object's reference count equals the number of chunks naming it (markers aside).
    ObjectRefs,
    /// No object awaiting deletion is still referenced.
    Garbage,
    /// A share-partition's (KIP-932) in-flight ranges are sorted, disjoint, contiguous from its
    /// SPSO and below the high watermark.
    ShareInFlight,
    /// No partition is owned twice in a KIP-848 consumer group (target, current or pending
    /// revocation).
    ConsumerOwnership,
    /// No task is active on two members of a KIP-1071 streams group.
    StreamsOwnership,
    /// Committed offsets belong to an existing non-share group, and no offsets map is empty.
    GroupOffsets,
    /// A producer's state on a partition remembers at least one batch.
    ProducerBatches,
    /// Open transactions lie inside the log and belong to an Ongoing transaction holding the
    /// partition; aborted ranges are ordered.
    Transactions,
}

/// An invariant that does not hold, with where and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invariant {invariant:?} violated: {detail}")]
pub struct Violation {
    /// Which invariant does not hold.
    pub invariant: Invariant,
    /// Where and how, for a person (topic-partition or group, and the offending values).
    pub detail: String,
}

// The per-invariant checks below (and `check_ownership` of consumer and streams groups) return
// `Result<(), String>` on purpose: the string is the `detail` of a `Violation`, read only by a
// person (tests panic with it), and `Violation` already is the typed error callers match on.
fn violation(invariant: Invariant, detail: String) -> Violation {
    Violation { invariant, detail }
}

/// Checks every invariant of `s`; the first violation found.
pub fn check(s: &MetaState) -> Result<(), Violation> {
    for (name, t) in &s.topics {
        for (p, log) in t.partitions.iter().enumerate() {
            dense_offsets(log)
                .map_err(|d| violation(Invariant::DenseOffsets, format!("{name}-{p}: {d}")))?;
        }
    }
    object_refs(s)?;
    transactions(s).map_err(|d| violation(Invariant::Transactions, d))?;
    for (group, g) in s
        .groups
        .groups
        .iter()
        .filter_map(|(id, g)| Some((id, g.as_share()?)))
    {
        for (topic, parts) in &g.partitions {
            for (p, sp) in parts {
                let hw = s.partition(topic, *p).map(|l| l.high_watermark);
                share_in_flight(sp, hw).map_err(|d| {
                    violation(
                        Invariant::ShareInFlight,
                        format!("group {group}, {topic}-{p}: {d}"),
                    )
                })?;
            }
        }
    }
    for (id, g) in &s.groups.groups {
        if let Some(c) = g.as_consumer() {
            c.check_ownership()
                .map_err(|d| violation(Invariant::ConsumerOwnership, format!("group {id}: {d}")))?;
        }
        if let Some(g) = g.as_streams() {
            g.check_ownership()
                .map_err(|d| violation(Invariant::StreamsOwnership, format!("group {id}: {d}")))?;
        }
    }
    group_offsets(&s.groups).map_err(|d| violation(Invariant::GroupOffsets, d))?;
    for (pid, p) in &s.producers {
        for (topic, parts) in &p.partitions {
            if let Some((part, _)) = parts.iter().find(|(_, st)| st.batches.is_empty()) {
                return Err(violation(
                    Invariant::ProducerBatches,
                    format!("producer {pid} on {topic}-{part} remembers no batch"),
                ));
            }
        }
    }
    Ok(())
}

/// [`Invariant::GroupOffsets`].
fn group_offsets(groups: &crate::groups::Groups) -> Result<(), String> {
    use crate::groups::GroupType;
    for (id, offsets) in &groups.offsets {
        match groups.get(id).map(|g| g.group_type()) {
            None => return Err(format!("offsets of group {id}, which does not exist")),
            Some(GroupType::Share) => return Err(format!("offsets of share group {id}")),
            Some(_) => {}
        }
        if offsets.is_empty() || offsets.values().any(BTreeMap::is_empty) {
            return Err(format!("group {id} keeps an empty offsets map"));
        }
    }
    Ok(())
}

/// Panics with the violation and the command that caused it (tests).
pub fn assert_holds(s: &MetaState, after: &crate::command::Command) {
    if let Err(v) = check(s) {
        panic!("{v}\nafter applying {after:?}");
    }
}

/// [`Invariant::DenseOffsets`] of one partition.
fn dense_offsets(log: &PartitionLog) -> Result<(), String> {
    if log.log_start_offset > log.high_watermark {
        return Err(format!(
            "log start {} above high watermark {}",
            log.log_start_offset, log.high_watermark
        ));
    }
    let mut next: Option<i64> = None;
    for (&base, c) in &log.chunks {
        if c.records <= 0 {
            return Err(format!("chunk at {base} holds {} records", c.records));
        }
        if c.marker.is_some() && (c.records != 1 || !c.object.is_empty()) {
            return Err(format!(
                "marker at {base} is not one offset without an object"
            ));
        }
        if let Some(n) = next.filter(|n| *n != base) {
            return Err(format!(
                "chunk at {base} does not start where the last ended ({n})"
            ));
        }
        next = Some(base + c.records);
    }
    match (log.chunks.keys().next(), next) {
        (Some(&first), Some(end)) => {
            if end != log.high_watermark {
                return Err(format!(
                    "chunks end at {end}, high watermark is {}",
                    log.high_watermark
                ));
            }
            if log.log_start_offset < first {
                return Err(format!(
                    "log start {} below the first chunk at {first}",
                    log.log_start_offset
                ));
            }
        }
        _ if log.log_start_offset != log.high_watermark => {
            return Err(format!(
                "no chunks, yet log start {} and high watermark {} differ",
                log.log_start_offset, log.high_watermark
            ));
        }
        _ => {}
    }
    Ok(())
}

/// [`Invariant::Transactions`].
fn transactions(s: &MetaState) -> Result<(), String> {
    use crate::txn::TxnState;
    for (tid, m) in &s.transactions.by_id {
        if s.transactions.by_producer.get(&m.producer_id) != Some(tid) {
            return Err(format!(
                "{tid}: producer id {} does not map back to it",
                m.producer_id
            ));
        }
    }
    for (name, t) in &s.topics {
        for (p, log) in t.partitions.iter().enumerate() {
            for (pid, first) in &log.open_txns {
                if *first >= log.high_watermark {
                    return Err(format!(
                        "{name}-{p}: open transaction of {pid} at {first} >= HW"
                    ));
                }
                let owner = s.transactions.of_producer(*pid).map(|(_, m)| m);
                let holds = owner.is_some_and(|m| {
                    m.state == TxnState::Ongoing && m.partitions.contains(&(name.clone(), p as i32))
                });
                if !holds {
                    return Err(format!(
                        "{name}-{p}: producer {pid} has data open here but no Ongoing transaction holding the partition"
                    ));
                }
            }
            if let Some(pid) = log
                .open_txn_runs
                .keys()
                .find(|pid| !log.open_txns.contains_key(pid))
            {
                return Err(format!(
                    "{name}-{p}: batches of {pid} recorded for a transaction not open here"
                ));
            }
            // Sorted, disjoint, not touching (coalesced), within [log start offset, HW).
            let mut next_free = log.log_start_offset;
            for &(first, last) in &log.aborted_runs {
                if first > last || first < next_free || last >= log.high_watermark {
                    return Err(format!(
                        "{name}-{p}: aborted run {first}..={last} unsorted, overlapping, \
                         uncoalesced or outside the log"
                    ));
                }
                next_free = last + 2;
            }
            let mut last_end = i64::MIN;
            for a in &log.aborted_txns {
                let at_marker = log.chunks.get(&a.last_offset).is_some_and(|c| {
                    c.marker
                        .is_some_and(|m| !m.commit && m.producer_id == a.producer_id)
                });
                if a.first_offset > a.last_offset || a.last_offset < last_end || !at_marker {
                    return Err(format!("{name}-{p}: aborted range {a:?} out of order or not ended by its abort marker"));
                }
                last_end = a.last_offset;
            }
        }
    }
    Ok(())
}

/// [`Invariant::ObjectRefs`] and [`Invariant::Garbage`].
fn object_refs(s: &MetaState) -> Result<(), Violation> {
    let mut counted: BTreeMap<&str, u64> = BTreeMap::new();
    for t in s.topics.values() {
        for log in &t.partitions {
            // A transaction marker is an index entry without object.
            for c in log.chunks.values().filter(|c| c.marker.is_none()) {
                *counted.entry(c.object.as_str()).or_default() += 1;
            }
        }
    }
    let stored: BTreeMap<&str, u64> = s
        .object_refs
        .iter()
        .map(|(o, n)| (o.as_str(), *n))
        .collect();
    if counted != stored {
        let differ: BTreeSet<&str> = counted
            .keys()
            .chain(stored.keys())
            .filter(|o| counted.get(*o) != stored.get(*o))
            .copied()
            .collect();
        let detail = differ
            .iter()
            .map(|o| {
                format!(
                    "{o}: {} chunks, count {}",
                    counted.get(o).copied().unwrap_or(0),
                    stored.get(o).copied().unwrap_or(0)
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Err(violation(Invariant::ObjectRefs, detail));
    }
    if let Some(o) = s.garbage.iter().find(|o| counted.contains_key(o.as_str())) {
        return Err(violation(
            Invariant::Garbage,
            format!("{o} awaits deletion but chunks still name it"),
        ));
    }
    Ok(())
}

/// [`Invariant::ShareInFlight`] of one share-partition (`hw`: its partition's high watermark,
/// when the partition exists).
fn share_in_flight(sp: &SharePartition, hw: Option<i64>) -> Result<(), String> {
    let mut next = sp.start_offset;
    for r in &sp.in_flight {
        if r.first != next || r.last < r.first {
            return Err(format!(
                "range {}..={} where {next} was expected next (SPSO {})",
                r.first, r.last, sp.start_offset
            ));
        }
        if (r.state == RecordState::Acquired) != r.owner.is_some() {
            return Err(format!(
                "range {}..={} is {:?} with owner {:?}",
                r.first, r.last, r.state, r.owner
            ));
        }
        next = r.last + 1;
    }
    if let Some(hw) = hw.filter(|hw| next > *hw && !sp.in_flight.is_empty()) {
        return Err(format!(
            "in-flight records end at {next}, past the high watermark {hw}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Chunk;

    fn chunk(object: &str, records: i64) -> Chunk {
        Chunk {
            object: object.into(),
            object_len: 100,
            pos: 0,
            len: 10,
            records,
            max_timestamp: 0,
            marker: None,
        }
    }

    #[test]
    fn a_gap_between_chunks_is_a_violation() {
        let mut log = PartitionLog::default();
        log.chunks.insert(0, chunk("a", 5));
        log.chunks.insert(6, chunk("a", 5));
        log.high_watermark = 11;
        assert!(dense_offsets(&log).unwrap_err().contains("does not start"));
        log.chunks.remove(&6);
        log.chunks.insert(5, chunk("a", 5));
        log.high_watermark = 10;
        assert_eq!(dense_offsets(&log), Ok(()));
        log.high_watermark = 12;
        assert!(dense_offsets(&log).unwrap_err().contains("high watermark"));
    }

    #[test]
    fn a_miscounted_or_collected_object_is_a_violation() {
        let mut s = MetaState::default();
        let mut t = crate::state::Topic {
            name: "t".into(),
            id: uuid::Uuid::nil(),
            configs: Default::default(),
            partitions: vec![PartitionLog::default()],
            created_ms: 0,
        };
        t.partitions[0].chunks.insert(0, chunk("a", 1));
        t.partitions[0].high_watermark = 1;
        s.topics.insert("t".into(), t);
        let e = check(&s).unwrap_err();
        assert_eq!(e.invariant, Invariant::ObjectRefs);
        s.object_refs.insert("a".into(), 1);
        assert_eq!(check(&s), Ok(()));
        s.garbage.insert("a".into());
        assert_eq!(check(&s).unwrap_err().invariant, Invariant::Garbage);
    }

    #[test]
    fn share_ranges_must_be_contiguous_from_the_spso() {
        use crate::share::InFlight;
        let range = |first, last, state, owner: Option<&str>| InFlight {
            first,
            last,
            state,
            delivery_count: 1,
            owner: owner.map(String::from),
            lock_until_ms: 0,
        };
        let mut sp = SharePartition::new(3);
        sp.in_flight = vec![
            range(3, 4, RecordState::Acquired, Some("m")),
            range(5, 9, RecordState::Available, None),
        ];
        assert_eq!(share_in_flight(&sp, Some(10)), Ok(()));
        assert!(share_in_flight(&sp, Some(9)).is_err());
        sp.in_flight[1].first = 6;
        assert!(share_in_flight(&sp, Some(10)).is_err());
        sp.in_flight[1].first = 5;
        sp.in_flight[1].owner = Some("m".into());
        assert!(share_in_flight(&sp, Some(10)).is_err());
    }
}
