//! DescribeGroups (v0-v6): state, protocol and members of classic groups. A group nobody knows
//! is reported Dead, as Kafka does, and from v6 (KIP-1043) with GROUP_ID_NOT_FOUND; a KIP-848
//! group gets GROUP_ID_NOT_FOUND (ConsumerGroupDescribe describes it).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use sluice_meta::groups::{ClassicGroupState, Group};

use super::str_bytes;
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Answers one DescribeGroups request (API key 15): one described group per requested id.
pub async fn handle(cx: &RequestContext, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let mut resp = DescribeGroupsResponse::default();
    resp.groups = req
        .groups
        .iter()
        .map(|id| {
            let mut d = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(i32::MIN);
            if let Err(refused) = cx.authorize_group(Op::Describe, &id.0) {
                d.error_code = refused.code();
                return d;
            }
            if req.include_authorized_operations {
                d.authorized_operations = cx.authorized_operations(Res::Group(&id.0));
            }
            if let Err(refused) = agent.coordinates(&id.0) {
                d.error_code = refused.code();
                return d;
            }
            let Some(g) = agent.read(|s| s.groups.get(id.0.as_str()).cloned()) else {
                d.group_state = str_bytes(ClassicGroupState::Dead.as_str());
                if version >= 6 {
                    d.error_code = ResponseError::GroupIdNotFound.code();
                    d.error_message = Some(str_bytes(format!("Group {} not found.", id.0)));
                }
                return d;
            };
            let Group::Classic(g) = g else {
                d.group_state = str_bytes(ClassicGroupState::Dead.as_str());
                d.error_code = ResponseError::GroupIdNotFound.code();
                d.error_message =
                    Some(str_bytes(format!("Group {} is not a classic group.", id.0)));
                return d;
            };
            let protocol = g.protocol.clone().unwrap_or_default();
            let settled = matches!(
                g.state,
                ClassicGroupState::Stable | ClassicGroupState::CompletingRebalance
            );
            d.group_state = str_bytes(g.state.as_str());
            d.protocol_type = str_bytes(g.protocol_type.clone());
            d.protocol_data = str_bytes(if settled {
                protocol.clone()
            } else {
                String::new()
            });
            d.members = g
                .members
                .values()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(str_bytes(m.member_id.clone()))
                        .with_group_instance_id(m.instance_id.clone().map(str_bytes))
                        .with_client_id(str_bytes(m.client_id.clone()))
                        .with_client_host(str_bytes(m.client_host.clone()))
                        .with_member_metadata(m.metadata(&protocol).to_vec().into())
                        .with_member_assignment(m.assignment.clone().into())
                })
                .collect();
            d
        })
        .collect();
    resp
}
