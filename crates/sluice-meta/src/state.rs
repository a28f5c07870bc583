//! The metadata state machine: every piece of quorum state is one hop from [`MetaState`].
//!
//! Pure and deterministic: `apply` reads no clock, no randomness and does no I/O. Time and ids
//! arrive inside commands from the proposer. Agents keep a replica of this same type, fed by the
//! change feed, and answer reads from it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codes;
use crate::command::{
    BatchMeta, BatchOutcome, Command, CommandResponse, PartitionAppend, PartitionAppendResult,
    SegmentCommit,
};
use crate::groups::Groups;

/// How many recent batches per producer and partition are remembered for dedupe (Kafka: 5,
/// matching `max.in.flight.requests.per.connection`).
pub const PRODUCER_BATCH_CACHE: usize = 5;

/// Kafka's default `producer.id.expiration.ms`.
pub const PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;

/// The whole quorum state. Serialized (JSON) in raft snapshots and the change feed; a snapshot
/// of an older layout loads too (see the `Deserialize` impl below).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct MetaState {
    /// Kafka's cluster id, set once by [`Command::InitCluster`]; empty before.
    pub cluster_id: String,
    /// Topics by name.
    pub topics: BTreeMap<String, Topic>,
    /// Registered agents (Kafka's brokers) by node id, as of their last heartbeat.
    pub agents: BTreeMap<i32, AgentInfo>,
    /// Idempotent and transactional producers by producer id; expired after
    /// [`PRODUCER_ID_EXPIRATION_MS`] of silence.
    pub producers: BTreeMap<i64, ProducerState>,
    /// The producer id InitProducerId allocates next (ids start at 0 and are never reused).
    pub next_producer_id: i64,
    /// The lowest node id a new agent may get (ids are never reused).
    pub next_agent_id: i32,
    /// Live index entries per segment object; an object at zero moves to `garbage`.
    pub object_refs: BTreeMap<String, u64>,
    /// Objects no index entry points at any more, for the janitor to delete.
    pub garbage: BTreeSet<String>,
    /// SASL/SCRAM users: name -> mechanism (Kafka's id: 1 = SHA-256, 2 = SHA-512) -> credential.
    #[serde(default)]
    pub scram_users: BTreeMap<String, BTreeMap<i8, ScramCredential>>,
    /// Share groups of snapshots written before the one group-id namespace; moved into
    /// `groups` as they load, so always empty in a live state.
    #[serde(default, rename = "share_groups", skip_serializing)]
    legacy_share_groups: BTreeMap<String, crate::groups::stored::LegacyShareGroup>,
    /// Every group (classic, consumer, share, streams), their committed offsets and configs.
    #[serde(default)]
    pub groups: Groups,
    /// ACLs (CreateAcls / DeleteAcls), read by every agent's authorizer from its replica.
    #[serde(default)]
    pub acls: crate::acl::Acls,
    /// Transactional ids and their transactions (the transaction coordinator, [`crate::txn`]).
    #[serde(default)]
    pub transactions: crate::txn::Transactions,
    /// Storage lifecycle job leases by job name ([`crate::lifecycle`]).
    #[serde(default)]
    pub leases: BTreeMap<String, crate::lifecycle::Lease>,
    /// Topics written as tables: per topic, the table's progress and current metadata file.
    #[serde(default)]
    pub tables: BTreeMap<String, crate::tables::TableState>,
    /// Each agent's latest segment commits with their answers, newest last (at most
    /// [`RECENT_COMMITS_PER_AGENT`], none older than [`RECENT_COMMIT_TTL_MS`]). A commit proposed
    /// again because its first proposal's outcome was unknown (the leader died holding it) is
    /// answered from here instead of being applied twice: segment commits are idempotent by
    /// object key.
    #[serde(default)]
    pub recent_commits: BTreeMap<i32, VecDeque<RecentCommit>>,
}

impl Serialize for MetaState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        MetaState::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for MetaState {
    /// Reads the current layout or an older one, moving the old share groups into the one
    /// group-id namespace.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut state = MetaState::deserialize(deserializer)?;
        let legacy = std::mem::take(&mut state.legacy_share_groups);
        state.groups.adopt_legacy_share_groups(legacy);
        Ok(state)
    }
}

