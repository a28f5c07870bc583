//! AlterConfigs (33), the legacy, non-incremental config API that confluent-kafka's
//! `alter_configs` and older tools still send: each resource's configs are *replaced* by the
//! set given, so an override not named is removed (as in Kafka).
//!
//! The replacement is turned into IncrementalAlterConfigs operations (SET for each config given,
//! DELETE for each current override not given) and served by that handler, so validation,
//! authorization and the quorum command are the same for both APIs.

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::incremental_alter_configs::{alter_resources, resource_outcomes, OP_DELETE, OP_SET};
use super::{resource_type, str_bytes, ApiError};
use crate::agent::Agent;
use crate::request::RequestContext;

/// Answers one AlterConfigs request (API key 33) by replacing each resource's overrides through
/// IncrementalAlterConfigs; one result code per resource.
pub async fn handle(cx: &RequestContext, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let agent = &*cx.agent;
    let resources: Vec<AlterConfigsResource> = req
        .resources
        .iter()
        .map(|r| as_incremental(agent, r))
        .collect();
    let outcomes = alter_resources(cx, &resources, req.validate_only).await;
    let mut resp = AlterConfigsResponse::default();
    resp.responses = resource_outcomes!(req.resources, outcomes, AlterConfigsResourceResponse);
    resp
}

/// The incremental operations equivalent to replacing `r`'s configs: SET each given config,
/// DELETE each current override (of a topic or group) that is not given.
fn as_incremental(
    agent: &Agent,
    r: &kafka_protocol::messages::alter_configs_request::AlterConfigsResource,
) -> AlterConfigsResource {
    let name = r.resource_name.as_str();
    let current: Vec<String> = agent.read(|s| match r.resource_type {
        resource_type::TOPIC => s
            .topic(name)
            .map(|t| t.configs.keys().cloned().collect())
            .unwrap_or_default(),
        resource_type::GROUP => s.groups.configs_of(name).keys().cloned().collect(),
        _ => Vec::new(),
    });
    let op = |name: &str, op: i8, value: Option<&str>| {
        let mut c = AlterableConfig::default();
        c.name = str_bytes(name);
        c.config_operation = op;
        c.value = value.map(str_bytes);
        c
    };
    let mut configs: Vec<AlterableConfig> = r
        .configs
        .iter()
        .map(|c| op(&c.name, OP_SET, c.value.as_deref()))
        .collect();
    configs.extend(
        current
            .iter()
            .filter(|k| !r.configs.iter().any(|c| c.name.as_str() == k.as_str()))
            .map(|k| op(k, OP_DELETE, None)),
    );
    let mut out = AlterConfigsResource::default();
    out.resource_type = r.resource_type;
    out.resource_name = r.resource_name.clone();
    out.configs = configs;
    out
}
