//! StreamsGroupHeartbeat (88) and StreamsGroupDescribe (89): Kafka Streams groups (KIP-1071,
//! `group.protocol=streams`).
//!
//! `kafka-protocol` has no types for these APIs, so they bypass the dispatch table: the
//! connection decodes them with `sluice_protocol::codec::decode_streams_request` and calls
//! [`serve`], which answers a complete frame ([`Reply::Frame`]).
//!
//! The heartbeat is one pure function of (group, request), `StreamsGroup::heartbeat`. This
//! coordinator runs it on a copy of its replica's group first; a heartbeat that changes nothing
//! (a steady member) is answered from the copy and only refreshes the member's liveness in
//! memory, so a steady group costs no quorum writes. One that changes something is proposed to the
//! quorum, which runs the same function authoritatively. The partition counts of the topics the
//! topology names are read here, from the replica, and carried in the command.
//!
//! When the configured topology lacks internal topics (repartition and changelog topics), this
//! coordinator creates them, as Kafka's `KafkaApis.handleStreamsGroupHeartbeat` does, with the
//! partition counts and configs the topology implies; members see MISSING_INTERNAL_TOPICS until
//! the topics exist, then get tasks on their next heartbeat.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::TopicName;
use sluice_meta::command::{Command, CommandResponse};
use sluice_meta::consumer_group::{JOIN_EPOCH, STATIC_LEAVE_EPOCH};
use sluice_meta::groups::{GroupCommand, GroupResponse};
use sluice_meta::state::MetaState;
use sluice_meta::streams_assignor::MemberTasks;
use sluice_meta::streams_group::{
    self as sg, StreamsGroup, StreamsHeartbeat, StreamsHeartbeatReply, StreamsSettings,
    StreamsTopology, TaskMap, TopicToCreate,
};
use sluice_protocol::codec::{encode_streams_response, StreamsBody, StreamsRequest};
use sluice_protocol::streams::streams_group_heartbeat_request as req_wire;
use sluice_protocol::streams::streams_group_heartbeat_response as resp_wire;
use sluice_protocol::streams::{StreamsGroupHeartbeatRequest, StreamsGroupHeartbeatResponse};

use super::groups::{heartbeat_dry_run_or_propose, DryRunHeartbeat};
use super::str_bytes;
use crate::agent::Agent;
use crate::authz::{Op, Res};
use crate::clock::now_ms;
use crate::request::{Reply, ReplyFuture, RequestContext};

/// Kafka's `group.streams.task.offset.interval.ms` default: how often members report their
/// changelog offsets (each report that changes them is a quorum write).
const TASK_OFFSET_INTERVAL_MS: i32 = 60_000;
/// Kafka Streams' `acceptable.recovery.lag` default, told to members (offsets).
const ACCEPTABLE_RECOVERY_LAG: i64 = 10_000;
/// Warm-up replicas at once: none, as Kafka's own sticky assignor. The Kafka Streams 4.x client
/// ignores warm-up tasks under the streams protocol ("Warmup replicas are not supported yet"), and
/// members report changelog offsets only every `TASK_OFFSET_INTERVAL_MS`, so a warm-up would hold
/// an active task on an overloaded process for a minute or more. The assignor supports them
/// (`streams_assignor`, KIP-441) for when clients do.
const MAX_WARMUP_REPLICAS: u32 = 0;

/// Serves one StreamsGroupHeartbeat or StreamsGroupDescribe: the future of its complete
/// response frame.
pub fn serve(cx: RequestContext, req: StreamsRequest) -> ReplyFuture {
    let (version, corr) = (req.version, req.header.correlation_id);
    Box::pin(async move {
        let key = req.body.api_key();
        let frame = match req.body {
            StreamsBody::Heartbeat(r) => {
                let resp = heartbeat(&cx, *r).await;
                encode_streams_response(key, version, corr, &resp)
            }
            StreamsBody::Describe(r) => {
                let resp = super::streams_group_describe::handle(&cx, r).await;
                encode_streams_response(key, version, corr, &resp)
            }
        };
        match frame {
            Ok(f) => Reply::Frame(f),
            Err(e) => {
                tracing::error!(error = %e, "streams response encoding failed");
                Reply::Close(e.to_string())
            }
        }
    })
}

