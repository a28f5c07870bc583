//! ShareAcknowledge (KIP-932): acknowledgements outside a fetch, one quorum command per request.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_acknowledge_response::{
    PartitionData, ShareAcknowledgeTopicResponse,
};
use kafka_protocol::messages::{ShareAcknowledgeRequest, ShareAcknowledgeResponse};

use super::share_requests::{apply_acks, by_topic, release_all, AckSink};
use crate::request::RequestContext;
use crate::share::{partition_acks, SessionStep, SharePartitionKey};

/// A partition's outcome: code and Kafka's message (the first error wins).
#[derive(Default)]
struct AckOut(Option<(i16, Option<String>)>);

impl AckSink for AckOut {
    fn ack_result(&mut self, code: i16, message: Option<String>) {
        if self.0.as_ref().is_none_or(|(c, _)| *c == 0) {
            self.0 = Some((code, message));
        }
    }
}

/// Answers one ShareAcknowledge request (API key 79): applies the acknowledgements in one quorum
/// command; a code per partition.
pub async fn handle(cx: &RequestContext, req: ShareAcknowledgeRequest) -> ShareAcknowledgeResponse {
    let agent = &*cx.agent;
    let mut resp = ShareAcknowledgeResponse::default();
    // READ on the group; READ on each topic below.
    let (group, member) = match cx.share_member(req.group_id.as_ref(), req.member_id.as_ref()) {
        Ok(x) => x,
        Err(e) => {
            resp.error_code = e.code();
            return resp;
        }
    };
    // Acknowledgements may not open a session (epoch 0), as in Kafka.
    if req.share_session_epoch == 0 {
        resp.error_code = ResponseError::InvalidShareSessionEpoch.code();
        return resp;
    }
    let step = match agent
        .share
        .session(&group, &member, req.share_session_epoch, &[], &[])
    {
        Ok((step, _)) => step,
        Err(e) => {
            resp.error_code = e.code();
            return resp;
        }
    };
    let mut parts: BTreeMap<SharePartitionKey, AckOut> = BTreeMap::new();
    let mut acks = Vec::new();
    for t in &req.topics {
        let name = cx.share_topic(t.topic_id);
        for p in &t.partitions {
            let key = (t.topic_id, p.partition_index);
            let name = match &name {
                Ok(name) => name,
                Err(e) => {
                    parts.entry(key).or_default().0 = Some((e.code(), None));
                    continue;
                }
            };
            match partition_acks(name, p.partition_index, &p.acknowledgement_batches) {
                Ok(rs) => acks.extend(rs.into_iter().map(|r| (key, r))),
                Err(e) => parts.entry(key).or_default().ack_result(e.code(), None),
            }
            parts.entry(key).or_default();
        }
    }
    apply_acks(agent, &group, &member, acks, &mut parts).await;
    if step == SessionStep::Close {
        release_all(agent, group, member).await;
    }
    resp.responses = by_topic(
        parts.into_iter().map(|((topic_id, partition), out)| {
            let mut pd = PartitionData::default();
            pd.partition_index = partition;
            let (code, message) = out.0.unwrap_or((0, None));
            pd.error_code = code;
            pd.error_message = message.map(Into::into);
            pd.current_leader.leader_id = -1;
            pd.current_leader.leader_epoch = -1;
            (topic_id, pd)
        }),
        |id, partitions| {
            let mut t = ShareAcknowledgeTopicResponse::default();
            t.topic_id = id;
            t.partitions = partitions;
            t
        },
    );
    resp
}
