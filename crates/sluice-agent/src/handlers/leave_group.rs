//! LeaveGroup (classic protocol, v0-v5; batched with static members from v3): one proposal for
//! all departing members; the rest of the group rebalances at once.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use sluice_meta::command::CommandResponse;
use sluice_meta::groups::{GroupCommand, GroupResponse};

use crate::authz::Op;
use crate::clock::now_ms;
use crate::request::RequestContext;

/// Answers one LeaveGroup request (API key 13): one proposal for all departing members, a result
/// per member from v3.
pub async fn handle(cx: &RequestContext, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let group = req.group_id.0.to_string();
    let mut resp = LeaveGroupResponse::default();
    if let Err(refused) = cx.coordinated_group(Op::Read, &group) {
        resp.error_code = refused.code();
        return resp;
    }
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let cmd = GroupCommand::Leave {
        group: group.clone(),
        members: members.clone(),
        now_ms: now_ms(),
    };
    let codes = match agent.propose_group(cmd).await {
        Ok(CommandResponse::Group(GroupResponse::Codes(c))) => c,
        Ok(_) => vec![ResponseError::UnknownServerError.code(); members.len()],
        Err(code) => {
            resp.error_code = code;
            return resp;
        }
    };
    for ((id, _), code) in members.iter().zip(&codes) {
        if *code == 0 {
            agent.groups.forget(&group, id);
        }
    }
    if version >= 3 {
        resp.members = members
            .into_iter()
            .zip(codes)
            .map(|((id, inst), code)| {
                MemberResponse::default()
                    .with_member_id(super::str_bytes(id))
                    .with_group_instance_id(inst.map(super::str_bytes))
                    .with_error_code(code)
            })
            .collect();
    } else {
        resp.error_code = codes.first().copied().unwrap_or(0);
    }
    resp
}
