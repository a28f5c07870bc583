//! DeleteShareGroupOffsets (KIP-932): forget an empty group's state for whole topics.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic;
use kafka_protocol::messages::{DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse};
use sluice_meta::share_group::ShareCommand;

use super::str_bytes;
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Answers one DeleteShareGroupOffsets request (API key 92): per-topic results, and a group-level
/// error code for a refused group (authorization, or the state machine's refusal).
pub async fn handle(
    cx: &RequestContext,
    req: DeleteShareGroupOffsetsRequest,
) -> DeleteShareGroupOffsetsResponse {
    let agent = &*cx.agent;
    let mut resp = DeleteShareGroupOffsetsResponse::default();
    let group = req.group_id.0.to_string();
    // DELETE on the group; READ on each topic (unauthorized topics are left alone).
    if let Err(refused) = cx.authorize_group(Op::Delete, &group) {
        resp.error_code = refused.code();
        resp.error_message = refused.wire_message();
        return resp;
    }
    let mut topics: Vec<String> = Vec::new();
    for t in &req.topics {
        let mut rt = DeleteShareGroupOffsetsResponseTopic::default();
        rt.topic_name = t.topic_name.clone();
        rt.error_message = None;
        if !cx.authorize(Op::Read, Res::Topic(&t.topic_name.0)) {
            rt.error_code = ResponseError::TopicAuthorizationFailed.code();
            resp.responses.push(rt);
            continue;
        }
        topics.push(t.topic_name.0.to_string());
        match agent.read(|s| s.topic(&t.topic_name.0).map(|t| t.id)) {
            Some(id) => rt.topic_id = id,
            None => rt.error_code = ResponseError::UnknownTopicOrPartition.code(),
        }
        resp.responses.push(rt);
    }
    if let Err((code, message)) = agent
        .propose_share(ShareCommand::DeleteOffsets { group, topics })
        .await
    {
        resp.error_code = code;
        resp.error_message = message.map(str_bytes);
    }
    resp
}
