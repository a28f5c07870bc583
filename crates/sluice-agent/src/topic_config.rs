//! Topic configs: the one table of Kafka's topic configs (Kafka 4.1's `LogConfig`), which
//! every config API reads: CreateTopics validates against it and reports from it,
//! AlterConfigs and IncrementalAlterConfigs validate against it, DescribeConfigs lists it, and
//! the data path takes its effective values (`retention.*`, `max.message.bytes`,
//! `message.timestamp.*`, `compression.type`) from it.
//!
//! Each row has Kafka's name, type, default, validator (with Kafka's error messages) and the
//! broker config Kafka names as its synonym (`ServerTopicConfigSynonyms`). The quorum stores
//! overrides only; defaults live here so that DescribeConfigs can tell a default from an
//! override, as Kafka does. To add a config, add a row: every API picks it up.

use std::collections::BTreeMap;

use sluice_meta::state::Topic;
use sluice_protocol::compression::Codec;

/// The value types DescribeConfigs v3+ reports (Kafka's `DescribeConfigsResponse.ConfigType`
/// ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// 1: `true` / `false` (any case).
    Boolean = 1,
    /// 2: any string.
    String = 2,
    /// 3: a 32-bit signed integer.
    Int = 3,
    /// 5: a 64-bit signed integer.
    Long = 5,
    /// 6: a double.
    Double = 6,
    /// 7: a comma-separated list (items trimmed; the empty string is the empty list).
    List = 7,
}

impl ConfigType {
    /// Kafka's name of the type, as in its parse errors ("Not a number of type LONG").
    fn kafka_name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::String => "STRING",
            ConfigType::Int => "INT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::List => "LIST",
        }
    }
}

/// A config's value check beyond its type (Kafka's `ConfigDef.Validator`s of `LogConfig`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Validator {
    /// Any value of the type.
    Any,
    /// A number at least this (`Range.atLeast`).
    AtLeast(i64),
    /// A number within these bounds, inclusive (`Range.between`).
    Between(f64, f64),
    /// gzip's level: 1 to 9, or -1 for the codec's default.
    GzipLevel,
    /// One of these strings (`ValidString.in`).
    OneOf(&'static [&'static str]),
    /// A list whose every item is one of these (`ValidList.in`); the empty list is allowed.
    ListOf(&'static [&'static str]),
    /// `*` or `partition:broker` pairs (Kafka's `ThrottledReplicaListValidator`).
    ThrottledReplicas,
    /// Only `false`: the feature needs a broker setting Sluice does not have; the message is
    /// Kafka's refusal.
    OnlyFalse(&'static str),
}

/// A broker config Kafka names as a topic config's synonym, and its broker-side default when
/// it has one (a broker config whose default is null, such as `log.retention.ms`, is not
/// listed among the synonyms unless set).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BrokerSynonym {
    /// The broker config's name, e.g. `log.retention.ms`.
    pub name: &'static str,
    /// Its Kafka default; `None` when Kafka's default is null.
    pub default: Option<&'static str>,
}

/// One topic config: Kafka's name, type, default, validator, broker synonym and a description
/// of what it does in Sluice (DescribeConfigs' documentation).
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    /// Kafka's config name, e.g. `retention.ms`.
    pub name: &'static str,
    /// The value type, which the value must parse as.
    pub ty: ConfigType,
    /// Kafka's default, as text (what DescribeConfigs shows with source DEFAULT_CONFIG).
    pub default: &'static str,
    /// The check beyond the type.
    pub validator: Validator,
    /// The broker config Kafka lists as synonym, if any.
    pub broker: Option<BrokerSynonym>,
    /// What the config does in Sluice (DescribeConfigs v3+ `documentation`).
    pub doc: &'static str,
}

const fn row(
    name: &'static str,
    ty: ConfigType,
    default: &'static str,
    validator: Validator,
    broker: Option<BrokerSynonym>,
    doc: &'static str,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        ty,
        default,
        validator,
        broker,
        doc,
    }
}

/// A broker synonym with a default.
const fn b(name: &'static str, default: &'static str) -> Option<BrokerSynonym> {
    Some(BrokerSynonym {
        name,
        default: Some(default),
    })
}

/// A broker synonym whose broker-side default is null.
const fn b_null(name: &'static str) -> Option<BrokerSynonym> {
    Some(BrokerSynonym {
        name,
        default: None,
    })
}

