//! What ShareFetch and ShareAcknowledge (KIP-932) share: the member gate, the resolution of a
//! requested topic id, the one quorum command applying a request's acknowledgements, the release
//! of a closed session's records, and the per-topic shape of their answers.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::GroupId;
use kafka_protocol::protocol::StrBytes;
use sluice_meta::command::{Command, CommandResponse};
use sluice_meta::share_group::{AckOutcome, AckRequest, ShareCommand, ShareResponse};
use uuid::Uuid;

use crate::agent::Agent;
use crate::authz::{Op, Res};
use crate::clock::now_ms;
use crate::request::RequestContext;
use crate::share::SharePartitionKey;

impl RequestContext {
    /// The gate of a share-partition request: a group id and member id (INVALID_REQUEST
    /// without), READ on the group (GROUP_AUTHORIZATION_FAILED), and a member of the share group
    /// (UNKNOWN_MEMBER_ID). Returns `(group, member)`.
    pub fn share_member(
        &self,
        group: Option<&GroupId>,
        member: Option<&StrBytes>,
    ) -> Result<(String, String), ResponseError> {
        let group = group.map(|g| g.0.to_string()).unwrap_or_default();
        let member = member.map(|m| m.to_string()).unwrap_or_default();
        if group.is_empty() || member.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        self.authorize_group(Op::Read, &group).map_err(|r| r.0)?;
        let is_member = self.agent.read(|s| {
            s.groups
                .share(&group)
                .is_ok_and(|g| g.members.contains_key(&member))
        });
        if !is_member {
            return Err(ResponseError::UnknownMemberId);
        }
        Ok((group, member))
    }

    /// The name of a requested topic id: UNKNOWN_TOPIC_ID when there is no such topic,
    /// TOPIC_AUTHORIZATION_FAILED without READ on it.
    pub fn share_topic(&self, topic_id: Uuid) -> Result<String, ResponseError> {
        let name = self
            .agent
            .resolve_topic(None, topic_id)
            .ok_or(ResponseError::UnknownTopicId)?
            .name;
        if self.authorize(Op::Read, Res::Topic(&name)) {
            Ok(name)
        } else {
            Err(ResponseError::TopicAuthorizationFailed)
        }
    }
}

/// Where an acknowledgement result goes (ShareFetch and ShareAcknowledge partitions): the
/// first error of a partition wins, with its message.
pub trait AckSink {
    /// Records one acknowledgement outcome (Kafka error code, 0 for success, and message); an
    /// implementation keeps the first error.
    fn ack_result(&mut self, code: i16, message: Option<String>);
}

/// One quorum command for all acknowledgements of the request; each outcome lands in its
/// partition's [`AckSink`].
pub async fn apply_acks<P: Default + AckSink>(
    agent: &Agent,
    group: &str,
    member: &str,
    acks: Vec<(SharePartitionKey, AckRequest)>,
    parts: &mut BTreeMap<SharePartitionKey, P>,
) {
    if acks.is_empty() {
        return;
    }
    let (keys, reqs): (Vec<_>, Vec<_>) = acks.into_iter().unzip();
    let cmd = ShareCommand::Acknowledge {
        group: group.to_string(),
        member_id: member.to_string(),
        limits: agent.share.limits,
        acks: reqs,
        now_ms: now_ms(),
    };
    let failed = |code: i16| {
        vec![
            AckOutcome {
                code,
                message: None
            };
            keys.len()
        ]
    };
    let outcomes: Vec<AckOutcome> = match agent.propose(Command::Share(cmd)).await {
        Ok(CommandResponse::Share(ShareResponse::Acknowledged(c))) => c,
        Ok(CommandResponse::Share(ShareResponse::Error { code, .. })) => failed(code),
        Ok(_) => failed(ResponseError::UnknownServerError.code()),
        Err(e) => failed(e.code()),
    };
    for (k, o) in keys.into_iter().zip(outcomes) {
        parts.entry(k).or_default().ack_result(o.code, o.message);
    }
}

/// The last request of a share session (epoch -1): every record the member still holds is
/// released for redelivery. Best effort: a failure leaves the locks to time out.
pub async fn release_all(agent: &Agent, group: String, member: String) {
    let limits = agent.share.limits;
    let _ = agent
        .propose(Command::Share(ShareCommand::ReleaseAll {
            group,
            member_id: member,
            limits,
        }))
        .await;
}

/// Per-partition answers grouped into per-topic answers, topics in id order: `topic` builds
/// one topic's entry from its id and partitions.
pub fn by_topic<P, T>(
    partitions: impl IntoIterator<Item = (Uuid, P)>,
    topic: impl Fn(Uuid, Vec<P>) -> T,
) -> Vec<T> {
    let mut grouped: BTreeMap<Uuid, Vec<P>> = BTreeMap::new();
    for (id, p) in partitions {
        grouped.entry(id).or_default().push(p);
    }
    grouped.into_iter().map(|(id, ps)| topic(id, ps)).collect()
}
