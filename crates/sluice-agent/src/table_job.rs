//! The table job: keeps the Iceberg table of every topic with `sluice.table.enable=true`
//! current, within the topic's `sluice.table.lag.ms`.
//!
//! Each agent looks at its replica every [`TableJobConfig::check_interval`](crate::config::TableJobConfig::check_interval); for each table it
//! is the preferred writer of (a stable hash of the topic over the live agents, so N agents
//! split the tables), and that has not been written for half its lag, it runs one pass
//! ([`run_once`]):
//! 1. take or renew the table's lease in the quorum (one writer per table at a time);
//! 2. read each partition from the table's next offset (in the quorum) to its last stable offset,
//!    at most [`TableJobConfig::max_commit_bytes`](crate::config::TableJobConfig::max_commit_bytes) of stored batches per pass;
//! 3. write the commit's files ([`sluice_table::TableWriter::prepare`]: Parquet, manifest,
//!    manifest list, metadata JSON; unique names, nothing current yet);
//! 4. propose [`TableCommand::Commit`] with the new offsets and metadata file: refused unless it
//!    follows the table's current commit from the lease holder, so each record lands once;
//! 5. point `version-hint.text` at the quorum's current metadata (also repaired on later passes
//!    when a crash fell between 4 and 5).
//!
//! With `sluice.table.mode=latest` (compacted topics only) a commit rewrites the table as one
//! row per (partition, key), the newest record, tombstoned keys removed (`overwrite`
//! snapshots, see [`sluice_table::latest`]); keyless records are skipped and counted
//! (`sluice_table_keyless_records_total`). Replaced files are deleted once
//! `sluice.table.retain.ms` has passed since a newer snapshot replaced theirs
//! (`sluice_table_deleted_files_total`), by the next pass, whether or not new records came.
//!
//! The table holds what a read_committed consumer reads: records below each partition's last
//! stable offset, without control batches or aborted transactions. A partition whose log start moved past the table's offset (retention) continues
//! from the log start. Undecodable JSON values never stop the job: they are written with
//! `_raw` and `_error` and counted (`sluice_table_malformed_records_total`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt;
use sluice_meta::command::{Command, CommandResponse};
use sluice_meta::tables::{TableCommand, TableCommit};
use sluice_table::{CommitInput, TableLocation, TableMode, TableRecord, TableWriter, ValueFormat};

use crate::agent::Agent;
use crate::clock::now_ms;
use crate::topic_config::effective;

/// What one topic's table settings say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TablePolicy {
    /// `sluice.table.lag.ms`: a record is in the table within about this long.
    pub lag: Duration,
    /// `sluice.table.value.format`.
    pub format: ValueFormat,
    /// `sluice.table.mode` (and, for `latest`, `sluice.table.retain.ms`).
    pub mode: TableMode,
}

/// The table settings of a topic with `sluice.table.enable=true`.
pub fn policy(configs: &std::collections::BTreeMap<String, String>) -> Option<TablePolicy> {
    if !effective(configs, "sluice.table.enable").eq_ignore_ascii_case("true") {
        return None;
    }
    Some(TablePolicy {
        lag: Duration::from_millis(
            effective(configs, "sluice.table.lag.ms")
                .trim()
                .parse()
                .unwrap_or(60_000),
        ),
        format: ValueFormat::parse(effective(configs, "sluice.table.value.format"))
            .unwrap_or(ValueFormat::Json),
        mode: if effective(configs, "sluice.table.mode").trim() == "latest" {
            TableMode::Latest {
                retain_ms: effective(configs, "sluice.table.retain.ms")
                    .trim()
                    .parse()
                    .unwrap_or(300_000),
            }
        } else {
            TableMode::Append
        },
    })
}

