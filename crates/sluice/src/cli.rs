//! Command-line interface. Every flag has a `SLUICE_*` environment variable; a `--config` TOML
//! file fills in what neither sets (its keys are the long flag names, e.g. `linger-ms = 5`;
//! unknown keys are refused: see [`crate::config_file`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "A Kafka-compatible broker whose only durable storage is object storage"
)]
pub struct Cli {
    /// TOML file with settings (keys are flag names, unknown keys refused); flags and SLUICE_*
    /// variables win over it.
    #[arg(long, global = true, env = "SLUICE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything in one process: metadata node, agent, local-directory object store.
    Dev(DevArgs),
    /// A metadata quorum node.
    Meta(MetaArgs),
    /// A stateless agent serving the Kafka protocol.
    Agent(AgentArgs),
    /// Load generator: produce or consume against any Kafka-compatible bootstrap address.
    Bench(crate::bench::BenchArgs),
    /// Topics as tables: `export` an offset range to Parquet.
    Table(crate::table::TableArgs),
    /// JWT-bearer grant (KIP-1139): sign an assertion, exchange it, print the access token.
    Token(crate::token::TokenArgs),
}

/// Data-path tuning shared by `dev` and `agent`.
#[derive(Debug, Args, Clone)]
pub struct AgentTuning {
    /// Kafka listener.
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:9092")]
    pub listen: SocketAddr,
    /// host:port clients of --listen are told to connect to (defaults to the listener);
    /// `NAME://host:port` sets what a --listener of that name advertises. Repeatable.
    #[arg(long, env = "SLUICE_ADVERTISED_LISTENER", value_delimiter = ',')]
    pub advertised_listener: Vec<String>,
    /// More listeners, `NAME://host:port` with NAME one of SSL, SASL_PLAINTEXT, SASL_SSL
    /// (or PLAINTEXT). Repeatable; --listen stays the PLAINTEXT listener.
    #[arg(long, env = "SLUICE_LISTENERS", value_delimiter = ',')]
    pub listener: Vec<String>,
    /// PEM certificate chain for SSL and SASL_SSL listeners.
    #[arg(long, env = "SLUICE_SSL_CERT")]
    pub ssl_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for SSL and SASL_SSL listeners.
    #[arg(long, env = "SLUICE_SSL_KEY")]
    pub ssl_key: Option<PathBuf>,
    /// SASL mechanisms offered on SASL listeners (sasl.enabled.mechanisms).
    #[arg(
        long,
        env = "SLUICE_SASL_ENABLED_MECHANISMS",
        value_delimiter = ',',
        default_value = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    )]
    pub sasl_enabled_mechanisms: Vec<String>,
    /// SASL sessions end after this long unless the client re-authenticates (KIP-368's
    /// connections.max.reauth.ms); 0 = never.
    #[arg(long, env = "SLUICE_CONNECTIONS_MAX_REAUTH_MS", default_value_t = 0)]
    pub connections_max_reauth_ms: u64,
    /// JWKS URL for OAUTHBEARER token validation (sasl.oauthbearer.jwks.endpoint.url); setting
    /// it offers OAUTHBEARER on SASL listeners.
    #[arg(long, env = "SLUICE_SASL_OAUTHBEARER_JWKS_ENDPOINT_URL")]
    pub sasl_oauthbearer_jwks_endpoint_url: Option<String>,
    /// Required `iss` claim (sasl.oauthbearer.expected.issuer).
    #[arg(long, env = "SLUICE_SASL_OAUTHBEARER_EXPECTED_ISSUER")]
    pub sasl_oauthbearer_expected_issuer: Option<String>,
    /// Accepted `aud` values (sasl.oauthbearer.expected.audience).
    #[arg(
        long,
        env = "SLUICE_SASL_OAUTHBEARER_EXPECTED_AUDIENCE",
        value_delimiter = ','
    )]
    pub sasl_oauthbearer_expected_audience: Vec<String>,
    /// Claim naming the principal (sasl.oauthbearer.sub.claim.name).
    #[arg(
        long,
        env = "SLUICE_SASL_OAUTHBEARER_SUB_CLAIM_NAME",
        default_value = "sub"
    )]
    pub sasl_oauthbearer_sub_claim_name: String,
    /// Claim holding the token's scopes (sasl.oauthbearer.scope.claim.name).
    #[arg(
        long,
        env = "SLUICE_SASL_OAUTHBEARER_SCOPE_CLAIM_NAME",
        default_value = "scope"
    )]
    pub sasl_oauthbearer_scope_claim_name: String,
    /// A scope every token must carry.
    #[arg(long, env = "SLUICE_SASL_OAUTHBEARER_REQUIRED_SCOPE")]
    pub sasl_oauthbearer_required_scope: Option<String>,
    /// Clock skew allowed when checking exp and nbf (sasl.oauthbearer.clock.skew.seconds).
    #[arg(
        long,
        env = "SLUICE_SASL_OAUTHBEARER_CLOCK_SKEW_SECONDS",
        default_value_t = 30
    )]
    pub sasl_oauthbearer_clock_skew_seconds: u64,
    /// Accepted JWT signature algorithms (asymmetric only; HMAC and none are refused).
    #[arg(
        long,
        env = "SLUICE_SASL_OAUTHBEARER_ALLOWED_ALGORITHMS",
        value_delimiter = ',',
        default_value = "RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384"
    )]
    pub sasl_oauthbearer_allowed_algorithms: Vec<String>,
    /// Enforce ACLs (Kafka's StandardAuthorizer, `authorizer.class.name`): deny by default,
    /// except super users; off means everything is allowed and the ACL APIs answer
    /// SECURITY_DISABLED.
    #[arg(long, env = "SLUICE_AUTHORIZER", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub authorizer: bool,
    /// Principals that bypass ACLs (super.users), e.g. `User:admin;User:bob`.
    #[arg(long, env = "SLUICE_SUPER_USERS", default_value = "")]
    pub super_users: String,
    /// Allow an action on a resource that has no ACL at all (allow.everyone.if.no.acl.found).
    #[arg(long, env = "SLUICE_ALLOW_EVERYONE_IF_NO_ACL_FOUND", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub allow_everyone_if_no_acl_found: bool,
    /// Flush a segment after this many milliseconds (default: 5 for file://, 250 otherwise).
    #[arg(long, env = "SLUICE_LINGER_MS")]
    pub linger_ms: Option<u64>,
    /// Segment uploads in flight at once (default: 1 for file://, 4 otherwise); commits to the
    /// quorum stay one at a time, in flush order.
    #[arg(long, env = "SLUICE_MAX_INFLIGHT_FLUSHES")]
    pub max_inflight_flushes: Option<usize>,
    /// Flush a segment once it holds this many bytes.
    #[arg(long, env = "SLUICE_FLUSH_BYTES", default_value_t = 8 << 20)]
    pub flush_bytes: usize,
    /// Partitions of auto-created topics (Kafka's num.partitions).
    #[arg(long, env = "SLUICE_NUM_PARTITIONS", default_value_t = 1)]
    pub num_partitions: i32,
    /// Create unknown topics named in Metadata requests (auto.create.topics.enable).
    #[arg(long, env = "SLUICE_AUTO_CREATE_TOPICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub auto_create_topics: bool,
    /// Largest request accepted (socket.request.max.bytes).
    #[arg(long, env = "SLUICE_MAX_REQUEST_BYTES", default_value_t = 100 << 20)]
    pub max_request_bytes: usize,
    /// KIP-848 groups: session timeout unless a group sets consumer.session.timeout.ms
    /// (group.consumer.session.timeout.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_CONSUMER_SESSION_TIMEOUT_MS",
        default_value_t = 45_000
    )]
    pub group_consumer_session_timeout_ms: u64,
    /// KIP-848 groups: heartbeat interval told to members unless a group sets
    /// consumer.heartbeat.interval.ms (group.consumer.heartbeat.interval.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS",
        default_value_t = 5_000
    )]
    pub group_consumer_heartbeat_interval_ms: u64,
    /// Classic groups: how long the first rebalance of an empty group waits for more members,
    /// extended by as much for each newcomer up to the rebalance timeout
    /// (group.initial.rebalance.delay.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_INITIAL_REBALANCE_DELAY_MS",
        default_value_t = 3_000
    )]
    pub group_initial_rebalance_delay_ms: u64,
    /// Transactions: the largest transaction.timeout.ms a producer may ask for
    /// (transaction.max.timeout.ms); InitProducerId beyond it is INVALID_TRANSACTION_TIMEOUT.
    #[arg(
        long,
        env = "SLUICE_TRANSACTION_MAX_TIMEOUT_MS",
        default_value_t = 900_000
    )]
    pub transaction_max_timeout_ms: i32,
    /// Transactions: a transactional id without a transaction or request for this long is
    /// forgotten (transactional.id.expiration.ms).
    #[arg(
        long,
        env = "SLUICE_TRANSACTIONAL_ID_EXPIRATION_MS",
        default_value_t = 604_800_000
    )]
    pub transactional_id_expiration_ms: u64,
    /// Transactions: how often transactions past their timeout are looked for and aborted
    /// (transaction.abort.timed.out.transaction.cleanup.interval.ms).
    #[arg(
        long,
        env = "SLUICE_TRANSACTION_ABORT_CHECK_INTERVAL_MS",
        default_value_t = 10_000
    )]
    pub transaction_abort_check_interval_ms: u64,
    /// Kafka Streams groups (KIP-1071): a member not heard from for this long leaves unless a
    /// group sets streams.session.timeout.ms (group.streams.session.timeout.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_STREAMS_SESSION_TIMEOUT_MS",
        default_value_t = 45_000
    )]
    pub group_streams_session_timeout_ms: u64,
    /// Kafka Streams groups: heartbeat interval told to members unless a group sets
    /// streams.heartbeat.interval.ms (group.streams.heartbeat.interval.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_STREAMS_HEARTBEAT_INTERVAL_MS",
        default_value_t = 5_000
    )]
    pub group_streams_heartbeat_interval_ms: u64,
    /// Kafka Streams groups: standby replicas per stateful task, 0-2, unless a group sets
    /// streams.num.standby.replicas (group.streams.num.standby.replicas).
    #[arg(long, env = "SLUICE_GROUP_STREAMS_NUM_STANDBY_REPLICAS", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=2))]
    pub group_streams_num_standby_replicas: u32,
    /// KIP-848 groups: most members a group may have (group.consumer.max.size).
    #[arg(long, env = "SLUICE_GROUP_CONSUMER_MAX_SIZE", default_value_t = i32::MAX)]
    pub group_consumer_max_size: i32,
    /// Committed offsets of a group without members expire this many minutes after the later of
    /// their commit and the group emptying (offsets.retention.minutes).
    #[arg(
        long,
        env = "SLUICE_OFFSETS_RETENTION_MINUTES",
        default_value_t = 10_080
    )]
    pub offsets_retention_minutes: u64,
    /// Rack, i.e. availability zone, of this agent: reported as the broker rack, and used to pin
    /// clients whose client.id carries `sluice_az=<zone>` to agents of that zone.
    #[arg(long, visible_alias = "zone", env = "SLUICE_RACK")]
    pub rack: Option<String>,
    /// Memory tier of the read cache, in MiB. Where Kafka serves recent data from the page
    /// cache, Sluice serves it from here (segments are written with O_DIRECT on a file:// store,
    /// so they are not in the page cache): a consumer further behind than this reads from disk
    /// or the object store. Larger is not free: the cache keeps the written segments' buffers,
    /// so the writer allocates (and the kernel zeroes) fresh memory for new ones.
    #[arg(long, env = "SLUICE_CACHE_MEMORY_MB", default_value_t = 256)]
    pub cache_memory_mb: usize,
    /// Disk tier of the read cache, in MiB (0 disables it; a file:// object store, already a
    /// local disk, never gets one).
    #[arg(long, env = "SLUICE_CACHE_DISK_MB", default_value_t = 1024)]
    pub cache_disk_mb: usize,
    /// Retention of topics without a retention.ms override, in ms; -1 keeps forever
    /// (log.retention.ms; Kafka's default is 7 days).
    #[arg(long, env = "SLUICE_LOG_RETENTION_MS", allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(-1..))]
    pub log_retention_ms: Option<i64>,
    /// Retention of each partition of topics without a retention.bytes override, in bytes; -1
    /// is unbounded (log.retention.bytes).
    #[arg(
        long,
        env = "SLUICE_LOG_RETENTION_BYTES",
        allow_negative_numbers = true
    )]
    pub log_retention_bytes: Option<i64>,
    /// How often retention is applied, in ms (log.retention.check.interval.ms).
    #[arg(
        long,
        env = "SLUICE_LOG_RETENTION_CHECK_INTERVAL_MS",
        default_value_t = 60_000
    )]
    pub log_retention_check_interval_ms: u64,
    /// How long an object the index no longer references stays in the store, so that reads
    /// that resolved it just before still find it, in ms (file.delete.delay.ms).
    #[arg(long, env = "SLUICE_FILE_DELETE_DELAY_MS", default_value_t = 60_000)]
    pub file_delete_delay_ms: u64,
    /// Pause between compaction passes (segment merging, and log compaction of
    /// cleanup.policy=compact topics), in ms; 0 turns compaction off.
    #[arg(long, env = "SLUICE_COMPACTION_INTERVAL_MS", default_value_t = 30_000)]
    pub compaction_interval_ms: u64,
    /// Size, in bytes, merged per-partition objects grow to.
    #[arg(long, env = "SLUICE_COMPACTION_TARGET_BYTES", default_value_t = 64 << 20)]
    pub compaction_target_bytes: u64,
    /// Most bytes compaction reads per second.
    #[arg(long, env = "SLUICE_COMPACTION_MAX_BYTES_PER_SEC", default_value_t = 64 << 20)]
    pub compaction_max_bytes_per_sec: u64,
    /// Segment objects younger than this many ms are not merged yet (fresh data is what
    /// producers and tailing consumers are busy with).
    #[arg(long, env = "SLUICE_COMPACTION_MIN_AGE_MS", default_value_t = 60_000)]
    pub compaction_min_age_ms: u64,
    /// Crash tests only: compaction stops for an hour after uploading a job's output (before the
    /// index swap), printing `compaction job paused at uploaded: <object>`.
    #[arg(long, env = "SLUICE_COMPACTION_TEST_PAUSE", hide = true, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub compaction_test_pause: bool,
    /// Unreferenced objects older than this many seconds are deleted.
    #[arg(long, env = "SLUICE_ORPHAN_GRACE_SECS", default_value_t = 600)]
    pub orphan_grace_secs: u64,
    /// Metrics and health listener (host:port): `/metrics`, `/health/live`, `/health/ready`;
    /// off when unset.
    #[arg(long, env = "SLUICE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Tests and drills only: wrap the object store in a fault injector switched by
    /// `POST http://ADDR/faults` (error rates, latency, timeouts); off when unset.
    #[arg(long, env = "SLUICE_FAULT_INJECTION_LISTEN")]
    pub fault_injection_listen: Option<SocketAddr>,
    /// Seed of the fault injector's draws (default: random, printed at start): a run's seed
    /// replays its faults.
    #[arg(long, env = "SLUICE_FAULT_INJECTION_SEED")]
    pub fault_injection_seed: Option<u64>,
    /// Topics as tables: stored batch bytes (MiB) one table commit reads at most.
    #[arg(long, env = "SLUICE_TABLE_MAX_COMMIT_MB", default_value_t = 256)]
    pub table_max_commit_mb: u64,
    /// Crash tests only: the table job stops for an hour at `files` (table files written, quorum
    /// commit not proposed) or `committed` (before the version hint), printing where.
    #[arg(long, env = "SLUICE_TABLE_TEST_PAUSE", hide = true)]
    pub table_test_pause: Option<String>,
    #[command(flatten)]
    pub group_bounds: GroupBoundsArgs,
}

