//! KIP-848 consumer groups (`group.protocol=consumer`): the group epoch, the target assignment
//! computed by a server-side assignor, and each member's reconciliation toward it, as quorum
//! state.
//!
//! A heartbeat is a pure function of (group, request): [`ConsumerGroup::heartbeat`]. The agent
//! coordinating the group runs it first on a copy of its replica's group; when that changes
//! nothing (a steady member heartbeating) it answers from the copy and the quorum never hears of
//! it. Only heartbeats that change something (a join, a leave, a subscription or topic change, a
//! member moving to a new epoch or acknowledging a revocation) become a raft command, which runs
//! the same function authoritatively. So a steady group of 100 members costs no raft writes; a
//! rebalance costs about two per member (one to learn its revocations or new epoch, one to
//! acknowledge them). Liveness (session timeouts) stays in the coordinator's memory, as for
//! classic groups, which proposes an expiry when a session runs out.
//!
//! Reconciliation follows Kafka's CurrentAssignmentBuilder: a member whose assignment must
//! shrink first gets its current assignment minus the revoked partitions, at its current epoch
//! (UNREVOKED_PARTITIONS); once it reports that it no longer owns them it moves to the target
//! epoch and gets the partitions it gains, except those another member still owns, which it gets
//! on a later heartbeat (UNRELEASED_PARTITIONS). No partition is ever owned by two members.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::assignor::{self, Assignment, MemberSpec, TopicSpec};
use crate::codes;

pub const FENCED_MEMBER_EPOCH: i16 = 110;
pub const UNRELEASED_INSTANCE_ID: i16 = 111;
pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
pub const STALE_MEMBER_EPOCH: i16 = 113;

/// Member epochs with a meaning of their own.
pub const JOIN_EPOCH: i32 = 0;
pub const LEAVE_EPOCH: i32 = -1;
pub const STATIC_LEAVE_EPOCH: i32 = -2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberState {
    Stable,
    /// Must give up `pending_revocation` before moving to the target epoch.
    UnrevokedPartitions,
    /// At the target epoch, waiting for partitions other members still own.
    UnreleasedPartitions,
}

impl MemberState {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Stable => "stable",
            MemberState::UnrevokedPartitions => "unrevoked_partitions",
            MemberState::UnreleasedPartitions => "unreleased_partitions",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
    /// When the member was asked to revoke (proposer's clock): the rebalance timeout counts
    /// from here.
    pub revoking_since_ms: i64,
}

/// A topic as the proposer's replica saw it when the command was made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    /// Racks with live agents, which serve every partition (KIP-1101: a change rebalances).
    pub racks: Vec<String>,
}

/// Kafka's `ConsumerGroup.ConsumerGroupState`, as ListGroups and ConsumerGroupDescribe name it.
/// `Dead` is what a group that does not exist is described as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsumerGroupState {
    Empty,
    Assigning,
    Reconciling,
    Stable,
    Dead,
}

impl ConsumerGroupState {
    /// The name Kafka uses on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
            ConsumerGroupState::Dead => "Dead",
        }
    }
}

