//! Applying a committed [`Command`] to the [`MetaState`]: the state machine's one write path.
//!
//! [`MetaState::apply`] dispatches each command: topics, agents, segment commits (offsets,
//! idempotent-producer dedupe), SCRAM users and ACLs are applied here; each other area has its
//! own module under `apply/`, taking `&mut MetaState` ([`txn`], [`tables`], [`lifecycle`],
//! [`share`]), while the groups apply to [`crate::groups::Groups`] alone and answer a
//! [`crate::refusal::Refusal`] or a [`crate::groups::GroupResponse`], mapped to a
//! [`CommandResponse`] here.
//!
//! Layering, bottom to top: the data (`topics`, `producers`, `agents`, the group kinds and
//! `groups`, the data halves of `txn`, `lifecycle`, `tables`, `share_group`), then the
//! commands and responses ([`crate::command`]), then [`MetaState`] ([`crate::state`]), then
//! the [`crate::invariants`], then this module. Nothing below imports it.
//!
//! Deterministic: no clock, no randomness, no I/O; time and ids come inside commands. In tests
//! (and with the `invariants` feature) the [`crate::invariants`] are checked after every command.

pub mod lifecycle;
pub mod share;
pub mod tables;
pub mod txn;

use std::collections::{BTreeMap, VecDeque};

use uuid::Uuid;

use crate::codes;
use crate::command::{
    BatchMeta, BatchOutcome, Command, CommandResponse, PartitionAppend, PartitionAppendResult,
    SegmentCommit,
};
use crate::lifecycle::RetentionDefaults;
use crate::producers::{
    next_seq, PartitionProducerState, ProducerInfo, ProducerState, SeqEntry, SequenceCheck,
};
use crate::state::{
    AgentInfo, Chunk, MetaState, PartitionLog, RecentCommit, Topic, PRODUCER_ID_EXPIRATION_MS,
    RECENT_COMMITS_PER_AGENT, RECENT_COMMIT_TTL_MS,
};

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
            Command::Share(c) => CommandResponse::Share(share::apply(self, c)),
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
            Command::Group(c) => self.groups.apply(c).into(),
            Command::Txn(c) => txn::apply(self, c),
            Command::Table(c) => tables::apply(self, c),
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
        share::forget_topic(self, name);
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
                match txn::admit_batch(&self.transactions, b, &pa.topic, pa.partition) {
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
                    txn::record_batch(
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
    fn apply_retention(&mut self, now_ms: i64, defaults: &RetentionDefaults) {
        // Producer state expires like Kafka's `producer.id.expiration.ms` (1 day): a producer
        // silent that long is forgotten, and its late retries are refused rather than deduplicated.
        self.producers
            .retain(|_, p| p.last_update_ms >= now_ms - PRODUCER_ID_EXPIRATION_MS);
        self.apply_retention_limits(now_ms, defaults);
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
