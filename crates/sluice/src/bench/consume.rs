//! `sluice bench consume`: reads a topic from its start offsets up to the high watermarks
//! seen at start, as fast as Fetch allows, and checks what it reads.
//!
//! Partitions are split over `--connections` connections per leader broker; each connection runs
//! one sessionless Fetch at a time for all of its unfinished partitions. Every batch header is
//! parsed in place (no record decoding), its CRC-32C checked, and its base offset compared with
//! the previous batch's end: offsets must be dense. A trailing partial batch (a fetch cut at
//! `partition_max_bytes`) is simply fetched again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure};
use clap::Args;
use hdrhistogram::Histogram;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde_json::json;
use sluice_protocol::batch::{BatchHeader, BatchIter};
use sluice_protocol::frame::read_frame;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::client::{self, encode_request, Connection, EARLIEST, LATEST, MAX_RESPONSE_BYTES};
use super::report::{self, Counters, ErrorTally, LatencySummary, MIB};
use super::CommonArgs;

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Where to start: `earliest` (each partition's log start offset) or an offset.
    #[arg(long, env = "SLUICE_BENCH_FROM", default_value = "earliest", value_parser = parse_start)]
    from: Start,
    /// Connections per leader broker; partitions are split across them.
    #[arg(long, env = "SLUICE_BENCH_CONNECTIONS", default_value_t = 1)]
    connections: usize,
    /// Fetch max_bytes.
    #[arg(long, env = "SLUICE_BENCH_MAX_BYTES", default_value_t = 50 << 20)]
    max_bytes: i32,
    /// Fetch partition_max_bytes.
    #[arg(long, env = "SLUICE_BENCH_PARTITION_MAX_BYTES", default_value_t = 8 << 20)]
    partition_max_bytes: i32,
    /// Fetch max_wait_ms.
    #[arg(long, env = "SLUICE_BENCH_MAX_WAIT_MS", default_value_t = 500)]
    max_wait_ms: i32,
    /// Skip the CRC-32C check of each batch.
    #[arg(long, env = "SLUICE_BENCH_NO_VERIFY_CRC", default_value_t = false)]
    no_verify_crc: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Earliest,
    Offset(i64),
}

// A `String` error: this is a clap value parser, and clap prints the message as given.
fn parse_start(s: &str) -> Result<Start, String> {
    match s {
        "earliest" => Ok(Start::Earliest),
        _ => s
            .parse::<i64>()
            .ok()
            .filter(|o| *o >= 0)
            .map(Start::Offset)
            .ok_or_else(|| format!("'{s}' is neither 'earliest' nor an offset")),
    }
}

/// Stop if no partition advances for this long.
const STALL: Duration = Duration::from_secs(30);
/// Offset anomalies described in full; the rest are only counted.
const MAX_DESCRIBED: usize = 10;

/// One partition's read position.
#[derive(Debug, Clone)]
struct PartitionCursor {
    partition: i32,
    next: i64,
    end: i64,
    failed: bool,
}

impl PartitionCursor {
    fn active(&self) -> bool {
        !self.failed && self.next < self.end
    }
}

/// What every connection reports into.
#[derive(Default)]
struct Shared {
    stop: Arc<AtomicBool>,
    read: Arc<Counters>,
    batches: AtomicU64,
    fetches: AtomicU64,
    errors: ErrorTally,
    /// Batches whose base offset is not the previous batch's end.
    offset_anomalies: AtomicU64,
    described: Mutex<Vec<String>>,
    /// Batches that failed CRC or header validation.
    bad_batches: AtomicU64,
}

impl Shared {
    fn anomaly(&self, what: String) {
        self.offset_anomalies.fetch_add(1, Ordering::Relaxed);
        let mut d = self.described.lock().expect("anomaly list poisoned");
        if d.len() < MAX_DESCRIBED {
            d.push(what);
        }
    }
}

struct FetchSettings {
    topic_name: TopicName,
    topic_id: Uuid,
    version: i16,
    max_bytes: i32,
    partition_max_bytes: i32,
    max_wait_ms: i32,
    verify_crc: bool,
}

