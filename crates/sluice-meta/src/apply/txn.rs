//! Applying [`TxnCommand`]s: the transaction coordinator's logic (see [`crate::txn`] for the
//! model and its data), and what a segment commit asks of it ([`admit_batch`],
//! [`record_batch`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::codes;
use crate::command::{BatchMeta, CommandResponse};
use crate::state::{Chunk, MetaState, PartitionLog, ProducerInfo};
use crate::txn::{AbortedTxn, TransactionMeta, Transactions, TxnCommand, TxnMarker, TxnState};

/// Applies a transaction command to the state.
pub fn apply(state: &mut MetaState, cmd: &TxnCommand) -> CommandResponse {
    match cmd {
        TxnCommand::InitProducerId {
            transactional_id,
            timeout_ms,
            expected,
            now_ms,
        } => init_producer_id(state, transactional_id, *timeout_ms, *expected, *now_ms),
        TxnCommand::AddPartitions {
            transactional_id,
            producer_id,
            producer_epoch,
            partitions,
            now_ms,
        } => {
            for (t, p) in partitions {
                let exists = state
                    .topics
                    .get(t)
                    .is_some_and(|t| *p >= 0 && (*p as usize) < t.partitions.len());
                if !exists {
                    return err(
                        codes::UNKNOWN_TOPIC_OR_PARTITION,
                        "This server does not host this topic-partition.",
                    );
                }
            }
            match open_for_add(
                state,
                transactional_id,
                *producer_id,
                *producer_epoch,
                *now_ms,
            ) {
                Ok(m) => {
                    m.partitions.extend(partitions.iter().cloned());
                    CommandResponse::Ok
                }
                Err(e) => e,
            }
        }
        TxnCommand::AddOffsets {
            transactional_id,
            producer_id,
            producer_epoch,
            group,
            now_ms,
        } => match open_for_add(
            state,
            transactional_id,
            *producer_id,
            *producer_epoch,
            *now_ms,
        ) {
            Ok(m) => {
                m.groups.entry(group.clone()).or_default();
                CommandResponse::Ok
            }
            Err(e) => e,
        },
        TxnCommand::OffsetCommit {
            transactional_id,
            producer_id,
            producer_epoch,
            group,
            generation,
            member_id,
            instance_id,
            offsets,
            implicit_add,
            now_ms,
        } => {
            if let Some((code, message)) = state.groups.commit_refusal(
                group,
                *generation,
                member_id,
                instance_id.as_deref(),
                true,
            ) {
                return err(code, message);
            }
            let owner = match implicit_add {
                true => open_for_add(
                    state,
                    transactional_id,
                    *producer_id,
                    *producer_epoch,
                    *now_ms,
                ),
                false => check_owner(state, transactional_id, *producer_id, *producer_epoch),
            };
            let m = match owner {
                Ok(m) => m,
                Err(e) => return e,
            };
            if m.state != TxnState::Ongoing {
                return err(
                    codes::INVALID_TXN_STATE,
                    "TxnOffsetCommit outside a transaction (AddOffsetsToTxn first).",
                );
            }
            // Kafka's KIP-890 clients of transaction version 2 send TxnOffsetCommit v5 without
            // AddOffsetsToTxn; the group joins the transaction implicitly either way.
            let staged = m.groups.entry(group.clone()).or_default();
            for o in offsets {
                staged
                    .retain(|s| (s.topic.as_str(), s.partition) != (o.topic.as_str(), o.partition));
                staged.push(o.clone());
            }
            m.last_update_ms = *now_ms;
            CommandResponse::Ok
        }
        TxnCommand::End {
            transactional_id,
            producer_id,
            producer_epoch,
            commit,
            bump,
            now_ms,
        } => end_txn(
            state,
            transactional_id,
            *producer_id,
            *producer_epoch,
            *commit,
            *bump,
            *now_ms,
        ),
        TxnCommand::WriteMarkers {
            producer_id,
            producer_epoch,
            commit,
            partitions,
            now_ms,
        } => {
            let marker = TxnMarker {
                producer_id: *producer_id,
                producer_epoch: *producer_epoch,
                commit: *commit,
                coordinator_epoch: 0,
            };
            let codes = partitions
                .iter()
                .map(|(t, p)| match partition_mut(state, t, *p) {
                    None => codes::UNKNOWN_TOPIC_OR_PARTITION,
                    Some(log) if log.open_txns.contains_key(producer_id) => {
                        write_marker(log, marker, *now_ms);
                        codes::NONE
                    }
                    // Nothing open there: Kafka writes the marker anyway, which changes no
                    // record's visibility; an index entry for nothing is not worth it.
                    Some(_) => codes::NONE,
                })
                .collect();
            // A transaction the coordinator still thinks open loses those partitions' data:
            // it is no longer in flight there.
            CommandResponse::Codes(codes)
        }
        TxnCommand::Expire {
            now_ms,
            id_expiration_ms,
        } => {
            expire(state, *now_ms, *id_expiration_ms);
            CommandResponse::Ok
        }
    }
}

