//! Applying [`ShareCommand`]s (KIP-932) to the state: they read the topics' watermarks and
//! partition counts, so they take the whole [`MetaState`] (see [`crate::share_group`] for the
//! groups' model).

use std::collections::BTreeMap;

use crate::codes;
use crate::group_types::GroupLookupError;
use crate::share::{AckRange, SharePartition};
use crate::share_group::{
    acquirable_end, err, initial_offset, limits_of, lookup_err, reads_committed, AckOutcome,
    ShareCommand, ShareResponse,
};
use crate::state::MetaState;

/// A topic was deleted: every share group forgets its share-partition states (SPSO, in-flight
/// records, delivery counts) and the groups assigning it reassign without it, so a topic
/// re-created under the name starts from `share.auto.offset.reset` with delivery count 1.
pub(crate) fn forget_topic(state: &mut MetaState, topic: &str) {
    let counts = partition_counts(state);
    for (_, g) in state.groups.shares_mut() {
        g.partitions.remove(topic);
        if g.members.values().any(|m| m.assignment.contains_key(topic)) {
            g.reassign(&counts);
        }
    }
}

fn partition_counts(state: &MetaState) -> BTreeMap<String, i32> {
    state
        .topics
        .iter()
        .map(|(n, t)| (n.clone(), t.partitions.len() as i32))
        .collect()
}

