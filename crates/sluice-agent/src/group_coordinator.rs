//! The coordinator side of consumer groups: who coordinates which group, member liveness, and
//! waiting for a group to reach a generation.
//!
//! Group state is quorum state ([`sluice_meta::groups`]); this module holds only what need not
//! survive the coordinator: when each member was last heard from, member ids handed out by the
//! MEMBER_ID_REQUIRED dance and not yet used, and which members have a JoinGroup or SyncGroup
//! outstanding (Kafka does not expire those). A heartbeat touches memory only; the `sweep` loop
//! proposes a change when a session or rebalance timeout actually runs out. So a steady group
//! costs no raft writes at all, however many members it has. An agent that takes a group over
//! (its predecessor died, or the set of live agents changed) starts every timer fresh.
//!
//! Every agent sees every group, so any agent *could* answer; Kafka clients expect exactly one
//! coordinator per group, though, and the liveness timers need one owner. The coordinator is the
//! live agent the group id hashes to, the same answer on every agent; a request reaching another
//! agent gets NOT_COORDINATOR and the client looks the coordinator up again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_meta::classic_group::ClassicGroup;
use sluice_meta::command::Command;
use sluice_meta::consumer_group::ConsumerGroup;
use sluice_meta::groups::{ClassicGroupState, Group, GroupCommand};
use sluice_meta::state::{AgentInfo, MetaState};
use sluice_meta::streams_group::StreamsGroup;

use crate::agent::{now_ms, Agent};

/// How often the coordinator looks for expired sessions and overdue rebalances.
const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

/// The classic and KIP-848 group coordinator's memory on this agent: member liveness, pending
/// member ids and outstanding joins (group state itself lives in the quorum).
#[derive(Default)]
pub struct GroupCoordinator {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Group → member → last time heard from (this agent's clock).
    last_seen: HashMap<String, HashMap<String, i64>>,
    /// Group → when this agent first coordinated it: rebalance timers never start earlier.
    since: HashMap<String, i64>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined.
    pending: HashSet<(String, String)>,
    /// Members with a JoinGroup or SyncGroup outstanding, with how many.
    awaiting: HashMap<(String, String), usize>,
}

/// Keeps a member exempt from expiry while its JoinGroup or SyncGroup waits.
pub struct AwaitingGuard<'a> {
    coordinator: &'a GroupCoordinator,
    key: (String, String),
}

impl Drop for AwaitingGuard<'_> {
    fn drop(&mut self) {
        let mut g = self.coordinator.lock();
        if let Some(n) = g.awaiting.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                g.awaiting.remove(&self.key);
            }
        }
        // The wait counts as contact: the session restarts when the request ends.
        g.last_seen
            .entry(self.key.0.clone())
            .or_default()
            .insert(self.key.1.clone(), now_ms());
    }
}

impl GroupCoordinator {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A member was heard from (heartbeat, join, sync, commit).
    pub fn touch(&self, group: &str, member: &str) {
        self.lock()
            .last_seen
            .entry(group.to_string())
            .or_default()
            .insert(member.to_string(), now_ms());
    }

    /// Drops `member`'s liveness (it left or was removed).
    pub fn forget(&self, group: &str, member: &str) {
        if let Some(m) = self.lock().last_seen.get_mut(group) {
            m.remove(member);
        }
    }

    /// Records the member epoch a KIP-848 or KIP-1071 heartbeat was answered with: an epoch
    /// of 0 or more means the member is alive; the leave epoch (-1) drops its liveness; a
    /// static member's temporary leave (-2) changes nothing, so its session still runs out.
    pub fn heartbeat_answered(&self, group: &str, member: &str, member_epoch: i32) {
        if member_epoch >= 0 {
            self.touch(group, member);
        } else if member_epoch == sluice_meta::consumer_group::LEAVE_EPOCH {
            self.forget(group, member);
        }
    }

    /// Remembers a member id handed out with MEMBER_ID_REQUIRED (KIP-394) until it joins (the
    /// set is cleared when it passes 100 000 ids).
    pub fn add_pending(&self, group: &str, member: &str) {
        let mut g = self.lock();
        // Bounded: a client that never comes back must not grow this forever.
        if g.pending.len() > 100_000 {
            g.pending.clear();
        }
        g.pending.insert((group.to_string(), member.to_string()));
    }

