//! The `--metrics-listen` HTTP listener of every role: Prometheus metrics and health checks.
//!
//! - `GET /metrics`: the Prometheus text exposition of every metric of the process.
//! - `GET /health/live`: `200` while the process serves HTTP (liveness: restart it if not).
//! - `GET /health/ready`: `200 {"ready":true}` once the role can serve, else
//!   `503 {"ready":false,"reason":"..."}` (readiness: send it traffic or not). Not ready while
//!   starting (before the role installs its check with [`Health::set_check`]), when the check
//!   fails, and from the start of shutdown ([`Health::shutting_down`]).
//!
//! The listener starts first, so load balancers and probes see "alive, not ready" during a
//! slow start (a meta node waiting for its peers, an agent checking its bucket).

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often histograms and summaries are compacted (the exporter's "upkeep").
const UPKEEP_EVERY: Duration = Duration::from_secs(5);
/// Longest one readiness check may take (a store probe on a slow network counts as not ready).
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// A role's readiness check: `Ok` when ready, else why not.
pub type ReadyCheck = Arc<dyn Fn() -> BoxFuture<'static, Result<(), NotReady>> + Send + Sync>;

/// Why a role is not ready. Its Display (one line) is the `reason` of `/health/ready`'s `503`
/// answer.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    /// The role has not installed its check yet ([`Health::set_check`]).
    #[error("starting")]
    Starting,
    /// The role is draining ([`Health::shutting_down`]).
    #[error("shutting down")]
    ShuttingDown,
    /// The check did not answer within this long (a store probe on a slow network).
    #[error("readiness check took over {} s", .0.as_secs())]
    CheckTimedOut(Duration),
    /// The meta node is not ready (no leader, not a voter, cut off, behind).
    #[error(transparent)]
    MetaNode(sluice_meta::NotReady),
    /// The agent's metadata client is not ready (its replica is behind, or its change feed is
    /// down).
    #[error("metadata: {0}")]
    Metadata(#[source] sluice_meta::NotReady),
    /// The probe of the object store failed ([`sluice_storage::probe_store`]).
    #[error("object store unreachable: {0}")]
    StoreUnreachable(#[source] object_store::Error),
}

/// Readiness as the role reports it; cheap to clone.
#[derive(Clone, Default)]
pub struct Health {
    state: Arc<RwLock<ReadyState>>,
}

#[derive(Default)]
enum ReadyState {
    #[default]
    Starting,
    Checking(ReadyCheck),
    ShuttingDown,
}

impl Health {
    /// Installs the role's check once it has started.
    pub fn set_check(&self, check: ReadyCheck) {
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = ReadyState::Checking(check);
    }

    /// From now on, not ready: the role is draining.
    pub fn shutting_down(&self) {
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = ReadyState::ShuttingDown;
    }

    async fn ready(&self) -> Result<(), NotReady> {
        let check = match &*self.state.read().unwrap_or_else(|e| e.into_inner()) {
            ReadyState::Starting => return Err(NotReady::Starting),
            ReadyState::ShuttingDown => return Err(NotReady::ShuttingDown),
            ReadyState::Checking(check) => check.clone(),
        };
        match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
            Ok(res) => res,
            Err(_) => Err(NotReady::CheckTimedOut(CHECK_TIMEOUT)),
        }
    }
}

/// The running listener; [`HealthServer::shutdown`] stops it.
pub struct HealthServer {
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl HealthServer {
    /// Stops serving and waits for the listener's tasks.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "metrics listener task ended abnormally");
            }
        }
    }
}

/// Installs the Prometheus recorder for the whole process and serves `/metrics`,
/// `/health/live` and `/health/ready` on `addr`.
///
/// Errors: the recorder is already installed, or `addr` cannot be bound.
pub async fn serve(addr: SocketAddr, health: Health) -> anyhow::Result<HealthServer> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(sluice_meta::metrics::RAFT_COMMIT_SECONDS.to_string()),
            sluice_meta::metrics::RAFT_COMMIT_BUCKETS,
        )
        .context("metric buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics listener {addr}"))?;
    let cancel = CancellationToken::new();
    let upkeep = {
        let (handle, cancel) = (handle.clone(), cancel.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(UPKEEP_EVERY) => handle.run_upkeep(),
                    _ = cancel.cancelled() => return,
                }
            }
        })
    };
    let router = Router::new()
        .route("/metrics", get(move || render(handle.clone())))
        .route(
            "/health/live",
            get(|| async { Json(serde_json::json!({"live": true})) }),
        )
        .route("/health/ready", get(move || ready(health.clone())));
    let server = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let res = axum::serve(listener, router)
                .with_graceful_shutdown(cancel.cancelled_owned())
                .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "metrics listener failed");
            }
        })
    };
    println!("metrics on http://{addr}/metrics, health on http://{addr}/health/ready");
    Ok(HealthServer {
        cancel,
        tasks: vec![upkeep, server],
    })
}

async fn render(handle: PrometheusHandle) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        handle.render(),
    )
}

async fn ready(health: Health) -> impl IntoResponse {
    match health.ready().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({"ready": true}))),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"ready": false, "reason": reason.to_string()})),
        ),
    }
}

/// Readiness of an object store: one probe request (see [`sluice_storage::probe_store`]).
pub async fn store_ready(store: &dyn object_store::ObjectStore) -> Result<(), NotReady> {
    sluice_storage::probe_store(store)
        .await
        .map_err(NotReady::StoreUnreachable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_reasons_read_as_before() {
        assert_eq!(
            NotReady::CheckTimedOut(CHECK_TIMEOUT).to_string(),
            "readiness check took over 3 s"
        );
        assert_eq!(
            NotReady::Metadata(sluice_meta::NotReady::NoLeader).to_string(),
            "metadata: no meta leader known"
        );
        assert_eq!(
            NotReady::MetaNode(sluice_meta::NotReady::NoLeader).to_string(),
            "no meta leader known"
        );
    }

    #[tokio::test]
    async fn a_role_is_not_ready_until_its_check_is_installed() {
        let health = Health::default();
        assert!(matches!(health.ready().await, Err(NotReady::Starting)));
        health.set_check(Arc::new(|| Box::pin(async { Ok(()) })));
        assert!(health.ready().await.is_ok());
        health.shutting_down();
        assert!(matches!(health.ready().await, Err(NotReady::ShuttingDown)));
    }
}
