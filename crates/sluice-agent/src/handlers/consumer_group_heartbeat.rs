//! ConsumerGroupHeartbeat (KIP-848, `group.protocol=consumer`).
//!
//! The heartbeat is one pure function of (group, request), `ConsumerGroup::heartbeat`. This
//! coordinator runs it on a copy of its replica's group first: a heartbeat that changes nothing
//! (a steady member) is answered from the copy and only refreshes the member's liveness in
//! memory; one that changes something is proposed to the quorum, which runs the same function
//! authoritatively. The topics the group's subscriptions match are read here, from the replica,
//! and carried in the command, so apply needs neither the clock nor live-agent liveness.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use sluice_meta::assignor::{self, ASSIGNORS};
use sluice_meta::consumer_group::{
    compile_regex, ConsumerGroup, ConsumerHeartbeat, HeartbeatReply, TopicMeta, JOIN_EPOCH,
    STATIC_LEAVE_EPOCH,
};
use sluice_meta::groups::{GroupCommand, GroupResponse};
use sluice_meta::state::MetaState;

use super::groups::{heartbeat_dry_run_or_propose, DryRunHeartbeat};
use super::str_bytes;
use crate::agent::Agent;
use crate::authz::Op;
use crate::clock::now_ms;
use crate::request::RequestContext;

/// Kafka's INVALID_REGULAR_EXPRESSION.
const INVALID_REGULAR_EXPRESSION: i16 = 128;

