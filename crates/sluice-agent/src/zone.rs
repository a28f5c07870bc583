//! Zone pinning, as WarpStream does: a client that names its availability zone in its
//! `client.id` is told only about agents of that zone, so its produce and fetch traffic stays
//! in the zone (no cross-zone transfer fees).
//!
//! Syntax: `sluice_az=<zone>` as one comma-separated element of `client.id`, e.g.
//! `client.id=orders-app,sluice_az=us-east-1a` (or just `sluice_az=us-east-1a`). An agent's zone
//! is its rack (`--rack`, alias `--zone`), which it registers with its heartbeats in the quorum.
//!
//! Metadata answers such a client with the live agents of its zone as the only brokers, and
//! spreads partition leadership over them. A client without a hint, or whose zone has no live
//! agent, gets every live agent. FindCoordinator is not pinned: a group's coordinator keeps its
//! members' liveness in memory, so every member must reach the same agent (see
//! [`crate::group_coordinator`]).

use sluice_meta::state::AgentInfo;

/// The `client.id` element that names the client's zone.
pub const ZONE_HINT: &str = "sluice_az=";

/// The zone a client id asks for, if any.
pub fn client_zone(client_id: &str) -> Option<&str> {
    client_id
        .split(',')
        .find_map(|part| part.trim().strip_prefix(ZONE_HINT))
        .map(str::trim)
        .filter(|z| !z.is_empty())
}

/// `agents` restricted to `zone`; all of them when `zone` is `None` or has no agent.
pub fn pin(agents: Vec<AgentInfo>, zone: Option<&str>) -> Vec<AgentInfo> {
    let Some(zone) = zone else { return agents };
    let local: Vec<AgentInfo> = agents
        .iter()
        .filter(|a| a.rack.as_deref() == Some(zone))
        .cloned()
        .collect();
    if local.is_empty() {
        agents
    } else {
        local
    }
}

/// `agents` pinned to the zone `client_id` names (all of them without a hint).
pub fn pin_to_client_zone(agents: Vec<AgentInfo>, client_id: &str) -> Vec<AgentInfo> {
    pin(agents, client_zone(client_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: i32, zone: Option<&str>) -> AgentInfo {
        AgentInfo {
            agent_id: id,
            rack: zone.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn the_zone_is_one_element_of_the_client_id() {
        assert_eq!(client_zone("app,sluice_az=us-east-1a"), Some("us-east-1a"));
        assert_eq!(client_zone("sluice_az=eu-west-1b, app"), Some("eu-west-1b"));
        assert_eq!(client_zone("app, sluice_az= z1 "), Some("z1"));
        assert_eq!(client_zone("app"), None);
        assert_eq!(client_zone(""), None);
        assert_eq!(client_zone("app,sluice_az="), None);
        assert_eq!(client_zone("my_sluice_az=z1"), None);
    }

    #[test]
    fn clients_are_pinned_to_live_agents_of_their_zone_if_any() {
        let all = vec![
            agent(1, Some("a")),
            agent(2, Some("b")),
            agent(3, Some("a")),
            agent(4, None),
        ];
        let ids = |v: Vec<AgentInfo>| v.into_iter().map(|a| a.agent_id).collect::<Vec<_>>();
        assert_eq!(ids(pin(all.clone(), Some("a"))), vec![1, 3]);
        assert_eq!(ids(pin(all.clone(), Some("b"))), vec![2]);
        assert_eq!(ids(pin(all.clone(), Some("c"))), vec![1, 2, 3, 4]);
        assert_eq!(ids(pin(all, None)), vec![1, 2, 3, 4]);
    }
}
