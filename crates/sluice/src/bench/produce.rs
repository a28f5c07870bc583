//! `sluice bench produce`: pipelined Produce requests over several connections.
//!
//! Each connection has a writer task and a reader task. The writer claims records from a shared
//! budget (or until the deadline), builds one magic-v2 batch per partition for the next
//! `--partitions-per-request` partitions in its rotation, and sends the request once it holds one
//! of the `--in-flight` permits. The reader takes responses in order (Kafka answers a connection
//! in request order), checks correlation ids, counts acknowledged records per partition or the
//! error code each partition got, records send-to-response latency, and releases the permit.
//!
//! Values are slices of a pool of random hex characters: cheap to produce, not all alike, and
//! about as compressible as text (so `--compression` has something to do, but not too much).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context};
use bytes::{Bytes, BytesMut};
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sluice_protocol::batch::BatchHeader;
use sluice_protocol::frame::read_frame;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::client::{self, encode_request, Connection, TopicCreation, MAX_RESPONSE_BYTES};
use super::report::{self, Counters, ErrorTally, LatencySummary, MIB};
use super::CommonArgs;

#[derive(Debug, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Partitions to create the topic with (an existing topic keeps its own count).
    #[arg(long, env = "SLUICE_BENCH_PARTITIONS", default_value_t = 8)]
    partitions: i32,
    /// Bytes of each record's value (records have no key and no headers).
    #[arg(long, env = "SLUICE_BENCH_RECORD_SIZE", default_value_t = 1024)]
    record_size: usize,
    /// Records to write in total [default: 1000000, or unlimited with --duration-secs].
    #[arg(long, env = "SLUICE_BENCH_RECORDS")]
    records: Option<u64>,
    /// Stop sending after this many seconds (and after --records, if also given).
    #[arg(long, env = "SLUICE_BENCH_DURATION_SECS")]
    duration_secs: Option<u64>,
    /// Records per batch.
    #[arg(long, env = "SLUICE_BENCH_BATCH_RECORDS", default_value_t = 16)]
    batch_records: u32,
    /// Partitions per Produce request, one batch each; 0 means every partition the connection's
    /// broker leads.
    #[arg(long, env = "SLUICE_BENCH_PARTITIONS_PER_REQUEST", default_value_t = 0)]
    partitions_per_request: usize,
    /// Connections per leader broker.
    #[arg(long, env = "SLUICE_BENCH_CONNECTIONS", default_value_t = 4)]
    connections: usize,
    /// Produce requests outstanding per connection.
    #[arg(long, env = "SLUICE_BENCH_IN_FLIGHT", default_value_t = 5)]
    in_flight: usize,
    /// -1 (all), 1 or 0 (no response; latency is then not measured).
    #[arg(long, env = "SLUICE_BENCH_ACKS", default_value_t = -1, allow_hyphen_values = true)]
    acks: i16,
    /// Batch compression.
    #[arg(long, env = "SLUICE_BENCH_COMPRESSION", value_enum, default_value_t = CompressionArg::None)]
    compression: CompressionArg,
    /// Produce request timeout_ms.
    #[arg(
        long,
        env = "SLUICE_BENCH_REQUEST_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    request_timeout_ms: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CompressionArg {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionArg {
    fn codec(self) -> Compression {
        match self {
            CompressionArg::None => Compression::None,
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Snappy => Compression::Snappy,
            CompressionArg::Lz4 => Compression::Lz4,
            CompressionArg::Zstd => Compression::Zstd,
        }
    }
    fn name(self) -> &'static str {
        match self {
            CompressionArg::None => "none",
            CompressionArg::Gzip => "gzip",
            CompressionArg::Snappy => "snappy",
            CompressionArg::Lz4 => "lz4",
            CompressionArg::Zstd => "zstd",
        }
    }
}

/// State shared by every connection of one run.
struct Shared {
    /// Records not yet claimed by a writer.
    budget: AtomicU64,
    deadline: Option<Instant>,
    stop: Arc<AtomicBool>,
    /// Acknowledged records and their value bytes.
    acked: Arc<Counters>,
    /// Acknowledged record-batch bytes, as sent (compressed, with batch overhead).
    acked_wire_bytes: AtomicU64,
    requests: AtomicU64,
    errors: ErrorTally,
    /// Partitions sent in a request whose response did not mention them.
    missing: AtomicU64,
}