use ConfigType::{Boolean, Double, Int, List, Long};
use Validator::{Any, AtLeast, Between, GzipLevel, ListOf, OneOf, OnlyFalse, ThrottledReplicas};

/// `compression.type`'s values (Kafka's `BrokerCompressionType`, in Kafka's order).
pub const COMPRESSION_TYPES: &[&str] =
    &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

/// Kafka 4.1's topic configs, in name order.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    row("cleanup.policy", List, "delete", ListOf(&["compact", "delete"]), b("log.cleanup.policy", "delete"),
        "delete: records older than retention.ms, or beyond retention.bytes, are dropped. compact: a background job keeps only the latest record per key (offsets preserved). compact,delete: both."),
    row("compression.gzip.level", Int, "-1", GzipLevel, b("compression.gzip.level", "-1"),
        "The gzip level used when compression.type is gzip: 1 to 9, or -1 for the codec's default."),
    row("compression.lz4.level", Int, "9", Between(1.0, 17.0), b("compression.lz4.level", "9"),
        "The lz4 level used when compression.type is lz4."),
    row("compression.type", ConfigType::String, "producer", OneOf(COMPRESSION_TYPES), b("compression.type", "producer"),
        "The codec batches are stored with: producer keeps the producer's codec; uncompressed, gzip, snappy, lz4 or zstd recompress to that codec."),
    row("compression.zstd.level", Int, "3", Between(-131072.0, 22.0), b("compression.zstd.level", "3"),
        "The zstd level used when compression.type is zstd."),
    row("delete.retention.ms", Long, "86400000", AtLeast(0), b("log.cleaner.delete.retention.ms", "86400000"),
        "How long delete tombstones of compacted topics are kept (by record timestamp) before log compaction drops them."),
    row("file.delete.delay.ms", Long, "60000", AtLeast(0), b("log.segment.delete.delay.ms", "60000"),
        "Kafka's delay before deleting a segment file. Stored only: Sluice frees objects after the janitor's grace period."),
    row("flush.messages", Long, "9223372036854775807", AtLeast(1), b("log.flush.interval.messages", "9223372036854775807"),
        "Kafka's fsync interval in records. Stored only: an acknowledged write is already durable in object storage."),
    row("flush.ms", Long, "9223372036854775807", AtLeast(0), b_null("log.flush.interval.ms"),
        "Kafka's fsync interval in ms. Stored only: an acknowledged write is already durable in object storage."),
    row("follower.replication.throttled.replicas", List, "", ThrottledReplicas, None,
        "Replicas whose follower-side replication is throttled. Stored only: Sluice does not replicate between agents."),
    row("index.interval.bytes", Int, "4096", AtLeast(0), b("log.index.interval.bytes", "4096"),
        "Kafka's offset index density. Stored only: Sluice indexes every segment object in the metadata quorum."),
    row("leader.replication.throttled.replicas", List, "", ThrottledReplicas, None,
        "Replicas whose leader-side replication is throttled. Stored only: Sluice does not replicate between agents."),
    row("local.retention.bytes", Long, "-2", AtLeast(-2), b("log.local.retention.bytes", "-2"),
        "Tiered storage's local retention in bytes (-2: retention.bytes). Stored only: all data lives in object storage."),
    row("local.retention.ms", Long, "-2", AtLeast(-2), b("log.local.retention.ms", "-2"),
        "Tiered storage's local retention in ms (-2: retention.ms). Stored only: all data lives in object storage."),
    row("max.compaction.lag.ms", Long, "9223372036854775807", AtLeast(1), b("log.cleaner.max.compaction.lag.ms", "9223372036854775807"),
        "Longest time a record stays uncompacted: older dirty data makes log compaction run whatever the dirty ratio."),
    row("max.message.bytes", Int, "1048588", AtLeast(0), b("message.max.bytes", "1048588"),
        "The largest record batch accepted, as stored (after compression) (enforced)."),
    row("message.timestamp.after.max.ms", Long, "3600000", AtLeast(0), b("log.message.timestamp.after.max.ms", "3600000"),
        "How far in the future a CreateTime timestamp may be, relative to the agent's clock (KIP-937)."),
    row("message.timestamp.before.max.ms", Long, "9223372036854775807", AtLeast(0), b("log.message.timestamp.before.max.ms", "9223372036854775807"),
        "How far in the past a CreateTime timestamp may be, relative to the agent's clock (KIP-937)."),
    row("message.timestamp.type", ConfigType::String, "CreateTime", OneOf(&["CreateTime", "LogAppendTime"]), b("log.message.timestamp.type", "CreateTime"),
        "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the agent's clock before upload (enforced)."),
    row("min.cleanable.dirty.ratio", Double, "0.5", Between(0.0, 1.0), b("log.cleaner.min.cleanable.ratio", "0.5"),
        "Share of a compacted log's bytes that must be uncompacted before log compaction runs."),
    row("min.compaction.lag.ms", Long, "0", AtLeast(0), b("log.cleaner.min.compaction.lag.ms", "0"),
        "Shortest time a record stays uncompacted."),
    row("min.insync.replicas", Int, "1", AtLeast(1), b("min.insync.replicas", "1"),
        "Kafka's minimum in-sync replicas for acks=all. Stored only: durability comes from object storage and the metadata quorum."),
    row("preallocate", Boolean, "false", Any, b("log.preallocate", "false"),
        "Kafka's segment file preallocation. Stored only."),
    row("remote.log.copy.disable", Boolean, "false", Any, None,
        "Tiered storage: stop copying segments to remote storage. Stored only: all data lives in object storage."),
    row("remote.log.delete.on.disable", Boolean, "false", Any, None,
        "Tiered storage: delete remote data when tiering is disabled. Stored only."),
    row("remote.storage.enable", Boolean, "false", OnlyFalse("Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."), None,
        "Kafka's tiered storage. Sluice has no local tier (every record is in object storage), so tiering cannot be enabled."),
    row("retention.bytes", Long, "-1", Any, b("log.retention.bytes", "-1"),
        "Largest size a partition may grow to before its oldest data is dropped; -1 for no limit (enforced)."),
    row("retention.ms", Long, "604800000", AtLeast(-1), b_null("log.retention.ms"),
        "How long data is kept; -1 keeps it forever (enforced)."),
    row("segment.bytes", Int, "1073741824", AtLeast(1048576), b("log.segment.bytes", "1073741824"),
        "Kafka's segment file size. Stored only: agents cut segment objects by --flush-bytes and --linger-ms."),
    row("segment.index.bytes", Int, "10485760", AtLeast(4), b("log.index.size.max.bytes", "10485760"),
        "Kafka's index file size. Stored only."),
    row("segment.jitter.ms", Long, "0", AtLeast(0), b_null("log.roll.jitter.ms"),
        "Kafka's random jitter of segment rolls. Stored only."),
    row("segment.ms", Long, "604800000", AtLeast(1), b_null("log.roll.ms"),
        "Kafka's segment roll time. Stored only: agents cut segment objects by --flush-bytes and --linger-ms."),
    row("sluice.table.enable", Boolean, "false", Any, None,
        "Sluice: write the topic as an Iceberg table of Parquet files under tables/<topic>/ in the object store (see sluice-table). Listed by DescribeConfigs only when set."),
    row("sluice.table.lag.ms", Long, "60000", AtLeast(1000), None,
        "Sluice: how long a record may wait before the table shows it (the table job commits at least every half of this). Listed only when set."),
    row("sluice.table.mode", ConfigType::String, "append", OneOf(&["append", "latest"]), None,
        "Sluice: append writes every record as a row; latest keeps one row per (partition, key), its newest record, and drops keys whose newest record is a tombstone (each commit an Iceberg overwrite snapshot). latest requires cleanup.policy to include compact. Listed only when set."),
    row("sluice.table.retain.ms", Long, "300000", AtLeast(0), None,
        "Sluice, latest mode: how long a table snapshot, and the data files only it lists, stay readable after a newer snapshot replaced it; then they are deleted. Listed only when set."),
    row("sluice.table.value.format", ConfigType::String, "json", OneOf(&["json", "raw"]), None,
        "Sluice: json decodes object values into one column per field (schema inferred, columns only added; undecodable values keep their bytes in _raw and the reason in _error); raw keeps the bytes in a value column. Listed only when set."),
    row("unclean.leader.election.enable", Boolean, "false", Any, b("unclean.leader.election.enable", "false"),
        "Kafka's unclean leader election. Stored only: any agent leads every partition, with no data loss."),
];

