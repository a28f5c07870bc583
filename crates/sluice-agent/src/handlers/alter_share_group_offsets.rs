//! AlterShareGroupOffsets (KIP-932): reset share-partition start offsets of an empty group.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::{AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse};
use sluice_meta::share_group::ShareCommand;

use super::str_bytes;
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Answers one AlterShareGroupOffsets request (API key 91): sets each named share-partition's start
/// offset of an empty group; per-partition (and group) error codes.
pub async fn handle(
    cx: &RequestContext,
    req: AlterShareGroupOffsetsRequest,
) -> AlterShareGroupOffsetsResponse {
    let agent = &*cx.agent;
    let mut resp = AlterShareGroupOffsetsResponse::default();
    let group = req.group_id.0.to_string();
    // READ on the group; READ on each topic below.
    if let Err(refused) = cx.authorize_group(Op::Read, &group) {
        resp.error_code = refused.code();
        resp.error_message = refused.wire_message();
        return resp;
    }
    let mut offsets = Vec::new();
    for t in &req.topics {
        let name = t.topic_name.0.to_string();
        let mut rt = AlterShareGroupOffsetsResponseTopic::default();
        rt.topic_name = t.topic_name.clone();
        rt.topic_id = agent
            .read(|s| s.topic(&name).map(|t| t.id))
            .unwrap_or_default();
        let topic_denied = !cx.authorize(Op::Read, Res::Topic(&name));
        for p in &t.partitions {
            let mut rp = AlterShareGroupOffsetsResponsePartition::default();
            rp.partition_index = p.partition_index;
            rp.error_message = None;
            match agent.watermarks(&name, p.partition_index) {
                _ if topic_denied => rp.error_code = ResponseError::TopicAuthorizationFailed.code(),
                None => rp.error_code = ResponseError::UnknownTopicOrPartition.code(),
                Some(w)
                    if p.start_offset < w.log_start_offset || p.start_offset > w.high_watermark =>
                {
                    rp.error_code = ResponseError::OffsetOutOfRange.code()
                }
                Some(_) => offsets.push((name.clone(), p.partition_index, p.start_offset)),
            }
            rt.partitions.push(rp);
        }
        resp.responses.push(rt);
    }
    if !offsets.is_empty() {
        if let Err((code, message)) = agent
            .propose_share(ShareCommand::AlterOffsets { group, offsets })
            .await
        {
            resp.error_code = code;
            resp.error_message = message.map(str_bytes);
        }
    }
    resp
}
