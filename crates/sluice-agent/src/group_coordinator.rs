//! The coordinator side of consumer groups: who coordinates which group, member liveness, and
//! waiting for a group to reach a generation.
//!
//! Group state is quorum state ([`sluice_meta::groups`]); this module holds only what need not
//! survive the coordinator: when each member was last heard from, member ids handed out by the
//! MEMBER_ID_REQUIRED dance and not yet used, and which members have a JoinGroup or SyncGroup
//! outstanding (Kafka does not expire those). A heartbeat touches memory only; the sweep loop
//! ([`crate::group_timers::sweep`])
//! proposes a change when a session or rebalance timeout actually runs out. So a steady group
//! costs no raft writes at all, however many members it has. An agent that takes a group over
//! (its predecessor died, or the set of live agents changed) starts every timer fresh.
//!
//! Every agent sees every group, so any agent *could* answer; Kafka clients expect exactly one
//! coordinator per group, though, and the liveness timers need one owner. The coordinator is the
//! live agent the group id hashes to, the same answer on every agent; a request reaching another
//! agent gets NOT_COORDINATOR and the client looks the coordinator up again.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use sluice_meta::classic_group::ClassicGroup;
use sluice_meta::groups::ClassicGroupState;
use sluice_meta::state::AgentInfo;

use crate::clock::now_ms;

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
    pub(crate) fn expired(&self, id: &str, members: &[(String, i64)], now: i64) -> Vec<String> {
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
    pub(crate) fn rebalance_overdue(&self, id: &str, group: &ClassicGroup, now: i64) -> bool {
        let since = *self.lock().since.entry(id.to_string()).or_insert(now);
        if group.state != ClassicGroupState::PreparingRebalance {
            return false;
        }
        match &group.initial_join {
            Some(w) => now >= w.deadline_ms,
            None => now - group.state_since_ms.max(since) > group.rebalance_timeout_ms(),
        }
    }

    pub(crate) fn drop_group(&self, id: &str) {
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
