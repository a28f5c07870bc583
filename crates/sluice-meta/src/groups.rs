//! Consumer groups (classic protocol): membership, generations, assignments and committed
//! offsets, as quorum state.
//!
//! Kafka's classic group state machine, made pure: a group moves Empty → PreparingRebalance →
//! CompletingRebalance → Stable and back, and `apply` decides every transition from the command
//! alone (time arrives as `now_ms` from the proposer). What is *not* here is liveness: the agent
//! coordinating a group keeps each member's last heartbeat in memory and proposes only changes
//! (a join, a leave, an expiry, the leader's assignment), so a steady group costs no raft writes
//! however often its members heartbeat. Waiting (a JoinGroup held until the rebalance completes,
//! a SyncGroup held until the leader's assignment arrives) is the agent's business too: it
//! watches this state for the generation it was promised.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::codes;
use crate::command::CommandResponse;
use crate::consumer_group::{ConsumerGroup, ConsumerHeartbeat, HeartbeatReply};

/// Kafka's `offset.metadata.max.bytes`.
pub const OFFSET_METADATA_MAX_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka uses on the wire (ListGroups, DescribeGroups).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Every group, by id: one hop from `MetaState::groups`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Groups {
    pub groups: BTreeMap<String, Group>,
    /// Dynamic group configs (`consumer.session.timeout.ms`, `consumer.heartbeat.interval.ms`),
    /// by group id; they outlive the group itself, as in Kafka.
    #[serde(default)]
    pub configs: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Group {
    /// "consumer" for Kafka consumers, "" for groups that only store offsets.
    pub protocol_type: String,
    pub state: GroupState,
    pub generation: i32,
    /// The protocol (assignor) chosen at the last completed rebalance.
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// When the group entered its current state (proposer's clock): rebalance timeouts count
    /// from here.
    pub state_since_ms: i64,
    /// Committed offsets: topic → partition → offset.
    pub offsets: BTreeMap<String, BTreeMap<i32, CommittedOffset>>,
    /// Set for a KIP-848 group (`group.protocol=consumer`); `members` is then empty.
    #[serde(default)]
    pub consumer: Option<ConsumerGroup>,
    /// Set while the rebalance of a group that was Empty waits out
    /// `group.initial.rebalance.delay.ms` (Kafka's InitialDelayedJoin).
    #[serde(default)]
    pub initial_join: Option<InitialJoin>,
}

/// Kafka's InitialDelayedJoin: the first rebalance of an Empty group does not complete when
/// every member has joined but when a wait of `group.initial.rebalance.delay.ms` ends, so that
/// members starting together land in one generation. A new member joining during the wait (of
/// a group still at generation 0) extends it by the delay again, up to the rebalance timeout in
/// all. Deadlines are on the proposer's clock: the coordinator proposes
/// [`GroupCommand::CompleteRebalance`] once its clock passes `deadline_ms`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct InitialJoin {
    /// When the current wait ends (proposer's clock, ms).
    pub deadline_ms: i64,
    /// `group.initial.rebalance.delay.ms` as the coordinator had it when the wait began.
    pub delay_ms: i64,
    /// The length of the current wait (ms).
    pub current_ms: i64,
    /// How much longer the waits may still be extended in all (ms).
    pub remaining_ms: i64,
    /// A new member joined during the current wait.
    pub new_member_added: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// (protocol name, protocol metadata) in the member's order of preference.
    pub protocols: Vec<(String, Vec<u8>)>,
    /// What the leader assigned this member in the current generation.
    pub assignment: Vec<u8>,
    /// Has (re)joined during the current rebalance.
    pub joined: bool,
}

