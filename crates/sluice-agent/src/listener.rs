//! Listeners: which security protocol each port speaks, what it advertises, and the
//! per-connection context handlers can see.
//!
//! An agent may listen on several ports, one per security protocol (`PLAINTEXT`, `SSL`,
//! `SASL_PLAINTEXT`, `SASL_SSL`). Each listener is advertised under its name, and Metadata /
//! DescribeCluster answer a client with the endpoints of the listener it connected on, as
//! Kafka does. The connection runs each request inside [`CONN`], so a handler reaches the
//! listener and the authenticated principal without every handler signature carrying them.

use std::sync::Arc;

use sluice_meta::state::AgentInfo;

/// Kafka's `security.protocol` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(Self::Plaintext),
            "SSL" => Some(Self::Ssl),
            "SASL_PLAINTEXT" => Some(Self::SaslPlaintext),
            "SASL_SSL" => Some(Self::SaslSsl),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    pub fn tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    pub fn sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// One configured listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    /// The listener name (here always the protocol's name).
    pub name: String,
    pub protocol: SecurityProtocol,
    /// `host:port` to bind.
    pub bind: String,
    /// What clients are told to connect to (filled in once the port is bound).
    pub advertised_host: String,
    pub advertised_port: i32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListenerParseError {
    #[error("listener '{0}' is not NAME://host:port")]
    Syntax(String),
    #[error(
        "listener '{0}': unknown security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)"
    )]
    Protocol(String),
}

/// Splits `NAME://host:port` into (name, protocol, host:port).
pub fn parse_listener(s: &str) -> Result<(String, SecurityProtocol, String), ListenerParseError> {
    let (name, addr) = s
        .split_once("://")
        .ok_or_else(|| ListenerParseError::Syntax(s.into()))?;
    if !addr.contains(':') || addr.ends_with(':') {
        return Err(ListenerParseError::Syntax(s.into()));
    }
    let protocol =
        SecurityProtocol::parse(name).ok_or_else(|| ListenerParseError::Protocol(s.into()))?;
    Ok((protocol.name().to_string(), protocol, addr.to_string()))
}

/// What a request's handler knows of its connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub listener: String,
    pub protocol: SecurityProtocol,
    /// Kafka principal, e.g. `User:alice`; `User:ANONYMOUS` without SASL.
    pub principal: String,
    /// The request header's client id (empty when null); may carry a zone hint
    /// (see [`crate::zone`]).
    pub client_id: String,
    /// The peer's IP address (ACL host matching).
    pub host: String,
}

impl ConnInfo {
    pub fn anonymous(listener: &str, protocol: SecurityProtocol) -> Self {
        ConnInfo {
            listener: listener.to_string(),
            protocol,
            principal: "User:ANONYMOUS".into(),
            client_id: String::new(),
            host: String::new(),
        }
    }
}

tokio::task_local! {
    /// The connection a request came in on; set around each request by the connection loop.
    pub static CONN: Arc<ConnInfo>;
}

/// The current request's connection, if it runs inside one (tests call handlers directly).
pub fn current_conn() -> Option<Arc<ConnInfo>> {
    CONN.try_with(|c| c.clone()).ok()
}

/// The current request's client host as Kafka's group APIs report it (`/127.0.0.1`), or "".
pub fn client_host() -> String {
    current_conn()
        .filter(|c| !c.host.is_empty())
        .map_or(String::new(), |c| format!("/{}", c.host))
}

/// The current request's client id, or "".
pub fn client_id() -> String {
    current_conn().map_or(String::new(), |c| c.client_id.clone())
}

/// The endpoint of `agent` that a client of the current connection should use: the one
/// advertised under the same listener name, else the agent's first listener.
pub fn endpoint_for(agent: &AgentInfo) -> (String, i32) {
    if let Some(conn) = current_conn() {
        if let Some((_, h, p)) = agent.listeners.iter().find(|(n, _, _)| *n == conn.listener) {
            return (h.clone(), *p);
        }
    }
    (agent.host.clone(), agent.port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listeners() {
        assert_eq!(
            parse_listener("sasl_ssl://127.0.0.1:9094").unwrap(),
            (
                "SASL_SSL".into(),
                SecurityProtocol::SaslSsl,
                "127.0.0.1:9094".into()
            )
        );
        assert!(parse_listener("127.0.0.1:9092").is_err());
        assert!(parse_listener("FOO://h:1").is_err());
        assert!(parse_listener("SSL://h").is_err());
    }

    #[tokio::test]
    async fn endpoint_follows_the_connection_listener() {
        let a = AgentInfo {
            agent_id: 1,
            host: "h".into(),
            port: 1,
            listeners: vec![
                ("PLAINTEXT".into(), "h".into(), 1),
                ("SSL".into(), "s".into(), 2),
            ],
            ..Default::default()
        };
        assert_eq!(endpoint_for(&a), ("h".into(), 1));
        let conn = Arc::new(ConnInfo::anonymous("SSL", SecurityProtocol::Ssl));
        let got = CONN.scope(conn, async { endpoint_for(&a) }).await;
        assert_eq!(got, ("s".into(), 2));
    }
}
