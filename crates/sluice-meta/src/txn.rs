//! Kafka's transaction coordinator as quorum state (KIP-98, KIP-360 epoch bumps, KIP-890
//! transaction version 2, KIP-1050 error classes).
//!
//! Kafka keeps a transactional id's state in `__transaction_state` and drives each EndTxn
//! through PrepareCommit/PrepareAbort, then WriteTxnMarkers RPCs to every partition leader,
//! then CompleteCommit/CompleteAbort. Sluice has one log of truth, the quorum, so the whole of
//! it is ONE command: [`TxnCommand::End`] checks the transaction, places a control batch
//! ("marker") at the next offset of every partition in it, applies the pending transactional
//! offset commits to their groups, and leaves the id in CompleteCommit/CompleteAbort. No
//! partition can be seen half-committed, whatever crashes, because there is no "half": the
//! command is applied entirely or not at all on every replica. The Prepare* states exist
//! only so that ListTransactions and DescribeTransactions speak Kafka's names; no id ever rests
//! in them.
//!
//! A marker costs no object PUT: it is an index entry ([`TxnMarker`] in a [`Chunk`] without
//! object) from which an agent's reader renders the control batch on the fly. Each partition
//! keeps what read_committed fetches need in the replica every agent holds: the first offset
//! of each open transaction (`open_txns`, whose minimum is the last stable offset) and the
//! aborted transactions' offset ranges (`aborted_txns`, Fetch's `AbortedTransactions`).
//!
//! Data of a transaction reaches partitions through the segment commits like any other
//! data; [`admit_batch`] decides there whether a transactional batch may land: its producer
//! must own an Ongoing transaction holding the partition (transaction version 1: added by
//! AddPartitionsToTxn), or, for clients of transaction version 2 (Produce v12+), the
//! partition is added on the fly.
//!
//! Time comes in commands (`now_ms`): the proposer's clock, as everywhere in the state.
//!
//! [`Chunk`]: crate::state::Chunk

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::codes;
use crate::command::{BatchMeta, CommandResponse};
use crate::groups::OffsetCommitEntry;
use crate::state::{Chunk, MetaState, PartitionLog, ProducerInfo};

/// Kafka's default `transaction.max.timeout.ms` (15 minutes): the largest
/// `transaction.timeout.ms` a producer may ask for.
pub const DEFAULT_TRANSACTION_MAX_TIMEOUT_MS: i32 = 900_000;

/// Kafka's default `transactional.id.expiration.ms` (7 days): an id with no transaction and no
/// request for this long is forgotten.
pub const DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS: i64 = 604_800_000;

/// Kafka's `TransactionState`, with its names as ListTransactions reports them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub enum TxnState {
    /// No transaction open (a new id, or after an epoch bump by InitProducerId).
    Empty,
    /// A transaction is open: partitions or groups were added.
    Ongoing,
    /// Kafka's state between EndTxn(commit) and its markers; never stored here (EndTxn is one
    /// command).
    PrepareCommit,
    /// Kafka's state between EndTxn(abort) and its markers; never stored here.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted (by EndTxn, a timeout, or a fencing InitProducerId).
    CompleteAbort,
    /// Kafka's state of an expired id; never stored here (an expired id is removed).
    Dead,
    /// Kafka's state while a timed-out transaction is fenced; never stored here.
    PrepareEpochFence,
}

impl TxnState {
    /// Every state, in Kafka's order.
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    /// Kafka's name of the state (`TransactionState.stateName`).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }
}

/// One transactional id, Kafka's `TransactionMetadata`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TransactionMeta {
    /// The current producer id of the transactional id (rotated when the epoch is exhausted).
    pub producer_id: i64,
    /// The current producer epoch; requests with another epoch get PRODUCER_FENCED.
    pub producer_epoch: i16,
    /// The producer id and epoch before the last bump, -1 when none: a transaction version 2
    /// EndTxn retried after its answer was lost names these, and gets the same answer again.
    pub prev_producer_id: i64,
    /// The epoch before the last bump, -1 when none (see `prev_producer_id`).
    pub prev_producer_epoch: i16,
    /// `transaction.timeout.ms` of the producer, in ms.
    pub timeout_ms: i32,
    /// Where the transaction is in Kafka's state machine (only Empty, Ongoing, CompleteCommit and
    /// CompleteAbort are stored).
    pub state: TxnState,
    /// Partitions of the open transaction; emptied when it completes (DescribeTransactions, as
    /// Kafka, lists none for a completed transaction).
    pub partitions: BTreeSet<(String, i32)>,
    /// Groups added by AddOffsetsToTxn, with the offsets TxnOffsetCommit staged for them;
    /// they become the groups' committed offsets when the transaction commits.
    pub groups: BTreeMap<String, Vec<OffsetCommitEntry>>,
    /// Proposer's clock when the current (or last completed) transaction started (first
    /// partition or group added), ms; -1 before the first.
    pub start_ms: i64,
    /// Proposer's clock at the last change, ms (id expiration counts from it).
    pub last_update_ms: i64,
}

