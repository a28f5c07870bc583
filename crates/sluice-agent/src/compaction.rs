//! Background compaction: segment compaction (merging a partition's slices of multi-partition
//! flush objects, and its small compacted objects, into larger per-partition objects) and log
//! compaction of `cleanup.policy=compact` topics (only the latest record per key survives;
//! tombstones after `delete.retention.ms`).
//!
//! How it fits:
//! - one agent at a time runs it: the one holding the `compaction` lease in the quorum
//!   ([`sluice_meta::lifecycle`]), renewed before every job;
//! - [`plan`] is a pure function of the replica: which runs of index entries to rewrite;
//! - a job reads its input entries through the block cache, writes ONE new object
//!   (`segments/c-...`), then proposes ONE conditional [`ChunkSwap`]: if anything touched the
//!   inputs meanwhile (an append never does: it only adds entries after them; retention,
//!   DeleteRecords, topic deletion or another swap do), the swap loses and its object is garbage;
//! - a job killed midway leaves an uncommitted object that the janitor deletes as an orphan;
//!   the next lease holder plans again from the index, so nothing is lost or duplicated;
//! - readers that resolved the old entries keep reading the old objects, which the janitor
//!   deletes only `file.delete.delay.ms` after the swap.
//!
//! Offsets never change: output batches keep their offset spans (a log-compacted batch keeps its
//! `lastOffsetDelta`, as Kafka's cleaner does for v2 batches), and a batch whose every record is
//! dropped leaves a gap between index entries, which fetches skip.
//!
//! Transactions: marker entries (commit/abort markers the index holds without bytes) pass
//! through every job unchanged; transactional batches are kept as they are and their records
//! never supersede others (an aborted write must not delete a committed value); log compaction
//! stops at the last stable offset, as Kafka's cleaner does.
//!
//! Costs: the bytes read per second are bounded by `--compaction-max-bytes-per-sec`; the
//! metrics are `sluice_compaction_bytes_{in,out}_total{kind}`, `sluice_compaction_jobs_total
//! {kind,outcome}` and the gauges `sluice_storage_{object,live}_bytes` and
//! `sluice_storage_amplification` (object bytes / live bytes).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use sluice_meta::command::{Command, CommandResponse};
use sluice_meta::lifecycle::{has_policy, ChunkSwap, LifecycleCommand, LifecycleResponse};
use sluice_meta::state::{Chunk, MetaState, PartitionLog, Topic};
use sluice_protocol::batch::{read_records, rebuild, records_section, BatchHeader, BatchIter};
use sluice_protocol::compression::{decompress, Codec};
use uuid::Uuid;

use crate::agent::Agent;
use crate::clock::now_ms;
use crate::config::CompactionConfig;

/// The quorum lease a compaction pass holds.
pub const LEASE: &str = "compaction";

/// The shortest lease a pass takes (it takes four compaction intervals, at least this): the time
/// other agents wait before taking over from an agent that died holding it.
pub const LEASE_MIN_TTL: Duration = Duration::from_secs(10);

/// Prefix of the objects compaction writes (under `segments/`, so the janitor's orphan sweep
/// covers them).
pub const OUTPUT_PREFIX: &str = "segments/c-";

/// The most bytes one index entry of a compaction output covers: a fetch reads the entry holding
/// its offset from its start, so entries are kept about one cache block long (Kafka keeps an
/// offset index entry every `index.interval.bytes`, 4 KiB, for the same reason). Merging a
/// partition's runs into one entry of many MiB made every 1 MiB fetch read all of it.
pub const MAX_ENTRY_BYTES: u64 = 1 << 20;

/// What a job does with its inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JobKind {
    /// Copies the batches as they are into one object.
    Merge,
    /// Log compaction as of `now_ms`: the latest record per key, tombstones older than
    /// `delete_retention_ms` dropped; the partition's newest batch is kept whole when
    /// `keep_last` (so a fetch at any offset below the high watermark finds a batch).
    Clean {
        /// The pass's clock, ms since the Unix epoch (tombstone ages are measured against it).
        now_ms: i64,
        /// The topic's `delete.retention.ms`: tombstones whose timestamp is older than this
        /// many ms are dropped.
        delete_retention_ms: i64,
        /// Keep the partition's newest batch whole (the inputs reach the end of the log).
        keep_last: bool,
    },
}

