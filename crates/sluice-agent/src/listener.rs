//! Listeners: which security protocol each port speaks and what it advertises.
//!
//! An agent may listen on several ports, one per security protocol (`PLAINTEXT`, `SSL`,
//! `SASL_PLAINTEXT`, `SASL_SSL`). Each listener is advertised under its name, and Metadata /
//! DescribeCluster answer a client with the endpoints of the listener it connected on, as
//! Kafka does. A handler finds the listener of its request in its
//! [`crate::request::RequestContext`].

use sluice_meta::state::AgentInfo;

/// Kafka's `security.protocol` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// `PLAINTEXT`: no TLS, no authentication (principal `User:ANONYMOUS`).
    Plaintext,
    /// `SSL`: TLS, no SASL (no client certificates either).
    Ssl,
    /// `SASL_PLAINTEXT`: SASL authentication over plain TCP.
    SaslPlaintext,
    /// `SASL_SSL`: SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// The protocol named `s` (any case); `None` for another name.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(Self::Plaintext),
            "SSL" => Some(Self::Ssl),
            "SASL_PLAINTEXT" => Some(Self::SaslPlaintext),
            "SASL_SSL" => Some(Self::SaslSsl),
            _ => None,
        }
    }

    /// Kafka's name of the protocol, upper case (also the listener name).
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether connections are TLS (`SSL`, `SASL_SSL`).
    pub fn tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether clients must authenticate with SASL (`SASL_PLAINTEXT`, `SASL_SSL`).
    pub fn sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// One configured listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    /// The listener name (here always the protocol's name).
    pub name: String,
    /// What the port speaks.
    pub protocol: SecurityProtocol,
    /// `host:port` to bind.
    pub bind: String,
    /// What clients are told to connect to (filled in once the port is bound).
    pub advertised_host: String,
    /// The advertised port.
    pub advertised_port: i32,
}

/// Why a `--listeners` entry does not parse; carries the entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListenerParseError {
    /// Not `NAME://host:port` (no `://`, no port).
    #[error("listener '{0}' is not NAME://host:port")]
    Syntax(String),
    /// The name is not a security protocol.
    #[error(
        "listener '{0}': unknown security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)"
    )]
    Protocol(String),
}

/// Splits `NAME://host:port` into (name, protocol, host:port); the name is the protocol's
/// upper-case name (listener names other than the four protocols are not supported). Errors:
/// [`ListenerParseError`].
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

/// The endpoint `(host, port)` of `agent` for a client connected on the listener named
/// `listener`: the one advertised under that name, else the agent's first listener.
pub fn endpoint_on(agent: &AgentInfo, listener: &str) -> (String, i32) {
    match agent.listeners.iter().find(|(n, _, _)| n == listener) {
        Some((_, h, p)) => (h.clone(), *p),
        None => (agent.host.clone(), agent.port),
    }
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

    #[test]
    fn endpoint_follows_the_connection_listener() {
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
        assert_eq!(endpoint_on(&a, "PLAINTEXT"), ("h".into(), 1));
        assert_eq!(endpoint_on(&a, "SSL"), ("s".into(), 2));
        assert_eq!(endpoint_on(&a, "SASL_SSL"), ("h".into(), 1));
    }
}
