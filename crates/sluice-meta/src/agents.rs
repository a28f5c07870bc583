//! Agents (Kafka's brokers) as the quorum registers them: [`AgentInfo`].
//!
//! Plain data, stored in [`crate::state::MetaState::agents`] (and re-exported from
//! [`crate::state`]) and carried by [`crate::command::Command::AgentHeartbeat`].

use serde::{Deserialize, Serialize};

/// An agent (Kafka's broker) as its last heartbeat registered it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AgentInfo {
    /// The agent's node id (Kafka's broker id); `< 0` in a heartbeat asking for a fresh one.
    pub agent_id: i32,
    /// The endpoint of the agent's first listener (clients of any other listener name use
    /// `listeners`).
    pub host: String,
    /// The port of `host`.
    pub port: i32,
    /// The agent's rack (Kafka's `broker.rack`), if any.
    pub rack: Option<String>,
    /// Proposer's clock at the last heartbeat; liveness is judged by readers against theirs.
    pub last_seen_ms: i64,
    /// Every advertised listener: (listener name, host, port). Metadata answers a client with
    /// the endpoints of the listener it connected on.
    #[serde(default)]
    pub listeners: Vec<(String, String, i32)>,
}
