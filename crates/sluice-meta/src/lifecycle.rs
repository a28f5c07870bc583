//! Storage lifecycle in the quorum: retention, DeleteRecords, job leases and the conditional
//! index swap that segment compaction and log compaction end with.
//!
//! Every change here only ever removes index entries or replaces a run of them by entries
//! covering the same records; objects no entry references any more go to
//! [`MetaState::garbage`], which the janitor deletes after a grace period (readers that
//! resolved the old entries just before a swap still find their objects).
//!
//! A compaction job reads some index entries, writes their (possibly filtered) batches into a
//! new object, then proposes ONE [`ChunkSwap`]: it applies only if every entry the job read is
//! still in the index unchanged, so a concurrent retention, DeleteRecords, topic deletion or
//! another job's swap wins, and the job's object becomes garbage at once.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codes;
use crate::command::CommandResponse;
use crate::state::{Chunk, MetaState, PartitionLog};

/// Kafka's POLICY_VIOLATION (DeleteRecords on a topic without `delete` in `cleanup.policy`).
pub const POLICY_VIOLATION: i16 = 44;
/// Kafka's OFFSET_OUT_OF_RANGE.
pub const OFFSET_OUT_OF_RANGE: i16 = 1;

/// Broker-wide retention, for topics without a `retention.ms` / `retention.bytes` override
/// (Kafka's `log.retention.ms` and `log.retention.bytes`). `-1` keeps forever.
///
/// A command stored before these existed decodes with both at -1, which is what such a
/// command meant when it was applied.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct RetentionDefaults {
    /// Milliseconds; data whose newest timestamp is older than this goes.
    pub retention_ms: i64,
    /// Bytes per partition; the oldest chunks go while the rest still holds at least this.
    pub retention_bytes: i64,
}

impl Default for RetentionDefaults {
    fn default() -> Self {
        RetentionDefaults {
            retention_ms: -1,
            retention_bytes: -1,
        }
    }
}

/// Lifecycle commands ([`crate::command::Command::Lifecycle`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum LifecycleCommand {
    /// DeleteRecords (Kafka API 21): moves each partition's log start offset up to `offset`
    /// (`-1` = the high watermark). Answered with [`LifecycleResponse::RecordsDeleted`].
    DeleteRecords {
        /// The partitions and their new log start offsets.
        partitions: Vec<DeleteRecordsTarget>,
    },
    /// Takes (or renews) the lease on `job` for `holder` until `now_ms + ttl_ms`, unless another
    /// holder's lease is still running. Answered with [`LifecycleResponse::Lease`].
    AcquireLease {
        /// The job's lease name (one per kind of job, e.g. the compaction lease).
        job: String,
        /// The node id asking for the lease.
        holder: i32,
        /// Proposer's clock (ms since the Unix epoch); a lease with `expires_ms <= now_ms` is free.
        now_ms: i64,
        /// Lease length (ms).
        ttl_ms: i64,
    },
    /// Gives the lease on `job` up, if `holder` holds it.
    ReleaseLease {
        /// The job's lease name.
        job: String,
        /// The node giving the lease up; a lease held by another is left alone.
        holder: i32,
    },
    /// Replaces index entries of one partition by a compaction's output (see [`ChunkSwap`]).
    SwapChunks(ChunkSwap),
}

/// One partition of a DeleteRecords request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeleteRecordsTarget {
    /// The topic's name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// The new log start offset; `-1` means the high watermark.
    pub offset: i64,
}

/// One partition's DeleteRecords result (Kafka's `DeleteRecordsPartitionResult`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeleteRecordsResult {
    /// NONE, UNKNOWN_TOPIC_OR_PARTITION, [`POLICY_VIOLATION`] or [`OFFSET_OUT_OF_RANGE`] (offset
    /// negative or above the high watermark).
    pub error_code: i16,
    /// The log start offset after the deletion; -1 on error.
    pub low_watermark: i64,
}

/// A compaction's index swap for one partition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChunkSwap {
    /// The topic's name.
    pub topic: String,
    /// The topic's id when the job read it; the swap does not apply to a re-created topic.
    pub topic_id: Uuid,
    /// The partition index.
    pub partition: i32,
    /// The entries the job read, exactly as it read them (base offset and chunk).
    pub inputs: Vec<(i64, Chunk)>,
    /// What replaces them: entries in the new object, within the inputs' offset range. Offsets
    /// the inputs held that no output covers are gone (log compaction dropped their batches).
    pub outputs: Vec<(i64, Chunk)>,
    /// Log compaction: every offset below this has been cleaned (Kafka's cleaner checkpoint).
    pub cleaned_offset: Option<i64>,
    /// Proposer's clock at the proposal (ms since the Unix epoch). With the two fields below it
    /// refuses a swap whose output the janitor may take for an orphan, as in
    /// [`crate::command::SegmentCommit`].
    pub now_ms: i64,
    /// When the output's upload began (proposer's clock, ms since the Unix epoch).
    pub uploaded_ms: i64,
    /// Refused with REQUEST_TIMED_OUT (the outputs become garbage) when `now_ms - uploaded_ms`
    /// exceeds this; 0 disables the check.
    pub max_age_ms: i64,
}

