//! `--fault-injection-listen`: an agent's object store wrapped in a
//! [`FailingObjectStore`](sluice_storage::fault::FailingObjectStore) whose faults are switched
//! over HTTP while the agent runs. For tests and drills only: nothing is injected until asked.
//!
//! - `GET /faults`: the current [`FaultConfig`] and [`FaultStats`](sluice_storage::fault::FaultStats).
//! - `POST /faults` with a `FaultConfig` (missing fields are 0): replaces it; `{}` clears all.
//!
//! The draws come from a seeded generator: the seed is printed at start and shown in the stats;
//! `--fault-injection-seed` replays it.
//!
//! ```sh
//! curl -XPOST localhost:9601/faults -d '{"put_error_rate":0.2,"latency_ms":20}'
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sluice_storage::fault::{FailingObjectStore, FaultConfig, FaultInjector};
use tokio::task::JoinHandle;

/// The HTTP endpoint switching an agent's object-store faults; stops when dropped.
pub struct FaultEndpoint {
    task: JoinHandle<()>,
}

impl Drop for FaultEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Wraps `store` in a fault injector driven from `listen`; `None` leaves the store untouched.
pub async fn install(
    store: Arc<dyn sluice_storage::fault::DynObjectStore>,
    listen: Option<SocketAddr>,
    seed: Option<u64>,
) -> anyhow::Result<(
    Arc<dyn sluice_storage::fault::DynObjectStore>,
    Option<FaultEndpoint>,
)> {
    let Some(addr) = listen else {
        return Ok((store, None));
    };
    let faults = Arc::new(seed.map_or_else(FaultInjector::default, FaultInjector::with_seed));
    let seed = faults.seed();
    let wrapped = Arc::new(FailingObjectStore::new(store, faults.clone()));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let bound = listener.local_addr()?;
    let router = Router::new()
        .route("/faults", get(show).post(set))
        .with_state(faults);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "fault injection endpoint failed");
        }
    });
    println!("fault injection on http://{bound}/faults (seed {})", seed);
    Ok((wrapped, Some(FaultEndpoint { task })))
}

async fn show(State(f): State<Arc<FaultInjector>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "config": f.config(), "stats": f.stats() }))
}

async fn set(State(f): State<Arc<FaultInjector>>, Json(cfg): Json<FaultConfig>) -> Response {
    if let Err(e) = cfg.validate() {
        return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
    }
    f.set(cfg);
    show(State(f)).await.into_response()
}