    /// Consumes a pending member id; true if it was one.
    pub fn take_pending(&self, group: &str, member: &str) -> bool {
        self.lock()
            .pending
            .remove(&(group.to_string(), member.to_string()))
    }

    /// Marks `member` as waiting in a JoinGroup or SyncGroup until the guard drops, exempting it
    /// from session expiry meanwhile.
    pub fn awaiting(&self, group: &str, member: &str) -> AwaitingGuard<'_> {
        let key = (group.to_string(), member.to_string());
        *self.lock().awaiting.entry(key.clone()).or_default() += 1;
        AwaitingGuard {
            coordinator: self,
            key,
        }
    }

    /// Members of group `id` whose session ran out at `now`: `members` is (member id, session
    /// timeout). A member first seen by this coordinator starts a fresh session.
    fn expired(&self, id: &str, members: &[(String, i64)], now: i64) -> Vec<String> {
        let mut inner = self.lock();
        inner.since.entry(id.to_string()).or_insert(now);
        let Inner {
            last_seen,
            awaiting,
            ..
        } = &mut *inner;
        let seen = last_seen.entry(id.to_string()).or_default();
        seen.retain(|m, _| members.iter().any(|(mid, _)| mid == m));
        let mut expired = Vec::new();
        for (mid, timeout) in members {
            let last = *seen.entry(mid.clone()).or_insert(now);
            let waiting = awaiting.contains_key(&(id.to_string(), mid.clone()));
            if !waiting && now - last > *timeout {
                expired.push(mid.clone());
            }
        }
        expired
    }

    /// Whether the current rebalance of classic group `id` has run past its timeout, or the
    /// current wait of its initial delay is over.
    fn rebalance_overdue(&self, id: &str, group: &ClassicGroup, now: i64) -> bool {
        let since = *self.lock().since.entry(id.to_string()).or_insert(now);
        if group.state != ClassicGroupState::PreparingRebalance {
            return false;
        }
        match &group.initial_join {
            Some(w) => now >= w.deadline_ms,
            None => now - group.state_since_ms.max(since) > group.rebalance_timeout_ms(),
        }
    }

    fn drop_group(&self, id: &str) {
        let mut g = self.lock();
        g.last_seen.remove(id);
        g.since.remove(id);
    }
}

/// The coordinator of `key` (a group or transactional id) among `agents`: rendezvous hashing
/// ([`crate::placement`]), so every agent (and FindCoordinator) names the same one, and an agent
/// joining or leaving moves only about 1/n of the groups. `None` only for an empty list.
pub fn coordinator_among<'a>(agents: &'a [AgentInfo], key: &str) -> Option<&'a AgentInfo> {
    crate::placement::rendezvous(agents, key)
}

impl Agent {
    /// The live agent coordinating `group`.
    pub fn group_coordinator(&self, group: &str) -> AgentInfo {
        let agents = self.live_agents();
        coordinator_among(&agents, group)
            .cloned()
            .unwrap_or_else(|| self.self_info())
    }

    /// Whether this agent is `group`'s coordinator among the live agents.
    pub fn is_group_coordinator(&self, group: &str) -> bool {
        self.group_coordinator(group).agent_id == self.id()
    }

    /// Waits until `f` finds what it looks for in the replica, for at most `timeout`; then one
    /// last look.
    pub async fn wait_for_state<R>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&MetaState) -> Option<R>,
    ) -> Option<R> {
        let mut rx = self.meta.replica().applied();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(r) = self.read(&mut f) {
                return Some(r);
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return self.read(&mut f),
                _ = self.shutdown.cancelled() => return None,
            }
        }
    }
}

/// The coordinator's timer loop: proposes expiries and rebalance completions for the groups
/// this agent coordinates, and nothing when nothing changed.
pub async fn sweep(agent: Arc<Agent>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
            _ = agent.shutdown.cancelled() => return,
        }
        let groups: Vec<(String, Group)> = agent.read(|s| {
            s.groups
                .groups
                .iter()
                // Share groups have no timers here: their members' sessions live in share.rs.
                .filter(|(_, g)| !g.is_empty() && g.as_share().is_none())
                .map(|(id, g)| (id.clone(), g.clone()))
                .collect()
        });
        let agents = agent.live_agents();
        let me = agent.id();
        let now = now_ms();
        for (id, g) in groups {
            if coordinator_among(&agents, &id).map(|a| a.agent_id) != Some(me) {
                agent.groups.drop_group(&id);
                continue;
            }
            let Some(cmd) = due_command(&agent, &id, &g, now) else {
                continue;
            };
            if let Err(e) = agent.propose(Command::Group(cmd)).await {
                tracing::warn!(group = %id, error = ?e, "group timer proposal failed");
            }
        }
    }
}

