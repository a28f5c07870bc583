//! The segment writer: batches produced to any partition are buffered into one segment, flushed
//! as ONE object by size or age, and committed as ONE metadata command that assigns offsets.
//!
//! Producers are answered only after the commit, so an acknowledged batch is durable in object
//! storage and indexed in the quorum.
//!
//! Flushes are pipelined: up to `max_inflight_flushes` segments upload at once, while their
//! commits go to the quorum strictly one after another, in the order the segments were cut.
//!
//! ```text
//!  append ─▶ open segment ─(size / linger, and a free slot)─▶ cut #n ─▶ upload task #n ─┐
//!                                                                                        ▼
//!                    answer producers ◀─ commit #n (waits for #n-1's commit) ◀─ in cut order
//! ```
//!
//! Two tasks do it. The *cutter* seals the open segment once it is full or has lingered and a
//! slot is free (meanwhile the open segment keeps filling, so a slow store means bigger
//! segments, not more of them), spawns its upload, and queues it. The *committer* takes the
//! queue in order: it waits for segment n's upload (an upload that finishes early waits for
//! the ones before it), proposes its `CommitSegment`, answers its producers, and only then
//! looks at segment n+1. Offsets and idempotent-producer sequence checks follow append order,
//! and append order is cut order, so a producer's batch in segment n+1 is never committed
//! before its earlier batch in segment n.
//!
//! A commit whose outcome is unknown (the quorum's leader died holding it, or answered too late)
//! is proposed again, for up to `AgentConfig::commit_fate_window` (meanwhile later segments wait,
//! in order, and backpressure slows appenders): the quorum answers a segment commit it
//! already applied as it did the first time, so its batches land once.
//!
//! When segment n fails (its upload after retries, or its commit: refused, or of unknown fate
//! for longer than that),
//! every segment already cut after it fails too, with the same retriable error, without being
//! proposed: their batches may follow n's in a producer's sequence, and committing them would
//! leave a gap. Clients retry, and the quorum's idempotent dedupe keeps exactly-once (a batch
//! whose commit fate was unknown and did land is answered as a duplicate with its offset).
//! Batches appended after the failure (including the open segment's) are committed normally;
//! if one of them follows a failed batch of the same idempotent producer, the quorum answers
//! OUT_OF_ORDER_SEQUENCE_NUMBER for it, as Kafka does, and clients retry it after the earlier
//! one; where the quorum has no state to tell (the failed batch was the producer's first on the
//! partition), or where the failed batch may have landed, the writer's [`SequenceFences`] hold
//! such batches back (with REQUEST_TIMED_OUT in the latter case). The failed segments' objects are deleted (or left to the janitor as orphans).
//!
//! A commit the quorum refuses because its upload began more than half the janitor's orphan
//! grace ago is uploaded again under a new name (a few times) by the committer itself, in its
//! turn, so order holds. Backpressure bounds the bytes of the open segment plus those cut and
//! not yet answered; appenders wait for room. On close, the cutter seals what is buffered and
//! the committer drains the queue before returning.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt;
use sluice_meta::command::{
    BatchMeta, BatchOutcome, Command, CommandResponse, PartitionAppend, SegmentCommit,
};
use sluice_meta::{MetaClient, MetaError};
use sluice_protocol::batch::BatchHeader;
use sluice_storage::{BlockCache, SegmentBuilder};
use tokio::sync::{mpsc, oneshot, Mutex, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::clock::now_ms;
use crate::config::AgentConfig;
use crate::sequence_fence::SequenceFences;

/// A partition as the writer groups it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartitionKey {
    /// The topic name.
    pub topic: String,
    /// The topic id (the commit is refused for a topic recreated under the same name).
    pub topic_id: Uuid,
    /// The partition index.
    pub partition: i32,
}

/// Why a batch was not committed. Every variant is retriable for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The segment object could not be uploaded (or fsynced), or an earlier segment's upload
    /// failed; nothing of it is in the log.
    #[error("object store write failed: {0}")]
    Upload(String),
    /// The commit's fate is unknown (the quorum did not answer): the client must retry, and
    /// idempotent producers' retries are deduplicated.
    #[error("metadata commit failed: {0}")]
    Commit(String),
    /// The writer stopped (the agent is shutting down) before answering: the batch may or may
    /// not be in the log.
    #[error("agent is shutting down")]
    ShuttingDown,
}

impl WriteError {
    /// Whether the batches may be in the log (a commit of unknown fate, or one behind it).
    fn fate_unknown(&self) -> bool {
        matches!(self, WriteError::Commit(_))
    }

