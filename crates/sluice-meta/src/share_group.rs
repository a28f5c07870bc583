//! KIP-932 share groups in the quorum: membership, the server-side assignment, and the
//! [`SharePartition`] state of every partition the group consumes; one kind of
//! [`crate::groups::Group`] (Kafka's `ShareGroup`), in the one group-id namespace. Its configs
//! (`share.auto.offset.reset`, ...) are in [`crate::groups::Groups::configs`] with every group's.
//!
//! Share groups assign partitions to members without exclusivity: with fewer members than
//! partitions each partition goes to one member; with more, members spread over partitions so
//! that several consume one partition cooperatively. Records, not partitions, are the unit of
//! ownership, handed out by [`SharePartition::acquire`].
//!
//! Heartbeats that change nothing never reach this module; only joins, leaves, subscription
//! changes, acquisitions and acknowledgement batches do, each as one command.
//!
//! This module holds the groups' data, commands and answers, and the pure rules (assignment,
//! offsets to start from, limits); applying the commands to the state (they read the topics'
//! watermarks) is [`crate::apply::share`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::codes;
use crate::group_types::GroupLookupError;
use crate::share::{AckType, Acquired, ShareLimits, SharePartition};
use crate::topics::PartitionLog;

/// Kafka's `ShareGroup.ShareGroupState`: Empty without members, Stable with. `Dead` is what a
/// group that does not exist is described as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShareGroupState {
    /// No members.
    Empty,
    /// At least one member.
    Stable,
    /// Not stored: how a group that does not exist is described.
    Dead,
}

impl ShareGroupState {
    /// The name Kafka uses on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ShareGroupState::Empty => "Empty",
            ShareGroupState::Stable => "Stable",
            ShareGroupState::Dead => "Dead",
        }
    }
}

/// One share group: members, their assignment, and its share-partitions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ShareGroup {
    /// Bumped whenever membership or subscriptions change (and so the assignment).
    pub group_epoch: i32,
    /// Members by member id (KIP-932 member ids are client-generated UUIDs).
    pub members: BTreeMap<String, ShareMember>,
    /// Topic -> partition -> share-partition state.
    pub partitions: BTreeMap<String, BTreeMap<i32, SharePartition>>,
}

/// A member of a share group, as its last ShareGroupHeartbeat described it, with its assignment.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ShareMember {
    /// KIP-932 member epoch: the group epoch of the member's current assignment.
    pub member_epoch: i32,
    /// The member's `client.rack`, `None` when it has none (not used by the assignment).
    pub rack: Option<String>,
    /// The member's `client.id` (request header), for DescribeShareGroups.
    pub client_id: String,
    /// The member's host as the coordinator saw it, for DescribeShareGroups.
    pub client_host: String,
    /// Names of the topics the member subscribes to, sorted and deduplicated.
    pub subscribed: Vec<String>,
    /// Topic -> partitions assigned to this member.
    pub assignment: BTreeMap<String, Vec<i32>>,
}

/// One partition a ShareFetch wants records from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AcquireRequest {
    /// The topic's name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
}

/// One acknowledgement range.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AckRequest {
    /// The topic's name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// First offset acknowledged (inclusive).
    pub first: i64,
    /// Last offset acknowledged (inclusive).
    pub last: i64,
    /// What becomes of the records.
    pub ack: AckType,
}

