//! Group configs (resource type GROUP): the `consumer.*` (KIP-848), `share.*` (KIP-932) and
//! `streams.*` (KIP-1071) keys a group may set with IncrementalAlterConfigs, how each value is
//! checked, and the broker-level bounds every value must stay within, after Kafka's
//! `org.apache.kafka.coordinator.group.GroupConfig`.
//!
//! A group's configs live in the quorum (`Groups::configs`, values kept as given). The
//! IncrementalAlterConfigs handler checks a change here ([`check`], then [`check_pairs`] on the
//! result) before proposing it. The coordinators read a value with [`GroupConfigBounds::clamp`],
//! so a value stored before the bounds were narrowed is still used within them (Kafka's
//! `GroupConfig.evaluate`).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use sluice_meta::share_group::parse_iso8601_duration_ms;

/// Broker-level bounds on group configs: Kafka's `group.{consumer,share,streams}.{min,max}.*`
/// broker configs, with Kafka's defaults. Times in ms, the others counts. A group config outside
/// its range is refused with INVALID_CONFIG ("`key` must be in the range `min` to `max`
/// inclusive.", as Kafka 4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfigBounds {
    /// `group.consumer.{min,max}.session.timeout.ms` (45,000..=60,000)
    pub consumer_session_timeout_ms: RangeInclusive<i64>,
    /// `group.consumer.{min,max}.heartbeat.interval.ms` (5,000..=15,000)
    pub consumer_heartbeat_interval_ms: RangeInclusive<i64>,
    /// `group.share.{min,max}.session.timeout.ms` (45,000..=60,000)
    pub share_session_timeout_ms: RangeInclusive<i64>,
    /// `group.share.{min,max}.heartbeat.interval.ms` (5,000..=15,000)
    pub share_heartbeat_interval_ms: RangeInclusive<i64>,
    /// `group.share.{min,max}.record.lock.duration.ms` (15,000..=60,000)
    pub share_record_lock_duration_ms: RangeInclusive<i64>,
    /// `share.delivery.count.limit`'s range (2..=10)
    pub share_delivery_count_limit: RangeInclusive<i64>,
    /// `group.streams.{min,max}.session.timeout.ms` (45,000..=60,000)
    pub streams_session_timeout_ms: RangeInclusive<i64>,
    /// `group.streams.{min,max}.heartbeat.interval.ms` (5,000..=15,000)
    pub streams_heartbeat_interval_ms: RangeInclusive<i64>,
    /// `group.streams.max.standby.replicas` (2)
    pub streams_max_standby_replicas: i64,
}

impl Default for GroupConfigBounds {
    fn default() -> Self {
        GroupConfigBounds {
            consumer_session_timeout_ms: 45_000..=60_000,
            consumer_heartbeat_interval_ms: 5_000..=15_000,
            share_session_timeout_ms: 45_000..=60_000,
            share_heartbeat_interval_ms: 5_000..=15_000,
            share_record_lock_duration_ms: 15_000..=60_000,
            share_delivery_count_limit: 2..=10,
            streams_session_timeout_ms: 45_000..=60_000,
            streams_heartbeat_interval_ms: 5_000..=15_000,
            streams_max_standby_replicas: 2,
        }
    }
}

impl GroupConfigBounds {
    /// The allowed range of integer key `key`, or `None` for a key that is not an integer
    /// group config.
    pub fn range(&self, key: &str) -> Option<RangeInclusive<i64>> {
        Some(match key {
            "consumer.session.timeout.ms" => self.consumer_session_timeout_ms.clone(),
            "consumer.heartbeat.interval.ms" => self.consumer_heartbeat_interval_ms.clone(),
            "share.session.timeout.ms" => self.share_session_timeout_ms.clone(),
            "share.heartbeat.interval.ms" => self.share_heartbeat_interval_ms.clone(),
            "share.record.lock.duration.ms" => self.share_record_lock_duration_ms.clone(),
            "share.delivery.count.limit" => self.share_delivery_count_limit.clone(),
            "streams.session.timeout.ms" => self.streams_session_timeout_ms.clone(),
            "streams.heartbeat.interval.ms" => self.streams_heartbeat_interval_ms.clone(),
            "streams.num.standby.replicas" => 0..=self.streams_max_standby_replicas,
            _ => return None,
        })
    }

    /// `value` of integer key `key` brought within its bounds (unchanged for other keys).
    pub fn clamp(&self, key: &str, value: i64) -> i64 {
        self.range(key)
            .map_or(value, |r| value.clamp(*r.start(), *r.end()))
    }

    /// Every range well formed (min ≤ max, all ≥ 0): the agent refuses to start otherwise.
    ///
    /// # Errors
    /// [`BadBounds`] for the first key whose range is empty or negative.
    pub fn validate(&self) -> Result<(), BadBounds> {
        for key in INT_KEYS {
            let r = self.range(key).expect("an integer key");
            if r.is_empty() || *r.start() < 0 {
                return Err(BadBounds {
                    key,
                    min: *r.start(),
                    max: *r.end(),
                });
            }
        }
        Ok(())
    }
}