    /// The error given to the segments cut after a failed one: same kind, so the same Kafka code.
    fn behind(&self) -> WriteError {
        match self {
            WriteError::Upload(m) => WriteError::Upload(format!("an earlier segment failed: {m}")),
            WriteError::Commit(m) => WriteError::Commit(format!("an earlier segment failed: {m}")),
            WriteError::ShuttingDown => WriteError::ShuttingDown,
        }
    }
}

/// Where segment commits go: the metadata quorum. A trait so tests can delay, fail or record
/// the commits (with the real state machine behind them).
pub trait CommitSink: Send + Sync + 'static {
    /// Proposes `CommitSegment(c)` and returns the applied response.
    fn commit(&self, c: SegmentCommit) -> BoxFuture<'_, Result<CommandResponse, MetaError>>;
}

impl CommitSink for MetaClient {
    fn commit(&self, c: SegmentCommit) -> BoxFuture<'_, Result<CommandResponse, MetaError>> {
        self.propose_and_wait(Command::CommitSegment(c))
            .map(|r| r.map(|(_, response)| response))
            .boxed()
    }
}

type Outcomes = Result<Vec<BatchOutcome>, WriteError>;
type Waiter = (Vec<u64>, oneshot::Sender<Outcomes>);

struct Pending {
    builder: SegmentBuilder<PartitionKey>,
    metas: HashMap<u64, BatchMeta>,
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
    /// Wakes the cutter (size reached, or first append of a segment).
    wake: Notify,
    /// Wakes appenders waiting for room.
    room: Notify,
    /// Bytes of segments cut and not yet answered.
    in_flight_bytes: AtomicUsize,
    /// Number of the last segment cut (from 1, in cut order).
    last_cut: AtomicU64,
    flush_bytes: usize,
    /// Bound on open plus in-flight bytes.
    max_pending_bytes: usize,
    linger: Duration,
}

/// The agent's one segment writer: appends go in, committed offsets come out (see the module
/// docs for the cutter and committer tasks).
pub struct SegmentWriter {
    shared: Arc<Shared>,
    tasks: std::sync::Mutex<Option<(JoinHandle<()>, JoinHandle<()>)>>,
}

impl SegmentWriter {
    /// Starts the writer of agent `agent_id`, committing to the quorum `meta`.
    pub fn start(
        cfg: &AgentConfig,
        agent_id: i32,
        meta: MetaClient,
        cache: Arc<BlockCache>,
        stop: CancellationToken,
    ) -> Self {
        Self::with_sink(cfg, agent_id, Arc::new(meta), cache, stop)
    }

