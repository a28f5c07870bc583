//! CreateTopics: validates each topic as Kafka's controller does (name, collisions, existence,
//! configs, partition count and replication factor or manual assignment), then proposes one
//! `CreateTopic` per valid topic. `validate_only` runs every check and proposes nothing.
//!
//! The replication factor is accepted but not acted on: durability comes from object storage,
//! and every partition is served by any agent. Responses (v5+) report a factor of 1, which is
//! what Metadata shows (one replica, the leader).

use std::collections::{BTreeMap, HashSet};

use futures::future::join_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use sluice_meta::command::Command;
use sluice_meta::state::MetaState;
use uuid::Uuid;

use super::{
    duplicates, invalid_config, str_bytes, too_many_partitions, validate_manual_assignment,
    ApiError, MAX_PARTITIONS_PER_REQUEST,
};
use crate::authz::{Op, Res};
use crate::clock::now_ms;
use crate::request::RequestContext;
use crate::topic_config::{describe, validate_all, validate_topic_name};

/// A topic that passed validation: what the `CreateTopic` command needs.
#[derive(Debug, Clone, PartialEq)]
struct NewTopic {
    name: String,
    id: Uuid,
    partitions: i32,
    configs: BTreeMap<String, String>,
}

/// Answers one CreateTopics request (API key 19): one result per topic, with its id, partition
/// count, replication factor 1 and configs on success.
pub async fn handle(cx: &RequestContext, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let dup: HashSet<String> = duplicates(req.topics.iter().map(|t| t.name.0.as_str()))
        .into_iter()
        .map(String::from)
        .collect();
    // A duplicated name gets one answer, as in Kafka.
    let mut answered = HashSet::new();
    let topics: Vec<CreatableTopic> = req
        .topics
        .into_iter()
        .filter(|t| answered.insert(t.name.0.to_string()))
        .collect();
    let default_partitions = agent.cfg.default_partitions;
    // Kafka refuses the whole request when it would add too many partitions at once.
    let total: i64 = topics
        .iter()
        .map(|t| requested_partitions(t, default_partitions))
        .sum();
    let request_error = (total > MAX_PARTITIONS_PER_REQUEST).then(too_many_partitions);

    // CREATE on the cluster, or else on each topic.
    let cluster_create = cx.may(Op::Create, Res::Cluster);
    let denied: HashSet<String> = topics
        .iter()
        .map(|t| t.name.0.to_string())
        .filter(|n| !cluster_create && !cx.authorize(Op::Create, Res::Topic(n)))
        .collect();
    let planned: Vec<Result<NewTopic, ApiError>> = agent.read(|s| {
        let registered = |id: i32| s.agents.contains_key(&id);
        topics
            .iter()
            .map(|t| match &request_error {
                Some(e) => Err(e.clone()),
                None if dup.contains(t.name.0.as_str()) => Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    "Found multiple entries for this topic.",
                )),
                None if denied.contains(t.name.0.as_str()) => Err(ApiError::new(
                    ResponseError::TopicAuthorizationFailed,
                    "Authorization failed.",
                )),
                None => plan(s, t, default_partitions, &registered),
            })
            .collect()
    });

    let validate_only = req.validate_only;
    let outcomes = planned.into_iter().map(|p| async move {
        let topic = p?;
        if !validate_only {
            let cmd = Command::CreateTopic {
                name: topic.name.clone(),
                id: topic.id,
                partitions: topic.partitions,
                configs: topic.configs.clone().into_iter().collect(),
                now_ms: now_ms(),
            };
            agent.propose_admin(cmd).await?;
            tracing::info!(topic = %topic.name, partitions = topic.partitions, "created topic");
        }
        Ok(topic)
    });
    let outcomes: Vec<Result<NewTopic, ApiError>> = join_all(outcomes).await;

    let mut resp = CreateTopicsResponse::default();
    for (t, outcome) in topics.into_iter().zip(outcomes) {
        resp.topics.push(result(
            t,
            outcome,
            version,
            &agent.cfg.static_topic_defaults(),
        ));
    }
    resp
}