/// Cluster-wide dynamic broker configs a fresh Kafka 4.x KRaft cluster holds (written when the
/// cluster is formatted, KIP-966): reported with source DYNAMIC_DEFAULT_BROKER_CONFIG, as Kafka
/// reports them, for topics that do not override them.
pub const CLUSTER_DEFAULTS: &[(&str, &str)] = &[("min.insync.replicas", "1")];

/// Sluice's own topic configs (`sluice.*`, not Kafka's): DescribeConfigs and CreateTopics
/// list them only where a topic sets them, so a topic without them reads exactly as on Kafka.
pub const EXTENSION_PREFIX: &str = "sluice.";

/// Whether `name` is one of Sluice's own topic configs.
pub fn is_extension(name: &str) -> bool {
    name.starts_with(EXTENSION_PREFIX)
}

/// The row of `name`, if Kafka has such a topic config.
pub fn lookup(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Why a topic config (or a set of them) is refused: Kafka's INVALID_CONFIG message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Kafka's "Unknown topic config name: x".
    #[error("Unknown topic config name: {0}")]
    Unknown(String),
    /// A value the type or validator refuses; `shown` is the value as Kafka prints it.
    #[error("Invalid value {shown} for configuration {name}: {reason}")]
    Invalid {
        /// The config's name.
        name: String,
        /// The offending value (or list item) as Kafka prints it.
        shown: String,
        /// Kafka's reason, e.g. "Value must be at least -1".
        reason: String,
    },
    /// A refusal Kafka words on its own (not "Invalid value ...").
    #[error("{0}")]
    Refused(&'static str),
    /// `sluice.table.mode=latest` on a topic whose `cleanup.policy` lacks `compact`.
    #[error("sluice.table.mode=latest requires cleanup.policy to include compact (cleanup.policy is {policy:?}): a latest-value table keeps one row per key, which only a compacted topic promises")]
    LatestNeedsCompact {
        /// The effective `cleanup.policy`.
        policy: String,
    },
    /// Kafka's cross-config check of `LogConfig.validateValues`.
    #[error("conflict topic config setting min.compaction.lag.ms ({min}) > max.compaction.lag.ms ({max})")]
    CompactionLag {
        /// The effective `min.compaction.lag.ms`.
        min: i64,
        /// The effective `max.compaction.lag.ms`.
        max: i64,
    },
}

/// Java's `Double.toString` for the values configs hold (`2` prints as `2.0`).
fn java_double(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e7 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Validates one config value against its row: Kafka's type parse, then its validator (the
/// value is trimmed first). Errors: [`ConfigError::Unknown`] for a name with no row,
/// [`ConfigError::Invalid`] or [`ConfigError::Refused`] for a value Kafka refuses.
pub fn validate(name: &str, value: &str) -> Result<(), ConfigError> {
    let def = lookup(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
    let v = value.trim();
    let invalid = |shown: String, reason: String| ConfigError::Invalid {
        name: name.to_string(),
        shown,
        reason,
    };
    let not_a_number = || {
        invalid(
            v.to_string(),
            format!("Not a number of type {}", def.ty.kafka_name()),
        )
    };
    // The number the range validators check, as Kafka prints it.
    let number: Option<(f64, String)> = match def.ty {
        Int => Some(
            v.parse::<i32>()
                .map(|n| (f64::from(n), n.to_string()))
                .map_err(|_| not_a_number())?,
        ),
        Long => Some(
            v.parse::<i64>()
                .map(|n| (n as f64, n.to_string()))
                .map_err(|_| not_a_number())?,
        ),
        Double => Some(
            v.parse::<f64>()
                .map(|n| (n, java_double(n)))
                .map_err(|_| not_a_number())?,
        ),
        Boolean => {
            if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                return Err(invalid(
                    v.to_string(),
                    "Expected value to be either true or false".into(),
                ));
            }
            None
        }
        ConfigType::String | List => None,
    };
    let items = || -> Vec<&str> {
        if v.is_empty() {
            Vec::new()
        } else {
            v.split(',').map(str::trim).collect()
        }
    };
    match def.validator {
        Any => Ok(()),
        AtLeast(min) => match number {
            Some((n, shown)) if n < min as f64 => {
                Err(invalid(shown, format!("Value must be at least {min}")))
            }
            _ => Ok(()),
        },
        Between(min, max) => match number {
            Some((n, shown)) if n < min => {
                Err(invalid(shown, format!("Value must be at least {min}")))
            }
            Some((n, shown)) if n > max => {
                Err(invalid(shown, format!("Value must be no more than {max}")))
            }
            _ => Ok(()),
        },
        GzipLevel => match number {
            Some((n, shown)) if n != -1.0 && !(1.0..=9.0).contains(&n) => Err(invalid(
                shown,
                "Value must be between 1 and 9 or equal to -1".into(),
            )),
            _ => Ok(()),
        },
        OneOf(allowed) => {
            if allowed.contains(&v) {
                Ok(())
            } else {
                Err(invalid(
                    v.to_string(),
                    format!("String must be one of: {}", allowed.join(", ")),
                ))
            }
        }
        ListOf(allowed) => match items().into_iter().find(|i| !allowed.contains(i)) {
            Some(bad) => Err(invalid(
                bad.to_string(),
                format!("String must be one of: {}", allowed.join(", ")),
            )),
            None => Ok(()),
        },
        ThrottledReplicas => {
            let list = items();
            let pair = |s: &str| {
                s.is_empty()
                    || s.split_once(':').is_some_and(|(p, b)| {
                        !p.is_empty()
                            && !b.is_empty()
                            && p.bytes().all(|c| c.is_ascii_digit())
                            && b.bytes().all(|c| c.is_ascii_digit())
                    })
            };
            if list == ["*"] || list.iter().all(|s| pair(s)) {
                Ok(())
            } else {
                Err(invalid(
                    format!("[{}]", list.join(", ")),
                    format!("{name} must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."),
                ))
            }
        }
        OnlyFalse(refusal) => {
            if v.eq_ignore_ascii_case("false") {
                Ok(())
            } else {
                Err(ConfigError::Refused(refusal))
            }
        }
    }
}

/// Validates a topic's whole set of overrides: every value on its own, then Kafka's checks
/// across configs (`LogConfig.validateValues`). CreateTopics, AlterConfigs and
/// IncrementalAlterConfigs call this on the overrides the topic would end up with.
/// Errors: the first of [`validate`]'s, then [`ConfigError::CompactionLag`] or
/// [`ConfigError::LatestNeedsCompact`].
pub fn validate_all(overrides: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    for (k, v) in overrides {
        validate(k, v)?;
    }
    let lag = |name| {
        effective(overrides, name)
            .trim()
            .parse::<i64>()
            .unwrap_or(0)
    };
    let (min, max) = (lag("min.compaction.lag.ms"), lag("max.compaction.lag.ms"));
    if min > max {
        return Err(ConfigError::CompactionLag { min, max });
    }
    let policy = effective(overrides, "cleanup.policy");
    if effective(overrides, "sluice.table.mode").trim() == "latest"
        && !policy.split(',').any(|p| p.trim() == "compact")
    {
        return Err(ConfigError::LatestNeedsCompact {
            policy: policy.to_string(),
        });
    }
    Ok(())
}

/// Effective value: the topic's override, else the cluster default, else Kafka's default (the
/// empty string for a name with no row).
pub fn effective<'a>(overrides: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    if let Some(v) = overrides.get(name) {
        return v;
    }
    if let Some((_, v)) = CLUSTER_DEFAULTS.iter().find(|(k, _)| *k == name) {
        return v;
    }
    lookup(name).map_or("", |d| d.default)
}

