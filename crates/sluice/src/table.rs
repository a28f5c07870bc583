//! `sluice table export`: an offset range of any topic (table config or not) to one Parquet
//! file, read over the Kafka protocol from any Kafka-compatible bootstrap (Sluice or Apache
//! Kafka), with the columns the table job writes (see `sluice_table::schema`). It reads as a
//! read_committed consumer: aborted transactions are left out, and a partition with an open
//! transaction ends at its last stable offset.
//!
//! JSON topics are read twice: once to infer the columns from every value in the range (a
//! Parquet file has one schema), once to write them. Raw topics are read once. A progress bar
//! (offsets done of the range) is drawn on stderr when it is a terminal; the summary goes to
//! stdout as one JSON object.

use std::collections::{BTreeMap, HashMap};
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_table::schema::ValueFormat;
use sluice_table::{decode_batches, AbortedTxn, ParquetSink, TableRecord, TableSchema};
use uuid::Uuid;

use crate::bench::client::{self, Connection, EARLIEST, LATEST};

#[derive(Debug, Args)]
pub struct TableArgs {
    #[command(subcommand)]
    command: TableCommand,
}

#[derive(Debug, Subcommand)]
enum TableCommand {
    /// Write an offset range of a topic to one Parquet file.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Any Kafka-compatible bootstrap address.
    #[arg(long, env = "SLUICE_TABLE_BOOTSTRAP", default_value = "127.0.0.1:9092")]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    /// First offset, in every partition: a number or `earliest` (a partition's log start
    /// offset when it is later).
    #[arg(long, default_value = "earliest")]
    from_offset: String,
    /// End offset (exclusive), in every partition: a number or `end` (the high watermark when
    /// the export starts).
    #[arg(long, default_value = "end")]
    to: String,
    /// Only these partitions (default: all).
    #[arg(long, value_delimiter = ',')]
    partitions: Vec<i32>,
    /// `json` (fields to columns, inferred) or `raw` (a value binary column).
    #[arg(long, default_value = "json")]
    value_format: String,
    /// The Parquet file to write.
    #[arg(long)]
    output: PathBuf,
}

pub async fn run(a: TableArgs) -> anyhow::Result<()> {
    match a.command {
        TableCommand::Export(e) => export(e).await,
    }
}

fn parse_bound(s: &str, symbolic: &str) -> anyhow::Result<Option<i64>> {
    if s == symbolic {
        return Ok(None);
    }
    let n: i64 = s
        .parse()
        .map_err(|_| anyhow!("{s:?} is neither an offset nor `{symbolic}`"))?;
    if n < 0 {
        bail!("offset {n} is negative");
    }
    Ok(Some(n))
}

/// Fetches the range `[from, to)` of each partition, batch by batch, from their leaders.
struct RangeReader {
    topic: String,
    topic_id: Uuid,
    /// partition -> (next offset, end).
    cursors: BTreeMap<i32, (i64, i64)>,
    leaders: BTreeMap<i32, String>,
    conns: HashMap<String, Connection>,
}

impl RangeReader {
    /// The next records of some unfinished partition; `None` once all are done.
    async fn next_chunk(&mut self) -> anyhow::Result<Option<Vec<TableRecord>>> {
        let Some((&p, &(next, end))) = self.cursors.iter().find(|(_, (n, e))| n < e) else {
            return Ok(None);
        };
        let addr = self.leaders[&p].clone();
        if !self.conns.contains_key(&addr) {
            self.conns
                .insert(addr.clone(), Connection::connect(&addr).await?);
        }
        let conn = self.conns.get_mut(&addr).expect("inserted");
        let req = FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(32 << 20)
            .with_isolation_level(1)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(self.topic.clone())))
                .with_topic_id(self.topic_id)
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(p)
                    .with_fetch_offset(next)
                    .with_partition_max_bytes(16 << 20)])]);
        let resp = conn.call(&req).await?;
        if resp.error_code != 0 {
            bail!("Fetch failed: {}", client::error_name(resp.error_code));
        }
        let part = resp
            .responses
            .iter()
            .flat_map(|t| &t.partitions)
            .find(|r| r.partition_index == p)
            .ok_or_else(|| anyhow!("Fetch did not answer for partition {p}"))?;
        if part.error_code != 0 {
            bail!(
                "Fetch {}/{p} at {next}: {}",
                self.topic,
                client::error_name(part.error_code)
            );
        }
        let data = part.records.clone().unwrap_or_default();
        let aborted: Vec<AbortedTxn> = part
            .aborted_transactions
            .iter()
            .flatten()
            .map(|a| AbortedTxn {
                producer_id: a.producer_id.0,
                first_offset: a.first_offset,
            })
            .collect();
        let (records, after) = decode_batches(p, &data, next, end, &aborted)?;
        if after <= next && data.is_empty() && part.last_stable_offset <= next {
            // An open transaction holds the rest back: the export ends at the stable offset.
            self.cursors.insert(p, (next, next));
            return Ok(Some(Vec::new()));
        }
        if after <= next {
            bail!(
                "Fetch {}/{p} at {next} returned no batch below the end {end}",
                self.topic
            );
        }
        self.cursors.insert(p, (after, end));
        Ok(Some(records))
    }
}

