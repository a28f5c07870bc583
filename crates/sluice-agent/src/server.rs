//! Kafka connections: frames in, ordered responses out.
//!
//! A reader task pulls frames off the socket (so a slow handler never leaves a half-read frame
//! behind); the connection loop decodes each and dispatches it. Up to
//! `max_in_flight_per_connection` requests run at once, as pipelining clients expect, and their
//! responses are written strictly in request order, as the protocol requires.
//!
//! Each listener ([`ListenerCtx`]) has a security protocol: TLS listeners finish the rustls
//! handshake before the first frame; SASL listeners run [`SaslConn`] in the loop, serving only
//! ApiVersions / SaslHandshake / SaslAuthenticate until the client has authenticated, with
//! frames bounded by [`MAX_SASL_FRAME_BYTES`] until then. Every other request is handed to
//! [`dispatch`] with a [`RequestContext`] naming its listener, principal and peer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{FuturesOrdered, StreamExt};
use kafka_protocol::messages::api_versions_response::ApiVersionsResponse;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::{RequestKind, ResponseKind};
use sluice_protocol::chunked::{encode_fetch_response, Chunks};
use sluice_protocol::codec::{
    decode_request, decode_streams_request, encode_message, encode_response, DecodeError,
};
use sluice_protocol::frame::{read_frame_limited, FrameError};
use sluice_protocol::versions::api_versions;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::agent::Agent;
use crate::dispatch::{dispatch, Reply, ANSWERED_BY_CONNECTION};
use crate::listener::SecurityProtocol;
use crate::request::{RequestContext, ANONYMOUS};
use crate::sasl::{after_authentication, SaslConn, SaslReply, MAX_SASL_FRAME_BYTES};

/// How long a client may take over the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a listener's connections share.
pub struct ListenerCtx {
    /// The listener name clients connected on (Metadata answers with its endpoints).
    pub name: String,
    /// What the listener speaks.
    pub protocol: SecurityProtocol,
    /// Present exactly for SSL and SASL_SSL.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl ListenerCtx {
    /// The `PLAINTEXT` listener: no TLS, no SASL.
    pub fn plaintext() -> Self {
        ListenerCtx {
            name: SecurityProtocol::Plaintext.name().into(),
            protocol: SecurityProtocol::Plaintext,
            tls: None,
        }
    }
}

/// Accepts PLAINTEXT connections until the agent shuts down.
pub async fn serve(agent: Arc<Agent>, listener: TcpListener) {
    serve_listener(agent, listener, Arc::new(ListenerCtx::plaintext())).await
}

/// Accepts connections of one listener until the agent shuts down.
pub async fn serve_listener(agent: Arc<Agent>, listener: TcpListener, ctx: Arc<ListenerCtx>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    let _ = sock.set_nodelay(true);
                    metrics::counter!("sluice_connections_total").increment(1);
                    let span = tracing::debug_span!("conn", %peer, listener = %ctx.name);
                    let (agent, ctx) = (agent.clone(), ctx.clone());
                    conns.spawn(async move {
                        match ctx.tls.clone() {
                            None => handle_connection(agent, sock, ctx, peer.ip()).await,
                            Some(acceptor) => {
                                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(sock)).await {
                                    Ok(Ok(tls)) => handle_connection(agent, tls, ctx, peer.ip()).await,
                                    Ok(Err(e)) => tracing::warn!(error = %e, "TLS handshake failed"),
                                    Err(_) => tracing::warn!("TLS handshake timed out"),
                                }
                            }
                        }
                    }.instrument(span));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = agent.shutdown.cancelled() => break,
        }
    }
    conns.shutdown().await;
}

/// A request being served: its API, version, correlation id, reply, and whether the connection
/// closes once the reply is written.
type InFlight = std::pin::Pin<
    Box<dyn std::future::Future<Output = (ApiKey, i16, i32, Reply, Option<String>)> + Send>,
>;

/// SaslHandshake / SaslAuthenticate: connection state, so the connection answers them itself.
/// On a listener without SASL they reach what Kafka's request handler answers: ILLEGAL_SASL_STATE,
/// the connection kept.
async fn sasl_request(
    agent: &Agent,
    sasl: Option<&mut SaslConn>,
    req: sluice_protocol::codec::Request,
) -> SaslReply {
    match (sasl, req.body) {
        (Some(s), RequestKind::SaslHandshake(r)) => s.handshake(agent, r, req.version),
        (Some(s), RequestKind::SaslAuthenticate(r)) => s.authenticate(agent, r, req.version).await,
        (_, _) => {
            tracing::debug!(api = ?req.api, "SASL request on a listener without SASL");
            after_authentication(req.api)
        }
    }
}

