//! What the handlers of the group APIs share: the gate every request about a group passes
//! (authorization on the group, then "this agent coordinates it"), the authorization of a
//! heartbeat's subscription, the skeleton of the describe APIs, and the per-partition answer of
//! the offset APIs.
//!
//! Kafka's order is followed throughout: `KafkaApis` authorizes first (GROUP_AUTHORIZATION_FAILED,
//! message "Group authorization failed."), then the coordinator answers NOT_COORDINATOR for a
//! group it does not own.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{GroupId, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_meta::command::{Command, CommandResponse};
use sluice_meta::groups::GroupLookupError;
use sluice_meta::groups::{GroupCommand, GroupResponse};
use sluice_meta::state::MetaState;

use super::str_bytes;
use crate::agent::Agent;
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Kafka's message for GROUP_AUTHORIZATION_FAILED.
pub const GROUP_DENIED: &str = "Group authorization failed.";

/// The message of NOT_COORDINATOR where an API carries one (the KIP-848 and KIP-932 heartbeats).
pub const NOT_COORDINATOR: &str = "This agent is not the coordinator of the group.";

/// Why a request about a group was refused before its handler looked at the group:
/// GROUP_AUTHORIZATION_FAILED, INVALID_GROUP_ID or NOT_COORDINATOR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupRefused(pub ResponseError);

impl GroupRefused {
    /// The error code the response carries.
    pub fn code(self) -> i16 {
        self.0.code()
    }

    /// The message for APIs whose responses carry one.
    pub fn message(self) -> &'static str {
        match self.0 {
            ResponseError::GroupAuthorizationFailed => GROUP_DENIED,
            ResponseError::NotCoordinator => NOT_COORDINATOR,
            _ => "The group id is invalid.",
        }
    }

    /// The message as the wire carries it.
    pub fn wire_message(self) -> Option<StrBytes> {
        Some(str_bytes(self.message()))
    }
}

impl Agent {
    /// Whether this agent coordinates `group`: NOT_COORDINATOR otherwise (the client looks the
    /// coordinator up again).
    pub fn coordinates(&self, group: &str) -> Result<(), GroupRefused> {
        if self.is_group_coordinator(group) {
            Ok(())
        } else {
            Err(GroupRefused(ResponseError::NotCoordinator))
        }
    }
}

impl RequestContext {
    /// `op` on `group`, or GROUP_AUTHORIZATION_FAILED.
    pub fn authorize_group(&self, op: Op, group: &str) -> Result<(), GroupRefused> {
        if self.authorize(op, Res::Group(group)) {
            Ok(())
        } else {
            Err(GroupRefused(ResponseError::GroupAuthorizationFailed))
        }
    }

    /// The gate of a request its group's coordinator serves: `op` on the group, then this agent
    /// must coordinate it.
    pub fn coordinated_group(&self, op: Op, group: &str) -> Result<(), GroupRefused> {
        self.authorize_group(op, group)?;
        self.agent.coordinates(group)
    }

    /// [`RequestContext::coordinated_group`] refusing an empty group id with INVALID_GROUP_ID
    /// between the two checks (JoinGroup, OffsetCommit).
    pub fn coordinated_named_group(&self, op: Op, group: &str) -> Result<(), GroupRefused> {
        self.authorize_group(op, group)?;
        if group.is_empty() {
            return Err(GroupRefused(ResponseError::InvalidGroupId));
        }
        self.agent.coordinates(group)
    }

    /// A heartbeat's subscribed topic names (KIP-848, KIP-932, KIP-1071) the principal may not
    /// DESCRIBE.
    ///
    /// # Errors
    /// [`UnauthorizedTopics`] listing them, in request order.
    pub fn authorize_subscription(
        &self,
        topics: Option<&[TopicName]>,
    ) -> Result<(), UnauthorizedTopics> {
        let denied: Vec<String> = topics
            .unwrap_or_default()
            .iter()
            .map(|t| t.0.as_str())
            .filter(|t| !self.authorize(Op::Describe, Res::Topic(t)))
            .map(str::to_string)
            .collect();
        if denied.is_empty() {
            Ok(())
        } else {
            Err(UnauthorizedTopics(denied))
        }
    }
}

