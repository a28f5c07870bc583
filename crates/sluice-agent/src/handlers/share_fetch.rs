//! ShareFetch (KIP-932): apply piggy-backed acknowledgements, acquire records for the member
//! (one quorum command for all partitions of the request), and return the batches holding them
//! with their `AcquiredRecords` ranges. Long polls on metadata commits.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_fetch_response::{
    AcquiredRecords, PartitionData, ShareFetchableTopicResponse,
};
use kafka_protocol::messages::{ShareFetchRequest, ShareFetchResponse};
use sluice_meta::command::{Command, CommandResponse};
use sluice_meta::share::{Acquired, RecordState};
use sluice_meta::share_group::{
    acquirable_end, limits_of, AckRequest, AcquireRequest, ShareCommand, ShareResponse,
};
use tokio::time::Instant;

use super::share_requests::{apply_acks, by_topic, release_all, AckSink};
use crate::agent::Agent;
use crate::clock::now_ms;
use crate::request::RequestContext;
use crate::share::{partition_acks, SessionStep, SharePartitionKey};

/// Longest long poll honoured.
const MAX_WAIT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct PartitionOut {
    error: Option<ResponseError>,
    /// The acknowledgements' outcome (Kafka sends ShareFetch no message for it).
    ack_error: Option<i16>,
    acquired: Vec<Acquired>,
    records: Bytes,
    listed: bool,
}

/// Answers one ShareFetch request (API key 78): applies piggy-backed acknowledgements, then returns
/// acquired records per partition, long-polling up to `max_wait_ms`.
pub async fn handle(cx: &RequestContext, req: ShareFetchRequest) -> ShareFetchResponse {
    let agent = &*cx.agent;
    let mut resp = ShareFetchResponse::default();
    resp.acquisition_lock_timeout_ms = agent.share.limits.lock_ms as i32;
    let fail = |mut resp: ShareFetchResponse, e: ResponseError| {
        resp.error_code = e.code();
        resp
    };
    // READ on the group; READ on each topic below.
    let (group, member) = match cx.share_member(req.group_id.as_ref(), req.member_id.as_ref()) {
        Ok(x) => x,
        Err(e) => return fail(resp, e),
    };
    let limits = agent.read(|s| {
        s.groups
            .share(&group)
            .ok()
            .map(|_| limits_of(s.groups.configs_of(&group), &agent.share.limits))
    });
    resp.acquisition_lock_timeout_ms = limits.unwrap_or(agent.share.limits).lock_ms as i32;

    // Partitions named by this request, and acknowledgements carried with them.
    let mut parts: BTreeMap<SharePartitionKey, PartitionOut> = BTreeMap::new();
    let mut acks: Vec<(SharePartitionKey, AckRequest)> = Vec::new();
    let mut add = Vec::new();
    for t in &req.topics {
        let name = cx.share_topic(t.topic_id);
        for p in &t.partitions {
            let key = (t.topic_id, p.partition_index);
            let out = parts.entry(key).or_default();
            out.listed = true;
            let name = match &name {
                Ok(name) => name,
                // Never enters the session, so nothing of it is ever acquired.
                Err(e @ ResponseError::TopicAuthorizationFailed) => {
                    out.error = Some(*e);
                    continue;
                }
                Err(e) => {
                    add.push(key);
                    out.error = Some(*e);
                    continue;
                }
            };
            add.push(key);
            match partition_acks(name, p.partition_index, &p.acknowledgement_batches) {
                Ok(rs) => acks.extend(rs.into_iter().map(|r| (key, r))),
                Err(e) => out.ack_error = Some(e.code()),
            }
        }
    }
    let forget: Vec<SharePartitionKey> = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.topic_id, *p)))
        .collect();
    let (step, session) =
        match agent
            .share
            .session(&group, &member, req.share_session_epoch, &add, &forget)
        {
            Ok(x) => x,
            Err(e) => return fail(resp, e),
        };
    if step == SessionStep::Open && !acks.is_empty() {
        return fail(resp, ResponseError::InvalidRequest);
    }
    apply_acks(agent, &group, &member, acks, &mut parts).await;
    if step == SessionStep::Close {
        release_all(agent, group, member).await;
        return finish(resp, parts);
    }

    // Acquire, long polling until something is acquired or the wait is over.
    let names: BTreeMap<SharePartitionKey, String> = session
        .iter()
        .filter_map(|k| agent.resolve_topic(None, k.0).map(|t| (*k, t.name)))
        .collect();
    let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    let max_records = if req.max_records > 0 {
        req.max_records as i64
    } else {
        500
    };
    let mut applied = agent.meta.replica().applied();
    loop {
        applied.borrow_and_update();
        let now = now_ms();
        let candidates: Vec<SharePartitionKey> = names
            .iter()
            .filter(|(k, t)| may_acquire(agent, &group, t, k.1, now))
            .map(|(k, _)| *k)
            .collect();
        let mut got_any = false;
        if !candidates.is_empty() {
            let reqs: Vec<AcquireRequest> = candidates
                .iter()
                .map(|k| AcquireRequest {
                    topic: names[k].clone(),
                    partition: k.1,
                })
                .collect();
            let cmd = ShareCommand::Acquire {
                group: group.clone(),
                member_id: member.clone(),
                now_ms: now,
                limits: agent.share.limits,
                max_records,
                partitions: reqs,
            };
            match agent.propose(Command::Share(cmd)).await {
                Ok(CommandResponse::Share(ShareResponse::Acquired(per))) => {
                    for (k, ranges) in candidates.iter().zip(per) {
                        if !ranges.is_empty() {
                            got_any = true;
                            parts.entry(*k).or_default().acquired = ranges;
                        }
                    }
                }
                Ok(CommandResponse::Share(ShareResponse::Error { code, .. })) => {
                    resp.error_code = code;
                    return resp;
                }
                Ok(other) => tracing::warn!(?other, "unexpected acquire answer"),
                Err(e) => return fail(resp, e),
            }
        }
        if got_any || Instant::now() >= deadline || agent.shutdown.is_cancelled() {
            break;
        }
        // New records arrive as commits; expired locks need the clock: wake for either.
        let tick = deadline.min(Instant::now() + Duration::from_millis(250));
        tokio::select! {
            _ = applied.changed() => {}
            _ = tokio::time::sleep_until(tick) => {}
            _ = agent.shutdown.cancelled() => {}
        }
    }

    // Read the batches holding what was acquired.
    for (k, out) in parts.iter_mut() {
        let (Some(first), Some(last)) = (
            out.acquired.first().map(|a| a.first),
            out.acquired.last().map(|a| a.last),
        ) else {
            continue;
        };
        let Some(topic) = names.get(k) else { continue };
        match agent.read_offsets(topic, k.1, first, last).await {
            Ok(b) => out.records = b,
            Err(e) => out.error = Some(e),
        }
    }
    finish(resp, parts)
}