pub async fn run(a: ConsumeArgs) -> anyhow::Result<()> {
    ensure!(a.connections > 0, "--connections must be at least 1");
    let topic = &a.common.topic;
    let layout = {
        let mut admin = Connection::connect(&a.common.bootstrap).await?;
        client::topic_layout(&mut admin, topic, Duration::from_secs(2)).await?
    };
    let cap = if layout.id.is_nil() { 12 } else { i16::MAX };

    // Offsets come from each partition's leader, then its partitions are dealt to connections.
    let mut plans: Vec<(Connection, Vec<PartitionCursor>)> = Vec::new();
    let mut total_to_read = 0i64;
    for (addr, partitions) in layout.by_leader()? {
        let mut leader = Connection::connect(&addr).await?;
        let ends = client::list_offsets(&mut leader, topic, &partitions, LATEST).await?;
        let starts = match a.from {
            Start::Earliest => {
                client::list_offsets(&mut leader, topic, &partitions, EARLIEST).await?
            }
            Start::Offset(o) => partitions.iter().map(|&p| (p, o)).collect(),
        };
        let mut groups: Vec<Vec<PartitionCursor>> =
            vec![Vec::new(); a.connections.min(partitions.len())];
        for (i, p) in partitions.iter().enumerate() {
            let (next, end) = (starts[p], ends[p]);
            total_to_read += (end - next).max(0);
            let n = groups.len();
            groups[i % n].push(PartitionCursor {
                partition: *p,
                next,
                end,
                failed: false,
            });
        }
        let mut conns = vec![leader];
        for _ in 1..groups.len() {
            conns.push(Connection::connect(&addr).await?);
        }
        plans.extend(conns.into_iter().zip(groups));
    }
    let fetch_version = match plans.first() {
        Some((c, _)) => c.versions.get_capped(ApiKey::Fetch, cap)?,
        None => bail!("topic {topic} has no partitions"),
    };
    eprintln!(
        "consuming {topic}: {} partitions, {total_to_read} offsets up to the high watermarks seen at start",
        layout.leaders.len()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let ctrl_c = super::stop_on_ctrl_c(stop.clone());
    let shared = Arc::new(Shared {
        stop,
        ..Default::default()
    });
    let start = Instant::now();
    let progress = report::spawn_progress("consumed", shared.read.clone(), start);
    let mut tasks = tokio::task::JoinSet::new();
    for (conn, cursors) in plans {
        let settings = FetchSettings {
            topic_name: TopicName(StrBytes::from_string(topic.clone())),
            topic_id: layout.id,
            version: conn.versions.get_capped(ApiKey::Fetch, cap)?,
            max_bytes: a.max_bytes,
            partition_max_bytes: a.partition_max_bytes,
            max_wait_ms: a.max_wait_ms,
            verify_crc: !a.no_verify_crc,
        };
        tasks.spawn(fetch_loop(conn, cursors, settings, shared.clone()));
    }
    let mut latency = report::new_latency_histogram();
    let mut unfinished = Vec::new();
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok((h, cursors)) => {
                latency
                    .add(&h)
                    .map_err(|e| anyhow!("merging histograms: {e:?}"))?;
                unfinished.extend(cursors.into_iter().filter(|c| c.next < c.end));
            }
            Err(e) => {
                shared.stop.store(true, Ordering::Relaxed);
                failure.get_or_insert(e);
            }
        }
    }
    let elapsed = start.elapsed();
    progress.abort();
    ctrl_c.abort();
    if let Some(e) = failure {
        return Err(e.context("consume bench failed"));
    }

    let (records, bytes) = shared.read.get();
    let batches = shared.batches.load(Ordering::Relaxed);
    let fetches = shared.fetches.load(Ordering::Relaxed);
    let anomalies = shared.offset_anomalies.load(Ordering::Relaxed);
    let bad = shared.bad_batches.load(Ordering::Relaxed);
    let error_count = shared.errors.total();
    let lat = LatencySummary::of(&latency);
    let described = shared
        .described
        .lock()
        .expect("anomaly list poisoned")
        .clone();
    unfinished.sort_by_key(|c| c.partition);
    let unfinished_desc: Vec<String> = unfinished
        .iter()
        .map(|c| {
            format!(
                "partition {} stopped at {} of {}",
                c.partition, c.next, c.end
            )
        })
        .collect();
    if a.common.json {
        let out = json!({
            "bench": "consume",
            "topic": topic,
            "partitions": layout.leaders.len(),
            "connections_per_broker": a.connections,
            "fetch_version": fetch_version,
            "expected_offsets": total_to_read,
            "records": records,
            "batches": batches,
            "batch_bytes": bytes,
            "fetches": fetches,
            "elapsed_secs": elapsed.as_secs_f64(),
            "records_per_sec": report::rate(records as f64, elapsed),
            "mib_per_sec": report::rate(bytes as f64 / MIB, elapsed),
            "fetch_latency": lat.to_json(),
            "crc_verified": !a.no_verify_crc,
            "offset_anomalies": anomalies,
            "offset_anomaly_examples": described,
            "bad_batches": bad,
            "errors": shared.errors.to_json(),
            "unfinished": unfinished_desc,
        });
        println!("{out}");
    } else {
        println!(
            "consume: topic {topic} ({} partitions), {} connection(s) per broker, Fetch v{fetch_version}",
            layout.leaders.len(),
            a.connections
        );
        println!(
            "  read       {records} records in {batches} batches, {:.1} MiB of batches, {fetches} fetches ({total_to_read} offsets expected)",
            bytes as f64 / MIB
        );
        println!("  elapsed    {:.2} s", elapsed.as_secs_f64());
        println!(
            "  throughput {:.0} records/s, {:.1} MiB/s of batches",
            report::rate(records as f64, elapsed),
            report::rate(bytes as f64 / MIB, elapsed)
        );
        println!("  fetch lat. {}", lat.line());
        println!(
            "  checks     offsets {}, CRC {}",
            if anomalies == 0 {
                "dense".to_string()
            } else {
                format!("NOT DENSE ({anomalies} anomalies)")
            },
            match (a.no_verify_crc, bad) {
                (true, _) => "not checked".to_string(),
                (false, 0) => "ok".to_string(),
                (false, n) => format!("{n} BAD BATCHES"),
            }
        );
        println!(
            "  errors     {}",
            if error_count == 0 {
                "none".to_string()
            } else {
                format!("{error_count} (see stderr)")
            }
        );
    }
    let interrupted = shared.stop.load(Ordering::Relaxed);
    if error_count + anomalies + bad > 0 || (!unfinished.is_empty() && !interrupted) {
        eprintln!(
            "!!!!!!!! CONSUME PROBLEMS: {error_count} error code(s), {anomalies} offset anomalies, {bad} bad batch(es), {} unfinished partition(s) !!!!!!!!",
            unfinished.len()
        );
        for line in shared
            .errors
            .lines()
            .iter()
            .chain(&described)
            .chain(&unfinished_desc)
        {
            eprintln!("!!!   {line}");
        }
        bail!("consume bench found problems");
    }
    Ok(())
}