/// Subscribed topics a group heartbeat's principal may not DESCRIBE
/// ([`RequestContext::authorize_subscription`]): TOPIC_AUTHORIZATION_FAILED, with Kafka's
/// message "Unauthorized topics: a, b" as Display.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unauthorized topics: {}", .0.join(", "))]
pub struct UnauthorizedTopics(
    /// The topic names denied, in request order.
    pub Vec<String>,
);

impl UnauthorizedTopics {
    /// The Kafka error: TOPIC_AUTHORIZATION_FAILED.
    pub fn error(&self) -> ResponseError {
        ResponseError::TopicAuthorizationFailed
    }
}

/// A group's entry in ConsumerGroupDescribe and ShareGroupDescribe responses: the fields
/// [`describe_groups`] fills.
pub trait DescribedGroupEntry: Default {
    /// Sets the entry's `group_id`.
    fn set_group_id(&mut self, id: GroupId);
    /// Kafka's bit field, `i32::MIN` when not asked for.
    fn set_authorized_operations(&mut self, ops: i32);
    /// Sets the entry's `error_code` and `error_message` (`None`: null).
    fn set_error(&mut self, code: i16, message: Option<StrBytes>);
}

macro_rules! described_group_entry {
    ($($t:ty),*) => {$(
        impl DescribedGroupEntry for $t {
            fn set_group_id(&mut self, id: GroupId) {
                self.group_id = id;
            }
            fn set_authorized_operations(&mut self, ops: i32) {
                self.authorized_operations = ops;
            }
            fn set_error(&mut self, code: i16, message: Option<StrBytes>) {
                self.error_code = code;
                self.error_message = message;
            }
        }
    )*};
}

described_group_entry!(
    kafka_protocol::messages::consumer_group_describe_response::DescribedGroup,
    kafka_protocol::messages::share_group_describe_response::DescribedGroup,
    sluice_protocol::streams::streams_group_describe_response::DescribedGroup
);

/// The skeleton of ConsumerGroupDescribe and ShareGroupDescribe: per group id, DESCRIBE on the
/// group (GROUP_AUTHORIZATION_FAILED with Kafka's message), the authorized operations when
/// asked for, NOT_COORDINATOR unless this agent coordinates it, then `describe` on the replica:
/// the entry, or a [`GroupLookupError`] (its code and message).
pub fn describe_groups<D: DescribedGroupEntry>(
    cx: &RequestContext,
    ids: Vec<GroupId>,
    include_authorized_operations: bool,
    describe: impl Fn(&MetaState, &str) -> Result<D, GroupLookupError>,
) -> Vec<D> {
    ids.into_iter()
        .map(|gid| {
            let group = gid.0.to_string();
            let mut ops = i32::MIN;
            let entry = match cx.authorize_group(Op::Describe, &group) {
                Err(refused) => Err((refused.code(), refused.wire_message())),
                Ok(()) => {
                    if include_authorized_operations {
                        ops = cx.authorized_operations(Res::Group(&group));
                    }
                    match cx.agent.coordinates(&group) {
                        Err(refused) => Err((refused.code(), None)),
                        Ok(()) => cx
                            .agent
                            .read(|s| describe(s, &group))
                            .map_err(|e| (e.code(), Some(str_bytes(e.to_string())))),
                    }
                }
            };
            let mut d = entry.unwrap_or_else(|(code, message)| {
                let mut d = D::default();
                d.set_error(code, message);
                d
            });
            d.set_group_id(gid);
            d.set_authorized_operations(ops);
            d
        })
        .collect()
}

