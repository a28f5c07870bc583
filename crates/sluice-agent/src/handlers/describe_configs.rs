//! DescribeConfigs for topics and for this agent as a broker.
//!
//! Topic configs: every row of the topic config table (`topic_config::TOPIC_CONFIGS`, Kafka
//! 4.1's topic configs), or only the requested keys, with the source and synonyms
//! `topic_config::describe` gives (override, cluster default, broker default, as Kafka lists
//! them) when asked, and type and documentation on v3+.
//!
//! Group configs (KIP-848 `consumer.*`, KIP-932 `share.*`): the group's overrides as
//! GROUP_CONFIG, the rest as DEFAULT_CONFIG with the agent's defaults; any group id may be
//! described, as in Kafka, whether or not the group exists.
//!
//! Broker configs: a small set of real broker configs taken from the agent's configuration, all
//! read-only, since Sluice has no dynamic broker configs. As in Kafka, an empty broker name
//! means the cluster-wide dynamic defaults: those a Kafka 4.x cluster is formatted with.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::config_resource_gate;
use super::{resource_type, str_bytes, ApiError};
use crate::agent::Agent;
use crate::authz::Op;
use crate::request::RequestContext;
use crate::topic_config::config_source;
use crate::topic_config::{describe, lookup, validate_topic_name, ConfigType, CLUSTER_DEFAULTS};

/// One config as reported, before the version- and flag-dependent trimming.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    name: String,
    value: String,
    source: i8,
    read_only: bool,
    ty: ConfigType,
    doc: &'static str,
    /// (name, value, source), most specific first; the entry itself leads.
    synonyms: Vec<(String, String, i8)>,
}

/// Answers one DescribeConfigs request (API key 32): one result per resource (topic, broker or
/// group), with per-resource error codes.
pub async fn handle(cx: &RequestContext, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let include_docs = version >= 3 && req.include_documentation;
    let mut resp = DescribeConfigsResponse::default();
    for resource in req.resources {
        let gate = config_resource_gate(
            cx,
            Op::DescribeConfigs,
            resource.resource_type,
            &resource.resource_name,
        );
        let entries = match resource.resource_type {
            _ if gate.is_err() => gate.map(|_| Vec::new()),
            resource_type::TOPIC => topic_entries(agent, &resource),
            resource_type::BROKER => broker_entries(agent, &resource),
            resource_type::GROUP => group_entries(agent, &resource),
            resource_type::BROKER_LOGGER => Err(ApiError::new(
                ResponseError::InvalidRequest,
                "Sluice has no broker loggers to describe.",
            )),
            other => Err(ApiError::new(
                ResponseError::InvalidRequest,
                format!("Unsupported resource type: {other}"),
            )),
        };
        let mut r = DescribeConfigsResult::default();
        // Kafka sends a null message on success (the codec's default is "").
        r.error_message = None;
        match entries {
            Ok(entries) => {
                r.configs = filter(entries, resource.configuration_keys.as_deref())
                    .into_iter()
                    .map(|e| to_wire(e, req.include_synonyms, include_docs))
                    .collect();
            }
            Err(e) => {
                r.error_code = e.code;
                r.error_message = e.message.map(str_bytes);
            }
        }
        r.resource_type = resource.resource_type;
        r.resource_name = resource.resource_name;
        resp.results.push(r);
    }
    resp
}

fn topic_entries(
    agent: &Agent,
    resource: &DescribeConfigsResource,
) -> Result<Vec<Entry>, ApiError> {
    let name = resource.resource_name.as_str();
    validate_topic_name(name)?;
    let overrides = agent
        .read(|s| s.topic(name).map(|t| t.configs.clone()))
        .ok_or(ApiError::bare(ResponseError::UnknownTopicOrPartition))?;
    Ok(describe(&overrides, &agent.cfg.static_topic_defaults())
        .into_iter()
        .map(|e| Entry {
            name: e.def.name.to_string(),
            value: e.value,
            source: e.source,
            read_only: false,
            ty: e.def.ty,
            doc: e.def.doc,
            synonyms: e
                .synonyms
                .into_iter()
                .map(|s| (s.name, s.value, s.source))
                .collect(),
        })
        .collect())
}

/// Kafka's `ConfigSource.GROUP_CONFIG`.
const GROUP_CONFIG: i8 = 8;

