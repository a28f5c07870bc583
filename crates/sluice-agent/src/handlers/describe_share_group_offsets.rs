//! DescribeShareGroupOffsets (KIP-932): each share-partition's start offset (SPSO).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponseGroup, DescribeShareGroupOffsetsResponsePartition,
    DescribeShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::{
    DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse,
};

use sluice_meta::groups::GroupLookupError;

use super::{str_bytes, topic_name};
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Answers one DescribeShareGroupOffsets request (API key 90): per share-partition its start offset
/// (-1 when it has none), or an error code.
pub async fn handle(
    cx: &RequestContext,
    req: DescribeShareGroupOffsetsRequest,
) -> DescribeShareGroupOffsetsResponse {
    let agent = &*cx.agent;
    let mut resp = DescribeShareGroupOffsetsResponse::default();
    for g in req.groups {
        let mut out = DescribeShareGroupOffsetsResponseGroup::default();
        out.group_id = g.group_id.clone();
        let group = g.group_id.0.to_string();
        // DESCRIBE on the group; DESCRIBE on each topic below.
        if let Err(refused) = cx.authorize_group(Op::Describe, &group) {
            out.error_code = refused.code();
            out.error_message = refused.wire_message();
            resp.groups.push(out);
            continue;
        }
        // One group-id namespace: a classic or consumer group is not a share group.
        if let Err(e @ GroupLookupError::WrongType { .. }) =
            agent.read(|s| s.groups.share(&group).map(drop))
        {
            out.error_code = e.code();
            out.error_message = Some(str_bytes(e.to_string()));
            resp.groups.push(out);
            continue;
        }
        // Null topics: every topic the group has state for.
        let wanted: Vec<(String, Option<Vec<i32>>)> = match g.topics {
            Some(ts) => ts
                .into_iter()
                .map(|t| (t.topic_name.0.to_string(), Some(t.partitions)))
                .collect(),
            None => agent.read(|s| {
                s.groups
                    .share(&group)
                    .ok()
                    .map(|sg| sg.partitions.keys().map(|t| (t.clone(), None)).collect())
                    .unwrap_or_default()
            }),
        };
        out.topics = wanted
            .into_iter()
            .map(|(topic, parts)| {
                let topic_denied = !cx.authorize(Op::Describe, Res::Topic(&topic));
                agent.read(|s| {
                    let mut t = DescribeShareGroupOffsetsResponseTopic::default();
                    t.topic_name = topic_name(topic.clone());
                    t.topic_id = s.topic(&topic).map(|t| t.id).unwrap_or_default();
                    let state = s
                        .groups
                        .share(&group)
                        .ok()
                        .and_then(|sg| sg.partitions.get(&topic));
                    let parts = parts.unwrap_or_else(|| {
                        state
                            .map(|m| m.keys().copied().collect())
                            .unwrap_or_default()
                    });
                    t.partitions = parts
                        .into_iter()
                        .map(|p| {
                            let mut wp = DescribeShareGroupOffsetsResponsePartition::default();
                            wp.partition_index = p;
                            wp.error_message = None;
                            if topic_denied {
                                wp.error_code = ResponseError::TopicAuthorizationFailed.code();
                                wp.start_offset = -1;
                            } else if s.partition(&topic, p).is_none() {
                                wp.error_code = ResponseError::UnknownTopicOrPartition.code();
                                wp.start_offset = -1;
                            } else {
                                wp.start_offset = state
                                    .and_then(|m| m.get(&p))
                                    .map_or(-1, |sp| sp.start_offset);
                                wp.leader_epoch = 0;
                            }
                            wp
                        })
                        .collect();
                    t
                })
            })
            .collect();
        out.error_message = None;
        resp.groups.push(out);
    }
    resp
}