/// Share-group commands (KIP-932), applied by [`crate::apply::share::apply`] and answered with a [`ShareResponse`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum ShareCommand {
    /// A member joins or changes its subscription (epoch 0 heartbeat, or new topics).
    Join {
        /// The group id.
        group: String,
        /// The member id; a new one is added.
        member_id: String,
        /// The member's `client.rack`, if any.
        rack: Option<String>,
        /// The member's `client.id`.
        client_id: String,
        /// The member's host.
        client_host: String,
        /// Names of the topics it subscribes to (any order, duplicates allowed).
        subscribed: Vec<String>,
    },
    /// A member leaves (epoch -1) or its session expired. What it holds stays acquired until
    /// its share session closes (`ReleaseAll`) or the locks time out.
    Leave {
        /// The group id; GROUP_ID_NOT_FOUND when no share group has it.
        group: String,
        /// The member id; UNKNOWN_MEMBER_ID when not a member.
        member_id: String,
    },
    /// The topics' partition counts changed: recompute the assignment.
    Rebalance {
        /// The group id; a missing group is ignored.
        group: String,
    },
    /// One ShareFetch's acquisition, over all its partitions, at most `max_records` in all.
    Acquire {
        /// The group id.
        group: String,
        /// The acquiring member; UNKNOWN_MEMBER_ID when not a member.
        member_id: String,
        /// Proposer's clock (ms since the Unix epoch): expires locks and starts the new ones.
        now_ms: i64,
        /// The agent's defaults; the group's configs override lock duration and delivery limit.
        limits: ShareLimits,
        /// Most records acquired over all partitions (ShareFetch's `MaxRecords`).
        max_records: i64,
        /// The partitions, in order; the answer has one entry per partition.
        partitions: Vec<AcquireRequest>,
    },
    /// One batch of acknowledgements (piggy-backed on ShareFetch, or ShareAcknowledge). Each
    /// partition's ranges are applied all or nothing, after expiring the locks that ran out by
    /// `now_ms` (the proposer's clock; 0 in commands written before it was carried: no expiry).
    Acknowledge {
        /// The group id.
        group: String,
        /// The acknowledging member; each record must be acquired by it.
        member_id: String,
        /// The agent's defaults; the group's configs override lock duration and delivery limit.
        limits: ShareLimits,
        /// The ranges, in request order.
        acks: Vec<AckRequest>,
        /// Proposer's clock (ms since the Unix epoch); 0 in commands written before it was carried.
        #[serde(default)]
        now_ms: i64,
    },
    /// A share session closed: everything the member holds goes back.
    ReleaseAll {
        /// The group id; a missing group is ignored.
        group: String,
        /// The member whose acquired records become Available (or Archived at the delivery limit).
        member_id: String,
        /// The agent's defaults; the group's configs override the delivery limit.
        limits: ShareLimits,
    },
    /// AlterShareGroupOffsets: reset start offsets (the group must have no members).
    AlterOffsets {
        /// The group id; a share group is created when missing.
        group: String,
        /// (topic, partition, new SPSO): each share-partition restarts there, its state epoch + 1.
        offsets: Vec<(String, i32, i64)>,
    },
    /// DeleteShareGroupOffsets: forget the state of whole topics (no members either).
    DeleteOffsets {
        /// The group id.
        group: String,
        /// Names of the topics whose share-partition states go.
        topics: Vec<String>,
    },
    /// IncrementalAlterConfigs on a `GROUP` resource: sets or removes group configs; answers `Ok`.
    SetConfigs {
        /// The group id (the group need not exist).
        group: String,
        /// (config name, `Some(value)` to set or `None` to remove).
        ops: Vec<(String, Option<String>)>,
    },
    /// DeleteGroups of a share group: GROUP_ID_NOT_FOUND when missing, NON_EMPTY_GROUP with
    /// members.
    DeleteGroup {
        /// The group id.
        group: String,
    },
}

/// The answer to a [`ShareCommand`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum ShareResponse {
    /// To a `Join`: the member's new epoch and assignment.
    Member {
        /// The member epoch (the group epoch after the join).
        member_epoch: i32,
        /// Topic name -> partitions assigned to the member.
        assignment: BTreeMap<String, Vec<i32>>,
    },
    /// Per requested partition, the ranges acquired (maybe none).
    Acquired(Vec<Vec<Acquired>>),
    /// Per acknowledgement, in order: its partition's outcome.
    Acknowledged(Vec<AckOutcome>),
    /// Done (the commands with nothing else to answer).
    Ok,
    /// Refused; nothing changed.
    Error {
        /// Kafka error code: GROUP_ID_NOT_FOUND (no share group of the id), UNKNOWN_MEMBER_ID or
        /// NON_EMPTY_GROUP.
        code: i16,
        /// Kafka's error message where it has one.
        message: String,
    },
}

/// The outcome of a partition's acknowledgements: 0 or a Kafka error code, and Kafka's message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AckOutcome {
    /// NONE, UNKNOWN_TOPIC_OR_PARTITION (no share-partition), INVALID_REQUEST or
    /// INVALID_RECORD_STATE.
    pub code: i16,
    /// Kafka's error message; `None` on success.
    pub message: Option<String>,
}

impl AckOutcome {
    /// Success.
    pub const OK: AckOutcome = AckOutcome {
        code: codes::NONE,
        message: None,
    };

