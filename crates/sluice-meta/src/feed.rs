//! The change feed: every applied log entry, in order, as `(index, Option<Command>)`.
//!
//! The state machine pushes each applied entry here (`None` for blank and
//! membership entries). Only the last `capacity` entries are kept in memory; a
//! reader asking for entries after an index older than that is told it is
//! [`FeedRead::Behind`] and must reset from a full copy of the state instead
//! (the HTTP surface answers with a snapshot). Because [`MetaState::apply`] is
//! deterministic, applying the feed's commands in order to a copy of the state
//! reproduces the leader's state exactly.
//!
//! [`MetaState::apply`]: crate::state::MetaState::apply

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::command::Command;

/// Default number of entries kept in memory.
pub const DEFAULT_FEED_CAPACITY: usize = 20_000;

/// One applied log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEntry {
    /// Raft log index of the entry.
    pub index: u64,
    /// The command, or `None` for a blank or membership entry.
    pub command: Option<Command>,
}

/// Result of reading the feed.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedRead {
    /// Entries after the requested index, in order (possibly empty).
    Entries(Vec<ChangeEntry>),
    /// The requested index is older than the oldest entry kept; reset from a snapshot.
    Behind,
}

/// In-memory ring buffer of the most recently applied entries.
#[derive(Debug)]
pub struct ChangeFeed {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Entries with index <= `base` are not in the buffer.
    base: u64,
    entries: VecDeque<ChangeEntry>,
    capacity: usize,
}

impl Inner {
    fn last_index(&self) -> u64 {
        self.entries.back().map_or(self.base, |e| e.index)
    }
}

impl ChangeFeed {
    /// An empty feed whose history before `base` (inclusive) is unavailable.
    pub fn new(capacity: usize, base: u64) -> Self {
        ChangeFeed {
            inner: Mutex::new(Inner {
                base,
                entries: VecDeque::new(),
                capacity: capacity.max(1),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends applied entries; entries at or below the last index are ignored
    /// (the initial membership entry at index 0, replays after a reset).
    pub(crate) fn push(&self, batch: impl IntoIterator<Item = ChangeEntry>) {
        let mut g = self.lock();
        for entry in batch {
            if entry.index <= g.last_index() {
                continue;
            }
            g.entries.push_back(entry);
            if g.entries.len() > g.capacity {
                if let Some(dropped) = g.entries.pop_front() {
                    g.base = dropped.index;
                }
            }
        }
    }

    /// Drops all entries; history up to `base` is now only available as a snapshot.
    pub(crate) fn reset(&self, base: u64) {
        let mut g = self.lock();
        g.entries.clear();
        g.base = base;
    }

    /// Up to `max` entries with index > `after`.
    pub fn read_after(&self, after: u64, max: usize) -> FeedRead {
        let g = self.lock();
        if after < g.base {
            return FeedRead::Behind;
        }
        let start = g.entries.partition_point(|e| e.index <= after);
        FeedRead::Entries(g.entries.range(start..).take(max).cloned().collect())
    }

    /// Index of the last entry pushed (or the base if none).
    pub fn last_index(&self) -> u64 {
        self.lock().last_index()
    }

    /// Entries with index <= this are no longer in the buffer.
    pub fn base(&self) -> u64 {
        self.lock().base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64) -> ChangeEntry {
        ChangeEntry {
            index,
            command: Some(Command::Noop),
        }
    }

    #[test]
    fn ring_buffer_drops_oldest_and_reports_behind() {
        let feed = ChangeFeed::new(3, 0);
        feed.push((0..=5).map(entry));
        assert_eq!(feed.base(), 2);
        assert_eq!(feed.last_index(), 5);
        assert_eq!(feed.read_after(1, 10), FeedRead::Behind);
        assert_eq!(
            feed.read_after(2, 10),
            FeedRead::Entries(vec![entry(3), entry(4), entry(5)])
        );
        assert_eq!(feed.read_after(4, 10), FeedRead::Entries(vec![entry(5)]));
        assert_eq!(feed.read_after(5, 10), FeedRead::Entries(vec![]));
        assert_eq!(feed.read_after(2, 1), FeedRead::Entries(vec![entry(3)]));
    }

    #[test]
    fn reset_moves_base() {
        let feed = ChangeFeed::new(10, 0);
        feed.push((1..=4).map(entry));
        feed.reset(100);
        assert_eq!(feed.read_after(4, 10), FeedRead::Behind);
        feed.push([entry(100), entry(101)]);
        assert_eq!(
            feed.read_after(100, 10),
            FeedRead::Entries(vec![entry(101)])
        );
    }
}
