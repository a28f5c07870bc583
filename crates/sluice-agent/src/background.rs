//! The agent's background duties, each a loop owned by the agent's shutdown token:
//! - heartbeat: keeps this agent in the quorum's live set (Metadata lists live agents);
//! - retention: proposes `ApplyRetention` with this agent's clock (only the lowest live agent
//!   does, so N agents do not multiply the work);
//! - compaction: merges and log-compacts under a quorum lease ([`crate::compaction`]);
//! - janitor: deletes objects the index no longer references, and orphans (uploaded but never
//!   committed, e.g. by an agent killed mid-flush) once older than the grace period;
//! - transaction timeouts: aborts transactions open past their `transaction.timeout.ms`
//!   (duty holder only, on its clock) and forgets idle transactional ids.
//! - tables: writes topics with `sluice.table.enable=true` as Iceberg tables ([`crate::table_job`]).
//!
//! Orphans are judged by age, so an object must never be committed after the janitor may have
//! deleted it. Two rules close that race (every agent must run with the same
//! `--orphan-grace-secs`, and it should be well above the 15 s a proposal may take):
//! - the quorum refuses a `CommitSegment` proposed more than half the grace period after its
//!   upload began (the writer then uploads it again under a new name);
//! - the janitor deletes orphans only while its replica is current: it must have applied a
//!   heartbeat stamped within a quarter of the grace period (or 3 heartbeat intervals). A commit
//!   that the janitor's replica lacks was then proposed before the quorum's newest entries were,
//!   and sits in no log position that could still commit after them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt;
use sluice_meta::command::Command;
use tokio::task::JoinSet;

use crate::agent::Agent;
use crate::clock::now_ms;

/// Spawns the agent's background duties onto `tasks`: quorum heartbeat, retention, the
/// janitor, compaction (when configured), share-group and group-coordinator expiry, transaction
/// timeouts and the table job. Each stops when `agent.shutdown` is cancelled.
pub fn spawn_all(agent: &Arc<Agent>, tasks: &mut JoinSet<()>) {
    tasks.spawn(heartbeat(agent.clone()));
    tasks.spawn(retention(agent.clone()));
    tasks.spawn(janitor(agent.clone()));
    if let Some(cfg) = agent.cfg.compaction {
        tasks.spawn(crate::compaction::run(agent.clone(), cfg));
    }
    tasks.spawn(crate::group_timers::share_expiry(agent.clone()));
    tasks.spawn(crate::group_timers::sweep(agent.clone()));
    tasks.spawn(transaction_timeouts(agent.clone()));
    tasks.spawn(crate::table_job::run(agent.clone()));
}

/// Aborts transactions past `transaction.timeout.ms` and forgets idle transactional ids, on the
/// duty holder's clock (Kafka's `transaction.abort.timed.out.transaction.cleanup.interval.ms`).
async fn transaction_timeouts(agent: Arc<Agent>) {
    while every(&agent, agent.cfg.transaction_abort_check_interval).await {
        if is_duty_holder(&agent) {
            crate::txn_coordinator::abort_timed_out(&agent).await;
        }
    }
}

async fn every(agent: &Agent, period: std::time::Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(period) => true,
        _ = agent.shutdown.cancelled() => false,
    }
}

async fn heartbeat(agent: Arc<Agent>) {
    while every(&agent, agent.cfg.heartbeat_interval).await {
        let cmd = Command::AgentHeartbeat {
            agent: agent.self_info(),
            now_ms: now_ms(),
        };
        if let Err(e) = agent.meta.propose(cmd).await {
            tracing::warn!(error = %e, "agent heartbeat failed");
        }
    }
}

fn is_duty_holder(agent: &Agent) -> bool {
    agent
        .live_agents()
        .first()
        .is_some_and(|a| a.agent_id == agent.id())
}

async fn retention(agent: Arc<Agent>) {
    while every(&agent, agent.cfg.retention_check_interval).await {
        if is_duty_holder(&agent) {
            if let Err(e) = agent
                .meta
                .propose(Command::ApplyRetention {
                    now_ms: now_ms(),
                    defaults: agent.cfg.retention_defaults(),
                })
                .await
            {
                tracing::warn!(error = %e, "retention proposal failed");
            }
            expire_offsets(&agent).await;
        }
    }
}

