//! Fetch: batches from the offset index and block cache, long polling on metadata commits, and
//! KIP-227 incremental fetch sessions. read_committed fetches (v4+) read below the last stable
//! offset and get the aborted transactions overlapping what they read, from the local replica:
//! no quorum round trip.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};
use tokio::time::Instant;
use uuid::Uuid;

use super::topic_name;
use crate::agent::Agent;
use crate::authz::{Op, Res};
use crate::fetch_session::{PartitionRequest, PartitionSent, SessionKey};
use crate::reader::Watermarks;
use crate::request::RequestContext;

/// Longest long poll honoured, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(30);

struct PartitionResult {
    key: SessionKey,
    request: PartitionRequest,
    error: Option<ResponseError>,
    marks: Watermarks,
    records: Bytes,
    /// read_committed: aborted transactions overlapping the records served.
    aborted: Option<Vec<sluice_meta::txn::AbortedTxn>>,
}

/// Answers one Fetch request (API key 1): batches per partition with high watermark, last stable
/// offset, log start offset and aborted transactions, long-polling up to `max_wait_ms`; errors are
/// per-partition (or session) codes.
pub async fn handle(cx: &RequestContext, req: FetchRequest) -> FetchResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let by_id = version >= 13;
    let key_of = |name: &str, id: Uuid, partition: i32| {
        let resolved = agent.resolve_topic(
            (!by_id).then_some(name),
            if by_id { id } else { Uuid::nil() },
        );
        match resolved {
            Some(t) => SessionKey {
                topic_id: t.id,
                topic: t.name,
                partition,
            },
            None => SessionKey {
                topic_id: id,
                topic: name.to_string(),
                partition,
            },
        }
    };
    let requested: Vec<(SessionKey, PartitionRequest)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    key_of(&t.topic.0, t.topic_id, p.partition),
                    PartitionRequest {
                        fetch_offset: p.fetch_offset,
                        max_bytes: p.partition_max_bytes,
                    },
                )
            })
        })
        .collect();
    let forgotten: Vec<SessionKey> = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| key_of(&t.topic.0, t.topic_id, *p))
        })
        .collect();
    let mut resp = FetchResponse::default();
    let (mode, parts) = match agent.sessions.begin(
        req.session_id,
        req.session_epoch,
        requested,
        &forgotten,
    ) {
        Ok(x) => x,
        Err(e) => {
            tracing::debug!(session_id = req.session_id, epoch = req.session_epoch, error = ?e, "fetch session refused");
            resp.error_code = e.code();
            resp.session_id = req.session_id;
            return resp;
        }
    };

    // READ on each topic, checked once per request (not per long-poll round).
    let mut denied: HashSet<String> = HashSet::new();
    let mut checked: HashSet<&str> = HashSet::new();
    for (key, _) in &parts {
        // An unknown topic id has no name (UNKNOWN_TOPIC_ID, answered below).
        if !key.topic.is_empty()
            && checked.insert(&key.topic)
            && !cx.authorize(Op::Read, Res::Topic(&key.topic))
        {
            denied.insert(key.topic.clone());
        }
    }
    let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    let min_bytes = req.min_bytes.max(0) as usize;
    let max_bytes = if req.max_bytes <= 0 {
        usize::MAX
    } else {
        req.max_bytes as usize
    };
    let read_committed = req.isolation_level == 1;
    let mut applied = agent.meta.replica().applied();
    let results = loop {
        applied.borrow_and_update();
        let results = read_all(agent, &parts, &denied, max_bytes, by_id, read_committed).await;
        let bytes: usize = results.iter().map(|r| r.records.len()).sum();
        let errors = results.iter().any(|r| r.error.is_some());
        if bytes >= min_bytes.max(1)
            || errors
            || Instant::now() >= deadline
            || agent.shutdown.is_cancelled()
        {
            break results;
        }
        // Wake on the next metadata commit (new data lands as commits), or give up at the deadline.
        tokio::select! {
            _ = applied.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = agent.shutdown.cancelled() => {}
        }
    };

    let session_view: Vec<_> = results
        .iter()
        .map(|r| {
            let sent = PartitionSent {
                high_watermark: r.marks.high_watermark,
                log_start_offset: r.marks.log_start_offset,
            };
            (
                r.key.clone(),
                r.request,
                sent,
                r.error.is_some() || !r.records.is_empty(),
            )
        })
        .collect();
    let (session_id, include) = agent.sessions.finish(mode, &session_view);
    resp.session_id = session_id;
    let mut served = 0u64;
    for (r, inc) in results.into_iter().zip(include) {
        if !inc {
            continue;
        }
        served += r.records.len() as u64;
        let mut pd = PartitionData::default();
        pd.partition_index = r.key.partition;
        pd.error_code = r.error.map_or(0, |e| e.code());
        pd.high_watermark = r.marks.high_watermark;
        pd.last_stable_offset = r.marks.last_stable_offset;
        pd.log_start_offset = r.marks.log_start_offset;
        pd.aborted_transactions = r.aborted.map(|list| {
            list.into_iter()
                .map(|a| {
                    let mut t = AbortedTransaction::default();
                    t.producer_id = ProducerId(a.producer_id);
                    t.first_offset = a.first_offset;
                    t
                })
                .collect()
        });
        pd.records = Some(r.records);
        let same_topic = resp
            .responses
            .last()
            .is_some_and(|t| t.topic_id == r.key.topic_id && t.topic.0.as_str() == r.key.topic);
        if !same_topic {
            let mut t = FetchableTopicResponse::default();
            t.topic = topic_name(r.key.topic.clone());
            t.topic_id = r.key.topic_id;
            resp.responses.push(t);
        }
        resp.responses
            .last_mut()
            .expect("pushed above")
            .partitions
            .push(pd);
    }
    metrics::counter!("sluice_fetched_bytes_total").increment(served);
    resp
}

