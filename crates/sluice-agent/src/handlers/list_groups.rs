//! ListGroups (v0-v5, with state and type filters): the groups this agent coordinates, as a
//! Kafka broker lists its own; admin clients ask every agent and merge.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::str_bytes;
use crate::authz::{Op, Res};
use crate::group_coordinator::coordinator_among;
use crate::request::RequestContext;

/// Answers one ListGroups request (API key 16): the groups this agent coordinates that pass the
/// state and type filters.
pub async fn handle(cx: &RequestContext, req: ListGroupsRequest) -> ListGroupsResponse {
    let agent = &*cx.agent;
    let agents = agent.live_agents();
    let me = agent.id();
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_lowercase()).collect();
    let mut resp = ListGroupsResponse::default();
    // Every group with DESCRIBE on the cluster, else only those the principal may describe.
    let all = cx.may(Op::Describe, Res::Cluster);
    let groups: Vec<ListedGroup> = agent.read(|s| {
        s.groups
            .groups
            .iter()
            .filter(|(id, _)| coordinator_among(&agents, id).is_some_and(|a| a.agent_id == me))
            .filter(|(_, g)| states.is_empty() || states.contains(&g.state_name().to_lowercase()))
            .filter(|(_, g)| types.is_empty() || types.iter().any(|t| t == g.group_type().as_str()))
            .map(|(id, g)| {
                ListedGroup::default()
                    .with_group_id(GroupId(str_bytes(id.clone())))
                    .with_protocol_type(str_bytes(g.protocol_type()))
                    .with_group_state(str_bytes(g.state_name()))
                    .with_group_type(str_bytes(g.group_type().as_str()))
            })
            .collect()
    });
    resp.groups = groups
        .into_iter()
        .filter(|g| all || cx.may(Op::Describe, Res::Group(&g.group_id.0)))
        .collect();
    resp
}
