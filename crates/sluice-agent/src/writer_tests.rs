//! Given/when/then tests of the flush pipeline's ordering rules, against a scripted object store
//! (held or failing uploads, per segment) and the real metadata state machine behind a scripted
//! commit sink. Every test runs on tokio's paused clock: timers fire in virtual time once all
//! tasks are idle, so lingers, retries and "nothing happens" waits cost no real time and do not
//! depend on the machine's speed.

use std::collections::VecDeque;
use std::fmt;
use std::ops::Range;
use std::sync::Mutex as StdMutex;

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use sluice_meta::state::MetaState;
use sluice_storage::CacheConfig;
use tokio::sync::watch;

use super::*;

const TOPIC: &str = "orders";
const TOPIC_ID: Uuid = Uuid::from_u128(7);
const PID: i64 = 1000;

/// What the store does with the PUTs of the n-th distinct object written.
#[derive(Clone, Copy, PartialEq)]
enum PutRule {
    Pass,
    /// Wait until the gate opens.
    Hold,
    /// Fail every attempt.
    Fail,
}

/// An in-memory store whose segment PUTs follow a per-object script.
struct ScriptedStore {
    inner: InMemory,
    /// Distinct objects in the order of their first PUT, and the rule for each.
    seen: StdMutex<Vec<String>>,
    rules: StdMutex<Vec<PutRule>>,
    gate: watch::Sender<bool>,
    stored: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl ScriptedStore {
    fn new(rules: Vec<PutRule>) -> Arc<Self> {
        Arc::new(ScriptedStore {
            inner: InMemory::new(),
            seen: StdMutex::new(Vec::new()),
            rules: StdMutex::new(rules),
            gate: watch::channel(false).0,
            stored: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        })
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    fn open_gate(&self) {
        self.gate.send_replace(true);
    }

    async fn exists(&self, key: &str) -> bool {
        self.inner.head(&Path::from(key)).await.is_ok()
    }
}

impl fmt::Display for ScriptedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScriptedStore")
    }
}

impl fmt::Debug for ScriptedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScriptedStore")
    }
}