/// Broker bounds on group configs, with Kafka's names and defaults: IncrementalAlterConfigs
/// refuses a group config outside them (INVALID_CONFIG), and a stored one is used clamped to them.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Group config bounds")]
pub struct GroupBoundsArgs {
    /// The least `consumer.session.timeout.ms` a group may set (group.consumer.min.session.timeout.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_CONSUMER_MIN_SESSION_TIMEOUT_MS",
        default_value_t = 45_000
    )]
    pub group_consumer_min_session_timeout_ms: i64,
    /// The greatest `consumer.session.timeout.ms` a group may set (group.consumer.max.session.timeout.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_CONSUMER_MAX_SESSION_TIMEOUT_MS",
        default_value_t = 60_000
    )]
    pub group_consumer_max_session_timeout_ms: i64,
    /// The least `consumer.heartbeat.interval.ms` a group may set (group.consumer.min.heartbeat.interval.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_CONSUMER_MIN_HEARTBEAT_INTERVAL_MS",
        default_value_t = 5_000
    )]
    pub group_consumer_min_heartbeat_interval_ms: i64,
    /// The greatest `consumer.heartbeat.interval.ms` a group may set (group.consumer.max.heartbeat.interval.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_CONSUMER_MAX_HEARTBEAT_INTERVAL_MS",
        default_value_t = 15_000
    )]
    pub group_consumer_max_heartbeat_interval_ms: i64,
    /// The least `share.session.timeout.ms` a group may set (group.share.min.session.timeout.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_SHARE_MIN_SESSION_TIMEOUT_MS",
        default_value_t = 45_000
    )]
    pub group_share_min_session_timeout_ms: i64,
    /// The greatest `share.session.timeout.ms` a group may set (group.share.max.session.timeout.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_SHARE_MAX_SESSION_TIMEOUT_MS",
        default_value_t = 60_000
    )]
    pub group_share_max_session_timeout_ms: i64,
    /// The least `share.heartbeat.interval.ms` a group may set (group.share.min.heartbeat.interval.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_SHARE_MIN_HEARTBEAT_INTERVAL_MS",
        default_value_t = 5_000
    )]
    pub group_share_min_heartbeat_interval_ms: i64,
    /// The greatest `share.heartbeat.interval.ms` a group may set (group.share.max.heartbeat.interval.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_SHARE_MAX_HEARTBEAT_INTERVAL_MS",
        default_value_t = 15_000
    )]
    pub group_share_max_heartbeat_interval_ms: i64,
    /// The least `share.record.lock.duration.ms` a group may set (group.share.min.record.lock.duration.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_SHARE_MIN_RECORD_LOCK_DURATION_MS",
        default_value_t = 15_000
    )]
    pub group_share_min_record_lock_duration_ms: i64,
    /// The greatest `share.record.lock.duration.ms` a group may set (group.share.max.record.lock.duration.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_SHARE_MAX_RECORD_LOCK_DURATION_MS",
        default_value_t = 60_000
    )]
    pub group_share_max_record_lock_duration_ms: i64,
    /// The least `streams.session.timeout.ms` a group may set (group.streams.min.session.timeout.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_STREAMS_MIN_SESSION_TIMEOUT_MS",
        default_value_t = 45_000
    )]
    pub group_streams_min_session_timeout_ms: i64,
    /// The greatest `streams.session.timeout.ms` a group may set (group.streams.max.session.timeout.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_STREAMS_MAX_SESSION_TIMEOUT_MS",
        default_value_t = 60_000
    )]
    pub group_streams_max_session_timeout_ms: i64,
    /// The least `streams.heartbeat.interval.ms` a group may set (group.streams.min.heartbeat.interval.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_STREAMS_MIN_HEARTBEAT_INTERVAL_MS",
        default_value_t = 5_000
    )]
    pub group_streams_min_heartbeat_interval_ms: i64,
    /// The greatest `streams.heartbeat.interval.ms` a group may set (group.streams.max.heartbeat.interval.ms).
    #[arg(
        long,
        env = "SLUICE_GROUP_STREAMS_MAX_HEARTBEAT_INTERVAL_MS",
        default_value_t = 15_000
    )]
    pub group_streams_max_heartbeat_interval_ms: i64,
    /// The most `streams.num.standby.replicas` a group may set (group.streams.max.standby.replicas).
    #[arg(
        long,
        env = "SLUICE_GROUP_STREAMS_MAX_STANDBY_REPLICAS",
        default_value_t = 2
    )]
    pub group_streams_max_standby_replicas: i64,
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Where metadata (meta/) and objects (objects/) live (the read cache stays in memory: the
    /// objects are on a local disk already).
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub agent: AgentTuning,
}

