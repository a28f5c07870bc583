//! Classic groups (JoinGroup/SyncGroup protocol): membership, generations and assignments, as
//! quorum state; one kind of [`crate::groups::Group`] (Kafka's `ClassicGroup`). Committed
//! offsets live beside the groups, in [`crate::groups::Groups::offsets`], as Kafka's
//! `OffsetMetadataManager` keeps them apart from its `GroupMetadataManager`.
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
use crate::group_types::{GroupOutcome, GroupResponse};
use crate::refusal::Refusal;

/// Kafka's `ClassicGroupState`: where a classic group is in its rebalance cycle.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClassicGroupState {
    /// No members (or only offsets); the generation is kept.
    Empty,
    /// Waiting for every member to (re)join, or for the initial delay to end.
    PreparingRebalance,
    /// Rebalanced: the generation advanced, waiting for the leader's SyncGroup assignment.
    CompletingRebalance,
    /// The leader's assignment is in; members heartbeat and commit offsets.
    Stable,
    /// Kafka's state of a removed group; never stored here, only answered for groups that do not
    /// exist.
    Dead,
}

impl ClassicGroupState {
    /// The name Kafka uses on the wire (ListGroups, DescribeGroups).
    pub fn as_str(self) -> &'static str {
        match self {
            ClassicGroupState::Empty => "Empty",
            ClassicGroupState::PreparingRebalance => "PreparingRebalance",
            ClassicGroupState::CompletingRebalance => "CompletingRebalance",
            ClassicGroupState::Stable => "Stable",
            ClassicGroupState::Dead => "Dead",
        }
    }
}
/// One classic group (Kafka's `ClassicGroup`): its members, generation, chosen protocol and
/// leader. A group made by an offset commit alone has no protocol type and no members.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClassicGroup {
    /// "consumer" for Kafka consumers, "" for groups that only store offsets.
    pub protocol_type: String,
    /// Where the group is in its rebalance cycle.
    pub state: ClassicGroupState,
    /// Kafka's generation id: 0 for a new group, +1 at each completed rebalance and when the last
    /// member leaves.
    pub generation: i32,
    /// The protocol (assignor) chosen at the last completed rebalance.
    pub protocol: Option<String>,
    /// Member id of the group leader (computes the assignment in SyncGroup); `None` while Empty.
    pub leader: Option<String>,
    /// Members by member id.
    pub members: BTreeMap<String, Member>,
    /// When the group entered its current state (proposer's clock): rebalance timeouts count
    /// from here.
    pub state_since_ms: i64,
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
/// [`crate::groups::GroupCommand::CompleteRebalance`] once its clock passes `deadline_ms`.
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

/// A member of a classic group, as its last JoinGroup described it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Member {
    /// The coordinator-generated member id (Kafka's `MemberId`).
    pub member_id: String,
    /// KIP-345's `group.instance.id` of a static member; `None` for a dynamic member.
    pub instance_id: Option<String>,
    /// The member's `client.id` (request header), for DescribeGroups.
    pub client_id: String,
    /// The member's host as the coordinator saw it, for DescribeGroups.
    pub client_host: String,
    /// `session.timeout.ms` (ms): the agent expires the member after this long without a heartbeat.
    pub session_timeout_ms: i32,
    /// `max.poll.interval.ms` (ms): how long a rebalance waits for this member to rejoin.
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
/// A JoinGroup as the coordinator proposes it. The member id is always set: the coordinator
/// generates one for a new member (`new_member`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JoinMember {
    /// The member id; generated by the coordinator when `new_member`.
    pub member_id: String,
    /// The JoinGroup carried no member id (or a static member's new id): the member may be added.
    /// Without it an unknown member id gets UNKNOWN_MEMBER_ID and a replaced static member
    /// FENCED_INSTANCE_ID.
    pub new_member: bool,
    /// KIP-345's `group.instance.id` of a static member; `None` for a dynamic member.
    pub instance_id: Option<String>,
    /// The member's `client.id` (request header).
    pub client_id: String,
    /// The member's host as the coordinator saw it.
    pub client_host: String,
    /// `session.timeout.ms` (ms).
    pub session_timeout_ms: i32,
    /// `max.poll.interval.ms` (ms): JoinGroup's `RebalanceTimeoutMs`.
    pub rebalance_timeout_ms: i32,
    /// JoinGroup's `ProtocolType` ("consumer" for Kafka consumers); must match the group's when it
    /// has members.
    pub protocol_type: String,
    /// (protocol name, protocol metadata) in the member's order of preference.
    pub protocols: Vec<(String, Vec<u8>)>,
}