fn group_entries(
    agent: &Agent,
    resource: &DescribeConfigsResource,
) -> Result<Vec<Entry>, ApiError> {
    let group = resource.resource_name.as_str();
    if group.is_empty() {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            "Group id can't be empty.",
        ));
    }
    let overrides = agent.read(|s| s.groups.configs_of(group).clone());
    let cfg = &agent.cfg;
    let ms = |d: std::time::Duration| d.as_millis().to_string();
    let list: [(&str, String, ConfigType, &'static str); 11] = [
        ("consumer.heartbeat.interval.ms", ms(cfg.consumer_heartbeat_interval), ConfigType::Int,
            "How often KIP-848 members of the group heartbeat."),
        ("consumer.session.timeout.ms", ms(cfg.consumer_session_timeout), ConfigType::Int,
            "A KIP-848 member not heard from for this long leaves the group."),
        ("share.auto.offset.reset", "latest".into(), ConfigType::String,
            "Where a share group starts on a partition: latest, earliest or by_duration:<ISO-8601 duration>."),
        ("share.delivery.count.limit", cfg.share_limits.delivery_limit.to_string(), ConfigType::Int,
            "Deliveries of a record before it is archived."),
        ("share.heartbeat.interval.ms", ms(cfg.share_heartbeat_interval), ConfigType::Int,
            "How often share-group members heartbeat."),
        ("share.isolation.level", "read_uncommitted".into(), ConfigType::String,
            "read_uncommitted or read_committed."),
        ("share.record.lock.duration.ms", cfg.share_limits.lock_ms.to_string(), ConfigType::Int,
            "How long an acquired record stays locked to its consumer."),
        ("share.session.timeout.ms", ms(cfg.share_session_timeout), ConfigType::Int,
            "A share-group member not heard from for this long leaves the group."),
        ("streams.heartbeat.interval.ms", ms(cfg.streams_heartbeat_interval), ConfigType::Int,
            "How often members of a Kafka Streams group heartbeat."),
        ("streams.num.standby.replicas", cfg.streams_num_standby_replicas.to_string(), ConfigType::Int,
            "Standby replicas per stateful task of a Kafka Streams group (0-2)."),
        ("streams.session.timeout.ms", ms(cfg.streams_session_timeout), ConfigType::Int,
            "A Kafka Streams group member not heard from for this long leaves the group."),
    ];
    Ok(list
        .into_iter()
        .map(|(name, default, ty, doc)| {
            let mut synonyms = Vec::new();
            let (value, source) = match overrides.get(name) {
                Some(v) => {
                    synonyms.push((name.to_string(), v.clone(), GROUP_CONFIG));
                    (v.clone(), GROUP_CONFIG)
                }
                None => (default.clone(), config_source::DEFAULT_CONFIG),
            };
            synonyms.push((
                format!("group.{name}"),
                default,
                config_source::DEFAULT_CONFIG,
            ));
            Entry {
                name: name.to_string(),
                value,
                source,
                read_only: false,
                ty,
                doc,
                synonyms,
            }
        })
        .collect())
}

fn broker_entries(
    agent: &Agent,
    resource: &DescribeConfigsResource,
) -> Result<Vec<Entry>, ApiError> {
    let name = resource.resource_name.as_str();
    if name.is_empty() {
        // Cluster-wide dynamic broker defaults: the ones a Kafka 4.x cluster is formatted with.
        return Ok(CLUSTER_DEFAULTS
            .iter()
            .map(|(name, value)| {
                let source = config_source::DYNAMIC_DEFAULT_BROKER_CONFIG;
                Entry {
                    name: name.to_string(),
                    value: value.to_string(),
                    source,
                    read_only: false,
                    ty: lookup(name).map_or(ConfigType::String, |d| d.ty),
                    doc: "A cluster-wide default of a topic config.",
                    synonyms: vec![(name.to_string(), value.to_string(), source)],
                }
            })
            .collect());
    }
    let id: i32 = name.parse().map_err(|_| {
        ApiError::new(
            ResponseError::InvalidRequest,
            format!("Broker id must be an integer, but it is: {name}"),
        )
    })?;
    if id != agent.id() {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!(
                "Unexpected broker id, expected {} or empty string, but received {name}",
                agent.id()
            ),
        ));
    }
    let topic_default = |n: &str| lookup(n).map_or("", |d| d.default).to_string();
    let cfg = &agent.cfg;
    let list: [(&str, String, &str, ConfigType, &'static str); 7] = [
        ("auto.create.topics.enable", cfg.auto_create_topics.to_string(), "true", ConfigType::Boolean,
            "Create a topic with default settings when a client asks for metadata of a topic that does not exist."),
        ("broker.id", agent.id().to_string(), "-1", ConfigType::Int,
            "This agent's id."),
        ("default.replication.factor", "1".into(), "1", ConfigType::Int,
            "Reported replication factor; data is durable in object storage, not by replication between agents."),
        ("log.retention.ms", topic_default("retention.ms"), "", ConfigType::Long,
            "Default retention.ms of topics that do not override it."),
        ("message.max.bytes", topic_default("max.message.bytes"), "", ConfigType::Int,
            "Default max.message.bytes of topics that do not override it: the largest record batch accepted."),
        ("num.partitions", cfg.default_partitions.to_string(), "1", ConfigType::Int,
            "Partitions of auto-created topics and of CreateTopics requests that ask for the default (-1)."),
        ("socket.request.max.bytes", cfg.max_request_bytes.to_string(), "104857600", ConfigType::Int,
            "The largest request the agent accepts."),
    ];
    Ok(list
        .into_iter()
        .map(|(name, value, kafka_default, ty, doc)| {
            // Values that differ from Kafka's default were configured: STATIC_BROKER_CONFIG.
            let source = if kafka_default.is_empty() || value == kafka_default {
                config_source::DEFAULT_CONFIG
            } else {
                config_source::STATIC_BROKER_CONFIG
            };
            Entry {
                synonyms: vec![(name.to_string(), value.clone(), source)],
                name: name.to_string(),
                value,
                source,
                read_only: true,
                ty,
                doc,
            }
        })
        .collect())
}

