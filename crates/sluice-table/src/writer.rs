//! One table commit's files: Parquet data, manifest, manifest list and metadata JSON, written
//! to the object store; the caller then records the commit in the metadata quorum and
//! publishes the version hint.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::iceberg::{
    read_manifest_list, write_manifest, write_manifest_list, DataFile, ManifestFile, Snapshot,
    TableMetadata,
};
use crate::parquet_file::{parse_values, ParquetSink};
use crate::schema::{TableSchema, ValueFormat};
use crate::{TableError, TableRecord};

/// Where a topic's table lives: `tables/<topic>` under the store's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLocation {
    /// The store's root as readers spell it: an absolute directory for a local store
    /// (`/var/lib/sluice/objects`), `s3://bucket/prefix` for S3.
    pub root_url: String,
    pub topic: String,
}

impl TableLocation {
    /// Object key of `rel` (a path inside the table directory).
    pub fn key(&self, rel: &str) -> ObjectPath {
        ObjectPath::from(format!("tables/{}/{rel}", self.topic))
    }

    /// What readers open for `rel`: the absolute URL or path Iceberg metadata records.
    pub fn url(&self, rel: &str) -> String {
        format!(
            "{}/tables/{}/{rel}",
            self.root_url.trim_end_matches('/'),
            self.topic
        )
    }

    /// The table's base location (`location` in its metadata).
    pub fn base_url(&self) -> String {
        format!(
            "{}/tables/{}",
            self.root_url.trim_end_matches('/'),
            self.topic
        )
    }
}

/// What one table commit should hold.
#[derive(Debug, Clone, Copy)]
pub struct CommitInput<'a> {
    /// The current metadata file's object key (`None` for the table's first commit).
    pub previous: Option<&'a str>,
    pub format: ValueFormat,
    /// The records, ordered by partition then offset.
    pub records: &'a [TableRecord],
    pub now_ms: i64,
}

/// A commit's files, written but not yet current.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedCommit {
    /// Object key of the new metadata JSON (what the quorum records).
    pub metadata_key: String,
    pub records: u64,
    /// Records with `_error` set.
    pub malformed: u64,
    /// Bytes written: data + manifest + manifest list + metadata.
    pub bytes_written: u64,
    /// PUTs issued (the version hint, written after the quorum commit, is not counted).
    pub puts: u64,
    /// The schema now current (new if the records added columns).
    pub schema_id: i32,
}

/// Writes table files for one topic.
pub struct TableWriter {
    store: Arc<dyn ObjectStore>,
    location: TableLocation,
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl TableWriter {
    pub fn new(store: Arc<dyn ObjectStore>, location: TableLocation) -> TableWriter {
        TableWriter { store, location }
    }

    /// The object store the table lives in.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub fn location(&self) -> &TableLocation {
        &self.location
    }

    /// Reads a metadata file this writer wrote.
    pub async fn read_metadata(&self, key: &str) -> Result<TableMetadata, TableError> {
        let bytes = self
            .store
            .get(&ObjectPath::from(key))
            .await?
            .bytes()
            .await?;
        serde_json::from_slice(&bytes).map_err(|source| TableError::Metadata {
            location: key.to_string(),
            source,
        })
    }

    async fn put(&self, key: &ObjectPath, bytes: Vec<u8>) -> Result<u64, TableError> {
        let len = bytes.len() as u64;
        self.store
            .put(key, PutPayload::from(Bytes::from(bytes)))
            .await?;
        Ok(len)
    }