impl Member {
    /// This member's metadata for `protocol`.
    pub fn metadata(&self, protocol: &str) -> &[u8] {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map_or(&[][..], |(_, m)| m)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_ms: i64,
}

/// A JoinGroup as the coordinator proposes it. The member id is always set: the coordinator
/// generates one for a new member (`new_member`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JoinMember {
    pub member_id: String,
    pub new_member: bool,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OffsetCommitEntry {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum GroupCommand {
    Join {
        group: String,
        join: JoinMember,
        now_ms: i64,
        /// The coordinator's `group.initial.rebalance.delay.ms` (0: none; absent in commands
        /// written before it was carried).
        #[serde(default)]
        initial_rebalance_delay_ms: i64,
    },
    /// The leader's SyncGroup: assignments per member id.
    Sync {
        group: String,
        member_id: String,
        generation: i32,
        assignments: Vec<(String, Vec<u8>)>,
        now_ms: i64,
    },
    /// LeaveGroup: (member id, group instance id) per departing member.
    Leave {
        group: String,
        members: Vec<(String, Option<String>)>,
        now_ms: i64,
    },
    /// Members whose session ran out on the coordinator's clock.
    Expire {
        group: String,
        member_ids: Vec<String>,
        now_ms: i64,
    },
    /// The rebalance timeout of `generation`'s successor ran out: members that did not rejoin
    /// are dropped and the rebalance completes without them. During an initial delay
    /// ([`InitialJoin`]) it ends the current wait instead: the wait is extended if a new member
    /// joined and time remains, else the rebalance completes. Ignored before the deadline.
    CompleteRebalance {
        group: String,
        generation: i32,
        now_ms: i64,
    },
    CommitOffsets {
        group: String,
        /// -1 for a commit outside group management.
        generation: i32,
        member_id: String,
        instance_id: Option<String>,
        offsets: Vec<OffsetCommitEntry>,
        now_ms: i64,
    },
    DeleteOffsets {
        group: String,
        partitions: Vec<(String, i32)>,
    },
    DeleteGroups {
        groups: Vec<String>,
    },
    /// A KIP-848 ConsumerGroupHeartbeat that changes something.
    ConsumerHeartbeat {
        group: String,
        heartbeat: ConsumerHeartbeat,
    },
    /// KIP-848 members whose session ran out, or who held revoked partitions past their
    /// rebalance timeout, on the coordinator's clock.
    ConsumerExpire {
        group: String,
        member_ids: Vec<String>,
        #[serde(default)]
        now_ms: i64,
    },
    /// Kafka's `offsets.retention.minutes` (KIP-211): the committed offsets of a group without
    /// members expire `retention_ms` after the later of their commit and the group emptying; a
    /// group left with neither members nor offsets is deleted.
    ExpireOffsets {
        now_ms: i64,
        retention_ms: i64,
    },
    /// Group configs: (name, Some(value)) sets, (name, None) deletes.
    SetConfigs {
        group: String,
        ops: Vec<(String, Option<String>)>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum GroupResponse {
    /// The joiner's response is ready once the group reaches this generation.
    Joined {
        target_generation: i32,
    },
    /// One Kafka error code per item of the command (DeleteGroups).
    Codes(Vec<i16>),
    ConsumerHeartbeat(HeartbeatReply),
}

fn err(code: i16, message: &str) -> CommandResponse {
    CommandResponse::Error {
        code,
        message: message.to_string(),
    }
}

impl Group {
    pub fn new(protocol_type: &str, now_ms: i64) -> Self {
        Group {
            protocol_type: protocol_type.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            state_since_ms: now_ms,
            offsets: BTreeMap::new(),
            consumer: None,
            initial_join: None,
        }
    }

    /// The state as ListGroups and DescribeGroups name it.
    pub fn state_name(&self) -> &'static str {
        match &self.consumer {
            Some(c) => c.state_name(),
            None => self.state.as_str(),
        }
    }

    /// "consumer" for a KIP-848 group, "classic" otherwise (ListGroups' group type).
    pub fn group_type(&self) -> &'static str {
        if self.consumer.is_some() {
            "consumer"
        } else {
            "classic"
        }
    }

    /// Has members of either protocol.
    pub fn has_members(&self) -> bool {
        !self.members.is_empty()
            || self
                .consumer
                .as_ref()
                .is_some_and(|c| !c.members.is_empty())
    }

    pub fn member_by_instance(&self, instance: &str) -> Option<&Member> {
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance))
    }

    /// The longest rebalance timeout of the members: how long a rebalance may wait.
    pub fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms as i64)
            .max()
            .unwrap_or(0)
    }

    fn set_state(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_since_ms = now_ms;
    }

    /// Protocols every member supports, as Kafka checks a joiner against the group.
    fn supports(&self, protocols: &[(String, Vec<u8>)]) -> bool {
        self.members.is_empty()
            || protocols.iter().any(|(p, _)| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(q, _)| q == p))
            })
    }

    fn prepare_rebalance(&mut self, now_ms: i64) {
        if self.state != GroupState::PreparingRebalance {
            self.set_state(GroupState::PreparingRebalance, now_ms);
            for m in self.members.values_mut() {
                m.joined = false;
            }
        }
    }

    fn maybe_complete(&mut self, now_ms: i64) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_join.is_none()
            && self.members.values().all(|m| m.joined)
        {
            self.complete_rebalance(now_ms);
        }
    }

    /// Ends a rebalance: members that did not rejoin are dropped, the generation advances, a
    /// protocol and a leader are chosen.
    fn complete_rebalance(&mut self, now_ms: i64) {
        self.initial_join = None;
        self.members.retain(|_, m| m.joined);
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol = None;
            self.leader = None;
            self.set_state(GroupState::Empty, now_ms);
            return;
        }
        self.protocol = self.choose_protocol();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        for m in self.members.values_mut() {
            m.joined = false;
            m.assignment.clear();
        }
        self.set_state(GroupState::CompletingRebalance, now_ms);
    }

    /// What a due `CompleteRebalance` does: ends the current initial wait (extending it when a
    /// new member came and time remains, as Kafka's `tryCompleteInitialRebalanceElseSchedule`),
    /// or completes a rebalance whose timeout ran out.
    fn initial_wait_over_or_rebalance_timed_out(&mut self, now_ms: i64) {
        match self.initial_join {
            Some(w) if now_ms < w.deadline_ms => {}
            Some(w) if w.new_member_added && w.remaining_ms > 0 => {
                let next = w.delay_ms.min(w.remaining_ms);
                self.initial_join = Some(InitialJoin {
                    deadline_ms: now_ms + next,
                    delay_ms: w.delay_ms,
                    current_ms: next,
                    remaining_ms: (w.remaining_ms - w.current_ms).max(0),
                    new_member_added: false,
                });
            }
            _ => self.complete_rebalance(now_ms),
        }
    }

    /// A member joined: a new one during an initial wait of a generation-0 group extends it;
    /// the first one of an Empty group starts the wait (when the coordinator has a delay).
    fn note_join(&mut self, was_empty: bool, new_member: bool, delay_ms: i64, now_ms: i64) {
        if was_empty && delay_ms > 0 {
            self.initial_join = Some(InitialJoin {
                deadline_ms: now_ms + delay_ms,
                delay_ms,
                current_ms: delay_ms,
                remaining_ms: (self.rebalance_timeout_ms() - delay_ms).max(0),
                new_member_added: false,
            });
        } else if new_member && self.generation == 0 {
            if let Some(w) = &mut self.initial_join {
                w.new_member_added = true;
            }
        }
    }

    /// Kafka's vote: among protocols all members support, each member votes for its most
    /// preferred; most votes wins (ties: the first candidate in the first member's order).
    fn choose_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(p, _)| p.as_str())
            .filter(|p| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(q, _)| q == p))
            })
            .collect();
        let mut votes: Vec<(usize, &str)> = candidates.iter().map(|c| (0, *c)).collect();
        for m in self.members.values() {
            if let Some((p, _)) = m
                .protocols
                .iter()
                .find(|(p, _)| candidates.contains(&p.as_str()))
            {
                if let Some(v) = votes.iter_mut().find(|(_, c)| *c == p.as_str()) {
                    v.0 += 1;
                }
            }
        }
        let best = votes.iter().map(|(n, _)| *n).max()?;
        votes
            .iter()
            .find(|(n, _)| *n == best)
            .map(|(_, p)| p.to_string())
    }

    /// Removes members; the rest rebalance (or the group empties).
    fn remove_members(&mut self, ids: &[String], now_ms: i64) {
        let before = self.members.len();
        for id in ids {
            self.members.remove(id);
        }
        if self.members.len() == before {
            return;
        }
        if self.members.is_empty() {
            self.generation += 1;
            self.protocol = None;
            self.leader = None;
            self.initial_join = None;
            self.set_state(GroupState::Empty, now_ms);
        } else {
            self.prepare_rebalance(now_ms);
            self.maybe_complete(now_ms);
        }
    }
}