impl Shared {
    /// Takes up to `want` records from the budget; 0 once the run is over.
    fn claim(&self, want: u64) -> u64 {
        if self.stop.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d) {
            return 0;
        }
        let mut got = 0;
        let _ = self
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                got = left.min(want);
                Some(left - got)
            });
        got
    }
}

/// What the topic looks like on the wire.
#[derive(Clone)]
struct TopicRef {
    name: TopicName,
    id: Uuid,
}

/// A batch sent and not yet answered.
struct SentBatch {
    partition: i32,
    records: u64,
    payload_bytes: u64,
    wire_bytes: u64,
}

struct InFlight {
    correlation_id: i32,
    sent_at: Instant,
    batches: Vec<SentBatch>,
    _permit: OwnedSemaphorePermit,
}

/// Builds record batches whose values are slices of a random pool.
struct BatchBuilder {
    pool: Bytes,
    record_size: usize,
    compression: Compression,
    rng: SmallRng,
    records: Vec<Record>,
}

impl BatchBuilder {
    fn new(record_size: usize, compression: Compression) -> BatchBuilder {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut rng = SmallRng::from_os_rng();
        let len = (1 << 20) + record_size;
        let pool: Vec<u8> = (0..len).map(|_| HEX[rng.random_range(0..16)]).collect();
        BatchBuilder {
            pool: Bytes::from(pool),
            record_size,
            compression,
            rng,
            records: Vec::new(),
        }
    }

    fn build(&mut self, n: u64) -> anyhow::Result<Bytes> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.records.clear();
        for i in 0..n as i64 {
            let at = self
                .rng
                .random_range(0..=self.pool.len() - self.record_size);
            self.records.push(Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
                producer_id: NO_PRODUCER_ID,
                producer_epoch: NO_PRODUCER_EPOCH,
                timestamp_type: TimestampType::Creation,
                offset: i,
                // The encoder starts a new batch whenever `offset - sequence` changes, so the
                // "no sequence" marker must move with the offset; the batch's base sequence
                // then comes out as NO_SEQUENCE (-1), as a non-idempotent producer sends.
                sequence: NO_SEQUENCE + i as i32,
                timestamp: now,
                key: None,
                value: Some(self.pool.slice(at..at + self.record_size)),
                headers: Default::default(),
            });
        }
        let mut buf = BytesMut::with_capacity(n as usize * (self.record_size + 16) + 128);
        let options = RecordEncodeOptions {
            version: 2,
            compression: self.compression,
        };
        RecordBatchEncoder::encode(&mut buf, &self.records, &options)
            .context("encoding a record batch")?;
        let header = BatchHeader::parse(&buf)?;
        ensure!(
            header.total_len == buf.len()
                && header.records_count as u64 == n
                && header.base_sequence == NO_SEQUENCE,
            "the encoder did not produce one batch of {n} records"
        );
        Ok(buf.freeze())
    }
}

/// One connection's plan: which partitions it rotates through.
struct ConnectionPlan {
    conn: Connection,
    partitions: Vec<i32>,
    per_request: usize,
    first: usize,
}

