//! Authentication for Sluice agents: SASL mechanisms and TLS server configuration.
//!
//! The agent's connection code owns the wire (SaslHandshake / SaslAuthenticate framing, which
//! requests are allowed before authentication, re-authentication deadlines); this crate owns
//! the mechanisms themselves, as pure state machines that take a credential lookup and never
//! see a stored password:
//! - [`plain`]: SASL/PLAIN, checked against the SCRAM credentials in the metadata quorum;
//! - [`scram`]: SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802);
//! - [`oauth`]: OAUTHBEARER, JWTs validated against a JWKS endpoint;
//! - [`authorizer`]: Kafka's standard ACL authorizer over the quorum's ACLs;
//! - [`tls`]: a rustls `ServerConfig` from PEM files, on the aws-lc-rs provider the rest of the
//!   tree already builds.

#![warn(missing_docs)]

pub mod authorizer;
pub mod grant;
pub mod oauth;
pub mod plain;
pub mod scram;
pub mod tls;

/// Why an authentication attempt failed. Every variant becomes a Kafka error code and a log
/// line; none is a panic.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// Wrong password, unknown user: the client learns only that the credentials were invalid.
    #[error("invalid credentials for user '{user}'")]
    InvalidCredentials {
        /// The user name the client gave.
        user: String,
    },
    /// The client's message does not parse.
    #[error("malformed SASL message: {0}")]
    Malformed(String),
    /// A refusal the mechanism words for the client, as Kafka's `SaslAuthenticationException`
    /// does (e.g. PLAIN's "Authentication failed: username not specified"); the text is sent as
    /// the SaslAuthenticate error message.
    #[error("{0}")]
    Rejected(String),
    /// An OAUTHBEARER token that failed validation (signature, algorithm, key, claims).
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// A message that does not fit the exchange's state.
    #[error("illegal SASL state: {0}")]
    IllegalState(String),
}
