//! IncrementalAlterConfigs for topics: SET, DELETE, and APPEND/SUBTRACT on list configs, each
//! resource validated as a whole and applied with one `AlterTopicConfigs` command carrying the
//! resulting values. `validate_only` checks and proposes nothing.
//!
//! APPEND and SUBTRACT are resolved here against the replica's current overrides, so two
//! concurrent list edits of the same key may race (the later write wins), as with any
//! read-modify-write through the quorum. Broker configs are static in Sluice: BROKER resources
//! are refused with a message saying so.

use std::collections::{BTreeMap, HashSet};

use futures::future::join_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use sluice_meta::command::Command;

use super::config_resource_gate;
use super::{duplicates, invalid_config, resource_type, ApiError};
use crate::agent::Agent;
use crate::authz::Op;
use crate::group_config;
use crate::request::RequestContext;
use crate::topic_config::{lookup, validate, validate_all, ConfigType};

/// Kafka's `AlterConfigOp.OpType` ids.
pub(super) const OP_SET: i8 = 0;
pub(super) const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// Config changes as the `AlterTopicConfigs` command takes them: a new value, or removal.
pub(super) type Changes = Vec<(String, Option<String>)>;

/// Answers one IncrementalAlterConfigs request (API key 44): one result per resource
/// (INVALID_CONFIG, INVALID_REQUEST for BROKER resources, ...).
pub async fn handle(
    cx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let outcomes = alter_resources(cx, &req.resources, req.validate_only).await;
    let mut resp = IncrementalAlterConfigsResponse::default();
    resp.responses = resource_outcomes!(req.resources, outcomes, AlterConfigsResourceResponse);
    resp
}

/// The per-resource answer of AlterConfigs and IncrementalAlterConfigs: each requested resource
/// (`resource_type`, `resource_name`) with its outcome, in request order.
macro_rules! resource_outcomes {
    ($resources:expr, $outcomes:expr, $entry:ty) => {
        $resources
            .into_iter()
            .zip($outcomes)
            .map(|(r, outcome)| {
                let mut out = <$entry>::default();
                (out.error_code, out.error_message) = ApiError::fields(outcome);
                out.resource_type = r.resource_type;
                out.resource_name = r.resource_name;
                out
            })
            .collect()
    };
}
pub(super) use resource_outcomes;

/// Alters each resource (duplicates refused, each authorized on its own), concurrently; one
/// outcome per resource, in order. The legacy AlterConfigs comes here too, its full
/// replacement turned into SET and DELETE operations.
pub(super) async fn alter_resources(
    cx: &RequestContext,
    resources: &[AlterConfigsResource],
    validate_only: bool,
) -> Vec<Result<(), ApiError>> {
    let agent = &*cx.agent;
    let keys: Vec<(i8, &str)> = resources
        .iter()
        .map(|r| (r.resource_type, r.resource_name.as_str()))
        .collect();
    let dup: HashSet<(i8, String)> = duplicates(keys)
        .into_iter()
        .map(|(t, n)| (t, n.to_string()))
        .collect();
    let outcomes = resources.iter().map(|r| {
        let duplicate = dup.contains(&(r.resource_type, r.resource_name.to_string()));
        async move {
            if duplicate {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    "Each resource must appear at most once.",
                ));
            }
            config_resource_gate(cx, Op::AlterConfigs, r.resource_type, &r.resource_name)?;
            alter(agent, r, validate_only).await
        }
    });
    join_all(outcomes).await
}

async fn alter(
    agent: &Agent,
    r: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), ApiError> {
    check_shape(&r.configs)?;
    match r.resource_type {
        resource_type::TOPIC => {}
        resource_type::GROUP => return alter_group(agent, r, validate_only).await,
        // Sluice has no dynamic broker configs, so deleting them changes nothing and succeeds,
        // as in Kafka for a config that is not set (kafka-reassign-partitions clears its
        // throttles this way).
        resource_type::BROKER if r.configs.iter().all(|c| c.config_operation == OP_DELETE) => {
            return Ok(())
        }
        resource_type::BROKER => {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                "Sluice does not support dynamic broker configs: set them in the agent's configuration.",
            ))
        }
        other => {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                format!("Unsupported resource type: {other}"),
            ))
        }
    }
    alter_topic(agent, &r.resource_name, validate_only, |overrides| {
        changes(overrides, &r.configs)
    })
    .await
}

