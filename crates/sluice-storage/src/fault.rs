//! Fault injection for the object store: [`FailingObjectStore`] wraps any [`ObjectStore`] and,
//! per operation, fails with a probability, adds latency, or hangs until a simulated timeout.
//!
//! It exists so tests can prove the invariants under a misbehaving store: nothing a producer
//! was told is committed may vanish, and a failed upload never becomes a committed segment.
//! The faults are held by a shared [`FaultInjector`] whose [`FaultConfig`] can be replaced at
//! any time (the `sluice` binary exposes it over HTTP with `--fault-injection-listen`), so a
//! running agent can be made to fail 20% of its PUTs for a while and then recover.
//!
//! Faults per operation class ([`FaultOp`]):
//! - `*_error_rate`: the call fails with [`InjectedFault`] before reaching the store;
//! - `put_lost_ack_rate`: the PUT reaches the store, then the caller is told it failed (the
//!   object exists but its writer believes it does not: an orphan in the making);
//! - `timeout_rate` / `timeout_ms`: the call waits `timeout_ms`, then fails like a client timeout;
//! - `latency_ms` (+ up to `latency_jitter_ms`): added before every call.
//!
//! Every draw comes from one seeded generator ([`FaultInjector::with_seed`]; a default injector
//! picks a seed and logs it, and `/faults` shows it), so a failure found once replays with the
//! same seed, as far as the calls arrive in the same order (single-task tests do; a busy agent's
//! concurrent calls may interleave differently).
//!
//! ```
//! use std::sync::Arc;
//! use object_store::memory::InMemory;
//! use sluice_storage::fault::{FailingObjectStore, FaultConfig, FaultInjector};
//!
//! let faults = Arc::new(FaultInjector::default());
//! let store = FailingObjectStore::new(Arc::new(InMemory::new()), faults.clone());
//! faults.set(FaultConfig { put_error_rate: 0.2, ..FaultConfig::default() });
//! # drop(store);
//! ```

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Which faults to inject, per operation class. All rates are probabilities in `[0, 1]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// PUTs (and multipart uploads) that fail before reaching the store.
    pub put_error_rate: f64,
    /// PUTs that are stored but reported as failed.
    pub put_lost_ack_rate: f64,
    /// GETs (whole, ranges) that fail.
    pub get_error_rate: f64,
    /// LISTs that fail.
    pub list_error_rate: f64,
    /// DELETEs that fail.
    pub delete_error_rate: f64,
    /// Any call that hangs for `timeout_ms`, then fails.
    pub timeout_rate: f64,
    /// How long a simulated timeout hangs.
    pub timeout_ms: u64,
    /// Latency added to every call.
    pub latency_ms: u64,
    /// Extra random latency, uniform in `[0, latency_jitter_ms]`.
    pub latency_jitter_ms: u64,
}

/// A [`FaultConfig`] rate outside `[0, 1]`: which field, and its value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field} must be within [0, 1], got {value}")]
pub struct InvalidRate {
    /// The field's name, as in the JSON of `POST /faults`.
    pub field: &'static str,
    /// The value given.
    pub value: f64,
}

impl FaultConfig {
    /// Rejects rates outside `[0, 1]` (NaN included).
    ///
    /// # Errors
    /// [`InvalidRate`] naming the first such field.
    pub fn validate(&self) -> std::result::Result<(), InvalidRate> {
        let rates = [
            ("put_error_rate", self.put_error_rate),
            ("put_lost_ack_rate", self.put_lost_ack_rate),
            ("get_error_rate", self.get_error_rate),
            ("list_error_rate", self.list_error_rate),
            ("delete_error_rate", self.delete_error_rate),
            ("timeout_rate", self.timeout_rate),
        ];
        for (name, r) in rates {
            if !(0.0..=1.0).contains(&r) {
                return Err(InvalidRate {
                    field: name,
                    value: r,
                });
            }
        }
        Ok(())
    }
}

/// An operation class faults are drawn for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    /// `put_opts`, `put_multipart_opts`.
    Put,
    /// `get_opts`, `get_ranges`.
    Get,
    /// `list`, `list_with_offset`, `list_with_delimiter`.
    List,
    /// `delete_stream`.
    Delete,
    /// `copy_opts`, `rename_opts`.
    Copy,
}

impl FaultOp {
    fn name(self) -> &'static str {
        match self {
            FaultOp::Put => "put",
            FaultOp::Get => "get",
            FaultOp::List => "list",
            FaultOp::Delete => "delete",
            FaultOp::Copy => "copy",
        }
    }
}

/// The error an injected fault surfaces as (inside `object_store::Error::Generic`).
#[derive(Debug, thiserror::Error)]
pub enum InjectedFault {
    /// The call failed before reaching the store.
    #[error("injected {0} failure")]
    Error(&'static str),
    /// The call hung, then failed.
    #[error("injected {0} timeout")]
    Timeout(&'static str),
    /// The PUT was stored, but its success was not reported.
    #[error("injected lost acknowledgement of a put")]
    LostAck,
}

impl InjectedFault {
    fn into_store_error(self) -> object_store::Error {
        object_store::Error::Generic {
            store: "FailingObjectStore",
            source: Box::new(self),
        }
    }
}

/// Counts of injected faults since start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FaultStats {
    /// Calls that passed through the wrapper.
    pub calls: u64,
    /// Calls failed before reaching the store.
    pub errors: u64,
    /// Calls that hung, then failed.
    pub timeouts: u64,
    /// PUTs stored but reported as failed.
    pub lost_acks: u64,
    /// The seed the injector's generator started from (replays the draws).
    pub seed: u64,
}

/// The shared, runtime-switchable fault settings, their seeded generator and their counters.
#[derive(Debug)]
pub struct FaultInjector {
    cfg: RwLock<FaultConfig>,
    seed: u64,
    rng: Mutex<StdRng>,
    calls: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    lost_acks: AtomicU64,
}

impl Default for FaultInjector {
    /// No faults, and a random seed (logged: pass it to [`FaultInjector::with_seed`] to replay).
    fn default() -> Self {
        let seed = rand::random();
        tracing::info!(seed, "object store fault injector seeded");
        Self::with_seed(seed)
    }
}

/// What to do with one call, decided before it runs.
enum Verdict {
    Pass,
    Fail(InjectedFault),
    LoseAck,
}

impl FaultInjector {
    /// No faults yet; every later draw (rates, jitter) from a generator seeded with `seed`.
    pub fn with_seed(seed: u64) -> Self {
        FaultInjector {
            cfg: RwLock::default(),
            seed,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            lost_acks: AtomicU64::new(0),
        }
    }

    /// The seed this injector's draws started from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Replaces the fault settings (takes effect for calls that start afterwards).
    pub fn set(&self, cfg: FaultConfig) {
        tracing::warn!(?cfg, "object store fault injection changed");
        *self.cfg.write().unwrap_or_else(|e| e.into_inner()) = cfg;
    }

    /// The current settings.
    pub fn config(&self) -> FaultConfig {
        self.cfg.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Counters of what was injected so far.
    pub fn stats(&self) -> FaultStats {
        FaultStats {
            calls: self.calls.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            lost_acks: self.lost_acks.load(Ordering::Relaxed),
            seed: self.seed,
        }
    }

    /// Sleeps the configured latency, then draws this call's fate (a timeout sleeps too).
    async fn decide(&self, op: FaultOp) -> Verdict {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let cfg = self.config();
        let (delay, timeout, error, lose) = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            let jitter = if cfg.latency_jitter_ms > 0 {
                rng.random_range(0..=cfg.latency_jitter_ms)
            } else {
                0
            };
            let rate = match op {
                FaultOp::Put => cfg.put_error_rate,
                FaultOp::Get => cfg.get_error_rate,
                FaultOp::List => cfg.list_error_rate,
                FaultOp::Delete => cfg.delete_error_rate,
                FaultOp::Copy => 0.0,
            };
            (
                cfg.latency_ms + jitter,
                rng.random_bool(cfg.timeout_rate),
                rng.random_bool(rate),
                op == FaultOp::Put && rng.random_bool(cfg.put_lost_ack_rate),
            )
        };
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if timeout {
            tokio::time::sleep(Duration::from_millis(cfg.timeout_ms)).await;
            self.timeouts.fetch_add(1, Ordering::Relaxed);
            return Verdict::Fail(InjectedFault::Timeout(op.name()));
        }
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
            return Verdict::Fail(InjectedFault::Error(op.name()));
        }
        if lose {
            self.lost_acks.fetch_add(1, Ordering::Relaxed);
            return Verdict::LoseAck;
        }
        Verdict::Pass
    }

    /// `Err` for calls that must not reach the store (lost acks pass: the caller handles them).
    async fn gate(&self, op: FaultOp) -> Result<bool> {
        match self.decide(op).await {
            Verdict::Pass => Ok(false),
            Verdict::LoseAck => Ok(true),
            Verdict::Fail(f) => Err(f.into_store_error()),
        }
    }
}

/// `dyn ObjectStore`, named for callers that do not depend on `object_store` themselves.
pub use object_store::ObjectStore as DynObjectStore;

/// An [`ObjectStore`] that injects the faults of a [`FaultInjector`] in front of another store.
#[derive(Debug)]
pub struct FailingObjectStore {
    inner: Arc<dyn ObjectStore>,
    faults: Arc<FaultInjector>,
}

impl FailingObjectStore {
    /// Wraps `inner`; faults follow `faults`, which starts (by default) with none.
    pub fn new(inner: Arc<dyn ObjectStore>, faults: Arc<FaultInjector>) -> Self {
        FailingObjectStore { inner, faults }
    }

    /// A stream that first passes the gate of `op`, then yields `inner`'s items.
    fn gated_stream<T: Send + 'static>(
        &self,
        op: FaultOp,
        inner: BoxStream<'static, Result<T>>,
    ) -> BoxStream<'static, Result<T>> {
        let faults = self.faults.clone();
        let mut inner = Some(inner);
        stream::once(async move { faults.gate(op).await })
            .flat_map(move |gate| match (gate, inner.take()) {
                (Ok(_), Some(inner)) => inner,
                (Ok(_), None) => stream::empty().boxed(),
                (Err(e), _) => stream::once(async move { Err(e) }).boxed(),
            })
            .boxed()
    }
}

impl fmt::Display for FailingObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FailingObjectStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FailingObjectStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let lose_ack = self.faults.gate(FaultOp::Put).await?;
        let res = self.inner.put_opts(location, payload, opts).await?;
        if lose_ack {
            return Err(InjectedFault::LostAck.into_store_error());
        }
        Ok(res)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.faults.gate(FaultOp::Put).await?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.faults.gate(FaultOp::Get).await?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.faults.gate(FaultOp::Get).await?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let inner = self.inner.delete_stream(locations);
        self.gated_stream(FaultOp::Delete, inner)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let inner = self.inner.list(prefix);
        self.gated_stream(FaultOp::List, inner)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let inner = self.inner.list_with_offset(prefix, offset);
        self.gated_stream(FaultOp::List, inner)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.faults.gate(FaultOp::List).await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.faults.gate(FaultOp::Copy).await?;
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;
    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    use super::*;

    fn store() -> (Arc<InMemory>, Arc<FaultInjector>, FailingObjectStore) {
        let inner = Arc::new(InMemory::new());
        let faults = Arc::new(FaultInjector::default());
        let s = FailingObjectStore::new(inner.clone(), faults.clone());
        (inner, faults, s)
    }

    #[tokio::test]
    async fn passes_everything_through_without_faults() {
        let (_, faults, s) = store();
        let p = Path::from("segments/a.seg");
        s.put(&p, PutPayload::from_static(b"abc")).await.unwrap();
        assert_eq!(s.get(&p).await.unwrap().bytes().await.unwrap(), "abc");
        assert_eq!(s.list(None).try_collect::<Vec<_>>().await.unwrap().len(), 1);
        s.delete(&p).await.unwrap();
        assert_eq!(faults.stats().errors, 0);
    }

    #[tokio::test]
    async fn put_errors_never_reach_the_store() {
        let (inner, faults, s) = store();
        faults.set(FaultConfig {
            put_error_rate: 1.0,
            ..FaultConfig::default()
        });
        let p = Path::from("segments/a.seg");
        let err = s
            .put(&p, PutPayload::from_static(b"abc"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("injected put failure"), "{err}");
        assert!(inner.head(&p).await.is_err());
        assert_eq!(faults.stats().errors, 1);
        // switched off at runtime: the next put goes through
        faults.set(FaultConfig::default());
        s.put(&p, PutPayload::from_static(b"abc")).await.unwrap();
        assert!(inner.head(&p).await.is_ok());
    }

    #[tokio::test]
    async fn lost_acks_store_the_object_but_report_failure() {
        let (inner, faults, s) = store();
        faults.set(FaultConfig {
            put_lost_ack_rate: 1.0,
            ..FaultConfig::default()
        });
        let p = Path::from("segments/b.seg");
        assert!(s.put(&p, PutPayload::from_static(b"x")).await.is_err());
        assert!(inner.head(&p).await.is_ok());
        assert_eq!(faults.stats().lost_acks, 1);
    }

    #[tokio::test]
    async fn list_and_get_errors_and_timeouts() {
        let (_, faults, s) = store();
        let p = Path::from("segments/c.seg");
        s.put(&p, PutPayload::from_static(b"x")).await.unwrap();
        faults.set(FaultConfig {
            list_error_rate: 1.0,
            get_error_rate: 1.0,
            ..FaultConfig::default()
        });
        assert!(s.list(None).try_collect::<Vec<_>>().await.is_err());
        assert!(s.get(&p).await.is_err());
        faults.set(FaultConfig {
            timeout_rate: 1.0,
            timeout_ms: 20,
            ..FaultConfig::default()
        });
        let started = std::time::Instant::now();
        let err = s.get(&p).await.unwrap_err();
        assert!(err.to_string().contains("timeout"), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(faults.stats().timeouts, 1);
    }

    /// The fates (error or not) of `n` sequential PUTs at a 50% error rate.
    async fn fates(faults: Arc<FaultInjector>, n: usize) -> Vec<bool> {
        let s = FailingObjectStore::new(Arc::new(InMemory::new()), faults.clone());
        faults.set(FaultConfig {
            put_error_rate: 0.5,
            ..FaultConfig::default()
        });
        let mut out = Vec::new();
        for i in 0..n {
            let p = Path::from(format!("segments/{i}.seg"));
            out.push(s.put(&p, PutPayload::from_static(b"x")).await.is_err());
        }
        out
    }

    #[tokio::test]
    async fn one_seed_replays_the_same_faults() {
        let a = fates(Arc::new(FaultInjector::with_seed(42)), 64).await;
        let b = fates(Arc::new(FaultInjector::with_seed(42)), 64).await;
        let c = fates(Arc::new(FaultInjector::with_seed(43)), 64).await;
        assert_eq!(a, b);
        assert_ne!(a, c);
        // a 50% rate over 64 calls: both outcomes occur
        assert!(a.contains(&true) && a.contains(&false), "{a:?}");
        assert_eq!(FaultInjector::with_seed(42).stats().seed, 42);
    }

    #[test]
    fn rates_are_validated() {
        let bad = FaultConfig {
            put_error_rate: 1.5,
            ..FaultConfig::default()
        };
        assert_eq!(
            bad.validate(),
            Err(InvalidRate {
                field: "put_error_rate",
                value: 1.5
            })
        );
        assert!(FaultConfig::default().validate().is_ok());
    }
}
