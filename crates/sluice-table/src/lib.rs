//! Topics as tables: Kafka records to Arrow record batches, Parquet files and an Iceberg (v2)
//! table layout in the same object store as the topic's segments, so DuckDB, Spark, Trino,
//! pyarrow or pandas query a topic with no Kafka Connect and no second copy pipeline.
//!
//! - [`record`]: records decoded out of stored (or fetched) magic-v2 batches;
//! - [`schema`]: the columns (system columns, then JSON fields inferred and only ever added),
//!   with their Iceberg field ids;
//! - [`columns`]: records to one Arrow `RecordBatch`;
//! - [`parquet_file`]: record batches to Parquet (zstd, field ids kept);
//! - [`iceberg`]: metadata JSON, manifests and manifest lists;
//! - [`latest`]: the merge of "latest value per key" tables (`sluice.table.mode=latest`) and
//!   which replaced files may go;
//! - [`writer`]: one commit's files in the object store.
//!
//! The agent's table job (`sluice-agent`'s `table_job`) decides what to write and records each
//! commit in the metadata quorum with the offsets it covers, which is what makes the table
//! exactly-once; `sluice table export` writes a Parquet file for an offset range on demand.
//!
//! ## Why not the `iceberg` crate
//! `iceberg` (iceberg-rust) brings its own I/O layer (`opendal`), an HTTP client, `moka`,
//! `rust_decimal`, `chrono`, `roaring`, an async Parquet reader and a full Arrow build, pinned
//! to an Arrow release of its own: on this repository's two-core builders that roughly
//! doubles the build of the workspace, and its transaction API (fast append through a
//! catalog) would still need a catalog implementation whose commit is our quorum command.
//! What Sluice writes is narrow — unpartitioned append (or copy-on-write overwrite) snapshots of
//! one known schema family —
//! so the metadata JSON is a few `serde` structs ([`iceberg::TableMetadata`]) and manifests
//! are Avro container files written with `apache-avro`, the crate iceberg-rust itself uses.
//! `arrow-array`/`arrow-schema` and `parquet` are built with default features off (only the
//! Arrow writer and zstd, which the workspace already builds for Kafka batches).

#![warn(missing_docs)]

pub mod columns;
mod error;
pub mod iceberg;
pub mod latest;
pub mod parquet_file;
pub mod record;
pub mod schema;
pub mod writer;

#[cfg(test)]
pub(crate) mod testing;

pub use error::TableError;
pub use parquet_file::{ParquetSink, ParquetStats};
pub use record::{decode_batches, AbortedTxn, TableRecord};
pub use schema::{TableSchema, ValueFormat};
pub use writer::{CommitInput, PreparedCommit, TableLocation, TableMode, TableWriter};