impl JobKind {
    fn label(&self) -> &'static str {
        match self {
            JobKind::Merge => "segment",
            JobKind::Clean { .. } => "log",
        }
    }
}

/// One partition's run of consecutive index entries to rewrite.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The topic's name.
    pub topic: String,
    /// The topic's id (the swap is refused if the topic was recreated meanwhile).
    pub topic_id: Uuid,
    /// The partition index.
    pub partition: i32,
    /// The index entries to rewrite, `(base offset, chunk)`, consecutive and in offset order.
    pub inputs: Vec<(i64, Chunk)>,
    /// Merge or clean.
    pub kind: JobKind,
}

impl Job {
    fn input_bytes(&self) -> u64 {
        self.inputs.iter().map(|(_, c)| c.len).sum()
    }
}

fn is_compacted_object(object: &str) -> bool {
    object.starts_with(OUTPUT_PREFIX)
}

/// When a segment object was written, in ms since the epoch, from its name (flush objects are
/// `segments/<ms>-...`, compaction outputs `segments/c-<ms>-...`); None for other names.
fn object_written_ms(object: &str) -> Option<i64> {
    let rest = object.strip_prefix("segments/")?;
    let rest = rest.strip_prefix("c-").unwrap_or(rest);
    rest.get(..13)?.parse().ok()
}