/// One KIP-848 consumer group (Kafka's `ConsumerGroup`): group epoch, target assignment and
/// members reconciling toward it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConsumerGroup {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    /// The target assignment of `assignment_epoch`, per member.
    pub target: BTreeMap<String, Assignment>,
    /// The topics the members' subscriptions resolved to when the target was computed.
    pub subscribed: BTreeMap<String, TopicMeta>,
    /// The assignor that computed the target.
    pub assignor: String,
    /// When the last member left (proposer's clock): committed offsets expire from here.
    #[serde(default)]
    pub empty_since_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConsumerHeartbeat {
    /// Always set: the client's (v1) or one the coordinator generated (v0 join).
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    /// -1: unchanged.
    pub rebalance_timeout_ms: i32,
    /// None: unchanged.
    pub subscribed_topic_names: Option<Vec<String>>,
    /// None: unchanged; Some(""): no regex.
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// The partitions the member owns; None when unchanged since its last heartbeat.
    pub owned: Option<Vec<(Uuid, Vec<i32>)>>,
    pub client_id: String,
    pub client_host: String,
    /// Every topic any subscription of the group (this request's included) matches.
    pub topics: Vec<TopicMeta>,
    /// `group.consumer.max.size`.
    pub max_size: i32,
    pub now_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HeartbeatReply {
    pub member_id: String,
    pub member_epoch: i32,
    /// Sent when it changed, on a join, and when the member told what it owns.
    pub assignment: Option<Assignment>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatError {
    pub code: i16,
    pub message: String,
}

fn fail(code: i16, message: impl Into<String>) -> Result<HeartbeatReply, HeartbeatError> {
    Err(HeartbeatError {
        code,
        message: message.into(),
    })
}

/// Kafka's member check of an OffsetCommit or OffsetFetch by a KIP-848 or streams member
/// (generation = member epoch), given the epoch the group knows for the member (`None`: not a
/// member): UNKNOWN_MEMBER_ID, else `newer` for an epoch ahead of the member's (Kafka:
/// FENCED_MEMBER_EPOCH for consumer groups, STALE_MEMBER_EPOCH for streams groups),
/// STALE_MEMBER_EPOCH for an older one. Commits outside group management are let through by the
/// caller ([`crate::groups::Groups::commit_refusal`]), as Kafka's `validateOffsetCommit`.
pub fn member_epoch_refusal(known: Option<i32>, member_epoch: i32, newer: i16) -> Option<i16> {
    let Some(known) = known else {
        return Some(codes::UNKNOWN_MEMBER_ID);
    };
    if member_epoch > known {
        Some(newer)
    } else if member_epoch < known {
        Some(STALE_MEMBER_EPOCH)
    } else {
        None
    }
}

/// Does `regex` (RE2 syntax, as Kafka's RE2/J) match the whole of `topic`?
pub fn regex_matches(re: &regex::Regex, topic: &str) -> bool {
    re.find(topic)
        .is_some_and(|m| m.start() == 0 && m.end() == topic.len())
}

/// Compiles a subscription regex; anchored at both ends as Kafka's `matches()`.
pub fn compile_regex(re: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{re})$"))
}

fn is_internal(topic: &str) -> bool {
    topic.starts_with("__")
}

impl ConsumerMember {
    fn new(member_id: &str) -> Self {
        ConsumerMember {
            member_id: member_id.to_string(),
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            subscribed_topic_names: Vec::new(),
            subscribed_topic_regex: None,
            server_assignor: None,
            rebalance_timeout_ms: 300_000,
            member_epoch: 0,
            previous_member_epoch: 0,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            revoking_since_ms: 0,
        }
    }

    /// The names of `topics` this member's subscription matches.
    pub fn matches<'a>(&self, topics: impl Iterator<Item = &'a str>) -> BTreeSet<String> {
        let re = self
            .subscribed_topic_regex
            .as_deref()
            .and_then(|r| compile_regex(r).ok());
        topics
            .filter(|t| {
                self.subscribed_topic_names.iter().any(|n| n == t)
                    || re
                        .as_ref()
                        .is_some_and(|re| !is_internal(t) && regex_matches(re, t))
            })
            .map(String::from)
            .collect()
    }
}

fn flatten(a: &Assignment) -> BTreeSet<(Uuid, i32)> {
    a.iter()
        .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
        .collect()
}

fn group(set: impl IntoIterator<Item = (Uuid, i32)>) -> Assignment {
    let mut a = Assignment::new();
    for (t, p) in set {
        a.entry(t).or_default().insert(p);
    }
    a
}

