//! What both benches measure and how they say it: live counters with a once-a-second progress
//! line on stderr, a tally of Kafka error codes, latency histograms, and number formatting.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::client::error_name;

pub const MIB: f64 = 1024.0 * 1024.0;

/// Running totals, updated by the I/O tasks and read by the progress line.
#[derive(Debug, Default)]
pub struct Counters {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
}

impl Counters {
    pub fn add(&self, records: u64, bytes: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    pub fn get(&self) -> (u64, u64) {
        (
            self.records.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// Prints `verb` progress once per second until the returned handle is aborted.
pub fn spawn_progress(
    verb: &'static str,
    counters: Arc<Counters>,
    start: Instant,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let (mut last_records, mut last_bytes) = (0, 0);
        loop {
            let now = tick.tick().await;
            let (records, bytes) = counters.get();
            let secs = now.into_std().duration_since(start).as_secs_f64();
            eprintln!(
                "[{secs:6.1}s] {verb} {records} records ({:.1} MiB), last second {:.1} MiB/s {} records/s, average {:.1} MiB/s",
                bytes as f64 / MIB,
                (bytes - last_bytes) as f64 / MIB,
                records - last_records,
                bytes as f64 / MIB / secs.max(1e-9),
            );
            (last_records, last_bytes) = (records, bytes);
        }
    })
}

/// Kafka error codes seen, with how often and the first message the broker attached.
#[derive(Debug, Default)]
pub struct ErrorTally(Mutex<BTreeMap<i16, (u64, Option<String>)>>);

impl ErrorTally {
    pub fn add(&self, code: i16, message: Option<&str>) {
        let mut m = self.0.lock().expect("error tally poisoned");
        let e = m.entry(code).or_insert((0, None));
        e.0 += 1;
        if e.1.is_none() {
            e.1 = message.map(str::to_string);
        }
    }

    pub fn total(&self) -> u64 {
        self.0
            .lock()
            .expect("error tally poisoned")
            .values()
            .map(|(n, _)| n)
            .sum()
    }

    /// One line per code: `NOT_LEADER... (6) x 12: first message`.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .expect("error tally poisoned")
            .iter()
            .map(|(code, (n, msg))| {
                format!(
                    "{} x {n}{}",
                    error_name(*code),
                    msg.as_ref().map(|m| format!(": {m}")).unwrap_or_default()
                )
            })
            .collect()
    }

    pub fn to_json(&self) -> Value {
        let m = self.0.lock().expect("error tally poisoned");
        Value::Array(
            m.iter()
                .map(|(code, (n, msg))| json!({"code": code, "name": error_name(*code), "count": n, "first_message": msg}))
                .collect(),
        )
    }
}

/// A latency histogram in microseconds, 1 µs to 10 min at 3 significant digits.
pub fn new_latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

pub fn record_latency(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record((d.as_micros() as u64).max(1));
}

/// p50/p99/p999/max in milliseconds.
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> LatencySummary {
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }

    pub fn line(&self) -> String {
        if self.count == 0 {
            return "n/a (no responses)".to_string();
        }
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms, max {:.2} ms ({} requests)",
            self.p50_ms, self.p99_ms, self.p999_ms, self.max_ms, self.count
        )
    }

    pub fn to_json(&self) -> Value {
        json!({"count": self.count, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "p999_ms": self.p999_ms, "max_ms": self.max_ms})
    }
}

/// Per-second rate, 0 for an empty interval.
pub fn rate(amount: f64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 {
        amount / s
    } else {
        0.0
    }
}