/// Broker bounds of a group config that no value can satisfy (see [`GroupConfigBounds::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the bounds of group config {key} are empty or negative: {min} to {max}")]
pub struct BadBounds {
    /// The group config key, e.g. `consumer.session.timeout.ms`.
    pub key: &'static str,
    /// Its lower bound.
    pub min: i64,
    /// Its upper bound.
    pub max: i64,
}

/// The integer group configs, each bounded by [`GroupConfigBounds::range`].
const INT_KEYS: [&str; 9] = [
    "consumer.session.timeout.ms",
    "consumer.heartbeat.interval.ms",
    "share.session.timeout.ms",
    "share.heartbeat.interval.ms",
    "share.record.lock.duration.ms",
    "share.delivery.count.limit",
    "streams.session.timeout.ms",
    "streams.heartbeat.interval.ms",
    "streams.num.standby.replicas",
];

/// Whether `key` is a group config Sluice knows.
pub fn is_known(key: &str) -> bool {
    INT_KEYS.contains(&key) || matches!(key, "share.auto.offset.reset" | "share.isolation.level")
}

/// A group config value Kafka refuses with INVALID_CONFIG (from [`check`] and
/// [`check_pairs`]). The Display is Kafka 4.4's error message, which clients read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupConfigError {
    /// A value the key does not accept (an unknown `share.isolation.level`, ...).
    #[error("Invalid value {value} for configuration {key}")]
    InvalidValue {
        /// The group config key.
        key: String,
        /// The value as given.
        value: String,
    },
    /// An integer key given something that is not a 32-bit integer (Kafka's ConfigDef type
    /// INT).
    #[error("Invalid value {value} for configuration {key}: Not a number of type INT")]
    NotAnInt {
        /// The group config key.
        key: String,
        /// The value as given.
        value: String,
    },
    /// A negative value for a key whose ConfigDef says `atLeast(0)`
    /// (`streams.num.standby.replicas`).
    #[error("Invalid value {value} for configuration {key}: Value must be at least 0")]
    Negative {
        /// The group config key.
        key: String,
        /// The value as given.
        value: String,
    },
    /// A value above the broker's maximum for a key bounded only above
    /// (`streams.num.standby.replicas` and `group.streams.max.standby.replicas`).
    #[error("{key} must be less than or equal to {max}")]
    AboveMax {
        /// The group config key.
        key: String,
        /// The largest value the broker allows.
        max: i64,
    },
    /// A value outside the broker's bounds ([`GroupConfigBounds::range`]; ms or a count).
    #[error("{key} must be in the range {min} to {max} inclusive.")]
    OutOfRange {
        /// The group config key.
        key: String,
        /// The smallest value the broker allows.
        min: i64,
        /// The largest value the broker allows.
        max: i64,
    },
    /// A session timeout not above its heartbeat interval, after a change ([`check_pairs`]).
    #[error("{session} must be greater than {heartbeat}")]
    SessionNotAboveHeartbeat {
        /// The session timeout key, e.g. `consumer.session.timeout.ms`.
        session: &'static str,
        /// The heartbeat interval key, e.g. `consumer.heartbeat.interval.ms`.
        heartbeat: &'static str,
    },
}

/// Checks one value of known key `key` on its own, as Kafka's `GroupConfig` does.
///
/// # Errors
/// The [`GroupConfigError`] whose message Kafka 4.4 gives: a parse error names the type
/// ("Invalid value x for configuration k: Not a number of type INT"), a value out of bounds
/// names the range.
pub fn check(bounds: &GroupConfigBounds, key: &str, value: &str) -> Result<(), GroupConfigError> {
    let Some(range) = bounds.range(key) else {
        let ok = match key {
            "share.auto.offset.reset" => {
                matches!(value, "earliest" | "latest")
                    || value
                        .strip_prefix("by_duration:")
                        .and_then(parse_iso8601_duration_ms)
                        .is_some()
            }
            "share.isolation.level" => matches!(value, "read_uncommitted" | "read_committed"),
            _ => false,
        };
        return if ok {
            Ok(())
        } else {
            Err(GroupConfigError::InvalidValue {
                key: key.to_string(),
                value: value.to_string(),
            })
        };
    };
    // Kafka's ConfigDef type INT: a 32-bit integer.
    let n: i64 = value
        .trim()
        .parse::<i32>()
        .map_err(|_| GroupConfigError::NotAnInt {
            key: key.to_string(),
            value: value.to_string(),
        })?
        .into();
    if key == "streams.num.standby.replicas" {
        // Kafka's ConfigDef says `atLeast(0)`; the broker bound is checked afterwards.
        if n < 0 {
            return Err(GroupConfigError::Negative {
                key: key.to_string(),
                value: value.to_string(),
            });
        }
        if n > *range.end() {
            return Err(GroupConfigError::AboveMax {
                key: key.to_string(),
                max: *range.end(),
            });
        }
        return Ok(());
    }
    if !range.contains(&n) {
        return Err(GroupConfigError::OutOfRange {
            key: key.to_string(),
            min: *range.start(),
            max: *range.end(),
        });
    }
    Ok(())
}

