//! Topic configs: Kafka's names and defaults, validation, and the effective values the data
//! path enforces (`retention.*`, `max.message.bytes`, `message.timestamp.*`, `compression.*`,
//! `cleanup.policy`'s keys-required rule).
//!
//! The quorum stores overrides only; defaults live here so that DescribeConfigs can tell a
//! default from an override, as Kafka does.

use std::collections::BTreeMap;

use sluice_meta::state::Topic;
use sluice_protocol::compression::Codec;

/// The value types DescribeConfigs v3+ reports (Kafka's `ConfigType` ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
}

/// A topic config Sluice knows: name, default, type, documentation.
pub struct TopicConfigDef {
    pub name: &'static str,
    pub default: &'static str,
    pub ty: ConfigType,
    pub doc: &'static str,
}

const fn def(
    name: &'static str,
    default: &'static str,
    ty: ConfigType,
    doc: &'static str,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        default,
        ty,
        doc,
    }
}

/// Kafka's topic configs. Those marked enforced are acted on; the rest are stored and
/// reported so that tools which set them keep working.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def(
        "cleanup.policy",
        "delete",
        ConfigType::List,
        "Retention policy: only delete is enforced.",
    ),
    def(
        "compression.type",
        "producer",
        ConfigType::String,
        "Codec batches are stored in: producer keeps the producer's, or uncompressed, gzip, \
         snappy, lz4, zstd (enforced: batches are recompressed).",
    ),
    def(
        "compression.gzip.level",
        "-1",
        ConfigType::Int,
        "gzip level (1-9, -1 for the default) used when recompressing to gzip (enforced).",
    ),
    def(
        "compression.lz4.level",
        "9",
        ConfigType::Int,
        "lz4 level (1-17) used when recompressing to lz4 (enforced).",
    ),
    def(
        "compression.zstd.level",
        "3",
        ConfigType::Int,
        "zstd level (-131072 to 22) used when recompressing to zstd (enforced).",
    ),
    def(
        "delete.retention.ms",
        "86400000",
        ConfigType::Long,
        "Stored; compaction is not implemented.",
    ),
    def(
        "file.delete.delay.ms",
        "60000",
        ConfigType::Long,
        "Stored for compatibility.",
    ),
    def(
        "flush.messages",
        "9223372036854775807",
        ConfigType::Long,
        "Stored for compatibility; writes are durable in object storage.",
    ),
    def(
        "flush.ms",
        "9223372036854775807",
        ConfigType::Long,
        "Stored for compatibility; writes are durable in object storage.",
    ),
    def(
        "index.interval.bytes",
        "4096",
        ConfigType::Int,
        "Stored for compatibility.",
    ),
    def(
        "max.compaction.lag.ms",
        "9223372036854775807",
        ConfigType::Long,
        "Stored; compaction is not implemented.",
    ),
    def(
        "max.message.bytes",
        "1048588",
        ConfigType::Int,
        "Largest record batch accepted (enforced).",
    ),
    def(
        "message.timestamp.after.max.ms",
        "3600000",
        ConfigType::Long,
        "Largest amount a CreateTime record's timestamp may be ahead of the agent's clock \
         (enforced: INVALID_TIMESTAMP).",
    ),
    def(
        "message.timestamp.before.max.ms",
        "9223372036854775807",
        ConfigType::Long,
        "Largest amount a CreateTime record's timestamp may be behind the agent's clock \
         (enforced: INVALID_TIMESTAMP).",
    ),
    def(
        "message.timestamp.type",
        "CreateTime",
        ConfigType::String,
        "CreateTime or LogAppendTime (enforced).",
    ),
    def(
        "min.cleanable.dirty.ratio",
        "0.5",
        ConfigType::Double,
        "Stored; compaction is not implemented.",
    ),
    def(
        "min.compaction.lag.ms",
        "0",
        ConfigType::Long,
        "Stored; compaction is not implemented.",
    ),
    def(
        "min.insync.replicas",
        "1",
        ConfigType::Int,
        "Stored for compatibility; durability comes from object storage.",
    ),
    def(
        "preallocate",
        "false",
        ConfigType::Boolean,
        "Stored for compatibility.",
    ),
    def(
        "retention.bytes",
        "-1",
        ConfigType::Long,
        "Largest size a partition may grow to before old data is dropped (enforced).",
    ),
    def(
        "retention.ms",
        "604800000",
        ConfigType::Long,
        "How long data is kept; -1 keeps it forever (enforced).",
    ),
    def(
        "segment.bytes",
        "1073741824",
        ConfigType::Int,
        "Stored for compatibility; segments are flushed by the agent.",
    ),
    def(
        "segment.index.bytes",
        "10485760",
        ConfigType::Int,
        "Stored for compatibility.",
    ),
    def(
        "segment.jitter.ms",
        "0",
        ConfigType::Long,
        "Stored for compatibility.",
    ),
    def(
        "segment.ms",
        "604800000",
        ConfigType::Long,
        "Stored for compatibility.",
    ),
    def(
        "unclean.leader.election.enable",
        "false",
        ConfigType::Boolean,
        "Stored for compatibility.",
    ),
];