    /// Starts the writer with any commit sink (tests).
    pub fn with_sink(
        cfg: &AgentConfig,
        agent_id: i32,
        sink: Arc<dyn CommitSink>,
        cache: Arc<BlockCache>,
        stop: CancellationToken,
    ) -> Self {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::new(0)),
            wake: Notify::new(),
            room: Notify::new(),
            in_flight_bytes: AtomicUsize::new(0),
            last_cut: AtomicU64::new(0),
            flush_bytes: cfg.flush_bytes,
            // As much as one open segment and one flush in flight used to hold at most.
            max_pending_bytes: cfg.flush_bytes.saturating_mul(8).max(128 << 20),
            linger: cfg.linger,
        });
        let ctx = Arc::new(FlushContext {
            agent_id,
            cache,
            sync_root: cfg.local_object_root.clone(),
            direct: cfg.direct_local_writes,
            max_age: cfg.orphan_grace / 2,
            fate_window: cfg.commit_fate_window,
        });
        let slots = Arc::new(Semaphore::new(cfg.max_inflight_flushes.max(1)));
        let (tx, rx) = mpsc::unbounded_channel();
        let cutter = tokio::spawn(cut_loop(shared.clone(), slots, ctx.clone(), tx, stop));
        let committer = tokio::spawn(commit_loop(shared.clone(), sink, ctx, rx));
        SegmentWriter {
            shared,
            tasks: std::sync::Mutex::new(Some((cutter, committer))),
        }
    }

    /// Appends one partition's batches (validated headers alongside) and returns a receiver of
    /// their outcomes. Appends are ordered: call this in request order.
    pub async fn append(
        &self,
        key: PartitionKey,
        batches: Vec<(Bytes, BatchHeader)>,
    ) -> oneshot::Receiver<Outcomes> {
        self.append_produced(key, batches, false).await
    }

    /// [`append`](Self::append) for a Produce request; `implicit_add_to_txn` (Produce v12+,
    /// KIP-890) lets transactional batches add their partition to the producer's transaction
    /// when they commit.
    pub async fn append_produced(
        &self,
        key: PartitionKey,
        batches: Vec<(Bytes, BatchHeader)>,
        implicit_add_to_txn: bool,
    ) -> oneshot::Receiver<Outcomes> {
        let incoming: usize = batches.iter().map(|(b, _)| b.len()).sum();
        loop {
            let room = self.shared.room.notified();
            {
                let mut p = self.shared.pending.lock().await;
                let in_flight = self.shared.in_flight_bytes.load(Ordering::Acquire);
                if admits(
                    p.builder.len_bytes(),
                    in_flight,
                    incoming,
                    self.shared.max_pending_bytes,
                ) {
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
                                transactional: h.is_transactional(),
                                implicit_add_to_txn,
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

    /// Flushes what is pending, waits for every flush to be answered, and stops the writer.
    /// Call it once the writer's stop token is cancelled.
    pub async fn close(&self) {
        let tasks = self.tasks.lock().expect("writer task lock").take();
        if let Some((cutter, committer)) = tasks {
            self.shared.wake.notify_one();
            let _ = cutter.await;
            let _ = committer.await;
        }
    }
}

/// Backpressure: an append of `incoming` bytes fits when the open segment plus the segments in
/// flight stay within `max`; an empty open segment takes any one append, so progress is certain.
fn admits(open: usize, in_flight: usize, incoming: usize, max: usize) -> bool {
    open == 0 || open + in_flight + incoming <= max
}

/// Seals segments by size or age, starts their uploads, and queues them for the committer.
async fn cut_loop(
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    ctx: Arc<FlushContext>,
    queue: mpsc::UnboundedSender<InFlight>,
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
        // The open segment keeps filling while every slot is busy.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (taken, seq) = {
            let mut p = shared.pending.lock().await;
            let next = p.next_ticket;
            let taken = std::mem::replace(&mut *p, Pending::new(next));
            if taken.builder.is_empty() {
                drop(p);
                // Only appends of no batches: nothing to write, nothing to wait for.
                for (_, tx) in taken.waiters {
                    let _ = tx.send(Ok(Vec::new()));
                }
                continue;
            }
            shared
                .in_flight_bytes
                .fetch_add(taken.builder.len_bytes(), Ordering::AcqRel);
            let seq = shared.last_cut.fetch_add(1, Ordering::AcqRel) + 1;
            (taken, seq)
        };
        // The open segment is empty again: an appender waiting for room may start the next one.
        shared.room.notify_waiters();
        let segment = Segment::seal(taken);
        let span = tracing::debug_span!("flush", seq, bytes = segment.object.len());
        let upload =
            tokio::spawn(upload_new(segment.object.clone(), ctx.clone()).instrument(span.clone()));
        metrics::gauge!("sluice_segment_flushes_in_flight").increment(1.0);
        let flight = InFlight {
            seq,
            segment,
            upload,
            span,
            started: Instant::now(),
            _slot: slot,
        };
        if queue.send(flight).is_err() {
            return; // the committer is gone: the writer is being torn down
        }
    }
}

/// Commits the queued segments one by one, in cut order.
async fn commit_loop(
    shared: Arc<Shared>,
    sink: Arc<dyn CommitSink>,
    ctx: Arc<FlushContext>,
    mut queue: mpsc::UnboundedReceiver<InFlight>,
) {
    // Segments numbered up to this one fail unproposed, with this error: an earlier one failed.
    let mut doomed: Option<(u64, WriteError)> = None;
    let mut fences = SequenceFences::default();
    while let Some(mut flight) = queue.recv().await {
        let bytes = flight.segment.object.len();
        let span = flight.span.clone();
        match doomed
            .as_ref()
            .filter(|(through, _)| flight.seq <= *through)
        {
            Some((_, e)) => {
                tracing::warn!(parent: &span, error = %e, "segment not committed: an earlier segment failed");
                fences.failed(&flight.segment.partitions, e.fate_unknown());
                discard(flight, e.clone(), &ctx).instrument(span).await;
            }
            None => {
                flight.segment.hold_back(&mut fences);
                let proposed = flight.segment.partitions.clone();
                if let Err(e) = commit(flight, &*sink, &ctx).instrument(span).await {
                    fences.failed(&proposed, e.fate_unknown());
                    // Everything cut so far was cut after the failed segment.
                    doomed = Some((shared.last_cut.load(Ordering::Acquire), e.behind()));
                }
            }
        }
        shared.in_flight_bytes.fetch_sub(bytes, Ordering::AcqRel);
        shared.room.notify_waiters();
        metrics::gauge!("sluice_segment_flushes_in_flight").decrement(1.0);
    }
}

/// Whether a failed commit may have been applied, or may apply if proposed again: the quorum
/// was unreachable, lost its leader, or answered too late. Proposing the same commit again is
/// safe (segment commits are idempotent by object key, `MetaState::recent_commits`).
fn fate_unknown(e: &MetaError) -> bool {
    !matches!(
        e,
        MetaError::Shutdown | MetaError::Invalid(_) | MetaError::Serde(_)
    )
}

/// Times a segment commit is refused as too old (and the segment uploaded again) before its
/// producers get a retriable error.
const MAX_STALE_ATTEMPTS: u32 = 3;

/// What every flush of one writer needs besides the segment.
struct FlushContext {
    agent_id: i32,
    cache: Arc<BlockCache>,
    /// Local directory to fsync objects under (file:// stores).
    sync_root: Option<std::path::PathBuf>,
    /// Write segments there directly with `O_DIRECT` ([`AgentConfig::direct_local_writes`]).
    direct: bool,
    /// Longest time between the start of an upload and its commit proposal (half the janitor's
    /// orphan grace period).
    max_age: Duration,
    /// [`AgentConfig::commit_fate_window`].
    fate_window: Duration,
}

/// A sealed segment: its object, the commit it needs, and whom to answer.
struct Segment {
    object: Bytes,
    partitions: Vec<PartitionAppend>,
    /// Tickets in the order of the commit's batches (partition by partition).
    order: Vec<u64>,
    waiters: Vec<Waiter>,
    /// Batches answered without being proposed ([`SequenceFences`]).
    held_back: HashMap<u64, BatchOutcome>,
}

impl Segment {
    fn seal(p: Pending) -> Segment {
        let Pending {
            builder,
            mut metas,
            waiters,
            ..
        } = p;
        let (object, layout) = builder.finish();
        let mut order = Vec::new();
        let partitions = layout
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
        Segment {
            object,
            partitions,
            order,
            waiters,
            held_back: HashMap::new(),
        }
    }

    /// Takes out of the commit the batches `fences` hold back; they are answered as fenced.
    fn hold_back(&mut self, fences: &mut SequenceFences) {
        for (pos, outcome) in fences.screen(&mut self.partitions).into_iter().rev() {
            let ticket = self.order.remove(pos);
            self.held_back.insert(ticket, outcome);
        }
    }

    fn fail(self, e: &WriteError) {
        for (_, tx) in self.waiters {
            let _ = tx.send(Err(e.clone()));
        }
    }
}

/// A segment cut and queued for its commit.
struct InFlight {
    /// Cut order, from 1.
    seq: u64,
    segment: Segment,
    upload: JoinHandle<Result<Uploaded, WriteError>>,
    span: tracing::Span,
    started: Instant,
    /// Frees a pipeline slot once the segment is answered.
    _slot: OwnedSemaphorePermit,
}

/// An object written and fsynced.
struct Uploaded {
    key: String,
    /// When its upload began (the janitor-safety check counts from there).
    started_ms: i64,
}

/// Writes `object` under a fresh name, retrying transient failures, and seeds the read cache
/// with it; nothing is acknowledged unless this succeeds.
async fn upload_new(object: Bytes, ctx: Arc<FlushContext>) -> Result<Uploaded, WriteError> {
    let started_ms = now_ms();
    let key = format!(
        "segments/{started_ms:013}-{}-{}.seg",
        ctx.agent_id,
        Uuid::new_v4().simple()
    );
    let mut attempt = 0;
    loop {
        attempt += 1;
        let durable = sluice_storage::put_durable(
            ctx.cache.store().as_ref(),
            ctx.sync_root.as_deref(),
            ctx.direct,
            &key,
            object.clone(),
        )
        .await;
        match durable {
            Ok(()) => break,
            Err(e) if attempt < 4 => {
                tracing::warn!(error = %e, object = %key, attempt, "segment upload failed; retrying");
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, object = %key, "segment upload failed; producers get a retriable error");
                metrics::counter!("sluice_segment_upload_failures_total").increment(1);
                return Err(WriteError::Upload(e.to_string()));
            }
        }
    }
    metrics::histogram!("sluice_segment_upload_seconds")
        .record((now_ms() - started_ms).max(0) as f64 / 1000.0);
    ctx.cache.seed(&key, &object);
    Ok(Uploaded { key, started_ms })
}