/// `config_source` of DescribeConfigs and CreateTopics v5+ (Kafka's `ConfigSource` ids).
pub mod config_source {
    /// A per-topic (or per-group) override.
    pub const DYNAMIC_TOPIC_CONFIG: i8 = 1;
    /// A cluster-wide dynamic broker default.
    pub const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
    /// A value from the agent's static configuration.
    pub const STATIC_BROKER_CONFIG: i8 = 4;
    /// Kafka's built-in default.
    pub const DEFAULT_CONFIG: i8 = 5;
}

/// One synonym of a described config (DescribeConfigs' `synonyms`): a config name, its value
/// and Kafka's `ConfigSource` id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    /// The topic or broker config's name.
    pub name: String,
    /// Its value there.
    pub value: String,
    /// Kafka's `ConfigSource` id ([`config_source`]).
    pub source: i8,
}

/// One topic config as DescribeConfigs and CreateTopics (v5+) report it.
#[derive(Debug, Clone)]
pub struct DescribedConfig {
    /// The config's row (name, type, documentation).
    pub def: &'static TopicConfigDef,
    /// The effective value.
    pub value: String,
    /// Kafka's `ConfigSource` id of the value.
    pub source: i8,
    /// Where the value could come from, most specific first, as Kafka lists them: the topic's
    /// override, the cluster-wide default, the broker config's default.
    pub synonyms: Vec<ConfigSynonym>,
}