pub fn lookup(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Validates one config value; the error is Kafka's INVALID_CONFIG message.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let Some(d) = lookup(name) else {
        return Err(format!("Unknown topic config name: {name}"));
    };
    let ok = match d.ty {
        ConfigType::Boolean => matches!(value, "true" | "false"),
        ConfigType::Int => value.parse::<i32>().is_ok(),
        ConfigType::Long => value.parse::<i64>().is_ok(),
        ConfigType::Double => value.parse::<f64>().is_ok(),
        ConfigType::String | ConfigType::List => true,
    };
    if !ok {
        return Err(format!("Invalid value {value} for configuration {name}"));
    }
    let specific = match name {
        "message.timestamp.type" => matches!(value, "CreateTime" | "LogAppendTime"),
        "cleanup.policy" => value
            .split(',')
            .all(|p| matches!(p.trim(), "delete" | "compact")),
        "max.message.bytes" => value.parse::<i32>().is_ok_and(|v| v >= 0),
        "retention.ms" | "retention.bytes" => value.parse::<i64>().is_ok_and(|v| v >= -1),
        "message.timestamp.after.max.ms" | "message.timestamp.before.max.ms" => {
            value.parse::<i64>().is_ok_and(|v| v >= 0)
        }
        "compression.gzip.level" | "compression.lz4.level" | "compression.zstd.level" => {
            let codec =
                Codec::from_topic_config(&name["compression.".len()..name.len() - ".level".len()]);
            let range = codec.and_then(Codec::level_config);
            value
                .parse::<i32>()
                .is_ok_and(|v| range.is_some_and(|r| r.accepts(v)))
        }
        "compression.type" => matches!(
            value,
            "producer" | "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd"
        ),
        _ => true,
    };
    if !specific {
        return Err(format!("Invalid value {value} for configuration {name}"));
    }
    Ok(())
}

/// Effective value: the topic's override or Kafka's default.
pub fn effective<'a>(overrides: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    overrides
        .get(name)
        .map(String::as_str)
        .unwrap_or_else(|| lookup(name).map_or("", |d| d.default))
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
    /// KIP-937 `message.timestamp.before.max.ms` / `after.max.ms`, in ms (CreateTime only).
    pub timestamp_before_max_ms: i64,
    pub timestamp_after_max_ms: i64,
    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub compacted: bool,
}

impl ProducePolicy {
    pub fn of(topic: &Topic) -> Self {
        let get = |name| effective(&topic.configs, name);
        let long = |name| get(name).parse::<i64>().unwrap_or(i64::MAX);
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

/// Kafka's legal topic names: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it cannot be empty, '.' or '..'"
        ));
    }
    if name.len() > 249 {
        return Err(format!(
            "Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_matches_kafka() {
        assert!(validate("retention.ms", "1000").is_ok());
        assert!(validate("retention.ms", "-2").is_err());
        assert!(validate("retention.ms", "abc").is_err());
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
        assert!(validate("message.timestamp.type", "Now").is_err());
        assert!(validate("no.such.config", "1").is_err());
        assert!(validate("compression.gzip.level", "-1").is_ok());
        assert!(validate("compression.gzip.level", "10").is_err());
        assert!(validate("compression.lz4.level", "17").is_ok());
        assert!(validate("compression.lz4.level", "0").is_err());
        assert!(validate("compression.zstd.level", "-131072").is_ok());
        assert!(validate("compression.zstd.level", "23").is_err());
        assert!(validate("message.timestamp.after.max.ms", "-1").is_err());
        assert!(validate_topic_name("a.b_c-1").is_ok());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("a/b").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
        let mut o = BTreeMap::new();
        assert_eq!(effective(&o, "max.message.bytes"), "1048588");
        o.insert("max.message.bytes".to_string(), "10".to_string());
        assert_eq!(effective(&o, "max.message.bytes"), "10");
    }
}
