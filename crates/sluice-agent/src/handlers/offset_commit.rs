//! OffsetCommit (v2-v9): committed offsets are quorum state, one proposal per request.
//! Members of KIP-848 consumer groups and streams groups must commit with v9+ (UNSUPPORTED_VERSION
//! per partition otherwise, as Kafka's `validateOffsetCommit`).
//!
//! Kafka's checks: the coordinator only; unknown topics and oversized metadata per partition;
//! for members of a managed group, the member id, the generation, static-member fencing, and no
//! commit while the group waits for its leader's assignment (REBALANCE_IN_PROGRESS). Commits of
//! the current generation during PreparingRebalance are accepted, so a consumer can commit from
//! its revocation callback.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use sluice_meta::groups::{GroupCommand, OffsetCommitEntry, OFFSET_METADATA_MAX_BYTES};

use super::groups::partition_codes;
use crate::authz::{Op, Res};
use crate::clock::now_ms;
use crate::request::RequestContext;

/// Answers one OffsetCommit request (API key 8): one proposal for the whole request, a result code
/// per partition.
pub async fn handle(cx: &RequestContext, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let agent = &*cx.agent;
    let group = req.group_id.0.to_string();
    // Per partition: an error decided here, or None to be decided by the proposal.
    let mut verdicts: Vec<Vec<Option<i16>>> = Vec::with_capacity(req.topics.len());
    let mut entries = Vec::new();
    // READ on the group, then READ on each topic.
    let whole = cx
        .coordinated_named_group(Op::Read, &group)
        .err()
        .map(|e| e.code());
    for t in &req.topics {
        let partitions = agent.read(|s| {
            s.topic(t.name.0.as_str())
                .map(|t| t.partitions.len() as i32)
        });
        let topic_denied = whole.is_none() && !cx.authorize(Op::Read, Res::Topic(&t.name.0));
        let mut v = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let code = if whole.is_some() {
                whole
            } else if topic_denied {
                Some(ResponseError::TopicAuthorizationFailed.code())
            } else if !partitions.is_some_and(|n| (0..n).contains(&p.partition_index)) {
                Some(ResponseError::UnknownTopicOrPartition.code())
            } else if p
                .committed_metadata
                .as_ref()
                .is_some_and(|m| m.len() > OFFSET_METADATA_MAX_BYTES)
            {
                Some(ResponseError::OffsetMetadataTooLarge.code())
            } else {
                entries.push(OffsetCommitEntry {
                    topic: t.name.0.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                });
                None
            };
            v.push(code);
        }
        verdicts.push(v);
    }
    let mut outcome = 0;
    if !entries.is_empty() {
        let member = req.member_id.to_string();
        if req.generation_id_or_member_epoch >= 0 {
            agent.groups.touch(&group, &member);
        }
        let cmd = GroupCommand::CommitOffsets {
            group,
            generation: req.generation_id_or_member_epoch,
            member_id: member,
            instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
            offsets: entries,
            now_ms: now_ms(),
            api_version: Some(cx.api_version),
        };
        if let Err(code) = agent.propose_group(cmd).await {
            outcome = code;
        }
    }
    let codes = verdicts
        .into_iter()
        .map(|v| v.into_iter().map(|c| c.unwrap_or(outcome)));
    let mut resp = OffsetCommitResponse::default();
    resp.topics = partition_codes!(
        req.topics,
        codes,
        OffsetCommitResponseTopic,
        OffsetCommitResponsePartition
    );
    resp
}
