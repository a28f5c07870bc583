//! The metadata state machine's state: every piece of quorum state is one hop from [`MetaState`].
//!
//! This module holds the data and its read-side queries; applying a command to it is
//! [`MetaState::apply`] in [`crate::apply`]. Pure and deterministic: applying reads no clock,
//! no randomness and does no I/O. Time and ids arrive inside commands from the proposer. Agents
//! keep a replica of this same type, fed by the change feed, and answer reads from it.
//!
//! The records it holds are defined below it and re-exported here: topics and their offset
//! indexes ([`crate::topics`]), agents ([`crate::agents`]), idempotent producers
//! ([`crate::producers`]), groups ([`crate::groups`]), transactions ([`crate::txn`]), lifecycle
//! leases ([`crate::lifecycle`]) and tables ([`crate::tables`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::command::PartitionAppendResult;
use crate::groups::Groups;

pub use crate::agents::AgentInfo;
pub use crate::producers::{
    PartitionProducerState, ProducerInfo, ProducerState, SeqEntry, SequenceCheck,
    PRODUCER_BATCH_CACHE, PRODUCER_ID_EXPIRATION_MS,
};
pub use crate::topics::{Chunk, PartitionLog, Topic};

/// The whole quorum state. Serialized (JSON) in raft snapshots and the change feed; a snapshot
/// of an older layout loads too (see the `Deserialize` impl below).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct MetaState {
    /// Kafka's cluster id, set once by [`crate::command::Command::InitCluster`]; empty before.
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

impl MetaState {
    /// Drops one index reference to `object`; at zero it moves to [`MetaState::garbage`].
    pub(crate) fn release_object(&mut self, object: &str) {
        if let Some(n) = self.object_refs.get_mut(object) {
            *n -= 1;
            if *n == 0 {
                self.object_refs.remove(object);
                self.garbage.insert(object.to_string());
            }
        }
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