impl ConsumerGroup {
    /// Kafka's `ConsumerGroup.maybeUpdateGroupState`: Empty without members, Assigning while
    /// the target assignment lags the group epoch, Reconciling while a member has not reached
    /// it, Stable otherwise. Derived from the members on every call, so it is never stale.
    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| m.member_epoch != self.assignment_epoch || m.state != MemberState::Stable)
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The member holding the static `group.instance.id` `instance`.
    pub fn member_by_instance(&self, instance: &str) -> Option<&ConsumerMember> {
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance))
    }

    /// Partitions owned (assigned or still being revoked) by members other than `except`.
    fn owned_by_others(&self, except: &str) -> BTreeSet<(Uuid, i32)> {
        let mut out = BTreeSet::new();
        for (id, m) in &self.members {
            if id != except {
                out.extend(flatten(&m.assigned));
                out.extend(flatten(&m.pending_revocation));
            }
        }
        out
    }

    /// The assignor the group uses: the one most members ask for, `uniform` by default.
    fn choose_assignor(&self) -> String {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = m.server_assignor.as_deref() {
                *votes.entry(a).or_default() += 1;
            }
        }
        let best = votes.values().copied().max().unwrap_or(0);
        votes
            .into_iter()
            .find(|(_, n)| *n == best && best > 0)
            .map_or(assignor::UNIFORM.to_string(), |(a, _)| a.to_string())
    }

    /// Re-resolves the subscriptions against `topics`; true if the result changed.
    fn refresh_subscriptions(&mut self, topics: &[TopicMeta]) -> bool {
        let mut now = BTreeMap::new();
        for m in self.members.values() {
            for name in m.matches(topics.iter().map(|t| t.name.as_str())) {
                if let Some(t) = topics.iter().find(|t| t.name == name) {
                    now.insert(name, t.clone());
                }
            }
        }
        if now != self.subscribed {
            self.subscribed = now;
            true
        } else {
            false
        }
    }

    /// Computes the target assignment of the current group epoch.
    fn compute_target(&mut self) {
        let assignor_name = self.choose_assignor();
        let topics: BTreeMap<Uuid, TopicSpec<'_>> = self
            .subscribed
            .values()
            .map(|t| {
                (
                    t.id,
                    TopicSpec {
                        partitions: t.partitions,
                        racks: &t.racks,
                    },
                )
            })
            .collect();
        let specs: Vec<MemberSpec<'_>> = self
            .members
            .values()
            .map(|m| MemberSpec {
                member_id: &m.member_id,
                rack: m.rack_id.as_deref(),
                topics: m
                    .matches(self.subscribed.keys().map(String::as_str))
                    .iter()
                    .filter_map(|n| self.subscribed.get(n).map(|t| t.id))
                    .collect(),
            })
            .collect();
        let target = assignor::assign(&assignor_name, &specs, &topics, &self.target);
        self.target = target;
        self.assignor = assignor_name;
        self.assignment_epoch = self.group_epoch;
    }

    /// A membership or subscription change: a new group epoch and its target assignment.
    /// The subscriptions must already be refreshed.
    fn bump(&mut self) {
        self.group_epoch += 1;
        self.compute_target();
    }

    /// Removes members (leave, expiry, fencing); the rest rebalance.
    pub fn remove_members(&mut self, ids: &[String], now_ms: i64) -> bool {
        let before = self.members.len();
        for id in ids {
            self.members.remove(id);
            self.target.remove(id);
        }
        if self.members.len() == before {
            return false;
        }
        if self.members.is_empty() {
            self.empty_since_ms = now_ms;
        }
        let topics: Vec<TopicMeta> = self.subscribed.values().cloned().collect();
        self.refresh_subscriptions(&topics);
        self.bump();
        true
    }

    /// Moves `member_id` toward the target assignment (Kafka's CurrentAssignmentBuilder).
    fn reconcile(&mut self, member_id: &str, owned: Option<&BTreeSet<(Uuid, i32)>>, now_ms: i64) {
        let others = self.owned_by_others(member_id);
        let target_epoch = self.assignment_epoch;
        let target = flatten(self.target.get(member_id).unwrap_or(&Assignment::new()));
        let m = self
            .members
            .get_mut(member_id)
            .expect("reconciled member exists");
        match m.state {
            MemberState::UnrevokedPartitions => {
                let revoked = flatten(&m.pending_revocation);
                let still_owns = owned.is_none_or(|o| !o.is_disjoint(&revoked));
                if still_owns {
                    return;
                }
            }
            MemberState::Stable if m.member_epoch == target_epoch => return,
            _ => {}
        }
        let current = flatten(&m.assigned);
        let kept: BTreeSet<_> = current.intersection(&target).copied().collect();
        let revoke: BTreeSet<_> = current.difference(&target).copied().collect();
        if !revoke.is_empty() {
            m.state = MemberState::UnrevokedPartitions;
            m.assigned = group(kept);
            m.pending_revocation = group(revoke);
            m.revoking_since_ms = now_ms;
            return;
        }
        let gained: BTreeSet<_> = target.difference(&current).copied().collect();
        let free: BTreeSet<_> = gained.difference(&others).copied().collect();
        m.state = if free.len() < gained.len() {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        };
        m.assigned = group(kept.into_iter().chain(free));
        m.pending_revocation.clear();
        if m.member_epoch != target_epoch {
            m.previous_member_epoch = m.member_epoch;
            m.member_epoch = target_epoch;
        }
    }

    /// One ConsumerGroupHeartbeat, applied. Deterministic: everything comes from `self` and
    /// `hb`.
    pub fn heartbeat(&mut self, hb: &ConsumerHeartbeat) -> Result<HeartbeatReply, HeartbeatError> {
        let id = hb.member_id.as_str();
        if hb.member_epoch == LEAVE_EPOCH || hb.member_epoch == STATIC_LEAVE_EPOCH {
            return self.leave(hb);
        }
        let mut joined = false;
        if hb.member_epoch == JOIN_EPOCH {
            if let Some(inst) = &hb.instance_id {
                if let Some(old) = self.member_by_instance(inst).cloned() {
                    if old.member_id != id {
                        if old.member_epoch != STATIC_LEAVE_EPOCH {
                            return fail(
                                UNRELEASED_INSTANCE_ID,
                                format!("Static member {inst} is still in use by another member."),
                            );
                        }
                        // A static member coming back: it takes over its predecessor's place,
                        // assignment and epoch, without a rebalance.
                        self.members.remove(&old.member_id);
                        if let Some(t) = self.target.remove(&old.member_id) {
                            self.target.insert(id.to_string(), t);
                        }
                        let mut m = old;
                        m.member_id = id.to_string();
                        m.member_epoch = m.previous_member_epoch.max(0);
                        self.members.insert(id.to_string(), m);
                    }
                }
            }
            if !self.members.contains_key(id) {
                if hb.max_size > 0 && self.members.len() >= hb.max_size as usize {
                    return fail(
                        GROUP_MAX_SIZE_REACHED,
                        format!(
                            "The consumer group has reached its maximum size of {}.",
                            hb.max_size
                        ),
                    );
                }
                self.members.insert(id.to_string(), ConsumerMember::new(id));
                joined = true;
            }
        } else {
            let Some(m) = self.members.get(id) else {
                return fail(
                    codes::UNKNOWN_MEMBER_ID,
                    format!("Member {id} is not a member of the group."),
                );
            };
            if hb.instance_id.is_some() && m.instance_id != hb.instance_id {
                return fail(
                    codes::FENCED_INSTANCE_ID,
                    "The member's group.instance.id does not match.",
                );
            }
            if hb.member_epoch != m.member_epoch {
                let owned_ok = hb.owned.as_ref().is_some_and(|o| {
                    let assigned = flatten(&m.assigned);
                    o.iter()
                        .all(|(t, ps)| ps.iter().all(|p| assigned.contains(&(*t, *p))))
                });
                if !(hb.member_epoch == m.previous_member_epoch && owned_ok) {
                    return fail(
                        FENCED_MEMBER_EPOCH,
                        format!(
                            "The member epoch {} does not match the expected epoch {}.",
                            hb.member_epoch, m.member_epoch
                        ),
                    );
                }
            }
        }
        // A rejoin (epoch 0) is a full heartbeat: the member owns nothing it reported.
        let m = self.members.get_mut(id).expect("member present");
        let before = (m.member_epoch, m.assigned.clone());
        let mut subscription_changed = joined;
        if let Some(names) = &hb.subscribed_topic_names {
            let mut names = names.clone();
            names.sort();
            names.dedup();
            if names != m.subscribed_topic_names {
                m.subscribed_topic_names = names;
                subscription_changed = true;
            }
        }
        if let Some(re) = &hb.subscribed_topic_regex {
            let re = (!re.is_empty()).then(|| re.clone());
            if re != m.subscribed_topic_regex {
                m.subscribed_topic_regex = re;
                subscription_changed = true;
            }
        }
        if hb.server_assignor.is_some() && hb.server_assignor != m.server_assignor {
            m.server_assignor = hb.server_assignor.clone();
            subscription_changed = true;
        }
        if hb.rack_id.is_some() && hb.rack_id != m.rack_id {
            m.rack_id = hb.rack_id.clone();
            subscription_changed = true;
        }
        if hb.instance_id.is_some() {
            m.instance_id = hb.instance_id.clone();
        }
        if hb.rebalance_timeout_ms > 0 {
            m.rebalance_timeout_ms = hb.rebalance_timeout_ms;
        }
        if !hb.client_id.is_empty() {
            m.client_id = hb.client_id.clone();
        }
        if !hb.client_host.is_empty() {
            m.client_host = hb.client_host.clone();
        }
        let topics_changed = self.refresh_subscriptions(&hb.topics);
        if subscription_changed || topics_changed {
            self.bump();
        }
        let owned: Option<BTreeSet<(Uuid, i32)>> = if hb.member_epoch == JOIN_EPOCH {
            Some(BTreeSet::new())
        } else {
            hb.owned.as_ref().map(|o| {
                o.iter()
                    .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
                    .collect()
            })
        };
        self.reconcile(id, owned.as_ref(), hb.now_ms);
        let m = &self.members[id];
        let changed = before != (m.member_epoch, m.assigned.clone());
        let send = hb.member_epoch == JOIN_EPOCH || hb.owned.is_some() || changed;
        Ok(HeartbeatReply {
            member_id: id.to_string(),
            member_epoch: m.member_epoch,
            assignment: send.then(|| m.assigned.clone()),
        })
    }

    fn leave(&mut self, hb: &ConsumerHeartbeat) -> Result<HeartbeatReply, HeartbeatError> {
        let id = hb.member_id.as_str();
        let Some(m) = self.members.get_mut(id) else {
            return fail(
                codes::UNKNOWN_MEMBER_ID,
                format!("Member {id} is not a member of the group."),
            );
        };
        if hb.member_epoch == STATIC_LEAVE_EPOCH && m.instance_id.is_some() {
            // A static member leaving for a moment keeps its place and partitions until its
            // session runs out or it comes back.
            if m.member_epoch != STATIC_LEAVE_EPOCH {
                m.previous_member_epoch = m.member_epoch;
                m.member_epoch = STATIC_LEAVE_EPOCH;
            }
        } else {
            self.remove_members(&[id.to_string()], hb.now_ms);
        }
        Ok(HeartbeatReply {
            member_id: id.to_string(),
            member_epoch: hb.member_epoch,
            assignment: None,
        })
    }

    /// Members that must go at `now_ms` because they held revoked partitions past their
    /// rebalance timeout.
    pub fn revocation_overdue(&self, now_ms: i64) -> Vec<String> {
        self.members
            .values()
            .filter(|m| {
                m.state == MemberState::UnrevokedPartitions
                    && now_ms - m.revoking_since_ms > m.rebalance_timeout_ms as i64
            })
            .map(|m| m.member_id.clone())
            .collect()
    }

    /// Kafka's `ConsumerGroup.validateMemberEpoch` for an OffsetCommit or OffsetFetch of
    /// `member_id`: UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH (newer), STALE_MEMBER_EPOCH (older).
    pub fn validate_member_epoch(&self, member_id: &str, member_epoch: i32) -> Option<i16> {
        member_epoch_refusal(
            self.members.get(member_id).map(|m| m.member_epoch),
            member_epoch,
            FENCED_MEMBER_EPOCH,
        )
    }
}