/// The context of one request on this connection.
fn request_context(
    agent: &Arc<Agent>,
    version: i16,
    client: &str,
    sasl: Option<&SaslConn>,
    peer: &str,
    ctx: &ListenerCtx,
) -> RequestContext {
    RequestContext {
        agent: agent.clone(),
        api_version: version,
        client_id: client.to_string(),
        principal: sasl
            .and_then(|s| s.principal())
            .unwrap_or(ANONYMOUS)
            .to_string(),
        peer: peer.to_string(),
        listener: ctx.name.clone(),
        protocol: ctx.protocol,
    }
}

enum Ended {
    Clean,
    Closed(String),
}

async fn handle_connection<S>(
    agent: Arc<Agent>,
    sock: S,
    ctx: Arc<ListenerCtx>,
    peer: std::net::IpAddr,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(sock);
    let peer = peer.to_string();
    let mut sasl = ctx.protocol.sasl().then(SaslConn::new);
    // Until a SASL client authenticates, frames are bounded by Kafka's SASL receive size.
    let limit = Arc::new(AtomicUsize::new(if sasl.is_some() {
        MAX_SASL_FRAME_BYTES.min(agent.cfg.max_request_bytes)
    } else {
        agent.cfg.max_request_bytes
    }));
    let reader_limit = limit.clone();
    let depth = agent.cfg.max_in_flight_per_connection.max(1);
    let (tx, mut frames) = mpsc::channel::<Result<Bytes, FrameError>>(depth);
    let reader = tokio::spawn(async move {
        loop {
            let r = read_frame_limited(&mut rd, || reader_limit.load(Ordering::Relaxed)).await;
            let stop = !matches!(r, Ok(Some(_)));
            let item = match r {
                Ok(Some(f)) => Ok(f),
                Ok(None) => break,
                Err(e) => Err(e),
            };
            if tx.send(item).await.is_err() || stop {
                break;
            }
        }
    });
    let mut inflight: FuturesOrdered<InFlight> = FuturesOrdered::new();
    let ended = loop {
        tokio::select! {
            frame = frames.recv(), if inflight.len() < depth => {
                let frame = match frame {
                    None => break Ended::Clean,
                    Some(Err(e)) => break Ended::Closed(format!("bad frame: {e}")),
                    Some(Ok(f)) => f,
                };
                // After a v0 SaslHandshake, frames are raw SASL tokens until authenticated.
                if let Some(s) = sasl.as_mut().filter(|s| s.expects_raw_token()) {
                    match s.raw_token(&agent, frame).await {
                        Ok(token) => {
                            if s.principal().is_some() {
                                limit.store(agent.cfg.max_request_bytes, Ordering::Relaxed);
                            }
                            inflight.push_back(Box::pin(std::future::ready(
                                (ApiKey::SaslAuthenticate, 0i16, 0, Reply::Raw(token), None),
                            )) as InFlight);
                            continue;
                        }
                        Err(why) => break Ended::Closed(why.to_string()),
                    }
                }
                if let Some(decoded) = decode_streams_request(&frame) {
                    let req = match decoded {
                        Ok(req) => req,
                        Err(why) => break Ended::Closed(why.to_string()),
                    };
                    let (name, version, corr) = (req.body.api_name(), req.version, req.header.correlation_id);
                    if let Some(s) = &sasl {
                        if let Err(why) = s.may_serve_named(name, false, Instant::now()) {
                            break Ended::Closed(why.to_string());
                        }
                    }
                    let client = req.header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default();
                    let cx = request_context(&agent, version, &client, sasl.as_ref(), &peer, &ctx);
                    let span = tracing::debug_span!("request", api = name, version, correlation_id = corr, client_id = %client);
                    metrics::counter!("sluice_requests_total", "api" => name).increment(1);
                    let started = std::time::Instant::now();
                    let fut = crate::handlers::streams_group::serve(cx, req);
                    inflight.push_back(Box::pin(async move {
                        let reply = fut.instrument(span).await;
                        metrics::histogram!("sluice_request_seconds", "api" => name).record(started.elapsed().as_secs_f64());
                        // The key is not used for a complete frame.
                        (ApiKey::ApiVersions, version, corr, reply, None)
                    }) as InFlight);
                    continue;
                }
                match decode_request(frame) {
                    Ok(req) if ANSWERED_BY_CONNECTION.contains(&req.api) => {
                        let (api, version, corr) = (req.api, req.version, req.header.correlation_id);
                        let SaslReply { response, close_after } = sasl_request(&agent, sasl.as_mut(), req).await;
                        if sasl.as_ref().is_some_and(|s| s.principal().is_some()) {
                            limit.store(agent.cfg.max_request_bytes, Ordering::Relaxed);
                        }
                        let close_after = close_after.map(|why| why.to_string());
                        let reply = match (response, close_after) {
                            (Some(r), close_after) => (Reply::Response(Box::new(r)), close_after),
                            (None, why) => (Reply::Close(why.unwrap_or_default()), None),
                        };
                        inflight.push_back(Box::pin(std::future::ready(
                            (api, version, corr, reply.0, reply.1),
                        )) as InFlight);
                    }
                    Ok(req) => {
                        let (api, version, corr) = (req.api, req.version, req.header.correlation_id);
                        if let Some(s) = &sasl {
                            if let Err(why) = s.may_serve(api, Instant::now()) {
                                break Ended::Closed(why.to_string());
                            }
                        }
                        let client = req.header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default();
                        let cx = request_context(&agent, version, &client, sasl.as_ref(), &peer, &ctx);
                        let span = tracing::debug_span!("request", ?api, version, correlation_id = corr, client_id = %client);
                        metrics::counter!("sluice_requests_total", "api" => format!("{api:?}")).increment(1);
                        let started = std::time::Instant::now();
                        let fut = dispatch(cx, req).instrument(span.clone()).await;
                        inflight.push_back(Box::pin(async move {
                            let reply = fut.instrument(span).await;
                            metrics::histogram!("sluice_request_seconds", "api" => format!("{api:?}")).record(started.elapsed().as_secs_f64());
                            (api, version, corr, reply, None)
                        }) as InFlight);
                    }
                    Err(DecodeError::UnsupportedVersion { api: ApiKey::ApiVersions, version, correlation_id }) => {
                        // Kafka answers an ApiVersions it cannot parse in v0 with the full table, so
                        // the client can pick a version both sides speak.
                        tracing::info!(version, "ApiVersions version not supported; answering v0 fallback");
                        let mut body = ApiVersionsResponse::default();
                        body.error_code = kafka_protocol::error::ResponseError::UnsupportedVersion.code();
                        body.api_keys = api_versions();
                        match encode_message(ApiKey::ApiVersions, 0, correlation_id, &body) {
                            Ok(b) => {
                                if wr.write_all(&b).await.is_err() {
                                    break Ended::Closed("write failed".into());
                                }
                            }
                            Err(e) => break Ended::Closed(e.to_string()),
                        }
                    }
                    Err(e) => break Ended::Closed(e.to_string()),
                }
            }
            Some((api, version, corr, reply, close_after)) = inflight.next(), if !inflight.is_empty() => {
                let body = match reply {
                    Reply::Response(body) => body,
                    Reply::NoResponse => continue,
                    Reply::Raw(token) => {
                        let mut out = Vec::with_capacity(4 + token.len());
                        out.extend_from_slice(&(token.len() as i32).to_be_bytes());
                        out.extend_from_slice(&token);
                        if let Err(e) = wr.write_all(&out).await {
                            break Ended::Closed(format!("write failed: {e}"));
                        }
                        continue;
                    }
                    Reply::Frame(frame) => {
                        if let Err(e) = wr.write_all(&frame).await {
                            break Ended::Closed(format!("write failed: {e}"));
                        }
                        continue;
                    }
                    Reply::Close(why) => break Ended::Closed(why),
                };
                // Fetch responses go out as chunks: record batches straight from the block
                // cache, not copied into the frame (sluice_protocol::chunked).
                let encoded = match &*body {
                    ResponseKind::Fetch(f) => encode_fetch_response(version, corr, f),
                    _ => encode_response(api, version, corr, &body).map(|b| Chunks::new(vec![b])),
                };
                match encoded {
                    Ok(mut chunks) => {
                        if let Err(e) = wr.write_all_buf(&mut chunks).await {
                            break Ended::Closed(format!("write failed: {e}"));
                        }
                        if let Some(why) = close_after {
                            let _ = wr.flush().await;
                            break Ended::Closed(why);
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "response encoding failed");
                        break Ended::Closed(e.to_string());
                    }
                }
            }
        }
    };
    // Let in-flight work (e.g. acks=0 produces already appended) finish without answering.
    while inflight.next().await.is_some() {}
    reader.abort();
    match ended {
        Ended::Clean => tracing::debug!("connection closed by client"),
        Ended::Closed(why) => {
            metrics::counter!("sluice_connections_closed_on_error_total").increment(1);
            tracing::warn!(reason = %why, "closing connection");
        }
    }
    let _ = wr.shutdown().await;
}
