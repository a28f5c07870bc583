//! Produce: validate every batch, append it to the segment writer in request order, answer once
//! the segment holding it is durable and committed (acks 0, 1 and all all mean that; acks=0 only
//! skips the answer).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};
use sluice_meta::codes;
use sluice_meta::command::BatchOutcome;
use tokio::sync::oneshot;

use super::str_bytes;
use crate::agent::Agent;
use crate::authz::{Op, Res};
use crate::clock::now_ms;
use crate::log_validator::{LogValidator, Rejection};
use crate::request::{Reply, ReplyFuture, RequestContext};
use crate::topic_config::ProducePolicy;
use crate::writer::{PartitionKey, WriteError};

type Outcomes = oneshot::Receiver<Result<Vec<BatchOutcome>, WriteError>>;

enum Pending {
    Failed(ResponseError, Option<String>),
    /// Refused by the [`LogValidator`]: a code, maybe a message and per-record errors.
    Rejected(Rejection),
    Appended {
        rx: Outcomes,
        log_append_time: i64,
    },
}

/// The first Produce version of transaction version 2 (KIP-890): its transactional batches add
/// their partition to the producer's transaction themselves.
const TV2_VERSION: i16 = 12;

/// The first Produce version whose clients know KIP-1050's TRANSACTION_ABORTABLE.
const ABORTABLE_VERSION: i16 = 11;

/// Answers one Produce request (API key 0): validates and appends every batch, and returns the
/// future of the reply, which resolves once the segments holding them are committed (no reply for
/// acks=0).
pub async fn handle(cx: &RequestContext, req: ProduceRequest) -> ReplyFuture {
    let (agent, version) = (cx.agent.clone(), cx.api_version);
    let acks = req.acks;
    // A transactional producer needs WRITE on its transactional id (Kafka's KafkaApis).
    let txn_denied = req.transactional_id.as_ref().is_some_and(|tid| {
        !tid.0.is_empty() && !cx.authorize(Op::Write, Res::TransactionalId(&tid.0))
    });
    let mut topics = Vec::with_capacity(req.topic_data.len());
    for td in req.topic_data {
        let name = td.name.0.to_string();
        let resolved = agent.resolve_topic(Some(&name), td.topic_id);
        // WRITE on the topic; an unknown topic id has no name to check (UNKNOWN_TOPIC_ID).
        let checked_name = resolved.as_ref().map_or(name.as_str(), |t| t.name.as_str());
        let allowed = checked_name.is_empty() || cx.authorize(Op::Write, Res::Topic(checked_name));
        let policy = resolved
            .as_ref()
            .and_then(|t| agent.read(|s| s.topic(&t.name).map(ProducePolicy::of)));
        let mut parts = Vec::with_capacity(td.partition_data.len());
        for pd in td.partition_data {
            let pending = match (&resolved, policy) {
                _ if txn_denied => {
                    Pending::Failed(ResponseError::TransactionalIdAuthorizationFailed, None)
                }
                _ if !matches!(acks, -1..=1) => {
                    Pending::Failed(ResponseError::InvalidRequiredAcks, None)
                }
                _ if !allowed => Pending::Failed(ResponseError::TopicAuthorizationFailed, None),
                (Some(t), Some(policy)) if pd.index >= 0 && pd.index < t.partitions => {
                    let key = PartitionKey {
                        topic: t.name.clone(),
                        topic_id: t.id,
                        partition: pd.index,
                    };
                    append(&agent, key, pd.records, &policy, version).await
                }
                _ => Pending::Failed(ResponseError::UnknownTopicOrPartition, None),
            };
            parts.push((pd.index, pending));
        }
        topics.push((td.name, resolved.map_or(td.topic_id, |t| t.id), parts));
    }
    Box::pin(async move {
        let mut resp = ProduceResponse::default();
        for (name, topic_id, parts) in topics {
            let mut tr = TopicProduceResponse::default();
            tr.name = name;
            tr.topic_id = topic_id;
            for (index, pending) in parts {
                let mut pr = PartitionProduceResponse::default();
                pr.index = index;
                pr.base_offset = -1;
                match pending {
                    Pending::Failed(e, msg) => {
                        pr.error_code = e.code();
                        pr.error_message = msg.map(str_bytes);
                    }
                    Pending::Rejected(r) => {
                        pr.error_code = r.error().code();
                        if r.reports_log_start_offset() {
                            pr.log_start_offset = log_start_offset(&agent, &tr.name.0, index);
                        }
                        pr.error_message = r.client_message().map(str_bytes);
                        pr.record_errors = r
                            .record_errors()
                            .iter()
                            .map(|e| {
                                let mut b = BatchIndexAndErrorMessage::default();
                                b.batch_index = e.batch_index;
                                b.batch_index_error_message = Some(str_bytes(e.message.clone()));
                                b
                            })
                            .collect();
                    }
                    Pending::Appended {
                        rx,
                        log_append_time,
                    } => {
                        let result = rx.await.unwrap_or(Err(WriteError::ShuttingDown));
                        // Kafka reports the log start offset with success and with errors
                        // raised by the log (sequence, epoch), not with storage errors.
                        if fill(&mut pr, result, log_append_time, version) {
                            pr.log_start_offset = log_start_offset(&agent, &tr.name.0, index);
                        }
                    }
                }
                tr.partition_responses.push(pr);
            }
            resp.responses.push(tr);
        }
        if acks == 0 {
            Reply::NoResponse
        } else {
            Reply::Response(Box::new(ResponseKind::Produce(resp)))
        }
    })
}

