//! The agent's part of KIP-932 share groups: what is per connection or per coordinator and
//! therefore not quorum state — share sessions (like KIP-227 fetch sessions, keyed by group and
//! member) and member liveness (last heartbeat), which the coordinator keeps in memory so that a
//! steady group's heartbeats cost no raft write. Expired members are proposed out.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use sluice_meta::share::ShareLimits;
use uuid::Uuid;

/// A partition in a share session.
pub type SharePartitionKey = (Uuid, i32);

struct ShareSession {
    next_epoch: i32,
    partitions: BTreeSet<SharePartitionKey>,
}

/// This agent's share-group memory: share sessions and member liveness, keyed by
/// (group id, member id).
pub struct ShareCoordinator {
    sessions: Mutex<HashMap<(String, String), ShareSession>>,
    last_seen: Mutex<HashMap<(String, String), Instant>>,
    /// Share groups: lock duration, delivery limit, in-flight bound per share-partition.
    pub limits: ShareLimits,
    /// `group.share.session.timeout.ms`: a member not heard from for this long is proposed out.
    pub session_timeout: Duration,
    /// `group.share.heartbeat.interval.ms`: the interval members are told to heartbeat at.
    pub heartbeat_interval: Duration,
}

/// What a share request's session epoch means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStep {
    /// Epoch 0: a new session (replacing any old one).
    Open,
    /// Epoch n > 0, in order.
    Continue,
    /// Epoch -1: the last request of the session.
    Close,
}

impl ShareCoordinator {
    /// A coordinator with no session and no member yet.
    pub fn new(
        limits: ShareLimits,
        session_timeout: Duration,
        heartbeat_interval: Duration,
    ) -> Self {
        ShareCoordinator {
            sessions: Mutex::new(HashMap::new()),
            last_seen: Mutex::new(HashMap::new()),
            limits,
            session_timeout,
            heartbeat_interval,
        }
    }

    /// Validates a request's session epoch and updates the session's partitions; returns the
    /// partitions the request covers (the session's, after adding and forgetting). Errors
    /// (KIP-932): SHARE_SESSION_NOT_FOUND for an epoch > 0 without a session,
    /// INVALID_SHARE_SESSION_EPOCH for an epoch out of order or below -1.
    pub fn session(
        &self,
        group: &str,
        member: &str,
        epoch: i32,
        add: &[SharePartitionKey],
        forget: &[SharePartitionKey],
    ) -> Result<(SessionStep, Vec<SharePartitionKey>), ResponseError> {
        let key = (group.to_string(), member.to_string());
        let mut sessions = self.sessions.lock().expect("share sessions lock");
        match epoch {
            0 => {
                let partitions: BTreeSet<_> = add.iter().copied().collect();
                let list = partitions.iter().copied().collect();
                sessions.insert(
                    key,
                    ShareSession {
                        next_epoch: 1,
                        partitions,
                    },
                );
                Ok((SessionStep::Open, list))
            }
            -1 => {
                let mut list: BTreeSet<_> = sessions
                    .remove(&key)
                    .map(|s| s.partitions)
                    .unwrap_or_default();
                list.extend(add.iter().copied());
                Ok((SessionStep::Close, list.into_iter().collect()))
            }
            n if n > 0 => {
                let s = sessions
                    .get_mut(&key)
                    .ok_or(ResponseError::ShareSessionNotFound)?;
                if s.next_epoch != n {
                    return Err(ResponseError::InvalidShareSessionEpoch);
                }
                s.next_epoch = if n == i32::MAX { 1 } else { n + 1 };
                for k in forget {
                    s.partitions.remove(k);
                }
                s.partitions.extend(add.iter().copied());
                Ok((
                    SessionStep::Continue,
                    s.partitions.iter().copied().collect(),
                ))
            }
            _ => Err(ResponseError::InvalidShareSessionEpoch),
        }
    }

    /// Records a heartbeat (or other request) of `member` now, keeping it alive.
    pub fn touch(&self, group: &str, member: &str) {
        self.last_seen
            .lock()
            .expect("liveness lock")
            .insert((group.to_string(), member.to_string()), Instant::now());
    }

    /// Drops `member`'s liveness and share session (it left or was removed).
    pub fn forget(&self, group: &str, member: &str) {
        let key = (group.to_string(), member.to_string());
        self.last_seen.lock().expect("liveness lock").remove(&key);
        self.sessions
            .lock()
            .expect("share sessions lock")
            .remove(&key);
    }

    /// Members of `known` (from quorum state) this coordinator has not heard from within the
    /// session timeout. A member never heard of here (the coordinator changed or restarted)
    /// starts its timer now.
    pub(crate) fn expired(&self, known: &[(String, String)]) -> Vec<(String, String)> {
        let now = Instant::now();
        let mut seen = self.last_seen.lock().expect("liveness lock");
        let mut out = Vec::new();
        for k in known {
            let at = *seen.entry(k.clone()).or_insert(now);
            if now.duration_since(at) > self.session_timeout {
                out.push(k.clone());
            }
        }
        let live: std::collections::HashSet<_> = known.iter().collect();
        seen.retain(|k, _| live.contains(k));
        out
    }
}