#[async_trait]
impl ObjectStore for ScriptedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let rule = {
            let mut seen = self.seen.lock().unwrap();
            let key = location.to_string();
            let n = match seen.iter().position(|k| *k == key) {
                Some(n) => n,
                None => {
                    seen.push(key);
                    seen.len() - 1
                }
            };
            self.rules
                .lock()
                .unwrap()
                .get(n)
                .copied()
                .unwrap_or(PutRule::Pass)
        };
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if rule == PutRule::Hold {
            let mut gate = self.gate.subscribe();
            let _ = gate.wait_for(|open| *open).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if rule == PutRule::Fail {
            return Err(object_store::Error::Generic {
                store: "ScriptedStore",
                source: "scripted failure".into(),
            });
        }
        let r = self.inner.put_opts(location, payload, opts).await?;
        self.stored.fetch_add(1, Ordering::SeqCst);
        Ok(r)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// What the sink does with one commit call.
#[derive(Clone, Copy)]
enum SinkRule {
    /// Refuse it as too old (REQUEST_TIMED_OUT), applying nothing.
    RefuseStale,
    /// Apply it, then report an unknown outcome (the answer was lost).
    ApplyThenLoseAnswer,
}

/// The real state machine behind a commit sink that records the objects it is asked to commit.
struct StateSink {
    state: StdMutex<MetaState>,
    calls: StdMutex<Vec<String>>,
    /// Rules for the first calls; later ones apply normally.
    rules: StdMutex<VecDeque<SinkRule>>,
}

impl StateSink {
    fn new(rules: Vec<SinkRule>) -> Arc<Self> {
        let mut state = MetaState::default();
        let r = state.apply(&Command::CreateTopic {
            name: TOPIC.into(),
            id: TOPIC_ID,
            partitions: 2,
            configs: vec![],
            now_ms: 1,
        });
        assert_eq!(r, CommandResponse::Ok);
        Arc::new(StateSink {
            state: StdMutex::new(state),
            calls: StdMutex::new(Vec::new()),
            rules: StdMutex::new(rules.into()),
        })
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn high_watermark(&self, partition: usize) -> i64 {
        self.state.lock().unwrap().topics[TOPIC].partitions[partition].high_watermark
    }
}

impl CommitSink for StateSink {
    fn commit(&self, c: SegmentCommit) -> BoxFuture<'_, Result<CommandResponse, MetaError>> {
        self.calls.lock().unwrap().push(c.object.clone());
        let rule = self.rules.lock().unwrap().pop_front();
        let result = match rule {
            Some(SinkRule::RefuseStale) => Ok(CommandResponse::Error {
                code: sluice_meta::codes::REQUEST_TIMED_OUT,
                message: "too old".into(),
            }),
            Some(SinkRule::ApplyThenLoseAnswer) => {
                self.state.lock().unwrap().apply(&Command::CommitSegment(c));
                Err(MetaError::indeterminate("answer lost"))
            }
            None => Ok(self.state.lock().unwrap().apply(&Command::CommitSegment(c))),
        };
        async move { result }.boxed()
    }
}

struct Fixture {
    store: Arc<ScriptedStore>,
    sink: Arc<StateSink>,
    writer: SegmentWriter,
    stop: CancellationToken,
}

/// A writer with `slots` uploads in flight at most, cutting a segment `linger` after its first
/// append (or at once, since every batch exceeds the 1-byte flush size).
async fn fixture(
    slots: usize,
    linger: Duration,
    puts: Vec<PutRule>,
    commits: Vec<SinkRule>,
) -> Fixture {
    fixture_sized(slots, linger, 1, puts, commits).await
}

async fn fixture_sized(
    slots: usize,
    linger: Duration,
    flush_bytes: usize,
    puts: Vec<PutRule>,
    commits: Vec<SinkRule>,
) -> Fixture {
    fixture_cfg(
        slots,
        linger,
        flush_bytes,
        Duration::from_secs(30),
        puts,
        commits,
    )
    .await
}

async fn fixture_cfg(
    slots: usize,
    linger: Duration,
    flush_bytes: usize,
    commit_fate_window: Duration,
    puts: Vec<PutRule>,
    commits: Vec<SinkRule>,
) -> Fixture {
    let store = ScriptedStore::new(puts);
    let sink = StateSink::new(commits);
    let cache = BlockCache::open(
        store.clone(),
        &CacheConfig {
            memory_bytes: 1 << 20,
            ..CacheConfig::default()
        },
    )
    .await
    .expect("cache");
    let cfg = AgentConfig {
        linger,
        flush_bytes,
        max_inflight_flushes: slots,
        commit_fate_window,
        ..AgentConfig::default()
    };
    let stop = CancellationToken::new();
    let writer = SegmentWriter::with_sink(&cfg, 1, sink.clone(), Arc::new(cache), stop.clone());
    Fixture {
        store,
        sink,
        writer,
        stop,
    }
}

/// One idempotent batch of one record with sequence `seq`, 100 bytes.
fn batch(seq: i32) -> (Bytes, BatchHeader) {
    let h = BatchHeader {
        base_offset: 0,
        total_len: 100,
        partition_leader_epoch: 0,
        magic: 2,
        crc: 0,
        attributes: 0,
        last_offset_delta: 0,
        base_timestamp: 1_000,
        max_timestamp: 1_000,
        producer_id: PID,
        producer_epoch: 0,
        base_sequence: seq,
        records_count: 1,
    };
    (Bytes::from(vec![seq as u8; 100]), h)
}

fn key(partition: i32) -> PartitionKey {
    PartitionKey {
        topic: TOPIC.into(),
        topic_id: TOPIC_ID,
        partition,
    }
}

async fn produce(w: &SegmentWriter, seq: i32) -> oneshot::Receiver<Outcomes> {
    w.append(key(0), vec![batch(seq)]).await
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Lets a second of (paused, virtual) time pass: it elapses only once every task is idle, so
/// whatever the writer would do without a further event has been done when this returns. How
/// "nothing happened" is checked, without real sleeps.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn outcome(rx: oneshot::Receiver<Outcomes>) -> Outcomes {
    tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .expect("answered in time")
        .expect("answered")
}

fn appended(base_offset: i64) -> Outcomes {
    Ok(vec![BatchOutcome::Appended { base_offset }])
}

#[tokio::test(start_paused = true)]
async fn a_later_upload_waits_for_the_earlier_segments_commit() {
    // Given segment 1's upload held, and segment 2 (the same producer's next batch) uploaded.
    let f = fixture(4, Duration::from_millis(1), vec![PutRule::Hold], vec![]).await;
    let mut first = produce(&f.writer, 0).await;
    eventually("segment 1's upload", || f.store.seen().len() == 1).await;
    let mut second = produce(&f.writer, 1).await;
    eventually("segment 2 stored", || {
        f.store.stored.load(Ordering::SeqCst) == 1
    })
    .await;
    settle().await;

    // Then nothing is committed or answered yet, and both count as in flight.
    assert!(f.sink.calls().is_empty(), "committed before segment 1");
    assert!(first.try_recv().is_err() && second.try_recv().is_err());
    assert_eq!(f.writer.shared.in_flight_bytes.load(Ordering::SeqCst), 200);

    // When segment 1's upload completes, then both commit in cut order, with dense offsets.
    f.store.open_gate();
    assert_eq!(outcome(first).await, appended(0));
    assert_eq!(outcome(second).await, appended(1));
    assert_eq!(f.sink.calls(), f.store.seen());
    assert_eq!(f.sink.high_watermark(0), 2);
    eventually("in-flight bytes released", || {
        f.writer.shared.in_flight_bytes.load(Ordering::SeqCst) == 0
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_upload_fails_the_segments_cut_after_it_with_a_retriable_error() {
    // Given segment 1's upload failing every attempt, and segment 2 cut while it retries.
    let f = fixture(4, Duration::from_millis(1), vec![PutRule::Fail], vec![]).await;
    let first = produce(&f.writer, 0).await;
    eventually("segment 1's upload", || !f.store.seen().is_empty()).await;
    let second = produce(&f.writer, 1).await;
    eventually("segment 2's upload", || f.store.seen().len() == 2).await;

    // Then both fail as uploads (KAFKA_STORAGE_ERROR, retriable) and nothing is proposed.
    assert!(matches!(outcome(first).await, Err(WriteError::Upload(_))));
    match outcome(second).await {
        Err(WriteError::Upload(m)) => assert!(m.contains("earlier segment"), "{m}"),
        other => panic!("segment 2 answered {other:?}"),
    }
    assert!(f.sink.calls().is_empty());
    // ...and segment 2's object, uploaded for nothing, is deleted.
    let orphan = f.store.seen()[1].clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.store.exists(&orphan).await {
        assert!(Instant::now() < deadline, "orphan not deleted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // When the producer retries both batches, they land once, in order.
    let retry = f.writer.append(key(0), vec![batch(0), batch(1)]).await;
    assert_eq!(
        outcome(retry).await.unwrap(),
        vec![
            BatchOutcome::Appended { base_offset: 0 },
            BatchOutcome::Appended { base_offset: 1 }
        ]
    );
    assert_eq!(f.sink.high_watermark(0), 2);
}

#[tokio::test(start_paused = true)]
async fn a_batch_following_a_failed_first_batch_waits_for_its_retry() {
    // Given the producer's first batch on partition 0 failed with its segment.
    let f = fixture(4, Duration::from_millis(1), vec![PutRule::Fail], vec![]).await;
    let first = produce(&f.writer, 0).await;
    assert!(matches!(outcome(first).await, Err(WriteError::Upload(_))));

    // When its next batch (sent before the client saw the failure) comes: the quorum, holding
    // no state for the producer there, would take it as its first; the writer holds it back
    // with OUT_OF_ORDER_SEQUENCE_NUMBER, and another partition is not affected.
    let second = produce(&f.writer, 1).await;
    let other = f.writer.append(key(1), vec![batch(5)]).await;
    assert_eq!(
        outcome(second).await,
        Ok(vec![BatchOutcome::Rejected {
            error_code: sluice_meta::codes::OUT_OF_ORDER_SEQUENCE_NUMBER
        }])
    );
    assert_eq!(outcome(other).await, appended(0));
    assert_eq!(f.sink.high_watermark(0), 0);

    // Then the producer's retries land in order.
    let retry = f.writer.append(key(0), vec![batch(0), batch(1)]).await;
    assert_eq!(
        outcome(retry).await.unwrap(),
        vec![
            BatchOutcome::Appended { base_offset: 0 },
            BatchOutcome::Appended { base_offset: 1 }
        ]
    );
}

/// A writer whose first segment's commit is applied but its answer lost (with `fate_window` to
/// propose it again), and a second segment cut behind it; returns both segments' answers to come.
async fn behind_a_lost_answer(
    fate_window: Duration,
) -> (
    Fixture,
    oneshot::Receiver<Outcomes>,
    oneshot::Receiver<Outcomes>,
) {
    let f = fixture_cfg(
        4,
        Duration::from_millis(1),
        1,
        fate_window,
        vec![PutRule::Hold],
        vec![SinkRule::ApplyThenLoseAnswer],
    )
    .await;
    let first = produce(&f.writer, 0).await;
    eventually("segment 1's upload", || f.store.seen().len() == 1).await;
    let second = produce(&f.writer, 1).await;
    eventually("segment 2 stored", || {
        f.store.stored.load(Ordering::SeqCst) == 1
    })
    .await;
    f.store.open_gate();
    (f, first, second)
}

#[tokio::test(start_paused = true)]
async fn a_commit_of_unknown_fate_is_proposed_again_and_lands_once() {
    // Given segment 1's commit applied but its answer lost, with segment 2 already cut.
    let (f, first, second) = behind_a_lost_answer(Duration::from_secs(30)).await;

    // Then segment 1 is proposed again and answered as it was applied, once; segment 2 follows.
    assert_eq!(outcome(first).await, appended(0));
    assert_eq!(outcome(second).await, appended(1));
    let seen = f.store.seen();
    assert_eq!(
        f.sink.calls(),
        vec![seen[0].clone(), seen[0].clone(), seen[1].clone()]
    );
    assert_eq!(f.sink.high_watermark(0), 2);
}

#[tokio::test(start_paused = true)]
async fn a_commit_of_unknown_fate_for_too_long_fails_the_later_segments_and_retries_dedupe() {
    // Given segment 1's commit applied but its answer lost, with no time to propose it again,
    // and segment 2 already cut.
    let (f, first, second) = behind_a_lost_answer(Duration::ZERO).await;

    // Then both get a retriable commit error, and segment 2 is never proposed.
    assert!(matches!(outcome(first).await, Err(WriteError::Commit(_))));
    assert!(matches!(outcome(second).await, Err(WriteError::Commit(_))));
    assert_eq!(f.sink.calls(), f.store.seen()[..1].to_vec());

    // When the producer's next batch comes before its retries: held back as possibly
    // persisted (REQUEST_TIMED_OUT), never OUT_OF_ORDER_SEQUENCE_NUMBER, which would tell the
    // client that batch 0 is not in the log.
    let third = f.writer.append(key(0), vec![batch(2)]).await;
    assert_eq!(
        outcome(third).await,
        Ok(vec![BatchOutcome::Rejected {
            error_code: sluice_meta::codes::REQUEST_TIMED_OUT
        }])
    );

    // When the producer retries them in order, the first is a duplicate of what landed, the
    // others new.
    let retry = f
        .writer
        .append(key(0), vec![batch(0), batch(1), batch(2)])
        .await;
    assert_eq!(
        outcome(retry).await.unwrap(),
        vec![
            BatchOutcome::Duplicate { base_offset: 0 },
            BatchOutcome::Appended { base_offset: 1 },
            BatchOutcome::Appended { base_offset: 2 }
        ]
    );
    assert_eq!(f.sink.high_watermark(0), 3);
}

#[tokio::test(start_paused = true)]
async fn uploads_in_flight_never_exceed_the_limit() {
    for slots in [1, 2] {
        // Given every upload held and `slots` segments cut.
        let f = fixture(
            slots,
            Duration::from_millis(1),
            vec![PutRule::Hold; 8],
            vec![],
        )
        .await;
        let mut answers = Vec::new();
        for seq in 0..slots as i32 {
            answers.push(produce(&f.writer, seq).await);
            eventually("an upload", || f.store.seen().len() == seq as usize + 1).await;
        }
        // When another batch arrives, then no further upload starts while the slots are full.
        answers.push(produce(&f.writer, slots as i32).await);
        settle().await;
        assert_eq!(f.store.seen().len(), slots);
        assert_eq!(f.store.max_in_flight.load(Ordering::SeqCst), slots);

        // When the uploads complete, then every batch lands in order.
        f.store.open_gate();
        for (i, rx) in answers.into_iter().enumerate() {
            assert_eq!(outcome(rx).await, appended(i as i64), "slots {slots}");
        }
        assert_eq!(f.sink.calls(), f.store.seen());
    }
}

#[tokio::test(start_paused = true)]
async fn a_stale_commit_is_uploaded_again_in_its_turn() {
    // Given segment 1's first commit refused as too old, with segment 2 already uploaded.
    let f = fixture(
        4,
        Duration::from_millis(1),
        vec![PutRule::Hold],
        vec![SinkRule::RefuseStale],
    )
    .await;
    let first = produce(&f.writer, 0).await;
    eventually("segment 1's upload", || f.store.seen().len() == 1).await;
    let second = produce(&f.writer, 1).await;
    eventually("segment 2 stored", || {
        f.store.stored.load(Ordering::SeqCst) == 1
    })
    .await;
    f.store.open_gate();

    // Then segment 1 is uploaded under a new name and committed before segment 2.
    assert_eq!(outcome(first).await, appended(0));
    assert_eq!(outcome(second).await, appended(1));
    let seen = f.store.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        f.sink.calls(),
        vec![seen[0].clone(), seen[2].clone(), seen[1].clone()]
    );
    // ...and the refused object is deleted at once.
    assert!(!f.store.exists(&seen[0]).await);
}

#[tokio::test(start_paused = true)]
async fn close_flushes_everything_buffered_and_in_flight() {
    // Given a long linger and a 150-byte flush size: one segment (two batches) held in its
    // upload, and one batch buffered in the open segment.
    let f = fixture_sized(
        4,
        Duration::from_secs(3600),
        150,
        vec![PutRule::Hold],
        vec![],
    )
    .await;
    let first = produce(&f.writer, 0).await;
    let second = produce(&f.writer, 1).await;
    eventually("segment 1's upload", || f.store.seen().len() == 1).await;
    let buffered = f.writer.append(key(1), vec![batch(0)]).await;
    settle().await;
    assert_eq!(f.store.seen().len(), 1, "the open segment was cut early");

    // When the writer stops and closes (the held upload completing meanwhile).
    f.stop.cancel();
    f.store.open_gate();
    f.writer.close().await;

    // Then every batch is committed and answered.
    assert_eq!(outcome(first).await, appended(0));
    assert_eq!(outcome(second).await, appended(1));
    assert_eq!(outcome(buffered).await, appended(0));
    assert_eq!(f.sink.high_watermark(0), 2);
    assert_eq!(f.sink.high_watermark(1), 1);
    assert_eq!(f.writer.shared.in_flight_bytes.load(Ordering::SeqCst), 0);
}

#[test]
fn in_flight_bytes_count_against_the_pending_bound() {
    // An empty open segment always admits one append, however much is in flight.
    assert!(admits(0, 1_000, 500, 1_000));
    // Otherwise open + in flight + incoming must fit.
    assert!(admits(100, 400, 500, 1_000));
    assert!(!admits(100, 401, 500, 1_000));
    assert!(!admits(1, 1_000, 0, 1_000));
}

#[tokio::test(start_paused = true)]
async fn an_append_of_no_batches_is_answered_without_a_segment() {
    let f = fixture(4, Duration::from_millis(1), vec![], vec![]).await;
    let empty = f.writer.append(key(0), vec![]).await;
    assert_eq!(outcome(empty).await, Ok(vec![]));
    // The writer keeps working (no spin on an empty open segment).
    assert_eq!(outcome(produce(&f.writer, 0).await).await, appended(0));
    assert!(f.store.seen().len() == 1 && f.sink.calls().len() == 1);
}