async fn reader(a: &ExportArgs) -> anyhow::Result<(RangeReader, u64)> {
    let mut conn = Connection::connect(&a.bootstrap).await?;
    let layout = client::topic_layout(&mut conn, &a.topic, Duration::from_secs(10)).await?;
    let mut partitions: Vec<i32> = layout.leaders.keys().copied().collect();
    if !a.partitions.is_empty() {
        for p in &a.partitions {
            if !partitions.contains(p) {
                bail!("topic {} has no partition {p}", a.topic);
            }
        }
        partitions = a.partitions.clone();
    }
    let starts = client::list_offsets(&mut conn, &a.topic, &partitions, EARLIEST).await?;
    let ends = client::list_offsets(&mut conn, &a.topic, &partitions, LATEST).await?;
    let from = parse_bound(&a.from_offset, "earliest")?;
    let to = parse_bound(&a.to, "end")?;
    let mut cursors = BTreeMap::new();
    let mut total = 0u64;
    for p in &partitions {
        let (start, end) = (starts[p], ends[p]);
        let first = from.unwrap_or(start).clamp(start, end);
        let last = to.unwrap_or(end).clamp(first, end);
        total += (last - first) as u64;
        cursors.insert(*p, (first, last));
    }
    let leaders = layout
        .leaders
        .iter()
        .map(|(p, b)| {
            let addr = layout
                .brokers
                .get(b)
                .cloned()
                .ok_or_else(|| anyhow!("partition {p}: leader {b} is not a known broker"))?;
            Ok((*p, addr))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((
        RangeReader {
            topic: a.topic.clone(),
            topic_id: layout.id,
            cursors,
            leaders,
            conns: HashMap::new(),
        },
        total,
    ))
}

fn bar(total: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} offsets ({per_sec}, eta {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

async fn export(a: ExportArgs) -> anyhow::Result<()> {
    let format = ValueFormat::parse(&a.value_format)
        .ok_or_else(|| anyhow!("--value-format must be json or raw"))?;
    let started = Instant::now();
    let mut schema = TableSchema::new(format);
    if format == ValueFormat::Json {
        let (mut r, total) = reader(&a).await?;
        let pb = bar(total, "inferring columns");
        while let Some(recs) = r.next_chunk().await? {
            let parsed = sluice_table::parquet_file::parse_values(format, &recs);
            if let Some(s) = schema.evolve(&parsed) {
                schema = s;
            }
            pb.inc(recs.len() as u64);
        }
        pb.finish_and_clear();
    }
    let (mut r, total) = reader(&a).await?;
    let ranges: BTreeMap<i32, (i64, i64)> = r.cursors.clone();
    let file = std::fs::File::create(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let mut sink = ParquetSink::new(BufWriter::new(file), schema)?;
    let pb = bar(total, "writing");
    let mut bytes = 0u64;
    let mut pending: Vec<TableRecord> = Vec::new();
    while let Some(recs) = r.next_chunk().await? {
        pb.inc(recs.len() as u64);
        bytes += recs.iter().map(|r| r.payload_len() as u64).sum::<u64>();
        pending.extend(recs);
        if pending.len() >= sluice_table::parquet_file::ROWS_PER_GROUP {
            sink.write(&pending)?;
            pending.clear();
        }
    }
    sink.write(&pending)?;
    let (out, stats) = sink.finish()?;
    out.into_inner()
        .map_err(|e| anyhow!("writing {}: {}", a.output.display(), e.error()))?
        .sync_all()?;
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let summary = serde_json::json!({
        "output": a.output.display().to_string(),
        "records": stats.rows,
        "malformed": stats.malformed,
        "payload_bytes": bytes,
        "partitions": ranges.iter().map(|(p, (f, t))| (p.to_string(), [f, t])).collect::<BTreeMap<_, _>>(),
        "seconds": secs,
    });
    println!("{summary}");
    Ok(())
}
