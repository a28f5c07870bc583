//! Sluice's data plane storage: where produced bytes live and how they come back.
//!
//! - [`bucket`] checks (or creates) an S3 bucket at start, with `aws-sdk-s3`.
//! - [`store`] opens the configured object store (local directory, S3/MinIO, memory).
//! - [`direct`] writes a local-directory store's segment objects with `O_DIRECT` (they are
//!   fsynced anyway; the page cache would only cost CPU).
//! - [`segment`] lays out one flush's batches from many partitions as one object.
//! - [`fault`] wraps any store to inject errors, latency and timeouts (tests, chaos drills).
//! - [`cache`] reads object ranges through a foyer memory+disk cache keyed by aligned blocks.
//!
//! Offsets are not known here: the metadata quorum assigns them at commit, and readers patch
//! them into batches on the way out (see `sluice_protocol::batch`).

#![warn(missing_docs)]

pub mod bucket;
pub mod cache;
pub mod direct;
pub mod fault;
pub mod segment;
pub mod store;

pub use bucket::{ensure_bucket, BucketError, BucketStatus};
pub use cache::{BlockCache, CacheConfig};
pub use direct::write_local_object;
pub use segment::{SegmentBuilder, SegmentLayout};
pub use store::{
    local_root, open_object_store, probe_store, put_durable, sync_local_object, ObjectStoreConfig,
    StoreError,
};
