//! JoinGroup (classic protocol, v0-v9).
//!
//! The coordinator proposes the join; the state machine answers with the generation the joiner
//! will get, and this handler holds the response until the replica shows that generation (all
//! members rejoined, or the sweep completed the rebalance at its timeout or at the end of the
//! `group.initial.rebalance.delay.ms` wait of a group that was empty). The leader's response
//! lists every member with its metadata for the chosen protocol.
//!
//! From v4 a new member without a group.instance.id first gets MEMBER_ID_REQUIRED and an id
//! (remembered in memory only: after a coordinator change the client just starts over).

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use sluice_meta::command::CommandResponse;
use sluice_meta::groups::{GroupCommand, GroupResponse, JoinMember};

use super::str_bytes;
use crate::authz::Op;
use crate::clock::now_ms;
use crate::request::RequestContext;

/// Kafka's default `group.min.session.timeout.ms` (6 s): a shorter session timeout is
/// INVALID_SESSION_TIMEOUT.
pub const MIN_SESSION_TIMEOUT_MS: i32 = 6_000;
/// Kafka's default `group.max.session.timeout.ms` (30 min): a longer session timeout is
/// INVALID_SESSION_TIMEOUT.
pub const MAX_SESSION_TIMEOUT_MS: i32 = 1_800_000;

/// Answers one JoinGroup request (API key 11), once the replica shows the joiner's generation: the
/// generation, protocol, leader, the member's id, and (for the leader) every member's metadata.
pub async fn handle(cx: &RequestContext, req: JoinGroupRequest) -> JoinGroupResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let group = req.group_id.0.to_string();
    let mut resp = JoinGroupResponse::default()
        .with_generation_id(-1)
        .with_member_id(req.member_id.clone());
    let fail = |mut r: JoinGroupResponse, e: ResponseError| {
        r.error_code = e.code();
        r
    };
    if let Err(refused) = cx.coordinated_named_group(Op::Read, &group) {
        return fail(resp, refused.0);
    }
    // Kafka refuses a group of another protocol before anything else (even MEMBER_ID_REQUIRED).
    if agent.read(|s| s.groups.classic_join_refusal(&group).is_some()) {
        return fail(resp, ResponseError::InconsistentGroupProtocol);
    }
    if !(MIN_SESSION_TIMEOUT_MS..=MAX_SESSION_TIMEOUT_MS).contains(&req.session_timeout_ms) {
        return fail(resp, ResponseError::InvalidSessionTimeout);
    }
    let instance_id = req.group_instance_id.as_ref().map(|s| s.to_string());
    let mut member_id = req.member_id.to_string();
    let new_member = if member_id.is_empty() {
        member_id = format!("{}-{}", cx.client_id, uuid::Uuid::new_v4());
        if version >= 4 && instance_id.is_none() {
            agent.groups.add_pending(&group, &member_id);
            resp.member_id = str_bytes(member_id);
            return fail(resp, ResponseError::MemberIdRequired);
        }
        true
    } else {
        let known = agent.read(|s| {
            s.groups
                .classic(&group)
                .is_some_and(|g| g.members.contains_key(&member_id))
        });
        !known && agent.groups.take_pending(&group, &member_id)
    };
    resp.member_id = str_bytes(member_id.clone());
    let rebalance_timeout_ms = if version >= 1 {
        req.rebalance_timeout_ms
    } else {
        req.session_timeout_ms
    };
    let join = JoinMember {
        member_id: member_id.clone(),
        new_member,
        instance_id,
        client_id: cx.client_id.clone(),
        client_host: cx.client_host(),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms,
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.to_vec()))
            .collect(),
    };
    let _awaiting = agent.groups.awaiting(&group, &member_id);
    let initial_delay = agent.cfg.group_initial_rebalance_delay;
    let target = match agent
        .propose_group(GroupCommand::Join {
            group: group.clone(),
            join,
            now_ms: now_ms(),
            initial_rebalance_delay_ms: initial_delay.as_millis() as i64,
        })
        .await
    {
        Ok(CommandResponse::Group(GroupResponse::Joined { target_generation })) => {
            target_generation
        }
        Ok(other) => {
            tracing::error!(?other, "unexpected answer to a group join");
            return fail(resp, ResponseError::UnknownServerError);
        }
        Err(code) => {
            resp.error_code = code;
            return resp;
        }
    };
    // The sweep completes an overdue rebalance (or one whose initial delay is over, which never
    // outlasts the longer of delay and rebalance timeout); the extra time covers its period and
    // a proposal.
    let wait = Duration::from_millis(rebalance_timeout_ms.max(0) as u64).max(initial_delay)
        + Duration::from_secs(5);
    let answer = agent
        .wait_for_state(wait, |s| {
            let g = s.groups.classic(&group)?;
            if !g.members.contains_key(&member_id) {
                return Some(None);
            }
            (g.generation >= target).then(|| Some(g.clone()))
        })
        .await;
    let g = match answer {
        Some(Some(g)) => g,
        Some(None) => return fail(resp, ResponseError::UnknownMemberId),
        None => return fail(resp, ResponseError::RebalanceInProgress),
    };
    let protocol = g.protocol.clone().unwrap_or_default();
    resp.generation_id = g.generation;
    resp.protocol_type = Some(str_bytes(g.protocol_type.clone()));
    resp.protocol_name = Some(str_bytes(protocol.clone()));
    resp.leader = str_bytes(g.leader.clone().unwrap_or_default());
    if g.leader.as_deref() == Some(member_id.as_str()) {
        resp.members = g
            .members
            .values()
            .map(|m| {
                JoinGroupResponseMember::default()
                    .with_member_id(str_bytes(m.member_id.clone()))
                    .with_group_instance_id(m.instance_id.clone().map(str_bytes))
                    .with_metadata(m.metadata(&protocol).to_vec().into())
            })
            .collect();
    }
    resp
}
