//! ShareGroupDescribe (KIP-932): members, their subscriptions and assignments, from the replica.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{ShareGroupDescribeRequest, ShareGroupDescribeResponse};

use super::{str_bytes, topic_name};
use crate::agent::Agent;
use crate::authz::{Op, Res};

pub async fn handle(
    agent: &Agent,
    req: ShareGroupDescribeRequest,
    _version: i16,
) -> ShareGroupDescribeResponse {
    let mut resp = ShareGroupDescribeResponse::default();
    for gid in req.group_ids {
        let mut d = DescribedGroup::default();
        d.group_id = gid.clone();
        d.authorized_operations = i32::MIN;
        let group = gid.0.to_string();
        if !agent.authorize(Op::Describe, Res::Group(&group)) {
            d.error_code = ResponseError::GroupAuthorizationFailed.code();
            d.error_message = Some(str_bytes("Group authorization failed."));
            resp.groups.push(d);
            continue;
        }
        if req.include_authorized_operations {
            d.authorized_operations = agent.authorized_operations(Res::Group(&group));
        }
        if !agent.is_group_coordinator(&group) {
            d.error_code = ResponseError::NotCoordinator.code();
            resp.groups.push(d);
            continue;
        }
        let found = agent.read(|s| {
            let g = s.share_groups.get(&group)?;
            let ids = |t: &str| s.topic(t).map(|t| t.id).unwrap_or_default();
            let members = g
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
                .collect::<Vec<_>>();
            Some((g.group_epoch, members))
        });
        match found {
            None => {
                d.error_code = ResponseError::GroupIdNotFound.code();
                d.error_message = Some(str_bytes(format!("Group {group} not found.")));
            }
            Some((epoch, members)) => {
                d.group_state = str_bytes(if members.is_empty() {
                    "Empty"
                } else {
                    "Stable"
                });
                d.group_epoch = epoch;
                d.assignment_epoch = epoch;
                d.assignor_name = str_bytes("simple");
                d.members = members;
            }
        }
        resp.groups.push(d);
    }
    resp
}
