//! OffsetCommit (v2-v9): committed offsets are quorum state, one proposal per request.
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

use crate::agent::{now_ms, Agent};
use crate::authz::{Op, Res};

pub async fn handle(
    agent: &Agent,
    req: OffsetCommitRequest,
    _version: i16,
) -> OffsetCommitResponse {
    let group = req.group_id.0.to_string();
    // Per partition: an error decided here, or None to be decided by the proposal.
    let mut verdicts: Vec<Vec<Option<i16>>> = Vec::with_capacity(req.topics.len());
    let mut entries = Vec::new();
    // READ on the group, then READ on each topic.
    let whole = if !agent.authorize(Op::Read, Res::Group(&group)) {
        Some(ResponseError::GroupAuthorizationFailed.code())
    } else if group.is_empty() {
        Some(ResponseError::InvalidGroupId.code())
    } else if !agent.is_group_coordinator(&group) {
        Some(ResponseError::NotCoordinator.code())
    } else {
        None
    };
    for t in &req.topics {
        let partitions = agent.read(|s| {
            s.topic(t.name.0.as_str())
                .map(|t| t.partitions.len() as i32)
        });
        let topic_denied = whole.is_none() && !agent.authorize(Op::Read, Res::Topic(&t.name.0));
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
        };
        if let Err(code) = agent.propose_group(cmd).await {
            outcome = code;
        }
    }
    let mut resp = OffsetCommitResponse::default();
    resp.topics = req
        .topics
        .iter()
        .zip(verdicts)
        .map(|(t, v)| {
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .zip(v)
                        .map(|(p, code)| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code.unwrap_or(outcome))
                        })
                        .collect(),
                )
        })
        .collect();
    resp
}