/// Every topic config with its effective value, source and synonyms under `overrides`, in
/// name order. `static_broker` lists the broker configs set on this agent's command line as
/// (broker config name, value) ([`crate::config::AgentConfig::static_topic_defaults`]).
pub fn describe(
    overrides: &BTreeMap<String, String>,
    static_broker: &[(&str, String)],
) -> Vec<DescribedConfig> {
    use config_source::{
        DEFAULT_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG, DYNAMIC_TOPIC_CONFIG, STATIC_BROKER_CONFIG,
    };
    TOPIC_CONFIGS
        .iter()
        .filter(|def| !is_extension(def.name) || overrides.contains_key(def.name))
        .map(|def| {
            let syn = |name: &str, value: &str, source| ConfigSynonym {
                name: name.to_string(),
                value: value.to_string(),
                source,
            };
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(def.name) {
                synonyms.push(syn(def.name, v, DYNAMIC_TOPIC_CONFIG));
            }
            if let Some((_, v)) = CLUSTER_DEFAULTS.iter().find(|(k, _)| *k == def.name) {
                synonyms.push(syn(def.name, v, DYNAMIC_DEFAULT_BROKER_CONFIG));
            }
            if let Some((name, v)) = def.broker.and_then(|b| {
                static_broker
                    .iter()
                    .find(|(n, _)| *n == b.name)
                    .map(|(_, v)| (b.name, v))
            }) {
                synonyms.push(syn(name, v, STATIC_BROKER_CONFIG));
            }
            if let Some(BrokerSynonym {
                name,
                default: Some(d),
            }) = def.broker
            {
                synonyms.push(syn(name, d, DEFAULT_CONFIG));
            }
            let (value, source) = match synonyms.first() {
                Some(s) if s.source != DEFAULT_CONFIG => (s.value.clone(), s.source),
                _ => (def.default.to_string(), DEFAULT_CONFIG),
            };
            DescribedConfig {
                def,
                value,
                source,
                synonyms,
            }
        })
        .collect()
}