/// Committed offsets of empty groups past `offsets.retention.minutes`; proposed only when the
/// replica shows some are due.
async fn expire_offsets(agent: &Agent) {
    let now = now_ms();
    let retention_ms = agent.cfg.offsets_retention.as_millis() as i64;
    if !agent.read(|s| s.groups.offsets_due(now, retention_ms)) {
        return;
    }
    let cmd = Command::Group(sluice_meta::groups::GroupCommand::ExpireOffsets {
        now_ms: now,
        retention_ms,
    });
    if let Err(e) = agent.meta.propose(cmd).await {
        tracing::warn!(error = %e, "offset expiry proposal failed");
    }
}

async fn janitor(agent: Arc<Agent>) {
    let period = (agent.cfg.orphan_grace / 4)
        .min(agent.cfg.file_delete_delay / 2)
        .clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(300),
        );
    let mut unreferenced_since = HashMap::new();
    while every(&agent, period).await {
        if is_duty_holder(&agent) {
            if let Err(e) = sweep(&agent, &mut unreferenced_since).await {
                tracing::warn!(error = %e, "janitor sweep failed");
            }
        } else {
            unreferenced_since.clear();
        }
    }
}

/// One janitor pass. `unreferenced_since` remembers, across passes, when this janitor first saw
/// each object in the quorum's garbage list: an object is deleted only `file_delete_delay`
/// after that, so a read that resolved it from the index just before it went still finds it
/// (a new janitor starts its clocks afresh, which only delays deletions).
pub async fn sweep(
    agent: &Agent,
    unreferenced_since: &mut HashMap<String, i64>,
) -> Result<usize, object_store::Error> {
    let store = agent.cache.store().clone();
    // Objects the index dropped (retention, DeleteRecords, compaction, deleted topics,
    // all-duplicate segments), once they have been unreferenced for the delay.
    let now = now_ms();
    let delay = agent.cfg.file_delete_delay.as_millis() as i64;
    let listed: BTreeSet<String> = agent.read(|s| s.garbage.iter().cloned().collect());
    unreferenced_since.retain(|k, _| listed.contains(k));
    let garbage: Vec<String> = listed
        .into_iter()
        .filter(|k| now - *unreferenced_since.entry(k.clone()).or_insert(now) >= delay)
        .collect();
    for key in &garbage {
        match store.delete(&ObjectPath::from(key.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    if !garbage.is_empty() {
        tracing::info!(
            objects = garbage.len(),
            "janitor deleted unreferenced objects"
        );
        metrics::counter!("sluice_objects_deleted_total").increment(garbage.len() as u64);
        let _ = agent
            .meta
            .propose(Command::ObjectsDeleted {
                keys: garbage.clone(),
            })
            .await;
    }
    // Orphans: listed under segments/, referenced by nothing, older than the grace period.
    // An in-flight flush's object is younger than the grace period, so it is never touched.
    let freshness = (agent.cfg.orphan_grace / 4).max(agent.cfg.heartbeat_interval * 3);
    let newest = agent.read(|s| s.agents.values().map(|a| a.last_seen_ms).max());
    if newest.is_none_or(|t| now - t > freshness.as_millis() as i64) {
        tracing::warn!(
            replica_clock_ms = newest,
            "janitor: the metadata replica is stale (no recent heartbeat); orphans left for later"
        );
        return Ok(garbage.len());
    }
    let cutoff = now - agent.cfg.orphan_grace.as_millis() as i64;
    let referenced: BTreeSet<String> = agent.read(|s| s.object_refs.keys().cloned().collect());
    let listed: Vec<_> = store
        .list(Some(&ObjectPath::from("segments")))
        .try_collect()
        .await?;
    let mut deleted = garbage.len();
    for meta in listed {
        let key = meta.location.to_string();
        if referenced.contains(&key) || meta.last_modified.timestamp_millis() > cutoff {
            continue;
        }
        // Re-check against the freshest replica: a commit may have landed since the snapshot.
        if agent.read(|s| s.object_refs.contains_key(&key)) {
            continue;
        }
        match store.delete(&meta.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                tracing::info!(object = %key, "janitor deleted orphan object");
                metrics::counter!("sluice_orphans_deleted_total").increment(1);
                deleted += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}