fn err(code: i16, message: &str) -> GroupOutcome {
    Err(Refusal::new(code, message))
}

impl ClassicGroup {
    /// An Empty group at generation 0, entered at `now_ms` (proposer's clock).
    pub fn new(protocol_type: &str, now_ms: i64) -> Self {
        ClassicGroup {
            protocol_type: protocol_type.to_string(),
            state: ClassicGroupState::Empty,
            generation: 0,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            state_since_ms: now_ms,
            initial_join: None,
        }
    }

    /// A group that only stores offsets (no protocol type, never joined): Kafka's
    /// `isSimpleGroup`.
    pub fn is_simple(&self) -> bool {
        self.protocol_type.is_empty() && self.members.is_empty()
    }

    /// The member holding the static `group.instance.id` `instance`.
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

    fn set_state(&mut self, state: ClassicGroupState, now_ms: i64) {
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
        if self.state != ClassicGroupState::PreparingRebalance {
            self.set_state(ClassicGroupState::PreparingRebalance, now_ms);
            for m in self.members.values_mut() {
                m.joined = false;
            }
        }
    }

    fn maybe_complete(&mut self, now_ms: i64) {
        if self.state == ClassicGroupState::PreparingRebalance
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
            self.set_state(ClassicGroupState::Empty, now_ms);
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
        self.set_state(ClassicGroupState::CompletingRebalance, now_ms);
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
            self.set_state(ClassicGroupState::Empty, now_ms);
        } else {
            self.prepare_rebalance(now_ms);
            self.maybe_complete(now_ms);
        }
    }

    /// JoinGroup, applied (the group already exists: [`crate::groups::Groups`] creates an Empty
    /// one first). Answers [`GroupResponse::Joined`] with the generation the joiner waits for.
    pub fn join(&mut self, j: &JoinMember, now_ms: i64, delay_ms: i64) -> GroupOutcome {
        let g = self;
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
                    if g.state == ClassicGroupState::Stable && old.protocols == j.protocols {
                        // Static membership's point: a restart causes no rebalance.
                        return joined(g.generation);
                    }
                    let target = join_target(g);
                    let was_empty = g.state == ClassicGroupState::Empty;
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
                let was_empty = g.state == ClassicGroupState::Empty;
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
                    ClassicGroupState::CompletingRebalance => unchanged,
                    ClassicGroupState::Stable => unchanged && !is_leader,
                    _ => false,
                };
                if settled {
                    // Kafka answers a follower's redundant rejoin with the current generation.
                    return joined(g.generation);
                }
                let target = join_target(g);
                let was_empty = g.state == ClassicGroupState::Empty;
                g.prepare_rebalance(now_ms);
                g.members.get_mut(&j.member_id).expect("present").joined = true;
                g.note_join(was_empty, false, delay_ms, now_ms);
                g.maybe_complete(now_ms);
                joined(target)
            }
        }
    }

    /// SyncGroup, applied: the leader's assignments (per member id) make the group Stable.
    pub fn sync(
        &mut self,
        member_id: &str,
        generation: i32,
        assignments: &[(String, Vec<u8>)],
        now_ms: i64,
    ) -> GroupOutcome {
        if let Some(code) = check_member(self, member_id, generation) {
            return err(code, "SyncGroup refused");
        }
        match self.state {
            ClassicGroupState::PreparingRebalance => {
                err(codes::REBALANCE_IN_PROGRESS, "The group is rebalancing.")
            }
            ClassicGroupState::CompletingRebalance if self.leader.as_deref() == Some(member_id) => {
                for m in self.members.values_mut() {
                    m.assignment = assignments
                        .iter()
                        .find(|(id, _)| *id == m.member_id)
                        .map(|(_, a)| a.clone())
                        .unwrap_or_default();
                }
                self.set_state(ClassicGroupState::Stable, now_ms);
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// LeaveGroup, applied: one Kafka error code per (member id, group instance id).
    pub fn leave(&mut self, members: &[(String, Option<String>)], now_ms: i64) -> Vec<i16> {
        let mut out = Vec::with_capacity(members.len());
        let mut gone = Vec::new();
        for (id, inst) in members {
            let by_instance = inst
                .as_deref()
                .and_then(|i| self.member_by_instance(i))
                .map(|m| m.member_id.clone());
            let code = match (by_instance, inst) {
                (Some(found), _) if id.is_empty() || *id == found => {
                    gone.push(found);
                    codes::NONE
                }
                (Some(_), _) => codes::FENCED_INSTANCE_ID,
                (None, Some(_)) => codes::UNKNOWN_MEMBER_ID,
                (None, None) if self.members.contains_key(id) => {
                    gone.push(id.clone());
                    codes::NONE
                }
                (None, None) => codes::UNKNOWN_MEMBER_ID,
            };
            out.push(code);
        }
        self.remove_members(&gone, now_ms);
        out
    }

    /// Members whose session ran out on the coordinator's clock leave.
    pub fn expire(&mut self, member_ids: &[String], now_ms: i64) {
        self.remove_members(member_ids, now_ms);
    }

    /// A due `CompleteRebalance` of the rebalance after `generation`: see
    /// [`crate::groups::GroupCommand::CompleteRebalance`].
    pub fn complete_rebalance_at(&mut self, generation: i32, now_ms: i64) {
        if self.state == ClassicGroupState::PreparingRebalance && self.generation == generation {
            self.initial_wait_over_or_rebalance_timed_out(now_ms);
        }
    }

    /// Why an OffsetCommit (or TxnOffsetCommit) by this member and generation is refused: a
    /// Kafka error code and message, or `None` when it may commit (Kafka's
    /// `ClassicGroup.validateOffsetCommit`). A commit outside group management (generation < 0,
    /// no members) is always allowed.
    pub fn commit_refusal(
        &self,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Option<(i16, &'static str)> {
        if generation < 0 && self.members.is_empty() {
            // A commit outside group management (admin tools, manual assignment).
            return None;
        }
        if let Some(inst) = instance_id {
            if self
                .member_by_instance(inst)
                .is_some_and(|m| m.member_id != member_id)
            {
                return Some((codes::FENCED_INSTANCE_ID, "fenced static member"));
            }
        }
        if let Some(code) = check_member(self, member_id, generation) {
            return Some((code, "OffsetCommit refused"));
        }
        if self.state == ClassicGroupState::CompletingRebalance {
            return Some((codes::REBALANCE_IN_PROGRESS, "The group is rebalancing."));
        }
        None
    }
}

/// The generation a joiner will be answered with: the next one when a rebalance is (or is about
/// to be) under way.
fn join_target(g: &ClassicGroup) -> i32 {
    g.generation + 1
}

fn joined(target_generation: i32) -> GroupOutcome {
    Ok(Some(GroupResponse::Joined { target_generation }))
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
pub fn check_member(g: &ClassicGroup, member_id: &str, generation: i32) -> Option<i16> {
    if !g.members.contains_key(member_id) {
        return Some(codes::UNKNOWN_MEMBER_ID);
    }
    if g.generation != generation {
        return Some(codes::ILLEGAL_GENERATION);
    }
    None
}