pub async fn run(a: ProduceArgs) -> anyhow::Result<()> {
    ensure!(matches!(a.acks, -1..=1), "--acks must be -1, 0 or 1");
    ensure!(
        a.connections > 0 && a.in_flight > 0,
        "--connections and --in-flight must be at least 1"
    );
    ensure!(a.batch_records > 0, "--batch-records must be at least 1");
    ensure!(a.partitions > 0, "--partitions must be at least 1");
    let records = match (a.records, a.duration_secs) {
        (Some(n), _) => n,
        (None, Some(_)) => u64::MAX,
        (None, None) => 1_000_000,
    };
    let topic = &a.common.topic;

    let mut admin = Connection::connect(&a.common.bootstrap).await?;
    let created = client::ensure_topic(&mut admin, topic, a.partitions).await?;
    let layout = client::topic_layout(&mut admin, topic, Duration::from_secs(15)).await?;
    drop(admin);
    if created == TopicCreation::AlreadyExisted && layout.leaders.len() != a.partitions as usize {
        eprintln!(
            "note: topic {topic} already exists with {} partitions (not {}); writing to all of them",
            layout.leaders.len(),
            a.partitions
        );
    }
    let topic_ref = TopicRef {
        name: TopicName(StrBytes::from_string(topic.clone())),
        id: layout.id,
    };

    let mut plans = Vec::new();
    for (addr, partitions) in layout.by_leader()? {
        let per_request = if a.partitions_per_request == 0 {
            partitions.len()
        } else {
            a.partitions_per_request.min(partitions.len())
        };
        for i in 0..a.connections {
            let conn = Connection::connect(&addr).await?;
            plans.push(ConnectionPlan {
                conn,
                partitions: partitions.clone(),
                per_request,
                first: i * per_request,
            });
        }
    }
    // Produce v13 names topics by id; without one (old Metadata) stay at v12.
    let cap = if layout.id.is_nil() { 12 } else { i16::MAX };
    let produce_version = plans[0].conn.versions.get_capped(ApiKey::Produce, cap)?;

    let stop = Arc::new(AtomicBool::new(false));
    let ctrl_c = super::stop_on_ctrl_c(stop.clone());
    let start = Instant::now();
    let shared = Arc::new(Shared {
        budget: AtomicU64::new(records),
        deadline: a.duration_secs.map(|s| start + Duration::from_secs(s)),
        stop,
        acked: Arc::new(Counters::default()),
        acked_wire_bytes: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        errors: ErrorTally::default(),
        missing: AtomicU64::new(0),
    });
    let progress = report::spawn_progress("produced", shared.acked.clone(), start);

    let mut tasks = tokio::task::JoinSet::new();
    for plan in plans {
        let version = plan.conn.versions.get_capped(ApiKey::Produce, cap)?;
        let settings = WriterSettings {
            version,
            acks: a.acks,
            timeout_ms: a.request_timeout_ms,
            batch_records: a.batch_records as u64,
            record_size: a.record_size,
            compression: a.compression.codec(),
            in_flight: a.in_flight,
            topic: topic_ref.clone(),
        };
        tasks.spawn(run_connection(plan, settings, shared.clone()));
    }
    let mut latency = report::new_latency_histogram();
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(h) => latency
                .add(&h)
                .map_err(|e| anyhow!("merging histograms: {e:?}"))?,
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
        return Err(e.context("produce bench failed"));
    }

    let (acked_records, payload_bytes) = shared.acked.get();
    let wire_bytes = shared.acked_wire_bytes.load(Ordering::Relaxed);
    let lat = LatencySummary::of(&latency);
    let error_count = shared.errors.total();
    let missing = shared.missing.load(Ordering::Relaxed);
    let requests = shared.requests.load(Ordering::Relaxed);
    let partitions = layout.leaders.len();
    if a.common.json {
        let out = json!({
            "bench": "produce",
            "topic": topic,
            "partitions": partitions,
            "brokers": layout.by_leader()?.len(),
            "connections_per_broker": a.connections,
            "in_flight": a.in_flight,
            "acks": a.acks,
            "compression": a.compression.name(),
            "record_size": a.record_size,
            "batch_records": a.batch_records,
            "produce_version": produce_version,
            "requests": requests,
            "records": acked_records,
            "payload_bytes": payload_bytes,
            "wire_bytes": wire_bytes,
            "elapsed_secs": elapsed.as_secs_f64(),
            "records_per_sec": report::rate(acked_records as f64, elapsed),
            "mib_per_sec": report::rate(payload_bytes as f64 / MIB, elapsed),
            "wire_mib_per_sec": report::rate(wire_bytes as f64 / MIB, elapsed),
            "latency": lat.to_json(),
            "errors": shared.errors.to_json(),
            "missing_partition_responses": missing,
        });
        println!("{out}");
    } else {
        println!(
            "produce: topic {topic} ({partitions} partitions), {} connection(s) x {} in flight, acks {}, compression {}, Produce v{produce_version}",
            a.connections,
            a.in_flight,
            a.acks,
            a.compression.name()
        );
        let verb = if a.acks == 0 {
            "sent      "
        } else {
            "acked     "
        };
        println!(
            "  {verb} {acked_records} records of {} B in {requests} requests ({} per batch), {:.1} MiB payload, {:.1} MiB of batches",
            a.record_size,
            a.batch_records,
            payload_bytes as f64 / MIB,
            wire_bytes as f64 / MIB
        );
        println!("  elapsed    {:.2} s", elapsed.as_secs_f64());
        println!(
            "  throughput {:.0} records/s, {:.1} MiB/s payload, {:.1} MiB/s of batches",
            report::rate(acked_records as f64, elapsed),
            report::rate(payload_bytes as f64 / MIB, elapsed),
            report::rate(wire_bytes as f64 / MIB, elapsed)
        );
        if a.acks == 0 {
            println!("  latency    not measured with acks=0 (the broker does not answer)");
        } else {
            println!("  latency    {}", lat.line());
        }
        println!(
            "  errors     {}",
            if error_count + missing == 0 {
                "none".to_string()
            } else {
                format!("{error_count} failed batches, {missing} missing responses (see stderr)")
            }
        );
    }
    if error_count + missing > 0 {
        eprintln!("!!!!!!!! PRODUCE ERRORS: {error_count} batch(es) failed, {missing} partition response(s) missing !!!!!!!!");
        for line in shared.errors.lines() {
            eprintln!("!!!   {line}");
        }
        bail!(
            "produce bench saw {error_count} error(s) and {missing} missing partition response(s)"
        );
    }
    Ok(())
}