/// The session timeout / heartbeat interval pairs Kafka checks together.
const PAIRS: [(&str, &str); 3] = [
    (
        "consumer.session.timeout.ms",
        "consumer.heartbeat.interval.ms",
    ),
    ("share.session.timeout.ms", "share.heartbeat.interval.ms"),
    (
        "streams.session.timeout.ms",
        "streams.heartbeat.interval.ms",
    ),
];

/// Checks a group's configs after a change as a whole: each session timeout must exceed its
/// heartbeat interval. `configs` holds the group's values after the change; `default` gives the
/// broker default (ms) of a key the group does not set.
///
/// # Errors
/// [`GroupConfigError::SessionNotAboveHeartbeat`]: "`session key` must be greater than
/// `heartbeat key`" (INVALID_CONFIG), as Kafka.
pub fn check_pairs(
    configs: &BTreeMap<String, String>,
    default: impl Fn(&str) -> i64,
) -> Result<(), GroupConfigError> {
    let value = |k: &str| {
        configs
            .get(k)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or_else(|| default(k))
    };
    for (session, heartbeat) in PAIRS {
        if !configs.contains_key(session) && !configs.contains_key(heartbeat) {
            continue;
        }
        if value(session) <= value(heartbeat) {
            return Err(GroupConfigError::SessionNotAboveHeartbeat { session, heartbeat });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_the_bounds_with_kafkas_messages() {
        let b = GroupConfigBounds::default();
        assert_eq!(check(&b, "streams.session.timeout.ms", "45000"), Ok(()));
        assert_eq!(
            check(&b, "streams.session.timeout.ms", "1000")
                .unwrap_err()
                .to_string(),
            "streams.session.timeout.ms must be in the range 45000 to 60000 inclusive."
        );
        assert_eq!(
            check(&b, "streams.heartbeat.interval.ms", "soon").unwrap_err().to_string(),
            "Invalid value soon for configuration streams.heartbeat.interval.ms: Not a number of type INT"
        );
        assert_eq!(
            check(&b, "consumer.session.timeout.ms", "99999999999").unwrap_err().to_string(),
            "Invalid value 99999999999 for configuration consumer.session.timeout.ms: Not a number of type INT"
        );
        assert_eq!(
            check(&b, "streams.num.standby.replicas", "3")
                .unwrap_err()
                .to_string(),
            "streams.num.standby.replicas must be less than or equal to 2"
        );
        assert_eq!(
            check(&b, "streams.num.standby.replicas", "-1").unwrap_err().to_string(),
            "Invalid value -1 for configuration streams.num.standby.replicas: Value must be at least 0"
        );
        assert_eq!(check(&b, "share.isolation.level", "read_committed"), Ok(()));
        assert!(check(&b, "share.auto.offset.reset", "by_duration:PT1H").is_ok());
        assert!(check(&b, "share.auto.offset.reset", "never").is_err());
        let relaxed = GroupConfigBounds {
            consumer_session_timeout_ms: 1_000..=60_000,
            ..Default::default()
        };
        assert_eq!(
            check(&relaxed, "consumer.session.timeout.ms", "6000"),
            Ok(())
        );
    }

    #[test]
    fn session_must_exceed_heartbeat_with_broker_defaults_for_unset_keys() {
        let defaults = |k: &str| if k.contains("session") { 45_000 } else { 5_000 };
        let set = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(check_pairs(&set(&[]), defaults), Ok(()));
        assert_eq!(
            check_pairs(
                &set(&[("streams.heartbeat.interval.ms", "45000")]),
                defaults
            )
            .unwrap_err()
            .to_string(),
            "streams.session.timeout.ms must be greater than streams.heartbeat.interval.ms"
        );
        assert_eq!(
            check_pairs(&set(&[("consumer.session.timeout.ms", "6000")]), defaults),
            Ok(())
        );
    }

    #[test]
    fn clamp_keeps_stored_values_within_narrowed_bounds() {
        let b = GroupConfigBounds::default();
        assert_eq!(b.clamp("consumer.session.timeout.ms", 6_000), 45_000);
        assert_eq!(b.clamp("streams.num.standby.replicas", 7), 2);
        assert_eq!(b.clamp("unknown", 7), 7);
        assert!(b.validate().is_ok());
        // An empty range: the minimum above the maximum, as a misconfigured broker would give it.
        let (min, max) = (60_000, 45_000);
        let bad = GroupConfigBounds {
            share_session_timeout_ms: min..=max,
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "share.session.timeout.ms");
    }
}
