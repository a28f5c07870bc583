//! The SASL side of a connection on a `SASL_PLAINTEXT` / `SASL_SSL` listener (SaslHandshake = 17,
//! SaslAuthenticate = 36), as a state machine the connection loop feeds.
//!
//! Kafka's rules, which the connection enforces with [`SaslConn::may_serve`]: before
//! authentication only ApiVersions, SaslHandshake and SaslAuthenticate are served; anything else
//! closes the connection. A handshake comes first and names one enabled mechanism; then
//! SaslAuthenticate frames carry the mechanism's messages. Any failure is answered with Kafka's
//! error code and message (`SaslServerAuthenticator`'s, naming the mechanism) and the
//! connection closes after the answer; a SaslAuthenticate before any handshake closes it
//! without one, as in Kafka. With `connections.max.reauth.ms`
//! (KIP-368) the session has a lifetime, told to the client in `session_lifetime_ms`; a client
//! re-authenticates (same mechanism, same principal) by sending a new handshake, and a request
//! arriving after the session expired closes the connection (as in Kafka, which also checks
//! expiry when a request arrives rather than on a timer). Once authenticated, and unless a
//! KIP-368 re-authentication may start, SASL requests get what Kafka's request handler answers
//! ([`after_authentication`]): ILLEGAL_SASL_STATE, the connection kept. After a v0 SaslHandshake the
//! mechanism's messages travel as raw size-prefixed frames instead of SaslAuthenticate requests
//! ([`SaslConn::raw_token`]); such clients cannot re-authenticate.
//!
//! The mechanisms live in `sluice-auth`; credentials come from the local metadata replica.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use sluice_auth::scram::{ScramMechanism, ScramServer, ScramStep};
use sluice_auth::AuthError;

use crate::agent::Agent;
use crate::handlers::str_bytes;

/// Kafka's `sasl.server.max.receive.size`: the largest frame accepted before authentication.
pub const MAX_SASL_FRAME_BYTES: usize = 524_288;

