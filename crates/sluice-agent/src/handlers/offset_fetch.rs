//! OffsetFetch (v1-v9; several groups per request from v8): read from the local replica, which
//! on the coordinator already holds every commit it acknowledged.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse};
use sluice_meta::state::MetaState;

use super::{str_bytes, topic_name};
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// One partition's answer: (partition, offset, leader epoch, metadata, error).
type PartitionOffset = (i32, i64, i32, String, i16);

/// Answers one OffsetFetch request (API key 9): each group's committed offsets (-1 when none is
/// committed) from the local replica.
pub async fn handle(cx: &RequestContext, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let version = cx.api_version;
    let mut resp = OffsetFetchResponse::default();
    if version >= 8 {
        resp.groups = req
            .groups
            .iter()
            .map(|g| {
                let wanted = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                        .collect::<Vec<_>>()
                });
                // v9+: the member fetching, checked as Kafka's validateOffsetFetch.
                let member = (g.member_id.as_ref().map(|m| m.as_str()), g.member_epoch);
                let (code, topics) = fetch(cx, g.group_id.0.as_str(), member, wanted);
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_error_code(code)
                    .with_topics(
                        topics
                            .into_iter()
                            .map(|(name, parts)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(topic_name(name))
                                    .with_partitions(
                                        parts
                                            .into_iter()
                                            .map(|(p, o, e, m, c)| {
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(p)
                                                    .with_committed_offset(o)
                                                    .with_committed_leader_epoch(e)
                                                    .with_metadata(Some(str_bytes(m)))
                                                    .with_error_code(c)
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    )
            })
            .collect();
        return resp;
    }
    let wanted = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect::<Vec<_>>()
    });
    let GroupId(group) = &req.group_id;
    let (code, topics) = fetch(cx, group.as_str(), (None, -1), wanted);
    resp.error_code = code;
    resp.topics = topics
        .into_iter()
        .map(|(name, parts)| {
            OffsetFetchResponseTopic::default()
                .with_name(topic_name(name))
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|(p, o, e, m, c)| {
                            // Before v2 there is no group-level error: every partition carries it.
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(o)
                                .with_committed_leader_epoch(e)
                                .with_metadata(Some(str_bytes(m)))
                                .with_error_code(if version < 2 && c == 0 { code } else { c })
                        })
                        .collect(),
                )
        })
        .collect();
    resp
}

/// The group-level error and, per topic, the committed offsets asked for (all when `wanted` is
/// None); -1 where nothing is committed. `member`: the fetching member's id and epoch (v9+;
/// `(None, -1)` outside group management): an unknown member or a wrong epoch of a KIP-848 or
/// streams group is a group-level error with no topics, as Kafka.
fn fetch(
    cx: &RequestContext,
    group: &str,
    member: (Option<&str>, i32),
    wanted: Option<Vec<(String, Vec<i32>)>>,
) -> (i16, Vec<(String, Vec<PartitionOffset>)>) {
    let agent = &*cx.agent;
    // DESCRIBE on the group, then on each topic (unauthorized topics are errors when asked
    // for, left out when listing all).
    if let Err(refused) = cx.coordinated_group(Op::Describe, group) {
        let code = refused.code();
        let topics = wanted
            .unwrap_or_default()
            .into_iter()
            .map(|(t, ps)| {
                (
                    t,
                    ps.into_iter()
                        .map(|p| (p, -1, -1, String::new(), code))
                        .collect(),
                )
            })
            .collect();
        return (code, topics);
    }
    let listing_all = wanted.is_none();
    let (code, topics): (i16, Vec<(String, Vec<PartitionOffset>)>) = agent.read(|s: &MetaState| {
        if s.groups.get(group).and_then(|g| g.as_share()).is_some() {
            // Kafka's ShareGroup.validateOffsetFetch: a share group has no committed offsets.
            return (ResponseError::GroupIdNotFound.code(), Vec::new());
        }
        if let Some(code) = s.groups.fetch_refusal(group, member.0, member.1) {
            return (code, Vec::new());
        }
        let g = s.groups.offsets_of(group);
        let committed = |t: &str, p: i32| -> PartitionOffset {
            match g.and_then(|g| g.get(t)).and_then(|ps| ps.get(&p)) {
                Some(o) => (
                    p,
                    o.offset,
                    o.leader_epoch,
                    o.metadata.clone().unwrap_or_default(),
                    0,
                ),
                None => (p, -1, -1, String::new(), 0),
            }
        };
        let topics = match wanted {
            Some(ts) => ts
                .into_iter()
                .map(|(t, ps)| {
                    let parts = ps.into_iter().map(|p| committed(&t, p)).collect();
                    (t, parts)
                })
                .collect(),
            None => g
                .map(|g| {
                    g.iter()
                        .map(|(t, ps)| (t.clone(), ps.keys().map(|p| committed(t, *p)).collect()))
                        .collect()
                })
                .unwrap_or_default(),
        };
        (0, topics)
    });
    let denied = ResponseError::TopicAuthorizationFailed.code();
    let topics = topics
        .into_iter()
        .filter_map(|(t, parts)| {
            if cx.may(Op::Describe, Res::Topic(&t)) {
                Some((t, parts))
            } else if listing_all {
                None
            } else {
                let parts = parts
                    .into_iter()
                    .map(|(p, ..)| (p, -1, -1, String::new(), denied))
                    .collect();
                Some((t, parts))
            }
        })
        .collect();
    (code, topics)
}
