//! Every group, of every kind, in one group-id namespace: the group coordinator's state as
//! quorum state (Kafka's `GroupMetadataManager` and `OffsetMetadataManager`).
//!
//! [`Groups::groups`] maps a group id to a [`Group`], an enum with a variant per kind: classic
//! ([`crate::classic_group`]), KIP-848 consumer ([`crate::consumer_group`]), KIP-932 share
//! ([`crate::share_group`]) and KIP-1071 streams ([`crate::streams_group`]). Each kind keeps its
//! own state machine and its own state enum; this module only routes commands to the right kind and
//! answers, as Kafka does, a request of one kind that names a group of another (GROUP_ID_NOT_FOUND,
//! or INCONSISTENT_GROUP_PROTOCOL for a JoinGroup). Two conversions exist, as in Kafka: an empty
//! classic group becomes a consumer group on a KIP-848 heartbeat, an empty consumer group a classic
//! one on a JoinGroup.
//!
//! Committed offsets ([`Groups::offsets`]) and dynamic group configs ([`Groups::configs`]) live
//! beside the groups, keyed by group id, so they survive those conversions; offsets belong to
//! classic, consumer and streams groups only (a share group's progress is its share-partitions'
//! state).
//!
//! Layering: the group kinds' modules sit below this one and never import it; what they share
//! with it (the [`GroupType`], the [`GroupLookupError`], the [`GroupResponse`]) is in
//! [`crate::group_types`], below them all. Applying a [`GroupCommand`] touches only [`Groups`],
//! so it answers a [`GroupOutcome`] ([`Refusal`] or the optional [`GroupResponse`]), which
//! [`crate::command::CommandResponse`] converts from.
//!
//! Snapshots written before this layout (one struct for classic and consumer groups, share
//! groups in `MetaState::share_groups`) still load: see [`stored`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::classic_group::ClassicGroup;
use crate::codes;
use crate::consumer_group::{ConsumerGroup, ConsumerHeartbeat};
use crate::refusal::Refusal;
use crate::share_group::ShareGroup;
use crate::streams_group::{StreamsGroup, StreamsHeartbeat, StreamsSettings};

pub use crate::classic_group::{check_member, ClassicGroupState, JoinMember};
pub use crate::group_types::{GroupLookupError, GroupOutcome, GroupResponse, GroupType};

/// Kafka's `offset.metadata.max.bytes`.
pub const OFFSET_METADATA_MAX_BYTES: usize = 4096;

/// A group's committed offsets: topic → partition → offset.
pub type GroupOffsets = BTreeMap<String, BTreeMap<i32, CommittedOffset>>;

/// Every group, by id, with its committed offsets and configs: one hop from `MetaState::groups`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(from = "stored::StoredGroups")]
pub struct Groups {
    /// The one group-id namespace: each id names one group of one kind.
    pub groups: BTreeMap<String, Group>,
    /// Committed offsets of classic, consumer and streams groups, by group id. Every id here
    /// names such a group in `groups`.
    #[serde(default)]
    pub offsets: BTreeMap<String, GroupOffsets>,
    /// Dynamic group configs (`consumer.session.timeout.ms`, `share.record.lock.duration.ms`,
    /// ...), by group id; they outlive the group itself, as in Kafka.
    #[serde(default)]
    pub configs: BTreeMap<String, BTreeMap<String, String>>,
}

/// One group: a variant per kind, as Kafka's `Group` interface has one class per type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Group {
    /// JoinGroup/SyncGroup groups, and groups made by an offset commit alone.
    Classic(ClassicGroup),
    /// KIP-848 groups (`group.protocol=consumer`).
    Consumer(ConsumerGroup),
    /// KIP-932 share groups.
    Share(ShareGroup),
    /// KIP-1071 Kafka Streams groups (`group.protocol=streams`).
    Streams(StreamsGroup),
}

impl Group {
    /// The group's kind.
    pub fn group_type(&self) -> GroupType {
        match self {
            Group::Classic(_) => GroupType::Classic,
            Group::Consumer(_) => GroupType::Consumer,
            Group::Share(_) => GroupType::Share,
            Group::Streams(_) => GroupType::Streams,
        }
    }

    /// The state as ListGroups and the describe APIs name it, from the kind's state enum.
    pub fn state_name(&self) -> &'static str {
        match self {
            Group::Classic(g) => g.state.as_str(),
            Group::Consumer(g) => g.state().as_str(),
            Group::Share(g) => g.state().as_str(),
            Group::Streams(g) => g.state().as_str(),
        }
    }

    /// ListGroups' protocol type: the classic group's own ("consumer", "connect", or "" for an
    /// offsets-only group), "consumer" for KIP-848 groups, "share" for share groups.
    pub fn protocol_type(&self) -> &str {
        match self {
            Group::Classic(g) => &g.protocol_type,
            Group::Consumer(_) => "consumer",
            Group::Share(_) => "share",
            Group::Streams(_) => "streams",
        }
    }

    /// Has no members (Kafka's `isEmpty`): what DeleteGroups and offset expiry require.
    pub fn is_empty(&self) -> bool {
        match self {
            Group::Classic(g) => g.members.is_empty(),
            Group::Consumer(g) => g.members.is_empty(),
            Group::Share(g) => g.members.is_empty(),
            Group::Streams(g) => g.members.is_empty(),
        }
    }

    /// The classic group, if this is one.
    pub fn as_classic(&self) -> Option<&ClassicGroup> {
        match self {
            Group::Classic(g) => Some(g),
            _ => None,
        }
    }

    /// The consumer group, if this is one.
    pub fn as_consumer(&self) -> Option<&ConsumerGroup> {
        match self {
            Group::Consumer(g) => Some(g),
            _ => None,
        }
    }

    /// The share group, if this is one.
    pub fn as_share(&self) -> Option<&ShareGroup> {
        match self {
            Group::Share(g) => Some(g),
            _ => None,
        }
    }

    /// The streams group, if this is one.
    pub fn as_streams(&self) -> Option<&StreamsGroup> {
        match self {
            Group::Streams(g) => Some(g),
            _ => None,
        }
    }

    /// Since when an empty group's committed offsets age (Kafka's offset expiration condition):
    /// `None` for share groups, which hold no committed offsets.
    fn empty_since_ms(&self) -> Option<i64> {
        match self {
            Group::Classic(g) => Some(g.state_since_ms),
            Group::Consumer(g) => Some(g.empty_since_ms),
            Group::Streams(g) => Some(g.empty_since_ms),
            Group::Share(_) => None,
        }
    }
}

/// A committed offset of one partition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommittedOffset {
    /// The committed offset: the next offset the group will consume.
    pub offset: i64,
    /// The committed leader epoch (Kafka's `CommittedLeaderEpoch`), -1 when unknown.
    pub leader_epoch: i32,
    /// The client's metadata string (at most [`OFFSET_METADATA_MAX_BYTES`]), `None` when null.
    pub metadata: Option<String>,
    /// When it was committed (proposer's clock, ms): expiry counts from here.
    pub commit_ms: i64,
}

/// One partition's offset in an OffsetCommit or TxnOffsetCommit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OffsetCommitEntry {
    /// The topic's name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// The offset to commit: the next offset the group will consume.
    pub offset: i64,
    /// The request's `CommittedLeaderEpoch`, -1 when unknown.
    pub leader_epoch: i32,
    /// The request's `CommittedMetadata`, `None` when null.
    pub metadata: Option<String>,
}

