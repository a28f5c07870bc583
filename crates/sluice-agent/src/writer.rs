//! The segment writer: batches produced to any partition are buffered into one segment, flushed
//! as ONE object by size or age, and committed as ONE metadata command that assigns offsets.
//!
//! Producers are answered only after the commit, so an acknowledged batch is durable in object
//! storage and indexed in the quorum. One flush is in flight at a time; appends accumulate into
//! the next segment meanwhile, and wait when too much is pending (backpressure).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use sluice_meta::command::{
    BatchMeta, BatchOutcome, Command, CommandResponse, PartitionAppend, SegmentCommit,
};
use sluice_meta::MetaClient;
use sluice_protocol::batch::BatchHeader;
use sluice_storage::{BlockCache, SegmentBuilder};
use tokio::sync::{oneshot, Mutex, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::agent::now_ms;
use crate::config::AgentConfig;

/// A partition as the writer groups it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartitionKey {
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("object store write failed: {0}")]
    Upload(String),
    /// The commit's fate is unknown (the quorum did not answer): the client must retry, and
    /// idempotent producers' retries are deduplicated.
    #[error("metadata commit failed: {0}")]
    Commit(String),
    #[error("agent is shutting down")]
    ShuttingDown,
}

type Waiter = (
    Vec<u64>,
    oneshot::Sender<Result<Vec<BatchOutcome>, WriteError>>,
);

struct Pending {
    builder: SegmentBuilder<PartitionKey>,
    metas: std::collections::HashMap<u64, BatchMeta>,
    waiters: Vec<Waiter>,
    next_ticket: u64,
    opened_at: Option<Instant>,
}

impl Pending {
    fn new(next_ticket: u64) -> Self {
        Pending {
            builder: SegmentBuilder::default(),
            metas: Default::default(),
            waiters: Vec::new(),
            next_ticket,
            opened_at: None,
        }
    }
}

struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the flusher (size reached, or first append of a segment).
    wake: Notify,
    /// Wakes appenders waiting for room.
    room: Notify,
    flush_bytes: usize,
    max_pending_bytes: usize,
    linger: Duration,
}

pub struct SegmentWriter {
    shared: Arc<Shared>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl SegmentWriter {
    pub fn start(
        cfg: &AgentConfig,
        agent_id: i32,
        meta: MetaClient,
        cache: Arc<BlockCache>,
        stop: CancellationToken,
    ) -> Self {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::new(0)),
            wake: Notify::new(),
            room: Notify::new(),
            flush_bytes: cfg.flush_bytes,
            max_pending_bytes: cfg.flush_bytes.saturating_mul(4).max(64 << 20),
            linger: cfg.linger,
        });
        let ctx = FlushContext {
            cache,
            sync_root: cfg.local_object_root.clone(),
            max_age: cfg.orphan_grace / 2,
        };
        let task = tokio::spawn(flush_loop(shared.clone(), agent_id, meta, ctx, stop));
        SegmentWriter {
            shared,
            task: std::sync::Mutex::new(Some(task)),
        }
    }

    /// Appends one partition's batches (validated headers alongside) and returns a receiver of
    /// their outcomes. Appends are ordered: call this in request order.
    pub async fn append(
        &self,
        key: PartitionKey,
        batches: Vec<(Bytes, BatchHeader)>,
    ) -> oneshot::Receiver<Result<Vec<BatchOutcome>, WriteError>> {
        let incoming: usize = batches.iter().map(|(b, _)| b.len()).sum();
        loop {
            let room = self.shared.room.notified();
            {
                let mut p = self.shared.pending.lock().await;
                if p.builder.len_bytes() == 0
                    || p.builder.len_bytes() + incoming <= self.shared.max_pending_bytes
                {
                    let (tx, rx) = oneshot::channel();
                    let mut tickets = Vec::with_capacity(batches.len());
                    for (bytes, h) in batches {
                        let t = p.next_ticket;
                        p.next_ticket += 1;
                        p.metas.insert(
                            t,
                            BatchMeta {
                                pos: 0,
                                len: bytes.len() as u64,
                                records: h.offset_count(),
                                max_timestamp: h.max_timestamp,
                                producer_id: h.producer_id,
                                producer_epoch: h.producer_epoch,
                                base_sequence: h.base_sequence,
                            },
                        );
                        p.builder.push(key.clone(), t, bytes);
                        tickets.push(t);
                    }
                    p.waiters.push((tickets, tx));
                    let first = p.opened_at.is_none();
                    if first {
                        p.opened_at = Some(Instant::now());
                    }
                    if first || p.builder.len_bytes() >= self.shared.flush_bytes {
                        self.shared.wake.notify_one();
                    }
                    return rx;
                }
            }
            room.await;
        }
    }

    /// Flushes what is pending and stops the flusher.
    pub async fn close(&self) {
        let task = self.task.lock().expect("writer task lock").take();
        if let Some(t) = task {
            self.shared.wake.notify_one();
            let _ = t.await;
        }
    }
}