/// Answers one ConsumerGroupHeartbeat request (API key 68, KIP-848): the member's epoch, heartbeat
/// interval and assignment, or an error code (e.g. FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID).
pub async fn handle(
    cx: &RequestContext,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let group = req.group_id.0.to_string();
    let mut resp = ConsumerGroupHeartbeatResponse::default();
    resp.heartbeat_interval_ms = agent.consumer_heartbeat_interval_ms(&group);
    let fail = |mut resp: ConsumerGroupHeartbeatResponse, code: i16, msg: &str| {
        resp.error_code = code;
        resp.error_message = Some(str_bytes(msg));
        resp
    };
    let invalid = ResponseError::InvalidRequest.code();
    if group.is_empty() {
        return fail(resp, invalid, "GroupId can't be empty.");
    }
    // READ on the group, DESCRIBE on every subscribed topic named.
    if let Err(refused) = cx.authorize_group(Op::Read, &group) {
        return fail(resp, refused.code(), refused.message());
    }
    if let Err(denied) = cx.authorize_subscription(req.subscribed_topic_names.as_deref()) {
        return fail(resp, denied.error().code(), &denied.to_string());
    }
    let mut member = req.member_id.to_string();
    let epoch = req.member_epoch;
    let instance_id = req.instance_id.as_ref().map(|s| s.to_string());
    if member.is_empty() {
        if version >= 1 || epoch != JOIN_EPOCH {
            return fail(resp, invalid, "MemberId can't be empty.");
        }
        // v0: the coordinator names a joining member.
        member = uuid::Uuid::new_v4().to_string();
    }
    if epoch < STATIC_LEAVE_EPOCH {
        return fail(resp, invalid, "MemberEpoch is invalid.");
    }
    if epoch == STATIC_LEAVE_EPOCH && instance_id.is_none() {
        return fail(
            resp,
            invalid,
            "InstanceId can't be null when MemberEpoch is -2.",
        );
    }
    if epoch == JOIN_EPOCH {
        if req.rebalance_timeout_ms == -1 {
            return fail(
                resp,
                invalid,
                "RebalanceTimeoutMs must be provided in first request.",
            );
        }
        if req.topic_partitions.as_ref().is_some_and(|t| !t.is_empty()) {
            return fail(
                resp,
                invalid,
                "TopicPartitions must be empty when (re-)joining.",
            );
        }
        if req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none() {
            return fail(
                resp,
                invalid,
                "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
            );
        }
    }
    let regex = req.subscribed_topic_regex.as_ref().map(|s| s.to_string());
    if let Some(re) = regex.as_deref().filter(|r| !r.is_empty()) {
        if let Err(e) = compile_regex(re) {
            return fail(
                resp,
                INVALID_REGULAR_EXPRESSION,
                &format!("SubscribedTopicRegex `{re}` is not a valid regular expression: {e}"),
            );
        }
    }
    let server_assignor = req.server_assignor.as_ref().map(|s| s.to_string());
    if let Some(a) = server_assignor.as_deref() {
        if !ASSIGNORS.contains(&a) {
            return fail(
                resp,
                ResponseError::UnsupportedAssignor.code(),
                &format!(
                    "ServerAssignor {a} is not supported. Supported assignors: uniform, range."
                ),
            );
        }
    }
    if let Err(refused) = agent.coordinates(&group) {
        return fail(resp, refused.code(), refused.message());
    }
    resp.member_id = Some(str_bytes(member.clone()));

    let names: Option<Vec<String>> = req
        .subscribed_topic_names
        .map(|ts| ts.into_iter().map(|t| t.0.to_string()).collect());
    let mut heartbeat = ConsumerHeartbeat {
        member_id: member.clone(),
        member_epoch: epoch,
        instance_id,
        rack_id: req.rack_id.map(|r| r.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topic_names: names,
        subscribed_topic_regex: regex,
        server_assignor,
        owned: req.topic_partitions.map(|tps| {
            tps.into_iter()
                .map(|tp| (tp.topic_id, tp.partitions))
                .collect()
        }),
        client_id: cx.client_id.clone(),
        client_host: cx.client_host(),
        topics: Vec::new(),
        max_size: agent.cfg.consumer_max_size,
        now_ms: now_ms(),
    };
    let racks = agent.live_racks();
    let (current, topics) = agent.read(|s| {
        // The same group `apply` will run the heartbeat on (Groups::consumer_for_heartbeat).
        let current = s.groups.consumer_for_heartbeat(&group);
        let topics = subscribed_topics(s, current.as_ref().ok(), &heartbeat, &racks);
        (current, topics)
    });
    let copy = match current {
        Ok(c) => c,
        Err(e) => return fail(resp, e.code(), &e.to_string()),
    };
    heartbeat.topics = topics;

    let reply =
        heartbeat_dry_run_or_propose(agent, &group, copy, heartbeat, epoch == JOIN_EPOCH).await;
    match reply {
        Ok(r) => {
            resp.member_id = Some(str_bytes(r.member_id.clone()));
            resp.member_epoch = r.member_epoch;
            resp.assignment = r.assignment.map(to_wire);
            resp
        }
        Err((code, msg)) => fail(resp, code, &msg),
    }
}

/// Every topic the group's subscriptions (with this request's) match, as the replica has them.
fn subscribed_topics(
    s: &MetaState,
    group: Option<&ConsumerGroup>,
    hb: &ConsumerHeartbeat,
    racks: &[String],
) -> Vec<TopicMeta> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut regexes = Vec::new();
    let mut add = |topics: &[String], re: Option<&str>| {
        names.extend(topics.iter().filter(|t| s.topics.contains_key(*t)).cloned());
        if let Some(re) = re.filter(|r| !r.is_empty()) {
            if let Ok(re) = compile_regex(re) {
                regexes.push(re);
            }
        }
    };
    for m in group.into_iter().flat_map(|g| g.members.values()) {
        if m.member_id == hb.member_id {
            add(
                hb.subscribed_topic_names
                    .as_deref()
                    .unwrap_or(&m.subscribed_topic_names),
                match &hb.subscribed_topic_regex {
                    Some(r) => Some(r.as_str()),
                    None => m.subscribed_topic_regex.as_deref(),
                },
            );
        } else {
            add(
                &m.subscribed_topic_names,
                m.subscribed_topic_regex.as_deref(),
            );
        }
    }
    add(
        hb.subscribed_topic_names.as_deref().unwrap_or(&[]),
        hb.subscribed_topic_regex.as_deref(),
    );
    if !regexes.is_empty() {
        for t in s.topics.keys() {
            if !t.starts_with("__")
                && regexes
                    .iter()
                    .any(|re| sluice_meta::consumer_group::regex_matches(re, t))
            {
                names.insert(t.clone());
            }
        }
    }
    names
        .into_iter()
        .filter_map(|n| {
            let t = s.topics.get(&n)?;
            Some(TopicMeta {
                name: t.name.clone(),
                id: t.id,
                partitions: t.partitions.len() as i32,
                racks: racks.to_vec(),
            })
        })
        .collect()
}