/// A segment commit as [`MetaState::recent_commits`] remembers it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecentCommit {
    /// The segment's object key (unique per upload).
    pub object: String,
    /// The proposer's clock when it was applied (ms since the epoch).
    pub now_ms: i64,
    /// What the commit answered.
    pub results: Vec<PartitionAppendResult>,
}

/// Commits remembered per agent: its committer proposes one segment at a time and retries only
/// the one in hand, so the newest would do; one more covers a retry racing the next commit.
pub const RECENT_COMMITS_PER_AGENT: usize = 2;
/// How long a commit is remembered (ms): longer than any agent retries an unknown outcome.
pub const RECENT_COMMIT_TTL_MS: i64 = 10 * 60 * 1000;

/// A SCRAM credential (defined in `sluice-model`, so the security layer needs no quorum code).
pub use sluice_model::ScramCredential;

/// An agent (Kafka's broker) as its last heartbeat registered it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AgentInfo {
    /// The agent's node id (Kafka's broker id); `< 0` in a heartbeat asking for a fresh one.
    pub agent_id: i32,
    /// The endpoint of the agent's first listener (clients of any other listener name use
    /// `listeners`).
    pub host: String,
    /// The port of `host`.
    pub port: i32,
    /// The agent's rack (Kafka's `broker.rack`), if any.
    pub rack: Option<String>,
    /// Proposer's clock at the last heartbeat; liveness is judged by readers against theirs.
    pub last_seen_ms: i64,
    /// Every advertised listener: (listener name, host, port). Metadata answers a client with
    /// the endpoints of the listener it connected on.
    #[serde(default)]
    pub listeners: Vec<(String, String, i32)>,
}

/// A topic: its id, config overrides and the offset index of each partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Topic {
    /// The topic's name.
    pub name: String,
    /// The topic's id (Kafka's topic id, KIP-516); a re-created topic gets a new one.
    pub id: Uuid,
    /// Overrides only; defaults live with the agent's config.
    pub configs: BTreeMap<String, String>,
    /// The partitions' offset indexes, by partition index.
    pub partitions: Vec<PartitionLog>,
    /// Proposer's clock at creation (ms since the Unix epoch).
    pub created_ms: i64,
}

/// The offset index of one partition.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PartitionLog {
    /// Kafka's log start offset: the first offset still readable (moved by retention and
    /// DeleteRecords).
    pub log_start_offset: i64,
    /// Kafka's high watermark: the offset the next appended record gets (everything below is
    /// committed).
    pub high_watermark: i64,
    /// Base offset -> a run of batches stored contiguously in one object.
    pub chunks: BTreeMap<i64, Chunk>,
    /// Largest timestamp in the log and the base offset of the batch holding it
    /// (ListOffsets MAX_TIMESTAMP).
    pub max_timestamp: i64,
    /// Base offset of the batch holding `max_timestamp`.
    pub max_timestamp_offset: i64,
    /// Producer id -> first offset of its open transaction here; the smallest is the last
    /// stable offset ([`PartitionLog::last_stable_offset`]).
    #[serde(default)]
    pub open_txns: BTreeMap<i64, i64>,
    /// Aborted transactions' offset ranges, oldest first, for read_committed fetches.
    #[serde(default)]
    pub aborted_txns: Vec<crate::txn::AbortedTxn>,
    /// Producer id -> the offsets `(first, last)` of its open transaction's batches here,
    /// coalesced. At an abort they join `aborted_runs`; at a commit they are forgotten.
    #[serde(default)]
    pub open_txn_runs: BTreeMap<i64, Vec<(i64, i64)>>,
    /// The offsets `(first, last)` of aborted transactions' records, sorted, disjoint and
    /// coalesced: what a share group reading committed data archives instead of delivering
    /// (Kafka's `SharePartition` finds them by reading the batches; Sluice's index knows them).
    #[serde(default)]
    pub aborted_runs: Vec<(i64, i64)>,
    /// Log compaction's checkpoint: offsets below it have been cleaned (0: never).
    #[serde(default)]
    pub cleaned_offset: i64,
}

