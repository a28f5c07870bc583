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
//! data; [`crate::apply::txn::admit_batch`] decides there whether a transactional batch may land: its producer
//! must own an Ongoing transaction holding the partition (transaction version 1: added by
//! AddPartitionsToTxn), or, for clients of transaction version 2 (Produce v12+), the
//! partition is added on the fly.
//!
//! Time comes in commands (`now_ms`): the proposer's clock, as everywhere in the state.
//!
//! This module holds the coordinator's data and commands ([`Transactions`], [`TxnCommand`],
//! the [`TxnMarker`] and [`AbortedTxn`] a partition's index keeps); applying the commands to
//! the state is [`crate::apply::txn`].
//!
//! [`Chunk`]: crate::topics::Chunk

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::groups::OffsetCommitEntry;

/// The transaction marker and aborted range a partition's index keeps (defined with the index in
/// [`crate::topics`]).
pub use crate::topics::{AbortedTxn, TxnMarker};

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