fn config_i64(t: &Topic, name: &str, default: i64) -> i64 {
    t.configs
        .get(name)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The jobs a pass should run, as of `now_ms`: log compaction of compacted topics' partitions
/// that are due, and merges of runs of small entries everywhere else.
pub fn plan(s: &MetaState, now_ms: i64, cfg: &CompactionConfig) -> Vec<Job> {
    let mut jobs = Vec::new();
    for t in s.topics.values() {
        for (i, p) in t.partitions.iter().enumerate() {
            let job = |inputs, kind| Job {
                topic: t.name.clone(),
                topic_id: t.id,
                partition: i as i32,
                inputs,
                kind,
            };
            if has_policy(&t.configs, "compact") {
                if let Some((inputs, kind)) = plan_clean(t, p, now_ms) {
                    jobs.push(job(inputs, kind));
                    continue;
                }
            }
            let settled_before = now_ms.saturating_sub(cfg.min_age.as_millis() as i64);
            for inputs in plan_merges(p, cfg.target_bytes, settled_before) {
                jobs.push(job(inputs, JobKind::Merge));
            }
        }
    }
    jobs
}

/// Runs of consecutive entries worth merging: entries in flush objects (shared by partitions)
/// or in small compacted objects, written before `settled_before` (ms; names without a time
/// count as old), up to `target_bytes` a run; a run is kept if it frees a flush object's slice
/// or joins at least two objects.
fn plan_merges(p: &PartitionLog, target_bytes: u64, settled_before: i64) -> Vec<Vec<(i64, Chunk)>> {
    // Transaction markers have no bytes: they ride along in any run.
    let candidate = |c: &Chunk| {
        c.marker.is_some()
            || ((!is_compacted_object(&c.object) || c.object_len < target_bytes / 2)
                && object_written_ms(&c.object).is_none_or(|t| t < settled_before))
    };
    let worth = |run: &[(i64, Chunk)]| {
        let data = || run.iter().filter(|(_, c)| c.marker.is_none());
        let objects: BTreeSet<&str> = data().map(|(_, c)| c.object.as_str()).collect();
        objects.len() >= 2 || data().any(|(_, c)| !is_compacted_object(&c.object))
    };
    let mut runs = Vec::new();
    let mut run: Vec<(i64, Chunk)> = Vec::new();
    let mut bytes = 0;
    let mut close = |run: &mut Vec<(i64, Chunk)>, bytes: &mut u64| {
        if worth(run) {
            runs.push(std::mem::take(run));
        }
        run.clear();
        *bytes = 0;
    };
    for (b, c) in &p.chunks {
        if !candidate(c) {
            close(&mut run, &mut bytes);
            continue;
        }
        if bytes > 0 && bytes + c.len > target_bytes {
            close(&mut run, &mut bytes);
        }
        bytes += c.len;
        run.push((*b, c.clone()));
    }
    close(&mut run, &mut bytes);
    runs
}

/// A compacted partition's cleaning job, if due (Kafka's `LogCleanerManager` rules): the
/// cleanable entries are those from the log start whose newest record is at least
/// `min.compaction.lag.ms` old; cleaning is due when the dirty share of their bytes (past the
/// last cleaning) reaches `min.cleanable.dirty.ratio`, or when a dirty entry is older than
/// `max.compaction.lag.ms`.
fn plan_clean(t: &Topic, p: &PartitionLog, now_ms: i64) -> Option<(Vec<(i64, Chunk)>, JobKind)> {
    let min_lag = config_i64(t, "min.compaction.lag.ms", 0);
    let max_lag = config_i64(t, "max.compaction.lag.ms", i64::MAX);
    let ratio: f64 = t
        .configs
        .get("min.cleanable.dirty.ratio")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.5);
    let lso = p.last_stable_offset();
    let inputs: Vec<(i64, Chunk)> = p
        .chunks
        .iter()
        .take_while(|(b, c)| {
            c.max_timestamp <= now_ms.saturating_sub(min_lag) && *b + c.records <= lso
        })
        .map(|(b, c)| (*b, c.clone()))
        .collect();
    let dirty: Vec<&(i64, Chunk)> = inputs
        .iter()
        .filter(|(b, c)| b + c.records > p.cleaned_offset)
        .collect();
    if dirty.is_empty() {
        return None;
    }
    let total: u64 = inputs.iter().map(|(_, c)| c.len).sum();
    let dirty_bytes: u64 = dirty.iter().map(|(_, c)| c.len).sum();
    let overdue = dirty
        .iter()
        .any(|(_, c)| c.max_timestamp < now_ms.saturating_sub(max_lag));
    if (dirty_bytes as f64) < ratio * total as f64 && !overdue {
        return None;
    }
    let keep_last = inputs.len() == p.chunks.len();
    Some((
        inputs,
        JobKind::Clean {
            now_ms,
            delete_retention_ms: config_i64(t, "delete.retention.ms", 86_400_000),
            keep_last,
        },
    ))
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum CompactionError {
    /// An input range could not be read through the block cache.
    #[error("reading {object}: {source}")]
    Read {
        /// The input object's key.
        object: String,
        /// The cache (or object store) error.
        source: sluice_storage::cache::CacheError,
    },
    /// An input batch does not parse (header or records).
    #[error("a stored batch of {object} is malformed: {source}")]
    Malformed {
        /// The input object's key.
        object: String,
        /// What is wrong with the batch.
        source: sluice_protocol::batch::BatchError,
    },
    /// An input batch could not be decompressed, or its cleaned records recompressed.
    #[error("recompressing a batch of {object}: {source}")]
    Codec {
        /// The input object's key.
        object: String,
        /// The codec error.
        source: sluice_protocol::compression::CodecError,
    },
    /// The output object could not be uploaded.
    #[error("writing {object}: {source}")]
    Write {
        /// The output object's key.
        object: String,
        /// The object store error.
        source: object_store::Error,
    },
    /// The quorum answered the swap with something unexpected, or did not answer (the text).
    #[error("the metadata quorum refused or did not answer the swap: {0}")]
    Swap(String),
}

/// One input batch: its offset span and bytes.
struct InBatch {
    base: i64,
    header: BatchHeader,
    bytes: Bytes,
}

/// What a job reads, in offset order.
enum Item {
    Batch(InBatch),
    /// A transaction marker entry, passed through as it is.
    Marker(i64, Chunk),
}

/// The output being built: the object's bytes and its index entries.
#[derive(Default)]
struct Output {
    data: BytesMut,
    entries: Vec<(i64, Chunk)>,
}

impl Output {
    /// Appends a batch spanning `base..base + span` (with `max_ts`), extending the last entry
    /// when it ends right where this starts and stays within [`MAX_ENTRY_BYTES`].
    fn push(&mut self, base: i64, span: i64, max_ts: i64, bytes: &[u8]) {
        let pos = self.data.len() as u64;
        self.data.extend_from_slice(bytes);
        let len = bytes.len() as u64;
        match self.entries.last_mut() {
            Some((b, c))
                if c.marker.is_none()
                    && *b + c.records == base
                    && c.pos + c.len == pos
                    && c.len + len <= MAX_ENTRY_BYTES =>
            {
                c.records += span;
                c.len += len;
                c.max_timestamp = c.max_timestamp.max(max_ts);
            }
            _ => self.entries.push((
                base,
                Chunk {
                    object: String::new(),
                    object_len: 0,
                    pos,
                    len,
                    records: span,
                    max_timestamp: max_ts,
                    marker: None,
                },
            )),
        }
    }

    fn push_marker(&mut self, base: i64, marker: &Chunk) {
        self.entries.push((base, marker.clone()));
    }
}

/// The outcome of one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobReport {
    /// Bytes of the input entries (what was read).
    pub bytes_in: u64,
    /// Bytes of the output object (what was written).
    pub bytes_out: u64,
    /// Whether the swap applied (false: the inputs changed meanwhile; the output is garbage).
    pub swapped: bool,
}