impl Groups {
    pub fn get(&self, group: &str) -> Option<&Group> {
        self.groups.get(group)
    }

    /// A topic was deleted: every group's committed offsets for it go with it (Kafka's
    /// `GroupCoordinator.onPartitionsDeleted`). A group left with neither members nor offsets
    /// stays until offset expiry removes it, as in Kafka.
    pub fn forget_topic(&mut self, topic: &str) {
        for g in self.groups.values_mut() {
            g.offsets.remove(topic);
        }
    }

    pub fn apply(&mut self, cmd: &GroupCommand) -> CommandResponse {
        match cmd {
            GroupCommand::Join {
                group,
                join,
                now_ms,
                initial_rebalance_delay_ms,
            } => self.join(group, join, *now_ms, *initial_rebalance_delay_ms),
            GroupCommand::Sync {
                group,
                member_id,
                generation,
                assignments,
                now_ms,
            } => self.sync(group, member_id, *generation, assignments, *now_ms),
            GroupCommand::Leave {
                group,
                members,
                now_ms,
            } => self.leave(group, members, *now_ms),
            GroupCommand::Expire {
                group,
                member_ids,
                now_ms,
            } => {
                if let Some(g) = self.groups.get_mut(group) {
                    g.remove_members(member_ids, *now_ms);
                }
                CommandResponse::Ok
            }
            GroupCommand::CompleteRebalance {
                group,
                generation,
                now_ms,
            } => {
                if let Some(g) = self.groups.get_mut(group) {
                    if g.state == GroupState::PreparingRebalance && g.generation == *generation {
                        g.initial_wait_over_or_rebalance_timed_out(*now_ms);
                    }
                }
                CommandResponse::Ok
            }
            GroupCommand::CommitOffsets {
                group,
                generation,
                member_id,
                instance_id,
                offsets,
                now_ms,
            } => self.commit(
                group,
                *generation,
                member_id,
                instance_id.as_deref(),
                offsets,
                *now_ms,
            ),
            GroupCommand::DeleteOffsets { group, partitions } => {
                let Some(g) = self.groups.get_mut(group) else {
                    return err(codes::GROUP_ID_NOT_FOUND, "The group id does not exist.");
                };
                for (t, p) in partitions {
                    if let Some(parts) = g.offsets.get_mut(t) {
                        parts.remove(p);
                        if parts.is_empty() {
                            g.offsets.remove(t);
                        }
                    }
                }
                CommandResponse::Ok
            }
            GroupCommand::DeleteGroups { groups } => {
                let codes = groups
                    .iter()
                    .map(|id| match self.groups.get(id) {
                        None => codes::GROUP_ID_NOT_FOUND,
                        Some(g) if g.has_members() => codes::NON_EMPTY_GROUP,
                        Some(_) => {
                            self.groups.remove(id);
                            codes::NONE
                        }
                    })
                    .collect();
                CommandResponse::Group(GroupResponse::Codes(codes))
            }
            GroupCommand::ConsumerHeartbeat { group, heartbeat } => {
                self.consumer_heartbeat(group, heartbeat)
            }
            GroupCommand::ConsumerExpire {
                group,
                member_ids,
                now_ms,
            } => {
                if let Some(c) = self.groups.get_mut(group).and_then(|g| g.consumer.as_mut()) {
                    c.remove_members(member_ids, *now_ms);
                }
                CommandResponse::Ok
            }
            GroupCommand::ExpireOffsets {
                now_ms,
                retention_ms,
            } => {
                self.expire_offsets(*now_ms, *retention_ms);
                CommandResponse::Ok
            }
            GroupCommand::SetConfigs { group, ops } => {
                let configs = self.configs.entry(group.clone()).or_default();
                for (k, v) in ops {
                    match v {
                        Some(v) => configs.insert(k.clone(), v.clone()),
                        None => configs.remove(k),
                    };
                }
                if configs.is_empty() {
                    self.configs.remove(group);
                }
                CommandResponse::Ok
            }
        }
    }

