//! The agent's wall clock, in one place so no module reaches into [`crate::agent`] for it.
//!
//! Only proposers and readers read the clock; the metadata state machine never does: a command
//! that needs the time carries the proposer's reading (`now_ms` fields).

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall clock in milliseconds since the Unix epoch; 0 if the system clock is before the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