/// Why a pass did not commit.
#[derive(Debug, thiserror::Error)]
pub enum TableJobError {
    /// The topic was deleted, or `sluice.table.enable` is off; carries the topic name.
    #[error("topic {0} is gone or not a table topic")]
    NotATable(String),
    /// The quorum refused the table lease or the commit (the state machine's message).
    #[error("the lease or commit was refused: {0}")]
    Refused(String),
    /// A partition's stored batches could not be read.
    #[error("reading partition {partition}: {error:?}")]
    Read {
        /// The partition index.
        partition: i32,
        /// The read's Kafka error.
        error: kafka_protocol::error::ResponseError,
    },
    /// Decoding records or writing table files failed.
    #[error(transparent)]
    Table(#[from] sluice_table::TableError),
    /// A proposal to the quorum failed (no leader, timeout, ...).
    #[error("metadata quorum: {0}")]
    Meta(#[from] sluice_meta::MetaError),
}

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassOutcome {
    /// Records written (0 when there was nothing new).
    pub records: u64,
    /// Of those, records whose value could not be decoded (`_error` set).
    pub malformed: u64,
    /// Stored batch bytes read.
    pub bytes_read: u64,
    /// Objects PUT (data, manifest, manifest list, metadata, version hint).
    pub puts: u64,
    /// Latest mode: records skipped for want of a key.
    pub keyless: u64,
    /// Latest mode: replaced data files deleted (their retention was over).
    pub deleted_files: u64,
    /// Whether the pass reached every partition's high watermark (else the budget cut it
    /// short, and the next pass follows at once instead of after half the lag).
    pub caught_up: bool,
}

/// The readers' spelling of the store root: the directory of a `file://` store, else its URL.
pub fn table_root(agent: &Agent) -> String {
    match &agent.cfg.local_object_root {
        Some(dir) => dir.display().to_string(),
        None => agent.cfg.object_store_url.trim_end_matches('/').to_string(),
    }
}

/// The job loop (spawned by [`crate::background::spawn_all`]).
pub async fn run(agent: Arc<Agent>) {
    let mut last_run: HashMap<String, Instant> = HashMap::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(agent.cfg.table.check_interval) => {}
            _ = agent.shutdown.cancelled() => return,
        }
        let live = agent.live_agents();
        let due: Vec<(String, TablePolicy)> = agent.read(|s| {
            s.topics
                .values()
                .filter_map(|t| policy(&t.configs).map(|p| (t.name.clone(), p)))
                .collect()
        });
        for (topic, p) in due {
            if Agent::leader_for(&live, &topic, 0) != agent.id() {
                continue;
            }
            if last_run
                .get(&topic)
                .is_some_and(|t| t.elapsed() < p.lag / 2)
            {
                continue;
            }
            let started = Instant::now();
            last_run.insert(topic.clone(), started);
            match run_once(&agent, &topic).await {
                Ok(o) => {
                    if o.records > 0 || o.deleted_files > 0 {
                        tracing::info!(
                            topic,
                            records = o.records,
                            malformed = o.malformed,
                            keyless = o.keyless,
                            deleted_files = o.deleted_files,
                            bytes_read = o.bytes_read,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "table commit"
                        );
                    }
                    if !o.caught_up {
                        last_run.remove(&topic);
                    }
                }
                Err(e) => tracing::warn!(topic, error = %e, "table pass failed"),
            }
        }
    }
}