/// What the produce path needs of a topic, read once per request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProducePolicy {
    /// `max.message.bytes`: the largest batch, as stored, in bytes.
    pub max_message_bytes: usize,
    /// `message.timestamp.type=LogAppendTime`.
    pub log_append_time: bool,
    /// `compression.type`: the codec batches are stored in; `None` for `producer` (as sent).
    pub compression: Option<Codec>,
    /// KIP-390 `compression.<codec>.level` of that codec, when it has levels.
    pub compression_level: Option<i32>,
    /// KIP-937 `message.timestamp.before.max.ms`: how far, in ms, a CreateTime timestamp may
    /// lie in the past (`i64::MAX` when unparsable).
    pub timestamp_before_max_ms: i64,
    /// KIP-937 `message.timestamp.after.max.ms`: how far, in ms, a CreateTime timestamp may
    /// lie in the future (`i64::MAX` when unparsable).
    pub timestamp_after_max_ms: i64,
    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub compacted: bool,
}

impl ProducePolicy {
    /// The policy of `topic` from its effective configs (unparsable `max.message.bytes` falls
    /// back to Kafka's default, 1048588).
    pub fn of(topic: &Topic) -> Self {
        let get = |name| effective(&topic.configs, name);
        let long = |name| get(name).trim().parse::<i64>().unwrap_or(i64::MAX);
        let compression = Codec::from_topic_config(get("compression.type"));
        ProducePolicy {
            max_message_bytes: get("max.message.bytes").parse().unwrap_or(1_048_588),
            log_append_time: get("message.timestamp.type") == "LogAppendTime",
            compression,
            compression_level: compression
                .and_then(Codec::level_config)
                .and_then(|l| get(l.name).parse().ok()),
            timestamp_before_max_ms: long("message.timestamp.before.max.ms"),
            timestamp_after_max_ms: long("message.timestamp.after.max.ms"),
            compacted: get("cleanup.policy")
                .split(',')
                .any(|p| p.trim() == "compact"),
        }
    }
}