/// Every transactional id, and which id each transactional producer id belongs to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Transactions {
    /// Transactional id -> its state.
    pub by_id: BTreeMap<String, TransactionMeta>,
    /// Producer id -> transactional id (current and previous ids of each transactional id).
    pub by_producer: BTreeMap<i64, String>,
}

impl Transactions {
    /// The transaction a transactional producer id belongs to.
    pub fn of_producer(&self, producer_id: i64) -> Option<(&str, &TransactionMeta)> {
        let id = self.by_producer.get(&producer_id)?;
        self.by_id.get(id).map(|m| (id.as_str(), m))
    }
}

/// A commit or abort marker stored in a partition's index in place of a control batch.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct TxnMarker {
    /// Producer id of the transaction the marker ends (the id its data was written with).
    pub producer_id: i64,
    /// Producer epoch of the marker (the new epoch when the end bumped it).
    pub producer_epoch: i16,
    /// `true` for a COMMIT marker, `false` for ABORT.
    pub commit: bool,
    /// Kafka's coordinator epoch in the marker's value (Sluice has one coordinator: 0).
    pub coordinator_epoch: i32,
}

/// An aborted transaction's offsets in one partition: data from `first_offset` up to the abort
/// marker at `last_offset`, Fetch's `AbortedTransaction` (Kafka's `AbortedTxn`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The aborted transaction's producer id.
    pub producer_id: i64,
    /// First offset of the transaction's data in the partition (inclusive).
    pub first_offset: i64,
    /// Offset of the abort marker (inclusive).
    pub last_offset: i64,
}