#[derive(Debug, Args)]
pub struct MetaArgs {
    /// Raft node id, unique and stable.
    #[arg(long, env = "SLUICE_ID", default_value_t = 1)]
    pub id: u64,
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "./data/meta")]
    pub data_dir: PathBuf,
    /// HTTP listener for raft and agents.
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:9500")]
    pub listen: SocketAddr,
    /// host:port peers and agents use to reach this node.
    #[arg(long, env = "SLUICE_ADVERTISED")]
    pub advertised: Option<String>,
    /// Initial voters: `1=host:port,2=host:port,3=host:port`.
    #[arg(long, env = "SLUICE_PEERS", default_value = "")]
    pub peers: String,
    /// Initialize a new cluster on first start (never re-initializes).
    #[arg(long, env = "SLUICE_BOOTSTRAP", default_value_t = false)]
    pub bootstrap: bool,
    /// Also keep raft snapshots in this object store (`file:///...`, `s3://bucket/prefix`), and
    /// start from the newest one there when the data directory is empty.
    #[arg(long, env = "SLUICE_SNAPSHOT_STORE")]
    pub snapshot_store: Option<String>,
    /// S3 endpoint of --snapshot-store (MinIO, moto...).
    #[arg(long, env = "SLUICE_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    #[arg(long, env = "SLUICE_S3_REGION")]
    pub s3_region: Option<String>,
    /// Create the bucket of an `s3://` --snapshot-store if it is missing (without it, a
    /// missing bucket stops the node at start).
    #[arg(long, env = "SLUICE_CREATE_BUCKET", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub create_bucket: bool,
    /// Replace a lost node automatically: started on an empty data directory while its peers
    /// (--peers) already form a cluster with a leader, have the leader drop this id, then add
    /// this node back (it starts from the newest snapshot in --snapshot-store and catches up).
    #[arg(long, env = "SLUICE_REJOIN", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub rejoin: bool,
    /// Build a raft snapshot after this many log entries.
    #[arg(long, env = "SLUICE_SNAPSHOT_EVERY", default_value_t = 10_000)]
    pub snapshot_every: u64,
    /// Metrics and health listener (host:port): `/metrics` (e.g. `sluice_meta_raft_commit_seconds`),
    /// `/health/live`, `/health/ready`; off when unset.
    #[arg(long, env = "SLUICE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Tests and drills only: serve `/admin/net-faults` to cut or delay this node's raft traffic.
    #[arg(long, env = "SLUICE_FAULT_INJECTION", default_value_t = false)]
    pub fault_injection: bool,
    /// Cluster administration instead of running a node.
    #[command(subcommand)]
    pub admin: Option<MetaAdmin>,
}