/// Fetches until every cursor reaches its end (or fails); returns fetch latency and the cursors.
async fn fetch_loop(
    conn: Connection,
    mut cursors: Vec<PartitionCursor>,
    s: FetchSettings,
    shared: Arc<Shared>,
) -> anyhow::Result<(Histogram<u64>, Vec<PartitionCursor>)> {
    let parts = conn.into_parts();
    let (addr, mut reader, mut writer, mut correlation_id) = (
        parts.addr,
        parts.reader,
        parts.writer,
        parts.next_correlation_id,
    );
    let mut latency = report::new_latency_histogram();
    let mut last_progress = Instant::now();
    let patience = Duration::from_millis(s.max_wait_ms.max(0) as u64) + Duration::from_secs(30);
    while cursors.iter().any(PartitionCursor::active) && !shared.stop.load(Ordering::Relaxed) {
        let partitions: Vec<FetchPartition> = cursors
            .iter()
            .filter(|c| c.active())
            .map(|c| {
                FetchPartition::default()
                    .with_partition(c.partition)
                    .with_fetch_offset(c.next)
                    .with_partition_max_bytes(s.partition_max_bytes)
            })
            .collect();
        let req = FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(s.max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(s.max_bytes)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(s.topic_name.clone())
                .with_topic_id(s.topic_id)
                .with_partitions(partitions)]);
        let frame = encode_request(ApiKey::Fetch, s.version, correlation_id, &req, 512)?;
        let sent_at = Instant::now();
        writer.write_all(&frame).await?;
        let frame = tokio::time::timeout(patience, read_frame(&mut reader, MAX_RESPONSE_BYTES))
            .await
            .map_err(|_| anyhow!("{addr}: no Fetch response within {patience:?}"))??
            .ok_or_else(|| anyhow!("{addr} closed the connection"))?;
        report::record_latency(&mut latency, sent_at.elapsed());
        let resp: FetchResponse =
            client::decode_response(ApiKey::Fetch, s.version, correlation_id, frame)?;
        correlation_id = correlation_id.wrapping_add(1);
        shared.fetches.fetch_add(1, Ordering::Relaxed);
        if resp.error_code != 0 {
            shared.errors.add(resp.error_code, None);
            bail!(
                "{addr}: Fetch failed: {}",
                client::error_name(resp.error_code)
            );
        }
        let mut advanced = false;
        for t in &resp.responses {
            for p in &t.partitions {
                let Some(c) = cursors
                    .iter_mut()
                    .find(|c| c.partition == p.partition_index)
                else {
                    continue;
                };
                if p.error_code != 0 {
                    shared.errors.add(p.error_code, None);
                    c.failed = true;
                    continue;
                }
                let Some(records) = &p.records else { continue };
                advanced |= take_batches(c, records, s.verify_crc, &shared);
            }
        }
        if advanced {
            last_progress = Instant::now();
        } else if last_progress.elapsed() > STALL {
            bail!("{addr}: no partition advanced for {STALL:?}");
        }
    }
    Ok((latency, cursors))
}

