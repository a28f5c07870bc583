//! ShareAcknowledge (KIP-932): acknowledgements outside a fetch, one quorum command per request.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_acknowledge_response::{
    PartitionData, ShareAcknowledgeTopicResponse,
};
use kafka_protocol::messages::{ShareAcknowledgeRequest, ShareAcknowledgeResponse};
use sluice_meta::command::Command;
use sluice_meta::share_group::ShareCommand;
use uuid::Uuid;

use super::share_fetch::{apply_acks, AckSink};
use crate::agent::Agent;
use crate::authz::{Op, Res};
use crate::share::{partition_acks, SessionStep, SharePartitionKey};

/// A partition's outcome: code and Kafka's message (the first error wins).
#[derive(Default)]
struct AckOut(Option<(i16, Option<String>)>);

impl AckSink for AckOut {
    fn ack_result(&mut self, code: i16, message: Option<String>) {
        if self.0.as_ref().is_none_or(|(c, _)| *c == 0) {
            self.0 = Some((code, message));
        }
    }
}

pub async fn handle(
    agent: &Agent,
    req: ShareAcknowledgeRequest,
    _version: i16,
) -> ShareAcknowledgeResponse {
    let mut resp = ShareAcknowledgeResponse::default();
    let group = req
        .group_id
        .as_ref()
        .map(|g| g.0.to_string())
        .unwrap_or_default();
    let member = req
        .member_id
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    if group.is_empty() || member.is_empty() {
        resp.error_code = ResponseError::InvalidRequest.code();
        return resp;
    }
    // READ on the group; READ on each topic below.
    if !agent.authorize(Op::Read, Res::Group(&group)) {
        resp.error_code = ResponseError::GroupAuthorizationFailed.code();
        return resp;
    }
    if !agent.read(|s| {
        s.share_groups
            .get(&group)
            .is_some_and(|g| g.members.contains_key(&member))
    }) {
        resp.error_code = ResponseError::UnknownMemberId.code();
        return resp;
    }
    // Acknowledgements may not open a session (epoch 0), as in Kafka.
    if req.share_session_epoch == 0 {
        resp.error_code = ResponseError::InvalidShareSessionEpoch.code();
        return resp;
    }
    let step = match agent
        .share
        .session(&group, &member, req.share_session_epoch, &[], &[])
    {
        Ok((step, _)) => step,
        Err(e) => {
            resp.error_code = e.code();
            return resp;
        }
    };
    let mut parts: BTreeMap<SharePartitionKey, AckOut> = BTreeMap::new();
    let mut acks = Vec::new();
    for t in &req.topics {
        let name = agent.resolve_topic(None, t.topic_id).map(|r| r.name);
        let denied = name
            .as_deref()
            .is_some_and(|n| !agent.authorize(Op::Read, Res::Topic(n)));
        for p in &t.partitions {
            let key = (t.topic_id, p.partition_index);
            let Some(name) = &name else {
                parts.entry(key).or_default().0 =
                    Some((ResponseError::UnknownTopicId.code(), None));
                continue;
            };
            if denied {
                parts.entry(key).or_default().0 =
                    Some((ResponseError::TopicAuthorizationFailed.code(), None));
                continue;
            }
            match partition_acks(name, p.partition_index, &p.acknowledgement_batches) {
                Ok(rs) => acks.extend(rs.into_iter().map(|r| (key, r))),
                Err(e) => parts.entry(key).or_default().ack_result(e.code(), None),
            }
            parts.entry(key).or_default();
        }
    }
    apply_acks(agent, &group, &member, acks, &mut parts).await;
    if step == SessionStep::Close {
        let limits = agent.share.limits;
        let _ = agent
            .propose(Command::Share(ShareCommand::ReleaseAll {
                group,
                member_id: member,
                limits,
            }))
            .await;
    }
    let mut by_topic: BTreeMap<Uuid, Vec<PartitionData>> = BTreeMap::new();
    for ((topic_id, partition), out) in parts {
        let mut pd = PartitionData::default();
        pd.partition_index = partition;
        let (code, message) = out.0.unwrap_or((0, None));
        pd.error_code = code;
        pd.error_message = message.map(Into::into);
        pd.current_leader.leader_id = -1;
        pd.current_leader.leader_epoch = -1;
        by_topic.entry(topic_id).or_default().push(pd);
    }
    resp.responses = by_topic
        .into_iter()
        .map(|(id, partitions)| {
            let mut t = ShareAcknowledgeTopicResponse::default();
            t.topic_id = id;
            t.partitions = partitions;
            t
        })
        .collect();
    resp
}