async fn read_all(
    agent: &Agent,
    parts: &[(SessionKey, PartitionRequest)],
    denied: &HashSet<String>,
    max_bytes: usize,
    by_id: bool,
    read_committed: bool,
) -> Vec<PartitionResult> {
    let mut out = Vec::with_capacity(parts.len());
    let mut total = 0usize;
    for (key, request) in parts {
        let mut r = PartitionResult {
            key: key.clone(),
            request: *request,
            error: None,
            marks: Watermarks {
                log_start_offset: -1,
                high_watermark: -1,
                last_stable_offset: -1,
            },
            records: Bytes::new(),
            aborted: None,
        };
        let known = agent.resolve_topic(
            Some(&key.topic),
            if by_id { key.topic_id } else { Uuid::nil() },
        );
        match known {
            Some(t) if denied.contains(&t.name) => {
                r.error = Some(ResponseError::TopicAuthorizationFailed)
            }
            Some(t) if key.partition >= 0 && key.partition < t.partitions => {
                let budget =
                    (request.max_bytes.max(0) as usize).min(max_bytes.saturating_sub(total));
                match agent.plan_read(&t.name, key.partition, request.fetch_offset, budget.max(1)) {
                    Ok(plan) => {
                        r.marks = plan.marks;
                        // read_committed stops at the last stable offset.
                        let upto = if read_committed {
                            plan.marks.last_stable_offset
                        } else {
                            i64::MAX
                        };
                        match agent
                            .read_batches_below(
                                &plan,
                                request.fetch_offset,
                                upto,
                                budget,
                                total == 0,
                            )
                            .await
                        {
                            Ok((b, next)) => {
                                r.records = b;
                                if read_committed {
                                    r.aborted = Some(agent.read(|s| {
                                        s.partition(&t.name, key.partition)
                                            .map_or_else(Vec::new, |p| {
                                                p.aborted_between(request.fetch_offset, next)
                                            })
                                    }));
                                }
                            }
                            Err(e) => r.error = Some(e),
                        }
                    }
                    // As Kafka (ReplicaManager's error path): a partition with an error, such as
                    // OFFSET_OUT_OF_RANGE, reports its high watermark and log start offset as -1.
                    Err(e) => r.error = Some(e),
                }
            }
            _ if by_id && agent.resolve_topic(None, key.topic_id).is_none() => {
                r.error = Some(ResponseError::UnknownTopicId)
            }
            _ => r.error = Some(ResponseError::UnknownTopicOrPartition),
        }
        total += r.records.len();
        out.push(r);
    }
    out
}