/// Lifecycle responses ([`CommandResponse::Lifecycle`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum LifecycleResponse {
    /// Per DeleteRecords target, in order.
    RecordsDeleted(Vec<DeleteRecordsResult>),
    /// Whether the lease was granted.
    Lease(bool),
    /// Whether the swap applied; `false` means the inputs changed (the output is garbage).
    Swapped(bool),
}

/// A held job lease.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lease {
    /// The node id holding the lease.
    pub holder: i32,
    /// Proposer's clock at which the lease lapses.
    pub expires_ms: i64,
}

/// Whether `cleanup.policy` (default `delete`) names `policy`.
pub fn has_policy(configs: &std::collections::BTreeMap<String, String>, policy: &str) -> bool {
    configs
        .get("cleanup.policy")
        .map_or("delete", String::as_str)
        .split(',')
        .any(|p| p.trim() == policy)
}

impl PartitionLog {
    /// Drops every chunk entirely below `offset`, moving the log start there; the dropped
    /// chunks' objects are returned for release.
    fn truncate_head(&mut self, offset: i64, released: &mut Vec<String>) {
        if offset <= self.log_start_offset {
            return;
        }
        self.log_start_offset = offset;
        while let Some((&base, ch)) = self.chunks.iter().next() {
            if base + ch.records > offset {
                break;
            }
            released.push(ch.object.clone());
            self.chunks.remove(&base);
        }
        self.aborted_txns.retain(|a| a.last_offset >= offset);
        self.aborted_runs.retain(|r| r.1 >= offset);
        if let Some(r) = self.aborted_runs.first_mut() {
            r.0 = r.0.max(offset);
        }
    }
}

impl MetaState {
    /// Applies a [`LifecycleCommand`].
    pub(crate) fn apply_lifecycle(&mut self, cmd: &LifecycleCommand) -> CommandResponse {
        let resp = match cmd {
            LifecycleCommand::DeleteRecords { partitions } => {
                LifecycleResponse::RecordsDeleted(self.delete_records(partitions))
            }
            LifecycleCommand::AcquireLease {
                job,
                holder,
                now_ms,
                ttl_ms,
            } => {
                let free = self
                    .leases
                    .get(job)
                    .is_none_or(|l| l.holder == *holder || l.expires_ms <= *now_ms);
                if free {
                    self.leases.insert(
                        job.clone(),
                        Lease {
                            holder: *holder,
                            expires_ms: now_ms.saturating_add(*ttl_ms),
                        },
                    );
                }
                LifecycleResponse::Lease(free)
            }
            LifecycleCommand::ReleaseLease { job, holder } => {
                if self.leases.get(job).is_some_and(|l| l.holder == *holder) {
                    self.leases.remove(job);
                }
                LifecycleResponse::Lease(false)
            }
            LifecycleCommand::SwapChunks(swap) => {
                if swap.max_age_ms > 0
                    && swap.now_ms.saturating_sub(swap.uploaded_ms) > swap.max_age_ms
                {
                    self.discard_outputs(swap);
                    return CommandResponse::Error {
                        code: codes::REQUEST_TIMED_OUT,
                        message: "compaction output too old to swap in (the janitor may delete it)"
                            .into(),
                    };
                }
                LifecycleResponse::Swapped(self.swap_chunks(swap))
            }
        };
        CommandResponse::Lifecycle(resp)
    }

    /// Drops data past each topic's retention as of `now_ms`: topics whose `cleanup.policy`
    /// includes `delete`, by `retention.ms` / `retention.bytes` or else `defaults`. As Kafka:
    /// a chunk goes when its newest timestamp is older than the retention time, or while the
    /// partition without it still holds at least `retention.bytes`.
    pub(crate) fn apply_retention_limits(&mut self, now_ms: i64, defaults: &RetentionDefaults) {
        let mut released = Vec::new();
        for t in self.topics.values_mut() {
            if !has_policy(&t.configs, "delete") {
                continue;
            }
            let long = |name: &str, default: i64| {
                t.configs
                    .get(name)
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .unwrap_or(default)
            };
            let retention_ms = long("retention.ms", defaults.retention_ms);
            let retention_bytes = long("retention.bytes", defaults.retention_bytes);
            for p in &mut t.partitions {
                let mut total: i64 = p.chunks.values().map(|c| c.len as i64).sum();
                let mut drop_below = p.log_start_offset;
                for (&base, ch) in &p.chunks {
                    let too_old = retention_ms >= 0 && ch.max_timestamp < now_ms - retention_ms;
                    let too_big = retention_bytes >= 0 && total - ch.len as i64 >= retention_bytes;
                    if !too_old && !too_big {
                        break;
                    }
                    total -= ch.len as i64;
                    drop_below = base + ch.records;
                }
                p.truncate_head(drop_below, &mut released);
            }
        }
        for o in released {
            self.release_object(&o);
        }
    }

