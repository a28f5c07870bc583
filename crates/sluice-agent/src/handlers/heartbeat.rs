//! Heartbeat (classic protocol): memory only on the coordinator; no raft write.
//!
//! The answer tells a member whether to rejoin (REBALANCE_IN_PROGRESS) or that it is gone
//! (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use sluice_meta::groups::ClassicGroupState;

use super::group_member_error;
use crate::authz::Op;
use crate::request::RequestContext;

/// Answers one classic Heartbeat request (API key 12) from the coordinator's memory: no error,
/// REBALANCE_IN_PROGRESS, or why the member is gone.
pub async fn handle(cx: &RequestContext, req: HeartbeatRequest) -> HeartbeatResponse {
    let agent = &*cx.agent;
    let group = req.group_id.0.as_str();
    let member = req.member_id.as_str();
    let mut resp = HeartbeatResponse::default();
    if let Err(refused) = cx.coordinated_group(Op::Read, group) {
        resp.error_code = refused.code();
        return resp;
    }
    let instance = req.group_instance_id.as_ref().map(|s| s.as_str());
    resp.error_code = agent.read(|s| {
        let Some(g) = s.groups.classic(group) else {
            return ResponseError::UnknownMemberId.code();
        };
        if let Some(code) = group_member_error(g, member, instance, req.generation_id) {
            return code;
        }
        match g.state {
            ClassicGroupState::PreparingRebalance => ResponseError::RebalanceInProgress.code(),
            _ => 0,
        }
    });
    if resp.error_code == 0 || resp.error_code == ResponseError::RebalanceInProgress.code() {
        agent.groups.touch(group, member);
    }
    resp
}