async fn read_inputs(agent: &Agent, job: &Job) -> Result<Vec<Item>, CompactionError> {
    let mut out = Vec::new();
    for (base, c) in &job.inputs {
        if c.marker.is_some() {
            out.push(Item::Marker(*base, c.clone()));
            continue;
        }
        let data = agent
            .cache
            .read(&c.object, c.object_len, c.pos..c.pos + c.len)
            .await
            .map_err(|source| CompactionError::Read {
                object: c.object.clone(),
                source,
            })?;
        let mut next = *base;
        for item in BatchIter::new(&data) {
            let (pos, header) = item.map_err(|source| CompactionError::Malformed {
                object: c.object.clone(),
                source,
            })?;
            out.push(Item::Batch(InBatch {
                base: next,
                header,
                bytes: data.slice(pos..pos + header.total_len),
            }));
            next += header.offset_count();
        }
    }
    Ok(out)
}

/// Whether records of this batch may be dropped or may supersede others.
fn cleanable(h: &BatchHeader) -> bool {
    !h.is_control() && !h.is_transactional()
}

/// A batch's records, decompressed: (section, records).
fn records_of(
    b: &InBatch,
    object: &str,
) -> Result<(Vec<u8>, Vec<sluice_protocol::batch::RecordInfo>), CompactionError> {
    let malformed = |source| CompactionError::Malformed {
        object: object.to_string(),
        source,
    };
    let codec =
        Codec::from_attributes(b.header.attributes).map_err(|source| CompactionError::Codec {
            object: object.to_string(),
            source,
        })?;
    let raw =
        decompress(codec, records_section(&b.bytes, &b.header), 256 << 20).map_err(|source| {
            CompactionError::Codec {
                object: object.to_string(),
                source,
            }
        })?;
    let records = read_records(&raw, b.header.records_count).map_err(malformed)?;
    Ok((raw, records))
}

/// Builds the cleaned output of `batches` (Kafka's `Cleaner.cleanInto`).
fn clean(
    items: &[Item],
    object: &str,
    now_ms: i64,
    delete_retention_ms: i64,
    keep_last: bool,
) -> Result<Output, CompactionError> {
    // Pass 1: the offset of the latest record of every key.
    let batches = || {
        items.iter().filter_map(|i| match i {
            Item::Batch(b) => Some(b),
            Item::Marker(..) => None,
        })
    };
    let mut latest: HashMap<Vec<u8>, i64> = HashMap::new();
    for b in batches().filter(|b| cleanable(&b.header)) {
        let (raw, records) = records_of(b, object)?;
        for r in &records {
            if let Some(k) = r.key(&raw) {
                latest.insert(k.to_vec(), b.base + r.offset_delta as i64);
            }
        }
    }
    // Pass 2: keep those, and tombstones younger than delete.retention.ms.
    let mut out = Output::default();
    let horizon = now_ms.saturating_sub(delete_retention_ms);
    for (i, item) in items.iter().enumerate() {
        let b = match item {
            Item::Batch(b) => b,
            Item::Marker(base, c) => {
                out.push_marker(*base, c);
                continue;
            }
        };
        let h = &b.header;
        let span = h.offset_count();
        if !cleanable(h) || (keep_last && i + 1 == items.len()) {
            out.push(b.base, span, h.max_timestamp, &b.bytes);
            continue;
        }
        let (raw, records) = records_of(b, object)?;
        let kept: Vec<_> = records
            .iter()
            .filter(|r| {
                let offset = b.base + r.offset_delta as i64;
                let ts = if h.is_log_append_time() {
                    h.max_timestamp
                } else {
                    h.base_timestamp.saturating_add(r.timestamp_delta)
                };
                r.key(&raw).and_then(|k| latest.get(k)) == Some(&offset)
                    && (r.value_len >= 0 || ts >= horizon)
            })
            .collect();
        if kept.len() == records.len() {
            out.push(b.base, span, h.max_timestamp, &b.bytes);
        } else if !kept.is_empty() {
            let mut section = Vec::with_capacity(raw.len());
            for r in &kept {
                section.extend_from_slice(&raw[r.span.0..r.span.1]);
            }
            let mut header = b.bytes[..sluice_protocol::batch::HEADER_LEN].to_vec();
            header[57..61].copy_from_slice(&(kept.len() as i32).to_be_bytes());
            let codec =
                Codec::from_attributes(h.attributes).map_err(|source| CompactionError::Codec {
                    object: object.to_string(),
                    source,
                })?;
            let rebuilt = rebuild(&header, &section, codec, None).map_err(|source| {
                CompactionError::Codec {
                    object: object.to_string(),
                    source,
                }
            })?;
            out.push(b.base, span, h.max_timestamp, &rebuilt);
        }
    }
    Ok(out)
}

