//! The coordinators' timer loops, one task each per agent (started by [`crate::background`]).
//!
//! Heartbeats touch only the coordinators' memory ([`crate::group_coordinator`] for classic,
//! KIP-848 and KIP-1071 groups, [`crate::share`] for KIP-932 share groups); these loops turn a
//! session or rebalance timeout that actually ran out into one quorum proposal, for the groups
//! this agent coordinates, and propose nothing while every member keeps its session.

use std::sync::Arc;
use std::time::Duration;

use sluice_meta::command::Command;
use sluice_meta::consumer_group::ConsumerGroup;
use sluice_meta::groups::{Group, GroupCommand};
use sluice_meta::share_group::ShareCommand;
use sluice_meta::streams_group::StreamsGroup;

use crate::agent::Agent;
use crate::clock::now_ms;
use crate::group_coordinator::coordinator_among;

/// How often the coordinator looks for expired sessions and overdue rebalances.
const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

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

/// Expires share-group members this agent coordinates; runs until shutdown.
pub async fn share_expiry(agent: Arc<Agent>) {
    let period =
        (agent.share.session_timeout / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = agent.shutdown.cancelled() => return,
        }
        let known: Vec<(String, String)> = agent.read(|s| {
            s.groups
                .groups
                .iter()
                .filter_map(|(g, grp)| Some((g, grp.as_share()?)))
                .flat_map(|(g, grp)| grp.members.keys().map(move |m| (g.clone(), m.clone())))
                .collect()
        });
        let mine: Vec<(String, String)> = known
            .into_iter()
            .filter(|(g, _)| agent.is_group_coordinator(g))
            .collect();
        for (group, member) in agent.share.expired(&mine) {
            tracing::info!(%group, %member, "share group member session expired");
            agent.share.forget(&group, &member);
            let cmd = Command::Share(ShareCommand::Leave {
                group,
                member_id: member,
            });
            if let Err(e) = agent.propose(cmd).await {
                tracing::warn!(error = ?e, "expiring a share member failed");
            }
        }
    }
}