/// A change to classic, consumer or streams groups, their offsets or any group's configs, as the
/// coordinator proposes it (share groups have [`crate::share_group::ShareCommand`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum GroupCommand {
    /// A classic JoinGroup: answered with [`GroupResponse::Joined`]; INCONSISTENT_GROUP_PROTOCOL
    /// for a consumer or streams group with members, or a share group.
    Join {
        /// The group id; an absent id or an empty consumer or streams group becomes an Empty
        /// classic group.
        group: String,
        /// The member as the coordinator proposes it.
        join: JoinMember,
        /// Proposer's clock (ms since the Unix epoch).
        now_ms: i64,
        /// The coordinator's `group.initial.rebalance.delay.ms` (0: none; absent in commands
        /// written before it was carried).
        #[serde(default)]
        initial_rebalance_delay_ms: i64,
    },
    /// The leader's SyncGroup: assignments per member id.
    Sync {
        /// The group id; UNKNOWN_MEMBER_ID when no classic group has it.
        group: String,
        /// The leader's member id.
        member_id: String,
        /// The generation the assignment is for; ILLEGAL_GENERATION for another.
        generation: i32,
        /// (member id, assignment bytes) per member.
        assignments: Vec<(String, Vec<u8>)>,
        /// Proposer's clock (ms since the Unix epoch).
        now_ms: i64,
    },
    /// LeaveGroup: (member id, group instance id) per departing member.
    Leave {
        /// The group id; every member gets UNKNOWN_MEMBER_ID when no classic group has it.
        group: String,
        /// (member id, `group.instance.id`) per departing member; answered with one code per
        /// member.
        members: Vec<(String, Option<String>)>,
        /// Proposer's clock (ms since the Unix epoch).
        now_ms: i64,
    },
    /// Members whose session ran out on the coordinator's clock.
    Expire {
        /// The group id; ignored unless a classic group.
        group: String,
        /// The expired members.
        member_ids: Vec<String>,
        /// Proposer's clock (ms since the Unix epoch).
        now_ms: i64,
    },
    /// The rebalance timeout of `generation`'s successor ran out: members that did not rejoin are
    /// dropped and the rebalance completes without them. During an initial delay
    /// ([`InitialJoin`](crate::classic_group::InitialJoin)) it ends the current wait instead: the
    /// wait is extended if a new member joined and time remains, else the rebalance completes.
    /// Ignored before the deadline.
    CompleteRebalance {
        /// The group id; ignored unless a classic group.
        group: String,
        /// The generation whose successor's rebalance timed out; ignored for another.
        generation: i32,
        /// Proposer's clock (ms since the Unix epoch), compared with the deadline.
        now_ms: i64,
    },
    /// OffsetCommit: the offsets, once the member check passes ([`Groups::commit_refusal`],
    /// [`Groups::commit_version_refusal`]); answered with `Ok` or the refusal's code.
    CommitOffsets {
        /// The group id; a classic group is created for an unknown id.
        group: String,
        /// -1 for a commit outside group management.
        generation: i32,
        /// The committing member's id; "" outside group management.
        member_id: String,
        /// The member's KIP-345 `group.instance.id`, if static.
        instance_id: Option<String>,
        /// The offsets to commit.
        offsets: Vec<OffsetCommitEntry>,
        /// Proposer's clock (ms since the Unix epoch): the offsets' commit time, from which they
        /// expire.
        now_ms: i64,
        /// The OffsetCommit request's version, for Kafka's check that members of KIP-848 and
        /// streams groups commit with v9+; `None` (entries written before it existed): unchecked.
        #[serde(default)]
        api_version: Option<i16>,
    },
    /// OffsetDelete: forgets the group's committed offsets of `partitions`; GROUP_ID_NOT_FOUND for
    /// an absent or share group.
    DeleteOffsets {
        /// The group id.
        group: String,
        /// (topic, partition) whose offsets go.
        partitions: Vec<(String, i32)>,
    },
    /// DeleteGroups: answered with one code per id (NONE, GROUP_ID_NOT_FOUND or NON_EMPTY_GROUP).
    DeleteGroups {
        /// The group ids; only empty groups go, with their offsets (their configs stay).
        groups: Vec<String>,
    },
    /// A KIP-848 ConsumerGroupHeartbeat that changes something.
    ConsumerHeartbeat {
        /// The group id.
        group: String,
        /// The heartbeat; answered with [`GroupResponse::ConsumerHeartbeat`] or the heartbeat's
        /// error.
        heartbeat: ConsumerHeartbeat,
    },
    /// KIP-848 members whose session ran out, or who held revoked partitions past their
    /// rebalance timeout, on the coordinator's clock.
    ConsumerExpire {
        /// The group id; ignored unless a consumer group.
        group: String,
        /// The members to remove.
        member_ids: Vec<String>,
        /// Proposer's clock (ms since the Unix epoch); 0 in commands written before it was carried.
        #[serde(default)]
        now_ms: i64,
    },
    /// A KIP-1071 StreamsGroupHeartbeat that changes something.
    StreamsHeartbeat {
        /// The group id.
        group: String,
        /// The heartbeat; answered with [`GroupResponse::StreamsHeartbeat`] or the heartbeat's
        /// error.
        heartbeat: Box<StreamsHeartbeat>,
    },
    /// Streams members whose session ran out, or who held revoked tasks past their rebalance
    /// timeout, on the coordinator's clock.
    StreamsExpire {
        /// The group id; ignored unless a streams group.
        group: String,
        /// The members to remove.
        member_ids: Vec<String>,
        /// The group's streams settings, for the reassignment without them.
        settings: StreamsSettings,
        /// Proposer's clock (ms since the Unix epoch).
        now_ms: i64,
    },
    /// Kafka's `offsets.retention.minutes` (KIP-211): the committed offsets of a group without
    /// members expire `retention_ms` after the later of their commit and the group emptying; a
    /// group left with neither members nor offsets is deleted.
    ExpireOffsets {
        /// Proposer's clock (ms since the Unix epoch).
        now_ms: i64,
        /// `offsets.retention.minutes`, in ms.
        retention_ms: i64,
    },
    /// Group configs: (name, Some(value)) sets, (name, None) deletes.
    SetConfigs {
        /// The group id (the group need not exist).
        group: String,
        /// (config name, `Some(value)` to set or `None` to remove), in order.
        ops: Vec<(String, Option<String>)>,
    },
}

fn err(code: i16, message: &str) -> GroupOutcome {
    Err(Refusal::new(code, message))
}

/// The configs of a group without overrides.
static NO_CONFIGS: BTreeMap<String, String> = BTreeMap::new();

impl Groups {
    /// The group `group`, of whatever kind.
    pub fn get(&self, group: &str) -> Option<&Group> {
        self.groups.get(group)
    }

    /// The classic group `group`; `None` when absent or of another kind.
    pub fn classic(&self, group: &str) -> Option<&ClassicGroup> {
        self.groups.get(group).and_then(Group::as_classic)
    }

    fn classic_mut(&mut self, group: &str) -> Option<&mut ClassicGroup> {
        match self.groups.get_mut(group) {
            Some(Group::Classic(g)) => Some(g),
            _ => None,
        }
    }

    /// The consumer group `group`; `None` when absent or of another kind.
    pub fn consumer(&self, group: &str) -> Option<&ConsumerGroup> {
        self.groups.get(group).and_then(Group::as_consumer)
    }

    /// The share group `group` (Kafka's `GroupMetadataManager.shareGroup`).
    pub fn share(&self, group: &str) -> Result<&ShareGroup, GroupLookupError> {
        match self.groups.get(group) {
            None => Err(GroupLookupError::NotFound(group.to_string())),
            Some(Group::Share(g)) => Ok(g),
            Some(_) => Err(wrong_type(group, GroupType::Share)),
        }
    }