fn init_producer_id(
    state: &mut MetaState,
    tid: &str,
    timeout_ms: i32,
    expected: Option<(i64, i16)>,
    now_ms: i64,
) -> CommandResponse {
    let Some(m) = state.transactions.by_id.get(tid).cloned() else {
        let producer_id = state.allocate_producer_id(now_ms);
        state.transactions.by_id.insert(
            tid.to_string(),
            TransactionMeta {
                producer_id,
                producer_epoch: 0,
                prev_producer_id: -1,
                prev_producer_epoch: -1,
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                groups: BTreeMap::new(),
                start_ms: -1,
                last_update_ms: now_ms,
            },
        );
        state
            .transactions
            .by_producer
            .insert(producer_id, tid.to_string());
        return producer(producer_id, 0);
    };
    // KIP-360: a producer recovering names the id and epoch it had; anything but the current
    // (or, after a bump whose answer was lost, the previous) pair is a zombie.
    if let Some((pid, epoch)) = expected {
        let current = pid == m.producer_id && epoch == m.producer_epoch;
        let retried = pid == m.prev_producer_id && epoch == m.prev_producer_epoch;
        if !current && !retried {
            return err(codes::PRODUCER_FENCED, "There is a newer producer with the same transactionalId which fences the current one.");
        }
        if retried && m.state != TxnState::Ongoing {
            // The bump already happened; answer it again.
            let m = &mut state.transactions.by_id.get_mut(tid).expect("present");
            m.timeout_ms = timeout_ms;
            return producer(m.producer_id, m.producer_epoch);
        }
    }
    if m.state == TxnState::Ongoing {
        // Kafka fences the producer (epoch + 1), aborts, and answers CONCURRENT_TRANSACTIONS
        // so that the client retries and gets one more bump; both happen here at once.
        complete(state, tid, false, true, now_ms);
    }
    bump_epoch(state, tid, now_ms);
    let m = state.transactions.by_id.get_mut(tid).expect("present");
    m.timeout_ms = timeout_ms;
    m.state = TxnState::Empty;
    m.partitions.clear();
    m.groups.clear();
    m.start_ms = -1;
    m.last_update_ms = now_ms;
    producer(m.producer_id, m.producer_epoch)
}

/// Bumps the id's epoch, moving to a new producer id when the epoch is exhausted (Kafka:
/// `TransactionMetadata.prepareIncrementProducerEpoch` / `prepareProducerIdRotation`).
fn bump_epoch(state: &mut MetaState, tid: &str, now_ms: i64) {
    let (pid, epoch) = {
        let m = &state.transactions.by_id[tid];
        (m.producer_id, m.producer_epoch)
    };
    let (new_pid, new_epoch) = if epoch >= i16::MAX - 1 {
        (state.allocate_producer_id(now_ms), 0)
    } else {
        (pid, epoch + 1)
    };
    if new_pid != pid {
        // The id before the previous one is forgotten.
        let prev = state.transactions.by_id[tid].prev_producer_id;
        if prev >= 0 && prev != pid {
            state.transactions.by_producer.remove(&prev);
        }
        state
            .transactions
            .by_producer
            .insert(new_pid, tid.to_string());
    }
    if let Some(p) = state.producers.get_mut(&new_pid) {
        p.epoch = p.epoch.max(new_epoch);
        p.last_update_ms = now_ms;
    }
    let m = state.transactions.by_id.get_mut(tid).expect("present");
    m.prev_producer_id = pid;
    m.prev_producer_epoch = epoch;
    m.producer_id = new_pid;
    m.producer_epoch = new_epoch;
}