    /// (group, topic, partition) of every committed offset due to expire at `now_ms`.
    pub fn expired_offsets(&self, now_ms: i64, retention_ms: i64) -> Vec<(String, String, i32)> {
        let mut out = Vec::new();
        for (id, g) in &self.groups {
            if g.has_members() {
                continue;
            }
            let empty_since = match &g.consumer {
                Some(c) => c.empty_since_ms,
                None => g.state_since_ms,
            };
            for (t, parts) in &g.offsets {
                for (p, o) in parts {
                    if now_ms - o.commit_ms.max(empty_since) > retention_ms {
                        out.push((id.clone(), t.clone(), *p));
                    }
                }
            }
        }
        out
    }

    /// Groups with neither members nor committed offsets: what expiry deletes.
    fn is_husk(g: &Group) -> bool {
        !g.has_members() && g.offsets.is_empty()
    }

    fn expire_offsets(&mut self, now_ms: i64, retention_ms: i64) {
        for (id, t, p) in self.expired_offsets(now_ms, retention_ms) {
            if let Some(g) = self.groups.get_mut(&id) {
                if let Some(parts) = g.offsets.get_mut(&t) {
                    parts.remove(&p);
                    if parts.is_empty() {
                        g.offsets.remove(&t);
                    }
                }
            }
        }
        self.groups.retain(|_, g| !Self::is_husk(g));
    }

    /// Whether an `ExpireOffsets` at `now_ms` would change anything (proposers ask first).
    pub fn offsets_due(&self, now_ms: i64, retention_ms: i64) -> bool {
        !self.expired_offsets(now_ms, retention_ms).is_empty()
            || self.groups.values().any(Self::is_husk)
    }

    fn consumer_heartbeat(&mut self, group: &str, hb: &ConsumerHeartbeat) -> CommandResponse {
        let existing = self.groups.get(group);
        if existing.is_some_and(|g| g.consumer.is_none() && !g.members.is_empty()) {
            return err(
                codes::GROUP_ID_NOT_FOUND,
                &format!("Group {group} is not a consumer group."),
            );
        }
        let mut c = existing
            .and_then(|g| g.consumer.clone())
            .unwrap_or_default();
        match c.heartbeat(hb) {
            Err(e) => err(e.code, &e.message),
            Ok(reply) => {
                // An empty classic group (offsets only) becomes a consumer group.
                let g = self
                    .groups
                    .entry(group.to_string())
                    .or_insert_with(|| Group::new("consumer", hb.now_ms));
                g.protocol_type = "consumer".into();
                g.consumer = Some(c);
                CommandResponse::Group(GroupResponse::ConsumerHeartbeat(reply))
            }
        }
    }