/// The longest legal topic name, in bytes (Kafka's `Topic.MAX_NAME_LENGTH`).
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// A topic name Kafka refuses with INVALID_TOPIC_EXCEPTION (Kafka's `Topic.validate`); the
/// Display is Kafka's message, which clients read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IllegalTopicName {
    /// The name is empty, `.` or `..`.
    #[error("Topic name \"{0}\" is illegal, it cannot be empty, '.' or '..'")]
    Reserved(String),
    /// The name is longer than [`MAX_TOPIC_NAME_LEN`] bytes.
    #[error("Topic name is illegal, it can't be longer than 249 characters, topic name: {0}")]
    TooLong(String),
    /// The name has a byte outside `[a-zA-Z0-9._-]`.
    #[error("Topic name \"{0}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'")]
    IllegalCharacter(String),
}

/// Kafka's legal topic names: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
///
/// # Errors
/// [`IllegalTopicName`] saying which rule `name` breaks.
pub fn validate_topic_name(name: &str) -> Result<(), IllegalTopicName> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(IllegalTopicName::Reserved(name.to_string()));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(IllegalTopicName::TooLong(name.to_string()));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(IllegalTopicName::IllegalCharacter(name.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_matches_kafka() {
        let msg = |n: &str, v: &str| validate(n, v).unwrap_err().to_string();
        assert!(validate("retention.ms", "1000").is_ok());
        assert_eq!(
            msg("retention.ms", "-2"),
            "Invalid value -2 for configuration retention.ms: Value must be at least -1"
        );
        assert_eq!(
            msg("retention.ms", "abc"),
            "Invalid value abc for configuration retention.ms: Not a number of type LONG"
        );
        assert_eq!(
            msg("max.message.bytes", "99999999999"),
            "Invalid value 99999999999 for configuration max.message.bytes: Not a number of type INT"
        );
        assert_eq!(
            msg("min.cleanable.dirty.ratio", "2"),
            "Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"
        );
        assert_eq!(
            msg("cleanup.policy", "delete,foo"),
            "Invalid value foo for configuration cleanup.policy: String must be one of: compact, delete"
        );
        assert!(validate("cleanup.policy", "").is_ok());
        assert_eq!(
            msg("compression.type", "brotli"),
            "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"
        );
        assert_eq!(
            msg("preallocate", "yes"),
            "Invalid value yes for configuration preallocate: Expected value to be either true or false"
        );
        assert_eq!(
            msg("compression.gzip.level", "0"),
            "Invalid value 0 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"
        );
        assert!(validate("compression.gzip.level", "-1").is_ok());
        assert_eq!(
            msg("compression.zstd.level", "23"),
            "Invalid value 23 for configuration compression.zstd.level: Value must be no more than 22"
        );
        assert_eq!(
            msg("remote.storage.enable", "true"),
            "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."
        );
        assert!(validate("remote.storage.enable", "false").is_ok());
        assert_eq!(
            msg("leader.replication.throttled.replicas", "0:1,*"),
            "Invalid value [0:1, *] for configuration leader.replication.throttled.replicas: leader.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
        );
        assert!(validate("leader.replication.throttled.replicas", "*").is_ok());
        assert!(validate("follower.replication.throttled.replicas", "0:1,1:2").is_ok());
        assert_eq!(
            msg("no.such.config", "1"),
            "Unknown topic config name: no.such.config"
        );
        assert!(validate_topic_name("a.b_c-1").is_ok());
        assert_eq!(
            validate_topic_name("..").unwrap_err().to_string(),
            "Topic name \"..\" is illegal, it cannot be empty, '.' or '..'"
        );
        assert_eq!(
            validate_topic_name("a/b").unwrap_err().to_string(),
            "Topic name \"a/b\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        );
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
        assert_eq!(
            validate_topic_name(&"x".repeat(250)),
            Err(IllegalTopicName::TooLong("x".repeat(250)))
        );
        let mut o = BTreeMap::new();
        assert_eq!(effective(&o, "max.message.bytes"), "1048588");
        o.insert("max.message.bytes".to_string(), "10".to_string());
        assert_eq!(effective(&o, "max.message.bytes"), "10");
    }

    #[test]
    fn cross_config_checks() {
        let mut o = BTreeMap::new();
        o.insert("min.compaction.lag.ms".to_string(), "10".to_string());
        assert!(validate_all(&o).is_ok());
        o.insert("max.compaction.lag.ms".to_string(), "5".to_string());
        assert_eq!(
            validate_all(&o).unwrap_err().to_string(),
            "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"
        );
    }

    #[test]
    fn latest_tables_need_a_compacted_topic() {
        let mut o = BTreeMap::new();
        o.insert("sluice.table.mode".to_string(), "latest".to_string());
        assert_eq!(
            validate_all(&o),
            Err(ConfigError::LatestNeedsCompact {
                policy: "delete".into()
            })
        );
        o.insert("cleanup.policy".to_string(), "delete".to_string());
        assert!(validate_all(&o).is_err());
        o.insert("cleanup.policy".to_string(), "delete, compact".to_string());
        assert_eq!(validate_all(&o), Ok(()));
        o.insert("cleanup.policy".to_string(), "compact".to_string());
        assert_eq!(validate_all(&o), Ok(()));
        o.insert("sluice.table.mode".to_string(), "append".to_string());
        o.insert("cleanup.policy".to_string(), "delete".to_string());
        assert_eq!(validate_all(&o), Ok(()));
        assert!(validate("sluice.table.mode", "upsert").is_err());
        assert!(validate("sluice.table.retain.ms", "-1").is_err());
    }

    #[test]
    fn table_is_sorted_and_defaults_are_valid() {
        for w in TOPIC_CONFIGS.windows(2) {
            assert!(w[0].name < w[1].name, "{} {}", w[0].name, w[1].name);
        }
        for d in TOPIC_CONFIGS {
            assert_eq!(validate(d.name, d.default), Ok(()), "{}", d.name);
        }
        let kafka = TOPIC_CONFIGS.iter().filter(|d| !is_extension(d.name));
        assert_eq!(kafka.count(), 33, "Kafka 4.1 lists 33 topic configs");
    }

    #[test]
    fn sluice_configs_are_listed_only_when_set() {
        let mut o = BTreeMap::new();
        assert!(describe(&o, &[]).iter().all(|d| !is_extension(d.def.name)));
        o.insert("sluice.table.enable".to_string(), "true".to_string());
        let all = describe(&o, &[]);
        let t = all
            .iter()
            .find(|d| d.def.name == "sluice.table.enable")
            .unwrap();
        assert_eq!((t.value.as_str(), t.source), ("true", 1));
        assert!(all
            .iter()
            .all(|d| d.def.name == "sluice.table.enable" || !is_extension(d.def.name)));
        assert!(validate("sluice.table.value.format", "xml").is_err());
        assert!(validate("sluice.table.lag.ms", "999").is_err());
    }

    #[test]
    fn described_like_kafka() {
        // Observed on Kafka 4.1.2: a topic with retention.ms and retention.bytes overridden.
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "1000".to_string());
        o.insert("retention.bytes".to_string(), "5".to_string());
        let all = describe(&o, &[]);
        let get = |n: &str| all.iter().find(|d| d.def.name == n).unwrap();
        let syn = |n: &str| {
            get(n)
                .synonyms
                .iter()
                .map(|s| (s.name.as_str(), s.value.as_str(), s.source))
                .collect::<Vec<_>>()
        };
        assert_eq!(syn("retention.ms"), [("retention.ms", "1000", 1)]);
        assert_eq!(
            syn("retention.bytes"),
            [
                ("retention.bytes", "5", 1),
                ("log.retention.bytes", "-1", 5)
            ]
        );
        assert_eq!(syn("segment.ms"), []);
        assert_eq!(get("segment.ms").source, 5);
        assert_eq!(
            syn("min.insync.replicas"),
            [
                ("min.insync.replicas", "1", 3),
                ("min.insync.replicas", "1", 5)
            ]
        );
        assert_eq!(get("min.insync.replicas").source, 3);
        assert_eq!(syn("remote.storage.enable"), []);
        assert_eq!(get("retention.ms").value, "1000");
    }
}