    /// The share group `group` and its configs, for a change.
    pub fn share_mut(
        &mut self,
        group: &str,
    ) -> Result<(&mut ShareGroup, &BTreeMap<String, String>), GroupLookupError> {
        let configs = self.configs.get(group).unwrap_or(&NO_CONFIGS);
        match self.groups.get_mut(group) {
            None => Err(GroupLookupError::NotFound(group.to_string())),
            Some(Group::Share(g)) => Ok((g, configs)),
            Some(_) => Err(wrong_type(group, GroupType::Share)),
        }
    }

    /// The share group `group`, created Empty if no group has the id (Kafka's
    /// `getOrMaybeCreateShareGroup`); a group of another kind is refused.
    pub fn share_or_create(
        &mut self,
        group: &str,
    ) -> Result<(&mut ShareGroup, &BTreeMap<String, String>), GroupLookupError> {
        if !self.groups.contains_key(group) {
            self.groups
                .insert(group.to_string(), Group::Share(ShareGroup::default()));
        }
        self.share_mut(group)
    }

    /// Every share group, for a change that concerns them all (a topic deleted).
    pub fn shares_mut(&mut self) -> impl Iterator<Item = (&String, &mut ShareGroup)> {
        self.groups.iter_mut().filter_map(|(id, g)| match g {
            Group::Share(s) => Some((id, s)),
            _ => None,
        })
    }

    /// The dynamic configs set on `group` (empty when none).
    pub fn configs_of(&self, group: &str) -> &BTreeMap<String, String> {
        self.configs.get(group).unwrap_or(&NO_CONFIGS)
    }

    /// The committed offsets of `group` (`None` when it has none).
    pub fn offsets_of(&self, group: &str) -> Option<&GroupOffsets> {
        self.offsets.get(group)
    }

    /// The group a KIP-848 heartbeat runs on, as a copy: the consumer group `group`, or a new
    /// one when no group has the id or it is an empty classic group (converted, keeping its
    /// offsets, as Kafka's `getOrMaybeCreateConsumerGroup`). A classic group with members or a
    /// share group is GROUP_ID_NOT_FOUND. The coordinator runs the heartbeat on this copy of
    /// its replica first and proposes only a heartbeat that changes it; `apply` runs the same.
    pub fn consumer_for_heartbeat(&self, group: &str) -> Result<ConsumerGroup, GroupLookupError> {
        match self.groups.get(group) {
            None => Ok(ConsumerGroup::default()),
            Some(Group::Consumer(c)) => Ok(c.clone()),
            Some(Group::Classic(g)) if g.members.is_empty() => Ok(ConsumerGroup::default()),
            Some(_) => Err(wrong_type(group, GroupType::Consumer)),
        }
    }

    /// A topic was deleted: every group's committed offsets for it go with it (Kafka's
    /// `GroupCoordinator.onPartitionsDeleted`). A group left with neither members nor offsets
    /// stays until offset expiry removes it, as in Kafka. (Share groups forget the topic in
    /// [`crate::share_group`].)
    pub fn forget_topic(&mut self, topic: &str) {
        for offsets in self.offsets.values_mut() {
            offsets.remove(topic);
        }
        self.offsets.retain(|_, o| !o.is_empty());
    }

    /// Applies one group command.
    pub fn apply(&mut self, cmd: &GroupCommand) -> GroupOutcome {
        match cmd {
            GroupCommand::Join {
                group,
                join,
                now_ms,
                initial_rebalance_delay_ms,
            } => self.join(group, join, *now_ms, *initial_rebalance_delay_ms),
            GroupCommand::Sync {
                group,
                member_id,
                generation,
                assignments,
                now_ms,
            } => match self.classic_mut(group) {
                None => err(codes::UNKNOWN_MEMBER_ID, "The group is not known."),
                Some(g) => g.sync(member_id, *generation, assignments, *now_ms),
            },
            GroupCommand::Leave {
                group,
                members,
                now_ms,
            } => Ok(Some(GroupResponse::Codes(match self.classic_mut(group) {
                None => vec![codes::UNKNOWN_MEMBER_ID; members.len()],
                Some(g) => g.leave(members, *now_ms),
            }))),
            GroupCommand::Expire {
                group,
                member_ids,
                now_ms,
            } => {
                if let Some(g) = self.classic_mut(group) {
                    g.expire(member_ids, *now_ms);
                }
                Ok(None)
            }
            GroupCommand::CompleteRebalance {
                group,
                generation,
                now_ms,
            } => {
                if let Some(g) = self.classic_mut(group) {
                    g.complete_rebalance_at(*generation, *now_ms);
                }
                Ok(None)
            }
            GroupCommand::CommitOffsets {
                group,
                generation,
                member_id,
                instance_id,
                offsets,
                now_ms,
                api_version,
            } => {
                let refusal = api_version
                    .and_then(|v| self.commit_version_refusal(group, member_id, v))
                    .or_else(|| {
                        self.commit_refusal(
                            group,
                            *generation,
                            member_id,
                            instance_id.as_deref(),
                            false,
                        )
                    });
                if let Some((code, message)) = refusal {
                    return err(code, message);
                }
                self.write_offsets(group, offsets, *now_ms);
                Ok(None)
            }
            GroupCommand::DeleteOffsets { group, partitions } => {
                match self.groups.get(group) {
                    None => return err(codes::GROUP_ID_NOT_FOUND, "The group id does not exist."),
                    Some(Group::Share(_)) => {
                        let e = wrong_type(group, GroupType::Consumer);
                        return err(e.code(), &e.to_string());
                    }
                    Some(_) => {}
                }
                if let Some(offsets) = self.offsets.get_mut(group) {
                    for (t, p) in partitions {
                        if let Some(parts) = offsets.get_mut(t) {
                            parts.remove(p);
                            if parts.is_empty() {
                                offsets.remove(t);
                            }
                        }
                    }
                    if offsets.is_empty() {
                        self.offsets.remove(group);
                    }
                }
                Ok(None)
            }
            GroupCommand::DeleteGroups { groups } => {
                let codes = groups.iter().map(|id| self.delete_group(id)).collect();
                Ok(Some(GroupResponse::Codes(codes)))
            }
            GroupCommand::ConsumerHeartbeat { group, heartbeat } => {
                self.consumer_heartbeat(group, heartbeat)
            }
            GroupCommand::ConsumerExpire {
                group,
                member_ids,
                now_ms,
            } => {
                if let Some(Group::Consumer(c)) = self.groups.get_mut(group) {
                    c.remove_members(member_ids, *now_ms);
                }
                Ok(None)
            }
            GroupCommand::StreamsHeartbeat { group, heartbeat } => {
                self.streams_heartbeat(group, heartbeat)
            }
            GroupCommand::StreamsExpire {
                group,
                member_ids,
                settings,
                now_ms,
            } => {
                if let Some(Group::Streams(g)) = self.groups.get_mut(group) {
                    g.remove_members(member_ids, settings, *now_ms);
                }
                Ok(None)
            }
            GroupCommand::ExpireOffsets {
                now_ms,
                retention_ms,
            } => {
                self.expire_offsets(*now_ms, *retention_ms);
                Ok(None)
            }
            GroupCommand::SetConfigs { group, ops } => {
                self.set_configs(group, ops);
                Ok(None)
            }
        }
    }

    /// Group configs: (name, Some(value)) sets, (name, None) deletes; any kind of group, or
    /// none yet.
    pub(crate) fn set_configs(&mut self, group: &str, ops: &[(String, Option<String>)]) {
        let configs = self.configs.entry(group.to_string()).or_default();
        for (k, v) in ops {
            match v {
                Some(v) => configs.insert(k.clone(), v.clone()),
                None => configs.remove(k),
            };
        }
        if configs.is_empty() {
            self.configs.remove(group);
        }
    }

