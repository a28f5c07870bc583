//! KIP-227 incremental fetch sessions.
//!
//! A client opens a session with a full fetch (`session_id = 0, epoch = 0`); later fetches
//! (`epoch = 1, 2, ...`) list only partitions whose fetch position changed, and responses list
//! only partitions with news (records, a moved watermark or log start, an error). Sessions are
//! per agent and held in memory; an agent restart makes clients fall back to a full fetch via
//! FETCH_SESSION_ID_NOT_FOUND, exactly as with a Kafka broker restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

/// A partition as a session knows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionKey {
    /// The topic id (resolved from the name on Fetch v0-12; as sent for an unknown topic).
    pub topic_id: Uuid,
    /// The topic name (resolved from the id on Fetch v13+; as sent for an unknown topic).
    pub topic: String,
    /// The partition index.
    pub partition: i32,
}

/// What the client asked of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRequest {
    /// The offset to fetch from.
    pub fetch_offset: i64,
    /// The partition's byte limit (`partition_max_bytes`).
    pub max_bytes: i32,
}

/// What a response told the client of a partition: the basis of "has it changed".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionSent {
    /// The high watermark the response carried.
    pub high_watermark: i64,
    /// The log start offset the response carried.
    pub log_start_offset: i64,
}

#[derive(Debug)]
struct Session {
    next_epoch: i32,
    partitions: BTreeMap<SessionKey, (PartitionRequest, Option<PartitionSent>)>,
    last_used: Instant,
}

/// How a fetch relates to sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMode {
    /// A full fetch outside any session.
    Sessionless,
    /// A full fetch that opens a session.
    New,
    /// An incremental fetch in session `id`.
    Incremental(i32),
}

/// This agent's fetch sessions, by session id (ids from 1, wrapping at `i32::MAX`).
pub struct FetchSessions {
    sessions: Mutex<HashMap<i32, Session>>,
    capacity: usize,
    next_id: Mutex<i32>,
}

/// KIP-227's `FINAL_EPOCH`: with session id 0, a sessionless full fetch; with a session id,
/// the session's last request (it is closed).
pub const FINAL_EPOCH: i32 = -1;

impl FetchSessions {
    /// Room for `capacity` sessions (Kafka's `max.incremental.fetch.session.cache.slots`); a
    /// new session beyond it evicts the least recently used one.
    pub fn new(capacity: usize) -> Self {
        FetchSessions {
            sessions: Mutex::new(HashMap::new()),
            capacity,
            next_id: Mutex::new(1),
        }
    }

    /// Resolves the partitions a fetch covers. `requested` are the partitions listed in the
    /// request; `forgotten` those it drops. Errors: INVALID_FETCH_SESSION_EPOCH for an epoch
    /// out of order (or not 0 / -1 with session id 0), FETCH_SESSION_ID_NOT_FOUND for an
    /// unknown (or evicted) session.
    pub fn begin(
        &self,
        session_id: i32,
        epoch: i32,
        requested: Vec<(SessionKey, PartitionRequest)>,
        forgotten: &[SessionKey],
    ) -> Result<(SessionMode, Vec<(SessionKey, PartitionRequest)>), ResponseError> {
        let mut sessions = self.sessions.lock().expect("sessions lock");
        if session_id == 0 {
            return match epoch {
                FINAL_EPOCH => Ok((SessionMode::Sessionless, requested)),
                0 => Ok((SessionMode::New, requested)),
                _ => Err(ResponseError::InvalidFetchSessionEpoch),
            };
        }
        if epoch == FINAL_EPOCH {
            sessions.remove(&session_id);
            return Ok((SessionMode::Sessionless, requested));
        }
        let Some(s) = sessions.get_mut(&session_id) else {
            return Err(ResponseError::FetchSessionIdNotFound);
        };
        if epoch != s.next_epoch {
            return Err(ResponseError::InvalidFetchSessionEpoch);
        }
        s.next_epoch = if s.next_epoch == i32::MAX {
            1
        } else {
            s.next_epoch + 1
        };
        s.last_used = Instant::now();
        for k in forgotten {
            s.partitions.remove(k);
        }
        for (k, r) in requested {
            match s.partitions.get_mut(&k) {
                Some(e) => e.0 = r,
                None => {
                    s.partitions.insert(k, (r, None));
                }
            }
        }
        let all = s
            .partitions
            .iter()
            .map(|(k, (r, _))| (k.clone(), *r))
            .collect();
        Ok((SessionMode::Incremental(session_id), all))
    }

