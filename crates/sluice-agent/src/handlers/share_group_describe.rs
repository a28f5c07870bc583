//! ShareGroupDescribe (KIP-932): members, their subscriptions and assignments, from the replica.

use kafka_protocol::messages::share_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{ShareGroupDescribeRequest, ShareGroupDescribeResponse};

use sluice_meta::groups::GroupLookupError;
use sluice_meta::state::MetaState;

use super::groups::describe_groups;
use super::{str_bytes, topic_name};
use crate::request::RequestContext;

/// Answers one ShareGroupDescribe request (API key 77): one described share group per requested id,
/// with per-group error codes.
pub async fn handle(
    cx: &RequestContext,
    req: ShareGroupDescribeRequest,
) -> ShareGroupDescribeResponse {
    let (ids, with_operations) = (req.group_ids, req.include_authorized_operations);
    ShareGroupDescribeResponse::default().with_groups(describe_groups(
        cx,
        ids,
        with_operations,
        describe,
    ))
}

/// A share group as the replica has it, or why not (GROUP_ID_NOT_FOUND).
fn describe(s: &MetaState, group: &str) -> Result<DescribedGroup, GroupLookupError> {
    let g = s.groups.share(group)?;
    let ids = |t: &str| s.topic(t).map(|t| t.id).unwrap_or_default();
    let mut d = DescribedGroup::default();
    d.members = g
        .members
        .iter()
        .map(|(id, m)| {
            let mut wm = Member::default();
            wm.member_id = str_bytes(id.clone());
            wm.rack_id = m.rack.clone().map(str_bytes);
            wm.member_epoch = m.member_epoch;
            wm.client_id = str_bytes(m.client_id.clone());
            wm.client_host = str_bytes(m.client_host.clone());
            wm.subscribed_topic_names =
                m.subscribed.iter().map(|t| topic_name(t.clone())).collect();
            let mut a = Assignment::default();
            a.topic_partitions = m
                .assignment
                .iter()
                .map(|(t, ps)| {
                    let mut tp = TopicPartitions::default();
                    tp.topic_id = ids(t);
                    tp.topic_name = topic_name(t.clone());
                    tp.partitions = ps.clone();
                    tp
                })
                .collect();
            wm.assignment = a;
            wm
        })
        .collect();
    d.group_state = str_bytes(if d.members.is_empty() {
        "Empty"
    } else {
        "Stable"
    });
    d.group_epoch = g.group_epoch;
    d.assignment_epoch = g.group_epoch;
    d.assignor_name = str_bytes("simple");
    Ok(d)
}
