//! OffsetForLeaderEpoch (23): the end offset of a leader epoch, which consumers use to validate
//! their position after a leader change (KIP-320) and followers use to truncate.
//!
//! Sluice has one leader epoch for every partition, forever ([`LEADER_EPOCH`]), begun at offset
//! 0, so Kafka's `LeaderEpochFileCache.endOffsetFor` with a single entry decides: the current
//! epoch ends at the high watermark (Sluice's log end offset, still being written to); any other
//! epoch is unknown (-1, -1). The client's `current_leader_epoch` is fenced as in Fetch and
//! ListOffsets.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::check_leader_epoch;
use crate::authz::{Op, Res};
use crate::reader::LEADER_EPOCH;
use crate::request::RequestContext;

/// Answers one OffsetForLeaderEpoch request (API key 23): per partition the end offset of the asked
/// epoch, or (-1, -1) for an unknown one.
pub async fn handle(
    cx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let agent = &*cx.agent;
    let mut resp = OffsetForLeaderEpochResponse::default();
    for t in req.topics {
        let allowed = cx.authorize(Op::Describe, Res::Topic(&t.topic));
        let partitions = t
            .partitions
            .iter()
            .map(|p| {
                let mut out = EpochEndOffset::default();
                out.partition = p.partition;
                out.leader_epoch = -1;
                out.end_offset = -1;
                let found = if !allowed {
                    Err(ResponseError::TopicAuthorizationFailed)
                } else {
                    agent
                        .watermarks(&t.topic, p.partition)
                        .ok_or(ResponseError::UnknownTopicOrPartition)
                        .and_then(|w| check_leader_epoch(p.current_leader_epoch).map(|_| w))
                };
                match found {
                    Err(e) => out.error_code = e.code(),
                    Ok(w) if p.leader_epoch == LEADER_EPOCH => {
                        out.leader_epoch = LEADER_EPOCH;
                        out.end_offset = w.high_watermark;
                    }
                    // An epoch this log never had: Kafka's UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET.
                    Ok(_) => {}
                }
                out
            })
            .collect();
        let mut r = OffsetForLeaderTopicResult::default();
        r.topic = t.topic;
        r.partitions = partitions;
        resp.topics.push(r);
    }
    resp
}