/// Runs one job: read, rewrite, upload, swap (under `cfg`'s test pause, if set).
///
/// # Errors
/// [`CompactionError`] when an input cannot be read or decoded, the output cannot be written, or
/// the quorum does not answer the swap; a swap that lost to a concurrent change is not an error
/// (`swapped: false`, the output object is an orphan for the janitor).
pub async fn run_job(
    agent: &Agent,
    job: &Job,
    cfg: &CompactionConfig,
) -> Result<JobReport, CompactionError> {
    let uploaded_ms = now_ms();
    let object = format!(
        "{OUTPUT_PREFIX}{uploaded_ms:013}-{}-{}.seg",
        agent.id(),
        Uuid::new_v4().simple()
    );
    let batches = read_inputs(agent, job).await?;
    let mut out = match job.kind {
        JobKind::Merge => {
            let mut out = Output::default();
            for item in &batches {
                match item {
                    Item::Batch(b) => out.push(
                        b.base,
                        b.header.offset_count(),
                        b.header.max_timestamp,
                        &b.bytes,
                    ),
                    Item::Marker(base, c) => out.push_marker(*base, c),
                }
            }
            out
        }
        JobKind::Clean {
            now_ms,
            delete_retention_ms,
            keep_last,
        } => clean(&batches, &object, now_ms, delete_retention_ms, keep_last)?,
    };
    let data = out.data.split().freeze();
    for (_, c) in out.entries.iter_mut().filter(|(_, c)| c.marker.is_none()) {
        c.object = object.clone();
        c.object_len = data.len() as u64;
    }
    let cleaned_offset = match job.kind {
        JobKind::Clean { .. } => job.inputs.last().map(|(b, c)| b + c.records),
        JobKind::Merge => None,
    };
    if !data.is_empty() {
        sluice_storage::put_durable(
            agent.cache.store().as_ref(),
            agent.cfg.local_object_root.as_deref(),
            agent.cfg.direct_local_writes,
            &object,
            data.clone(),
        )
        .await
        .map_err(|source| CompactionError::Write {
            object: object.clone(),
            source,
        })?;
        agent.cache.seed(&object, &data);
        if cfg.test_pause_uploaded {
            tracing::warn!(object, "compaction job paused for a crash test");
            eprintln!("compaction job paused at uploaded: {object}");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                _ = agent.shutdown.cancelled() => {}
            }
        }
    }
    let swap = ChunkSwap {
        topic: job.topic.clone(),
        topic_id: job.topic_id,
        partition: job.partition,
        inputs: job.inputs.clone(),
        outputs: out.entries,
        cleaned_offset,
        now_ms: now_ms(),
        uploaded_ms,
        max_age_ms: (agent.cfg.orphan_grace.as_millis() / 2) as i64,
    };
    let swapped = match agent
        .meta
        .propose_and_wait(Command::Lifecycle(LifecycleCommand::SwapChunks(swap)))
        .await
    {
        Ok((_, CommandResponse::Lifecycle(LifecycleResponse::Swapped(ok)))) => ok,
        Ok((_, other)) => return Err(CompactionError::Swap(format!("{other:?}"))),
        Err(e) => return Err(CompactionError::Swap(e.to_string())),
    };
    Ok(JobReport {
        bytes_in: job.input_bytes(),
        bytes_out: data.len() as u64,
        swapped,
    })
}