    /// A refusal with `code` and `message`.
    pub(crate) fn refused(code: i16, message: impl Into<String>) -> Self {
        AckOutcome {
            code,
            message: Some(message.into()),
        }
    }
}

/// A [`ShareResponse::Error`].
pub(crate) fn err(code: i16, message: impl Into<String>) -> ShareResponse {
    ShareResponse::Error {
        code,
        message: message.into(),
    }
}

/// A command naming no share group: "unknown group" as before, Kafka's message for a group of
/// another kind.
pub(crate) fn lookup_err(e: GroupLookupError) -> ShareResponse {
    match e {
        GroupLookupError::NotFound(_) => err(codes::GROUP_ID_NOT_FOUND, "unknown group"),
        other => err(other.code(), other.to_string()),
    }
}

/// `share.auto.offset.reset`: where a share-partition starts when first consumed —
/// `latest` (default), `earliest`, or `by_duration:<ISO-8601 duration>`, the first record not
/// older than that as of the acquiring proposer's clock. The offset index keeps timestamps per
/// chunk (one partition's share of one segment), so `by_duration` starts at the first chunk whose
/// newest record is recent enough: it may include a few older records of that chunk, never skip
/// a recent one.
pub(crate) fn initial_offset(
    configs: &BTreeMap<String, String>,
    log: &PartitionLog,
    now_ms: i64,
) -> i64 {
    let setting = configs.get("share.auto.offset.reset").map(String::as_str);
    match setting {
        Some("earliest") => log.log_start_offset,
        Some(v) if v.starts_with("by_duration:") => {
            match parse_iso8601_duration_ms(&v["by_duration:".len()..]) {
                Some(d) => log
                    .chunks
                    .iter()
                    .find(|(_, c)| c.max_timestamp >= now_ms - d)
                    .map_or(log.high_watermark, |(base, _)| *base),
                None => log.high_watermark,
            }
        }
        _ => log.high_watermark,
    }
}

/// Parses the ISO-8601 durations Kafka accepts for `by_duration` (`PnDTnHnMnS`, fractional
/// seconds allowed) into milliseconds. Written by hand: four fields do not justify a crate.
pub fn parse_iso8601_duration_ms(s: &str) -> Option<i64> {
    let rest = s.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut total = 0f64;
    let mut field = |text: &str, units: &[(char, f64)]| -> Option<()> {
        let mut num = String::new();
        for ch in text.chars() {
            if ch.is_ascii_digit() || ch == '.' {
                num.push(ch);
            } else {
                let (_, ms) = units.iter().find(|(u, _)| *u == ch)?;
                total += num.parse::<f64>().ok()? * ms;
                num.clear();
            }
        }
        num.is_empty().then_some(())
    };
    field(days, &[('D', 86_400_000.0)])?;
    field(time, &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1_000.0)])?;
    (rest != "T" && !rest.is_empty()).then_some(total as i64)
}

/// Deterministic assignment: partitions of every subscribed topic spread over its subscribers;
/// when a topic has more subscribers than partitions, every subscriber still gets one.
pub fn assign(
    members: &BTreeMap<String, ShareMember>,
    partition_counts: &BTreeMap<String, i32>,
) -> BTreeMap<String, BTreeMap<String, Vec<i32>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<i32>>> = members
        .keys()
        .map(|m| (m.clone(), BTreeMap::new()))
        .collect();
    for (topic, &count) in partition_counts {
        let subs: Vec<&String> = members
            .iter()
            .filter(|(_, m)| m.subscribed.contains(topic))
            .map(|(id, _)| id)
            .collect();
        if subs.is_empty() || count <= 0 {
            continue;
        }
        let n = subs.len() as i32;
        if n <= count {
            for p in 0..count {
                out.get_mut(subs[(p % n) as usize])
                    .expect("member")
                    .entry(topic.clone())
                    .or_default()
                    .push(p);
            }
        } else {
            for (i, m) in subs.iter().enumerate() {
                out.get_mut(*m)
                    .expect("member")
                    .entry(topic.clone())
                    .or_default()
                    .push(i as i32 % count);
            }
        }
    }
    for a in out.values_mut() {
        a.retain(|_, ps| !ps.is_empty());
    }
    out
}