/// Kafka's request checks (`throwIfStreamsGroupHeartbeatRequestIsInvalid`): INVALID_REQUEST
/// with Kafka's message, or STREAMS_INVALID_TOPOLOGY for a malformed topology.
fn invalid(req: &StreamsGroupHeartbeatRequest) -> Option<(i16, String)> {
    let bad = |m: &str| Some((ResponseError::InvalidRequest.code(), m.to_string()));
    let blank = |s: &str| s.trim().is_empty();
    if blank(&req.member_id) {
        return bad("MemberId can't be empty.");
    }
    if blank(&req.group_id.0) {
        return bad("GroupId can't be empty.");
    }
    if req.instance_id.as_deref().is_some_and(blank) {
        return bad("InstanceId can't be empty.");
    }
    if req.rack_id.as_deref().is_some_and(blank) {
        return bad("RackId can't be empty.");
    }
    let not_empty = |t: &Option<Vec<req_wire::TaskIds>>| t.as_ref().is_none_or(|t| !t.is_empty());
    match req.member_epoch {
        JOIN_EPOCH => {
            if req.rebalance_timeout_ms == -1 {
                return bad("RebalanceTimeoutMs must be provided in first request.");
            }
            if not_empty(&req.active_tasks) {
                return bad("ActiveTasks must be empty when (re-)joining.");
            }
            if not_empty(&req.standby_tasks) {
                return bad("StandbyTasks must be empty when (re-)joining.");
            }
            if not_empty(&req.warmup_tasks) {
                return bad("WarmupTasks must be empty when (re-)joining.");
            }
            if req.topology.is_none() {
                return bad("Topology must be non-null when (re-)joining.");
            }
            // Kafka 4.4 accepts a join with a null or empty process id (no validation).
        }
        STATIC_LEAVE_EPOCH if req.instance_id.is_none() => {
            return bad("InstanceId can't be null.");
        }
        e if e < STATIC_LEAVE_EPOCH => {
            return bad(&format!(
                "MemberEpoch is {e}, but must be greater than or equal to -2."
            ));
        }
        _ => {}
    }
    let given = [
        req.active_tasks.is_some(),
        req.standby_tasks.is_some(),
        req.warmup_tasks.is_some(),
    ];
    if given.contains(&true) && given.contains(&false) {
        return bad("If one task-type is non-null, all must be non-null.");
    }
    if req.member_epoch != JOIN_EPOCH && req.topology.is_some() {
        return bad("Topology can only be provided when (re-)joining.");
    }
    None
}

fn topology_of(t: &req_wire::Topology) -> StreamsTopology {
    let info = |i: &req_wire::TopicInfo| sg::TopicInfo {
        name: i.name.0.to_string(),
        partitions: i.partitions,
        replication_factor: i.replication_factor,
        configs: i
            .topic_configs
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect(),
    };
    let names = |v: &[TopicName]| v.iter().map(|t| t.0.to_string()).collect::<Vec<_>>();
    StreamsTopology {
        epoch: t.epoch,
        subtopologies: t
            .subtopologies
            .iter()
            .map(|s| {
                let sub = sg::Subtopology {
                    id: s.subtopology_id.to_string(),
                    source_topics: names(&s.source_topics),
                    source_topic_regex: s
                        .source_topic_regex
                        .iter()
                        .map(|r| r.to_string())
                        .collect(),
                    state_changelog_topics: s.state_changelog_topics.iter().map(info).collect(),
                    repartition_sink_topics: names(&s.repartition_sink_topics),
                    repartition_source_topics: s
                        .repartition_source_topics
                        .iter()
                        .map(info)
                        .collect(),
                    copartition_groups: s
                        .copartition_groups
                        .iter()
                        .map(|g| sg::CopartitionGroup {
                            source_topics: g.source_topics.clone(),
                            source_topic_regex: g.source_topic_regex.clone(),
                            repartition_source_topics: g.repartition_source_topics.clone(),
                        })
                        .collect(),
                };
                (sub.id.clone(), sub)
            })
            .collect(),
    }
}