/// Applies an edit to a topic's overrides: looks the topic up, lets `edit` turn its current
/// overrides into changes, validates the overrides that would result as a whole, and (unless
/// `validate_only`) proposes them as one `AlterTopicConfigs` command. Shared by
/// IncrementalAlterConfigs and the legacy AlterConfigs.
pub(super) async fn alter_topic(
    agent: &Agent,
    name: &str,
    validate_only: bool,
    edit: impl FnOnce(&BTreeMap<String, String>) -> Result<Changes, ApiError>,
) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            "Default topic resources are not allowed.",
        ));
    }
    let overrides = agent
        .read(|s| s.topic(name).map(|t| t.configs.clone()))
        .ok_or_else(|| {
            ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{name}' does not exist."),
            )
        })?;
    let ops = edit(&overrides)?;
    let mut after = overrides;
    for (k, v) in &ops {
        match v {
            Some(v) => after.insert(k.clone(), v.clone()),
            None => after.remove(k),
        };
    }
    validate_all(&after).map_err(invalid_config)?;
    if validate_only || ops.is_empty() {
        return Ok(());
    }
    tracing::info!(topic = %name, ?ops, "altering topic configs");
    agent
        .propose_admin(Command::AlterTopicConfigs {
            name: name.to_string(),
            ops,
        })
        .await
        .map(|_| ())
}

/// Kafka's request-shape checks, made before anything is looked up.
fn check_shape(configs: &[AlterableConfig]) -> Result<(), ApiError> {
    if !duplicates(configs.iter().map(|c| c.name.as_str())).is_empty() {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            "Error due to duplicate config keys",
        ));
    }
    let nulls: Vec<&str> = configs
        .iter()
        .filter(|c| c.config_operation != OP_DELETE && c.value.is_none())
        .map(|c| c.name.as_str())
        .collect();
    if !nulls.is_empty() {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("Null value not supported for : {}", nulls.join(", ")),
        ));
    }
    Ok(())
}

/// The resulting overrides of applying `configs` to `overrides`, every new value validated.
fn changes(
    overrides: &BTreeMap<String, String>,
    configs: &[AlterableConfig],
) -> Result<Changes, ApiError> {
    let invalid = |m: String| ApiError::new(ResponseError::InvalidConfig, m);
    let mut out = Vec::with_capacity(configs.len());
    for c in configs {
        let key = c.name.to_string();
        let value = c.value.as_deref().unwrap_or("");
        let new = match c.config_operation {
            OP_SET => Some(value.to_string()),
            OP_DELETE => {
                if lookup(&key).is_none() {
                    return Err(invalid(format!("Unknown topic config name: {key}")));
                }
                None
            }
            op @ (OP_APPEND | OP_SUBTRACT) => {
                let Some(def) = lookup(&key).filter(|d| d.ty == ConfigType::List) else {
                    let op = if op == OP_APPEND {
                        "APPEND"
                    } else {
                        "SUBTRACT"
                    };
                    return Err(invalid(format!(
                        "Can't {op} to key {key} because its type is not LIST."
                    )));
                };
                let current = overrides.get(&key).map_or(def.default, String::as_str);
                Some(edit_list(current, value, op == OP_APPEND))
            }
            op => {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("Unknown alter config operation type: {op}"),
                ))
            }
        };
        if let Some(v) = &new {
            validate(&key, v).map_err(invalid_config)?;
        }
        out.push((key, new));
    }
    Ok(out)
}

/// Appends the items of `items` not yet in `current`, or removes them; lists are
/// comma-separated, empty items ignored.
fn edit_list(current: &str, items: &str, append: bool) -> String {
    let mut list: Vec<&str> = current.split(',').filter(|s| !s.is_empty()).collect();
    for item in items.split(',').filter(|s| !s.is_empty()) {
        if append {
            if !list.contains(&item) {
                list.push(item);
            }
        } else {
            list.retain(|x| *x != item);
        }
    }
    list.join(",")
}