    /// DeleteGroups of one id, any kind: only an empty group goes, with its offsets (Kafka's
    /// `validateDeleteGroup`). Its configs stay.
    fn delete_group(&mut self, id: &str) -> i16 {
        match self.groups.get(id) {
            None => codes::GROUP_ID_NOT_FOUND,
            Some(g) if !g.is_empty() => codes::NON_EMPTY_GROUP,
            Some(_) => {
                self.groups.remove(id);
                self.offsets.remove(id);
                codes::NONE
            }
        }
    }

    /// (group, topic, partition) of every committed offset due to expire at `now_ms`.
    pub fn expired_offsets(&self, now_ms: i64, retention_ms: i64) -> Vec<(String, String, i32)> {
        let mut out = Vec::new();
        for (id, offsets) in &self.offsets {
            let Some(empty_since) = self
                .groups
                .get(id)
                .filter(|g| g.is_empty())
                .and_then(Group::empty_since_ms)
            else {
                continue;
            };
            for (t, parts) in offsets {
                for (p, o) in parts {
                    if now_ms - o.commit_ms.max(empty_since) > retention_ms {
                        out.push((id.clone(), t.clone(), *p));
                    }
                }
            }
        }
        out
    }

    /// Classic, consumer and streams groups with neither members nor committed offsets: what expiry
    /// deletes. Share groups do not expire (Kafka's `ShareGroup.shouldExpire`).
    fn is_husk(&self, id: &str, g: &Group) -> bool {
        g.group_type() != GroupType::Share && g.is_empty() && !self.offsets.contains_key(id)
    }

    fn expire_offsets(&mut self, now_ms: i64, retention_ms: i64) {
        for (id, t, p) in self.expired_offsets(now_ms, retention_ms) {
            if let Some(offsets) = self.offsets.get_mut(&id) {
                if let Some(parts) = offsets.get_mut(&t) {
                    parts.remove(&p);
                    if parts.is_empty() {
                        offsets.remove(&t);
                    }
                }
                if offsets.is_empty() {
                    self.offsets.remove(&id);
                }
            }
        }
        let husks: Vec<String> = self
            .groups
            .iter()
            .filter(|(id, g)| self.is_husk(id, g))
            .map(|(id, _)| id.clone())
            .collect();
        for id in husks {
            self.groups.remove(&id);
        }
    }

    /// Whether an `ExpireOffsets` at `now_ms` would change anything (proposers ask first).
    pub fn offsets_due(&self, now_ms: i64, retention_ms: i64) -> bool {
        !self.expired_offsets(now_ms, retention_ms).is_empty()
            || self.groups.iter().any(|(id, g)| self.is_husk(id, g))
    }

    fn consumer_heartbeat(&mut self, group: &str, hb: &ConsumerHeartbeat) -> GroupOutcome {
        let mut c = match self.consumer_for_heartbeat(group) {
            Ok(c) => c,
            Err(e) => return err(e.code(), &e.to_string()),
        };
        match c.heartbeat(hb) {
            Err(e) => err(e.code, &e.message),
            Ok(reply) => {
                self.groups.insert(group.to_string(), Group::Consumer(c));
                Ok(Some(GroupResponse::ConsumerHeartbeat(reply)))
            }
        }
    }

    /// The group a StreamsGroupHeartbeat runs on, as a copy: the streams group `group`, or a new
    /// one when no group has the id or it is an empty classic or consumer group (converted,
    /// keeping its committed offsets: an application moving from `group.protocol=classic` to
    /// `streams` neither loses nor reprocesses input). Any other group is GROUP_ID_NOT_FOUND,
    /// and so is an absent id when `member_epoch` is not a join (0): a leave (-1/-2) as
    /// "Group g not found.", any other epoch as "Streams group g not found." (Kafka 4.4).
    pub fn streams_for_heartbeat(
        &self,
        group: &str,
        member_epoch: i32,
    ) -> Result<StreamsGroup, GroupLookupError> {
        match self.groups.get(group) {
            None if member_epoch < 0 => Err(GroupLookupError::NotFound(group.to_string())),
            None if member_epoch > 0 => Err(GroupLookupError::StreamsNotFound(group.to_string())),
            None => Ok(StreamsGroup::default()),
            Some(Group::Streams(g)) => Ok(g.clone()),
            Some(Group::Classic(g)) if g.members.is_empty() => Ok(StreamsGroup::default()),
            Some(Group::Consumer(g)) if g.members.is_empty() => Ok(StreamsGroup::default()),
            Some(_) => Err(wrong_type(group, GroupType::Streams)),
        }
    }

    /// The streams group `group`; `None` when absent or of another kind.
    pub fn streams(&self, group: &str) -> Option<&StreamsGroup> {
        self.groups.get(group).and_then(Group::as_streams)
    }

    fn streams_heartbeat(&mut self, group: &str, hb: &StreamsHeartbeat) -> GroupOutcome {
        let mut g = match self.streams_for_heartbeat(group, hb.member_epoch) {
            Ok(g) => g,
            Err(e) => return err(e.code(), &e.to_string()),
        };
        match g.heartbeat(hb) {
            // The group names itself in Kafka's message ("Member m is not a member of group g.").
            Err(e) if e.code == codes::UNKNOWN_MEMBER_ID => err(
                e.code,
                &format!("Member {} is not a member of group {group}.", hb.member_id),
            ),
            Err(e) => err(e.code, &e.message),
            Ok(reply) => {
                self.groups.insert(group.to_string(), Group::Streams(g));
                Ok(Some(GroupResponse::StreamsHeartbeat(Box::new(reply))))
            }
        }
    }