    /// Writes the data file, manifest, manifest list and metadata of one commit. Nothing is
    /// current until the caller records `metadata_key` in the quorum; an attempt that never gets
    /// there leaves unreferenced files only.
    pub async fn prepare(&self, input: CommitInput<'_>) -> Result<PreparedCommit, TableError> {
        let (mut md, schema, previous_ts) = match input.previous {
            Some(key) => {
                let md = self.read_metadata(key).await?;
                let schema = md
                    .current_schema()
                    .filter(|s| s.format == input.format)
                    .unwrap_or_else(|| TableSchema::new(input.format));
                let ts = md.last_updated_ms;
                (md, schema, Some((self.url_of_key(key), ts)))
            }
            None => {
                let schema = TableSchema::new(input.format);
                let md = TableMetadata::new(self.location.base_url(), &schema, input.now_ms);
                (md, schema, None)
            }
        };
        let parsed = parse_values(input.format, input.records);
        let schema = schema.evolve(&parsed).unwrap_or(schema);
        md.set_schema(&schema);

        // The Iceberg sequence number: one more than the metadata being replaced.
        let seq = md.last_sequence_number + 1;
        let mut puts = 0;
        let mut written = 0;
        let data_rel = format!("data/{seq:05}-{}.parquet", unique());
        let mut sink = ParquetSink::new(Vec::new(), schema.clone())?;
        for (recs, vals) in input
            .records
            .chunks(crate::parquet_file::ROWS_PER_GROUP)
            .zip(chunks_or_empty(&parsed, input.records.len()))
        {
            sink.write_parsed(recs, vals)?;
        }
        let (data, stats) = sink.finish()?;
        let data_len = data.len() as i64;
        written += self.put(&self.location.key(&data_rel), data).await?;
        puts += 1;

        let snapshot_id = (uuid::Uuid::new_v4().as_u64_pair().0 >> 1) as i64;
        let manifest = write_manifest(
            &schema,
            snapshot_id,
            seq,
            &[DataFile {
                file_path: self.location.url(&data_rel),
                record_count: stats.rows as i64,
                file_size_in_bytes: data_len,
            }],
        )?;
        let manifest_rel = format!("metadata/{}-m0.avro", unique());
        let manifest_len = manifest.len() as i64;
        written += self
            .put(&self.location.key(&manifest_rel), manifest)
            .await?;
        puts += 1;

        let parent = md.current_snapshot().cloned();
        let mut manifests = match &parent {
            Some(p) => {
                let key = self.key_of_url(&p.manifest_list);
                let bytes = self.store.get(&key).await?.bytes().await?;
                read_manifest_list(&p.manifest_list, &bytes)?
            }
            None => Vec::new(),
        };
        manifests.push(ManifestFile {
            manifest_path: self.location.url(&manifest_rel),
            manifest_length: manifest_len,
            sequence_number: seq,
            added_snapshot_id: snapshot_id,
            added_files_count: 1,
            added_rows_count: stats.rows as i64,
        });
        let list = write_manifest_list(
            snapshot_id,
            parent.as_ref().map(|p| p.snapshot_id),
            seq,
            &manifests,
        )?;
        let list_rel = format!("metadata/snap-{snapshot_id}-{}.avro", unique());
        written += self.put(&self.location.key(&list_rel), list).await?;
        puts += 1;

        let total = |k: &str| {
            parent
                .as_ref()
                .and_then(|p| p.summary.get(k))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let summary = BTreeMap::from([
            ("operation".to_string(), "append".to_string()),
            ("added-data-files".into(), "1".into()),
            ("added-records".into(), stats.rows.to_string()),
            ("added-files-size".into(), data_len.to_string()),
            (
                "total-data-files".into(),
                (total("total-data-files") + 1).to_string(),
            ),
            (
                "total-records".into(),
                (total("total-records") + stats.rows).to_string(),
            ),
            (
                "total-files-size".into(),
                (total("total-files-size") + data_len as u64).to_string(),
            ),
            ("total-delete-files".into(), "0".into()),
            ("total-position-deletes".into(), "0".into()),
            ("total-equality-deletes".into(), "0".into()),
            (
                "sluice.malformed-records".into(),
                stats.malformed.to_string(),
            ),
        ]);
        md.add_snapshot(
            Snapshot {
                snapshot_id,
                parent_snapshot_id: parent.map(|p| p.snapshot_id),
                sequence_number: seq,
                timestamp_ms: input.now_ms,
                manifest_list: self.location.url(&list_rel),
                summary,
                schema_id: schema.schema_id,
            },
            previous_ts,
        );
        let md_rel = format!("metadata/{seq:05}-{}.metadata.json", unique());
        let md_bytes = serde_json::to_vec_pretty(&md).map_err(|source| TableError::Metadata {
            location: md_rel.clone(),
            source,
        })?;
        let md_key = self.location.key(&md_rel);
        written += self.put(&md_key, md_bytes).await?;
        puts += 1;
        Ok(PreparedCommit {
            metadata_key: md_key.to_string(),
            records: stats.rows,
            malformed: stats.malformed,
            bytes_written: written,
            puts,
            schema_id: schema.schema_id,
        })
    }

    /// Points `metadata/version-hint.text` at a committed metadata file (what DuckDB's
    /// `iceberg_scan` of the table directory reads).
    pub async fn publish_hint(&self, metadata_key: &str) -> Result<(), TableError> {
        let name = metadata_key
            .rsplit('/')
            .next()
            .unwrap_or(metadata_key)
            .trim_end_matches(".metadata.json")
            .to_string();
        self.put(
            &self.location.key("metadata/version-hint.text"),
            name.into_bytes(),
        )
        .await?;
        Ok(())
    }

    fn url_of_key(&self, key: &str) -> String {
        let prefix = format!("tables/{}/", self.location.topic);
        self.location.url(key.strip_prefix(&prefix).unwrap_or(key))
    }

    fn key_of_url(&self, url: &str) -> ObjectPath {
        let base = format!("{}/", self.location.base_url());
        self.location.key(url.strip_prefix(&base).unwrap_or(url))
    }
}

/// `parsed` in row-group chunks, or empty slices for raw tables (which parse nothing).
fn chunks_or_empty(
    parsed: &[crate::schema::ParsedValue],
    rows: usize,
) -> Box<dyn Iterator<Item = &[crate::schema::ParsedValue]> + '_> {
    let n = crate::parquet_file::ROWS_PER_GROUP;
    if parsed.is_empty() {
        Box::new(std::iter::repeat_n(&[][..], rows.div_ceil(n)))
    } else {
        Box::new(parsed.chunks(n))
    }
}
