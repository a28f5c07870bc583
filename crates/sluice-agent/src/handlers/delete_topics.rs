//! DeleteTopics: topics named by name (v1-5) or by name or id (v6), deleted with one
//! `DeleteTopic` command each. Malformed rows (neither or both of name and id, duplicates, a
//! name whose id is also given) are refused with Kafka's INVALID_REQUEST messages before
//! anything is deleted; each duplicated name or id gets a single answer.
//!
//! Segment objects of a deleted topic are released in the state machine; the janitor removes
//! them once nothing else references them.

use std::collections::HashSet;

use futures::future::join_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use sluice_meta::command::Command;
use sluice_meta::state::MetaState;
use uuid::Uuid;

use super::{duplicates, topic_name, ApiError};
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// One row of the request, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Name(String),
    Id(Uuid),
    /// A row that is invalid whatever the state: answered as is.
    Invalid {
        name: Option<String>,
        id: Uuid,
        error: ApiError,
    },
}

/// A row's fate before any deletion: the topic to delete, or the answer already known.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    name: Option<String>,
    id: Uuid,
    outcome: Result<(), ApiError>,
}

/// Answers one DeleteTopics request (API key 20): one result per distinct name or id.
pub async fn handle(cx: &RequestContext, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let targets: Vec<Target> = if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| match (t.name, t.topic_id.is_nil()) {
                (None, true) => Target::Invalid {
                    name: None,
                    id: t.topic_id,
                    error: ApiError::new(
                        ResponseError::InvalidRequest,
                        "Neither topic name nor id were specified.",
                    ),
                },
                (Some(n), false) => Target::Invalid {
                    name: Some(n.0.to_string()),
                    id: t.topic_id,
                    error: ApiError::new(
                        ResponseError::InvalidRequest,
                        "You may not specify both topic name and topic id.",
                    ),
                },
                (Some(n), true) => Target::Name(n.0.to_string()),
                (None, false) => Target::Id(t.topic_id),
            })
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| Target::Name(n.0.to_string()))
            .collect()
    };

    let mut rows = agent.read(|s| resolve(s, targets));
    // DELETE on each named topic, checked before its existence is revealed.
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    for row in &mut rows {
        let checkable = match &row.outcome {
            Ok(()) => true,
            Err(e) => e.code == unknown,
        };
        if let Some(name) = row.name.as_deref().filter(|_| checkable) {
            if !cx.authorize(Op::Delete, Res::Topic(name)) {
                row.outcome = Err(ApiError::new(
                    ResponseError::TopicAuthorizationFailed,
                    "Authorization failed.",
                ));
            }
        }
    }
    let deletions = rows.into_iter().map(|row| async move {
        let outcome = match (&row.outcome, &row.name) {
            (Ok(()), Some(name)) => {
                let deleted = agent
                    .propose_admin(Command::DeleteTopic { name: name.clone() })
                    .await;
                if deleted.is_ok() {
                    tracing::info!(topic = %name, id = %row.id, "deleted topic");
                }
                deleted.map(|_| ())
            }
            _ => row.outcome.clone(),
        };
        Row { outcome, ..row }
    });
    let rows = join_all(deletions).await;

    let mut resp = DeleteTopicsResponse::default();
    resp.responses = rows.into_iter().map(|r| result(r, version)).collect();
    resp
}

