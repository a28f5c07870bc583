//! What every group kind and the group container share: the [`GroupType`], the
//! [`GroupLookupError`] a request naming a group of another kind gets, and the answers to a
//! group command ([`GroupResponse`], [`GroupOutcome`]).
//!
//! It sits below the group kinds ([`crate::classic_group`], [`crate::consumer_group`],
//! [`crate::share_group`], [`crate::streams_group`]) and [`crate::groups`] above them, so a
//! kind never imports the container that holds it. [`crate::groups`] re-exports these types.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codes;
use crate::consumer_group::HeartbeatReply;
use crate::refusal::Refusal;
use crate::streams_group::StreamsHeartbeatReply;

/// The kind of a group, as ListGroups' group type names it (Kafka's `Group.GroupType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupType {
    /// Classic protocol (JoinGroup/SyncGroup), including groups that only store offsets.
    Classic,
    /// KIP-848 consumer group.
    Consumer,
    /// KIP-932 share group.
    Share,
    /// KIP-1071 streams group.
    Streams,
}

impl GroupType {
    /// The name Kafka uses on the wire (ListGroups' `GroupType`, lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::Classic => "classic",
            GroupType::Consumer => "consumer",
            GroupType::Share => "share",
            GroupType::Streams => "streams",
        }
    }
}

impl fmt::Display for GroupType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request of one kind named a group of another kind, or a group that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupLookupError {
    /// No group has the id.
    #[error("Group {0} not found.")]
    NotFound(String),
    /// A StreamsGroupHeartbeat that is not a join (member epoch > 0) named no group (Kafka's
    /// `getOrCreateStreamsGroup` without create: "Streams group g not found.").
    #[error("Streams group {0} not found.")]
    StreamsNotFound(String),
    /// The id names a group of another kind (Kafka: GROUP_ID_NOT_FOUND, "Group g is not a
    /// share group.").
    #[error("Group {group} is not a {wanted} group.")]
    WrongType {
        /// The group id.
        group: String,
        /// The kind the request wanted.
        wanted: GroupType,
    },
}

impl GroupLookupError {
    /// The Kafka error code: GROUP_ID_NOT_FOUND for both.
    pub fn code(&self) -> i16 {
        codes::GROUP_ID_NOT_FOUND
    }
}

/// What a [`crate::groups::GroupCommand`] answers besides `Ok` and `Error`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum GroupResponse {
    /// The joiner's response is ready once the group reaches this generation.
    Joined {
        /// The generation the joiner waits for.
        target_generation: i32,
    },
    /// One Kafka error code per item of the command (DeleteGroups).
    Codes(Vec<i16>),
    /// A [`crate::groups::GroupCommand::ConsumerHeartbeat`]'s answer.
    ConsumerHeartbeat(HeartbeatReply),
    /// A [`crate::groups::GroupCommand::StreamsHeartbeat`]'s answer.
    StreamsHeartbeat(Box<StreamsHeartbeatReply>),
}

/// The outcome of applying a group command: a [`Refusal`] (Kafka error code and message), or
/// applied with an answer (`Some`) or without (`None`, a plain `Ok`). Converts into
/// [`crate::command::CommandResponse`] (`Error`, `Group`, `Ok`).
pub type GroupOutcome = Result<Option<GroupResponse>, Refusal>;
