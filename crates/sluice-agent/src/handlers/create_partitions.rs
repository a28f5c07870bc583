//! CreatePartitions: grows topics to a new partition count with one `CreatePartitions` command
//! per topic, after Kafka's checks (existence, the count must increase, manual assignments
//! well-formed and one per new partition). `validate_only` checks and proposes nothing.
//!
//! Manual assignments are validated but do not pin partitions: any agent serves any partition.

use futures::future::join_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use sluice_meta::command::Command;
use sluice_meta::state::MetaState;

use super::{
    duplicates, str_bytes, too_many_partitions, validate_manual_assignment, ApiError,
    MAX_PARTITIONS_PER_REQUEST,
};
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Answers one CreatePartitions request (API key 37): one result per topic (INVALID_PARTITIONS,
/// UNKNOWN_TOPIC_OR_PARTITION, ...).
pub async fn handle(cx: &RequestContext, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let agent = &*cx.agent;
    let dup = duplicates(req.topics.iter().map(|t| t.name.0.as_str()));
    let mut answered = std::collections::HashSet::new();
    // ALTER on each topic.
    let denied: std::collections::HashSet<&str> = req
        .topics
        .iter()
        .map(|t| t.name.0.as_str())
        .filter(|n| !cx.authorize(Op::Alter, Res::Topic(n)))
        .collect();
    let planned: Vec<(CreatePartitionsTopic, Result<i32, ApiError>)> = agent.read(|s| {
        let registered = |id: i32| s.agents.contains_key(&id);
        let mut added = 0i64;
        let mut rows: Vec<_> = req
            .topics
            .iter()
            .filter(|t| answered.insert(t.name.0.as_str()))
            .map(|t| {
                let outcome = if dup.contains(t.name.0.as_str()) {
                    Err(ApiError::new(
                        ResponseError::InvalidRequest,
                        "Duplicate topic name.",
                    ))
                } else if denied.contains(t.name.0.as_str()) {
                    Err(ApiError::new(
                        ResponseError::TopicAuthorizationFailed,
                        "Authorization failed.",
                    ))
                } else {
                    check(s, t, &registered)
                };
                if let Ok(current) = outcome {
                    added += (t.count - current) as i64;
                }
                (t.clone(), outcome)
            })
            .collect();
        // The same cap as CreateTopics: one request may not add unbounded partitions.
        if added > MAX_PARTITIONS_PER_REQUEST {
            for (_, outcome) in &mut rows {
                *outcome = Err(too_many_partitions());
            }
        }
        rows
    });

    let validate_only = req.validate_only;
    let outcomes = planned.into_iter().map(|(t, outcome)| async move {
        let outcome = match outcome {
            Ok(_) if !validate_only => {
                let name = t.name.0.to_string();
                let cmd = Command::CreatePartitions {
                    name: name.clone(),
                    count: t.count,
                };
                let r = agent.propose_admin(cmd).await.map(|_| ());
                if r.is_ok() {
                    tracing::info!(topic = %name, count = t.count, "added partitions");
                }
                r
            }
            other => other.map(|_| ()),
        };
        let mut r = CreatePartitionsTopicResult::default();
        r.name = t.name;
        if let Err(e) = outcome {
            r.error_code = e.code;
            r.error_message = e.message.map(str_bytes);
        }
        r
    });

    let mut resp = CreatePartitionsResponse::default();
    resp.results = join_all(outcomes).await;
    resp
}

/// Kafka's checks for one topic; the current partition count when they pass.
fn check(
    s: &MetaState,
    t: &CreatePartitionsTopic,
    registered: &dyn Fn(i32) -> bool,
) -> Result<i32, ApiError> {
    let name = t.name.0.as_str();
    let topic = s
        .topic(name)
        .ok_or(ApiError::bare(ResponseError::UnknownTopicOrPartition))?;
    let current = topic.partitions.len() as i32;
    if t.count == current {
        return Err(ApiError::new(
            ResponseError::InvalidPartitions,
            format!("Topic already has {current} partition(s)."),
        ));
    }
    if t.count < current {
        return Err(ApiError::new(
            ResponseError::InvalidPartitions,
            format!(
                "The topic {name} currently has {current} partition(s); {} would not be an increase.",
                t.count
            ),
        ));
    }
    if let Some(assignments) = &t.assignments {
        let additional = t.count - current;
        if assignments.len() as i64 != additional as i64 {
            return Err(ApiError::new(
                ResponseError::InvalidReplicaAssignment,
                format!(
                    "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
                    assignments.len()
                ),
            ));
        }
        let mut replicas = None;
        for a in assignments {
            let ids: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
            validate_manual_assignment(&ids, registered, replicas)?;
            replicas = Some(ids.len());
        }
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::fixtures::state_with_topics;
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment;
    use kafka_protocol::messages::{BrokerId, TopicName};
    use uuid::Uuid;

    fn state() -> MetaState {
        state_with_topics(&[("t", Uuid::new_v4(), 2)])
    }

    fn req(name: &str, count: i32) -> CreatePartitionsTopic {
        let mut t = CreatePartitionsTopic::default();
        t.name = TopicName(str_bytes(name));
        t.count = count;
        // As clients send it without assignments: null (the codec's default is an empty list).
        t.assignments = None;
        t
    }

    fn err(r: Result<i32, ApiError>) -> (i16, Option<String>) {
        let e = r.unwrap_err();
        (e.code, e.message)
    }

    #[test]
    fn counts_must_grow_with_kafkas_messages() {
        let s = state();
        let any = |_: i32| true;
        assert_eq!(check(&s, &req("t", 5), &any), Ok(2));
        assert_eq!(
            err(check(&s, &req("t", 2), &any)),
            (37, Some("Topic already has 2 partition(s).".into()))
        );
        assert_eq!(
            err(check(&s, &req("t", 1), &any)),
            (
                37,
                Some(
                    "The topic t currently has 2 partition(s); 1 would not be an increase.".into()
                )
            )
        );
        assert_eq!(err(check(&s, &req("nope", 3), &any)), (3, None));
    }

    #[test]
    fn assignments_must_cover_each_new_partition() {
        let s = state();
        let any = |_: i32| true;
        let mut t = req("t", 4);
        let a = |ids: &[i32]| {
            let mut a = CreatePartitionsAssignment::default();
            a.broker_ids = ids.iter().map(|i| BrokerId(*i)).collect();
            a
        };
        t.assignments = Some(vec![a(&[1])]);
        assert_eq!(
            err(check(&s, &t, &any)).0,
            ResponseError::InvalidReplicaAssignment.code()
        );
        t.assignments = Some(vec![a(&[1]), a(&[2])]);
        assert_eq!(check(&s, &t, &any), Ok(2));
        t.assignments = Some(vec![a(&[1]), a(&[1, 2])]);
        assert_eq!(
            err(check(&s, &t, &any)).0,
            ResponseError::InvalidReplicaAssignment.code()
        );
    }
}
