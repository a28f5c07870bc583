//! A request as its handler sees it: the [`RequestContext`] beside the decoded body, and the
//! [`Reply`] the connection turns the outcome into.
//!
//! The connection loop ([`crate::server`]) builds one context per request from the request
//! header and the connection (listener, authenticated principal, peer address) and hands it to
//! [`crate::dispatch`]; every handler takes it as its first argument:
//!
//! ```ignore
//! pub async fn handle(cx: &RequestContext, req: EndTxnRequest) -> EndTxnResponse {
//!     if !cx.authorize(Op::Write, Res::TransactionalId(&req.transactional_id)) { /* ... */ }
//!     let state = cx.agent.read(|s| /* the local metadata replica */);
//!     if cx.api_version >= 5 { /* a field newer clients send */ }
//!     # todo!()
//! }
//! ```
//!
//! Authorization ([`crate::authz`]) is asked of the context, since it depends on who asks and
//! from where.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use kafka_protocol::messages::ResponseKind;
use sluice_meta::state::AgentInfo;

use crate::agent::Agent;
use crate::listener::SecurityProtocol;

/// Kafka's principal of an unauthenticated client.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// What a handler knows of the request it serves beyond its body.
#[derive(Clone)]
pub struct RequestContext {
    /// The agent serving the request: its metadata replica, writer, coordinators, config.
    pub agent: Arc<Agent>,
    /// The request's API version (the header's `request_api_version`).
    pub api_version: i16,
    /// The request header's client id (empty when null); it may carry a zone hint
    /// ([`crate::zone`]).
    pub client_id: String,
    /// The Kafka principal of the connection, e.g. `User:alice`; [`ANONYMOUS`] without SASL.
    pub principal: String,
    /// The peer's IP address as text (ACL host matching, group member hosts); empty when unknown.
    pub peer: String,
    /// The name of the listener the connection came in on (e.g. `SASL_SSL`).
    pub listener: String,
    /// That listener's security protocol.
    pub protocol: SecurityProtocol,
}

impl RequestContext {
    /// A context for a request of an anonymous client on the PLAINTEXT listener with no known
    /// peer (unit tests; with the authorizer off, as it is by default, every check passes).
    pub fn anonymous(agent: Arc<Agent>, api_version: i16) -> Self {
        RequestContext {
            agent,
            api_version,
            client_id: String::new(),
            principal: ANONYMOUS.into(),
            peer: String::new(),
            listener: SecurityProtocol::Plaintext.name().into(),
            protocol: SecurityProtocol::Plaintext,
        }
    }

    /// The client host as Kafka's group APIs report it (`/127.0.0.1`), or "" when unknown.
    pub fn client_host(&self) -> String {
        if self.peer.is_empty() {
            String::new()
        } else {
            format!("/{}", self.peer)
        }
    }

    /// The endpoint `(host, port)` of `agent` that this client should use: the one advertised
    /// under the listener it connected on, else the agent's first listener.
    pub fn endpoint_of(&self, agent: &AgentInfo) -> (String, i32) {
        crate::listener::endpoint_on(agent, &self.listener)
    }
}

/// What the connection does with a request's outcome.
pub enum Reply {
    /// Encode this response in the request's version and write it in request order.
    Response(Box<ResponseKind>),
    /// Produce with acks=0: Kafka sends nothing back.
    NoResponse,
    /// A raw SASL token frame (after a v0 SaslHandshake; the connection writes these).
    Raw(bytes::Bytes),
    /// A complete response frame, size prefix and header included: the answer of an API
    /// `kafka-protocol` has no types for (KIP-1071's, see `handlers::streams_group`).
    Frame(bytes::Bytes),
    /// Close the connection when this request's turn comes (logged by the connection).
    Close(String),
}

/// A request's outcome, awaited by the connection (several run at once; replies are written in
/// request order).
pub type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;
