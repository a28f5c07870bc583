//! Kafka connections: frames in, ordered responses out.
//!
//! A reader task pulls frames off the socket (so a slow handler never leaves a half-read frame
//! behind); the connection loop decodes each and dispatches it. Up to
//! `max_in_flight_per_connection` requests run at once, as pipelining clients expect, and their
//! responses are written strictly in request order, as the protocol requires.

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{FuturesOrdered, StreamExt};
use kafka_protocol::messages::api_versions_response::ApiVersionsResponse;
use kafka_protocol::messages::ApiKey;
use sluice_protocol::codec::{decode_request, encode_message, encode_response, DecodeError};
use sluice_protocol::frame::{read_frame, FrameError};
use sluice_protocol::versions::api_versions;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::agent::Agent;
use crate::dispatch::{dispatch, Reply};

/// Accepts connections until the agent shuts down.
pub async fn serve(agent: Arc<Agent>, listener: TcpListener) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    let _ = sock.set_nodelay(true);
                    metrics::counter!("sluice_connections_total").increment(1);
                    let span = tracing::debug_span!("conn", %peer);
                    conns.spawn(handle_connection(agent.clone(), sock).instrument(span));
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

enum Ended {
    Clean,
    Closed(String),
}

async fn handle_connection(agent: Arc<Agent>, sock: TcpStream) {
    let (mut rd, mut wr) = sock.into_split();
    let max = agent.cfg.max_request_bytes;
    let depth = agent.cfg.max_in_flight_per_connection.max(1);
    let (tx, mut frames) = mpsc::channel::<Result<Bytes, FrameError>>(depth);
    let reader = tokio::spawn(async move {
        loop {
            let r = read_frame(&mut rd, max).await;
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
    let mut inflight = FuturesOrdered::new();
    let ended = loop {
        tokio::select! {
            frame = frames.recv(), if inflight.len() < depth => {
                let frame = match frame {
                    None => break Ended::Clean,
                    Some(Err(e)) => break Ended::Closed(format!("bad frame: {e}")),
                    Some(Ok(f)) => f,
                };
                match decode_request(frame) {
                    Ok(req) => {
                        let (api, version, corr) = (req.api, req.version, req.header.correlation_id);
                        let client = req.header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default();
                        let span = tracing::debug_span!("request", ?api, version, correlation_id = corr, client_id = %client);
                        metrics::counter!("sluice_requests_total", "api" => format!("{api:?}")).increment(1);
                        let started = std::time::Instant::now();
                        let fut = dispatch(agent.clone(), req).instrument(span.clone()).await;
                        inflight.push_back(async move {
                            let reply = fut.instrument(span).await;
                            metrics::histogram!("sluice_request_seconds", "api" => format!("{api:?}")).record(started.elapsed().as_secs_f64());
                            (api, version, corr, reply)
                        });
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
            Some((api, version, corr, reply)) = inflight.next(), if !inflight.is_empty() => {
                let body = match reply {
                    Reply::Response(body) => body,
                    Reply::NoResponse => continue,
                    Reply::Close(why) => break Ended::Closed(why),
                };
                match encode_response(api, version, corr, &body) {
                    Ok(bytes) => {
                        if let Err(e) = wr.write_all(&bytes).await {
                            break Ended::Closed(format!("write failed: {e}"));
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