/// A mechanism this agent can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// `PLAIN` (RFC 4616), checked against the users' SCRAM credentials.
    Plain,
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512` (RFC 5802, KIP-84).
    Scram(ScramMechanism),
    /// `OAUTHBEARER` (RFC 7628, KIP-255), JWTs checked against the configured JWKS.
    OAuthBearer,
}

impl Mechanism {
    /// The mechanism of a SASL name (exact, upper case, as Kafka); `None` for any other name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "PLAIN" => Some(Self::Plain),
            "OAUTHBEARER" => Some(Self::OAuthBearer),
            other => ScramMechanism::from_sasl_name(other).map(Self::Scram),
        }
    }

    /// The SASL name (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::OAuthBearer => "OAUTHBEARER",
            Self::Scram(m) => m.sasl_name(),
        }
    }
}

enum State {
    /// Waiting for the first handshake.
    AwaitingHandshake,
    /// Authenticated; a handshake starts a re-authentication only if the session expires.
    Authenticated,
    /// Handshake done; the next SaslAuthenticate starts the mechanism.
    AwaitingToken(Mechanism),
    /// Mid-way through a SCRAM exchange.
    Scram(ScramMechanism, ScramServer),
}

/// The answer to one SASL request (none: close without answering), and whether the
/// connection closes after sending it.
pub struct SaslReply {
    /// The response to send, if Kafka sends one.
    pub response: Option<ResponseKind>,
    /// Why the connection closes after the response (or instead of it), if it does.
    pub close_after: Option<SaslClose>,
}

/// Why a SASL connection closes: the SASL exchange failed, or a request came before (or after)
/// its authenticated session. The Display is the reason the connection's close is logged with.
/// The client never sees it: it gets the Kafka error code of the response (if any) and, for
/// SaslAuthenticate, Kafka's `SaslServerAuthenticator` message.
#[derive(Debug, thiserror::Error)]
pub enum SaslClose {
    /// A SaslHandshake in the middle of an exchange (ILLEGAL_SASL_STATE).
    #[error("SaslHandshake out of order")]
    HandshakeOutOfOrder,
    /// The handshake named a mechanism this listener does not enable
    /// (UNSUPPORTED_SASL_MECHANISM).
    #[error("unsupported SASL mechanism {0}")]
    UnsupportedMechanism(String),
    /// A KIP-368 re-authentication named another mechanism (ILLEGAL_SASL_STATE).
    #[error("re-authentication must use the same SASL mechanism")]
    MechanismChanged,
    /// A KIP-368 re-authentication began with SaslHandshake v0 (ILLEGAL_SASL_STATE).
    #[error("re-authentication needs SaslHandshake v1")]
    ReauthNeedsHandshakeV1,
    /// A SaslAuthenticate before any handshake: Kafka closes without an answer (its message).
    #[error("Unexpected Kafka request of type SASL_AUTHENTICATE during SASL handshake.")]
    AuthenticateBeforeHandshake,
    /// A KIP-368 re-authentication authenticated another principal
    /// (SASL_AUTHENTICATION_FAILED).
    #[error("re-authentication changed principal")]
    PrincipalChanged,
    /// The mechanism refused the client (SASL_AUTHENTICATION_FAILED or ILLEGAL_SASL_STATE).
    #[error("SASL authentication failed: {0}")]
    Failed(#[source] AuthError),
    /// A raw SASL token (after SaslHandshake v0) was answered with an error but no reason to
    /// close (e.g. ILLEGAL_SASL_STATE after authentication); raw frames carry no error code, so
    /// the connection closes.
    #[error("SASL authentication failed")]
    RawTokenRefused,
    /// A request other than ApiVersions, SaslHandshake or SaslAuthenticate before the client
    /// authenticated. `api` is the API's name (`kafka-protocol`'s `ApiKey` Debug name, or
    /// KIP-1071's).
    #[error("unexpected {api} request before SASL authentication")]
    NotAuthenticated {
        /// The API requested.
        api: String,
    },
    /// A request after the session's lifetime (`connections.max.reauth.ms`, KIP-368, or the
    /// token's expiry) without a re-authentication.
    #[error("SASL session of {principal} expired without re-authentication ({api} request)")]
    SessionExpired {
        /// `User:<name>`.
        principal: String,
        /// The API requested.
        api: String,
    },
}

/// One connection's SASL state: which mechanism, who authenticated, until when.
pub struct SaslConn {
    state: State,
    mechanism: Option<Mechanism>,
    /// `User:<name>` once authenticated.
    principal: Option<String>,
    expires: Option<Instant>,
    /// A v0 SaslHandshake: the mechanism's messages come as raw frames, not SaslAuthenticate.
    raw: bool,
    /// The client authenticated with SaslAuthenticate v1+, so it can re-authenticate
    /// (Kafka's `connectedClientSupportsReauthentication`).
    reauth_capable: bool,
}

impl Default for SaslConn {
    fn default() -> Self {
        Self::new()
    }
}

impl SaslConn {
    /// A connection that has not sent a SaslHandshake yet.
    pub fn new() -> Self {
        SaslConn {
            state: State::AwaitingHandshake,
            mechanism: None,
            principal: None,
            expires: None,
            raw: false,
            reauth_capable: false,
        }
    }

    /// `User:<name>` once authenticated; `None` before.
    pub fn principal(&self) -> Option<&str> {
        self.principal.as_deref()
    }

    /// Whether a request of `api` may be served now.
    ///
    /// # Errors
    /// Why the connection must close: [`SaslClose::NotAuthenticated`] or
    /// [`SaslClose::SessionExpired`].
    pub fn may_serve(&self, api: ApiKey, now: Instant) -> Result<(), SaslClose> {
        let exempt = matches!(
            api,
            ApiKey::SaslHandshake | ApiKey::SaslAuthenticate | ApiKey::ApiVersions
        );
        self.may_serve_named(&format!("{api:?}"), exempt, now)
    }

    /// [`SaslConn::may_serve`] for an API `kafka-protocol` has no key for (KIP-1071's), by name;
    /// `exempt` APIs are served before authentication.
    pub fn may_serve_named(&self, api: &str, exempt: bool, now: Instant) -> Result<(), SaslClose> {
        if exempt {
            return Ok(());
        }
        match (&self.principal, self.expires) {
            (None, _) => Err(SaslClose::NotAuthenticated {
                api: api.to_string(),
            }),
            (Some(p), Some(t)) if now >= t => Err(SaslClose::SessionExpired {
                principal: p.clone(),
                api: api.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Whether the next frame is a raw SASL token (after a v0 handshake, until authenticated).
    pub fn expects_raw_token(&self) -> bool {
        self.raw && self.principal.is_none()
    }

    /// One raw SASL token (SaslHandshake v0): the mechanism's answer to send back as a raw
    /// frame, or why the connection closes (Kafka closes without an answer on failure).
    pub async fn raw_token(&mut self, agent: &Agent, token: Bytes) -> Result<Bytes, SaslClose> {
        let mut req = SaslAuthenticateRequest::default();
        req.auth_bytes = token;
        let r = self.authenticate(agent, req, 0).await;
        match (r.response, r.close_after) {
            (Some(ResponseKind::SaslAuthenticate(resp)), None) if resp.error_code == 0 => {
                Ok(resp.auth_bytes)
            }
            (_, Some(why)) => Err(why),
            (_, None) => Err(SaslClose::RawTokenRefused),
        }
    }

    /// SaslHandshake: picks the mechanism. Version 0 means raw SASL frames follow.
    pub fn handshake(
        &mut self,
        agent: &Agent,
        req: SaslHandshakeRequest,
        version: i16,
    ) -> SaslReply {
        let enabled = &agent.cfg.sasl_mechanisms;
        let mut resp = SaslHandshakeResponse::default();
        resp.mechanisms = enabled.iter().map(|m| str_bytes(m.clone())).collect();
        let wanted = req.mechanism.to_string();
        match self.state {
            State::AwaitingHandshake => {}
            // KIP-368: a handshake on an authenticated connection starts a re-authentication
            // only if the session expires and the client spoke SaslAuthenticate v1+ (as Kafka's
            // `KafkaChannel.maybeBeginServerReauthentication`); otherwise Kafka's request handler
            // answers it.
            State::Authenticated if self.expires.is_some() && self.reauth_capable => {}
            State::Authenticated => return after_authentication(ApiKey::SaslHandshake),
            State::AwaitingToken(_) | State::Scram(..) => {
                tracing::warn!(mechanism = %wanted, "SaslHandshake out of order");
                let mut resp = SaslHandshakeResponse::default();
                resp.error_code = ResponseError::IllegalSaslState.code();
                return close(
                    ResponseKind::SaslHandshake(resp),
                    SaslClose::HandshakeOutOfOrder,
                );
            }
        }
        let mech = Mechanism::parse(&wanted).filter(|m| enabled.iter().any(|e| e == m.name()));
        let Some(mech) = mech else {
            tracing::warn!(mechanism = %wanted, "SASL mechanism not enabled");
            resp.error_code = ResponseError::UnsupportedSaslMechanism.code();
            return close(
                ResponseKind::SaslHandshake(resp),
                SaslClose::UnsupportedMechanism(wanted),
            );
        };
        if let Some(prev) = self.mechanism.filter(|p| *p != mech) {
            tracing::warn!(
                previous = prev.name(),
                mechanism = mech.name(),
                "re-authentication changed mechanism"
            );
            resp.error_code = ResponseError::IllegalSaslState.code();
            return close(
                ResponseKind::SaslHandshake(resp),
                SaslClose::MechanismChanged,
            );
        }
        if version == 0 && self.principal.is_some() {
            // KIP-368 re-authentication needs SaslAuthenticate (handshake v1).
            resp.error_code = ResponseError::IllegalSaslState.code();
            return close(
                ResponseKind::SaslHandshake(resp),
                SaslClose::ReauthNeedsHandshakeV1,
            );
        }
        self.raw = version == 0;
        self.state = State::AwaitingToken(mech);
        reply(ResponseKind::SaslHandshake(resp))
    }

    /// SaslAuthenticate: one message of the mechanism.
    pub async fn authenticate(
        &mut self,
        agent: &Agent,
        req: SaslAuthenticateRequest,
        version: i16,
    ) -> SaslReply {
        let fail = |code: ResponseError, message: String, why: SaslClose| {
            let mut resp = SaslAuthenticateResponse::default();
            resp.error_code = code.code();
            resp.error_message = Some(str_bytes(message));
            close(ResponseKind::SaslAuthenticate(resp), why)
        };
        let token = req.auth_bytes;
        let mechanism = match &self.state {
            State::AwaitingToken(m) => m.name(),
            State::Scram(m, _) => m.sasl_name(),
            State::AwaitingHandshake | State::Authenticated => "",
        };
        let reauth = self.principal.is_some();
        let result = match std::mem::replace(&mut self.state, State::AwaitingHandshake) {
            State::AwaitingHandshake => {
                // Kafka refuses it before parsing it, without an answer.
                tracing::warn!("SaslAuthenticate without a preceding SaslHandshake");
                return SaslReply {
                    response: None,
                    close_after: Some(SaslClose::AuthenticateBeforeHandshake),
                };
            }
            State::Authenticated => {
                self.state = State::Authenticated;
                return after_authentication(ApiKey::SaslAuthenticate);
            }
            State::AwaitingToken(Mechanism::Plain) => {
                sluice_auth::plain::authenticate(&token, |user| lookup_all(agent, user)).map(
                    |user| Step::Done {
                        mech: Mechanism::Plain,
                        user,
                        reply: Bytes::new(),
                        expires_ms: None,
                    },
                )
            }
            State::AwaitingToken(Mechanism::OAuthBearer) => match &agent.cfg.oauth {
                Some(v) => v.authenticate(&token).await.map(|t| Step::Done {
                    mech: Mechanism::OAuthBearer,
                    user: t.principal,
                    reply: Bytes::new(),
                    expires_ms: Some(t.expires_ms),
                }),
                None => Err(AuthError::IllegalState(
                    "OAUTHBEARER is not configured".into(),
                )),
            },
            State::AwaitingToken(Mechanism::Scram(m)) => {
                self.scram_step(agent, m, ScramServer::new(m), &token)
            }
            State::Scram(m, server) => self.scram_step(agent, m, server, &token),
        };
        match result {
            Ok(Step::Continue(bytes)) => {
                let mut resp = SaslAuthenticateResponse::default();
                resp.auth_bytes = bytes;
                reply(ResponseKind::SaslAuthenticate(resp))
            }
            Ok(Step::Done {
                mech,
                user,
                reply: bytes,
                expires_ms,
            }) => {
                let principal = format!("User:{user}");
                if let Some(prev) = self.principal.as_ref().filter(|p| **p != principal) {
                    tracing::warn!(previous = %prev, principal = %principal, "re-authentication changed principal");
                    return fail(
                        ResponseError::SaslAuthenticationFailed,
                        "Cannot change principals during re-authentication".into(),
                        SaslClose::PrincipalChanged,
                    );
                }
                let mut resp = SaslAuthenticateResponse::default();
                resp.auth_bytes = bytes;
                // The session ends at connections.max.reauth.ms, and never after the token.
                let mut lifetime = agent.cfg.max_reauth;
                if let Some(exp) = expires_ms {
                    let left = Duration::from_millis((exp - crate::clock::now_ms()).max(0) as u64);
                    lifetime = Some(lifetime.map_or(left, |l| l.min(left)));
                }
                if let Some(l) = lifetime {
                    self.expires = Some(Instant::now() + l);
                    if version >= 1 {
                        resp.session_lifetime_ms = l.as_millis() as i64;
                    }
                }
                self.principal = Some(principal);
                self.mechanism = Some(mech);
                self.state = State::Authenticated;
                self.reauth_capable = version >= 1;
                tracing::info!(mechanism = mech.name(), user = %user, reauth, "SASL authentication succeeded");
                reply(ResponseKind::SaslAuthenticate(resp))
            }
            Err(e) => {
                tracing::warn!(error = %e, "SASL authentication failed");
                // Kafka's SaslServerAuthenticator: a mechanism's own refusal is passed on; any
                // other failure is reported without detail, naming the mechanism.
                let during = if reauth {
                    "re-authentication"
                } else {
                    "authentication"
                };
                let generic = format!(
                    "Authentication failed during {during} due to invalid credentials with SASL mechanism {mechanism}"
                );
                let (code, message) = match &e {
                    AuthError::Rejected(m) => (ResponseError::SaslAuthenticationFailed, m.clone()),
                    AuthError::InvalidCredentials { .. } if mechanism == "PLAIN" => (
                        ResponseError::SaslAuthenticationFailed,
                        "Authentication failed: Invalid username or password".to_string(),
                    ),
                    AuthError::InvalidCredentials { .. } | AuthError::Malformed(_) => {
                        (ResponseError::SaslAuthenticationFailed, generic)
                    }
                    AuthError::InvalidToken(m) => (
                        ResponseError::SaslAuthenticationFailed,
                        format!("Authentication failed: invalid token: {m}"),
                    ),
                    AuthError::IllegalState(m) => (ResponseError::IllegalSaslState, m.clone()),
                };
                fail(code, message, SaslClose::Failed(e))
            }
        }
    }

    fn scram_step(
        &mut self,
        agent: &Agent,
        m: ScramMechanism,
        mut server: ScramServer,
        token: &[u8],
    ) -> Result<Step, AuthError> {
        let lookup = |user: &str| {
            agent.read(|s| {
                s.scram_users
                    .get(user)
                    .and_then(|c| c.get(&m.id()))
                    .cloned()
            })
        };
        match server.step(token, lookup)? {
            ScramStep::Continue(bytes) => {
                self.state = State::Scram(m, server);
                Ok(Step::Continue(Bytes::from(bytes)))
            }
            ScramStep::Success { user, reply } => Ok(Step::Done {
                mech: Mechanism::Scram(m),
                user,
                reply: Bytes::from(reply),
                expires_ms: None,
            }),
        }
    }
}

/// Where one SaslAuthenticate left the exchange.
enum Step {
    Continue(Bytes),
    Done {
        mech: Mechanism,
        user: String,
        reply: Bytes,
        /// When the credential itself expires (OAUTHBEARER tokens), ms since the epoch.
        expires_ms: Option<i64>,
    },
}

/// Every SCRAM credential of `user`, SHA-512 first.
fn lookup_all(
    agent: &Agent,
    user: &str,
) -> Vec<(ScramMechanism, sluice_meta::state::ScramCredential)> {
    agent.read(|s| {
        s.scram_users
            .get(user)
            .map(|creds| {
                creds
                    .iter()
                    .rev()
                    .filter_map(|(id, c)| Some((ScramMechanism::from_id(*id)?, c.clone())))
                    .collect()
            })
            .unwrap_or_default()
    })
}

fn reply(response: ResponseKind) -> SaslReply {
    SaslReply {
        response: Some(response),
        close_after: None,
    }
}

fn close(response: ResponseKind, why: SaslClose) -> SaslReply {
    SaslReply {
        response: Some(response),
        close_after: Some(why),
    }
}

/// What Kafka's request handler (`KafkaApis.handleSaslHandshakeRequest` /
/// `handleSaslAuthenticateRequest`) answers a SASL request that reaches it: on an authenticated
/// connection that is not re-authenticating, or on a listener without SASL. ILLEGAL_SASL_STATE
/// (an empty mechanism list; Kafka's message), and the connection stays open.
pub fn after_authentication(api: ApiKey) -> SaslReply {
    let response = if api == ApiKey::SaslHandshake {
        let mut resp = SaslHandshakeResponse::default();
        resp.error_code = ResponseError::IllegalSaslState.code();
        ResponseKind::SaslHandshake(resp)
    } else {
        let mut resp = SaslAuthenticateResponse::default();
        resp.error_code = ResponseError::IllegalSaslState.code();
        resp.error_message = Some(str_bytes(
            "SaslAuthenticate request received after successful authentication",
        ));
        ResponseKind::SaslAuthenticate(resp)
    };
    reply(response)
}

/// How long a session lasts when `connections.max.reauth.ms` is set.
pub fn lifetime(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sasl_and_api_versions_before_authentication() {
        let conn = SaslConn::new();
        let now = Instant::now();
        assert!(conn.may_serve(ApiKey::ApiVersions, now).is_ok());
        assert!(conn.may_serve(ApiKey::SaslHandshake, now).is_ok());
        let refused = conn.may_serve(ApiKey::Metadata, now).unwrap_err();
        assert!(matches!(&refused, SaslClose::NotAuthenticated { api } if api == "Metadata"));
        assert_eq!(
            refused.to_string(),
            "unexpected Metadata request before SASL authentication"
        );
    }

    #[test]
    fn an_expired_session_closes_the_connection() {
        let now = Instant::now();
        let mut conn = SaslConn::new();
        conn.principal = Some("User:alice".into());
        conn.expires = Some(now);
        let refused = conn
            .may_serve_named("StreamsGroupHeartbeat", false, now)
            .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "SASL session of User:alice expired without re-authentication (StreamsGroupHeartbeat request)"
        );
        conn.expires = Some(now + Duration::from_secs(1));
        assert!(conn.may_serve(ApiKey::Metadata, now).is_ok());
    }
}