struct WriterSettings {
    version: i16,
    acks: i16,
    timeout_ms: i32,
    batch_records: u64,
    record_size: usize,
    compression: Compression,
    in_flight: usize,
    topic: TopicRef,
}

/// Drives one connection to the end of the run; returns its latency histogram.
async fn run_connection(
    plan: ConnectionPlan,
    s: WriterSettings,
    shared: Arc<Shared>,
) -> anyhow::Result<Histogram<u64>> {
    let parts = plan.conn.into_parts();
    let addr = parts.addr.clone();
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read_responses(
        parts.reader,
        s.version,
        s.timeout_ms,
        rx,
        shared.clone(),
    ));
    let written = write_requests(
        parts.writer,
        parts.next_correlation_id,
        &s,
        &plan.partitions,
        plan.per_request,
        plan.first,
        tx,
        &shared,
    )
    .await;
    // The reader drains what was sent and ends once the writer has dropped its sender. The
    // write half stays open meanwhile: dropping it sends FIN, and a broker may then hang up
    // before answering the requests still in flight.
    let read = reader.await.map_err(anyhow::Error::from).and_then(|r| r);
    let written = written.map(drop);
    match (written, read) {
        (_, Err(e)) => Err(e.context(format!("reading Produce responses from {addr}"))),
        (Err(e), Ok(_)) => Err(e.context(format!("sending Produce requests to {addr}"))),
        (Ok(()), Ok(h)) => Ok(h),
    }
}

#[allow(clippy::too_many_arguments)]
async fn write_requests(
    mut w: OwnedWriteHalf,
    mut correlation_id: i32,
    s: &WriterSettings,
    partitions: &[i32],
    per_request: usize,
    mut cursor: usize,
    tx: mpsc::UnboundedSender<InFlight>,
    shared: &Shared,
) -> anyhow::Result<OwnedWriteHalf> {
    let permits = Arc::new(Semaphore::new(s.in_flight));
    let mut builder = BatchBuilder::new(s.record_size, s.compression);
    loop {
        let permit = permits.clone().acquire_owned().await?;
        let mut batches = Vec::with_capacity(per_request);
        let mut data = Vec::with_capacity(per_request);
        for _ in 0..per_request {
            let n = shared.claim(s.batch_records);
            if n == 0 {
                break;
            }
            let partition = partitions[cursor % partitions.len()];
            cursor += 1;
            let batch = builder.build(n)?;
            batches.push(SentBatch {
                partition,
                records: n,
                payload_bytes: n * s.record_size as u64,
                wire_bytes: batch.len() as u64,
            });
            data.push(
                PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch)),
            );
        }
        if data.is_empty() {
            break;
        }
        let size_hint = batches
            .iter()
            .map(|b| b.wire_bytes as usize + 16)
            .sum::<usize>()
            + 128;
        let req = ProduceRequest::default()
            .with_acks(s.acks)
            .with_timeout_ms(s.timeout_ms)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(s.topic.name.clone())
                .with_topic_id(s.topic.id)
                .with_partition_data(data)]);
        let frame = encode_request(ApiKey::Produce, s.version, correlation_id, &req, size_hint)?;
        let sent_at = Instant::now();
        w.write_all(&frame).await?;
        shared.requests.fetch_add(1, Ordering::Relaxed);
        if s.acks == 0 {
            // No response will come: count the batches as written.
            for b in &batches {
                shared.acked.add(b.records, b.payload_bytes);
                shared
                    .acked_wire_bytes
                    .fetch_add(b.wire_bytes, Ordering::Relaxed);
            }
        } else {
            tx.send(InFlight {
                correlation_id,
                sent_at,
                batches,
                _permit: permit,
            })
            .map_err(|_| anyhow!("the response reader stopped"))?;
        }
        correlation_id = correlation_id.wrapping_add(1);
    }
    w.flush().await?;
    Ok(w)
}