    fn join(&mut self, group: &str, j: &JoinMember, now_ms: i64, delay_ms: i64) -> CommandResponse {
        let g = self
            .groups
            .entry(group.to_string())
            .or_insert_with(|| Group::new(&j.protocol_type, now_ms));
        if g.consumer.as_ref().is_some_and(|c| !c.members.is_empty()) {
            return err(
                codes::INCONSISTENT_GROUP_PROTOCOL,
                "The group uses the consumer protocol (KIP-848).",
            );
        }
        g.consumer = None;
        if g.members.is_empty() {
            g.protocol_type = j.protocol_type.clone();
        } else if g.protocol_type != j.protocol_type || !g.supports(&j.protocols) {
            return err(
                codes::INCONSISTENT_GROUP_PROTOCOL,
                "The group member's supported protocols are incompatible with those of existing members.",
            );
        }
        // A static member rejoining under a new member id takes over its old identity.
        if let Some(inst) = &j.instance_id {
            if let Some(old) = g.member_by_instance(inst).cloned() {
                if old.member_id != j.member_id {
                    if !j.new_member {
                        return err(
                            codes::FENCED_INSTANCE_ID,
                            "The member was fenced by a newer instance with the same group.instance.id.",
                        );
                    }
                    g.members.remove(&old.member_id);
                    let mut m = new_member(j);
                    m.assignment = old.assignment.clone();
                    m.joined = old.joined;
                    g.members.insert(j.member_id.clone(), m);
                    if g.leader.as_deref() == Some(old.member_id.as_str()) {
                        g.leader = Some(j.member_id.clone());
                    }
                    if g.state == GroupState::Stable && old.protocols == j.protocols {
                        // Static membership's point: a restart causes no rebalance.
                        return joined(g.generation);
                    }
                    let target = join_target(g);
                    let was_empty = g.state == GroupState::Empty;
                    g.prepare_rebalance(now_ms);
                    g.members.get_mut(&j.member_id).expect("inserted").joined = true;
                    g.note_join(was_empty, false, delay_ms, now_ms);
                    g.maybe_complete(now_ms);
                    return joined(target);
                }
            }
        }
        let is_leader = g.leader.as_deref() == Some(j.member_id.as_str());
        let state = g.state;
        match g.members.get_mut(&j.member_id) {
            None => {
                if !j.new_member {
                    return err(codes::UNKNOWN_MEMBER_ID, "The member id is not known.");
                }
                let target = join_target(g);
                let was_empty = g.state == GroupState::Empty;
                g.prepare_rebalance(now_ms);
                let mut m = new_member(j);
                m.joined = true;
                g.members.insert(j.member_id.clone(), m);
                g.note_join(was_empty, true, delay_ms, now_ms);
                g.maybe_complete(now_ms);
                joined(target)
            }
            Some(m) => {
                let unchanged = m.protocols == j.protocols;
                m.protocols = j.protocols.clone();
                m.session_timeout_ms = j.session_timeout_ms;
                m.rebalance_timeout_ms = j.rebalance_timeout_ms;
                m.client_id = j.client_id.clone();
                m.client_host = j.client_host.clone();
                let settled = match state {
                    GroupState::CompletingRebalance => unchanged,
                    GroupState::Stable => unchanged && !is_leader,
                    _ => false,
                };
                if settled {
                    // Kafka answers a follower's redundant rejoin with the current generation.
                    return joined(g.generation);
                }
                let target = join_target(g);
                let was_empty = g.state == GroupState::Empty;
                g.prepare_rebalance(now_ms);
                g.members.get_mut(&j.member_id).expect("present").joined = true;
                g.note_join(was_empty, false, delay_ms, now_ms);
                g.maybe_complete(now_ms);
                joined(target)
            }
        }
    }

    fn sync(
        &mut self,
        group: &str,
        member_id: &str,
        generation: i32,
        assignments: &[(String, Vec<u8>)],
        now_ms: i64,
    ) -> CommandResponse {
        let Some(g) = self.groups.get_mut(group) else {
            return err(codes::UNKNOWN_MEMBER_ID, "The group is not known.");
        };
        if let Some(code) = check_member(g, member_id, generation) {
            return err(code, "SyncGroup refused");
        }
        match g.state {
            GroupState::PreparingRebalance => {
                err(codes::REBALANCE_IN_PROGRESS, "The group is rebalancing.")
            }
            GroupState::CompletingRebalance if g.leader.as_deref() == Some(member_id) => {
                for m in g.members.values_mut() {
                    m.assignment = assignments
                        .iter()
                        .find(|(id, _)| *id == m.member_id)
                        .map(|(_, a)| a.clone())
                        .unwrap_or_default();
                }
                g.set_state(GroupState::Stable, now_ms);
                CommandResponse::Ok
            }
            _ => CommandResponse::Ok,
        }
    }

    fn leave(
        &mut self,
        group: &str,
        members: &[(String, Option<String>)],
        now_ms: i64,
    ) -> CommandResponse {
        let Some(g) = self.groups.get_mut(group) else {
            return CommandResponse::Group(GroupResponse::Codes(vec![
                codes::UNKNOWN_MEMBER_ID;
                members.len()
            ]));
        };
        let mut out = Vec::with_capacity(members.len());
        let mut gone = Vec::new();
        for (id, inst) in members {
            let by_instance = inst
                .as_deref()
                .and_then(|i| g.member_by_instance(i))
                .map(|m| m.member_id.clone());
            let code = match (by_instance, inst) {
                (Some(found), _) if id.is_empty() || *id == found => {
                    gone.push(found);
                    codes::NONE
                }
                (Some(_), _) => codes::FENCED_INSTANCE_ID,
                (None, Some(_)) => codes::UNKNOWN_MEMBER_ID,
                (None, None) if g.members.contains_key(id) => {
                    gone.push(id.clone());
                    codes::NONE
                }
                (None, None) => codes::UNKNOWN_MEMBER_ID,
            };
            out.push(code);
        }
        g.remove_members(&gone, now_ms);
        CommandResponse::Group(GroupResponse::Codes(out))
    }

    fn commit(
        &mut self,
        group: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: &[OffsetCommitEntry],
        now_ms: i64,
    ) -> CommandResponse {
        if let Some((code, message)) =
            self.commit_refusal(group, generation, member_id, instance_id)
        {
            return err(code, message);
        }
        self.write_offsets(group, offsets, now_ms);
        CommandResponse::Ok
    }