    /// Why a JoinGroup (classic protocol) on `group` is refused with INCONSISTENT_GROUP_PROTOCOL,
    /// as Kafka's `classicGroupJoin` checks before anything else (before MEMBER_ID_REQUIRED): a
    /// consumer or streams group with members, or a share group. `None`: the join may proceed.
    pub fn classic_join_refusal(&self, group: &str) -> Option<&'static str> {
        match self.groups.get(group) {
            Some(Group::Consumer(c)) if !c.members.is_empty() => {
                Some("The group uses the consumer protocol (KIP-848).")
            }
            Some(Group::Share(_)) => Some("The group is a share group (KIP-932)."),
            Some(Group::Streams(g)) if !g.members.is_empty() => {
                Some("The group uses the streams protocol (KIP-1071).")
            }
            _ => None,
        }
    }

    /// JoinGroup: Kafka's `classicGroupJoin`. A consumer or streams group with members, or a
    /// share group, refuses with INCONSISTENT_GROUP_PROTOCOL; an absent id or an empty consumer or
    /// streams group becomes an Empty classic group first.
    fn join(&mut self, group: &str, j: &JoinMember, now_ms: i64, delay_ms: i64) -> GroupOutcome {
        if let Some(why) = self.classic_join_refusal(group) {
            return err(codes::INCONSISTENT_GROUP_PROTOCOL, why);
        }
        // An absent id or an empty consumer/streams group becomes an Empty classic group.
        if !matches!(self.groups.get(group), Some(Group::Classic(_))) {
            self.groups.insert(
                group.to_string(),
                Group::Classic(ClassicGroup::new(&j.protocol_type, now_ms)),
            );
        }
        self.classic_mut(group)
            .expect("a classic group now")
            .join(j, now_ms, delay_ms)
    }

    /// Why OffsetCommit (or TxnOffsetCommit, `transactional`) by this member and generation
    /// would be refused: a Kafka error code and message, or `None` when it may commit. As Kafka's
    /// `validateOffsetCommit`: a commit outside group management (generation < 0) is allowed into
    /// a group without members, and a TxnOffsetCommit naming no member into any group; otherwise
    /// the member must be known with its current epoch ([`Groups::member_epoch_refusal`]). A share
    /// group takes none (`ShareGroup.validateOffsetCommit`: GROUP_ID_NOT_FOUND).
    pub fn commit_refusal(
        &self,
        group: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        transactional: bool,
    ) -> Option<(i16, &'static str)> {
        let outside_group_management = generation < 0
            && (self.groups.get(group).is_none_or(Group::is_empty)
                || transactional && member_id.is_empty() && instance_id.is_none());
        match self.groups.get(group) {
            None => (generation >= 0)
                .then_some((codes::ILLEGAL_GENERATION, "The group has no generation.")),
            Some(Group::Classic(g)) => g.commit_refusal(generation, member_id, instance_id),
            Some(Group::Share(_)) => Some((
                codes::GROUP_ID_NOT_FOUND,
                "The group is a share group, not a consumer group.",
            )),
            Some(_) if outside_group_management => None,
            Some(_) => self
                .member_epoch_refusal(group, member_id, generation)
                .map(|code| (code, "OffsetCommit refused")),
        }
    }

    /// Kafka's check, in `ConsumerGroup`/`StreamsGroup.validateOffsetCommit`, that a known member
    /// of a KIP-848 consumer group or a streams group (KIP-1071) commits with OffsetCommit v9 or
    /// above (which carries its member epoch): UNSUPPORTED_VERSION for such a member's commit
    /// below v9, `None` otherwise (the member and epoch checks follow in
    /// [`Groups::commit_refusal`]; an unknown member gets UNKNOWN_MEMBER_ID there, as in Kafka,
    /// which looks the member up first). Sluice's consumer groups have no classic-protocol
    /// members, the one kind Kafka exempts.
    pub fn commit_version_refusal(
        &self,
        group: &str,
        member_id: &str,
        api_version: i16,
    ) -> Option<(i16, &'static str)> {
        if api_version >= 9 {
            return None;
        }
        match self.groups.get(group) {
            Some(Group::Consumer(c)) if c.members.contains_key(member_id) => Some((
                codes::UNSUPPORTED_VERSION,
                "OffsetCommit version 9 or above must be used by members using the modern group protocol",
            )),
            Some(Group::Streams(g)) if g.members.contains_key(member_id) => Some((
                codes::UNSUPPORTED_VERSION,
                "OffsetCommit version 9 or above must be used by members using the streams group protocol",
            )),
            _ => None,
        }
    }

    /// Kafka's `validateOffsetFetch` of an OffsetFetch (v9+) naming a member of a KIP-848 or
    /// streams group: `None` when it may read (no member id and a negative epoch, as admin
    /// clients send; a classic group; no group), else the group-level error code
    /// ([`Groups::member_epoch_refusal`]). Share groups are refused by the caller.
    pub fn fetch_refusal(
        &self,
        group: &str,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Option<i16> {
        if member_id.is_none() && member_epoch < 0 {
            return None;
        }
        match self.groups.get(group) {
            Some(Group::Consumer(_) | Group::Streams(_)) => {
                self.member_epoch_refusal(group, member_id.unwrap_or(""), member_epoch)
            }
            _ => None,
        }
    }

    /// The member check shared by OffsetCommit and OffsetFetch for a KIP-848 or streams group:
    /// UNKNOWN_MEMBER_ID, or an epoch other than the member's (FENCED_MEMBER_EPOCH or
    /// STALE_MEMBER_EPOCH, per kind). `None` for other kinds.
    pub fn member_epoch_refusal(&self, group: &str, member_id: &str, epoch: i32) -> Option<i16> {
        match self.groups.get(group) {
            Some(Group::Consumer(c)) => c.validate_member_epoch(member_id, epoch),
            Some(Group::Streams(g)) => g.validate_member_epoch(member_id, epoch),
            _ => None,
        }
    }

    /// Stores committed offsets for `group`, creating it (as a classic group with no protocol)
    /// if no group has the id: OffsetCommit, and a committed transaction's TxnOffsetCommits.
    /// A share group keeps no committed offsets: nothing is written for one.
    pub fn write_offsets(&mut self, group: &str, offsets: &[OffsetCommitEntry], now_ms: i64) {
        match self.groups.get(group) {
            Some(Group::Share(_)) => return,
            Some(_) => {}
            None => {
                self.groups.insert(
                    group.to_string(),
                    Group::Classic(ClassicGroup::new("", now_ms)),
                );
            }
        }
        if offsets.is_empty() {
            return;
        }
        let stored = self.offsets.entry(group.to_string()).or_default();
        for o in offsets {
            stored.entry(o.topic.clone()).or_default().insert(
                o.partition,
                CommittedOffset {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata: o.metadata.clone(),
                    commit_ms: now_ms,
                },
            );
        }
    }
}

fn wrong_type(group: &str, wanted: GroupType) -> GroupLookupError {
    GroupLookupError::WrongType {
        group: group.to_string(),
        wanted,
    }
}

pub mod stored {
    //! Loading snapshots written before the one group-id namespace: then classic and KIP-848
    //! groups shared one struct (the KIP-848 part in its `consumer` field) that also held the
    //! committed offsets, and share groups lived in `MetaState::share_groups` with their
    //! configs. [`StoredGroups`] reads either layout of [`Groups`]; [`LegacyShareGroup`] is a
    //! share group of the old `share_groups` map, which `MetaState` moves in on load
    //! ([`Groups::adopt_legacy_share_groups`]).

    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::{Group, GroupOffsets, Groups};
    use crate::classic_group::{ClassicGroup, ClassicGroupState, InitialJoin, Member};
    use crate::consumer_group::ConsumerGroup;
    use crate::share_group::ShareGroup;

    /// [`Groups`] as a snapshot of either layout holds it.
    #[derive(Deserialize)]
    pub struct StoredGroups {
        #[serde(default)]
        groups: BTreeMap<String, StoredGroup>,
        #[serde(default)]
        offsets: BTreeMap<String, GroupOffsets>,
        #[serde(default)]
        configs: BTreeMap<String, BTreeMap<String, String>>,
    }

    /// A group of the current layout (tagged by kind), or of the old one. Told apart on a
    /// JSON value (snapshots are JSON): serde's untagged enums cannot read the integer map
    /// keys (partitions) that groups hold.
    #[allow(clippy::large_enum_variant)]
    enum StoredGroup {
        Current(Group),
        Legacy(LegacyGroup),
    }