async fn pause_at(agent: &Agent, point: &str) {
    if agent.cfg.table.test_pause.as_deref() == Some(point) {
        tracing::warn!(point, "table job paused for a crash test");
        eprintln!("table job paused at {point}");
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// One partition's share of a pass: `[from, to)`, and where the partition ends.
struct PartitionRange {
    partition: i32,
    from: i64,
    to: i64,
    /// Where the partition's committed data ends: its last stable offset.
    stable_end: i64,
    aborted: Vec<sluice_table::AbortedTxn>,
}

/// One pass over `topic`'s table: lease, read, write, commit, hint (see the module doc).
/// Public so tests and benchmarks can drive it.
pub async fn run_once(agent: &Agent, topic: &str) -> Result<PassOutcome, TableJobError> {
    let not_table = || TableJobError::NotATable(topic.to_string());
    let (topic_id, policy) = agent
        .read(|s| {
            s.topics
                .get(topic)
                .and_then(|t| policy(&t.configs).map(|p| (t.id, p)))
        })
        .ok_or_else(not_table)?;
    let lease_ms = agent.cfg.table.lease.as_millis() as i64;
    propose(
        agent,
        Command::Table(TableCommand::Lease {
            topic: topic.to_string(),
            topic_id,
            agent_id: agent.id(),
            now_ms: now_ms(),
            lease_ms,
        }),
    )
    .await?;
    let writer = TableWriter::new(
        agent.cache.store().clone(),
        TableLocation {
            root_url: table_root(agent),
            topic: topic.to_string(),
        },
    );
    let mut outcome = PassOutcome {
        caught_up: true,
        ..PassOutcome::default()
    };
    // The table as the quorum has it (the lease was applied, so the replica is this current).
    let (version, next, metadata) = agent.read(|s| {
        let t = s.tables.get(topic).filter(|t| t.topic_id == topic_id);
        (
            t.map_or(0, |t| t.version),
            t.map_or_else(Vec::new, |t| t.next_offsets.clone()),
            t.map_or_else(String::new, |t| t.metadata.clone()),
        )
    });
    if !metadata.is_empty() {
        outcome.puts += repair_hint(&writer, &metadata).await?;
    }
    let budget = agent.cfg.table.max_commit_bytes;
    let ranges: Vec<PartitionRange> = agent.read(|s| {
        let Some(t) = s.topics.get(topic) else {
            return Vec::new();
        };
        let mut left = budget;
        t.partitions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                // read_committed: up to the last stable offset, aborted transactions left out.
                let stable_end = p.last_stable_offset();
                let from = next
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .max(p.log_start_offset)
                    .min(stable_end);
                let mut to = from;
                for (base, c) in p.chunks_from(from) {
                    if left == 0 || to >= stable_end {
                        break;
                    }
                    left = left.saturating_sub(c.len);
                    to = (base + c.records).min(stable_end);
                }
                PartitionRange {
                    partition: i as i32,
                    from,
                    to,
                    stable_end,
                    aborted: p
                        .aborted_between(from, to)
                        .into_iter()
                        .map(|a| sluice_table::AbortedTxn {
                            producer_id: a.producer_id,
                            first_offset: a.first_offset,
                        })
                        .collect(),
                }
            })
            .collect()
    });
    let mut records: Vec<TableRecord> = Vec::new();
    let mut next_offsets = Vec::with_capacity(ranges.len());
    for r in &ranges {
        if r.to > r.from {
            let data: Bytes = agent
                .read_offsets(topic, r.partition, r.from, r.to - 1)
                .await
                .map_err(|error| TableJobError::Read {
                    partition: r.partition,
                    error,
                })?;
            outcome.bytes_read += data.len() as u64;
            let (recs, _) =
                sluice_table::decode_batches(r.partition, &data, r.from, r.to, &r.aborted)?;
            records.extend(recs);
        }
        next_offsets.push(r.to);
        outcome.caught_up &= r.to == r.stable_end;
    }
    // A partition the table has no offset for yet is at 0 (a fresh table commits nothing until
    // some partition moves).
    let moved = next_offsets
        .iter()
        .enumerate()
        .any(|(i, new)| *new != next.get(i).copied().unwrap_or(0));
    let latest = matches!(policy.mode, TableMode::Latest { .. });
    // Latest mode looks at the table even when no offset moved: replaced files may be due for
    // deletion.
    let look = moved || (latest && !metadata.is_empty());
    if !look {
        return Ok(outcome);
    }
    let now = now_ms();
    let (new_metadata, malformed) = if records.is_empty() && !latest {
        (metadata.clone(), 0)
    } else {
        let prepared = writer
            .prepare(CommitInput {
                previous: (!metadata.is_empty()).then_some(metadata.as_str()),
                format: policy.format,
                records: &records,
                now_ms: now,
                mode: policy.mode,
            })
            .await?;
        outcome.puts += prepared.puts;
        outcome.keyless = prepared.keyless;
        outcome.deleted_files = prepared.deleted_data_files;
        // The deletes happened whether or not the commit below lands (they are safe either way).
        metrics::counter!("sluice_table_deleted_files_total")
            .increment(prepared.deleted_data_files);
        if prepared.metadata_key != metadata {
            pause_at(agent, "files").await;
        }
        (prepared.metadata_key, prepared.malformed)
    };
    if !moved && new_metadata == metadata {
        return Ok(outcome);
    }
    propose(
        agent,
        Command::Table(TableCommand::Commit(TableCommit {
            topic: topic.to_string(),
            topic_id,
            agent_id: agent.id(),
            now_ms: now_ms(),
            version: version + 1,
            next_offsets,
            metadata: new_metadata.clone(),
            records: records.len() as u64,
            malformed,
            lease_ms,
        })),
    )
    .await?;
    outcome.records = records.len() as u64;
    outcome.malformed = malformed;
    metrics::counter!("sluice_table_records_total").increment(outcome.records);
    metrics::counter!("sluice_table_malformed_records_total").increment(malformed);
    metrics::counter!("sluice_table_keyless_records_total").increment(outcome.keyless);
    metrics::counter!("sluice_table_commits_total").increment(1);
    pause_at(agent, "committed").await;
    if new_metadata != metadata {
        writer.publish_hint(&new_metadata).await?;
        outcome.puts += 1;
    }
    Ok(outcome)
}

/// Rewrites `version-hint.text` if it does not name `metadata` (a crash between a quorum commit
/// and its hint, or a slower former lease holder's late hint). Returns the PUTs made.
async fn repair_hint(writer: &TableWriter, metadata: &str) -> Result<u64, TableJobError> {
    let want = metadata
        .rsplit('/')
        .next()
        .unwrap_or(metadata)
        .trim_end_matches(".metadata.json");
    let key: ObjectPath = writer.location().key("metadata/version-hint.text");
    let store = writer.store();
    let current = match store.get(&key).await {
        Ok(r) => Some(r.bytes().await.map_err(sluice_table::TableError::from)?),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => return Err(sluice_table::TableError::from(e).into()),
    };
    if current.as_deref() == Some(want.as_bytes()) {
        return Ok(0);
    }
    writer.publish_hint(metadata).await?;
    Ok(1)
}

async fn propose(agent: &Agent, cmd: Command) -> Result<(), TableJobError> {
    match agent.meta.propose_and_wait(cmd).await?.1 {
        CommandResponse::Error { message, .. } => Err(TableJobError::Refused(message)),
        _ => Ok(()),
    }
}