/// Only the requested keys when some are given (unknown keys are silently absent, as in Kafka).
fn filter(entries: Vec<Entry>, keys: Option<&[kafka_protocol::protocol::StrBytes]>) -> Vec<Entry> {
    match keys {
        Some(keys) if !keys.is_empty() => entries
            .into_iter()
            .filter(|e| keys.iter().any(|k| k.as_str() == e.name))
            .collect(),
        _ => entries,
    }
}

fn to_wire(e: Entry, include_synonyms: bool, include_docs: bool) -> DescribeConfigsResourceResult {
    let mut c = DescribeConfigsResourceResult::default();
    c.name = str_bytes(e.name);
    c.value = Some(str_bytes(e.value));
    c.read_only = e.read_only;
    c.config_source = e.source;
    c.is_sensitive = false;
    if include_synonyms {
        c.synonyms = e
            .synonyms
            .into_iter()
            .map(|(name, value, source)| {
                let mut s = DescribeConfigsSynonym::default();
                s.name = str_bytes(name);
                s.value = Some(str_bytes(value));
                s.source = source;
                s
            })
            .collect();
    }
    // Only encoded from v3 on; harmless below.
    c.config_type = e.ty as i8;
    // Kafka sends null unless documentation was asked for (the codec's default is "").
    c.documentation = include_docs.then(|| str_bytes(e.doc));
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::StrBytes;

    fn entry(name: &str) -> Entry {
        Entry {
            name: name.into(),
            value: "v".into(),
            source: config_source::DEFAULT_CONFIG,
            read_only: false,
            ty: ConfigType::Long,
            doc: "d",
            synonyms: vec![],
        }
    }

    #[test]
    fn keys_filter_the_configs() {
        let all = vec![entry("a"), entry("b"), entry("c")];
        let names = |v: Vec<Entry>| v.into_iter().map(|e| e.name).collect::<Vec<_>>();
        assert_eq!(names(filter(all.clone(), None)), ["a", "b", "c"]);
        assert_eq!(names(filter(all.clone(), Some(&[]))), ["a", "b", "c"]);
        let keys = [
            StrBytes::from_static_str("c"),
            StrBytes::from_static_str("zz"),
        ];
        assert_eq!(names(filter(all, Some(&keys))), ["c"]);
    }

    #[test]
    fn synonyms_and_docs_only_when_asked() {
        let mut e = entry("retention.ms");
        e.synonyms = vec![("log.retention.ms".into(), "1".into(), 5)];
        let bare = to_wire(e.clone(), false, false);
        assert!(bare.synonyms.is_empty());
        assert!(bare.documentation.is_none());
        assert_eq!(bare.config_type, ConfigType::Long as i8);
        let full = to_wire(e, true, true);
        assert_eq!(full.synonyms.len(), 1);
        assert_eq!(full.synonyms[0].name.as_str(), "log.retention.ms");
        assert_eq!(full.documentation.as_deref(), Some("d"));
    }
}