/// Waits for a segment's upload to end, then deletes its object (best effort: the janitor
/// deletes what this misses).
async fn delete_upload(upload: JoinHandle<Result<Uploaded, WriteError>>, ctx: &FlushContext) {
    if let Ok(Ok(u)) = upload.await {
        let _ = ctx
            .cache
            .store()
            .delete(&ObjectPath::from(u.key.as_str()))
            .await;
    }
}

/// Fails a segment without proposing it.
async fn discard(flight: InFlight, e: WriteError, ctx: &FlushContext) {
    flight.segment.fail(&e);
    delete_upload(flight.upload, ctx).await;
}

/// Waits for one segment's upload, commits it, and answers every waiter; an error means the
/// segment was not (or maybe not) committed and its waiters got that error.
///
/// A commit the quorum refuses because the upload is older than `max_age` (half the janitor's
/// grace: the object may be deleted as an orphan any time now) is retried with a fresh upload
/// under a new name, a few times, before the producers get a retriable error.
async fn commit(
    flight: InFlight,
    sink: &dyn CommitSink,
    ctx: &Arc<FlushContext>,
) -> Result<(), WriteError> {
    let InFlight {
        segment,
        upload,
        started,
        ..
    } = flight;
    let uploaded = match upload.await {
        Ok(r) => r,
        Err(e) => Err(WriteError::Upload(format!("upload task failed: {e}"))),
    };
    let mut uploaded = match uploaded {
        Ok(u) => u,
        Err(e) => {
            segment.fail(&e);
            return Err(e);
        }
    };
    let mut attempt = 1;
    // The first commit error: from then on the same commit is proposed again until its fate is
    // known (the quorum answers a commit it already applied as it did then), for a while.
    let mut unknown_since: Option<Instant> = None;
    let mut backoff = Duration::from_millis(50);
    let result = loop {
        let c = SegmentCommit {
            object: uploaded.key.clone(),
            object_len: segment.object.len() as u64,
            agent_id: ctx.agent_id,
            now_ms: now_ms(),
            partitions: segment.partitions.clone(),
            uploaded_ms: uploaded.started_ms,
            max_age_ms: ctx.max_age.as_millis() as i64,
        };
        match sink.commit(c).await {
            Ok(CommandResponse::Error { code, message })
                if code == sluice_meta::codes::REQUEST_TIMED_OUT
                    && attempt < MAX_STALE_ATTEMPTS =>
            {
                tracing::warn!(%message, object = %uploaded.key, "segment commit refused as too old; uploading it again");
                metrics::counter!("sluice_segment_stale_commits_total").increment(1);
                // The object is an orphan now: delete it rather than wait for the janitor.
                let _ = ctx
                    .cache
                    .store()
                    .delete(&ObjectPath::from(uploaded.key.as_str()))
                    .await;
                attempt += 1;
                uploaded = match upload_new(segment.object.clone(), ctx.clone()).await {
                    Ok(u) => u,
                    Err(e) => {
                        segment.fail(&e);
                        return Err(e);
                    }
                };
            }
            Err(e)
                if fate_unknown(&e)
                    && unknown_since.get_or_insert_with(Instant::now).elapsed()
                        < ctx.fate_window =>
            {
                tracing::warn!(error = %e, object = %uploaded.key, "segment commit outcome unknown; proposing it again");
                metrics::counter!("sluice_segment_commit_retries_total").increment(1);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            other => break other,
        }
    };
    let parts = match result {
        Ok(CommandResponse::Committed(parts)) => parts,
        Ok(other) => {
            let e = WriteError::Commit(format!("unexpected response {other:?}"));
            tracing::error!(error = %e, object = %uploaded.key, "segment not committed; producers get a retriable error");
            metrics::counter!("sluice_segment_commit_failures_total").increment(1);
            segment.fail(&e);
            return Err(e);
        }
        Err(e) => {
            tracing::error!(error = %e, object = %uploaded.key, "segment commit failed; producers get a retriable error");
            metrics::counter!("sluice_segment_commit_failures_total").increment(1);
            let e = WriteError::Commit(e.to_string());
            segment.fail(&e);
            return Err(e);
        }
    };
    let Segment {
        object,
        order,
        waiters,
        held_back,
        ..
    } = segment;
    let outcomes: HashMap<u64, BatchOutcome> = order
        .into_iter()
        .zip(parts.into_iter().flat_map(|p| p.outcomes))
        .chain(held_back)
        .collect();
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
    metrics::histogram!("sluice_segment_flush_seconds").record(started.elapsed().as_secs_f64());
    tracing::debug!(
        object = %uploaded.key,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "segment committed"
    );
    Ok(())
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