impl AckSink for PartitionOut {
    fn ack_result(&mut self, code: i16, _message: Option<String>) {
        self.listed = true;
        if self.ack_error.is_none_or(|c| c == 0) {
            self.ack_error = Some(code);
        }
    }
}

/// Whether an acquisition for this partition could hand out anything (checked on the replica,
/// so an idle long poll costs no quorum write).
fn may_acquire(agent: &Agent, group: &str, topic: &str, partition: i32, now: i64) -> bool {
    agent.read(|s| {
        let Some(log) = s.partition(topic, partition) else {
            return false;
        };
        let g = s.groups.share(group).ok();
        let sp = g
            .and_then(|g| g.partitions.get(topic))
            .and_then(|ps| ps.get(&partition));
        let end = g.map_or(log.high_watermark, |_| {
            acquirable_end(s.groups.configs_of(group), log)
        });
        match sp {
            // Not consumed yet: the first acquisition sets its start offset.
            None => true,
            Some(sp) => {
                (end > sp.end_offset() && sp.in_flight_records() < agent.share.limits.max_in_flight)
                    || sp.start_offset < log.log_start_offset
                    || sp.in_flight.iter().any(|r| {
                        r.state == RecordState::Available
                            || (r.state == RecordState::Acquired && r.lock_until_ms <= now)
                    })
            }
        }
    })
}

fn finish(
    mut resp: ShareFetchResponse,
    parts: BTreeMap<SharePartitionKey, PartitionOut>,
) -> ShareFetchResponse {
    let listed = parts
        .into_iter()
        .filter(|(_, out)| out.listed || !out.acquired.is_empty() || out.error.is_some());
    resp.responses = by_topic(
        listed.map(|((topic_id, partition), out)| {
            let mut pd = PartitionData::default();
            pd.partition_index = partition;
            pd.error_code = out.error.map_or(0, |e| e.code());
            pd.error_message = None;
            // Kafka answers piggy-backed acknowledgements with the code alone (no message).
            pd.acknowledge_error_code = out.ack_error.unwrap_or(0);
            pd.acknowledge_error_message = None;
            pd.current_leader.leader_id = -1;
            pd.current_leader.leader_epoch = -1;
            pd.acquired_records = out
                .acquired
                .iter()
                .map(|a| {
                    let mut r = AcquiredRecords::default();
                    r.first_offset = a.first;
                    r.last_offset = a.last;
                    r.delivery_count = a.delivery_count;
                    r
                })
                .collect();
            pd.records = Some(out.records);
            (topic_id, pd)
        }),
        |id, partitions| {
            let mut t = ShareFetchableTopicResponse::default();
            t.topic_id = id;
            t.partitions = partitions;
            t
        },
    );
    resp
}
