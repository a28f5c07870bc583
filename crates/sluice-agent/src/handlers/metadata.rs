//! Metadata: live agents as brokers, every partition led by one of them (any agent accepts any
//! partition; the choice only spreads clients out), and auto topic creation.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use sluice_meta::codes;
use sluice_meta::command::{Command, CommandResponse};
use uuid::Uuid;

use super::PartitionView;
use super::{str_bytes, topic_name};
use crate::agent::Agent;
use crate::authz::{Op, Res};
use crate::clock::now_ms;
use crate::request::RequestContext;
use crate::topic_config::validate_topic_name;

/// Answers one Metadata request (API key 3): live agents as brokers and the requested (or all)
/// topics, creating unknown ones when auto creation is on.
pub async fn handle(cx: &RequestContext, req: MetadataRequest) -> MetadataResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let agents = crate::zone::pin_to_client_zone(agent.live_agents(), &cx.client_id);
    let mut resp = MetadataResponse::default();
    resp.brokers = agents
        .iter()
        .map(|a| {
            let mut b = MetadataResponseBroker::default();
            b.node_id = BrokerId(a.agent_id);
            let (host, port) = cx.endpoint_of(a);
            b.host = str_bytes(host);
            b.port = port;
            b.rack = a.rack.clone().map(str_bytes);
            b
        })
        .collect();
    resp.cluster_id = Some(str_bytes(agent.cluster_id()));
    resp.controller_id = BrokerId(agents.first().map_or(agent.id(), |a| a.agent_id));
    resp.cluster_authorized_operations = i32::MIN;
    if (8..=10).contains(&version) && req.include_cluster_authorized_operations {
        resp.cluster_authorized_operations = if cx.may(Op::Describe, Res::Cluster) {
            cx.authorized_operations(Res::Cluster)
        } else {
            0
        };
    }

    // v0 has no null: an empty list means every topic there.
    let requested: Option<Vec<(Option<String>, Uuid)>> = match req.topics {
        Some(ts) if !(version == 0 && ts.is_empty()) => Some(
            ts.into_iter()
                .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
                .collect(),
        ),
        _ => None,
    };
    let names: Vec<(Option<String>, Uuid)> = match requested {
        // Every topic the principal may describe (Kafka filters silently).
        None => agent
            .read(|s| {
                s.topics
                    .values()
                    .map(|t| (Some(t.name.clone()), t.id))
                    .collect::<Vec<_>>()
            })
            .into_iter()
            .filter(|(n, _)| {
                n.as_deref()
                    .is_some_and(|n| cx.may(Op::Describe, Res::Topic(n)))
            })
            .collect(),
        Some(r) => r,
    };
    let auto_create =
        agent.cfg.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    let with_ops = version >= 8 && req.include_topic_authorized_operations;
    for (name, id) in names {
        let mut t = describe_topic(cx, &agents, name, id, auto_create).await;
        if with_ops && t.error_code == 0 {
            if let Some(n) = &t.name {
                t.topic_authorized_operations = cx.authorized_operations(Res::Topic(&n.0));
            }
        }
        resp.topics.push(t);
    }
    resp
}

async fn describe_topic(
    cx: &RequestContext,
    agents: &[sluice_meta::state::AgentInfo],
    name: Option<String>,
    id: Uuid,
    auto_create: bool,
) -> MetadataResponseTopic {
    let agent = &*cx.agent;
    let mut t = MetadataResponseTopic::default();
    t.topic_authorized_operations = i32::MIN;
    t.topic_id = id;
    t.name = name.clone().map(topic_name);
    let mut resolved = agent.resolve_topic(name.as_deref(), id);
    // DESCRIBE on the topic, checked before anything about it is revealed (even existence).
    let shown = resolved
        .as_ref()
        .map(|r| r.name.as_str())
        .or(name.as_deref());
    if let Some(n) = shown {
        if !cx.authorize(Op::Describe, Res::Topic(n)) {
            t.error_code = ResponseError::TopicAuthorizationFailed.code();
            t.topic_id = Uuid::nil();
            return t;
        }
    }
    if resolved.is_none() && id.is_nil() {
        if let Some(n) = &name {
            if let Err(e) = validate_topic_name(n) {
                tracing::debug!(topic = %n, error = %e, "metadata for an illegal topic name");
                t.error_code = ResponseError::InvalidTopicException.code();
                return t;
            }
            if auto_create {
                // Auto-creation needs CREATE on the cluster or on the topic.
                if !cx.may(Op::Create, Res::Cluster) && !cx.authorize(Op::Create, Res::Topic(n)) {
                    t.error_code = ResponseError::TopicAuthorizationFailed.code();
                    return t;
                }
                resolved = auto_create_topic(agent, n).await;
            }
        }
    }
    let Some(topic) = resolved else {
        t.error_code = if id.is_nil() {
            ResponseError::UnknownTopicOrPartition.code()
        } else {
            ResponseError::UnknownTopicId.code()
        };
        return t;
    };
    t.name = Some(topic_name(topic.name.clone()));
    t.topic_id = topic.id;
    t.partitions = (0..topic.partitions)
        .map(|p| {
            let view = PartitionView::of(agents, &topic.name, p);
            let mut mp = MetadataResponsePartition::default();
            mp.partition_index = p;
            mp.leader_id = view.leader;
            mp.leader_epoch = view.leader_epoch;
            mp.replica_nodes = view.replicas.clone();
            mp.isr_nodes = view.replicas;
            mp
        })
        .collect();
    t
}

async fn auto_create_topic(agent: &Agent, name: &str) -> Option<super::ResolvedTopic> {
    let cmd = Command::CreateTopic {
        name: name.to_string(),
        id: Uuid::new_v4(),
        partitions: agent.cfg.default_partitions,
        configs: vec![],
        now_ms: now_ms(),
    };
    match agent.propose(cmd).await {
        Ok(CommandResponse::Ok) => {
            tracing::info!(topic = %name, partitions = agent.cfg.default_partitions, "auto-created topic")
        }
        // Another agent or request created it first: fine.
        Ok(CommandResponse::Error {
            code: codes::TOPIC_ALREADY_EXISTS,
            ..
        }) => {}
        Ok(other) => tracing::warn!(topic = %name, ?other, "auto-create refused"),
        Err(e) => tracing::warn!(topic = %name, error = ?e, "auto-create failed"),
    }
    agent.resolve_topic(Some(name), Uuid::nil())
}