/// Transaction coordinator commands; each names the proposer's clock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum TxnCommand {
    /// InitProducerId with a transactional id: a new producer id for a new id; otherwise the
    /// epoch is bumped, fencing earlier incarnations, and an open transaction is aborted.
    /// `expected` is KIP-360's producer id and epoch the client believes current (v3+).
    InitProducerId {
        /// The producer's `transactional.id`.
        transactional_id: String,
        /// The producer's `transaction.timeout.ms` (ms); the agent checks it against
        /// `transaction.max.timeout.ms`.
        timeout_ms: i32,
        /// KIP-360's (producer id, epoch) the client believes current; PRODUCER_FENCED unless it is
        /// the current or previous pair.
        expected: Option<(i64, i16)>,
        /// Proposer's clock (ms since the Unix epoch).
        now_ms: i64,
    },
    /// AddPartitionsToTxn (the agent checked topics and ACLs).
    AddPartitions {
        /// The producer's `transactional.id`; INVALID_PRODUCER_ID_MAPPING when unknown or of
        /// another producer id.
        transactional_id: String,
        /// The producer id the client holds.
        producer_id: i64,
        /// The producer epoch the client holds; PRODUCER_FENCED when not the current one.
        producer_epoch: i16,
        /// (topic, partition) to add; UNKNOWN_TOPIC_OR_PARTITION (nothing added) when one does not
        /// exist.
        partitions: Vec<(String, i32)>,
        /// Proposer's clock (ms since the Unix epoch); starts the transaction's timeout when it
        /// opens.
        now_ms: i64,
    },
    /// AddOffsetsToTxn.
    AddOffsets {
        /// The producer's `transactional.id`.
        transactional_id: String,
        /// The producer id the client holds.
        producer_id: i64,
        /// The producer epoch the client holds.
        producer_epoch: i16,
        /// The consumer group whose offsets the transaction will commit.
        group: String,
        /// Proposer's clock (ms since the Unix epoch).
        now_ms: i64,
    },
    /// TxnOffsetCommit: offsets staged for `group`, committed with the transaction.
    /// `generation`/`member_id`/`instance_id` are checked as OffsetCommit's (v3+; -1/""
    /// skip the check).
    OffsetCommit {
        /// The producer's `transactional.id`.
        transactional_id: String,
        /// The producer id the client holds.
        producer_id: i64,
        /// The producer epoch the client holds.
        producer_epoch: i16,
        /// The consumer group the offsets are for.
        group: String,
        /// The group generation (or KIP-848 member epoch) of the committing member; -1 skips the
        /// check.
        generation: i32,
        /// The committing member's id; "" skips the check.
        member_id: String,
        /// The member's KIP-345 `group.instance.id`, if static.
        instance_id: Option<String>,
        /// The offsets to stage; a later one for the same partition replaces an earlier one.
        offsets: Vec<OffsetCommitEntry>,
        /// TxnOffsetCommit v5+ (transaction version 2): the group joins the transaction
        /// implicitly, starting it if none is open; earlier versions need AddOffsetsToTxn first.
        #[serde(default)]
        implicit_add: bool,
        /// Proposer's clock (ms since the Unix epoch).
        now_ms: i64,
    },
    /// EndTxn: commit or abort. `bump` is transaction version 2's epoch bump (EndTxn v5+).
    End {
        /// The producer's `transactional.id`; INVALID_PRODUCER_ID_MAPPING when unknown.
        transactional_id: String,
        /// The producer id the client holds.
        producer_id: i64,
        /// The producer epoch the client holds; PRODUCER_FENCED when not the current one.
        producer_epoch: i16,
        /// `true` to commit, `false` to abort.
        commit: bool,
        /// Transaction version 2 (EndTxn v5+): bump the epoch, answered with the new producer id
        /// and epoch.
        bump: bool,
        /// Proposer's clock (ms since the Unix epoch): the markers' and the offsets' time.
        now_ms: i64,
    },
    /// WriteTxnMarkers from an admin (Kafka's `Admin.abortTransaction` for a hanging
    /// transaction): a marker in each listed partition where the producer has an open
    /// transaction. Answers one code per partition.
    WriteMarkers {
        /// The producer whose open transaction ends in the listed partitions.
        producer_id: i64,
        /// The epoch written in the markers (not checked).
        producer_epoch: i16,
        /// `true` for COMMIT markers, `false` for ABORT.
        commit: bool,
        /// (topic, partition); each answers NONE or UNKNOWN_TOPIC_OR_PARTITION.
        partitions: Vec<(String, i32)>,
        /// Proposer's clock (ms since the Unix epoch).
        now_ms: i64,
    },
    /// Aborts transactions open longer than their timeout (with an epoch bump, fencing the
    /// producer) and forgets ids idle past `id_expiration_ms`.
    Expire {
        /// Proposer's clock (ms since the Unix epoch).
        now_ms: i64,
        /// Kafka's `transactional.id.expiration.ms` (ms): ids idle longer with no open
        /// transaction are removed.
        id_expiration_ms: i64,
    },
}

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

/// Ids whose transactions [`TxnCommand::Expire`] would abort or forget at `now_ms`; a
/// proposer asks its replica before proposing.
pub fn expiry_due(txns: &Transactions, now_ms: i64, id_expiration_ms: i64) -> bool {
    txns.by_id.values().any(|m| {
        if m.state == TxnState::Ongoing {
            m.start_ms + i64::from(m.timeout_ms) <= now_ms
        } else {
            m.last_update_ms + id_expiration_ms <= now_ms
        }
    })
}

impl PartitionLog {
    /// The last stable offset (LSO): the first offset of the oldest open transaction, or the
    /// high watermark when none is open. read_committed consumers read below it.
    pub fn last_stable_offset(&self) -> i64 {
        self.open_txns
            .values()
            .copied()
            .min()
            .unwrap_or(self.high_watermark)
            .min(self.high_watermark)
    }

    /// Aborted transactions overlapping `[from, to)`, oldest first (Fetch's
    /// `AbortedTransactions`, as Kafka's `LogSegment.collectAbortedTxns`).
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        self.aborted_txns
            .iter()
            .filter(|a| a.last_offset >= from && a.first_offset < to)
            .copied()
            .collect()
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