fn task_map_of(tasks: &[req_wire::TaskIds]) -> TaskMap {
    let mut out = TaskMap::new();
    for t in tasks {
        out.entry(t.subtopology_id.to_string())
            .or_default()
            .extend(t.partitions.iter().copied());
    }
    out
}

fn offsets_of(offsets: &[req_wire::TaskOffset]) -> BTreeMap<String, BTreeMap<i32, i64>> {
    let mut out: BTreeMap<String, BTreeMap<i32, i64>> = BTreeMap::new();
    for o in offsets {
        out.entry(o.subtopology_id.to_string())
            .or_default()
            .insert(o.partition, o.offset);
    }
    out
}

fn to_wire(
    tasks: &std::collections::BTreeSet<sluice_meta::streams_assignor::TaskId>,
) -> Vec<resp_wire::TaskIds> {
    sg::task_map(tasks)
        .into_iter()
        .map(|(s, ps)| resp_wire::TaskIds {
            subtopology_id: str_bytes(s),
            partitions: ps.into_iter().collect(),
            ..Default::default()
        })
        .collect()
}

/// StreamsGroupHeartbeat.
async fn heartbeat(
    cx: &RequestContext,
    req: StreamsGroupHeartbeatRequest,
) -> StreamsGroupHeartbeatResponse {
    let agent = &*cx.agent;
    let group = req.group_id.0.to_string();
    let mut resp = StreamsGroupHeartbeatResponse {
        heartbeat_interval_ms: agent.streams_heartbeat_interval_ms(&group),
        task_offset_interval_ms: TASK_OFFSET_INTERVAL_MS,
        // v0 carries the lag as an int32, v1 as an int64 (tagged).
        acceptable_recovery_lag_legacy: if cx.api_version == 0 {
            ACCEPTABLE_RECOVERY_LAG as i32
        } else {
            0
        },
        acceptable_recovery_lag: if cx.api_version >= 1 {
            ACCEPTABLE_RECOVERY_LAG
        } else {
            -1
        },
        member_id: req.member_id.clone(),
        ..Default::default()
    };
    let fail = |mut resp: StreamsGroupHeartbeatResponse, code: i16, msg: &str| {
        resp.error_code = code;
        resp.error_message = Some(str_bytes(msg));
        resp
    };
    // Kafka authorizes READ on the group first, then validates.
    if let Err(refused) = cx.authorize_group(Op::Read, &group) {
        return fail(resp, refused.code(), refused.message());
    }
    if let Some((code, msg)) = invalid(&req) {
        return fail(resp, code, &msg);
    }
    let topology = req.topology.as_ref().map(topology_of);
    if let Some(t) = &topology {
        if let Err(e) = t.validate() {
            return fail(resp, e.code, &e.message);
        }
        // DESCRIBE on every source topic the topology names.
        let sources: Vec<TopicName> = t
            .subtopologies
            .values()
            .flat_map(|s| s.source_topics.iter())
            .map(|n| TopicName(str_bytes(n.clone())))
            .collect();
        if let Err(denied) = cx.authorize_subscription(Some(&sources)) {
            return fail(resp, denied.error().code(), &denied.to_string());
        }
    }
    if let Err(refused) = agent.coordinates(&group) {
        return fail(resp, refused.code(), refused.message());
    }
    let member = req.member_id.to_string();
    let epoch = req.member_epoch;
    let owned = match (&req.active_tasks, &req.standby_tasks, &req.warmup_tasks) {
        (Some(a), Some(s), Some(w)) => Some(MemberTasks {
            active: sg::tasks_of(&task_map_of(a)),
            standby: sg::tasks_of(&task_map_of(s)),
            warmup: sg::tasks_of(&task_map_of(w)),
        }),
        _ => None,
    };
    let mut hb = StreamsHeartbeat {
        member_id: member.clone(),
        member_epoch: epoch,
        endpoint_information_epoch: req.endpoint_information_epoch,
        instance_id: req.instance_id.as_ref().map(|s| s.to_string()),
        rack_id: req.rack_id.as_ref().map(|s| s.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        topology,
        owned,
        process_id: req.process_id.as_ref().map(|s| s.to_string()),
        user_endpoint: req
            .user_endpoint
            .as_ref()
            .map(|e| (e.host.to_string(), e.port)),
        client_tags: req.client_tags.as_ref().map(|tags| {
            tags.iter()
                .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                .collect()
        }),
        task_offsets: req.task_offsets.as_deref().map(offsets_of),
        task_end_offsets: req.task_end_offsets.as_deref().map(offsets_of),
        shutdown_application: req.shutdown_application,
        client_id: cx.client_id.clone(),
        client_host: cx.client_host(),
        topics: BTreeMap::new(),
        settings: agent.streams_settings(&group),
        now_ms: now_ms(),
    };
    let (current, topics) = agent.read(|s| {
        let current = s.groups.streams_for_heartbeat(&group, hb.member_epoch);
        let stored = current.as_ref().ok().and_then(|g| g.topology.as_ref());
        let topics = topic_counts(s, hb.topology.as_ref().or(stored));
        (current, topics)
    });
    let copy = match current {
        Ok(c) => c,
        Err(e) => return fail(resp, e.code(), &e.to_string()),
    };
    hb.topics = topics;

    let reply = heartbeat_dry_run_or_propose(agent, &group, copy, hb, epoch == JOIN_EPOCH).await;
    match reply {
        Ok(r) => {
            if !r.to_create.is_empty() {
                create_internal_topics(cx, &group, &r.to_create).await;
            }
            fill(&mut resp, r);
            resp
        }
        Err((code, msg)) => fail(resp, code, &msg),
    }
}

fn fill(resp: &mut StreamsGroupHeartbeatResponse, r: StreamsHeartbeatReply) {
    resp.member_id = str_bytes(r.member_id);
    resp.member_epoch = r.member_epoch;
    resp.endpoint_information_epoch = r.endpoint_information_epoch;
    resp.status = Some(
        r.status
            .into_iter()
            .map(|s| resp_wire::Status {
                status_code: s.code as i8,
                status_detail: str_bytes(s.detail),
                ..Default::default()
            })
            .collect(),
    );
    if let Some(a) = r.assignment {
        resp.active_tasks = Some(to_wire(&a.active));
        resp.standby_tasks = Some(to_wire(&a.standby));
        resp.warmup_tasks = Some(to_wire(&a.warmup));
    }
    resp.partitions_by_user_endpoint = r.partitions_by_endpoint.map(|eps| {
        let parts = |m: BTreeMap<String, BTreeSet<i32>>| {
            m.into_iter()
                .map(|(t, ps)| resp_wire::TopicPartition {
                    topic: TopicName(str_bytes(t)),
                    partitions: ps.into_iter().collect(),
                    ..Default::default()
                })
                .collect()
        };
        eps.into_iter()
            .map(|e| resp_wire::EndpointToPartitions {
                user_endpoint: resp_wire::Endpoint {
                    host: str_bytes(e.endpoint.0),
                    port: e.endpoint.1,
                    ..Default::default()
                },
                active_partitions: parts(e.active),
                standby_partitions: parts(e.standby),
                ..Default::default()
            })
            .collect()
    });
}

/// Partition counts of the topics `topology` names that exist (every topic, internal ones
/// excepted, when it reads topics by regex).
fn topic_counts(s: &MetaState, topology: Option<&StreamsTopology>) -> BTreeMap<String, i32> {
    let Some(t) = topology else {
        return BTreeMap::new();
    };
    let count = |name: &String| {
        s.topics
            .get(name)
            .map(|t| (name.clone(), t.partitions.len() as i32))
    };
    if t.has_regex() {
        s.topics
            .keys()
            .filter(|n| !n.starts_with("__"))
            .chain(t.named_topics().iter().filter(|n| n.starts_with("__")))
            .filter_map(count)
            .collect()
    } else {
        t.named_topics().iter().filter_map(count).collect()
    }
}

/// Creates the internal topics a streams group's topology needs, as Kafka's coordinator does
/// (CREATE on the cluster or each topic: without it the topic is left missing and logged, and
/// members keep seeing MISSING_INTERNAL_TOPICS). Another agent creating one first is fine.
async fn create_internal_topics(cx: &RequestContext, group: &str, topics: &[TopicToCreate]) {
    let agent = &*cx.agent;
    let cluster_create = cx.may(Op::Create, Res::Cluster);
    for t in topics {
        if !cluster_create && !cx.authorize(Op::Create, Res::Topic(&t.name)) {
            tracing::warn!(group, topic = %t.name, "not authorized to create a streams internal topic");
            continue;
        }
        let cmd = Command::CreateTopic {
            name: t.name.clone(),
            id: uuid::Uuid::new_v4(),
            partitions: t.partitions,
            configs: t.configs.clone().into_iter().collect(),
            now_ms: now_ms(),
        };
        match agent.propose(cmd).await {
            Ok(CommandResponse::Ok) => {
                tracing::info!(group, topic = %t.name, partitions = t.partitions, "created streams internal topic")
            }
            Ok(CommandResponse::Error { code, .. })
                if code == sluice_meta::codes::TOPIC_ALREADY_EXISTS => {}
            Ok(other) => tracing::warn!(group, topic = %t.name, ?other, "internal topic refused"),
            Err(e) => {
                tracing::warn!(group, topic = %t.name, error = ?e, "internal topic creation failed")
            }
        }
    }
}

impl Agent {
    /// The heartbeat interval members of streams group `group` are told.
    pub fn streams_heartbeat_interval_ms(&self, group: &str) -> i32 {
        self.group_setting(group, "streams.heartbeat.interval.ms") as i32
    }

    /// The session timeout of streams group `group`'s members.
    pub fn streams_session_timeout_ms(&self, group: &str) -> i64 {
        self.group_setting(group, "streams.session.timeout.ms")
    }

    /// The assignment settings of streams group `group`: its configs over the agent's.
    pub fn streams_settings(&self, group: &str) -> StreamsSettings {
        let standbys = self
            .group_setting(group, "streams.num.standby.replicas")
            .max(0) as u32;
        StreamsSettings {
            num_standby_replicas: standbys,
            acceptable_recovery_lag: ACCEPTABLE_RECOVERY_LAG,
            max_warmup_replicas: MAX_WARMUP_REPLICAS,
            max_size: 0,
        }
    }
}

impl DryRunHeartbeat for StreamsGroup {
    type Heartbeat = StreamsHeartbeat;
    type Reply = StreamsHeartbeatReply;

    fn dry_run(&mut self, hb: &StreamsHeartbeat) -> Option<StreamsHeartbeatReply> {
        self.heartbeat(hb).ok()
    }

    fn command(group: String, hb: StreamsHeartbeat) -> GroupCommand {
        GroupCommand::StreamsHeartbeat {
            group,
            heartbeat: Box::new(hb),
        }
    }

    fn pick(r: GroupResponse) -> Result<StreamsHeartbeatReply, GroupResponse> {
        match r {
            GroupResponse::StreamsHeartbeat(r) => Ok(*r),
            other => Err(other),
        }
    }

    fn member(r: &StreamsHeartbeatReply) -> (&str, i32) {
        (&r.member_id, r.member_epoch)
    }
}