async fn flush_loop(
    shared: Arc<Shared>,
    agent_id: i32,
    meta: MetaClient,
    ctx: FlushContext,
    stop: CancellationToken,
) {
    loop {
        // Wait for a segment to be opened, then for it to fill or age.
        let deadline = loop {
            let woken = shared.wake.notified();
            let opened = shared.pending.lock().await.opened_at;
            if let Some(at) = opened {
                break at + shared.linger;
            }
            if stop.is_cancelled() {
                return;
            }
            tokio::select! {
                _ = woken => {}
                _ = stop.cancelled() => {}
            }
        };
        loop {
            let woken = shared.wake.notified();
            if shared.pending.lock().await.builder.len_bytes() >= shared.flush_bytes
                || stop.is_cancelled()
            {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                _ = woken => {}
                _ = stop.cancelled() => break,
            }
        }
        let taken = {
            let mut p = shared.pending.lock().await;
            let next = p.next_ticket;
            std::mem::replace(&mut *p, Pending::new(next))
        };
        shared.room.notify_waiters();
        flush(taken, agent_id, &meta, &ctx).await;
    }
}

/// Times a segment commit is refused as too old (and the segment uploaded again) before its
/// producers get a retriable error.
const MAX_STALE_ATTEMPTS: u32 = 3;

/// What every flush of one writer needs besides the segment.
struct FlushContext {
    cache: Arc<BlockCache>,
    /// Local directory to fsync objects under (file:// stores).
    sync_root: Option<std::path::PathBuf>,
    /// Longest time between the start of an upload and its commit proposal (half the janitor's
    /// orphan grace period).
    max_age: Duration,
}

/// Writes `object` under `key`, retrying transient failures; nothing is acknowledged unless
/// this succeeds.
async fn upload(key: &str, object: &Bytes, ctx: &FlushContext) -> Result<(), WriteError> {
    let path = ObjectPath::from(key);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let put = ctx
            .cache
            .store()
            .put(&path, PutPayload::from(object.clone()))
            .await;
        let durable = match (put, ctx.sync_root.as_deref()) {
            (Ok(_), Some(root)) => {
                sluice_storage::sync_local_object(root, key)
                    .await
                    .map_err(|e| object_store::Error::Generic {
                        store: "LocalFileSystem",
                        source: Box::new(e),
                    })
            }
            (Ok(_), None) => Ok(()),
            (Err(e), _) => Err(e),
        };
        match durable {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 4 => {
                tracing::warn!(error = %e, attempt, "segment upload failed; retrying");
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(WriteError::Upload(e.to_string())),
        }
    }
}

