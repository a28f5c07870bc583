//! DeleteRecords (v0-2): moves partitions' log start offsets forward (Kafka's
//! `ReplicaManager.deleteRecords`), in ONE quorum command for the whole request, so ListOffsets
//! (earliest), Fetch (OFFSET_OUT_OF_RANGE below the start) and consumer resets agree at once on
//! every agent. Chunks wholly below the new start leave the index; their objects are freed by the
//! janitor once nothing else references them.
//!
//! Per partition, as Kafka: DELETE on the topic (TOPIC_AUTHORIZATION_FAILED), an existing
//! partition (UNKNOWN_TOPIC_OR_PARTITION), `-1` = the high watermark, any other offset within
//! `0..=high watermark` (OFFSET_OUT_OF_RANGE), a topic whose `cleanup.policy` has `delete`
//! (POLICY_VIOLATION); the answer is the log start offset after the request.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use sluice_meta::command::{Command, CommandResponse};
use sluice_meta::lifecycle::{
    DeleteRecordsResult, DeleteRecordsTarget, LifecycleCommand, LifecycleResponse,
};

use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Answers one DeleteRecords request (API key 21): per partition, the new low watermark or an error
/// code.
pub async fn handle(cx: &RequestContext, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let agent = &*cx.agent;
    // Per (topic, partition) in request order: a local verdict, or an index into `targets`.
    let mut rows: Vec<(usize, i32, Result<usize, i16>)> = Vec::new();
    let mut targets = Vec::new();
    for (ti, t) in req.topics.iter().enumerate() {
        let name = t.name.0.as_str();
        let denied = !cx.authorize(Op::Delete, Res::Topic(name));
        for p in &t.partitions {
            let verdict = if denied {
                Err(ResponseError::TopicAuthorizationFailed.code())
            } else {
                targets.push(DeleteRecordsTarget {
                    topic: name.to_string(),
                    partition: p.partition_index,
                    offset: p.offset,
                });
                Ok(targets.len() - 1)
            };
            rows.push((ti, p.partition_index, verdict));
        }
    }
    let results: Result<Vec<DeleteRecordsResult>, i16> = if targets.is_empty() {
        Ok(Vec::new())
    } else {
        match agent
            .propose(Command::Lifecycle(LifecycleCommand::DeleteRecords {
                partitions: targets.clone(),
            }))
            .await
        {
            Ok(CommandResponse::Lifecycle(LifecycleResponse::RecordsDeleted(r)))
                if r.len() == targets.len() =>
            {
                Ok(r)
            }
            Ok(other) => {
                tracing::error!(answer = ?other, "unexpected DeleteRecords answer");
                Err(ResponseError::UnknownServerError.code())
            }
            Err(e) => Err(e.code()),
        }
    };
    for (t, r) in targets.iter().zip(results.iter().flatten()) {
        if r.error_code == 0 {
            tracing::info!(topic = %t.topic, partition = t.partition, log_start_offset = r.low_watermark, "records deleted");
        }
    }
    let mut resp = DeleteRecordsResponse::default();
    for (ti, t) in req.topics.iter().enumerate() {
        let mut tr = DeleteRecordsTopicResult::default();
        tr.name = t.name.clone();
        for (_, partition, verdict) in rows.iter().filter(|(i, _, _)| *i == ti) {
            let r = match (verdict, &results) {
                (Err(code), _) | (Ok(_), Err(code)) => DeleteRecordsResult {
                    error_code: *code,
                    low_watermark: -1,
                },
                (Ok(i), Ok(rs)) => rs[*i],
            };
            tr.partitions.push(
                DeleteRecordsPartitionResult::default()
                    .with_partition_index(*partition)
                    .with_low_watermark(r.low_watermark)
                    .with_error_code(r.error_code),
            );
        }
        resp.topics.push(tr);
    }
    resp
}