/// Checks that `producer_id`/`producer_epoch` own `tid` now (Kafka's order: unknown id,
/// producer id mapping, then epoch).
fn check_owner<'a>(
    state: &'a mut MetaState,
    tid: &str,
    producer_id: i64,
    producer_epoch: i16,
) -> Result<&'a mut TransactionMeta, CommandResponse> {
    let Some(m) = state.transactions.by_id.get_mut(tid) else {
        return Err(err(
            codes::INVALID_PRODUCER_ID_MAPPING,
            "The producer attempted to use a producer id which is not currently assigned to its transactional id.",
        ));
    };
    if m.producer_id != producer_id {
        return Err(err(
            codes::INVALID_PRODUCER_ID_MAPPING,
            "The producer attempted to use a producer id which is not currently assigned to its transactional id.",
        ));
    }
    if m.producer_epoch != producer_epoch {
        return Err(err(
            codes::PRODUCER_FENCED,
            "There is a newer producer with the same transactionalId which fences the current one.",
        ));
    }
    Ok(m)
}

/// The owner's transaction, opened if it is not (AddPartitionsToTxn, AddOffsetsToTxn).
fn open_for_add<'a>(
    state: &'a mut MetaState,
    tid: &str,
    producer_id: i64,
    producer_epoch: i16,
    now_ms: i64,
) -> Result<&'a mut TransactionMeta, CommandResponse> {
    let m = check_owner(state, tid, producer_id, producer_epoch)?;
    begin(m, now_ms);
    Ok(m)
}

/// Moves a resting id into Ongoing with a fresh transaction.
fn begin(m: &mut TransactionMeta, now_ms: i64) {
    if m.state != TxnState::Ongoing {
        m.state = TxnState::Ongoing;
        m.partitions.clear();
        m.groups.clear();
        m.start_ms = now_ms;
    }
    m.last_update_ms = now_ms;
}

fn end_txn(
    state: &mut MetaState,
    tid: &str,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    bump: bool,
    now_ms: i64,
) -> CommandResponse {
    let Some(m) = state.transactions.by_id.get(tid) else {
        return err(
            codes::INVALID_PRODUCER_ID_MAPPING,
            "The producer attempted to use a producer id which is not currently assigned to its transactional id.",
        );
    };
    let done = if commit {
        TxnState::CompleteCommit
    } else {
        TxnState::CompleteAbort
    };
    // Transaction version 2: a retry of the EndTxn that bumped the epoch names the old pair.
    if bump
        && producer_id == m.prev_producer_id
        && producer_epoch == m.prev_producer_epoch
        && m.producer_epoch != producer_epoch
    {
        return if m.state == done {
            producer(m.producer_id, m.producer_epoch)
        } else {
            err(
                codes::INVALID_TXN_STATE,
                "The producer attempted a transactional operation in an invalid state.",
            )
        };
    }
    if m.producer_id != producer_id {
        return err(
            codes::INVALID_PRODUCER_ID_MAPPING,
            "The producer attempted to use a producer id which is not currently assigned to its transactional id.",
        );
    }
    if m.producer_epoch != producer_epoch {
        return err(
            codes::PRODUCER_FENCED,
            "There is a newer producer with the same transactionalId which fences the current one.",
        );
    }
    match m.state {
        TxnState::Ongoing => {}
        // Transaction version 2 may abort with nothing open (a client's abort after an
        // abortable error before anything was sent); it bumps the epoch like any EndTxn.
        TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort if bump && !commit => {
            bump_epoch(state, tid, now_ms);
            let m = state.transactions.by_id.get_mut(tid).expect("present");
            m.state = TxnState::CompleteAbort;
            m.partitions.clear();
            m.groups.clear();
            m.start_ms = -1;
            m.last_update_ms = now_ms;
            return producer(m.producer_id, m.producer_epoch);
        }
        // Transaction version 1: a retry after the answer was lost.
        s if s == done && !bump => return producer(m.producer_id, m.producer_epoch),
        _ => {
            return err(
                codes::INVALID_TXN_STATE,
                "The producer attempted a transactional operation in an invalid state.",
            )
        }
    }
    complete(state, tid, commit, bump, now_ms);
    let m = &state.transactions.by_id[tid];
    producer(m.producer_id, m.producer_epoch)
}

