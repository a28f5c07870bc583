//! The crate's one error type.

/// Why a table write, export or metadata read failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A stored record batch could not be split or decoded (corrupt bytes, unknown codec).
    #[error("record batch at offset {offset} of partition {partition}: {reason}")]
    Batch {
        partition: i32,
        offset: i64,
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
        location: String,
        source: serde_json::Error,
    },
    /// A manifest list holds something this writer never writes.
    #[error("manifest list {location}: {reason}")]
    ManifestList { location: String, reason: String },
    /// A data file of the table lacks the system columns a latest-mode merge needs.
    #[error("data file {location}: {reason}")]
    DataFile { location: String, reason: String },
    /// Reading or writing the object store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// A local file (export output) could not be written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl From<apache_avro::Error> for TableError {
    fn from(e: apache_avro::Error) -> Self {
        TableError::Avro(Box::new(e))
    }
}