impl ShareGroup {
    /// Kafka's `ShareGroup.maybeUpdateGroupState`, derived from the members.
    pub fn state(&self) -> ShareGroupState {
        if self.members.is_empty() {
            ShareGroupState::Empty
        } else {
            ShareGroupState::Stable
        }
    }

    /// Bumps the group epoch and assigns the subscribed topics of `state_topics` (name ->
    /// partition count) over the members.
    pub(crate) fn reassign(&mut self, state_topics: &BTreeMap<String, i32>) {
        self.group_epoch += 1;
        let wanted: BTreeMap<String, i32> = self
            .members
            .values()
            .flat_map(|m| m.subscribed.iter())
            .filter_map(|t| state_topics.get(t).map(|c| (t.clone(), *c)))
            .collect();
        let plan = assign(&self.members, &wanted);
        for (id, m) in &mut self.members {
            m.assignment = plan.get(id).cloned().unwrap_or_default();
            m.member_epoch = self.group_epoch;
        }
    }
}

/// Whether the group's `share.isolation.level` is `read_committed` (default
/// `read_uncommitted`, as Kafka's `GroupConfig.SHARE_ISOLATION_LEVEL_DEFAULT`).
pub fn reads_committed(configs: &BTreeMap<String, String>) -> bool {
    configs
        .get("share.isolation.level")
        .is_some_and(|v| v == "read_committed")
}

/// Where the group's acquisition stops on `log`: the last stable offset when it reads
/// committed data, else the high watermark.
pub fn acquirable_end(configs: &BTreeMap<String, String>, log: &PartitionLog) -> i64 {
    if reads_committed(configs) {
        log.last_stable_offset()
    } else {
        log.high_watermark
    }
}