/// Partitions a topic would add, as Kafka counts them for the per-request cap.
fn requested_partitions(t: &CreatableTopic, default_partitions: i32) -> i64 {
    if !t.assignments.is_empty() {
        t.assignments.len() as i64
    } else if t.num_partitions == -1 {
        default_partitions as i64
    } else {
        t.num_partitions.max(0) as i64
    }
}

/// Kafka's checks, in Kafka's order, against the local replica.
fn plan(
    s: &MetaState,
    t: &CreatableTopic,
    default_partitions: i32,
    registered: &dyn Fn(i32) -> bool,
) -> Result<NewTopic, ApiError> {
    let name = t.name.0.as_str();
    validate_topic_name(name)?;
    if s.topics.contains_key(name) {
        return Err(ApiError::new(
            ResponseError::TopicAlreadyExists,
            format!("Topic '{name}' already exists."),
        ));
    }
    if let Some(other) = colliding_topic(s, name) {
        return Err(ApiError::new(
            ResponseError::InvalidTopicException,
            format!("Topic '{name}' collides with existing topic: {other}"),
        ));
    }
    let configs = topic_configs(t)?;
    let partitions = partition_count(t, default_partitions, registered)?;
    Ok(NewTopic {
        name: name.to_string(),
        id: Uuid::new_v4(),
        partitions,
        configs,
    })
}

/// Kafka forbids two topics whose names differ only by '.' versus '_' (their metric names
/// would clash).
fn colliding_topic<'a>(s: &'a MetaState, name: &str) -> Option<&'a str> {
    if !name.contains(['.', '_']) {
        return None;
    }
    let unified = name.replace('.', "_");
    s.topics
        .keys()
        .find(|k| k.as_str() != name && k.replace('.', "_") == unified)
        .map(String::as_str)
}

fn topic_configs(t: &CreatableTopic) -> Result<BTreeMap<String, String>, ApiError> {
    let nulls: Vec<&str> = t
        .configs
        .iter()
        .filter(|c| c.value.is_none())
        .map(|c| c.name.as_str())
        .collect();
    if !nulls.is_empty() {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!(
                "Null value not supported for topic configs: {}",
                nulls.join(",")
            ),
        ));
    }
    let mut out = BTreeMap::new();
    for c in &t.configs {
        let value = c.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
        out.insert(c.name.to_string(), value);
    }
    validate_all(&out).map_err(invalid_config)?;
    Ok(out)
}

/// The partition count from either a manual assignment or `num_partitions`, with Kafka's
/// checks on each.
fn partition_count(
    t: &CreatableTopic,
    default_partitions: i32,
    registered: &dyn Fn(i32) -> bool,
) -> Result<i32, ApiError> {
    if !t.assignments.is_empty() {
        if t.replication_factor != -1 {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                "A manual partition assignment was specified, but replication factor was not set to -1.",
            ));
        }
        if t.num_partitions != -1 {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                "A manual partition assignment was specified, but numPartitions was not set to -1.",
            ));
        }
        let mut seen = HashSet::new();
        let mut replicas = None;
        for a in &t.assignments {
            if !seen.insert(a.partition_index) {
                return Err(ApiError::new(
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "Found multiple manual partition assignments for partition {}",
                        a.partition_index
                    ),
                ));
            }
            let ids: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
            validate_manual_assignment(&ids, registered, replicas)?;
            replicas = Some(ids.len());
        }
        let n = t.assignments.len() as i32;
        if (0..n).any(|i| !seen.contains(&i)) {
            return Err(ApiError::new(
                ResponseError::InvalidReplicaAssignment,
                "partitions should be a consecutive 0-based integer sequence",
            ));
        }
        return Ok(n);
    }
    if t.replication_factor < -1 || t.replication_factor == 0 {
        return Err(ApiError::new(
            ResponseError::InvalidReplicationFactor,
            "Replication factor must be larger than 0, or -1 to use the default value.",
        ));
    }
    if t.num_partitions < -1 || t.num_partitions == 0 {
        return Err(ApiError::new(
            ResponseError::InvalidPartitions,
            "Number of partitions was set to an invalid non-positive value.",
        ));
    }
    Ok(if t.num_partitions == -1 {
        default_partitions
    } else {
        t.num_partitions
    })
}