/// Group configs: `share.*` keys (KIP-932 share groups, kept with the share group) and
/// `consumer.*` keys (KIP-848 consumer groups), SET and DELETE only.
async fn alter_group(
    agent: &Agent,
    r: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), ApiError> {
    let group = r.resource_name.to_string();
    if group.is_empty() {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            "Group id can't be empty.",
        ));
    }
    let bounds = &agent.cfg.group_config_bounds;
    let invalid = |message: String| ApiError::new(ResponseError::InvalidConfig, message);
    let mut ops = Vec::with_capacity(r.configs.len());
    for c in &r.configs {
        let name = c.name.to_string();
        if !group_config::is_known(&name) {
            return Err(invalid(format!("Unknown group config name: {name}")));
        }
        match (c.config_operation, c.value.as_ref().map(|v| v.to_string())) {
            (OP_SET, Some(v)) => {
                group_config::check(bounds, &name, &v)?;
                ops.push((name, Some(v)));
            }
            (OP_DELETE, _) => ops.push((name, None)),
            _ => return Err(invalid(format!("Only SET and DELETE apply to {name}"))),
        }
    }
    // The group's configs after the change, checked as a whole (session > heartbeat).
    let mut after = agent.read(|s| s.groups.configs_of(&group).clone());
    for (k, v) in &ops {
        match v {
            Some(v) => after.insert(k.clone(), v.clone()),
            None => after.remove(k),
        };
    }
    group_config::check_pairs(&after, |k| agent.group_config_default(k))?;
    if validate_only || ops.is_empty() {
        return Ok(());
    }
    // Every kind's configs live in one map (Groups::configs), set by one command.
    let cmd = Command::Group(sluice_meta::groups::GroupCommand::SetConfigs { group, ops });
    agent.propose_admin(cmd).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::str_bytes;

    fn op(name: &str, op: i8, value: Option<&str>) -> AlterableConfig {
        let mut c = AlterableConfig::default();
        c.name = str_bytes(name);
        c.config_operation = op;
        c.value = value.map(str_bytes);
        c
    }

    fn err_of(r: Result<Changes, ApiError>) -> (i16, String) {
        let e = r.unwrap_err();
        (e.code, e.message.unwrap_or_default())
    }

    #[test]
    fn set_delete_append_subtract() {
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "5".to_string());
        let got = changes(
            &o,
            &[
                op("retention.ms", OP_DELETE, None),
                op("segment.ms", OP_SET, Some("100")),
                op("cleanup.policy", OP_APPEND, Some("compact")),
            ],
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                ("retention.ms".to_string(), None),
                ("segment.ms".to_string(), Some("100".to_string())),
                (
                    "cleanup.policy".to_string(),
                    Some("delete,compact".to_string())
                ),
            ]
        );
        o.insert("cleanup.policy".to_string(), "delete,compact".to_string());
        let got = changes(&o, &[op("cleanup.policy", OP_SUBTRACT, Some("delete"))]).unwrap();
        assert_eq!(
            got,
            vec![("cleanup.policy".to_string(), Some("compact".to_string()))]
        );
    }

    #[test]
    fn invalid_changes_use_kafkas_errors() {
        let o = BTreeMap::new();
        assert_eq!(
            err_of(changes(&o, &[op("retention.ms", OP_APPEND, Some("1"))])),
            (
                40,
                "Can't APPEND to key retention.ms because its type is not LIST.".into()
            )
        );
        assert_eq!(
            err_of(changes(&o, &[op("retention.ms", OP_SET, Some("x"))])).0,
            40
        );
        assert_eq!(err_of(changes(&o, &[op("nope", OP_SET, Some("1"))])).0, 40);
        assert_eq!(err_of(changes(&o, &[op("nope", OP_DELETE, None)])).0, 40);
        assert_eq!(
            err_of(changes(&o, &[op("retention.ms", 9, Some("1"))])).0,
            42
        );
    }

    #[test]
    fn request_shape_checks() {
        let dup = [op("a", OP_SET, Some("1")), op("a", OP_DELETE, None)];
        assert_eq!(
            check_shape(&dup).unwrap_err().message.as_deref(),
            Some("Error due to duplicate config keys")
        );
        let nulls = [
            op("a", OP_SET, None),
            op("b", OP_DELETE, None),
            op("c", OP_APPEND, None),
        ];
        assert_eq!(
            check_shape(&nulls).unwrap_err().message.as_deref(),
            Some("Null value not supported for : a, c")
        );
    }

    #[test]
    fn list_edits_keep_order_and_skip_duplicates() {
        assert_eq!(
            edit_list("delete", "compact,delete", true),
            "delete,compact"
        );
        assert_eq!(edit_list("delete,compact", "delete", false), "compact");
        assert_eq!(edit_list("", "a", true), "a");
    }
}