/// Applies a share-group command to the whole state (it reads topics' watermarks).
pub fn apply(state: &mut MetaState, cmd: &ShareCommand) -> ShareResponse {
    let counts = partition_counts(state);
    match cmd {
        ShareCommand::Join {
            group,
            member_id,
            rack,
            client_id,
            client_host,
            subscribed,
        } => {
            let g = match state.groups.share_or_create(group) {
                Ok((g, _)) => g,
                Err(e) => return err(e.code(), e.to_string()),
            };
            let m = g.members.entry(member_id.clone()).or_default();
            m.rack = rack.clone();
            m.client_id = client_id.clone();
            m.client_host = client_host.clone();
            let mut subs = subscribed.clone();
            subs.sort();
            subs.dedup();
            m.subscribed = subs;
            g.reassign(&counts);
            let m = &g.members[member_id];
            ShareResponse::Member {
                member_epoch: m.member_epoch,
                assignment: m.assignment.clone(),
            }
        }
        ShareCommand::Leave { group, member_id } => {
            let g = match state.groups.share_mut(group) {
                Ok((g, _)) => g,
                Err(e) => return lookup_err(e),
            };
            if g.members.remove(member_id).is_none() {
                return err(codes::UNKNOWN_MEMBER_ID, "unknown member");
            }
            // Records it still holds are not released here: as in Kafka, they go back when its
            // share session closes (after its last acknowledgements) or their locks time out.
            // Releasing on leave would race the final acknowledgements and redeliver accepted
            // records.
            g.reassign(&counts);
            ShareResponse::Ok
        }
        ShareCommand::Rebalance { group } => {
            if let Ok((g, _)) = state.groups.share_mut(group) {
                g.reassign(&counts);
            }
            ShareResponse::Ok
        }
        ShareCommand::Acquire {
            group,
            member_id,
            now_ms,
            limits,
            max_records,
            partitions,
        } => {
            let topics = &state.topics;
            let (g, configs) = match state.groups.share_mut(group) {
                Ok(found) => found,
                Err(e) => return lookup_err(e),
            };
            if !g.members.contains_key(member_id) {
                return err(codes::UNKNOWN_MEMBER_ID, "unknown member");
            }
            let limits = limits_of(configs, limits);
            let mut out = Vec::with_capacity(partitions.len());
            let mut budget = *max_records;
            for req in partitions {
                let Some(log) = topics
                    .get(&req.topic)
                    .and_then(|t| t.partitions.get(usize::try_from(req.partition).ok()?))
                else {
                    out.push(Vec::new());
                    continue;
                };
                let sp = g
                    .partitions
                    .entry(req.topic.clone())
                    .or_default()
                    .entry(req.partition)
                    .or_insert_with(|| SharePartition::new(initial_offset(configs, log, *now_ms)));
                let committed = reads_committed(configs);
                let got = sp.acquire(
                    member_id,
                    budget,
                    acquirable_end(configs, log),
                    log.log_start_offset,
                    *now_ms,
                    &limits,
                );
                let got = match committed {
                    true => sp.archive_aborted(&log.aborted_runs, got),
                    false => got,
                };
                budget -= got.iter().map(|a| a.last - a.first + 1).sum::<i64>();
                out.push(got);
            }
            ShareResponse::Acquired(out)
        }
        ShareCommand::Acknowledge {
            group,
            member_id,
            limits,
            acks,
            now_ms,
        } => {
            let (g, configs) = match state.groups.share_mut(group) {
                Ok(found) => found,
                Err(e) => return lookup_err(e),
            };
            let limits = limits_of(configs, limits);
            // Each partition's ranges, in request order, decided together.
            let mut per_partition: BTreeMap<(&str, i32), Vec<AckRange>> = BTreeMap::new();
            for a in acks {
                per_partition
                    .entry((a.topic.as_str(), a.partition))
                    .or_default()
                    .push(AckRange {
                        first: a.first,
                        last: a.last,
                        ack: a.ack,
                    });
            }
            let outcomes: BTreeMap<(&str, i32), AckOutcome> = per_partition
                .into_iter()
                .map(|((topic, partition), ranges)| {
                    let sp = g
                        .partitions
                        .get_mut(topic)
                        .and_then(|p| p.get_mut(&partition));
                    let outcome = match sp {
                        // Kafka: no SharePartition was ever made for it.
                        None => AckOutcome::refused(
                            codes::UNKNOWN_TOPIC_OR_PARTITION,
                            "This server does not host this topic-partition.",
                        ),
                        Some(sp) => {
                            match sp.acknowledge_all(member_id, &ranges, *now_ms, &limits) {
                                Ok(()) => AckOutcome::OK,
                                Err(e) => AckOutcome::refused(e.code(), e.to_string()),
                            }
                        }
                    };
                    ((topic, partition), outcome)
                })
                .collect();
            ShareResponse::Acknowledged(
                acks.iter()
                    .map(|a| outcomes[&(a.topic.as_str(), a.partition)].clone())
                    .collect(),
            )
        }
        ShareCommand::ReleaseAll {
            group,
            member_id,
            limits,
        } => {
            if let Ok((g, configs)) = state.groups.share_mut(group) {
                let limits = limits_of(configs, limits);
                for parts in g.partitions.values_mut() {
                    for sp in parts.values_mut() {
                        sp.release_member(member_id, &limits);
                    }
                }
            }
            ShareResponse::Ok
        }
        ShareCommand::AlterOffsets { group, offsets } => {
            let g = match state.groups.share_or_create(group) {
                Ok((g, _)) => g,
                Err(e) => return err(e.code(), e.to_string()),
            };
            if !g.members.is_empty() {
                return err(codes::NON_EMPTY_GROUP, "The group is not empty.");
            }
            for (t, p, o) in offsets {
                g.partitions
                    .entry(t.clone())
                    .or_default()
                    .entry(*p)
                    .or_insert_with(|| SharePartition::new(*o))
                    .reset_to(*o);
            }
            ShareResponse::Ok
        }
        ShareCommand::DeleteOffsets { group, topics } => {
            let g = match state.groups.share_mut(group) {
                Ok((g, _)) => g,
                Err(e) => return lookup_err(e),
            };
            if !g.members.is_empty() {
                return err(codes::NON_EMPTY_GROUP, "The group is not empty.");
            }
            for t in topics {
                g.partitions.remove(t);
            }
            ShareResponse::Ok
        }
        ShareCommand::SetConfigs { group, ops } => {
            state.groups.set_configs(group, ops);
            ShareResponse::Ok
        }
        ShareCommand::DeleteGroup { group } => match state.groups.share(group) {
            Err(GroupLookupError::NotFound(_)) => {
                err(codes::GROUP_ID_NOT_FOUND, "The group id does not exist.")
            }
            Err(e) => lookup_err(e),
            Ok(g) if !g.members.is_empty() => {
                err(codes::NON_EMPTY_GROUP, "The group is not empty.")
            }
            Ok(_) => {
                state.groups.groups.remove(group);
                ShareResponse::Ok
            }
        },
    }
}