/// The proposal a group's timers call for at `now`, if any.
fn due_command(agent: &Agent, id: &str, g: &Group, now: i64) -> Option<GroupCommand> {
    let g = match g {
        Group::Classic(g) => g,
        Group::Share(_) => return None,
        Group::Consumer(c) => return consumer_due_command(agent, id, c, now),
        Group::Streams(g) => return streams_due_command(agent, id, g, now),
    };
    let members: Vec<(String, i64)> = g
        .members
        .values()
        .map(|m| (m.member_id.clone(), m.session_timeout_ms as i64))
        .collect();
    let expired = agent.groups.expired(id, &members, now);
    if !expired.is_empty() {
        tracing::info!(group = %id, members = ?expired, "group members' sessions expired");
        return Some(GroupCommand::Expire {
            group: id.to_string(),
            member_ids: expired,
            now_ms: now,
        });
    }
    if agent.groups.rebalance_overdue(id, g, now) {
        if g.initial_join.is_some() {
            tracing::debug!(group = %id, "initial rebalance delay over");
        } else {
            tracing::info!(group = %id, generation = g.generation, "rebalance timed out; completing without laggards");
        }
        return Some(GroupCommand::CompleteRebalance {
            group: id.to_string(),
            generation: g.generation,
            now_ms: now,
        });
    }
    None
}

/// The proposal a KIP-848 group's timers call for at `now`, if any.
fn consumer_due_command(
    agent: &Agent,
    id: &str,
    c: &ConsumerGroup,
    now: i64,
) -> Option<GroupCommand> {
    // KIP-848: sessions from the group config; a member holding revoked partitions past
    // its rebalance timeout is fenced too.
    let timeout = agent.consumer_session_timeout_ms(id);
    let members: Vec<(String, i64)> = c.members.keys().map(|m| (m.clone(), timeout)).collect();
    let mut gone = agent.groups.expired(id, &members, now);
    let overdue = c.revocation_overdue(now);
    if !overdue.is_empty() {
        tracing::info!(group = %id, members = ?overdue, "members did not revoke partitions within their rebalance timeout");
    }
    gone.extend(overdue);
    gone.sort();
    gone.dedup();
    if gone.is_empty() {
        return None;
    }
    tracing::info!(group = %id, members = ?gone, "consumer group members removed");
    Some(GroupCommand::ConsumerExpire {
        group: id.to_string(),
        member_ids: gone,
        now_ms: now,
    })
}

/// The proposal a streams group's timers call for at `now`, if any: members whose session
/// (`streams.session.timeout.ms`) ran out or who held revoked tasks past their rebalance timeout.
fn streams_due_command(
    agent: &Agent,
    id: &str,
    g: &StreamsGroup,
    now: i64,
) -> Option<GroupCommand> {
    let timeout = agent.streams_session_timeout_ms(id);
    let members: Vec<(String, i64)> = g.members.keys().map(|m| (m.clone(), timeout)).collect();
    let mut gone = agent.groups.expired(id, &members, now);
    gone.extend(g.revocation_overdue(now));
    gone.sort();
    gone.dedup();
    if gone.is_empty() {
        return None;
    }
    tracing::info!(group = %id, members = ?gone, "streams group members removed");
    Some(GroupCommand::StreamsExpire {
        group: id.to_string(),
        member_ids: gone,
        settings: agent.streams_settings(id),
        now_ms: now,
    })
}

/// Kafka's COORDINATOR_NOT_AVAILABLE: what a group request gets when the quorum does not answer
/// (clients retry and look the coordinator up again).
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;

impl Agent {
    /// Proposes a group command; a refusal by the state machine or quorum trouble becomes the
    /// Kafka error code the client gets.
    pub async fn propose_group(
        &self,
        cmd: GroupCommand,
    ) -> Result<sluice_meta::command::CommandResponse, i16> {
        match self.propose(Command::Group(cmd)).await {
            Ok(sluice_meta::command::CommandResponse::Error { code, .. }) => Err(code),
            Ok(r) => Ok(r),
            Err(_) => Err(COORDINATOR_NOT_AVAILABLE),
        }
    }
}