/// A run of batches of one partition, contiguous in one object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Chunk {
    /// The object's key in the object store; empty for a transaction marker.
    pub object: String,
    /// The object's size in bytes.
    pub object_len: u64,
    /// Byte position of the chunk's first batch in the object.
    pub pos: u64,
    /// Length of the chunk in bytes (its batches, back to back).
    pub len: u64,
    /// Offsets covered: `[base, base + records)`.
    pub records: i64,
    /// Largest `maxTimestamp` of the chunk's batches (ms since the Unix epoch); retention and time
    /// lookups use it.
    pub max_timestamp: i64,
    /// A transaction marker in place of stored bytes: the chunk holds one offset, has no
    /// object (`object` empty, `len` 0), and readers render its control batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<crate::txn::TxnMarker>,
}

/// A producer id and epoch, as InitProducerId answers them ([`CommandResponse::Producer`]).
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
    fn push(&mut self, epoch: i16, entry: SeqEntry) {
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

impl PartitionLog {
    /// The chunks holding `offset` and everything after it, in offset order.
    pub fn chunks_from(&self, offset: i64) -> impl Iterator<Item = (i64, &Chunk)> {
        let start = self
            .chunks
            .range(..=offset)
            .next_back()
            .filter(|(b, c)| **b + c.records > offset)
            .map(|(b, _)| *b)
            .unwrap_or(offset);
        self.chunks.range(start..).map(|(b, c)| (*b, c))
    }

    fn append_chunk(&mut self, base: i64, chunk: Chunk, refs: &mut BTreeMap<String, u64>) {
        *refs.entry(chunk.object.clone()).or_default() += 1;
        self.chunks.insert(base, chunk);
    }
}

fn next_seq(seq: i32, records: i64) -> i32 {
    // Sequences wrap at i32::MAX back to 0, as in Kafka.
    ((seq as i64 + records) % (i32::MAX as i64 + 1)) as i32
}

impl MetaState {
    /// Applies one committed command. Deterministic: no clock, no randomness, no I/O.
    /// In tests, the [`crate::invariants`] are checked after every command.
    pub fn apply(&mut self, cmd: &Command) -> CommandResponse {
        let response = self.apply_command(cmd);
        #[cfg(any(test, feature = "invariants"))]
        crate::invariants::assert_holds(self, cmd);
        response
    }

    fn apply_command(&mut self, cmd: &Command) -> CommandResponse {
        match cmd {
            Command::Noop => CommandResponse::Ok,
            Command::InitCluster { cluster_id } => {
                if self.cluster_id.is_empty() {
                    self.cluster_id = cluster_id.clone();
                }
                CommandResponse::Ok
            }
            Command::AgentHeartbeat { agent, now_ms } => self.agent_heartbeat(agent, *now_ms),
            Command::AgentLeave { agent_id } => {
                self.agents.remove(agent_id);
                self.recent_commits.remove(agent_id);
                CommandResponse::Ok
            }
            Command::CreateTopic {
                name,
                id,
                partitions,
                configs,
                now_ms,
            } => self.create_topic(name, *id, *partitions, configs, *now_ms),
            Command::DeleteTopic { name } => {
                self.tables.remove(name);
                self.delete_topic(name)
            }
            Command::CreatePartitions { name, count } => self.create_partitions(name, *count),
            Command::AlterTopicConfigs { name, ops } => {
                let Some(t) = self.topics.get_mut(name) else {
                    return err(codes::UNKNOWN_TOPIC_OR_PARTITION, "unknown topic");
                };
                for (k, v) in ops {
                    match v {
                        Some(v) => t.configs.insert(k.clone(), v.clone()),
                        None => t.configs.remove(k),
                    };
                }
                CommandResponse::Ok
            }
            Command::CommitSegment(c) => self.commit_segment(c),
            Command::Share(c) => CommandResponse::Share(crate::share_group::apply(self, c)),
            Command::InitProducerId {
                producer_id,
                producer_epoch,
                now_ms,
            } => self.init_producer_id(*producer_id, *producer_epoch, *now_ms),
            Command::ApplyRetention { now_ms, defaults } => {
                self.apply_retention(*now_ms, defaults);
                CommandResponse::Ok
            }
            Command::Lifecycle(c) => self.apply_lifecycle(c),
            Command::UpsertScramCredential {
                user,
                mechanism,
                credential,
            } => {
                self.scram_users
                    .entry(user.clone())
                    .or_default()
                    .insert(*mechanism, credential.clone());
                CommandResponse::Ok
            }
            Command::DeleteScramCredential { user, mechanism } => {
                let Some(creds) = self.scram_users.get_mut(user) else {
                    return err(
                        codes::RESOURCE_NOT_FOUND,
                        "Attempt to delete a user credential that does not exist",
                    );
                };
                if creds.remove(mechanism).is_none() {
                    return err(
                        codes::RESOURCE_NOT_FOUND,
                        "Attempt to delete a user credential that does not exist",
                    );
                }
                if creds.is_empty() {
                    self.scram_users.remove(user);
                }
                CommandResponse::Ok
            }
            Command::Group(c) => self.groups.apply(c),
            Command::Txn(c) => crate::txn::apply(self, c),
            Command::Table(c) => crate::tables::apply(self, c),
            Command::CreateAcls { bindings } => {
                // The agent validated them; a replica re-checks so nothing malformed is stored.
                for b in bindings.iter().filter(|b| b.validate().is_ok()) {
                    self.acls.add(b);
                }
                CommandResponse::Ok
            }
            Command::DeleteAcls { filters } => CommandResponse::AclsDeleted(
                filters
                    .iter()
                    .map(|f| self.acls.remove_matching(f))
                    .collect(),
            ),
            Command::ObjectsDeleted { keys } => {
                for k in keys {
                    self.garbage.remove(k);
                }
                CommandResponse::Ok
            }
        }
    }

    fn agent_heartbeat(&mut self, agent: &AgentInfo, now_ms: i64) -> CommandResponse {
        let id = if agent.agent_id >= 0 {
            agent.agent_id
        } else {
            self.next_agent_id
                .max(self.agents.keys().next_back().map_or(0, |k| k + 1))
        };
        self.next_agent_id = self.next_agent_id.max(id + 1);
        let mut info = agent.clone();
        info.agent_id = id;
        info.last_seen_ms = now_ms;
        self.agents.insert(id, info);
        CommandResponse::AgentId(id)
    }

    fn create_topic(
        &mut self,
        name: &str,
        id: Uuid,
        partitions: i32,
        configs: &[(String, String)],
        now_ms: i64,
    ) -> CommandResponse {
        if self.topics.contains_key(name) {
            return err(
                codes::TOPIC_ALREADY_EXISTS,
                &format!("Topic '{name}' already exists."),
            );
        }
        if partitions <= 0 {
            return err(
                codes::INVALID_PARTITIONS,
                "Number of partitions must be larger than 0.",
            );
        }
        let topic = Topic {
            name: name.to_string(),
            id,
            configs: configs.iter().cloned().collect(),
            partitions: (0..partitions).map(|_| PartitionLog::default()).collect(),
            created_ms: now_ms,
        };
        self.topics.insert(name.to_string(), topic);
        CommandResponse::Ok
    }

    fn delete_topic(&mut self, name: &str) -> CommandResponse {
        let Some(topic) = self.topics.remove(name) else {
            return err(
                codes::UNKNOWN_TOPIC_OR_PARTITION,
                "This server does not host this topic-partition.",
            );
        };
        for p in &topic.partitions {
            for c in p.chunks.values() {
                self.release_object(&c.object);
            }
        }
        // Everything else keyed by the topic's name dies with it (Kafka keys it by topic id or
        // deletes it in `onPartitionsDeleted`), so that a topic re-created under the same name
        // starts clean: committed offsets, share-partition states and the share assignments
        // naming it, idempotent producers' sequence state. KIP-848 assignments are keyed by
        // topic id already and follow the next heartbeat's resolution of the subscriptions.
        for ps in self.producers.values_mut() {
            ps.partitions.remove(name);
        }
        self.groups.forget_topic(name);
        crate::share_group::forget_topic(self, name);
        CommandResponse::Ok
    }

    fn create_partitions(&mut self, name: &str, count: i32) -> CommandResponse {
        let Some(t) = self.topics.get_mut(name) else {
            return err(codes::UNKNOWN_TOPIC_OR_PARTITION, "unknown topic");
        };
        let current = t.partitions.len() as i32;
        if count <= current {
            return err(
                codes::INVALID_PARTITIONS,
                &format!("Topic currently has {current} partitions, which is higher than or equal to the requested {count}."),
            );
        }
        t.partitions
            .resize_with(count as usize, PartitionLog::default);
        CommandResponse::Ok
    }

    pub(crate) fn release_object(&mut self, object: &str) {
        if let Some(n) = self.object_refs.get_mut(object) {
            *n -= 1;
            if *n == 0 {
                self.object_refs.remove(object);
                self.garbage.insert(object.to_string());
            }
        }
    }

    fn commit_segment(&mut self, c: &SegmentCommit) -> CommandResponse {
        // A commit proposed again after an unknown outcome: answer as the first time.
        if let Some(prev) = self
            .recent_commits
            .get(&c.agent_id)
            .and_then(|q| q.iter().find(|r| r.object == c.object))
        {
            return CommandResponse::Committed(prev.results.clone());
        }
        // An object the janitor may be deleting as an orphan must not become referenced.
        if c.max_age_ms > 0 && c.now_ms.saturating_sub(c.uploaded_ms) > c.max_age_ms {
            return err(
                codes::REQUEST_TIMED_OUT,
                "segment object too old to commit (the janitor may delete it); upload it again",
            );
        }
        let mut results = Vec::with_capacity(c.partitions.len());
        let refs_before = self.object_refs.get(&c.object).copied().unwrap_or(0);
        for pa in &c.partitions {
            results.push(self.append_partition(c, pa));
        }
        // A segment none of whose batches landed is garbage from the start.
        if self.object_refs.get(&c.object).copied().unwrap_or(0) == refs_before && refs_before == 0
        {
            self.garbage.insert(c.object.clone());
        }
        self.remember_commit(c, &results);
        CommandResponse::Committed(results)
    }

    /// Adds `c` to [`recent_commits`](Self::recent_commits) and forgets what is too old (by the
    /// proposer's clock in the command, so every replica forgets the same).
    fn remember_commit(&mut self, c: &SegmentCommit, results: &[PartitionAppendResult]) {
        let horizon = c.now_ms.saturating_sub(RECENT_COMMIT_TTL_MS);
        self.recent_commits.retain(|_, q| {
            q.retain(|r| r.now_ms >= horizon);
            !q.is_empty()
        });
        let q = self.recent_commits.entry(c.agent_id).or_default();
        q.push_back(RecentCommit {
            object: c.object.clone(),
            now_ms: c.now_ms,
            results: results.to_vec(),
        });
        while q.len() > RECENT_COMMITS_PER_AGENT {
            q.pop_front();
        }
    }

    fn append_partition(
        &mut self,
        c: &SegmentCommit,
        pa: &PartitionAppend,
    ) -> PartitionAppendResult {
        let reject_all = |code: i16| PartitionAppendResult {
            outcomes: vec![BatchOutcome::Rejected { error_code: code }; pa.batches.len()],
            log_start_offset: -1,
        };
        let Some(topic) = self.topics.get_mut(&pa.topic) else {
            return reject_all(codes::UNKNOWN_TOPIC_OR_PARTITION);
        };
        if topic.id != pa.topic_id
            || pa.partition < 0
            || pa.partition as usize >= topic.partitions.len()
        {
            return reject_all(codes::UNKNOWN_TOPIC_OR_PARTITION);
        }
        let log = &mut topic.partitions[pa.partition as usize];
        let mut outcomes = Vec::with_capacity(pa.batches.len());
        // Accepted batches that are byte-contiguous coalesce into one chunk.
        let mut run: Option<(i64, Chunk)> = None;
        for b in &pa.batches {
            // A transactional batch needs its producer's transaction to hold the partition.
            let mut add_to_txn = false;
            if b.transactional {
                match crate::txn::admit_batch(&self.transactions, b, &pa.topic, pa.partition) {
                    Ok(add) => add_to_txn = add,
                    Err(error_code) => {
                        outcomes.push(
                            duplicate_of(&self.producers, &pa.topic, pa.partition, b)
                                .unwrap_or(BatchOutcome::Rejected { error_code }),
                        );
                        continue;
                    }
                }
            }
            let outcome = check_sequence(
                &mut self.producers,
                &pa.topic,
                pa.partition,
                b,
                log.high_watermark,
                c.now_ms,
            );
            if let BatchOutcome::Appended { base_offset } = outcome {
                if b.transactional {
                    crate::txn::record_batch(
                        &mut self.transactions,
                        log,
                        b.producer_id,
                        (&pa.topic, pa.partition),
                        (base_offset, b.records),
                        add_to_txn,
                        c.now_ms,
                    );
                }
                log.high_watermark += b.records;
                if b.max_timestamp > log.max_timestamp || log.chunks.is_empty() && run.is_none() {
                    log.max_timestamp = b.max_timestamp;
                    log.max_timestamp_offset = base_offset;
                }
                match &mut run {
                    Some((_, ch)) if ch.pos + ch.len == b.pos => {
                        ch.len += b.len;
                        ch.records += b.records;
                        ch.max_timestamp = ch.max_timestamp.max(b.max_timestamp);
                    }
                    _ => {
                        if let Some((base, ch)) = run.take() {
                            log.append_chunk(base, ch, &mut self.object_refs);
                        }
                        run = Some((
                            base_offset,
                            Chunk {
                                object: c.object.clone(),
                                object_len: c.object_len,
                                pos: b.pos,
                                len: b.len,
                                records: b.records,
                                max_timestamp: b.max_timestamp,
                                marker: None,
                            },
                        ));
                    }
                }
            }
            outcomes.push(outcome);
        }
        if let Some((base, ch)) = run {
            log.append_chunk(base, ch, &mut self.object_refs);
        }
        PartitionAppendResult {
            outcomes,
            log_start_offset: log.log_start_offset,
        }
    }

    fn init_producer_id(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        now_ms: i64,
    ) -> CommandResponse {
        if producer_id >= 0 {
            // KIP-360: an existing producer bumps its epoch to recover from a fatal error.
            let Some(ps) = self.producers.get_mut(&producer_id) else {
                return err(codes::UNKNOWN_PRODUCER_ID, "unknown producer id");
            };
            if ps.epoch != producer_epoch {
                return err(codes::PRODUCER_FENCED, "producer epoch does not match");
            }
            if ps.epoch == i16::MAX - 1 {
                // Epoch exhausted: hand out a new id instead.
                return self.init_producer_id(-1, -1, now_ms);
            }
            ps.epoch += 1;
            ps.last_update_ms = now_ms;
            // Kafka answers an idempotent producer's InitProducerId with a fresh id, which no
            // partition has state for; the bumped epoch stands in for it, so it starts clean.
            ps.partitions.clear();
            return CommandResponse::Producer(ProducerInfo {
                producer_id,
                producer_epoch: ps.epoch,
            });
        }
        let id = self.allocate_producer_id(now_ms);
        CommandResponse::Producer(ProducerInfo {
            producer_id: id,
            producer_epoch: 0,
        })
    }

    /// The next producer id, registered as a producer at epoch 0 (idempotent producers, and
    /// transactional ids' new and rotated ids in [`crate::txn`]).
    pub(crate) fn allocate_producer_id(&mut self, now_ms: i64) -> i64 {
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        self.producers.insert(
            id,
            ProducerState {
                epoch: 0,
                last_update_ms: now_ms,
                partitions: BTreeMap::new(),
            },
        );
        id
    }

    fn apply_retention(&mut self, now_ms: i64, defaults: &crate::lifecycle::RetentionDefaults) {
        // Producer state expires like Kafka's `producer.id.expiration.ms` (1 day): a producer
        // silent that long is forgotten, and its late retries are refused rather than deduplicated.
        self.producers
            .retain(|_, p| p.last_update_ms >= now_ms - PRODUCER_ID_EXPIRATION_MS);
        self.apply_retention_limits(now_ms, defaults);
    }

    // ---- reads ----

    /// The topic named `name`, if any.
    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.get(name)
    }

    /// The topic whose id is `id`, if any (a linear scan over topics).
    pub fn topic_by_id(&self, id: Uuid) -> Option<&Topic> {
        self.topics.values().find(|t| t.id == id)
    }

    /// The offset index of `topic`'s partition `partition`; `None` for an unknown topic or a
    /// partition out of range.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionLog> {
        let t = self.topics.get(topic)?;
        if partition < 0 {
            return None;
        }
        t.partitions.get(partition as usize)
    }

    /// Agents heard from within `session_ms` of `now_ms` (the reader's clock).
    pub fn live_agents(&self, now_ms: i64, session_ms: i64) -> Vec<&AgentInfo> {
        self.agents
            .values()
            .filter(|a| a.last_seen_ms + session_ms >= now_ms)
            .collect()
    }
}