/// `sluice meta <admin command>`: membership changes, made through the leader over HTTP.
#[derive(Debug, Subcommand)]
pub enum MetaAdmin {
    /// Add a node (started without --bootstrap) as a learner, let it catch up, promote it to voter.
    AddNode {
        /// Any members of the cluster: `http://host:port,...`.
        #[arg(long)]
        meta: String,
        /// Raft id of the new node.
        #[arg(long)]
        id: u64,
        /// host:port of the new node's listener, as the other nodes reach it.
        #[arg(long)]
        addr: String,
    },
    /// Remove a node (voter or learner) from the cluster.
    RemoveNode {
        /// Any members of the cluster: `http://host:port,...`.
        #[arg(long)]
        meta: String,
        /// Raft id of the node to remove.
        #[arg(long)]
        id: u64,
    },
    /// Print the voters, learners and leader as JSON.
    Members {
        /// Any members of the cluster: `http://host:port,...`.
        #[arg(long)]
        meta: String,
    },
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Meta nodes: `http://host:port,http://host2:port`.
    #[arg(long, env = "SLUICE_META", default_value = "http://127.0.0.1:9500")]
    pub meta: String,
    /// `file:///abs/path`, `s3://bucket[/prefix]` or `memory://`.
    #[arg(long, env = "SLUICE_OBJECT_STORE")]
    pub object_store: String,
    /// S3 endpoint override (MinIO, moto...).
    #[arg(long, env = "SLUICE_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    #[arg(long, env = "SLUICE_S3_REGION")]
    pub s3_region: Option<String>,
    /// Create the bucket of an `s3://` --object-store if it is missing (without it, a missing
    /// bucket or unusable credentials stop the agent at start, with one line saying why).
    #[arg(long, env = "SLUICE_CREATE_BUCKET", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub create_bucket: bool,
    /// Disk tier of the read cache.
    #[arg(long, env = "SLUICE_CACHE_DIR", default_value = "./data/cache")]
    pub cache_dir: PathBuf,
    /// Agent id (default: assigned by the quorum).
    #[arg(long, env = "SLUICE_AGENT_ID", default_value_t = -1)]
    pub agent_id: i32,
    #[command(flatten)]
    pub agent: AgentTuning,
}
