//! SyncGroup (classic protocol, v0-v5): the leader's assignment becomes quorum state in one
//! proposal; every member (leader included) then waits for the replica to show the group Stable
//! in its generation and reads its own assignment from there.

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use sluice_meta::groups::{ClassicGroupState, GroupCommand};

use super::{group_member_error, str_bytes};
use crate::authz::Op;
use crate::clock::now_ms;
use crate::request::RequestContext;

/// Answers one SyncGroup request (API key 14): the member's assignment once the replica shows the
/// group Stable in its generation, or an error code.
pub async fn handle(cx: &RequestContext, req: SyncGroupRequest) -> SyncGroupResponse {
    let agent = &*cx.agent;
    let group = req.group_id.0.to_string();
    let member = req.member_id.to_string();
    let generation = req.generation_id;
    let mut resp = SyncGroupResponse::default();
    if let Err(refused) = cx.coordinated_group(Op::Read, &group) {
        resp.error_code = refused.code();
        return resp;
    }
    let instance = req.group_instance_id.as_ref().map(|s| s.to_string());
    let checked = agent.read(|s| {
        let Some(g) = s.groups.classic(&group) else {
            return Err(ResponseError::UnknownMemberId.code());
        };
        if let Some(code) = group_member_error(g, &member, instance.as_deref(), generation) {
            return Err(code);
        }
        if let (Some(t), Some(p)) = (&req.protocol_type, &req.protocol_name) {
            if t.as_str() != g.protocol_type || Some(p.as_str()) != g.protocol.as_deref() {
                return Err(ResponseError::InconsistentGroupProtocol.code());
            }
        }
        match g.state {
            ClassicGroupState::PreparingRebalance => Err(ResponseError::RebalanceInProgress.code()),
            ClassicGroupState::Empty | ClassicGroupState::Dead => {
                Err(ResponseError::UnknownMemberId.code())
            }
            ClassicGroupState::CompletingRebalance => Ok((
                g.leader.as_deref() == Some(member.as_str()),
                g.rebalance_timeout_ms(),
            )),
            ClassicGroupState::Stable => Ok((false, g.rebalance_timeout_ms())),
        }
    });
    let (propose, timeout_ms) = match checked {
        Ok(x) => x,
        Err(code) => {
            resp.error_code = code;
            return resp;
        }
    };
    let _awaiting = agent.groups.awaiting(&group, &member);
    if propose {
        let assignments = req
            .assignments
            .iter()
            .map(|a| (a.member_id.to_string(), a.assignment.to_vec()))
            .collect();
        let cmd = GroupCommand::Sync {
            group: group.clone(),
            member_id: member.clone(),
            generation,
            assignments,
            now_ms: now_ms(),
        };
        if let Err(code) = agent.propose_group(cmd).await {
            resp.error_code = code;
            return resp;
        }
    }
    let wait = Duration::from_millis(timeout_ms.max(0) as u64) + Duration::from_secs(5);
    let answer = agent
        .wait_for_state(wait, |s| {
            let Some(g) = s.groups.classic(&group) else {
                return Some(Err(ResponseError::UnknownMemberId.code()));
            };
            let Some(m) = g.members.get(&member) else {
                return Some(Err(ResponseError::UnknownMemberId.code()));
            };
            if g.generation != generation || g.state == ClassicGroupState::PreparingRebalance {
                return Some(Err(ResponseError::RebalanceInProgress.code()));
            }
            (g.state == ClassicGroupState::Stable).then(|| {
                Ok((
                    m.assignment.clone(),
                    g.protocol_type.clone(),
                    g.protocol.clone(),
                ))
            })
        })
        .await;
    match answer {
        Some(Ok((assignment, ptype, pname))) => {
            resp.assignment = assignment.into();
            resp.protocol_type = Some(str_bytes(ptype));
            resp.protocol_name = pname.map(str_bytes);
        }
        Some(Err(code)) => resp.error_code = code,
        None => resp.error_code = ResponseError::RebalanceInProgress.code(),
    }
    resp
}