    /// Records what a response tells the client, and decides which partitions it lists.
    /// `results` are `(key, sent, has_news)` where `has_news` is records or an error.
    /// Returns the session id for the response and, per result, whether to include it.
    pub fn finish(
        &self,
        mode: SessionMode,
        results: &[(SessionKey, PartitionRequest, PartitionSent, bool)],
    ) -> (i32, Vec<bool>) {
        match mode {
            SessionMode::Sessionless => (0, vec![true; results.len()]),
            SessionMode::New => {
                let mut sessions = self.sessions.lock().expect("sessions lock");
                if sessions.len() >= self.capacity {
                    // Evict the least recently used session; its client will start over.
                    if let Some(oldest) = sessions
                        .iter()
                        .min_by_key(|(_, s)| s.last_used)
                        .map(|(id, _)| *id)
                    {
                        sessions.remove(&oldest);
                    }
                }
                let id = {
                    let mut n = self.next_id.lock().expect("id lock");
                    loop {
                        let id = *n;
                        *n = if *n == i32::MAX { 1 } else { *n + 1 };
                        if !sessions.contains_key(&id) {
                            break id;
                        }
                    }
                };
                let partitions = results
                    .iter()
                    .map(|(k, r, sent, _)| (k.clone(), (*r, Some(*sent))))
                    .collect();
                sessions.insert(
                    id,
                    Session {
                        next_epoch: 1,
                        partitions,
                        last_used: Instant::now(),
                    },
                );
                (id, vec![true; results.len()])
            }
            SessionMode::Incremental(id) => {
                let mut sessions = self.sessions.lock().expect("sessions lock");
                let Some(s) = sessions.get_mut(&id) else {
                    return (id, vec![true; results.len()]);
                };
                let include = results
                    .iter()
                    .map(|(k, _, sent, news)| match s.partitions.get_mut(k) {
                        Some(entry) => {
                            let changed = *news || entry.1 != Some(*sent);
                            entry.1 = Some(*sent);
                            changed
                        }
                        None => true,
                    })
                    .collect();
                (id, include)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: i32) -> SessionKey {
        SessionKey {
            topic_id: Uuid::nil(),
            topic: "t".into(),
            partition: p,
        }
    }
    const R: PartitionRequest = PartitionRequest {
        fetch_offset: 0,
        max_bytes: 100,
    };
    const S: PartitionSent = PartitionSent {
        high_watermark: 5,
        log_start_offset: 0,
    };

    #[test]
    fn full_then_incremental_lists_only_news() {
        let s = FetchSessions::new(10);
        let (mode, parts) = s.begin(0, 0, vec![(key(0), R), (key(1), R)], &[]).unwrap();
        assert_eq!(mode, SessionMode::New);
        let res: Vec<_> = parts
            .iter()
            .map(|(k, r)| (k.clone(), *r, S, false))
            .collect();
        let (id, inc) = s.finish(mode, &res);
        assert!(id > 0);
        assert_eq!(inc, vec![true, true]);

        // Epoch 1, nothing listed: both partitions are still fetched.
        let (mode, parts) = s.begin(id, 1, vec![], &[]).unwrap();
        assert_eq!(parts.len(), 2);
        let moved = PartitionSent {
            high_watermark: 6,
            log_start_offset: 0,
        };
        let res = vec![(key(0), R, S, false), (key(1), R, moved, true)];
        assert_eq!(s.finish(mode, &res), (id, vec![false, true]));

        // Forgetting a partition drops it; wrong and unknown epochs/ids are refused.
        let (_, parts) = s.begin(id, 2, vec![], &[key(0)]).unwrap();
        assert_eq!(
            parts.iter().map(|(k, _)| k.partition).collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(
            s.begin(id, 2, vec![], &[]).unwrap_err(),
            ResponseError::InvalidFetchSessionEpoch
        );
        assert_eq!(
            s.begin(id + 100, 1, vec![], &[]).unwrap_err(),
            ResponseError::FetchSessionIdNotFound
        );
        assert_eq!(
            s.begin(0, 5, vec![], &[]).unwrap_err(),
            ResponseError::InvalidFetchSessionEpoch
        );
        // Closing a session.
        assert_eq!(
            s.begin(id, FINAL_EPOCH, vec![], &[]).unwrap().0,
            SessionMode::Sessionless
        );
        assert_eq!(
            s.begin(id, 3, vec![], &[]).unwrap_err(),
            ResponseError::FetchSessionIdNotFound
        );
    }

    #[test]
    fn capacity_evicts_least_recently_used() {
        let s = FetchSessions::new(1);
        let (m, _) = s.begin(0, 0, vec![(key(0), R)], &[]).unwrap();
        let (a, _) = s.finish(m, &[(key(0), R, S, false)]);
        let (m, _) = s.begin(0, 0, vec![(key(0), R)], &[]).unwrap();
        let (b, _) = s.finish(m, &[(key(0), R, S, false)]);
        assert_ne!(a, b);
        assert_eq!(
            s.begin(a, 1, vec![], &[]).unwrap_err(),
            ResponseError::FetchSessionIdNotFound
        );
        assert!(s.begin(b, 1, vec![], &[]).is_ok());
    }
}
