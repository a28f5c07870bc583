//! StreamsGroupDescribe (89, KIP-1071): a streams group's epochs, its configured topology and
//! every member's process, endpoint, reported offsets, current and target assignment, from the
//! replica. Version 1's full topology description (sent by members through a later API) is not
//! kept: its status stays NOT_REQUESTED.

use sluice_meta::groups::{GroupLookupError, GroupType};
use sluice_meta::state::MetaState;
use sluice_meta::streams_assignor::{MemberTasks, TaskId};
use sluice_meta::streams_group::{task_map, StreamsGroup};
use sluice_protocol::streams::streams_group_describe_response::{
    Assignment, DescribedGroup, Endpoint, KeyValue, Member, Subtopology, TaskIds, TaskOffset,
    TopicInfo, Topology,
};
use sluice_protocol::streams::{StreamsGroupDescribeRequest, StreamsGroupDescribeResponse};

use super::groups::describe_groups;
use super::{str_bytes, topic_name};
use crate::request::RequestContext;

/// The assignor Sluice's streams groups use (Kafka's default `sticky`).
const ASSIGNOR: &str = "sticky";

/// Answers one StreamsGroupDescribe request (API key 89, KIP-1071): one described group per
/// requested id, with per-group error codes.
pub async fn handle(
    cx: &RequestContext,
    req: StreamsGroupDescribeRequest,
) -> StreamsGroupDescribeResponse {
    StreamsGroupDescribeResponse {
        groups: describe_groups(
            cx,
            req.group_ids,
            req.include_authorized_operations,
            describe,
        ),
        ..Default::default()
    }
}

/// A streams group as the replica has it, or why not (GROUP_ID_NOT_FOUND).
fn describe(s: &MetaState, group: &str) -> Result<DescribedGroup, GroupLookupError> {
    let g = s
        .groups
        .get(group)
        .ok_or_else(|| GroupLookupError::NotFound(group.to_string()))?;
    let g = g.as_streams().ok_or_else(|| GroupLookupError::WrongType {
        group: group.to_string(),
        wanted: GroupType::Streams,
    })?;
    Ok(DescribedGroup {
        group_state: str_bytes(g.state().as_str()),
        group_epoch: g.group_epoch,
        assignment_epoch: g.assignment_epoch,
        topology: Some(topology(g)),
        members: g
            .members
            .values()
            .map(|m| Member {
                member_id: str_bytes(m.member_id.clone()),
                member_epoch: m.member_epoch,
                instance_id: m.instance_id.clone().map(str_bytes),
                rack_id: m.rack_id.clone().map(str_bytes),
                client_id: str_bytes(m.client_id.clone()),
                client_host: str_bytes(m.client_host.clone()),
                topology_epoch: m.topology_epoch,
                process_id: str_bytes(m.process_id.clone()),
                user_endpoint: m.user_endpoint.clone().map(|(host, port)| Endpoint {
                    host: str_bytes(host),
                    port,
                    ..Default::default()
                }),
                client_tags: m
                    .client_tags
                    .iter()
                    .map(|(k, v)| KeyValue {
                        key: str_bytes(k.clone()),
                        value: str_bytes(v.clone()),
                        ..Default::default()
                    })
                    .collect(),
                task_offsets: offsets(&m.task_offsets),
                task_end_offsets: offsets(&m.task_end_offsets),
                assignment: assignment(&m.assigned),
                target_assignment: assignment(
                    g.target.get(&m.member_id).unwrap_or(&Default::default()),
                ),
                ..Default::default()
            })
            .collect(),
        assignor_name: Some(str_bytes(ASSIGNOR)),
        ..Default::default()
    })
}

/// The configured topology: sub-topologies with regexes resolved and internal topics' partition
/// counts decided; null sub-topologies while the source topics are missing or misconfigured.
fn topology(g: &StreamsGroup) -> Topology {
    let Some(t) = &g.topology else {
        return Topology::default();
    };
    let configured = g.configured.as_ref();
    let ready = configured.is_some_and(|c| !c.tasks.is_empty() || c.is_ready());
    let info = |i: &sluice_meta::streams_group::TopicInfo| TopicInfo {
        name: topic_name(i.name.clone()),
        partitions: g.topics.get(&i.name).copied().unwrap_or(i.partitions),
        replication_factor: i.replication_factor,
        topic_configs: i
            .configs
            .iter()
            .map(
                |(k, v)| sluice_protocol::streams::streams_group_describe_response::KeyValue {
                    key: str_bytes(k.clone()),
                    value: str_bytes(v.clone()),
                    ..Default::default()
                },
            )
            .collect(),
        ..Default::default()
    };
    Topology {
        epoch: t.epoch,
        subtopologies: ready.then(|| {
            t.subtopologies
                .values()
                .map(|s| Subtopology {
                    subtopology_id: str_bytes(s.id.clone()),
                    source_topics: configured
                        .and_then(|c| c.sources.get(&s.id))
                        .map(|srcs| {
                            srcs.iter()
                                .filter(|n| {
                                    !s.repartition_source_topics.iter().any(|r| &r.name == *n)
                                })
                                .cloned()
                                .map(topic_name)
                                .collect()
                        })
                        .unwrap_or_default(),
                    repartition_sink_topics: s
                        .repartition_sink_topics
                        .iter()
                        .cloned()
                        .map(topic_name)
                        .collect(),
                    state_changelog_topics: s.state_changelog_topics.iter().map(info).collect(),
                    repartition_source_topics: s
                        .repartition_source_topics
                        .iter()
                        .map(info)
                        .collect(),
                    ..Default::default()
                })
                .collect()
        }),
        ..Default::default()
    }
}

fn tasks(set: &std::collections::BTreeSet<TaskId>) -> Vec<TaskIds> {
    task_map(set)
        .into_iter()
        .map(|(s, ps)| TaskIds {
            subtopology_id: str_bytes(s),
            partitions: ps.into_iter().collect(),
            ..Default::default()
        })
        .collect()
}

fn assignment(t: &MemberTasks) -> Assignment {
    Assignment {
        active_tasks: tasks(&t.active),
        standby_tasks: tasks(&t.standby),
        warmup_tasks: tasks(&t.warmup),
        ..Default::default()
    }
}

fn offsets(
    map: &std::collections::BTreeMap<String, std::collections::BTreeMap<i32, i64>>,
) -> Vec<TaskOffset> {
    map.iter()
        .flat_map(|(s, ps)| {
            ps.iter().map(move |(p, o)| TaskOffset {
                subtopology_id: str_bytes(s.clone()),
                partition: *p,
                offset: *o,
                ..Default::default()
            })
        })
        .collect()
}