/// Ends `tid`'s open transaction: a marker in each of its partitions, staged offsets
/// committed (on commit), state CompleteCommit/CompleteAbort. `bump` first bumps the epoch
/// (transaction version 2, and fencing), and the markers carry the new epoch.
fn complete(state: &mut MetaState, tid: &str, commit: bool, bump: bool, now_ms: i64) {
    if bump {
        bump_epoch(state, tid, now_ms);
    }
    let m = state.transactions.by_id.get_mut(tid).expect("present");
    let marker = TxnMarker {
        // Markers go to the partitions under the id the data was written with.
        producer_id: if m.prev_producer_id >= 0 && bump {
            m.prev_producer_id
        } else {
            m.producer_id
        },
        producer_epoch: m.producer_epoch,
        commit,
        coordinator_epoch: 0,
    };
    m.state = if commit {
        TxnState::CompleteCommit
    } else {
        TxnState::CompleteAbort
    };
    // The start stays: DescribeTransactions shows it for the completed transaction.
    m.last_update_ms = now_ms;
    // A completed transaction lists no partitions (DescribeTransactions, as Kafka).
    let partitions = std::mem::take(&mut m.partitions);
    let groups = std::mem::take(&mut m.groups);
    for (topic, p) in &partitions {
        if let Some(log) = partition_mut(state, topic, *p) {
            write_marker(log, marker, now_ms);
        }
    }
    if commit {
        for (group, offsets) in groups {
            state.groups.write_offsets(&group, &offsets, now_ms);
        }
    }
}

fn partition_mut<'a>(
    state: &'a mut MetaState,
    topic: &str,
    partition: i32,
) -> Option<&'a mut PartitionLog> {
    let t = state.topics.get_mut(topic)?;
    if partition < 0 {
        return None;
    }
    t.partitions.get_mut(partition as usize)
}

/// Places a marker at the partition's next offset and closes the producer's open
/// transaction there (an abort is remembered for read_committed fetches).
pub fn write_marker(log: &mut PartitionLog, marker: TxnMarker, now_ms: i64) {
    let offset = log.high_watermark;
    log.chunks.insert(
        offset,
        Chunk {
            object: String::new(),
            object_len: 0,
            pos: 0,
            len: 0,
            records: 1,
            max_timestamp: now_ms,
            marker: Some(marker),
        },
    );
    log.high_watermark += 1;
    let runs = log.open_txn_runs.remove(&marker.producer_id);
    if let (false, Some(runs)) = (marker.commit, runs) {
        merge_runs(&mut log.aborted_runs, runs);
    }
    if let Some(first_offset) = log.open_txns.remove(&marker.producer_id) {
        if !marker.commit {
            log.aborted_txns.push(AbortedTxn {
                producer_id: marker.producer_id,
                first_offset,
                last_offset: offset,
            });
        }
    }
}

