//! OffsetDelete (v0): drops committed offsets of partitions the group no longer consumes.
//! Partitions of a topic some member of a live group subscribes to are refused
//! (GROUP_SUBSCRIBED_TO_TOPIC), as in Kafka.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};
use kafka_protocol::protocol::Decodable;
use sluice_meta::classic_group::ClassicGroup;
use sluice_meta::groups::{Group, GroupCommand};

use super::groups::partition_codes;
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Answers one OffsetDelete request (API key 47): a top-level code for the group, then one code per
/// partition.
pub async fn handle(cx: &RequestContext, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let agent = &*cx.agent;
    let group = req.group_id.0.to_string();
    let mut resp = OffsetDeleteResponse::default();
    // DELETE on the group, then READ on each topic.
    if let Err(refused) = cx.coordinated_group(Op::Delete, &group) {
        resp.error_code = refused.code();
        return resp;
    }
    // A share group keeps no committed offsets (Kafka's ShareGroup.validateOffsetDelete).
    let subscribed = agent.read(|s| match s.groups.get(&group) {
        None | Some(Group::Share(_)) => None,
        Some(Group::Classic(g)) => Some(subscribed_topics(g)),
        Some(Group::Consumer(_)) => Some(BTreeSet::new()),
        // A running streams group is subscribed to its tasks' input topics.
        Some(Group::Streams(g)) if g.members.is_empty() => Some(BTreeSet::new()),
        Some(Group::Streams(g)) => Some(
            g.configured
                .iter()
                .flat_map(|c| c.sources.values().flatten().cloned())
                .collect(),
        ),
    });
    let Some(subscribed) = subscribed else {
        resp.error_code = ResponseError::GroupIdNotFound.code();
        return resp;
    };
    let mut verdicts = Vec::new();
    let mut delete = Vec::new();
    for t in &req.topics {
        let name = t.name.0.to_string();
        let partitions = agent.read(|s| s.topic(&name).map(|t| t.partitions.len() as i32));
        let topic_denied = !cx.authorize(Op::Read, Res::Topic(&name));
        let v: Vec<i16> = t
            .partitions
            .iter()
            .map(|p| {
                if topic_denied {
                    ResponseError::TopicAuthorizationFailed.code()
                } else if !partitions.is_some_and(|n| (0..n).contains(&p.partition_index)) {
                    ResponseError::UnknownTopicOrPartition.code()
                } else if subscribed.contains(&name) {
                    ResponseError::GroupSubscribedToTopic.code()
                } else {
                    delete.push((name.clone(), p.partition_index));
                    0
                }
            })
            .collect();
        verdicts.push(v);
    }
    let mut outcome = 0;
    if !delete.is_empty() {
        let cmd = GroupCommand::DeleteOffsets {
            group,
            partitions: delete,
        };
        if let Err(code) = agent.propose_group(cmd).await {
            resp.error_code = code;
            return resp;
        }
        outcome = 0;
    }
    let codes = verdicts
        .into_iter()
        .map(|v| v.into_iter().map(|c| if c == 0 { outcome } else { c }));
    resp.topics = partition_codes!(
        req.topics,
        codes,
        OffsetDeleteResponseTopic,
        OffsetDeleteResponsePartition
    );
    resp
}

/// Topics the members of a consumer group subscribe to, from their protocol metadata.
fn subscribed_topics(g: &ClassicGroup) -> BTreeSet<String> {
    if g.protocol_type != "consumer" {
        return BTreeSet::new();
    }
    let Some(protocol) = &g.protocol else {
        return BTreeSet::new();
    };
    let mut out = BTreeSet::new();
    for m in g.members.values() {
        let mut buf = bytes::Bytes::copy_from_slice(m.metadata(protocol));
        if buf.len() < 2 {
            continue;
        }
        let version = i16::from_be_bytes([buf[0], buf[1]]);
        let _ = bytes::Buf::get_i16(&mut buf);
        // Untrusted client bytes: a decoder panic must not take the agent down.
        let decoded = std::panic::catch_unwind(move || {
            ConsumerProtocolSubscription::decode(&mut buf, version.clamp(0, 3))
        });
        if let Ok(Ok(sub)) = decoded {
            out.extend(sub.topics.iter().map(|t| t.to_string()));
        }
    }
    out
}
