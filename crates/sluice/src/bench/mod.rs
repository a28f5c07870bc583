//! `sluice bench produce|consume`: a load generator that speaks the Kafka wire protocol itself,
//! so it measures any Kafka-compatible broker (Sluice or Apache Kafka) with the same client.
//!
//! - [`client`]: framing, the ApiVersions handshake and version choice, CreateTopics / Metadata /
//!   ListOffsets.
//! - [`produce`]: `--connections` sockets per leader broker, each with a writer task that builds
//!   record batches and keeps up to `--in-flight` Produce requests outstanding, and a reader task
//!   that matches responses, tallies error codes and records send-to-response latency.
//! - [`consume`]: Fetch loops from the start offsets up to the high watermarks seen at start,
//!   checking every batch's CRC and that offsets are dense.
//! - [`report`]: counters, the once-a-second progress line (stderr), latency and error summaries.
//!
//! The final summary goes to stdout, as text or (`--json`) one JSON object. Any error code seen,
//! or any gap or CRC failure on consume, is printed loudly and makes the command exit non-zero.
//!
//! Flags take `SLUICE_BENCH_*` environment variables (`--record-size` is
//! `SLUICE_BENCH_RECORD_SIZE`), kept apart from the server's `SLUICE_*` so that a broker's
//! environment (e.g. `SLUICE_LISTEN`) never leaks into the bench.
//!
//! Trade-offs: no retries (a bench that needs them is measuring something else), no idempotence
//! or transactions, sessionless fetches (KIP-227 full fetch each time), and one Fetch in flight
//! per connection, as Kafka's own consumer does.

pub(crate) mod client;
mod consume;
mod produce;
mod report;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    mode: BenchMode,
}

#[derive(Debug, Subcommand)]
enum BenchMode {
    /// Write records as fast as the broker acknowledges them.
    Produce(produce::ProduceArgs),
    /// Read a topic from the start up to the high watermarks seen at start.
    Consume(consume::ConsumeArgs),
}

/// Flags both benches share.
#[derive(Debug, Args, Clone)]
struct CommonArgs {
    /// Any broker of the cluster (host:port).
    #[arg(long, env = "SLUICE_BENCH_BOOTSTRAP", default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// Topic to write or read.
    #[arg(long, env = "SLUICE_BENCH_TOPIC", default_value = "bench")]
    topic: String,
    /// Print the final summary as one JSON object.
    #[arg(long, env = "SLUICE_BENCH_JSON", default_value_t = false)]
    json: bool,
}

pub async fn run(a: BenchArgs) -> anyhow::Result<()> {
    match a.mode {
        BenchMode::Produce(p) => produce::run(p).await,
        BenchMode::Consume(c) => consume::run(c).await,
    }
}

/// Sets `flag` on Ctrl-C so a long run stops early and still reports.
fn stop_on_ctrl_c(
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: stopping and reporting what was done");
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    })
}