/// The limits for a group: its `share.record.lock.duration.ms` and `share.delivery.count.limit`
/// configs override the agent's `defaults` (unparsable values are ignored); `max_in_flight` is
/// always the default.
pub fn limits_of(configs: &BTreeMap<String, String>, defaults: &ShareLimits) -> ShareLimits {
    let num = |k: &str| configs.get(k).and_then(|v| v.parse::<i64>().ok());
    ShareLimits {
        lock_ms: num("share.record.lock.duration.ms").unwrap_or(defaults.lock_ms),
        // Set values are checked against 2..=10; one outside i16 is unparsable, not wrapped.
        delivery_limit: num("share.delivery.count.limit")
            .and_then(|v| i16::try_from(v).ok())
            .unwrap_or(defaults.delivery_limit),
        max_in_flight: defaults.max_in_flight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::share::apply;
    use crate::command::Command;
    use crate::state::MetaState;
    use uuid::Uuid;

    fn member(topics: &[&str]) -> ShareMember {
        ShareMember {
            subscribed: topics.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn more_members_than_partitions_share_partitions() {
        let members: BTreeMap<String, ShareMember> =
            (0..6).map(|i| (format!("m{i}"), member(&["t"]))).collect();
        let plan = assign(&members, &BTreeMap::from([("t".to_string(), 2)]));
        let per: Vec<Vec<i32>> = plan.values().map(|a| a["t"].clone()).collect();
        assert_eq!(
            per,
            vec![vec![0], vec![1], vec![0], vec![1], vec![0], vec![1]]
        );
        let few: BTreeMap<String, ShareMember> =
            (0..2).map(|i| (format!("m{i}"), member(&["t"]))).collect();
        let plan = assign(&few, &BTreeMap::from([("t".to_string(), 5)]));
        assert_eq!(plan["m0"]["t"], vec![0, 2, 4]);
        assert_eq!(plan["m1"]["t"], vec![1, 3]);
    }

    fn state_with(records: i64) -> MetaState {
        let mut s = MetaState::default();
        s.apply(&Command::CreateTopic {
            name: "t".into(),
            id: Uuid::from_u128(1),
            partitions: 1,
            configs: vec![],
            now_ms: 0,
        });
        s.topics.get_mut("t").unwrap().partitions[0].high_watermark = records;
        s
    }

    #[test]
    fn join_acquire_ack_leave_through_commands() {
        let mut s = state_with(10);
        let join = |id: &str| ShareCommand::Join {
            group: "g".into(),
            member_id: id.into(),
            rack: None,
            client_id: "c".into(),
            client_host: "h".into(),
            subscribed: vec!["t".into()],
        };
        let r = apply(&mut s, &join("a"));
        assert_eq!(
            r,
            ShareResponse::Member {
                member_epoch: 1,
                assignment: BTreeMap::from([("t".into(), vec![0])])
            }
        );
        apply(
            &mut s,
            &ShareCommand::SetConfigs {
                group: "g".into(),
                ops: vec![("share.auto.offset.reset".into(), Some("earliest".into()))],
            },
        );
        let limits = ShareLimits::default();
        let acquire = |m: &str| ShareCommand::Acquire {
            group: "g".into(),
            member_id: m.into(),
            now_ms: 0,
            limits,
            max_records: 4,
            partitions: vec![AcquireRequest {
                topic: "t".into(),
                partition: 0,
            }],
        };
        assert_eq!(
            apply(&mut s, &acquire("a")),
            ShareResponse::Acquired(vec![vec![Acquired {
                first: 0,
                last: 3,
                delivery_count: 1
            }]])
        );
        assert!(matches!(
            apply(&mut s, &acquire("nobody")),
            ShareResponse::Error {
                code: codes::UNKNOWN_MEMBER_ID,
                ..
            }
        ));
        let ack = |ranges: &[(i64, i64)], now_ms: i64| ShareCommand::Acknowledge {
            group: "g".into(),
            member_id: "a".into(),
            limits,
            acks: ranges
                .iter()
                .map(|(first, last)| AckRequest {
                    topic: "t".into(),
                    partition: 0,
                    first: *first,
                    last: *last,
                    ack: AckType::Accept,
                })
                .collect(),
            now_ms,
        };
        let refused = |code: i16, message: &str| AckOutcome {
            code,
            message: Some(message.into()),
        };
        // A partition's ranges are all or nothing: 7 was never acquired (SPEO is 4), so 0..=1
        // is not applied either, and both answer the partition's error.
        let past = refused(
            codes::INVALID_REQUEST,
            "Batch record not found. The first offset in request is past acquired records.",
        );
        assert_eq!(
            apply(&mut s, &ack(&[(0, 1), (7, 7)], 0)),
            ShareResponse::Acknowledged(vec![past.clone(), past])
        );
        assert_eq!(
            s.groups.share("g").unwrap().partitions["t"][&0].start_offset,
            0
        );
        assert_eq!(
            apply(&mut s, &ack(&[(0, 1)], 0)),
            ShareResponse::Acknowledged(vec![AckOutcome::OK])
        );
        // Below SPSO is already done: accepted without effect. A range running past SPEO is
        // the "last offset" INVALID_REQUEST.
        assert_eq!(
            apply(&mut s, &ack(&[(0, 0)], 0)),
            ShareResponse::Acknowledged(vec![AckOutcome::OK])
        );
        assert_eq!(
            apply(&mut s, &ack(&[(3, 5)], 0)),
            ShareResponse::Acknowledged(vec![refused(
                codes::INVALID_REQUEST,
                "Batch record not found. The last offset in request is past acquired records."
            )])
        );
        assert_eq!(
            s.groups.share("g").unwrap().partitions["t"][&0].start_offset,
            2
        );
        apply(&mut s, &join("b"));
        assert_eq!(s.groups.share("g").unwrap().group_epoch, 2);
        // a leaves: what it holds stays locked (its last acknowledgements may still come)...
        assert_eq!(
            apply(
                &mut s,
                &ShareCommand::Leave {
                    group: "g".into(),
                    member_id: "a".into()
                }
            ),
            ShareResponse::Ok
        );
        assert_eq!(
            apply(&mut s, &acquire("b")),
            ShareResponse::Acquired(vec![vec![Acquired {
                first: 4,
                last: 7,
                delivery_count: 1
            }]])
        );
        // ...until its share session closes: then records 2..=3 go to b, delivery count 2.
        apply(
            &mut s,
            &ShareCommand::ReleaseAll {
                group: "g".into(),
                member_id: "a".into(),
                limits,
            },
        );
        assert_eq!(
            apply(&mut s, &acquire("b")),
            ShareResponse::Acquired(vec![vec![
                Acquired {
                    first: 2,
                    last: 3,
                    delivery_count: 2
                },
                Acquired {
                    first: 8,
                    last: 9,
                    delivery_count: 1
                }
            ]])
        );
        assert!(matches!(
            apply(&mut s, &ShareCommand::DeleteGroup { group: "g".into() }),
            ShareResponse::Error {
                code: codes::NON_EMPTY_GROUP,
                ..
            }
        ));
    }

    /// Member "a" of group "g" joins, subscribed to "t".
    fn join_a() -> ShareCommand {
        ShareCommand::Join {
            group: "g".into(),
            member_id: "a".into(),
            rack: None,
            client_id: String::new(),
            client_host: String::new(),
            subscribed: vec!["t".into()],
        }
    }

    /// Member "a" acquires from "t"-0 at `now_ms`.
    fn acquire_a(now_ms: i64, max_records: i64) -> ShareCommand {
        ShareCommand::Acquire {
            group: "g".into(),
            member_id: "a".into(),
            now_ms,
            limits: ShareLimits::default(),
            max_records,
            partitions: vec![AcquireRequest {
                topic: "t".into(),
                partition: 0,
            }],
        }
    }

    #[test]
    fn a_negative_partition_acquires_nothing_and_leaves_no_share_partition() {
        let mut s = state_with(10);
        apply(&mut s, &join_a());
        let mut cmd = acquire_a(0, 4);
        if let ShareCommand::Acquire { partitions, .. } = &mut cmd {
            partitions[0].partition = -1;
        }
        assert_eq!(apply(&mut s, &cmd), ShareResponse::Acquired(vec![vec![]]));
        assert!(s.groups.share("g").unwrap().partitions.is_empty());
    }

    #[test]
    fn latest_is_the_default_start() {
        let mut s = state_with(10);
        apply(&mut s, &join_a());
        let r = apply(&mut s, &acquire_a(0, 4));
        assert_eq!(r, ShareResponse::Acquired(vec![vec![]]));
        assert_eq!(
            s.groups.share("g").unwrap().partitions["t"][&0].start_offset,
            10
        );
    }

    #[test]
    fn the_group_lock_duration_decides_a_late_acknowledgement_by_the_proposers_clock() {
        let mut s = state_with(10);
        for cmd in [
            join_a(),
            ShareCommand::SetConfigs {
                group: "g".into(),
                ops: vec![
                    ("share.auto.offset.reset".into(), Some("earliest".into())),
                    ("share.record.lock.duration.ms".into(), Some("3000".into())),
                ],
            },
        ] {
            apply(&mut s, &cmd);
        }
        let acquire = |now_ms| acquire_a(now_ms, 500);
        let accept_all = |now_ms| ShareCommand::Acknowledge {
            group: "g".into(),
            member_id: "a".into(),
            limits: ShareLimits::default(),
            acks: vec![AckRequest {
                topic: "t".into(),
                partition: 0,
                first: 0,
                last: 9,
                ack: AckType::Accept,
            }],
            now_ms,
        };
        let got = |count| {
            ShareResponse::Acquired(vec![vec![Acquired {
                first: 0,
                last: 9,
                delivery_count: count,
            }]])
        };
        assert_eq!(apply(&mut s, &acquire(1_000)), got(1));
        // 4.5 s later (the agent default of 30 s would still hold the lock; the group says 3 s)
        assert_eq!(
            apply(&mut s, &accept_all(5_500)),
            ShareResponse::Acknowledged(vec![AckOutcome {
                code: codes::INVALID_RECORD_STATE,
                message: Some(
                    "The batch cannot be acknowledged. The batch is not in the acquired state."
                        .into()
                ),
            }])
        );
        assert_eq!(apply(&mut s, &acquire(5_500)), got(2));
        assert_eq!(
            apply(&mut s, &accept_all(8_499)),
            ShareResponse::Acknowledged(vec![AckOutcome::OK])
        );
        assert_eq!(
            s.groups.share("g").unwrap().partitions["t"][&0].start_offset,
            10
        );
    }

    #[test]
    fn iso8601_durations_for_by_duration() {
        assert_eq!(parse_iso8601_duration_ms("PT1H"), Some(3_600_000));
        assert_eq!(
            parse_iso8601_duration_ms("P1DT30M"),
            Some(86_400_000 + 1_800_000)
        );
        assert_eq!(parse_iso8601_duration_ms("PT0.5S"), Some(500));
        assert_eq!(parse_iso8601_duration_ms("1H"), None);
        assert_eq!(parse_iso8601_duration_ms("PT1X"), None);
        assert_eq!(parse_iso8601_duration_ms("P"), None);
    }
}
