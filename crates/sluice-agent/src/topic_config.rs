//! Topic configs: Kafka's names and defaults, validation, and the effective values the data
//! path enforces (`retention.*`, `max.message.bytes`, `message.timestamp.type`).
//!
//! The quorum stores overrides only; defaults live here so that DescribeConfigs can tell a
//! default from an override, as Kafka does.

use std::collections::BTreeMap;

use sluice_meta::state::Topic;

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
        "Batches are stored as the producer compressed them.",
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
        "Stored for compatibility.",
    ),
    def(
        "message.timestamp.before.max.ms",
        "9223372036854775807",
        ConfigType::Long,
        "Stored for compatibility.",
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
#[derive(Debug, Clone, Copy)]
pub struct ProducePolicy {
    pub max_message_bytes: usize,
    pub log_append_time: bool,
}

impl ProducePolicy {
    pub fn of(topic: &Topic) -> Self {
        ProducePolicy {
            max_message_bytes: effective(&topic.configs, "max.message.bytes")
                .parse()
                .unwrap_or(1_048_588),
            log_append_time: effective(&topic.configs, "message.timestamp.type") == "LogAppendTime",
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