async fn append(
    agent: &Agent,
    key: PartitionKey,
    records: Option<bytes::Bytes>,
    policy: &ProducePolicy,
    version: i16,
) -> Pending {
    let Some(records) = records else {
        return Pending::Failed(ResponseError::InvalidRecord, None);
    };
    let now = now_ms();
    let validator = LogValidator {
        topic: &key.topic,
        partition: key.partition,
        policy,
        now_ms: now,
        api_version: version,
        max_decompressed_bytes: agent.cfg.max_request_bytes,
    };
    let batches = match validator.validate(&records) {
        Ok(b) => b,
        Err(e) => {
            tracing::info!(topic = %key.topic, partition = key.partition, error = %e, "rejecting produced batch");
            metrics::counter!("sluice_produce_rejected_batches_total").increment(1);
            return Pending::Rejected(e);
        }
    };
    let log_append_time = if policy.log_append_time { now } else { -1 };
    let records: usize = batches.iter().map(|(_, h)| h.records_count as usize).sum();
    metrics::counter!("sluice_produced_records_total").increment(records as u64);
    metrics::counter!("sluice_produced_bytes_total")
        .increment(batches.iter().map(|(b, _)| b.len() as u64).sum::<u64>());
    let rx = agent
        .writer
        .append_produced(key, batches, version >= TV2_VERSION)
        .await;
    Pending::Appended {
        rx,
        log_append_time,
    }
}

/// The partition's log start offset as this agent knows it (-1 for an unknown partition).
fn log_start_offset(agent: &Agent, topic: &str, partition: i32) -> i64 {
    agent
        .watermarks(topic, partition)
        .map_or(-1, |w| w.log_start_offset)
}

/// Maps a partition's batch outcomes to its response: the first batch's offset, or the first
/// error. True when the log answered (appended, or refused with a log error such as a sequence
/// or epoch error), which is when Kafka reports the log start offset.
fn fill(
    pr: &mut PartitionProduceResponse,
    result: Result<Vec<BatchOutcome>, WriteError>,
    log_append_time: i64,
    version: i16,
) -> bool {
    match result {
        Err(e) => {
            pr.error_code = match e {
                WriteError::Upload(_) => ResponseError::KafkaStorageError.code(),
                WriteError::Commit(_) | WriteError::ShuttingDown => {
                    ResponseError::RequestTimedOut.code()
                }
            };
            pr.error_message = Some(str_bytes(e.to_string()));
            false
        }
        Ok(outcomes) => {
            if let Some(code) = outcomes.iter().find_map(|o| match o {
                BatchOutcome::Rejected { error_code } => Some(*error_code),
                _ => None,
            }) {
                pr.error_code = match code {
                    // KIP-1050: a transactional batch outside its transaction is abortable for the
                    // clients that know the class (Kafka 4.2+ answers so; 4.1 NOT_LEADER_OR_FOLLOWER).
                    codes::INVALID_TXN_STATE if version >= ABORTABLE_VERSION => {
                        codes::TRANSACTION_ABORTABLE
                    }
                    code => code,
                };
                // A topic deleted under the commit: Kafka has no log to report on.
                return code != ResponseError::UnknownTopicOrPartition.code();
            }
            pr.base_offset = match outcomes.first() {
                Some(
                    BatchOutcome::Appended { base_offset }
                    | BatchOutcome::Duplicate { base_offset },
                ) => *base_offset,
                _ => -1,
            };
            pr.log_append_time_ms = log_append_time;
            true
        }
    }
}