/// The earlier append of `b` if it is a producer's retry of a batch in the log.
fn duplicate_of(
    producers: &BTreeMap<i64, ProducerState>,
    topic: &str,
    partition: i32,
    b: &BatchMeta,
) -> Option<BatchOutcome> {
    let last_seq = next_seq(b.base_sequence, b.records - 1);
    let state = producers
        .get(&b.producer_id)?
        .partitions
        .get(topic)?
        .get(&partition)?;
    match state.check(b.producer_epoch, b.base_sequence, last_seq) {
        SequenceCheck::Duplicate(base_offset) => Some(BatchOutcome::Duplicate { base_offset }),
        _ => None,
    }
}

/// Decides whether a batch is new, a duplicate, or out of order
/// ([`PartitionProducerState::check`]), and records it if new.
fn check_sequence(
    producers: &mut BTreeMap<i64, ProducerState>,
    topic: &str,
    partition: i32,
    b: &BatchMeta,
    next_offset: i64,
    now_ms: i64,
) -> BatchOutcome {
    if b.producer_id < 0 {
        return BatchOutcome::Appended {
            base_offset: next_offset,
        };
    }
    let last_seq = next_seq(b.base_sequence, b.records - 1);
    let ps = producers
        .entry(b.producer_id)
        .or_insert_with(|| ProducerState {
            epoch: b.producer_epoch,
            last_update_ms: now_ms,
            partitions: BTreeMap::new(),
        });
    let state = ps.partitions.get(topic).and_then(|p| p.get(&partition));
    match state.map(|s| s.check(b.producer_epoch, b.base_sequence, last_seq)) {
        Some(SequenceCheck::Duplicate(base_offset)) => {
            return BatchOutcome::Duplicate { base_offset }
        }
        Some(SequenceCheck::Reject(error_code)) => return BatchOutcome::Rejected { error_code },
        Some(SequenceCheck::Append) | None => {}
    }
    ps.epoch = ps.epoch.max(b.producer_epoch);
    ps.last_update_ms = now_ms;
    ps.partitions
        .entry(topic.to_string())
        .or_default()
        .entry(partition)
        .or_insert_with(|| PartitionProducerState {
            epoch: b.producer_epoch,
            batches: VecDeque::new(),
        })
        .push(
            b.producer_epoch,
            SeqEntry {
                first_seq: b.base_sequence,
                last_seq,
                base_offset: next_offset,
                timestamp: b.max_timestamp,
            },
        );
    BatchOutcome::Appended {
        base_offset: next_offset,
    }
}

fn err(code: i16, message: &str) -> CommandResponse {
    CommandResponse::Error {
        code,
        message: message.to_string(),
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