fn result(
    t: CreatableTopic,
    outcome: Result<NewTopic, ApiError>,
    version: i16,
    static_broker: &[(&str, String)],
) -> CreatableTopicResult {
    let mut r = CreatableTopicResult::default();
    // Kafka sends a null message on success (the codec's default is "").
    r.error_message = None;
    r.name = t.name;
    let topic = match outcome {
        Ok(topic) => topic,
        Err(e) => {
            r.error_code = e.code;
            r.error_message = e.message.map(str_bytes);
            return r;
        }
    };
    if version >= 5 {
        r.num_partitions = topic.partitions;
        r.replication_factor = 1;
        let entries = describe(&topic.configs, static_broker)
            .into_iter()
            .map(|e| {
                let mut c = CreatableTopicConfigs::default();
                c.name = str_bytes(e.def.name);
                c.config_source = e.source;
                c.value = Some(str_bytes(e.value));
                c
            })
            .collect();
        r.configs = Some(entries);
    }
    if version >= 7 {
        r.topic_id = topic.id;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::fixtures::state_with_topics;
    use kafka_protocol::messages::create_topics_request::{
        CreatableReplicaAssignment, CreatableTopicConfig,
    };
    use kafka_protocol::messages::{BrokerId, TopicName};

    fn topic(name: &str, partitions: i32, rf: i16) -> CreatableTopic {
        let mut t = CreatableTopic::default();
        t.name = TopicName(str_bytes(name));
        t.num_partitions = partitions;
        t.replication_factor = rf;
        t
    }

    fn state_with(names: &[&str]) -> MetaState {
        let topics: Vec<(&str, Uuid, usize)> =
            names.iter().map(|n| (*n, Uuid::new_v4(), 0)).collect();
        let mut s = state_with_topics(&topics);
        s.agents.insert(
            1,
            sluice_meta::state::AgentInfo {
                agent_id: 1,
                host: "h".into(),
                port: 1,
                rack: None,
                last_seen_ms: 0,
                listeners: vec![],
            },
        );
        s
    }

    fn check(s: &MetaState, t: &CreatableTopic) -> Result<NewTopic, ApiError> {
        plan(s, t, 3, &|id| s.agents.contains_key(&id))
    }

    fn code(r: Result<NewTopic, ApiError>) -> i16 {
        r.err().map_or(0, |e| e.code)
    }

    #[test]
    fn partitions_and_replication_factor_follow_kafka() {
        let s = state_with(&[]);
        assert_eq!(check(&s, &topic("a", -1, -1)).unwrap().partitions, 3);
        assert_eq!(check(&s, &topic("a", 5, 3)).unwrap().partitions, 5);
        assert_eq!(
            code(check(&s, &topic("a", 0, 1))),
            ResponseError::InvalidPartitions.code()
        );
        assert_eq!(
            code(check(&s, &topic("a", -2, 1))),
            ResponseError::InvalidPartitions.code()
        );
        assert_eq!(
            code(check(&s, &topic("a", 1, 0))),
            ResponseError::InvalidReplicationFactor.code()
        );
        assert_eq!(
            code(check(&s, &topic("a", 1, -2))),
            ResponseError::InvalidReplicationFactor.code()
        );
    }

    #[test]
    fn names_existence_and_collisions() {
        let s = state_with(&["a.b", "x"]);
        let e = check(&s, &topic("x", 1, 1)).unwrap_err();
        assert_eq!(
            e,
            ApiError::new(
                ResponseError::TopicAlreadyExists,
                "Topic 'x' already exists."
            )
        );
        let e = check(&s, &topic("a_b", 1, 1)).unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidTopicException.code());
        assert_eq!(
            e.message.as_deref(),
            Some("Topic 'a_b' collides with existing topic: a.b")
        );
        assert_eq!(
            code(check(&s, &topic("bad/name", 1, 1))),
            ResponseError::InvalidTopicException.code()
        );
    }

    #[test]
    fn configs_are_validated() {
        let s = state_with(&[]);
        let mut t = topic("a", 1, 1);
        let cfg = |n: &str, v: Option<&str>| {
            let mut c = CreatableTopicConfig::default();
            c.name = str_bytes(n);
            c.value = v.map(str_bytes);
            c
        };
        t.configs = vec![cfg("retention.ms", Some("1000"))];
        let ok = check(&s, &t).unwrap();
        assert_eq!(
            ok.configs.get("retention.ms").map(String::as_str),
            Some("1000")
        );
        t.configs = vec![cfg("retention.ms", Some("soon"))];
        assert_eq!(code(check(&s, &t)), ResponseError::InvalidConfig.code());
        t.configs = vec![cfg("no.such", Some("1"))];
        assert_eq!(code(check(&s, &t)), ResponseError::InvalidConfig.code());
        t.configs = vec![cfg("retention.ms", None)];
        assert_eq!(code(check(&s, &t)), ResponseError::InvalidRequest.code());
    }

    #[test]
    fn manual_assignments_give_the_partition_count() {
        let s = state_with(&[]);
        let assign = |i: i32, brokers: &[i32]| {
            let mut a = CreatableReplicaAssignment::default();
            a.partition_index = i;
            a.broker_ids = brokers.iter().map(|b| BrokerId(*b)).collect();
            a
        };
        let mut t = topic("a", -1, -1);
        t.assignments = vec![assign(1, &[1]), assign(0, &[1])];
        assert_eq!(check(&s, &t).unwrap().partitions, 2);
        t.assignments = vec![assign(0, &[1]), assign(2, &[1])];
        assert_eq!(
            code(check(&s, &t)),
            ResponseError::InvalidReplicaAssignment.code()
        );
        t.assignments = vec![assign(0, &[7])];
        assert_eq!(
            code(check(&s, &t)),
            ResponseError::InvalidReplicaAssignment.code()
        );
        t.assignments = vec![assign(0, &[1])];
        t.num_partitions = 1;
        assert_eq!(code(check(&s, &t)), ResponseError::InvalidRequest.code());
    }

    #[test]
    fn v5_results_carry_partitions_and_every_config() {
        let mut configs = BTreeMap::new();
        configs.insert("retention.ms".to_string(), "5".to_string());
        let nt = NewTopic {
            name: "a".into(),
            id: Uuid::new_v4(),
            partitions: 4,
            configs,
        };
        let r = result(topic("a", 4, 1), Ok(nt.clone()), 7, &[]);
        assert_eq!(
            (r.num_partitions, r.replication_factor, r.topic_id),
            (4, 1, nt.id)
        );
        assert_eq!((r.error_code, r.error_message.clone()), (0, None));
        let cfgs = r.configs.unwrap();
        let kafka_configs = crate::topic_config::TOPIC_CONFIGS
            .iter()
            .filter(|d| !crate::topic_config::is_extension(d.name));
        assert_eq!(cfgs.len(), kafka_configs.count());
        let ret = cfgs
            .iter()
            .find(|c| c.name.as_str() == "retention.ms")
            .unwrap();
        assert_eq!((ret.value.as_deref(), ret.config_source), (Some("5"), 1));
        // v4 carries none of it.
        let r = result(topic("a", 4, 1), Ok(nt), 4, &[]);
        assert!(r.configs.as_ref().is_none_or(|c| c.is_empty()));
        assert_eq!(r.num_partitions, -1);
    }
}