/// Whether a transactional batch may land in `topic`/`partition`: `Ok(true)` when it may and
/// the partition joins the transaction with it (transaction version 2's implicit add),
/// `Ok(false)` when it may as is, or the Kafka error code refusing it.
pub fn admit_batch(
    txns: &Transactions,
    b: &BatchMeta,
    topic: &str,
    partition: i32,
) -> Result<bool, i16> {
    let Some((_, m)) = txns.of_producer(b.producer_id) else {
        return Err(codes::INVALID_TXN_STATE);
    };
    if m.producer_id != b.producer_id || b.producer_epoch < m.producer_epoch {
        return Err(codes::INVALID_PRODUCER_EPOCH);
    }
    if b.producer_epoch > m.producer_epoch {
        return Err(codes::INVALID_PRODUCER_EPOCH);
    }
    let listed = m.partitions.contains(&(topic.to_string(), partition));
    match m.state {
        TxnState::Ongoing if listed => Ok(false),
        TxnState::Ongoing
        | TxnState::Empty
        | TxnState::CompleteCommit
        | TxnState::CompleteAbort
            if b.implicit_add_to_txn =>
        {
            Ok(true)
        }
        _ => Err(codes::INVALID_TXN_STATE),
    }
}

/// Records an admitted transactional batch at `base_offset` of `(topic, partition)`: the partition joins the
/// transaction (opening it if needed) when `add`, and the transaction is open there.
pub fn record_batch(
    txns: &mut Transactions,
    log: &mut PartitionLog,
    producer_id: i64,
    (topic, partition): (&str, i32),
    (base_offset, records): (i64, i64),
    add: bool,
    now_ms: i64,
) {
    if add {
        let tid = txns.by_producer.get(&producer_id).cloned();
        if let Some(m) = tid.and_then(|t| txns.by_id.get_mut(&t)) {
            begin(m, now_ms);
            m.partitions.insert((topic.to_string(), partition));
        }
    }
    log.open_txns.entry(producer_id).or_insert(base_offset);
    let runs = log.open_txn_runs.entry(producer_id).or_default();
    let last = base_offset + records.max(1) - 1;
    match runs.last_mut() {
        Some(run) if run.1 + 1 == base_offset => run.1 = last,
        _ => runs.push((base_offset, last)),
    }
}

/// Adds `runs` (sorted, disjoint) to `into` (sorted, disjoint), coalescing neighbours.
fn merge_runs(into: &mut Vec<(i64, i64)>, runs: Vec<(i64, i64)>) {
    into.extend(runs);
    into.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(into.len());
    for (first, last) in into.drain(..) {
        match merged.last_mut() {
            Some(m) if m.1 + 1 >= first => m.1 = m.1.max(last),
            _ => merged.push((first, last)),
        }
    }
    *into = merged;
}

/// Aborts timed-out transactions (epoch bumped: the producer is fenced, as Kafka's
/// `abortTimedOutTransactions`) and forgets idle ids.
fn expire(state: &mut MetaState, now_ms: i64, id_expiration_ms: i64) {
    let timed_out: Vec<String> = state
        .transactions
        .by_id
        .iter()
        .filter(|(_, m)| {
            m.state == TxnState::Ongoing && m.start_ms + i64::from(m.timeout_ms) <= now_ms
        })
        .map(|(id, _)| id.clone())
        .collect();
    for tid in timed_out {
        complete(state, &tid, false, true, now_ms);
    }
    let idle: Vec<String> = state
        .transactions
        .by_id
        .iter()
        .filter(|(_, m)| {
            m.state != TxnState::Ongoing && m.last_update_ms + id_expiration_ms <= now_ms
        })
        .map(|(id, _)| id.clone())
        .collect();
    for tid in idle {
        if let Some(m) = state.transactions.by_id.remove(&tid) {
            state.transactions.by_producer.remove(&m.producer_id);
            state.transactions.by_producer.remove(&m.prev_producer_id);
        }
    }
}

fn producer(producer_id: i64, producer_epoch: i16) -> CommandResponse {
    CommandResponse::Producer(ProducerInfo {
        producer_id,
        producer_epoch,
    })
}

fn err(code: i16, message: &str) -> CommandResponse {
    CommandResponse::Error {
        code,
        message: message.to_string(),
    }
}

#[cfg(test)]
#[path = "txn_tests.rs"]
mod tests;
