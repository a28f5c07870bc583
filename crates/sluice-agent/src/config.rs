//! Agent configuration (filled from flags, environment and file by the binary).

use std::time::Duration;

use sluice_storage::CacheConfig;

/// Everything an agent is configured with; fixed for the agent's life. [`Default`] binds and
/// advertises `127.0.0.1:9092` (PLAINTEXT), with Kafka's defaults where Kafka has the setting.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Wanted agent id; negative asks the quorum for a fresh one.
    pub agent_id: i32,
    /// The address the main listener is bound to.
    pub listen: std::net::SocketAddr,
    /// Host and port clients are told to connect to (Metadata, DescribeCluster).
    pub advertised_host: String,
    /// The advertised port (see `advertised_host`).
    pub advertised_port: i32,
    /// `broker.rack`: the rack (or zone) Metadata reports for this agent; `None` for none.
    pub rack: Option<String>,
    /// Flush a segment once it holds this many bytes...
    pub flush_bytes: usize,
    /// ...or once its oldest batch has waited this long.
    pub linger: Duration,
    /// Segments uploading at once; their commits still go one by one, in order.
    pub max_inflight_flushes: usize,
    /// `socket.request.max.bytes`.
    pub max_request_bytes: usize,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `num.partitions` for auto-created topics and CreateTopics with -1.
    pub default_partitions: i32,
    /// Agents not heard from for this long drop out of Metadata.
    pub agent_session: Duration,
    /// How often the agent heartbeats to the quorum (keeping it in the live agent list).
    pub heartbeat_interval: Duration,
    /// Unreferenced objects older than this are deleted by the janitor.
    pub orphan_grace: Duration,
    /// How long the writer keeps proposing a segment commit whose outcome is unknown (the
    /// quorum lost its leader, or answered too late) before its producers get a retriable
    /// error; longer than a leader election.
    pub commit_fate_window: Duration,
    /// `log.retention.check.interval.ms`: how often the duty holder applies retention.
    pub retention_check_interval: Duration,
    /// `log.retention.ms` / `log.retention.bytes`: retention of topics without their own
    /// `retention.ms` / `retention.bytes` (`None`: Kafka's defaults, 7 days and unbounded).
    pub log_retention_ms: Option<i64>,
    /// `log.retention.bytes` (see `log_retention_ms`); -1 for unbounded.
    pub log_retention_bytes: Option<i64>,
    /// `file.delete.delay.ms`: how long an object stays in the store after the index stopped
    /// referencing it, so that reads that resolved it just before still find it.
    pub file_delete_delay: Duration,
    /// Segment and log compaction ([`crate::compaction`]); `None` turns it off.
    pub compaction: Option<CompactionConfig>,
    /// The block cache's sizes and disk directory.
    pub cache: CacheConfig,
    /// The object store's URL (`s3://bucket/prefix`, `file:///dir`): DescribeLogDirs reports
    /// it as the agent's one log dir.
    pub object_store_url: String,
    /// Directory of a `file://` object store: segment writes are fsynced there.
    pub local_object_root: Option<std::path::PathBuf>,
    /// Write segments under `local_object_root` with `O_DIRECT` ([`sluice_storage::direct`])
    /// instead of through the object store; off when the store is wrapped (fault injection),
    /// whose faults must reach the writes.
    pub direct_local_writes: bool,
    /// Requests processed concurrently per connection (responses still go out in order).
    pub max_in_flight_per_connection: usize,
    /// Every advertised listener as (name, host, port); empty means just the one above, as
    /// PLAINTEXT.
    pub listeners: Vec<(String, String, i32)>,
    /// SASL mechanisms offered on SASL listeners (`sasl.enabled.mechanisms`).
    pub sasl_mechanisms: Vec<String>,
    /// `connections.max.reauth.ms` (KIP-368): SASL sessions last this long unless renewed.
    pub max_reauth: Option<Duration>,
    /// OAUTHBEARER token validation (present when a JWKS URL is configured).
    pub oauth: Option<std::sync::Arc<sluice_auth::oauth::JwtValidator>>,
    /// Share groups: lock duration, delivery limit, in-flight bound per share-partition.
    pub share_limits: sluice_meta::share::ShareLimits,
    /// `group.share.session.timeout.ms`
    pub share_session_timeout: Duration,
    /// `group.share.heartbeat.interval.ms`
    pub share_heartbeat_interval: Duration,
    /// KIP-848 groups: `group.consumer.session.timeout.ms` (a group's
    /// `consumer.session.timeout.ms` config overrides it).
    pub consumer_session_timeout: Duration,
    /// `group.consumer.heartbeat.interval.ms` (overridden by `consumer.heartbeat.interval.ms`).
    pub consumer_heartbeat_interval: Duration,
    /// `group.consumer.max.size`
    pub consumer_max_size: i32,
    /// Kafka Streams groups (KIP-1071): `group.streams.session.timeout.ms` (a group's
    /// `streams.session.timeout.ms` config overrides it).
    pub streams_session_timeout: Duration,
    /// `group.streams.heartbeat.interval.ms` (overridden by `streams.heartbeat.interval.ms`).
    pub streams_heartbeat_interval: Duration,
    /// `group.streams.num.standby.replicas` (0-2; overridden by `streams.num.standby.replicas`).
    pub streams_num_standby_replicas: u32,
    /// Broker bounds on group configs (`group.*.{min,max}.*`): a group config outside them is
    /// refused, a stored one is used clamped to them.
    pub group_config_bounds: crate::group_config::GroupConfigBounds,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty classic
    /// group waits for more members (extended by as much per newcomer, up to the rebalance
    /// timeout). Zero completes it as soon as everyone known has joined.
    pub group_initial_rebalance_delay: Duration,
    /// `offsets.retention.minutes`: committed offsets of empty groups live this long.
    pub offsets_retention: Duration,
    /// `transaction.max.timeout.ms`: the largest `transaction.timeout.ms` accepted, ms.
    pub transaction_max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: idle transactional ids are forgotten after this.
    pub transactional_id_expiration: Duration,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`: how often timed-out
    /// transactions are looked for.
    pub transaction_abort_check_interval: Duration,
    /// ACL authorization (off by default: everything is allowed).
    pub authorizer: sluice_auth::authorizer::AuthorizerConfig,
    /// Topics as tables: the background table job's settings.
    pub table: TableJobConfig,
}

/// Kafka's `log.retention.hours` default, 168, in ms.
pub const DEFAULT_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

impl AgentConfig {
    /// Retention of topics without overrides, as the quorum applies it.
    pub fn retention_defaults(&self) -> sluice_meta::lifecycle::RetentionDefaults {
        sluice_meta::lifecycle::RetentionDefaults {
            retention_ms: self.log_retention_ms.unwrap_or(DEFAULT_RETENTION_MS),
            retention_bytes: self.log_retention_bytes.unwrap_or(-1),
        }
    }

    /// Broker configs set on this agent that are topic configs' synonyms, as
    /// (broker config name, value): DescribeConfigs reports them as STATIC_BROKER_CONFIG.
    pub fn static_topic_defaults(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if let Some(ms) = self.log_retention_ms {
            v.push(("log.retention.ms", ms.to_string()));
        }
        if let Some(b) = self.log_retention_bytes {
            v.push(("log.retention.bytes", b.to_string()));
        }
        v
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            agent_id: -1,
            listen: "127.0.0.1:9092".parse().expect("valid"),
            advertised_host: "127.0.0.1".into(),
            advertised_port: 9092,
            rack: None,
            flush_bytes: 8 << 20,
            linger: Duration::from_millis(250),
            max_inflight_flushes: 4,
            max_request_bytes: sluice_protocol::frame::DEFAULT_MAX_REQUEST_BYTES,
            auto_create_topics: true,
            default_partitions: 1,
            agent_session: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(2),
            orphan_grace: Duration::from_secs(600),
            commit_fate_window: Duration::from_secs(30),
            retention_check_interval: Duration::from_secs(60),
            log_retention_ms: None,
            log_retention_bytes: None,
            file_delete_delay: Duration::from_secs(60),
            compaction: Some(Default::default()),
            cache: CacheConfig::default(),
            object_store_url: "memory://".to_string(),
            local_object_root: None,
            direct_local_writes: false,
            max_in_flight_per_connection: 16,
            listeners: Vec::new(),
            sasl_mechanisms: vec![
                "PLAIN".into(),
                "SCRAM-SHA-256".into(),
                "SCRAM-SHA-512".into(),
            ],
            max_reauth: None,
            oauth: None,
            share_limits: sluice_meta::share::ShareLimits::default(),
            share_session_timeout: Duration::from_secs(45),
            share_heartbeat_interval: Duration::from_secs(5),
            consumer_session_timeout: Duration::from_secs(45),
            consumer_heartbeat_interval: Duration::from_secs(5),
            consumer_max_size: i32::MAX,
            streams_session_timeout: Duration::from_secs(45),
            streams_heartbeat_interval: Duration::from_secs(5),
            streams_num_standby_replicas: 0,
            group_config_bounds: Default::default(),
            group_initial_rebalance_delay: Duration::from_secs(3),
            offsets_retention: Duration::from_secs(7 * 24 * 3600),
            transaction_max_timeout_ms: sluice_meta::txn::DEFAULT_TRANSACTION_MAX_TIMEOUT_MS,
            transactional_id_expiration: Duration::from_millis(
                sluice_meta::txn::DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS as u64,
            ),
            transaction_abort_check_interval: Duration::from_secs(10),
            authorizer: Default::default(),
            table: Default::default(),
        }
    }
}

/// What a compaction pass may do ([`crate::compaction`]).
#[derive(Debug, Clone, Copy)]
pub struct CompactionConfig {
    /// Pause between passes.
    pub interval: Duration,
    /// Size a merged per-partition object grows to; objects under half of it are merged again.
    pub target_bytes: u64,
    /// Input bytes read per second, at most.
    pub max_bytes_per_sec: u64,
    /// Objects younger than this (by the time in their name) are not merged yet: freshly written
    /// data is what producers and tailing consumers are busy with, and merging it at once only
    /// competes with them for CPU and disk (`--compaction-min-age-ms`).
    pub min_age: Duration,
    /// Crash tests only: after uploading a job's output object (before the swap), print
    /// `compaction job paused at uploaded: <object>` to stderr and stop for an hour, so a test
    /// can SIGKILL the agent there.
    pub test_pause_uploaded: bool,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            interval: Duration::from_secs(30),
            target_bytes: 64 << 20,
            max_bytes_per_sec: 64 << 20,
            min_age: Duration::from_secs(60),
            test_pause_uploaded: false,
        }
    }
}

/// Table job settings ([`crate::table_job`]) (agent-wide; per-topic settings are topic configs).
#[derive(Debug, Clone)]
pub struct TableJobConfig {
    /// How often the job looks for due tables.
    pub check_interval: Duration,
    /// Stored batch bytes read into one commit at most (a backlog takes several passes).
    pub max_commit_bytes: u64,
    /// How long a lease lasts without a commit or renewal.
    pub lease: Duration,
    /// Test hook: log and stop for an hour at this point of a commit (`files`: after the files
    /// are written, before the quorum commit; `committed`: after the quorum commit, before the
    /// version hint), so a crash test can SIGKILL the agent there.
    pub test_pause: Option<String>,
}

impl Default for TableJobConfig {
    fn default() -> Self {
        TableJobConfig {
            check_interval: Duration::from_millis(500),
            max_commit_bytes: 256 << 20,
            lease: Duration::from_secs(30),
            test_pause: None,
        }
    }
}
