//! Applying [`LifecycleCommand`]s and retention to the state (see [`crate::lifecycle`] for the
//! model: what may be removed or swapped, and why objects go to garbage, not away).

use crate::codes;
use crate::command::CommandResponse;
use crate::lifecycle::{
    has_policy, ChunkSwap, DeleteRecordsResult, DeleteRecordsTarget, Lease, LifecycleCommand,
    LifecycleResponse, RetentionDefaults, OFFSET_OUT_OF_RANGE, POLICY_VIOLATION,
};
use crate::state::{MetaState, PartitionLog};

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
