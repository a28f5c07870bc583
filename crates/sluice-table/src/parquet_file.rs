//! Arrow record batches to Parquet bytes or files (zstd, Iceberg field ids kept).

use std::io::Write;

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::columns::build_batch;
use crate::schema::{parse_json, ParsedValue, TableSchema, ValueFormat};
use crate::{TableError, TableRecord};

/// Rows per Parquet row group (and per Arrow batch built at a time).
pub const ROWS_PER_GROUP: usize = 128 * 1024;

fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("1 is a zstd level"),
        ))
        .set_max_row_group_row_count(Some(ROWS_PER_GROUP))
        .build()
}

/// A Parquet file being written under one [`TableSchema`].
pub struct ParquetSink<W: Write + Send> {
    schema: TableSchema,
    writer: ArrowWriter<W>,
    rows: u64,
    malformed: u64,
}

/// What a finished Parquet file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParquetStats {
    /// Rows written.
    pub rows: u64,
    /// Records whose value could not be decoded (`_error` set).
    pub malformed: u64,
}

impl<W: Write + Send> ParquetSink<W> {
    /// Starts a file on `out`.
    pub fn new(out: W, schema: TableSchema) -> Result<Self, TableError> {
        let writer = ArrowWriter::try_new(out, schema.arrow(), Some(properties()))?;
        Ok(ParquetSink {
            schema,
            writer,
            rows: 0,
            malformed: 0,
        })
    }

    /// Appends records (values parsed as the schema's format says); the schema must already
    /// hold their fields.
    pub fn write(&mut self, records: &[TableRecord]) -> Result<(), TableError> {
        for chunk in records.chunks(ROWS_PER_GROUP) {
            let parsed = parse_values(self.schema.format, chunk);
            self.write_parsed(chunk, &parsed)?;
        }
        Ok(())
    }

    /// Appends records whose values the caller parsed already.
    pub fn write_parsed(
        &mut self,
        records: &[TableRecord],
        parsed: &[ParsedValue],
    ) -> Result<(), TableError> {
        let built = build_batch(&self.schema, records, parsed)?;
        self.write_batch(&built.batch)?;
        self.malformed += built.malformed;
        Ok(())
    }

    /// Appends a record batch built under this sink's schema (its malformed rows, if any, are
    /// the caller's to count).
    pub fn write_batch(&mut self, b: &RecordBatch) -> Result<(), TableError> {
        self.rows += b.num_rows() as u64;
        self.writer.write(b)?;
        Ok(())
    }

    /// Writes the footer; returns the output and what the file holds.
    pub fn finish(self) -> Result<(W, ParquetStats), TableError> {
        let stats = ParquetStats {
            rows: self.rows,
            malformed: self.malformed,
        };
        Ok((self.writer.into_inner()?, stats))
    }
}

/// Parses the values of `records` for `format` (nothing to parse for raw tables).
pub fn parse_values(format: ValueFormat, records: &[TableRecord]) -> Vec<ParsedValue> {
    match format {
        ValueFormat::Raw => Vec::new(),
        ValueFormat::Json => records
            .iter()
            .map(|r| parse_json(r.value.as_deref()))
            .collect(),
    }
}