fn to_wire(a: assignor::Assignment) -> Assignment {
    let mut out = Assignment::default();
    out.topic_partitions = a
        .into_iter()
        .map(|(id, parts)| {
            let mut tp = TopicPartitions::default();
            tp.topic_id = id;
            tp.partitions = parts.into_iter().collect();
            tp
        })
        .collect();
    out
}

impl Agent {
    /// The heartbeat interval members of `group` are told: the group's
    /// `consumer.heartbeat.interval.ms`, else the agent's default.
    pub fn consumer_heartbeat_interval_ms(&self, group: &str) -> i32 {
        self.group_setting(group, "consumer.heartbeat.interval.ms") as i32
    }

    /// The session timeout of `group`'s KIP-848 members.
    pub fn consumer_session_timeout_ms(&self, group: &str) -> i64 {
        self.group_setting(group, "consumer.session.timeout.ms")
    }

    /// The effective value of integer group config `key` for `group`: the group's own value,
    /// else the agent's default, clamped to the broker bounds (Kafka's `GroupConfig.evaluate`).
    pub(crate) fn group_setting(&self, group: &str, key: &str) -> i64 {
        let value = self
            .group_config_i64(group, key)
            .unwrap_or_else(|| self.group_config_default(key));
        self.cfg.group_config_bounds.clamp(key, value)
    }

    /// The agent's default of integer group config `key` (its `group.*` broker config): ms for
    /// times, counts otherwise; 0 for a key that is not an integer group config.
    pub(crate) fn group_config_default(&self, key: &str) -> i64 {
        let ms = |d: std::time::Duration| d.as_millis() as i64;
        let c = &self.cfg;
        match key {
            "consumer.session.timeout.ms" => ms(c.consumer_session_timeout),
            "consumer.heartbeat.interval.ms" => ms(c.consumer_heartbeat_interval),
            "share.session.timeout.ms" => ms(c.share_session_timeout),
            "share.heartbeat.interval.ms" => ms(c.share_heartbeat_interval),
            "share.record.lock.duration.ms" => c.share_limits.lock_ms,
            "share.delivery.count.limit" => c.share_limits.delivery_limit.into(),
            "streams.session.timeout.ms" => ms(c.streams_session_timeout),
            "streams.heartbeat.interval.ms" => ms(c.streams_heartbeat_interval),
            "streams.num.standby.replicas" => c.streams_num_standby_replicas.into(),
            _ => 0,
        }
    }

    /// A group config of `group` as an integer (`None` when unset or not a number).
    pub(crate) fn group_config_i64(&self, group: &str, key: &str) -> Option<i64> {
        self.read(|s| {
            s.groups
                .configs
                .get(group)
                .and_then(|c| c.get(key))
                .and_then(|v| v.parse::<i64>().ok())
        })
    }

    /// Racks of the live agents, sorted: every partition is served from each of them.
    pub fn live_racks(&self) -> Vec<String> {
        let mut racks: Vec<String> = self
            .live_agents()
            .into_iter()
            .filter_map(|a| a.rack)
            .collect();
        racks.sort();
        racks.dedup();
        racks
    }
}

impl DryRunHeartbeat for ConsumerGroup {
    type Heartbeat = ConsumerHeartbeat;
    type Reply = HeartbeatReply;

    fn dry_run(&mut self, hb: &ConsumerHeartbeat) -> Option<HeartbeatReply> {
        self.heartbeat(hb).ok()
    }

    fn command(group: String, heartbeat: ConsumerHeartbeat) -> GroupCommand {
        GroupCommand::ConsumerHeartbeat { group, heartbeat }
    }

    fn pick(r: GroupResponse) -> Result<HeartbeatReply, GroupResponse> {
        match r {
            GroupResponse::ConsumerHeartbeat(r) => Ok(r),
            other => Err(other),
        }
    }

    fn member(r: &HeartbeatReply) -> (&str, i32) {
        (&r.member_id, r.member_epoch)
    }
}