impl ConsumerGroup {
    /// [`crate::invariants::Invariant::ConsumerOwnership`]: no partition in two members' target
    /// assignments, nor in two members' current assignment and pending revocation together.
    /// `Err` names the partition and the members.
    /// (A `String`: it becomes the detail of an [`crate::invariants::Violation`], read by people.)
    pub fn check_ownership(&self) -> Result<(), String> {
        let mut target: BTreeMap<(Uuid, i32), &str> = BTreeMap::new();
        for (id, a) in &self.target {
            for tp in flatten(a) {
                if let Some(other) = target.insert(tp, id) {
                    return Err(format!("{tp:?} in the targets of {other} and {id}"));
                }
            }
        }
        let mut owned: BTreeMap<(Uuid, i32), &str> = BTreeMap::new();
        for (id, m) in &self.members {
            for tp in flatten(&m.assigned)
                .into_iter()
                .chain(flatten(&m.pending_revocation))
            {
                if let Some(other) = owned.insert(tp, id) {
                    return Err(format!("{tp:?} owned by {other} and {id}"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, n: i32) -> TopicMeta {
        TopicMeta {
            name: name.into(),
            id: Uuid::from_bytes([name.as_bytes()[0]; 16]),
            partitions: n,
            racks: vec![],
        }
    }

    fn hb(id: &str, epoch: i32, topics: &[TopicMeta]) -> ConsumerHeartbeat {
        ConsumerHeartbeat {
            member_id: id.into(),
            member_epoch: epoch,
            instance_id: None,
            rack_id: None,
            rebalance_timeout_ms: if epoch == 0 { 30_000 } else { -1 },
            subscribed_topic_names: (epoch == 0).then(|| vec!["t".to_string()]),
            subscribed_topic_regex: None,
            server_assignor: None,
            owned: None,
            client_id: String::new(),
            client_host: String::new(),
            topics: topics.to_vec(),
            max_size: 0,
            now_ms: 1,
        }
    }

    fn count(a: &Option<Assignment>) -> usize {
        a.as_ref()
            .map_or(0, |a| a.values().map(BTreeSet::len).sum())
    }

    fn owned(a: &Assignment) -> Option<Vec<(Uuid, Vec<i32>)>> {
        Some(
            a.iter()
                .map(|(t, ps)| (*t, ps.iter().copied().collect()))
                .collect(),
        )
    }

    #[test]
    fn join_gets_everything_then_a_second_member_forces_revocation_before_reassignment() {
        let ts = [topic("t", 6)];
        let mut g = ConsumerGroup::default();
        let r = g.heartbeat(&hb("a", 0, &ts)).unwrap();
        assert_eq!((r.member_epoch, count(&r.assignment)), (1, 6));
        // a steady heartbeat changes nothing
        let snapshot = g.clone();
        let r = g.heartbeat(&hb("a", 1, &ts)).unwrap();
        assert_eq!((r.member_epoch, r.assignment), (1, None));
        assert_eq!(g, snapshot);
        assert_eq!(g.state(), ConsumerGroupState::Stable);

        // b joins: epoch 2; b gets nothing yet, a still owns all six
        let r = g.heartbeat(&hb("b", 0, &ts)).unwrap();
        assert_eq!((r.member_epoch, count(&r.assignment)), (2, 0));
        assert_eq!(g.members["b"].state, MemberState::UnreleasedPartitions);
        assert_eq!(g.state(), ConsumerGroupState::Reconciling);
        // a learns it must revoke three, keeping epoch 1
        let r = g.heartbeat(&hb("a", 1, &ts)).unwrap();
        assert_eq!((r.member_epoch, count(&r.assignment)), (1, 3));
        let kept = r.assignment.unwrap();
        // b still waits: a has not acknowledged
        let r = g.heartbeat(&hb("b", 2, &ts)).unwrap();
        assert_eq!(count(&r.assignment), 0);
        // a acknowledges by reporting what it owns now: epoch 2
        let mut h = hb("a", 1, &ts);
        h.owned = owned(&kept);
        let r = g.heartbeat(&h).unwrap();
        assert_eq!((r.member_epoch, count(&r.assignment)), (2, 3));
        // b gets the released three
        let r = g.heartbeat(&hb("b", 2, &ts)).unwrap();
        assert_eq!((r.member_epoch, count(&r.assignment)), (2, 3));
        assert_eq!(g.state(), ConsumerGroupState::Stable);
        let a = flatten(&g.members["a"].assigned);
        let b = flatten(&g.members["b"].assigned);
        assert!(a.is_disjoint(&b) && a.len() + b.len() == 6);
    }

    #[test]
    fn epochs_are_fenced_but_a_lost_response_is_tolerated() {
        let ts = [topic("t", 2)];
        let mut g = ConsumerGroup::default();
        g.heartbeat(&hb("a", 0, &ts)).unwrap();
        g.heartbeat(&hb("b", 0, &ts)).unwrap();
        // a is at epoch 1; epoch 5 is fenced, unknown members too
        assert_eq!(
            g.heartbeat(&hb("a", 5, &ts)).unwrap_err().code,
            FENCED_MEMBER_EPOCH
        );
        assert_eq!(
            g.heartbeat(&hb("zz", 1, &ts)).unwrap_err().code,
            codes::UNKNOWN_MEMBER_ID
        );
        // a revokes and moves to epoch 2; a retry at epoch 1 with a subset is still fine
        let r = g.heartbeat(&hb("a", 1, &ts)).unwrap();
        let mut h = hb("a", 1, &ts);
        h.owned = owned(r.assignment.as_ref().unwrap());
        assert_eq!(g.heartbeat(&h).unwrap().member_epoch, 2);
        assert_eq!(g.heartbeat(&h).unwrap().member_epoch, 2);
        assert_eq!(
            g.heartbeat(&hb("a", 1, &ts)).unwrap_err().code,
            FENCED_MEMBER_EPOCH
        );
    }

    #[test]
    fn leaving_and_expiry_rebalance_the_rest() {
        let ts = [topic("t", 4)];
        let mut g = ConsumerGroup::default();
        g.heartbeat(&hb("a", 0, &ts)).unwrap();
        g.heartbeat(&hb("b", 0, &ts)).unwrap();
        let r = g.heartbeat(&hb("a", 1, &ts)).unwrap();
        let mut h = hb("a", 1, &ts);
        h.owned = owned(r.assignment.as_ref().unwrap());
        g.heartbeat(&h).unwrap();
        g.heartbeat(&hb("b", 2, &ts)).unwrap();
        assert_eq!(g.state(), ConsumerGroupState::Stable);
        let r = g.heartbeat(&hb("b", -1, &ts)).unwrap();
        assert_eq!(r.member_epoch, -1);
        assert_eq!(g.group_epoch, 3);
        // a gains b's partitions at once: nobody else owns them
        let r = g.heartbeat(&hb("a", 2, &ts)).unwrap();
        assert_eq!((r.member_epoch, count(&r.assignment)), (3, 4));
        assert!(g.remove_members(&["a".into()], 9));
        assert_eq!(g.empty_since_ms, 9);
        assert_eq!(g.state(), ConsumerGroupState::Empty);
    }

    #[test]
    fn a_static_member_leaving_temporarily_comes_back_with_its_partitions() {
        let ts = [topic("t", 4)];
        let mut g = ConsumerGroup::default();
        let mut h = hb("a1", 0, &ts);
        h.instance_id = Some("i".into());
        let r = g.heartbeat(&h).unwrap();
        let first = r.assignment.unwrap();
        // another member may not take the instance id while a1 holds it
        let mut h2 = hb("a2", 0, &ts);
        h2.instance_id = Some("i".into());
        assert_eq!(g.heartbeat(&h2).unwrap_err().code, UNRELEASED_INSTANCE_ID);
        let mut leave = hb("a1", -2, &ts);
        leave.instance_id = Some("i".into());
        g.heartbeat(&leave).unwrap();
        let epoch = g.group_epoch;
        let r = g.heartbeat(&h2).unwrap();
        assert_eq!((r.member_epoch, r.assignment), (1, Some(first)));
        assert_eq!(g.group_epoch, epoch, "no rebalance");
        assert_eq!(g.members.keys().collect::<Vec<_>>(), vec!["a2"]);
    }

    #[test]
    fn new_partitions_regex_and_racks_bump_the_epoch() {
        let mut g = ConsumerGroup::default();
        let mut h = hb("a", 0, &[topic("orders", 2), topic("other", 1)]);
        h.subscribed_topic_names = Some(vec![]);
        h.subscribed_topic_regex = Some("ord.*".into());
        let r = g.heartbeat(&h).unwrap();
        assert_eq!((r.member_epoch, count(&r.assignment)), (1, 2));
        // more partitions: a new epoch with all three
        let mut h = hb("a", 1, &[topic("orders", 3), topic("other", 1)]);
        let r = g.heartbeat(&h).unwrap();
        assert_eq!((r.member_epoch, count(&r.assignment)), (2, 3));
        // a rack change of the topic's partitions (KIP-1101) also makes a new epoch
        h.member_epoch = 2;
        h.topics[0].partitions = 3;
        h.topics[0].racks = vec!["east".into()];
        assert_eq!(g.heartbeat(&h).unwrap().member_epoch, 3);
        assert!(g.subscribed.contains_key("orders") && !g.subscribed.contains_key("other"));
    }

    #[test]
    fn the_group_size_limit_and_commit_epochs() {
        let ts = [topic("t", 1)];
        let mut g = ConsumerGroup::default();
        let mut h = hb("a", 0, &ts);
        h.max_size = 1;
        g.heartbeat(&h).unwrap();
        let mut h = hb("b", 0, &ts);
        h.max_size = 1;
        assert_eq!(g.heartbeat(&h).unwrap_err().code, GROUP_MAX_SIZE_REACHED);
        assert_eq!(g.validate_member_epoch("a", 1), None);
        assert_eq!(g.validate_member_epoch("a", 0), Some(STALE_MEMBER_EPOCH));
        assert_eq!(g.validate_member_epoch("a", 2), Some(FENCED_MEMBER_EPOCH));
        assert_eq!(
            g.validate_member_epoch("x", 1),
            Some(codes::UNKNOWN_MEMBER_ID)
        );
        assert_eq!(
            g.validate_member_epoch("", -1),
            Some(codes::UNKNOWN_MEMBER_ID)
        );
    }

    /// Random joins, leaves, subscription changes and heartbeats (members acknowledging what
    /// they were given, or lagging): no partition is ever owned by two members, and once
    /// everyone heartbeats the group converges to its target.
    #[test]
    fn random_churn_never_double_assigns_and_converges() {
        let ts = [topic("t", 7), topic("u", 5)];
        let mut seed: u64 = 0x5eed;
        let mut rand = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut g = ConsumerGroup::default();
        // What each client believes: (epoch, owned)
        let mut clients: BTreeMap<String, (i32, Assignment)> = BTreeMap::new();
        let check = |g: &ConsumerGroup| {
            if let Err(why) = g.check_ownership() {
                panic!("{why}: {g:#?}");
            }
        };
        for step in 0..3_000 {
            let id = format!("m{}", rand(6));
            match (clients.get(&id).cloned(), rand(10)) {
                (None, _) => {
                    let mut h = hb(&id, 0, &ts);
                    h.subscribed_topic_names = Some(if rand(2) == 0 {
                        vec!["t".into()]
                    } else {
                        vec!["t".into(), "u".into()]
                    });
                    let r = g.heartbeat(&h).unwrap();
                    clients.insert(id, (r.member_epoch, r.assignment.unwrap()));
                }
                (Some(_), 0) => {
                    g.heartbeat(&hb(&id, -1, &ts)).unwrap();
                    clients.remove(&id);
                }
                (Some((epoch, owned)), k) => {
                    let mut h = hb(&id, epoch, &ts);
                    if k < 6 {
                        h.owned = super::tests::owned(&owned);
                    }
                    if k == 9 {
                        h.subscribed_topic_names = Some(vec!["u".into()]);
                    }
                    let r = g.heartbeat(&h).unwrap();
                    let mut c = (r.member_epoch, owned);
                    if let Some(a) = r.assignment {
                        c.1 = a;
                    }
                    clients.insert(id, c);
                }
            }
            check(&g);
            // What the clients believe they own never overlaps either.
            let mut believed = BTreeSet::new();
            for (_, owned) in clients.values() {
                for tp in flatten(owned) {
                    assert!(believed.insert(tp), "step {step}: clients both own {tp:?}");
                }
            }
        }
        // Everyone heartbeats, acknowledging, until nothing changes.
        for _ in 0..10 {
            for (id, c) in clients.iter_mut() {
                let mut h = hb(id, c.0, &ts);
                h.owned = super::tests::owned(&c.1);
                let r = g.heartbeat(&h).unwrap();
                c.0 = r.member_epoch;
                if let Some(a) = r.assignment {
                    c.1 = a;
                }
                check(&g);
            }
        }
        assert_eq!(g.state(), ConsumerGroupState::Stable, "{g:#?}");
        for (id, m) in &g.members {
            assert_eq!(Some(&m.assigned), g.target.get(id));
            assert_eq!(clients[id].1, m.assigned);
        }
    }
}