    /// Why OffsetCommit (or TxnOffsetCommit) by this member and generation would be refused:
    /// a Kafka error code and message, or `None` when it may commit. A commit outside group
    /// management (generation < 0, no members) is always allowed.
    pub fn commit_refusal(
        &self,
        group: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Option<(i16, &'static str)> {
        let Some(g) = self.groups.get(group) else {
            return (generation >= 0)
                .then_some((codes::ILLEGAL_GENERATION, "The group has no generation."));
        };
        if let Some(c) = g.consumer.as_ref().filter(|c| !c.members.is_empty()) {
            return c
                .validate_commit(member_id, generation)
                .map(|code| (code, "OffsetCommit refused"));
        }
        if generation < 0 && g.members.is_empty() {
            // A commit outside group management (admin tools, manual assignment).
            return None;
        }
        if let Some(inst) = instance_id {
            if g.member_by_instance(inst)
                .is_some_and(|m| m.member_id != member_id)
            {
                return Some((codes::FENCED_INSTANCE_ID, "fenced static member"));
            }
        }
        if let Some(code) = check_member(g, member_id, generation) {
            return Some((code, "OffsetCommit refused"));
        }
        if g.state == GroupState::CompletingRebalance {
            return Some((codes::REBALANCE_IN_PROGRESS, "The group is rebalancing."));
        }
        None
    }

    /// Stores committed offsets for `group`, creating it (as a group with no protocol) if it
    /// does not exist: OffsetCommit, and a committed transaction's TxnOffsetCommits.
    pub fn write_offsets(&mut self, group: &str, offsets: &[OffsetCommitEntry], now_ms: i64) {
        let g = self
            .groups
            .entry(group.to_string())
            .or_insert_with(|| Group::new("", now_ms));
        for o in offsets {
            g.offsets.entry(o.topic.clone()).or_default().insert(
                o.partition,
                CommittedOffset {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata: o.metadata.clone(),
                    commit_ms: now_ms,
                },
            );
        }
    }
}

/// The generation a joiner will be answered with: the next one when a rebalance is (or is about
/// to be) under way.
fn join_target(g: &Group) -> i32 {
    g.generation + 1
}

fn joined(target_generation: i32) -> CommandResponse {
    CommandResponse::Group(GroupResponse::Joined { target_generation })
}

fn new_member(j: &JoinMember) -> Member {
    Member {
        member_id: j.member_id.clone(),
        instance_id: j.instance_id.clone(),
        client_id: j.client_id.clone(),
        client_host: j.client_host.clone(),
        session_timeout_ms: j.session_timeout_ms,
        rebalance_timeout_ms: j.rebalance_timeout_ms,
        protocols: j.protocols.clone(),
        assignment: Vec::new(),
        joined: false,
    }
}

/// Kafka's member and generation checks for SyncGroup, Heartbeat and OffsetCommit.
pub fn check_member(g: &Group, member_id: &str, generation: i32) -> Option<i16> {
    if !g.members.contains_key(member_id) {
        return Some(codes::UNKNOWN_MEMBER_ID);
    }
    if g.generation != generation {
        return Some(codes::ILLEGAL_GENERATION);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(id: &str, new: bool, inst: Option<&str>, proto: &[&str]) -> GroupCommand {
        GroupCommand::Join {
            group: "g".into(),
            join: JoinMember {
                member_id: id.into(),
                new_member: new,
                instance_id: inst.map(String::from),
                client_id: "c".into(),
                client_host: String::new(),
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 30_000,
                protocol_type: "consumer".into(),
                protocols: proto.iter().map(|p| (p.to_string(), vec![1])).collect(),
            },
            now_ms: 1,
            initial_rebalance_delay_ms: 0,
        }
    }

    fn target(r: CommandResponse) -> i32 {
        match r {
            CommandResponse::Group(GroupResponse::Joined { target_generation }) => {
                target_generation
            }
            other => panic!("not joined: {other:?}"),
        }
    }

    fn code(r: CommandResponse) -> i16 {
        match r {
            CommandResponse::Error { code, .. } => code,
            _ => 0,
        }
    }

    fn sync(id: &str, generation: i32) -> GroupCommand {
        GroupCommand::Sync {
            group: "g".into(),
            member_id: id.into(),
            generation,
            assignments: vec![("a".into(), vec![7]), ("b".into(), vec![8])],
            now_ms: 2,
        }
    }

    fn commit(id: &str, generation: i32) -> GroupCommand {
        GroupCommand::CommitOffsets {
            group: "g".into(),
            generation,
            member_id: id.into(),
            instance_id: None,
            offsets: vec![OffsetCommitEntry {
                topic: "t".into(),
                partition: 0,
                offset: 5,
                leader_epoch: -1,
                metadata: None,
            }],
            now_ms: 3,
        }
    }

    #[test]
    fn a_lone_member_completes_at_once_and_a_second_waits_for_the_first_to_rejoin() {
        let mut gs = Groups::default();
        assert_eq!(target(gs.apply(&join("a", true, None, &["range"]))), 1);
        let g = gs.get("g").unwrap();
        assert_eq!(
            (g.state, g.generation, g.leader.as_deref()),
            (GroupState::CompletingRebalance, 1, Some("a"))
        );
        assert_eq!(code(gs.apply(&sync("a", 1))), 0);
        assert_eq!(gs.get("g").unwrap().state, GroupState::Stable);

        // b joins: a rebalance starts and waits for a
        assert_eq!(target(gs.apply(&join("b", true, None, &["range"]))), 2);
        assert_eq!(gs.get("g").unwrap().state, GroupState::PreparingRebalance);
        // a's commit of generation 1 is still accepted while preparing (revocation commits)
        assert_eq!(code(gs.apply(&commit("a", 1))), 0);
        assert_eq!(target(gs.apply(&join("a", false, None, &["range"]))), 2);
        let g = gs.get("g").unwrap();
        assert_eq!(
            (g.state, g.generation),
            (GroupState::CompletingRebalance, 2)
        );
        // no commit while the leader's assignment is awaited
        assert_eq!(
            code(gs.apply(&commit("a", 2))),
            codes::REBALANCE_IN_PROGRESS
        );
        // only the leader's sync assigns
        assert_eq!(code(gs.apply(&sync("b", 2))), 0);
        assert_eq!(gs.get("g").unwrap().state, GroupState::CompletingRebalance);
        assert_eq!(code(gs.apply(&sync("a", 1))), codes::ILLEGAL_GENERATION);
        assert_eq!(code(gs.apply(&sync("a", 2))), 0);
        let g = gs.get("g").unwrap();
        assert_eq!(g.state, GroupState::Stable);
        assert_eq!(g.members["b"].assignment, vec![8]);
        assert_eq!(code(gs.apply(&commit("b", 2))), 0);
        assert_eq!(code(gs.apply(&commit("c", 2))), codes::UNKNOWN_MEMBER_ID);
    }

    fn delayed(cmd: GroupCommand, now: i64, delay: i64) -> GroupCommand {
        match cmd {
            GroupCommand::Join { group, join, .. } => GroupCommand::Join {
                group,
                join,
                now_ms: now,
                initial_rebalance_delay_ms: delay,
            },
            other => other,
        }
    }

    fn complete_at(generation: i32, now_ms: i64) -> GroupCommand {
        GroupCommand::CompleteRebalance {
            group: "g".into(),
            generation,
            now_ms,
        }
    }

    #[test]
    fn members_joining_an_empty_group_within_the_initial_delay_share_the_first_generation() {
        let mut gs = Groups::default();
        // a joins an empty group at 1 000 with a 3 000 ms delay (rebalance timeout 30 000)
        assert_eq!(
            target(gs.apply(&delayed(join("a", true, None, &["range"]), 1_000, 3_000))),
            1
        );
        let g = gs.get("g").unwrap();
        assert_eq!(
            g.state,
            GroupState::PreparingRebalance,
            "all joined, yet waiting"
        );
        assert_eq!(
            g.initial_join,
            Some(InitialJoin {
                deadline_ms: 4_000,
                delay_ms: 3_000,
                current_ms: 3_000,
                remaining_ms: 27_000,
                new_member_added: false
            })
        );
        // b and c come 300 ms apart; a proposal before the deadline changes nothing
        for (id, at) in [("b", 1_300), ("c", 1_600)] {
            assert_eq!(
                target(gs.apply(&delayed(join(id, true, None, &["range"]), at, 3_000))),
                1
            );
        }
        gs.apply(&complete_at(0, 3_999));
        assert_eq!(gs.get("g").unwrap().state, GroupState::PreparingRebalance);
        // at the deadline a new member had come: the wait is extended by the delay
        gs.apply(&complete_at(0, 4_000));
        let w = gs.get("g").unwrap().initial_join.unwrap();
        assert_eq!(
            (w.deadline_ms, w.remaining_ms, w.new_member_added),
            (7_000, 24_000, false)
        );
        // nobody new since: the rebalance completes with all three in generation 1
        gs.apply(&complete_at(0, 7_000));
        let g = gs.get("g").unwrap();
        assert_eq!(
            (g.state, g.generation, g.members.len(), g.initial_join),
            (GroupState::CompletingRebalance, 1, 3, None)
        );
        // later rebalances complete as soon as everyone rejoined, without a delay
        gs.apply(&sync("a", 1));
        gs.apply(&delayed(join("d", true, None, &["range"]), 8_000, 3_000));
        for id in ["a", "b", "c"] {
            gs.apply(&delayed(join(id, false, None, &["range"]), 8_001, 3_000));
        }
        let g = gs.get("g").unwrap();
        assert_eq!(
            (g.state, g.generation),
            (GroupState::CompletingRebalance, 2)
        );
    }

    #[test]
    fn the_initial_delay_never_extends_past_the_rebalance_timeout() {
        let mut gs = Groups::default();
        let mut j = join("a", true, None, &["range"]);
        if let GroupCommand::Join { join, .. } = &mut j {
            join.rebalance_timeout_ms = 5_000;
        }
        gs.apply(&delayed(j, 0, 3_000));
        assert_eq!(
            gs.get("g").unwrap().initial_join.unwrap().remaining_ms,
            2_000
        );
        gs.apply(&delayed(join("b", true, None, &["range"]), 100, 3_000));
        gs.apply(&complete_at(0, 3_000));
        let w = gs.get("g").unwrap().initial_join.unwrap();
        assert_eq!(
            (w.deadline_ms, w.current_ms, w.remaining_ms),
            (5_000, 2_000, 0)
        );
        gs.apply(&delayed(join("c", true, None, &["range"]), 4_000, 3_000));
        gs.apply(&complete_at(0, 5_000));
        let g = gs.get("g").unwrap();
        assert_eq!(
            (g.state, g.members.len()),
            (GroupState::CompletingRebalance, 3)
        );
        // a group emptied by its last member's leave waits again on its next first join
        gs.apply(&GroupCommand::Leave {
            group: "g".into(),
            members: ["a", "b", "c"]
                .iter()
                .map(|m| (m.to_string(), None))
                .collect(),
            now_ms: 6_000,
        });
        gs.apply(&delayed(join("e", true, None, &["range"]), 7_000, 3_000));
        let g = gs.get("g").unwrap();
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert_eq!(g.initial_join.unwrap().deadline_ms, 10_000);
    }

    #[test]
    fn rebalance_timeout_drops_laggards_and_the_last_leaver_empties_the_group() {
        let mut gs = Groups::default();
        gs.apply(&join("a", true, None, &["range"]));
        gs.apply(&sync("a", 1));
        gs.apply(&join("b", true, None, &["range"]));
        gs.apply(&GroupCommand::CompleteRebalance {
            group: "g".into(),
            generation: 1,
            now_ms: 40_000,
        });
        let g = gs.get("g").unwrap();
        assert_eq!(g.members.keys().collect::<Vec<_>>(), vec!["b"]);
        assert_eq!((g.generation, g.leader.as_deref()), (2, Some("b")));
        let r = gs.apply(&GroupCommand::Leave {
            group: "g".into(),
            members: vec![("b".into(), None), ("zz".into(), None)],
            now_ms: 50_000,
        });
        assert_eq!(
            r,
            CommandResponse::Group(GroupResponse::Codes(vec![0, codes::UNKNOWN_MEMBER_ID]))
        );
        let g = gs.get("g").unwrap();
        assert_eq!((g.state, g.generation), (GroupState::Empty, 3));
        // an empty group takes commits from outside group management
        assert_eq!(code(gs.apply(&commit("", -1))), 0);
        assert_eq!(gs.get("g").unwrap().offsets["t"][&0].offset, 5);
    }

    #[test]
    fn a_static_member_restarting_takes_its_place_without_a_rebalance() {
        let mut gs = Groups::default();
        gs.apply(&join("a1", true, Some("i-a"), &["range"]));
        gs.apply(&sync("a1", 1));
        assert_eq!(
            target(gs.apply(&join("a2", true, Some("i-a"), &["range"]))),
            1
        );
        let g = gs.get("g").unwrap();
        assert_eq!((g.state, g.generation), (GroupState::Stable, 1));
        assert_eq!(g.leader.as_deref(), Some("a2"));
        assert!(!g.members.contains_key("a1"));
        // the old incarnation is fenced
        assert_eq!(
            code(gs.apply(&join("a1", false, Some("i-a"), &["range"]))),
            codes::FENCED_INSTANCE_ID
        );
    }

    #[test]
    fn incompatible_protocols_are_refused_and_the_vote_picks_a_common_one() {
        let mut gs = Groups::default();
        gs.apply(&join("a", true, None, &["cooperative-sticky", "range"]));
        assert_eq!(
            code(gs.apply(&join("b", true, None, &["roundrobin"]))),
            codes::INCONSISTENT_GROUP_PROTOCOL
        );
        gs.apply(&join("b", true, None, &["range", "cooperative-sticky"]));
        gs.apply(&join("a", false, None, &["cooperative-sticky", "range"]));
        let g = gs.get("g").unwrap();
        assert_eq!(g.state, GroupState::CompletingRebalance);
        assert!(g.protocol.is_some());
    }

    #[test]
    fn only_empty_groups_are_deleted() {
        let mut gs = Groups::default();
        gs.apply(&join("a", true, None, &["range"]));
        gs.groups.insert("e".into(), Group::new("", 0));
        let r = gs.apply(&GroupCommand::DeleteGroups {
            groups: vec!["g".into(), "e".into(), "x".into()],
        });
        assert_eq!(
            r,
            CommandResponse::Group(GroupResponse::Codes(vec![
                codes::NON_EMPTY_GROUP,
                0,
                codes::GROUP_ID_NOT_FOUND
            ]))
        );
        assert!(gs.get("e").is_none() && gs.get("g").is_some());
    }

    #[test]
    fn offsets_of_empty_groups_expire_from_the_later_of_commit_and_emptying() {
        let mut gs = Groups::default();
        // "g": a member commits at 3 and leaves at 50 000; "h": committed outside a group at 3
        gs.apply(&join("a", true, None, &["range"]));
        gs.apply(&sync("a", 1));
        gs.apply(&commit("a", 1));
        gs.apply(&GroupCommand::Leave {
            group: "g".into(),
            members: vec![("a".into(), None)],
            now_ms: 50_000,
        });
        let mut h = commit("", -1);
        if let GroupCommand::CommitOffsets { group, .. } = &mut h {
            *group = "h".into();
        }
        gs.apply(&h);
        let retention = 10_000;
        assert!(gs.offsets_due(20_000, retention));
        assert_eq!(
            gs.expired_offsets(20_000, retention),
            vec![("h".to_string(), "t".to_string(), 0)]
        );
        gs.apply(&GroupCommand::ExpireOffsets {
            now_ms: 20_000,
            retention_ms: retention,
        });
        // h lost its only offset and is gone; g's clock started when it emptied
        assert!(gs.get("h").is_none());
        assert_eq!(gs.get("g").unwrap().offsets["t"][&0].offset, 5);
        assert!(!gs.offsets_due(60_000, retention));
        gs.apply(&GroupCommand::ExpireOffsets {
            now_ms: 60_001,
            retention_ms: retention,
        });
        assert!(gs.get("g").is_none());
    }
}