async fn read_responses(
    mut r: BufReader<OwnedReadHalf>,
    version: i16,
    timeout_ms: i32,
    mut rx: mpsc::UnboundedReceiver<InFlight>,
    shared: Arc<Shared>,
) -> anyhow::Result<Histogram<u64>> {
    let mut latency = report::new_latency_histogram();
    // The broker gets its own timeout plus slack before we call it stuck.
    let patience = Duration::from_millis(timeout_ms.max(0) as u64) + Duration::from_secs(30);
    while let Some(sent) = rx.recv().await {
        let frame = tokio::time::timeout(patience, read_frame(&mut r, MAX_RESPONSE_BYTES))
            .await
            .map_err(|_| anyhow!("no Produce response within {patience:?}"))??
            .ok_or_else(|| anyhow!("the broker closed the connection"))?;
        report::record_latency(&mut latency, sent.sent_at.elapsed());
        let resp: ProduceResponse =
            client::decode_response(ApiKey::Produce, version, sent.correlation_id, frame)?;
        let mut answers: HashMap<i32, (i16, Option<String>)> = HashMap::new();
        for t in &resp.responses {
            for p in &t.partition_responses {
                let msg = p
                    .error_message
                    .as_ref()
                    .map(|m| m.as_str().to_string())
                    .or_else(|| {
                        p.record_errors.first().and_then(|e| {
                            e.batch_index_error_message.as_ref().map(|m| m.to_string())
                        })
                    });
                answers.insert(p.index, (p.error_code, msg));
            }
        }
        for b in &sent.batches {
            match answers.get(&b.partition) {
                Some((0, _)) => {
                    shared.acked.add(b.records, b.payload_bytes);
                    shared
                        .acked_wire_bytes
                        .fetch_add(b.wire_bytes, Ordering::Relaxed);
                }
                Some((code, msg)) => shared.errors.add(*code, msg.as_deref()),
                None => {
                    shared.missing.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    Ok(latency)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_makes_one_non_idempotent_batch_per_call() {
        for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
            let mut b = BatchBuilder::new(100, compression);
            let batch = b.build(16).unwrap();
            let h = BatchHeader::parse_validated(&batch).unwrap();
            assert_eq!(h.total_len, batch.len());
            assert_eq!(h.records_count, 16);
            assert_eq!(h.base_offset, 0);
            assert_eq!(
                (h.producer_id, h.base_sequence),
                (NO_PRODUCER_ID, NO_SEQUENCE)
            );
            assert_eq!(h.compression(), compression as i16);
        }
    }

    #[test]
    fn claims_never_exceed_the_budget() {
        let shared = Shared {
            budget: AtomicU64::new(40),
            deadline: None,
            stop: Arc::new(AtomicBool::new(false)),
            acked: Arc::new(Counters::default()),
            acked_wire_bytes: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            errors: ErrorTally::default(),
            missing: AtomicU64::new(0),
        };
        assert_eq!(
            [16, 16, 8, 0].to_vec(),
            (0..4).map(|_| shared.claim(16)).collect::<Vec<_>>()
        );
    }
}