/// One partition's acknowledgement batches from the wire (ShareFetch or ShareAcknowledge),
/// checked as Kafka's `KafkaApis.validateAcknowledgementBatches` does — `first <= last`, batches
/// in offset order without overlap, one type for the whole batch or one per offset, each type
/// 0..=3 — and expanded into ranges of one type (runs coalesced). Any malformed batch makes the
/// whole partition INVALID_REQUEST: none of its acknowledgements is applied.
pub fn partition_acks<B: WireAckBatch>(
    topic: &str,
    partition: i32,
    batches: &[B],
) -> Result<Vec<sluice_meta::share_group::AckRequest>, ResponseError> {
    let mut out = Vec::new();
    let mut prev_last = -1;
    for (first, last, types) in batches.iter().map(WireAckBatch::range) {
        if first > last || first < prev_last {
            return Err(ResponseError::InvalidRequest);
        }
        out.extend(expand_acks(topic, partition, first, last, types)?);
        prev_last = last;
    }
    Ok(out)
}

/// An acknowledgement batch as ShareFetch and ShareAcknowledge carry it (two generated types).
pub trait WireAckBatch {
    /// (first offset, last offset, acknowledge types).
    fn range(&self) -> (i64, i64, &[i8]);
}

impl WireAckBatch for kafka_protocol::messages::share_fetch_request::AcknowledgementBatch {
    fn range(&self) -> (i64, i64, &[i8]) {
        (self.first_offset, self.last_offset, &self.acknowledge_types)
    }
}

impl WireAckBatch for kafka_protocol::messages::share_acknowledge_request::AcknowledgementBatch {
    fn range(&self) -> (i64, i64, &[i8]) {
        (self.first_offset, self.last_offset, &self.acknowledge_types)
    }
}

impl WireAckBatch for (i64, i64, &[i8]) {
    fn range(&self) -> (i64, i64, &[i8]) {
        *self
    }
}

/// Expands one wire acknowledgement batch (`first`, `last`, types: one for the whole range or
/// one per offset) into ranges of one type, coalescing runs.
fn expand_acks(
    topic: &str,
    partition: i32,
    first: i64,
    last: i64,
    types: &[i8],
) -> Result<Vec<sluice_meta::share_group::AckRequest>, ResponseError> {
    use sluice_meta::share::AckType;
    use sluice_meta::share_group::AckRequest;
    if first > last || first < 0 {
        return Err(ResponseError::InvalidRequest);
    }
    let ack_of = |c: i8| AckType::from_code(c).ok_or(ResponseError::InvalidRequest);
    let mk = |first, last, ack| AckRequest {
        topic: topic.to_string(),
        partition,
        first,
        last,
        ack,
    };
    match types {
        [one] => Ok(vec![mk(first, last, ack_of(*one)?)]),
        many if many.len() as i64 == last - first + 1 => {
            let mut out: Vec<AckRequest> = Vec::new();
            for (i, c) in many.iter().enumerate() {
                let ack = ack_of(*c)?;
                let off = first + i as i64;
                match out.last_mut() {
                    Some(r) if r.ack == ack && r.last + 1 == off => r.last = off,
                    _ => out.push(mk(off, off, ack)),
                }
            }
            Ok(out)
        }
        _ => Err(ResponseError::InvalidRequest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_session_epochs() {
        let c = ShareCoordinator::new(
            ShareLimits::default(),
            Duration::from_secs(45),
            Duration::from_secs(5),
        );
        let p = |n| (Uuid::nil(), n);
        assert_eq!(
            c.session("g", "m", 1, &[], &[]).unwrap_err(),
            ResponseError::ShareSessionNotFound
        );
        assert_eq!(
            c.session("g", "m", 0, &[p(0), p(1)], &[]).unwrap(),
            (SessionStep::Open, vec![p(0), p(1)])
        );
        assert_eq!(
            c.session("g", "m", 2, &[], &[]).unwrap_err(),
            ResponseError::InvalidShareSessionEpoch
        );
        assert_eq!(
            c.session("g", "m", 1, &[p(2)], &[p(0)]).unwrap(),
            (SessionStep::Continue, vec![p(1), p(2)])
        );
        assert_eq!(
            c.session("g", "m", -1, &[], &[]).unwrap(),
            (SessionStep::Close, vec![p(1), p(2)])
        );
        assert_eq!(
            c.session("g", "m", 2, &[], &[]).unwrap_err(),
            ResponseError::ShareSessionNotFound
        );
    }

    #[test]
    fn acknowledgement_batches_are_checked_per_partition() {
        use sluice_meta::share::AckType;
        let ok = partition_acks("t", 0, &[(0, 2, &[1, 1, 2][..]), (3, 4, &[3][..])]).unwrap();
        let got: Vec<(i64, i64, AckType)> = ok.iter().map(|a| (a.first, a.last, a.ack)).collect();
        assert_eq!(
            got,
            vec![
                (0, 1, AckType::Accept),
                (2, 2, AckType::Release),
                (3, 4, AckType::Reject)
            ]
        );
        for bad in [
            vec![(3, 2, &[1][..])],
            vec![(5, 6, &[1][..]), (0, 1, &[1][..])],
            vec![(0, 2, &[1, 1][..])],
            vec![(0, 0, &[4][..])],
            vec![(0, 0, &[][..])],
        ] {
            assert_eq!(
                partition_acks("t", 0, &bad).unwrap_err(),
                ResponseError::InvalidRequest
            );
        }
    }

    #[test]
    fn liveness_starts_fresh_and_expires() {
        let c = ShareCoordinator::new(
            ShareLimits::default(),
            Duration::from_millis(0),
            Duration::from_secs(5),
        );
        let known = vec![("g".to_string(), "m".to_string())];
        assert!(c.expired(&known).is_empty(), "first sight starts the timer");
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(c.expired(&known), known);
    }
}
