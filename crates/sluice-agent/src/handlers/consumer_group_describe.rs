//! ConsumerGroupDescribe (KIP-848): epochs, the assignor, and every member's current and target
//! assignment, from the replica.

use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse};
use sluice_meta::assignor;
use sluice_meta::state::MetaState;

use sluice_meta::groups::{GroupLookupError, GroupType};

use super::groups::describe_groups;
use super::{str_bytes, topic_name};
use crate::request::RequestContext;

/// ConsumerGroupDescribe v1's member type of a KIP-848 member.
const CONSUMER_MEMBER: i8 = 1;

/// Answers one ConsumerGroupDescribe request (API key 69): one described group per requested id,
/// with per-group error codes.
pub async fn handle(
    cx: &RequestContext,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let (ids, with_operations) = (req.group_ids, req.include_authorized_operations);
    ConsumerGroupDescribeResponse::default().with_groups(describe_groups(
        cx,
        ids,
        with_operations,
        describe,
    ))
}

/// A consumer group as the replica has it, or why not (GROUP_ID_NOT_FOUND).
fn describe(s: &MetaState, group: &str) -> Result<DescribedGroup, GroupLookupError> {
    let g = s
        .groups
        .get(group)
        .ok_or_else(|| GroupLookupError::NotFound(group.to_string()))?;
    let c = g.as_consumer().ok_or_else(|| GroupLookupError::WrongType {
        group: group.to_string(),
        wanted: GroupType::Consumer,
    })?;
    let mut d = DescribedGroup::default();
    d.group_state = str_bytes(c.state().as_str());
    d.group_epoch = c.group_epoch;
    d.assignment_epoch = c.assignment_epoch;
    d.assignor_name = str_bytes(if c.assignor.is_empty() {
        assignor::UNIFORM
    } else {
        c.assignor.as_str()
    });
    d.members = c
        .members
        .values()
        .map(|m| {
            let mut wm = Member::default();
            wm.member_id = str_bytes(m.member_id.clone());
            wm.instance_id = m.instance_id.clone().map(str_bytes);
            wm.rack_id = m.rack_id.clone().map(str_bytes);
            wm.member_epoch = m.member_epoch;
            wm.client_id = str_bytes(m.client_id.clone());
            wm.client_host = str_bytes(m.client_host.clone());
            wm.subscribed_topic_names = m
                .subscribed_topic_names
                .iter()
                .map(|t| topic_name(t.clone()))
                .collect();
            wm.subscribed_topic_regex = m.subscribed_topic_regex.clone().map(str_bytes);
            wm.assignment = to_wire(s, &m.assigned);
            wm.target_assignment =
                to_wire(s, c.target.get(&m.member_id).unwrap_or(&Default::default()));
            wm.member_type = CONSUMER_MEMBER;
            wm
        })
        .collect();
    Ok(d)
}

fn to_wire(s: &MetaState, a: &assignor::Assignment) -> Assignment {
    let mut out = Assignment::default();
    out.topic_partitions = a
        .iter()
        .map(|(id, parts)| {
            let mut tp = TopicPartitions::default();
            tp.topic_id = *id;
            tp.topic_name =
                topic_name(s.topic_by_id(*id).map_or(String::new(), |t| t.name.clone()));
            tp.partitions = parts.iter().copied().collect();
            tp
        })
        .collect();
    out
}