/// The answer of the offset APIs (OffsetCommit, OffsetDelete): every partition of every
/// requested topic, in request order, with its error code. `$codes` holds one `Vec<i16>` per
/// topic, one code per partition.
macro_rules! partition_codes {
    ($topics:expr, $codes:expr, $topic:ty, $partition:ty) => {
        $topics
            .iter()
            .zip($codes)
            .map(|(t, codes)| {
                <$topic>::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .zip(codes)
                            .map(|(p, code)| {
                                <$partition>::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect()
    };
}
pub(crate) use partition_codes;

/// A group kind whose heartbeat (KIP-848 ConsumerGroupHeartbeat, KIP-1071
/// StreamsGroupHeartbeat) can be dry-run on the replica's copy of the group, so a heartbeat that
/// changes nothing is answered without a quorum write ([`heartbeat_dry_run_or_propose`]).
pub trait DryRunHeartbeat: Clone + PartialEq {
    /// The heartbeat as the state machine takes it.
    type Heartbeat;
    /// What the member is told (member id, member epoch, assignment...).
    type Reply;
    /// Runs the heartbeat on this copy; `None` where the state machine would refuse it (the
    /// proposal then gets the refusal with its code and message).
    fn dry_run(&mut self, hb: &Self::Heartbeat) -> Option<Self::Reply>;
    /// The quorum command carrying the heartbeat for `group`.
    fn command(group: String, hb: Self::Heartbeat) -> GroupCommand;
    /// The reply from the state machine's answer; any other answer comes back as `Err`.
    fn pick(r: GroupResponse) -> Result<Self::Reply, GroupResponse>;
    /// The (member id, member epoch) the reply gives the member.
    fn member(reply: &Self::Reply) -> (&str, i32);
}

/// The heartbeat path both KIP-848 and KIP-1071 groups share: dry-run `hb` on `copy` (the
/// replica's copy of `group`, as the state machine will see it); when the heartbeat leaves the
/// group unchanged and is not a join (`joining`: member epoch 0), answer from the dry run at no
/// quorum cost, otherwise propose it ([`propose_group`]). An answered heartbeat restarts the
/// member's session ([`crate::group_coordinator::GroupCoordinator::heartbeat_answered`]).
/// Errors are (Kafka error code, message) as [`propose_group`] gives them.
pub async fn heartbeat_dry_run_or_propose<G: DryRunHeartbeat>(
    agent: &Agent,
    group: &str,
    mut copy: G,
    hb: G::Heartbeat,
    joining: bool,
) -> Result<G::Reply, (i16, String)> {
    let before = copy.clone();
    let reply = match copy.dry_run(&hb) {
        Some(reply) if copy == before && !joining => Ok(reply),
        _ => propose_group(agent, G::command(group.to_string(), hb), G::pick).await,
    };
    if let Ok(r) = &reply {
        let (member, epoch) = G::member(r);
        agent.groups.heartbeat_answered(group, member, epoch);
    }
    reply
}

/// Proposes a group command and returns the reply `pick` takes from the state machine's answer
/// (the KIP-848 and KIP-1071 heartbeats). A refusal by the state machine keeps its code and
/// message; a quorum that did not answer is COORDINATOR_NOT_AVAILABLE, so the member finds the
/// coordinator again and retries (as when Kafka's coordinator unloads a group); an answer of
/// another kind is UNKNOWN_SERVER_ERROR, logged.
pub async fn propose_group<T>(
    agent: &Agent,
    cmd: GroupCommand,
    pick: impl FnOnce(GroupResponse) -> Result<T, GroupResponse>,
) -> Result<T, (i16, String)> {
    let unexpected = |other: &dyn std::fmt::Debug| {
        tracing::warn!(?other, "unexpected answer to a group command");
        (
            ResponseError::UnknownServerError.code(),
            "unexpected answer".to_string(),
        )
    };
    match agent.propose(Command::Group(cmd)).await {
        Ok(CommandResponse::Group(r)) => pick(r).map_err(|other| unexpected(&other)),
        Ok(CommandResponse::Error { code, message }) => Err((code, message)),
        Ok(other) => Err(unexpected(&other)),
        Err(_) => Err((
            ResponseError::CoordinatorNotAvailable.code(),
            "The metadata quorum did not answer.".into(),
        )),
    }
}
