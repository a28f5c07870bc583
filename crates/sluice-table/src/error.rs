//! The crate's one error type.

/// Why a table write, export or metadata read failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A stored record batch could not be split or decoded (corrupt bytes, unknown codec).
    #[error("record batch at offset {offset} of partition {partition}: {reason}")]
    Batch {
        /// The partition the batch belongs to.
        partition: i32,
        /// The batch's base offset.
        offset: i64,
        /// What went wrong.
        reason: String,
    },
    /// Arrow refused to build a column (a bug: the builders follow the schema).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The Parquet writer failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// An Iceberg manifest or manifest list could not be written or read.
    #[error("avro: {0}")]
    Avro(#[from] Box<apache_avro::Error>),
    /// Table metadata JSON could not be written or read.
    #[error("table metadata {location}: {source}")]
    Metadata {
        /// The metadata file: its object key, or its path in the table directory.
        location: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A manifest list holds something this writer never writes.
    #[error("manifest list {location}: {reason}")]
    ManifestList {
        /// The manifest list's (or manifest's) URL.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A data file of the table lacks the system columns a latest-mode merge needs.
    #[error("data file {location}: {reason}")]
    DataFile {
        /// The data file's URL.
        location: String,
        /// Which column is missing or mistyped.
        reason: String,
    },
    /// Reading or writing the object store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// A local file (export output) could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The local path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl From<apache_avro::Error> for TableError {
    fn from(e: apache_avro::Error) -> Self {
        TableError::Avro(Box::new(e))
    }
}
