//! FindCoordinator: every group (and share group) and every transactional id has a coordinator
//! agent, chosen by a stable hash of its id over live agents, so every agent gives the same
//! answer. Coordinator state is quorum state; a group coordinator only keeps liveness timers in
//! memory, and a transaction coordinator nothing at all.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::str_bytes;
use crate::authz::{Op, Res};
use crate::group_coordinator::coordinator_among;
use crate::request::RequestContext;

const KEY_GROUP: i8 = 0;
const KEY_TRANSACTION: i8 = 1;

/// Answers one FindCoordinator request (API key 10): the coordinator agent of each key (group,
/// share group or transactional id), or an error code per key.
pub async fn handle(cx: &RequestContext, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let mut resp = FindCoordinatorResponse::default();
    let keys: Vec<String> = if version >= 4 {
        req.coordinator_keys.iter().map(|k| k.to_string()).collect()
    } else {
        vec![req.key.to_string()]
    };
    let agents = agent.live_agents();
    // The coordinator of `key`, at the endpoint of the listener the client came in on.
    let locate = |c: &mut Coordinator, key: &str| {
        if let Some(a) = coordinator_among(&agents, key) {
            c.node_id = BrokerId(a.agent_id);
            let (host, port) = cx.endpoint_of(a);
            c.host = str_bytes(host);
            c.port = port;
            c.error_message = None;
        }
    };
    let answers: Vec<Coordinator> = keys
        .into_iter()
        .map(|key| {
            let mut c = Coordinator::default();
            c.key = str_bytes(key.clone());
            c.node_id = BrokerId(-1);
            c.port = -1;
            match req.key_type {
                KEY_GROUP if !key.is_empty() => match cx.authorize_group(Op::Describe, &key) {
                    Err(refused) => {
                        c.error_code = refused.code();
                        c.error_message = refused.wire_message();
                    }
                    Ok(()) => locate(&mut c, &key),
                },
                KEY_TRANSACTION if !cx.authorize(Op::Describe, Res::TransactionalId(&key)) => {
                    c.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
                    c.error_message = Some(str_bytes("Transactional Id authorization failed."));
                }
                KEY_TRANSACTION if !key.is_empty() => locate(&mut c, &key),
                KEY_GROUP => {
                    c.error_code = ResponseError::InvalidRequest.code();
                    c.error_message = Some(str_bytes("Group id can't be empty."));
                }
                KEY_TRANSACTION => {
                    c.error_code = ResponseError::InvalidRequest.code();
                    c.error_message = Some(str_bytes("Transactional id can't be empty."));
                }
                _ => {
                    c.error_code = ResponseError::InvalidRequest.code();
                    c.error_message =
                        Some(str_bytes(format!("Unsupported key type {}", req.key_type)));
                }
            }
            c
        })
        .collect();
    if version >= 4 {
        resp.coordinators = answers;
    } else if let Some(c) = answers.into_iter().next() {
        resp.error_code = c.error_code;
        resp.error_message = c.error_message;
        resp.node_id = c.node_id;
        resp.host = c.host;
        resp.port = c.port;
    }
    resp
}