/// Uploads one segment, commits it, and answers every waiter.
///
/// A commit the quorum refuses because the upload is older than `max_age` (half the janitor's
/// grace: the object may be deleted as an orphan any time now) is retried with a fresh upload
/// under a new name, a few times, before the producers get a retriable error.
async fn flush(p: Pending, agent_id: i32, meta: &MetaClient, ctx: &FlushContext) {
    let Pending {
        builder,
        mut metas,
        waiters,
        ..
    } = p;
    if builder.is_empty() {
        return;
    }
    let started = Instant::now();
    let (object, layout) = builder.finish();
    let mut order = Vec::new();
    let partitions: Vec<PartitionAppend> = layout
        .partitions
        .into_iter()
        .map(|(k, places)| {
            let batches = places
                .into_iter()
                .filter_map(|(ticket, pos, len)| {
                    let mut m = metas.remove(&ticket)?;
                    order.push(ticket);
                    m.pos = pos;
                    m.len = len;
                    Some(m)
                })
                .collect();
            PartitionAppend {
                topic: k.topic,
                topic_id: k.topic_id,
                partition: k.partition,
                batches,
            }
        })
        .collect();
    let fail = |waiters: Vec<Waiter>, e: WriteError| {
        for (_, tx) in waiters {
            let _ = tx.send(Err(e.clone()));
        }
    };
    let mut attempt = 0;
    let (result, uploaded) = loop {
        attempt += 1;
        let uploaded_ms = now_ms();
        let key = format!(
            "segments/{uploaded_ms:013}-{agent_id}-{}.seg",
            Uuid::new_v4().simple()
        );
        let span = tracing::debug_span!("flush", object = %key, bytes = object.len(), attempt);
        let upload = upload(&key, &object, ctx).instrument(span.clone()).await;
        if let Err(e) = upload {
            tracing::error!(parent: &span, error = %e, "segment upload failed; producers get a retriable error");
            metrics::counter!("sluice_segment_upload_failures_total").increment(1);
            return fail(waiters, e);
        }
        let uploaded = started.elapsed();
        ctx.cache.seed(&key, &object);
        let cmd = Command::CommitSegment(SegmentCommit {
            object: key.clone(),
            object_len: object.len() as u64,
            agent_id,
            now_ms: now_ms(),
            partitions: partitions.clone(),
            uploaded_ms,
            max_age_ms: ctx.max_age.as_millis() as i64,
        });
        let result = meta.propose_and_wait(cmd).instrument(span.clone()).await;
        match result {
            Ok((_, CommandResponse::Error { code, message }))
                if code == sluice_meta::codes::REQUEST_TIMED_OUT
                    && attempt < MAX_STALE_ATTEMPTS =>
            {
                tracing::warn!(parent: &span, %message, "segment commit refused as too old; uploading it again");
                metrics::counter!("sluice_segment_stale_commits_total").increment(1);
                // The object is an orphan now: delete it rather than wait for the janitor.
                let _ = ctx
                    .cache
                    .store()
                    .delete(&ObjectPath::from(key.as_str()))
                    .await;
            }
            other => break (other, uploaded),
        }
    };
    let outcomes: std::collections::HashMap<u64, BatchOutcome> = match result {
        Ok((_, CommandResponse::Committed(parts))) => order
            .into_iter()
            .zip(parts.into_iter().flat_map(|p| p.outcomes))
            .collect(),
        Ok((_, other)) => {
            return fail(
                waiters,
                WriteError::Commit(format!("unexpected response {other:?}")),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "segment commit failed; producers get a retriable error");
            metrics::counter!("sluice_segment_commit_failures_total").increment(1);
            return fail(waiters, WriteError::Commit(e.to_string()));
        }
    };
    for (tickets, tx) in waiters {
        let out = tickets
            .iter()
            .map(|t| {
                outcomes.get(t).copied().unwrap_or(BatchOutcome::Rejected {
                    error_code: sluice_meta::codes::REQUEST_TIMED_OUT,
                })
            })
            .collect();
        let _ = tx.send(Ok(out));
    }
    metrics::counter!("sluice_segments_flushed_total").increment(1);
    metrics::counter!("sluice_segment_bytes_total").increment(object.len() as u64);
    metrics::histogram!("sluice_segment_upload_seconds").record(uploaded.as_secs_f64());
    metrics::histogram!("sluice_segment_flush_seconds").record(started.elapsed().as_secs_f64());
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "segment committed"
    );
}