/// Walks the batches of one partition's records; returns whether the cursor moved.
fn take_batches(
    c: &mut PartitionCursor,
    records: &[u8],
    verify_crc: bool,
    shared: &Shared,
) -> bool {
    let before = c.next;
    for item in BatchIter::new(records) {
        let (at, h) = match item {
            Ok(x) => x,
            Err(e) => {
                shared.bad_batches.fetch_add(1, Ordering::Relaxed);
                shared.anomaly(format!(
                    "partition {}: unreadable batch at offset {}: {e}",
                    c.partition, c.next
                ));
                c.failed = true;
                break;
            }
        };
        if verify_crc {
            if let Err(e) = BatchHeader::parse_validated(&records[at..at + h.total_len]) {
                shared.bad_batches.fetch_add(1, Ordering::Relaxed);
                shared.anomaly(format!(
                    "partition {}: batch at offset {}: {e}",
                    c.partition, h.base_offset
                ));
            }
        }
        let end = h.base_offset + h.offset_count();
        if h.base_offset != c.next {
            shared.anomaly(format!(
                "partition {}: expected a batch at offset {}, got one at {} (ending at {end})",
                c.partition, c.next, h.base_offset
            ));
        }
        if end <= c.next {
            // Already seen: do not count it twice or move backwards.
            continue;
        }
        shared.batches.fetch_add(1, Ordering::Relaxed);
        shared
            .read
            .add(h.records_count.max(0) as u64, h.total_len as u64);
        c.next = end;
    }
    c.next != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{Compression, Record};
    use sluice_protocol::testing;

    /// A one-record batch at `offset`.
    fn batch(offset: i64) -> Vec<u8> {
        let r = Record {
            partition_leader_epoch: -1,
            ..testing::record(offset, 0, b"v")
        };
        testing::encode(&[r], Compression::None).to_vec()
    }

    fn cursor(next: i64) -> PartitionCursor {
        PartitionCursor {
            partition: 0,
            next,
            end: 100,
            failed: false,
        }
    }

    #[test]
    fn dense_batches_advance_the_cursor() {
        let shared = Shared::default();
        let mut c = cursor(5);
        let mut data = batch(5);
        data.extend(batch(6));
        data.extend(&batch(7)[..20]); // a partial trailing batch is ignored
        assert!(take_batches(&mut c, &data, true, &shared));
        assert_eq!(c.next, 7);
        assert_eq!(shared.read.get().0, 2);
        assert_eq!(shared.offset_anomalies.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn gaps_and_bad_crcs_are_reported() {
        let shared = Shared::default();
        let mut c = cursor(0);
        let mut data = batch(0);
        data.extend(batch(2));
        let mut corrupt = batch(3);
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        data.extend(corrupt);
        take_batches(&mut c, &data, true, &shared);
        assert_eq!(c.next, 4);
        assert_eq!(shared.offset_anomalies.load(Ordering::Relaxed), 2); // the gap, the CRC
        assert_eq!(shared.bad_batches.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn start_is_earliest_or_an_offset() {
        assert_eq!(parse_start("earliest"), Ok(Start::Earliest));
        assert_eq!(parse_start("42"), Ok(Start::Offset(42)));
        assert!(parse_start("-1").is_err() && parse_start("latest").is_err());
    }
}