    impl<'de> Deserialize<'de> for StoredGroup {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let v = serde_json::Value::deserialize(d)?;
            let tagged = v.as_object().is_some_and(|o| {
                o.len() == 1
                    && ["Classic", "Consumer", "Share", "Streams"]
                        .iter()
                        .any(|k| o.contains_key(*k))
            });
            let out = if tagged {
                serde_json::from_value(v).map(StoredGroup::Current)
            } else {
                serde_json::from_value(v).map(StoredGroup::Legacy)
            };
            out.map_err(serde::de::Error::custom)
        }
    }

    /// The old shared struct of classic and KIP-848 groups.
    #[derive(Deserialize)]
    struct LegacyGroup {
        protocol_type: String,
        state: ClassicGroupState,
        generation: i32,
        protocol: Option<String>,
        leader: Option<String>,
        members: BTreeMap<String, Member>,
        state_since_ms: i64,
        #[serde(default)]
        offsets: GroupOffsets,
        #[serde(default)]
        consumer: Option<ConsumerGroup>,
        #[serde(default)]
        initial_join: Option<InitialJoin>,
    }

    impl From<StoredGroups> for Groups {
        fn from(s: StoredGroups) -> Groups {
            let mut out = Groups {
                groups: BTreeMap::new(),
                offsets: s.offsets,
                configs: s.configs,
            };
            for (id, g) in s.groups {
                let g = match g {
                    StoredGroup::Current(g) => g,
                    StoredGroup::Legacy(l) => {
                        if !l.offsets.is_empty() {
                            out.offsets.insert(id.clone(), l.offsets);
                        }
                        match l.consumer {
                            Some(c) => Group::Consumer(c),
                            None => Group::Classic(ClassicGroup {
                                protocol_type: l.protocol_type,
                                state: l.state,
                                generation: l.generation,
                                protocol: l.protocol,
                                leader: l.leader,
                                members: l.members,
                                state_since_ms: l.state_since_ms,
                                initial_join: l.initial_join,
                            }),
                        }
                    }
                };
                out.groups.insert(id, g);
            }
            out
        }
    }

    /// A share group as the old `MetaState::share_groups` held it, configs inside. Never
    /// written (the field that holds these is skipped when serializing).
    #[derive(Debug, Clone, Default, Serialize, PartialEq)]
    pub struct LegacyShareGroup {
        group: ShareGroup,
        configs: BTreeMap<String, String>,
    }

    impl<'de> Deserialize<'de> for LegacyShareGroup {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let mut v = serde_json::Value::deserialize(d)?;
            let configs = v
                .as_object_mut()
                .and_then(|o| o.remove("configs"))
                .map(serde_json::from_value)
                .transpose()
                .map_err(serde::de::Error::custom)?
                .unwrap_or_default();
            let group = serde_json::from_value(v).map_err(serde::de::Error::custom)?;
            Ok(LegacyShareGroup { group, configs })
        }
    }

    impl Groups {
        /// Moves share groups of the old layout into the namespace, their configs into
        /// [`Groups::configs`]. The old layout let a share group and a classic or consumer
        /// group share an id; then the other group keeps the id unless it holds neither
        /// members nor offsets.
        pub fn adopt_legacy_share_groups(&mut self, legacy: BTreeMap<String, LegacyShareGroup>) {
            for (id, l) in legacy {
                if !l.configs.is_empty() {
                    self.configs
                        .entry(id.clone())
                        .or_default()
                        .extend(l.configs);
                }
                let taken = self
                    .groups
                    .get(&id)
                    .is_some_and(|g| !g.is_empty() || self.offsets.contains_key(&id));
                if !taken {
                    self.groups.insert(id, Group::Share(l.group));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic_group::InitialJoin;
    use crate::command::CommandResponse;

    impl Groups {
        /// [`Groups::apply`], answered as the state machine answers it.
        pub(super) fn answer(&mut self, cmd: &GroupCommand) -> CommandResponse {
            self.apply(cmd).into()
        }
    }

    fn join(id: &str, new: bool, inst: Option<&str>, proto: &[&str]) -> GroupCommand {
        GroupCommand::Join {
            group: "g".into(),
            join: JoinMember {
                member_id: id.into(),
                new_member: new,
                instance_id: inst.map(String::from),
                client_id: "c".into(),
                client_host: String::new(),
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 30_000,
                protocol_type: "consumer".into(),
                protocols: proto.iter().map(|p| (p.to_string(), vec![1])).collect(),
            },
            now_ms: 1,
            initial_rebalance_delay_ms: 0,
        }
    }

    fn target(r: CommandResponse) -> i32 {
        match r {
            CommandResponse::Group(GroupResponse::Joined { target_generation }) => {
                target_generation
            }
            other => panic!("not joined: {other:?}"),
        }
    }

    fn code(r: CommandResponse) -> i16 {
        match r {
            CommandResponse::Error { code, .. } => code,
            _ => 0,
        }
    }

    fn sync(id: &str, generation: i32) -> GroupCommand {
        GroupCommand::Sync {
            group: "g".into(),
            member_id: id.into(),
            generation,
            assignments: vec![("a".into(), vec![7]), ("b".into(), vec![8])],
            now_ms: 2,
        }
    }

    fn commit(id: &str, generation: i32) -> GroupCommand {
        GroupCommand::CommitOffsets {
            group: "g".into(),
            generation,
            member_id: id.into(),
            instance_id: None,
            offsets: vec![OffsetCommitEntry {
                topic: "t".into(),
                partition: 0,
                offset: 5,
                leader_epoch: -1,
                metadata: None,
            }],
            now_ms: 3,
            api_version: Some(9),
        }
    }

    #[test]
    fn a_lone_member_completes_at_once_and_a_second_waits_for_the_first_to_rejoin() {
        let mut gs = Groups::default();
        assert_eq!(target(gs.answer(&join("a", true, None, &["range"]))), 1);
        let g = gs.classic("g").unwrap();
        assert_eq!(
            (g.state, g.generation, g.leader.as_deref()),
            (ClassicGroupState::CompletingRebalance, 1, Some("a"))
        );
        assert_eq!(code(gs.answer(&sync("a", 1))), 0);
        assert_eq!(gs.classic("g").unwrap().state, ClassicGroupState::Stable);

        // b joins: a rebalance starts and waits for a
        assert_eq!(target(gs.answer(&join("b", true, None, &["range"]))), 2);
        assert_eq!(
            gs.classic("g").unwrap().state,
            ClassicGroupState::PreparingRebalance
        );
        // a's commit of generation 1 is still accepted while preparing (revocation commits)
        assert_eq!(code(gs.answer(&commit("a", 1))), 0);
        assert_eq!(target(gs.answer(&join("a", false, None, &["range"]))), 2);
        let g = gs.classic("g").unwrap();
        assert_eq!(
            (g.state, g.generation),
            (ClassicGroupState::CompletingRebalance, 2)
        );
        // no commit while the leader's assignment is awaited
        assert_eq!(
            code(gs.answer(&commit("a", 2))),
            codes::REBALANCE_IN_PROGRESS
        );
        // only the leader's sync assigns
        assert_eq!(code(gs.answer(&sync("b", 2))), 0);
        assert_eq!(
            gs.classic("g").unwrap().state,
            ClassicGroupState::CompletingRebalance
        );
        assert_eq!(code(gs.answer(&sync("a", 1))), codes::ILLEGAL_GENERATION);
        assert_eq!(code(gs.answer(&sync("a", 2))), 0);
        let g = gs.classic("g").unwrap();
        assert_eq!(g.state, ClassicGroupState::Stable);
        assert_eq!(g.members["b"].assignment, vec![8]);
        assert_eq!(code(gs.answer(&commit("b", 2))), 0);
        assert_eq!(code(gs.answer(&commit("c", 2))), codes::UNKNOWN_MEMBER_ID);
    }

    fn delayed(cmd: GroupCommand, now: i64, delay: i64) -> GroupCommand {
        match cmd {
            GroupCommand::Join { group, join, .. } => GroupCommand::Join {
                group,
                join,
                now_ms: now,
                initial_rebalance_delay_ms: delay,
            },
            other => other,
        }
    }

    fn complete_at(generation: i32, now_ms: i64) -> GroupCommand {
        GroupCommand::CompleteRebalance {
            group: "g".into(),
            generation,
            now_ms,
        }
    }

    #[test]
    fn members_joining_an_empty_group_within_the_initial_delay_share_the_first_generation() {
        let mut gs = Groups::default();
        // a joins an empty group at 1 000 with a 3 000 ms delay (rebalance timeout 30 000)
        assert_eq!(
            target(gs.answer(&delayed(join("a", true, None, &["range"]), 1_000, 3_000))),
            1
        );
        let g = gs.classic("g").unwrap();
        assert_eq!(
            g.state,
            ClassicGroupState::PreparingRebalance,
            "all joined, yet waiting"
        );
        assert_eq!(
            g.initial_join,
            Some(InitialJoin {
                deadline_ms: 4_000,
                delay_ms: 3_000,
                current_ms: 3_000,
                remaining_ms: 27_000,
                new_member_added: false
            })
        );
        // b and c come 300 ms apart; a proposal before the deadline changes nothing
        for (id, at) in [("b", 1_300), ("c", 1_600)] {
            assert_eq!(
                target(gs.answer(&delayed(join(id, true, None, &["range"]), at, 3_000))),
                1
            );
        }
        gs.answer(&complete_at(0, 3_999));
        assert_eq!(
            gs.classic("g").unwrap().state,
            ClassicGroupState::PreparingRebalance
        );
        // at the deadline a new member had come: the wait is extended by the delay
        gs.answer(&complete_at(0, 4_000));
        let w = gs.classic("g").unwrap().initial_join.unwrap();
        assert_eq!(
            (w.deadline_ms, w.remaining_ms, w.new_member_added),
            (7_000, 24_000, false)
        );
        // nobody new since: the rebalance completes with all three in generation 1
        gs.answer(&complete_at(0, 7_000));
        let g = gs.classic("g").unwrap();
        assert_eq!(
            (g.state, g.generation, g.members.len(), g.initial_join),
            (ClassicGroupState::CompletingRebalance, 1, 3, None)
        );
        // later rebalances complete as soon as everyone rejoined, without a delay
        gs.answer(&sync("a", 1));
        gs.answer(&delayed(join("d", true, None, &["range"]), 8_000, 3_000));
        for id in ["a", "b", "c"] {
            gs.answer(&delayed(join(id, false, None, &["range"]), 8_001, 3_000));
        }
        let g = gs.classic("g").unwrap();
        assert_eq!(
            (g.state, g.generation),
            (ClassicGroupState::CompletingRebalance, 2)
        );
    }

    #[test]
    fn the_initial_delay_never_extends_past_the_rebalance_timeout() {
        let mut gs = Groups::default();
        let mut j = join("a", true, None, &["range"]);
        if let GroupCommand::Join { join, .. } = &mut j {
            join.rebalance_timeout_ms = 5_000;
        }
        gs.answer(&delayed(j, 0, 3_000));
        assert_eq!(
            gs.classic("g").unwrap().initial_join.unwrap().remaining_ms,
            2_000
        );
        gs.answer(&delayed(join("b", true, None, &["range"]), 100, 3_000));
        gs.answer(&complete_at(0, 3_000));
        let w = gs.classic("g").unwrap().initial_join.unwrap();
        assert_eq!(
            (w.deadline_ms, w.current_ms, w.remaining_ms),
            (5_000, 2_000, 0)
        );
        gs.answer(&delayed(join("c", true, None, &["range"]), 4_000, 3_000));
        gs.answer(&complete_at(0, 5_000));
        let g = gs.classic("g").unwrap();
        assert_eq!(
            (g.state, g.members.len()),
            (ClassicGroupState::CompletingRebalance, 3)
        );
        // a group emptied by its last member's leave waits again on its next first join
        gs.answer(&GroupCommand::Leave {
            group: "g".into(),
            members: ["a", "b", "c"]
                .iter()
                .map(|m| (m.to_string(), None))
                .collect(),
            now_ms: 6_000,
        });
        gs.answer(&delayed(join("e", true, None, &["range"]), 7_000, 3_000));
        let g = gs.classic("g").unwrap();
        assert_eq!(g.state, ClassicGroupState::PreparingRebalance);
        assert_eq!(g.initial_join.unwrap().deadline_ms, 10_000);
    }

    #[test]
    fn rebalance_timeout_drops_laggards_and_the_last_leaver_empties_the_group() {
        let mut gs = Groups::default();
        gs.answer(&join("a", true, None, &["range"]));
        gs.answer(&sync("a", 1));
        gs.answer(&join("b", true, None, &["range"]));
        gs.answer(&GroupCommand::CompleteRebalance {
            group: "g".into(),
            generation: 1,
            now_ms: 40_000,
        });
        let g = gs.classic("g").unwrap();
        assert_eq!(g.members.keys().collect::<Vec<_>>(), vec!["b"]);
        assert_eq!((g.generation, g.leader.as_deref()), (2, Some("b")));
        let r = gs.answer(&GroupCommand::Leave {
            group: "g".into(),
            members: vec![("b".into(), None), ("zz".into(), None)],
            now_ms: 50_000,
        });
        assert_eq!(
            r,
            CommandResponse::Group(GroupResponse::Codes(vec![0, codes::UNKNOWN_MEMBER_ID]))
        );
        let g = gs.classic("g").unwrap();
        assert_eq!((g.state, g.generation), (ClassicGroupState::Empty, 3));
        // an empty group takes commits from outside group management
        assert_eq!(code(gs.answer(&commit("", -1))), 0);
        assert_eq!(gs.offsets_of("g").unwrap()["t"][&0].offset, 5);
    }

    #[test]
    fn a_static_member_restarting_takes_its_place_without_a_rebalance() {
        let mut gs = Groups::default();
        gs.answer(&join("a1", true, Some("i-a"), &["range"]));
        gs.answer(&sync("a1", 1));
        assert_eq!(
            target(gs.answer(&join("a2", true, Some("i-a"), &["range"]))),
            1
        );
        let g = gs.classic("g").unwrap();
        assert_eq!((g.state, g.generation), (ClassicGroupState::Stable, 1));
        assert_eq!(g.leader.as_deref(), Some("a2"));
        assert!(!g.members.contains_key("a1"));
        // the old incarnation is fenced
        assert_eq!(
            code(gs.answer(&join("a1", false, Some("i-a"), &["range"]))),
            codes::FENCED_INSTANCE_ID
        );
    }

    #[test]
    fn incompatible_protocols_are_refused_and_the_vote_picks_a_common_one() {
        let mut gs = Groups::default();
        gs.answer(&join("a", true, None, &["cooperative-sticky", "range"]));
        assert_eq!(
            code(gs.answer(&join("b", true, None, &["roundrobin"]))),
            codes::INCONSISTENT_GROUP_PROTOCOL
        );
        gs.answer(&join("b", true, None, &["range", "cooperative-sticky"]));
        gs.answer(&join("a", false, None, &["cooperative-sticky", "range"]));
        let g = gs.classic("g").unwrap();
        assert_eq!(g.state, ClassicGroupState::CompletingRebalance);
        assert!(g.protocol.is_some());
    }

    #[test]
    fn only_empty_groups_are_deleted() {
        let mut gs = Groups::default();
        gs.answer(&join("a", true, None, &["range"]));
        gs.groups
            .insert("e".into(), Group::Classic(ClassicGroup::new("", 0)));
        let r = gs.answer(&GroupCommand::DeleteGroups {
            groups: vec!["g".into(), "e".into(), "x".into()],
        });
        assert_eq!(
            r,
            CommandResponse::Group(GroupResponse::Codes(vec![
                codes::NON_EMPTY_GROUP,
                0,
                codes::GROUP_ID_NOT_FOUND
            ]))
        );
        assert!(gs.classic("e").is_none() && gs.classic("g").is_some());
    }

    #[test]
    fn offsets_of_empty_groups_expire_from_the_later_of_commit_and_emptying() {
        let mut gs = Groups::default();
        // "g": a member commits at 3 and leaves at 50 000; "h": committed outside a group at 3
        gs.answer(&join("a", true, None, &["range"]));
        gs.answer(&sync("a", 1));
        gs.answer(&commit("a", 1));
        gs.answer(&GroupCommand::Leave {
            group: "g".into(),
            members: vec![("a".into(), None)],
            now_ms: 50_000,
        });
        let mut h = commit("", -1);
        if let GroupCommand::CommitOffsets { group, .. } = &mut h {
            *group = "h".into();
        }
        gs.answer(&h);
        let retention = 10_000;
        assert!(gs.offsets_due(20_000, retention));
        assert_eq!(
            gs.expired_offsets(20_000, retention),
            vec![("h".to_string(), "t".to_string(), 0)]
        );
        gs.answer(&GroupCommand::ExpireOffsets {
            now_ms: 20_000,
            retention_ms: retention,
        });
        // h lost its only offset and is gone; g's clock started when it emptied
        assert!(gs.classic("h").is_none());
        assert_eq!(gs.offsets_of("g").unwrap()["t"][&0].offset, 5);
        assert!(!gs.offsets_due(60_000, retention));
        gs.answer(&GroupCommand::ExpireOffsets {
            now_ms: 60_001,
            retention_ms: retention,
        });
        assert!(gs.classic("g").is_none());
    }
}

#[cfg(test)]
mod stored_tests {
    use super::*;
    use crate::command::CommandResponse;
    use crate::state::MetaState;

    /// A snapshot as Sluice wrote it before the one group-id namespace: a classic group and a
    /// KIP-848 group (its `consumer` field) in one struct with their offsets inside, a share
    /// group in `share_groups` with its configs inside.
    const OLD_LAYOUT: &str = r#"{
        "cluster_id": "c", "topics": {}, "agents": {}, "producers": {},
        "next_producer_id": 0, "next_agent_id": 0, "object_refs": {}, "garbage": [],
        "share_groups": {
            "sg": {
                "group_epoch": 2, "members": {},
                "partitions": {"t": {"0": {"start_offset": 5, "in_flight": [], "state_epoch": 0}}},
                "configs": {"share.auto.offset.reset": "earliest"}
            }
        },
        "groups": {
            "groups": {
                "classic": {
                    "protocol_type": "consumer", "state": "Stable", "generation": 2,
                    "protocol": "range", "leader": "m1",
                    "members": {"m1": {
                        "member_id": "m1", "instance_id": null, "client_id": "c",
                        "client_host": "/127.0.0.1", "session_timeout_ms": 10000,
                        "rebalance_timeout_ms": 30000, "protocols": [["range", [1, 2]]],
                        "assignment": [3], "joined": false
                    }},
                    "state_since_ms": 5,
                    "offsets": {"t": {"0": {"offset": 42, "leader_epoch": -1, "metadata": null, "commit_ms": 4}}},
                    "consumer": null, "initial_join": null
                },
                "kip848": {
                    "protocol_type": "consumer", "state": "Empty", "generation": 0,
                    "protocol": null, "leader": null, "members": {}, "state_since_ms": 1,
                    "offsets": {"t": {"1": {"offset": 7, "leader_epoch": 0, "metadata": "m", "commit_ms": 6}}},
                    "consumer": {
                        "group_epoch": 3, "assignment_epoch": 3, "members": {}, "target": {},
                        "subscribed": {}, "assignor": "uniform", "empty_since_ms": 9
                    }
                },
                "simple": {
                    "protocol_type": "", "state": "Empty", "generation": 0, "protocol": null,
                    "leader": null, "members": {}, "state_since_ms": 2, "offsets": {}
                }
            },
            "configs": {"kip848": {"consumer.session.timeout.ms": "45000"}}
        }
    }"#;

    #[test]
    fn a_snapshot_of_the_old_layout_loads_into_the_one_namespace() {
        let s: MetaState = serde_json::from_str(OLD_LAYOUT).unwrap();
        let g = &s.groups;
        let classic = g.classic("classic").unwrap();
        assert_eq!(
            (classic.state, classic.generation, classic.leader.as_deref()),
            (ClassicGroupState::Stable, 2, Some("m1"))
        );
        assert_eq!(classic.members["m1"].assignment, vec![3]);
        assert_eq!(g.offsets_of("classic").unwrap()["t"][&0].offset, 42);
        let c = g.consumer("kip848").unwrap();
        assert_eq!((c.group_epoch, c.empty_since_ms), (3, 9));
        assert_eq!(g.offsets_of("kip848").unwrap()["t"][&1].offset, 7);
        assert_eq!(
            g.configs_of("kip848")["consumer.session.timeout.ms"],
            "45000"
        );
        assert!(g.classic("simple").unwrap().is_simple());
        assert!(g.offsets_of("simple").is_none());
        let sg = g.share("sg").unwrap();
        assert_eq!(
            (sg.group_epoch, sg.partitions["t"][&0].start_offset),
            (2, 5)
        );
        assert_eq!(g.configs_of("sg")["share.auto.offset.reset"], "earliest");
        assert_eq!(
            g.groups
                .iter()
                .map(|(id, g)| (id.as_str(), g.group_type()))
                .collect::<Vec<_>>(),
            vec![
                ("classic", GroupType::Classic),
                ("kip848", GroupType::Consumer),
                ("sg", GroupType::Share),
                ("simple", GroupType::Classic)
            ]
        );
        crate::invariants::check(&s).unwrap();
        // Written back in the new layout, it reads back the same.
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("share_groups"));
        let back: MetaState = serde_json::from_str(&json).unwrap();
        assert_eq!(back.groups, s.groups);
    }

    #[test]
    fn one_namespace_kinds_refuse_each_others_requests_as_kafka_does() {
        let mut gs = Groups::default();
        gs.groups
            .insert("sg".into(), Group::Share(ShareGroup::default()));
        gs.write_offsets(
            "simple",
            &[OffsetCommitEntry {
                topic: "t".into(),
                partition: 0,
                offset: 1,
                leader_epoch: -1,
                metadata: None,
            }],
            0,
        );
        // A share group refuses JoinGroup, KIP-848 heartbeats and offset commits.
        let join = crate::classic_group::JoinMember {
            member_id: "m".into(),
            new_member: true,
            instance_id: None,
            client_id: "c".into(),
            client_host: String::new(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), vec![])],
        };
        let refused = |r: CommandResponse| match r {
            CommandResponse::Error { code, .. } => code,
            other => panic!("not refused: {other:?}"),
        };
        assert_eq!(
            refused(gs.answer(&GroupCommand::Join {
                group: "sg".into(),
                join: join.clone(),
                now_ms: 0,
                initial_rebalance_delay_ms: 0
            })),
            codes::INCONSISTENT_GROUP_PROTOCOL
        );
        assert_eq!(
            gs.consumer_for_heartbeat("sg").unwrap_err().to_string(),
            "Group sg is not a consumer group."
        );
        assert_eq!(
            gs.commit_refusal("sg", -1, "", None, false).map(|r| r.0),
            Some(codes::GROUP_ID_NOT_FOUND)
        );
        // A simple classic group is not a share group, but becomes a consumer group.
        assert_eq!(
            gs.share("simple").unwrap_err().to_string(),
            "Group simple is not a share group."
        );
        assert_eq!(
            gs.consumer_for_heartbeat("simple"),
            Ok(ConsumerGroup::default())
        );
        // DeleteGroups covers every kind.
        assert_eq!(
            gs.answer(&GroupCommand::DeleteGroups {
                groups: vec!["sg".into(), "simple".into()]
            }),
            CommandResponse::Group(GroupResponse::Codes(vec![0, 0]))
        );
        assert!(gs.groups.is_empty() && gs.offsets.is_empty());
    }
}