    fn delete_records(&mut self, targets: &[DeleteRecordsTarget]) -> Vec<DeleteRecordsResult> {
        let mut released = Vec::new();
        let results = targets
            .iter()
            .map(|d| {
                let fail = |error_code| DeleteRecordsResult {
                    error_code,
                    low_watermark: -1,
                };
                let Some(t) = self.topics.get_mut(&d.topic) else {
                    return fail(codes::UNKNOWN_TOPIC_OR_PARTITION);
                };
                let deletable = has_policy(&t.configs, "delete");
                let Some(p) = usize::try_from(d.partition)
                    .ok()
                    .and_then(|i| t.partitions.get_mut(i))
                else {
                    return fail(codes::UNKNOWN_TOPIC_OR_PARTITION);
                };
                if !deletable {
                    return fail(POLICY_VIOLATION);
                }
                let offset = if d.offset == -1 {
                    p.high_watermark
                } else {
                    d.offset
                };
                if offset < 0 || offset > p.high_watermark {
                    return fail(OFFSET_OUT_OF_RANGE);
                }
                p.truncate_head(offset, &mut released);
                DeleteRecordsResult {
                    error_code: codes::NONE,
                    low_watermark: p.log_start_offset,
                }
            })
            .collect();
        for o in released {
            self.release_object(&o);
        }
        results
    }

    /// Applies a swap if its inputs are all still in the index as read; else leaves the index
    /// alone and makes the output garbage.
    fn swap_chunks(&mut self, swap: &ChunkSwap) -> bool {
        let valid = self.swap_target(swap).is_some_and(|p| {
            let Some((first, _)) = swap.inputs.first() else {
                return false;
            };
            let end = swap.inputs.last().map_or(0, |(b, c)| b + c.records);
            swap.inputs.iter().all(|(b, c)| p.chunks.get(b) == Some(c))
                && swap
                    .outputs
                    .iter()
                    .all(|(b, c)| *b >= *first && b + c.records <= end)
                // No chunk of the partition lies between the inputs but outside them.
                && p.chunks.range(*first..end).count() == swap.inputs.len()
        });
        if !valid {
            self.discard_outputs(swap);
            return false;
        }
        let p = self.swap_target_mut(swap).expect("checked above");
        for (b, _) in &swap.inputs {
            p.chunks.remove(b);
        }
        if let Some(c) = swap.cleaned_offset {
            p.cleaned_offset = p.cleaned_offset.max(c);
        }
        let start = p.log_start_offset;
        let mut added = Vec::new();
        for (b, c) in &swap.outputs {
            // Retention or DeleteRecords may have moved the start into the inputs meanwhile.
            if b + c.records <= start {
                continue;
            }
            p.chunks.insert(*b, c.clone());
            if c.marker.is_none() {
                added.push(c.object.clone());
            }
        }
        for o in added {
            *self.object_refs.entry(o).or_default() += 1;
        }
        for (_, c) in &swap.inputs {
            self.release_object(&c.object);
        }
        self.discard_outputs(swap);
        true
    }

    fn swap_target(&self, swap: &ChunkSwap) -> Option<&PartitionLog> {
        let t = self
            .topics
            .get(&swap.topic)
            .filter(|t| t.id == swap.topic_id)?;
        t.partitions.get(usize::try_from(swap.partition).ok()?)
    }

    fn swap_target_mut(&mut self, swap: &ChunkSwap) -> Option<&mut PartitionLog> {
        let t = self
            .topics
            .get_mut(&swap.topic)
            .filter(|t| t.id == swap.topic_id)?;
        t.partitions.get_mut(usize::try_from(swap.partition).ok()?)
    }

    /// Output objects no index entry references become garbage.
    fn discard_outputs(&mut self, swap: &ChunkSwap) {
        for (_, c) in swap.outputs.iter().filter(|(_, c)| c.marker.is_none()) {
            if !self.object_refs.contains_key(&c.object) {
                self.garbage.insert(c.object.clone());
            }
        }
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