/// Object bytes referenced by the index, and the live bytes the index entries cover.
pub fn storage_bytes(s: &MetaState) -> (u64, u64) {
    let mut objects: HashMap<&str, u64> = HashMap::new();
    let mut live = 0;
    for t in s.topics.values() {
        for p in &t.partitions {
            for c in p.chunks.values().filter(|c| c.marker.is_none()) {
                objects.insert(c.object.as_str(), c.object_len);
                live += c.len;
            }
        }
    }
    (objects.values().sum(), live)
}

fn export_storage_gauges(agent: &Agent) {
    let (objects, live) = agent.read(storage_bytes);
    metrics::gauge!("sluice_storage_object_bytes").set(objects as f64);
    metrics::gauge!("sluice_storage_live_bytes").set(live as f64);
    metrics::gauge!("sluice_storage_amplification").set(if live == 0 {
        1.0
    } else {
        objects as f64 / live as f64
    });
}

async fn hold_lease(agent: &Agent, ttl: Duration) -> bool {
    let cmd = Command::Lifecycle(LifecycleCommand::AcquireLease {
        job: LEASE.to_string(),
        holder: agent.id(),
        now_ms: now_ms(),
        ttl_ms: ttl.as_millis() as i64,
    });
    matches!(
        agent.meta.propose_and_wait(cmd).await,
        Ok((
            _,
            CommandResponse::Lifecycle(LifecycleResponse::Lease(true))
        ))
    )
}

/// One compaction pass: every planned job, under the lease, rate-limited. Returns the jobs'
/// reports (public so tests and benches can drive a pass).
pub async fn pass(agent: &Agent, cfg: &CompactionConfig) -> Vec<JobReport> {
    export_storage_gauges(agent);
    let ttl = (cfg.interval * 4).max(LEASE_MIN_TTL);
    let pass_started = Instant::now();
    let jobs = agent.read(|s| plan(s, now_ms(), cfg));
    let mut reports = Vec::new();
    for job in jobs {
        if agent.shutdown.is_cancelled() || !hold_lease(agent, ttl).await {
            break;
        }
        let started = Instant::now();
        let kind = job.kind.label();
        match run_job(agent, &job, cfg).await {
            Ok(r) => {
                metrics::counter!("sluice_compaction_bytes_in_total", "kind" => kind)
                    .increment(r.bytes_in);
                metrics::counter!("sluice_compaction_bytes_out_total", "kind" => kind)
                    .increment(r.bytes_out);
                let outcome = if r.swapped { "swapped" } else { "lost_race" };
                metrics::counter!("sluice_compaction_jobs_total", "kind" => kind, "outcome" => outcome)
                    .increment(1);
                tracing::debug!(topic = %job.topic, partition = job.partition, kind, bytes_in = r.bytes_in, bytes_out = r.bytes_out, swapped = r.swapped, "compaction job");
                reports.push(r);
            }
            Err(e) => {
                metrics::counter!("sluice_compaction_jobs_total", "kind" => kind, "outcome" => "failed")
                    .increment(1);
                tracing::warn!(topic = %job.topic, partition = job.partition, error = %e, "compaction job failed");
            }
        }
        // Rate limit: a job of n bytes takes at least n / max_bytes_per_sec.
        let floor =
            Duration::from_secs_f64(job.input_bytes() as f64 / cfg.max_bytes_per_sec.max(1) as f64);
        if let Some(rest) = floor.checked_sub(started.elapsed()) {
            tokio::select! {
                _ = tokio::time::sleep(rest) => {}
                _ = agent.shutdown.cancelled() => break,
            }
        }
    }
    if !reports.is_empty() {
        export_storage_gauges(agent);
        let (bytes_in, bytes_out) = reports
            .iter()
            .fold((0, 0), |(i, o), r| (i + r.bytes_in, o + r.bytes_out));
        tracing::info!(
            jobs = reports.len(),
            bytes_in,
            bytes_out,
            secs = pass_started.elapsed().as_secs_f64(),
            "compaction pass"
        );
    }
    reports
}

/// The compaction duty: a pass every `interval`, by whichever agent gets the lease.
pub async fn run(agent: Arc<Agent>, cfg: CompactionConfig) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(cfg.interval) => {}
            _ = agent.shutdown.cancelled() => return,
        }
        pass(&agent, &cfg).await;
    }
}

#[cfg(test)]
#[path = "compaction_tests.rs"]
mod tests;
