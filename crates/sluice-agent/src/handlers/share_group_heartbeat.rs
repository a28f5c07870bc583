//! ShareGroupHeartbeat (KIP-932): join, leave, subscription changes and assignment delivery.
//! Only changes are proposed to the quorum; a steady member's heartbeat is answered from the
//! replica and only refreshes its liveness in this coordinator's memory.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse};
use sluice_meta::command::{Command, CommandResponse};
use sluice_meta::groups::GroupLookupError;
use sluice_meta::share_group::{assign, ShareCommand, ShareResponse};

use super::str_bytes;
use crate::agent::Agent;
use crate::authz::Op;
use crate::request::RequestContext;

/// Answers one ShareGroupHeartbeat request (API key 76, KIP-932): the member's epoch, heartbeat
/// interval and assignment, or an error code.
pub async fn handle(
    cx: &RequestContext,
    req: ShareGroupHeartbeatRequest,
) -> ShareGroupHeartbeatResponse {
    let agent = &*cx.agent;
    let mut resp = ShareGroupHeartbeatResponse::default();
    resp.heartbeat_interval_ms = agent.share.heartbeat_interval.as_millis() as i32;
    let group = req.group_id.0.to_string();
    let member = req.member_id.to_string();
    let fail = |mut resp: ShareGroupHeartbeatResponse, e: ResponseError, msg: &str| {
        resp.error_code = e.code();
        resp.error_message = Some(str_bytes(msg));
        resp
    };
    if group.is_empty() {
        return fail(
            resp,
            ResponseError::InvalidRequest,
            "GroupId can't be empty.",
        );
    }
    if member.is_empty() {
        return fail(
            resp,
            ResponseError::InvalidRequest,
            "MemberId can't be empty.",
        );
    }
    // READ on the group, DESCRIBE on every subscribed topic.
    if let Err(refused) = cx.authorize_group(Op::Read, &group) {
        return fail(resp, refused.0, refused.message());
    }
    if let Err(denied) = cx.authorize_subscription(req.subscribed_topic_names.as_deref()) {
        return fail(resp, denied.error(), &denied.to_string());
    }
    if let Err(refused) = agent.coordinates(&group) {
        return fail(resp, refused.0, refused.message());
    }
    // One group-id namespace: a classic or consumer group's id is not a share group's.
    if let Err(e @ GroupLookupError::WrongType { .. }) =
        agent.read(|s| s.groups.share(&group).map(drop))
    {
        return fail(resp, ResponseError::GroupIdNotFound, &e.to_string());
    }
    resp.member_id = Some(str_bytes(member.clone()));
    let subscribed: Option<Vec<String>> = req
        .subscribed_topic_names
        .map(|ts| ts.into_iter().map(|t| t.0.to_string()).collect());

    if req.member_epoch == -1 {
        agent.share.forget(&group, &member);
        let r = agent
            .propose(Command::Share(ShareCommand::Leave {
                group,
                member_id: member,
            }))
            .await;
        resp.member_epoch = -1;
        return match r {
            Ok(_) => resp,
            Err(e) => fail(resp, e, "leave failed"),
        };
    }

    let known = agent.read(|s| {
        s.groups
            .share(&group)
            .ok()
            .and_then(|g| g.members.get(&member))
            .cloned()
    });
    let needs_join = match (&known, req.member_epoch) {
        (_, 0) => true,
        (None, _) => {
            return fail(
                resp,
                ResponseError::UnknownMemberId,
                "The member is not in the group.",
            )
        }
        (Some(m), e) if e > m.member_epoch => {
            return fail(
                resp,
                ResponseError::FencedMemberEpoch,
                "The member epoch is fenced.",
            );
        }
        (Some(m), _) => subscribed.as_ref().is_some_and(|s| {
            let mut s = s.clone();
            s.sort();
            s.dedup();
            s != m.subscribed
        }),
    };
    if req.member_epoch == 0 && subscribed.as_ref().is_none_or(|s| s.is_empty()) && known.is_none()
    {
        return fail(
            resp,
            ResponseError::InvalidRequest,
            "SubscribedTopicNames must be set in the first request.",
        );
    }
    agent.share.touch(&group, &member);
    if needs_join {
        let subscribed = subscribed
            .or_else(|| known.as_ref().map(|m| m.subscribed.clone()))
            .unwrap_or_default();
        let cmd = ShareCommand::Join {
            group: group.clone(),
            member_id: member.clone(),
            rack: req.rack_id.map(|r| r.to_string()),
            client_id: cx.client_id.clone(),
            client_host: cx.client_host(),
            subscribed,
        };
        match agent.propose(Command::Share(cmd)).await {
            Ok(CommandResponse::Share(ShareResponse::Member { .. })) => {}
            Ok(other) => {
                tracing::warn!(?other, "unexpected share join answer");
                return fail(resp, ResponseError::UnknownServerError, "join failed");
            }
            Err(e) => return fail(resp, e, "join failed"),
        }
    } else if assignment_is_stale(agent, &group) {
        // Topics were created or grew since the last assignment.
        let _ = agent
            .propose(Command::Share(ShareCommand::Rebalance {
                group: group.clone(),
            }))
            .await;
    }
    let (epoch, assignment) = agent.read(|s| {
        let m = s
            .groups
            .share(&group)
            .ok()
            .and_then(|g| g.members.get(&member));
        (
            m.map_or(0, |m| m.member_epoch),
            m.map(|m| m.assignment.clone()).unwrap_or_default(),
        )
    });
    resp.member_epoch = epoch;
    if needs_join || req.member_epoch != epoch {
        resp.assignment = Some(to_wire(agent, &assignment));
    }
    resp
}

/// Whether the stored assignment differs from what the current topics would give.
fn assignment_is_stale(agent: &Agent, group: &str) -> bool {
    agent.read(|s| {
        let Ok(g) = s.groups.share(group) else {
            return false;
        };
        let counts: BTreeMap<String, i32> = g
            .members
            .values()
            .flat_map(|m| m.subscribed.iter())
            .filter_map(|t| {
                s.topics
                    .get(t)
                    .map(|tp| (t.clone(), tp.partitions.len() as i32))
            })
            .collect();
        let plan = assign(&g.members, &counts);
        g.members
            .iter()
            .any(|(id, m)| plan.get(id) != Some(&m.assignment))
    })
}

fn to_wire(agent: &Agent, assignment: &BTreeMap<String, Vec<i32>>) -> Assignment {
    let mut a = Assignment::default();
    a.topic_partitions = assignment
        .iter()
        .filter_map(|(topic, parts)| {
            let id = agent.read(|s| s.topic(topic).map(|t| t.id))?;
            let mut tp = TopicPartitions::default();
            tp.topic_id = id;
            tp.partitions = parts.clone();
            Some(tp)
        })
        .collect();
    a
}