/// Kafka's row checks (duplicates, name-and-id clashes) and the lookup of each topic.
fn resolve(s: &MetaState, targets: Vec<Target>) -> Vec<Row> {
    let names: HashSet<String> = duplicates(targets.iter().filter_map(|t| match t {
        Target::Name(n) => Some(n.as_str()),
        _ => None,
    }))
    .into_iter()
    .map(String::from)
    .collect();
    let dup_ids = duplicates(targets.iter().filter_map(|t| match t {
        Target::Id(id) => Some(*id),
        _ => None,
    }));
    let given_ids: HashSet<Uuid> = targets
        .iter()
        .filter_map(|t| match t {
            Target::Id(id) => Some(*id),
            _ => None,
        })
        .collect();
    // Ids that a named row also reaches: Kafka answers the named row and drops the id row.
    let mut clashing_ids = HashSet::new();
    for t in &targets {
        if let Target::Name(n) = t {
            if let Some(topic) = s.topic(n) {
                if given_ids.contains(&topic.id) && !dup_ids.contains(&topic.id) {
                    clashing_ids.insert(topic.id);
                }
            }
        }
    }

    let mut answered_names = HashSet::new();
    let mut answered_ids = HashSet::new();
    let mut rows = Vec::with_capacity(targets.len());
    for t in targets {
        let row =
            match t {
                Target::Invalid { name, id, error } => Row {
                    name,
                    id,
                    outcome: Err(error),
                },
                Target::Name(n) => {
                    if !answered_names.insert(n.clone()) {
                        continue;
                    }
                    if names.contains(n.as_str()) {
                        let e =
                            ApiError::new(ResponseError::InvalidRequest, "Duplicate topic name.");
                        Row {
                            name: Some(n),
                            id: Uuid::nil(),
                            outcome: Err(e),
                        }
                    } else {
                        match s.topic(&n).map(|t| t.id) {
                        None => Row {
                            name: Some(n),
                            id: Uuid::nil(),
                            outcome: Err(ApiError::bare(ResponseError::UnknownTopicOrPartition)),
                        },
                        Some(id) if clashing_ids.contains(&id) => Row {
                            name: Some(n),
                            id,
                            outcome: Err(ApiError::new(
                                ResponseError::InvalidRequest,
                                "The provided topic name maps to an ID that was already supplied.",
                            )),
                        },
                        Some(id) => Row { name: Some(n), id, outcome: Ok(()) },
                    }
                    }
                }
                Target::Id(id) => {
                    if !answered_ids.insert(id) || clashing_ids.contains(&id) {
                        continue;
                    }
                    if dup_ids.contains(&id) {
                        let e = ApiError::new(ResponseError::InvalidRequest, "Duplicate topic id.");
                        Row {
                            name: None,
                            id,
                            outcome: Err(e),
                        }
                    } else {
                        match s.topic_by_id(id) {
                            None => Row {
                                name: None,
                                id,
                                outcome: Err(ApiError::bare(ResponseError::UnknownTopicId)),
                            },
                            Some(t) => Row {
                                name: Some(t.name.clone()),
                                id,
                                outcome: Ok(()),
                            },
                        }
                    }
                }
            };
        rows.push(row);
    }
    rows
}

fn result(r: Row, version: i16) -> DeletableTopicResult {
    let mut d = DeletableTopicResult::default();
    // Before v6 every row came by name, so the name is always there.
    d.name = r.name.map(topic_name);
    if version >= 6 {
        d.topic_id = r.id;
    }
    if let Err(e) = r.outcome {
        d.error_code = e.code;
        if version >= 5 {
            d.error_message = e.message.map(super::str_bytes);
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::fixtures::state_with_topics;

    fn state(topics: &[(&str, Uuid)]) -> MetaState {
        let topics: Vec<(&str, Uuid, usize)> = topics.iter().map(|(n, id)| (*n, *id, 0)).collect();
        state_with_topics(&topics)
    }

    fn code(r: &Row) -> i16 {
        r.outcome.as_ref().err().map_or(0, |e| e.code)
    }

    #[test]
    fn names_and_ids_resolve_or_fail_as_in_kafka() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let s = state(&[("a", a), ("b", b)]);
        let rows = resolve(
            &s,
            vec![
                Target::Name("a".into()),
                Target::Id(b),
                Target::Name("nope".into()),
                Target::Id(Uuid::new_v4()),
            ],
        );
        assert_eq!(rows.len(), 4);
        assert_eq!(
            (rows[0].name.as_deref(), rows[0].id, code(&rows[0])),
            (Some("a"), a, 0)
        );
        assert_eq!(
            (rows[1].name.as_deref(), rows[1].id, code(&rows[1])),
            (Some("b"), b, 0)
        );
        assert_eq!(
            code(&rows[2]),
            ResponseError::UnknownTopicOrPartition.code()
        );
        assert_eq!(code(&rows[3]), ResponseError::UnknownTopicId.code());
        assert_eq!(rows[3].name, None);
    }

    #[test]
    fn duplicates_and_clashes_get_one_invalid_request_each() {
        let a = Uuid::new_v4();
        let s = state(&[("a", a), ("b", Uuid::new_v4())]);
        let rows = resolve(
            &s,
            vec![
                Target::Name("b".into()),
                Target::Name("b".into()),
                Target::Id(a),
                Target::Name("a".into()),
            ],
        );
        assert_eq!(rows.len(), 2);
        let msg = |r: &Row| r.outcome.as_ref().unwrap_err().message.clone().unwrap();
        assert_eq!(msg(&rows[0]), "Duplicate topic name.");
        assert_eq!(
            (rows[1].name.as_deref(), rows[1].id, msg(&rows[1]).as_str()),
            (
                Some("a"),
                a,
                "The provided topic name maps to an ID that was already supplied."
            )
        );
    }
}
