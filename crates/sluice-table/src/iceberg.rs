//! The Iceberg (format v2) table layout: metadata JSON, manifest lists and manifests (Avro
//! object container files), written next to the Parquet data files.
//!
//! ```text
//! tables/<topic>/data/<seq>-<uuid>.parquet               one file per commit, all partitions
//! tables/<topic>/metadata/<uuid>-m0.avro                 the commit's manifest (one entry)
//! tables/<topic>/metadata/snap-<id>-<uuid>.avro          manifest list: every manifest so far
//!                                                        (latest mode: the commit's manifest only,
//!                                                        its file added, the replaced ones deleted)
//! tables/<topic>/metadata/<seq>-<uuid>.metadata.json     table metadata (schemas, snapshots)
//! tables/<topic>/metadata/version-hint.text              "<seq>-<uuid>": the current metadata
//! ```
//!
//! Every file name is unique (a uuid per write), so an agent that lost its lease, or crashed,
//! can never overwrite what another committed; files of a commit that never reached the quorum
//! are simply unreferenced. The metadata quorum, not the object store, says which metadata file
//! is current ([`crate::TableWriter::prepare`] then a quorum commit, then
//! [`crate::TableWriter::publish_hint`]). `version-hint.text` is what DuckDB's `iceberg_scan`
//! on the table directory reads (its default `version_name_format` accepts `<hint>.metadata.json`);
//! any Iceberg reader can also be pointed at the metadata file itself. Hadoop-catalog readers
//! that want `v<N>.metadata.json` are not served: those names could be overwritten by an
//! uncommitted attempt.
//!
//! The table is unpartitioned (partition spec 0 has no fields) and every snapshot is an
//! `append`; the manifest list of snapshot n lists the manifests of snapshots 1..=n (no
//! manifest merging yet), and the metadata keeps the newest [`MAX_SNAPSHOTS`] snapshots.

use std::collections::BTreeMap;

use apache_avro::types::Value as Avro;
use apache_avro::Schema as AvroSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::schema::TableSchema;
use crate::TableError;

/// Snapshots kept in the metadata (older ones are dropped from it; their data stays, as later
/// manifest lists still list it).
pub const MAX_SNAPSHOTS: usize = 100;
/// Previous metadata files listed in `metadata-log`.
pub const MAX_METADATA_LOG: usize = 100;

/// Table metadata, as the Iceberg spec (format v2) lays it out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct TableMetadata {
    /// `format-version`: always 2.
    pub format_version: i32,
    /// `table-uuid`: a random v4 UUID, fixed at creation.
    pub table_uuid: String,
    /// `location`: the table's base URL (`<store>/tables/<topic>`).
    pub location: String,
    /// `last-sequence-number`: the sequence number of the newest snapshot (0 before any).
    pub last_sequence_number: i64,
    /// `last-updated-ms`: ms since the Unix epoch of the last change.
    pub last_updated_ms: i64,
    /// `last-column-id`: the highest field id any schema has used.
    pub last_column_id: i32,
    /// `current-schema-id`: the id of the schema in `schemas` readers use.
    pub current_schema_id: i32,
    /// `schemas`: every schema the table has had, as Iceberg schema JSON.
    pub schemas: Vec<Value>,
    /// `default-spec-id`: always 0 (the unpartitioned spec).
    pub default_spec_id: i32,
    /// `partition-specs`: spec 0 with no fields.
    pub partition_specs: Vec<Value>,
    /// `last-partition-id`: 999, the spec's value for a table with no partition field.
    pub last_partition_id: i32,
    /// `default-sort-order-id`: always 0 (unsorted).
    pub default_sort_order_id: i32,
    /// `sort-orders`: order 0 with no fields.
    pub sort_orders: Vec<Value>,
    /// `properties`: table properties (`write.format.default` = parquet, zstd compression).
    pub properties: BTreeMap<String, String>,
    /// `current-snapshot-id`: the snapshot readers read; -1 before the first commit.
    pub current_snapshot_id: i64,
    /// `refs`: named references; `main` is a branch at the current snapshot once one exists.
    pub refs: BTreeMap<String, Value>,
    /// `snapshots`: the retained snapshots, oldest first.
    pub snapshots: Vec<Snapshot>,
    /// `snapshot-log`: `{timestamp-ms, snapshot-id}` for each retained snapshot, oldest first.
    pub snapshot_log: Vec<Value>,
    /// `metadata-log`: `{timestamp-ms, metadata-file}` of earlier metadata files, oldest first.
    pub metadata_log: Vec<Value>,
}

/// One snapshot of the table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Snapshot {
    /// `snapshot-id`: random, non-negative.
    pub snapshot_id: i64,
    /// `parent-snapshot-id`: the snapshot this one follows; absent for the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_snapshot_id: Option<i64>,
    /// `sequence-number`: the commit's sequence number (1 for the first, then +1).
    pub sequence_number: i64,
    /// `timestamp-ms`: ms since the Unix epoch of the commit.
    pub timestamp_ms: i64,
    /// `manifest-list`: URL of the snapshot's manifest list.
    pub manifest_list: String,
    /// `summary`: `operation` (`append`, or `overwrite` in latest mode), the spec's
    /// added/total counters, and Sluice's `sluice.*` counters (e.g. malformed records).
    pub summary: BTreeMap<String, String>,
    /// `schema-id`: the schema the snapshot's data files were written with.
    pub schema_id: i32,
}

impl TableMetadata {
    /// A table with no snapshot yet.
    pub fn new(location: String, schema: &TableSchema, now_ms: i64) -> TableMetadata {
        TableMetadata {
            format_version: 2,
            table_uuid: uuid::Uuid::new_v4().to_string(),
            location,
            last_sequence_number: 0,
            last_updated_ms: now_ms,
            last_column_id: schema.last_column_id(),
            current_schema_id: schema.schema_id,
            schemas: vec![schema.iceberg()],
            default_spec_id: 0,
            partition_specs: vec![json!({"spec-id": 0, "fields": []})],
            last_partition_id: 999,
            default_sort_order_id: 0,
            sort_orders: vec![json!({"order-id": 0, "fields": []})],
            properties: BTreeMap::from([
                ("write.format.default".into(), "parquet".into()),
                ("write.parquet.compression-codec".into(), "zstd".into()),
            ]),
            current_snapshot_id: -1,
            refs: BTreeMap::new(),
            snapshots: Vec::new(),
            snapshot_log: Vec::new(),
            metadata_log: Vec::new(),
        }
    }

    /// The current schema, if this metadata was written by [`TableSchema`].
    pub fn current_schema(&self) -> Option<TableSchema> {
        self.schemas
            .iter()
            .find(|s| {
                s.get("schema-id").and_then(Value::as_i64) == Some(self.current_schema_id as i64)
            })
            .and_then(TableSchema::from_iceberg)
    }

    /// The current snapshot.
    pub fn current_snapshot(&self) -> Option<&Snapshot> {
        self.snapshots
            .iter()
            .find(|s| s.snapshot_id == self.current_snapshot_id)
    }

    /// Makes `schema` current, adding it to `schemas` if new.
    pub fn set_schema(&mut self, schema: &TableSchema) {
        if !self
            .schemas
            .iter()
            .any(|s| s.get("schema-id").and_then(Value::as_i64) == Some(schema.schema_id as i64))
        {
            self.schemas.push(schema.iceberg());
        }
        self.current_schema_id = schema.schema_id;
        self.last_column_id = self.last_column_id.max(schema.last_column_id());
    }

    /// Adds `snap` as the current snapshot of `main`; `previous` is the metadata file being
    /// replaced (for `metadata-log`). Keeps the newest [`MAX_SNAPSHOTS`] snapshots.
    pub fn add_snapshot(&mut self, snap: Snapshot, previous: Option<(String, i64)>) {
        self.add_snapshot_keeping(snap, previous, MAX_SNAPSHOTS);
    }

    /// [`TableMetadata::add_snapshot`], keeping the newest `max_snapshots` snapshots (latest
    /// mode passes `usize::MAX`: it drops snapshots itself, by age, when it deletes their files).
    pub fn add_snapshot_keeping(
        &mut self,
        snap: Snapshot,
        previous: Option<(String, i64)>,
        max_snapshots: usize,
    ) {
        self.last_sequence_number = snap.sequence_number;
        self.last_updated_ms = snap.timestamp_ms;
        self.current_snapshot_id = snap.snapshot_id;
        self.refs.insert(
            "main".into(),
            json!({"snapshot-id": snap.snapshot_id, "type": "branch"}),
        );
        self.snapshot_log
            .push(json!({"timestamp-ms": snap.timestamp_ms, "snapshot-id": snap.snapshot_id}));
        self.snapshots.push(snap);
        self.note_replaced(previous);
        trim_front(&mut self.snapshots, max_snapshots);
        trim_front(&mut self.snapshot_log, max_snapshots);
    }

    /// Lists `previous` (the metadata file this one replaces, and its `last-updated-ms`) in
    /// `metadata-log`, which keeps the newest [`MAX_METADATA_LOG`].
    pub fn note_replaced(&mut self, previous: Option<(String, i64)>) {
        if let Some((file, ts)) = previous {
            self.metadata_log
                .push(json!({"timestamp-ms": ts, "metadata-file": file}));
        }
        trim_front(&mut self.metadata_log, MAX_METADATA_LOG);
    }

    /// Drops the snapshots `expired` names from `snapshots` and `snapshot-log` (never the
    /// current one).
    pub fn remove_snapshots(&mut self, expired: &[i64]) {
        let current = self.current_snapshot_id;
        let gone = |id: i64| id != current && expired.contains(&id);
        self.snapshots.retain(|s| !gone(s.snapshot_id));
        self.snapshot_log.retain(|e| {
            e.get("snapshot-id")
                .and_then(Value::as_i64)
                .is_none_or(|id| !gone(id))
        });
    }
}

fn trim_front<T>(v: &mut Vec<T>, max: usize) {
    if v.len() > max {
        v.drain(..v.len() - max);
    }
}

/// One manifest as a manifest list lists it (the spec's `manifest_file`, data content).
/// Counts are of the manifest's entries by status; rows are the record counts of those entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestFile {
    /// URL of the manifest file.
    pub manifest_path: String,
    /// Bytes.
    pub manifest_length: i64,
    /// The sequence number of the snapshot that added the manifest (also written as its
    /// `min_sequence_number`: every live entry of a manifest Sluice writes is that new).
    pub sequence_number: i64,
    /// The snapshot that wrote the manifest.
    pub added_snapshot_id: i64,
    /// Entries with status added.
    pub added_files_count: i32,
    /// Entries with status existing.
    pub existing_files_count: i32,
    /// Entries with status deleted.
    pub deleted_files_count: i32,
    /// Records in the added entries' files.
    pub added_rows_count: i64,
    /// Records in the existing entries' files.
    pub existing_rows_count: i64,
    /// Records in the deleted entries' files.
    pub deleted_rows_count: i64,
}

/// One data file as a manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Absolute URL or path, as readers open it.
    pub file_path: String,
    /// Rows in the file.
    pub record_count: i64,
    /// Bytes.
    pub file_size_in_bytes: i64,
}

/// A manifest entry's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    /// Live, added by an earlier snapshot (0).
    Existing,
    /// Live, added by the snapshot that wrote the manifest (1).
    Added,
    /// Removed by the snapshot that wrote the manifest (2): readers skip it, and the file may
    /// be deleted once no retained snapshot lists it as live.
    Deleted,
}

impl EntryStatus {
    fn code(self) -> i32 {
        match self {
            EntryStatus::Existing => 0,
            EntryStatus::Added => 1,
            EntryStatus::Deleted => 2,
        }
    }

    fn from_code(c: i64) -> Option<EntryStatus> {
        Some(match c {
            0 => EntryStatus::Existing,
            1 => EntryStatus::Added,
            2 => EntryStatus::Deleted,
            _ => return None,
        })
    }

    /// Whether readers read the entry's file (added or existing).
    pub fn is_live(self) -> bool {
        self != EntryStatus::Deleted
    }
}

/// One manifest entry: a data file and how the snapshot that wrote the manifest sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Added, existing or deleted, as the writing snapshot sees the file.
    pub status: EntryStatus,
    /// The snapshot that added the file (added, existing) or removed it (deleted).
    pub snapshot_id: i64,
    /// The data sequence number of the file: the sequence number of the snapshot that added it,
    /// kept unchanged when the entry is later written as existing or deleted.
    pub sequence_number: i64,
    /// The data file.
    pub file: DataFile,
}

fn manifest_list_schema() -> AvroSchema {
    let long = |name: &str, id: i32| json!({"name": name, "type": "long", "field-id": id});
    let int = |name: &str, id: i32| json!({"name": name, "type": "int", "field-id": id});
    let schema = json!({
        "type": "record",
        "name": "manifest_file",
        "fields": [
            {"name": "manifest_path", "type": "string", "field-id": 500},
            long("manifest_length", 501),
            int("partition_spec_id", 502),
            int("content", 517),
            long("sequence_number", 515),
            long("min_sequence_number", 516),
            long("added_snapshot_id", 503),
            int("added_files_count", 504),
            int("existing_files_count", 505),
            int("deleted_files_count", 506),
            long("added_rows_count", 512),
            long("existing_rows_count", 513),
            long("deleted_rows_count", 514),
        ]
    });
    AvroSchema::parse(&schema).expect("the manifest list schema parses")
}

fn manifest_schema() -> AvroSchema {
    let opt_long = |name: &str, id: i32| json!({"name": name, "type": ["null", "long"], "default": null, "field-id": id});
    let schema = json!({
        "type": "record",
        "name": "manifest_entry",
        "fields": [
            {"name": "status", "type": "int", "field-id": 0},
            opt_long("snapshot_id", 1),
            opt_long("sequence_number", 3),
            opt_long("file_sequence_number", 4),
            {"name": "data_file", "field-id": 2, "type": {
                "type": "record",
                "name": "r2",
                "fields": [
                    {"name": "content", "type": "int", "field-id": 134},
                    {"name": "file_path", "type": "string", "field-id": 100},
                    {"name": "file_format", "type": "string", "field-id": 101},
                    {"name": "partition", "field-id": 102,
                     "type": {"type": "record", "name": "r102", "fields": []}},
                    {"name": "record_count", "type": "long", "field-id": 103},
                    {"name": "file_size_in_bytes", "type": "long", "field-id": 104},
                ]
            }},
        ]
    });
    AvroSchema::parse(&schema).expect("the manifest schema parses")
}

fn record(fields: Vec<(&str, Avro)>) -> Avro {
    Avro::Record(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// A manifest (Avro object container bytes) listing `files` as added by `snapshot_id` at
/// `sequence_number`. Errors: [`TableError::Avro`] when encoding fails.
pub fn write_manifest(
    schema: &TableSchema,
    snapshot_id: i64,
    sequence_number: i64,
    files: &[DataFile],
) -> Result<Vec<u8>, TableError> {
    let entries: Vec<ManifestEntry> = files
        .iter()
        .map(|f| ManifestEntry {
            status: EntryStatus::Added,
            snapshot_id,
            sequence_number,
            file: f.clone(),
        })
        .collect();
    write_manifest_entries(schema, &entries)
}

/// A manifest (Avro object container bytes) of `entries`, sequence numbers written out (none
/// left to inheritance), with `schema` in its metadata. Errors: [`TableError::Avro`].
pub fn write_manifest_entries(
    schema: &TableSchema,
    entries: &[ManifestEntry],
) -> Result<Vec<u8>, TableError> {
    let avro = manifest_schema();
    let mut w = apache_avro::Writer::new(&avro, Vec::new())?;
    w.add_user_metadata("schema".into(), schema.iceberg().to_string())?;
    w.add_user_metadata("schema-id".into(), schema.schema_id.to_string())?;
    w.add_user_metadata("partition-spec".into(), "[]")?;
    w.add_user_metadata("partition-spec-id".into(), "0")?;
    w.add_user_metadata("format-version".into(), "2")?;
    w.add_user_metadata("content".into(), "data")?;
    let some = |v: i64| Avro::Union(1, Box::new(Avro::Long(v)));
    for e in entries {
        let f = &e.file;
        w.append_value(record(vec![
            ("status", Avro::Int(e.status.code())),
            ("snapshot_id", some(e.snapshot_id)),
            ("sequence_number", some(e.sequence_number)),
            ("file_sequence_number", some(e.sequence_number)),
            (
                "data_file",
                record(vec![
                    ("content", Avro::Int(0)),
                    ("file_path", Avro::String(f.file_path.clone())),
                    ("file_format", Avro::String("PARQUET".into())),
                    ("partition", record(vec![])),
                    ("record_count", Avro::Long(f.record_count)),
                    ("file_size_in_bytes", Avro::Long(f.file_size_in_bytes)),
                ]),
            ),
        ]))?;
    }
    Ok(w.into_inner()?)
}

/// A manifest list (Avro object container bytes) of `manifests` for `snapshot_id`, whose
/// parent is `parent` and whose sequence number is `sequence_number`. Errors:
/// [`TableError::Avro`].
pub fn write_manifest_list(
    snapshot_id: i64,
    parent: Option<i64>,
    sequence_number: i64,
    manifests: &[ManifestFile],
) -> Result<Vec<u8>, TableError> {
    let avro = manifest_list_schema();
    let mut w = apache_avro::Writer::new(&avro, Vec::new())?;
    w.add_user_metadata("snapshot-id".into(), snapshot_id.to_string())?;
    w.add_user_metadata(
        "parent-snapshot-id".into(),
        parent.map_or("null".to_string(), |p| p.to_string()),
    )?;
    w.add_user_metadata("sequence-number".into(), sequence_number.to_string())?;
    w.add_user_metadata("format-version".into(), "2")?;
    for m in manifests {
        w.append_value(record(vec![
            ("manifest_path", Avro::String(m.manifest_path.clone())),
            ("manifest_length", Avro::Long(m.manifest_length)),
            ("partition_spec_id", Avro::Int(0)),
            ("content", Avro::Int(0)),
            ("sequence_number", Avro::Long(m.sequence_number)),
            ("min_sequence_number", Avro::Long(m.sequence_number)),
            ("added_snapshot_id", Avro::Long(m.added_snapshot_id)),
            ("added_files_count", Avro::Int(m.added_files_count)),
            ("existing_files_count", Avro::Int(m.existing_files_count)),
            ("deleted_files_count", Avro::Int(m.deleted_files_count)),
            ("added_rows_count", Avro::Long(m.added_rows_count)),
            ("existing_rows_count", Avro::Long(m.existing_rows_count)),
            ("deleted_rows_count", Avro::Long(m.deleted_rows_count)),
        ]))?;
    }
    Ok(w.into_inner()?)
}

/// Reads back a manifest list written by [`write_manifest_list`]; `location` names it in
/// errors. Errors: [`TableError::Avro`] for bytes that are not Avro,
/// [`TableError::ManifestList`] for a missing field.
pub fn read_manifest_list(location: &str, bytes: &[u8]) -> Result<Vec<ManifestFile>, TableError> {
    let bad = |reason: &str| TableError::ManifestList {
        location: location.to_string(),
        reason: reason.to_string(),
    };
    let mut out = Vec::new();
    for v in apache_avro::Reader::new(bytes)? {
        let Avro::Record(fields) = v? else {
            return Err(bad("an entry is not a record"));
        };
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let long = |name: &str| match get(name) {
            Some(Avro::Long(x)) => Ok(*x),
            Some(Avro::Int(x)) => Ok(*x as i64),
            _ => Err(bad(&format!("{name} is missing"))),
        };
        let Some(Avro::String(path)) = get("manifest_path") else {
            return Err(bad("manifest_path is missing"));
        };
        out.push(ManifestFile {
            manifest_path: path.clone(),
            manifest_length: long("manifest_length")?,
            sequence_number: long("sequence_number")?,
            added_snapshot_id: long("added_snapshot_id")?,
            added_files_count: long("added_files_count")? as i32,
            existing_files_count: long("existing_files_count")? as i32,
            deleted_files_count: long("deleted_files_count")? as i32,
            added_rows_count: long("added_rows_count")?,
            existing_rows_count: long("existing_rows_count")?,
            deleted_rows_count: long("deleted_rows_count")?,
        });
    }
    Ok(out)
}

/// Reads back a manifest written by [`write_manifest_entries`] (sequence numbers explicit);
/// `location` names it in errors. Errors: [`TableError::Avro`] for bytes that are not Avro,
/// [`TableError::ManifestList`] (sic) for a missing field or an unknown status.
pub fn read_manifest(location: &str, bytes: &[u8]) -> Result<Vec<ManifestEntry>, TableError> {
    let bad = |reason: &str| TableError::ManifestList {
        location: location.to_string(),
        reason: reason.to_string(),
    };
    let field = |fields: &[(String, Avro)], name: &str| -> Option<Avro> {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let long = |v: Option<Avro>| match v {
        Some(Avro::Long(x)) => Some(x),
        Some(Avro::Int(x)) => Some(x as i64),
        Some(Avro::Union(_, inner)) => match *inner {
            Avro::Long(x) => Some(x),
            Avro::Int(x) => Some(x as i64),
            _ => None,
        },
        _ => None,
    };
    let mut out = Vec::new();
    for v in apache_avro::Reader::new(bytes)? {
        let Avro::Record(entry) = v? else {
            return Err(bad("an entry is not a record"));
        };
        let status = long(field(&entry, "status"))
            .and_then(EntryStatus::from_code)
            .ok_or_else(|| bad("status is missing"))?;
        let Some(Avro::Record(file)) = field(&entry, "data_file") else {
            return Err(bad("data_file is missing"));
        };
        let Some(Avro::String(file_path)) = field(&file, "file_path") else {
            return Err(bad("file_path is missing"));
        };
        out.push(ManifestEntry {
            status,
            snapshot_id: long(field(&entry, "snapshot_id"))
                .ok_or_else(|| bad("snapshot_id is missing"))?,
            sequence_number: long(field(&entry, "sequence_number"))
                .ok_or_else(|| bad("sequence_number is missing"))?,
            file: DataFile {
                file_path,
                record_count: long(field(&file, "record_count"))
                    .ok_or_else(|| bad("record_count is missing"))?,
                file_size_in_bytes: long(field(&file, "file_size_in_bytes"))
                    .ok_or_else(|| bad("file_size_in_bytes is missing"))?,
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ValueFormat;

    #[test]
    fn manifest_lists_round_trip_and_keep_field_ids() {
        let m = ManifestFile {
            manifest_path: "/t/metadata/a-m0.avro".into(),
            manifest_length: 123,
            sequence_number: 4,
            added_snapshot_id: 99,
            added_files_count: 1,
            added_rows_count: 1000,
            deleted_files_count: 2,
            deleted_rows_count: 7,
            ..ManifestFile::default()
        };
        let bytes = write_manifest_list(99, Some(98), 4, std::slice::from_ref(&m)).unwrap();
        assert_eq!(read_manifest_list("x", &bytes).unwrap(), vec![m]);
        let header = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_string();
        assert!(header.contains(r#""field-id":500"#), "{header}");
        let manifest = write_manifest(
            &TableSchema::new(ValueFormat::Raw),
            99,
            4,
            &[DataFile {
                file_path: "/t/data/x.parquet".into(),
                record_count: 1000,
                file_size_in_bytes: 4096,
            }],
        )
        .unwrap();
        let entries = read_manifest("m", &manifest).unwrap();
        assert_eq!(
            entries,
            vec![ManifestEntry {
                status: EntryStatus::Added,
                snapshot_id: 99,
                sequence_number: 4,
                file: DataFile {
                    file_path: "/t/data/x.parquet".into(),
                    record_count: 1000,
                    file_size_in_bytes: 4096,
                },
            }]
        );
    }

    #[test]
    fn metadata_keeps_a_bounded_history() {
        let schema = TableSchema::new(ValueFormat::Json);
        let mut md = TableMetadata::new("/t".into(), &schema, 0);
        for i in 1..=(MAX_SNAPSHOTS as i64 + 5) {
            md.add_snapshot(
                Snapshot {
                    snapshot_id: i,
                    parent_snapshot_id: Some(i - 1),
                    sequence_number: i,
                    timestamp_ms: i,
                    manifest_list: format!("/t/metadata/snap-{i}.avro"),
                    summary: BTreeMap::new(),
                    schema_id: 0,
                },
                Some((format!("/t/metadata/{i}.metadata.json"), i)),
            );
        }
        assert_eq!(md.snapshots.len(), MAX_SNAPSHOTS);
        assert_eq!(md.current_snapshot().unwrap().snapshot_id, 105);
        let back: TableMetadata =
            serde_json::from_str(&serde_json::to_string(&md).unwrap()).unwrap();
        assert_eq!(back, md);
        assert_eq!(back.current_schema(), Some(schema));
    }
}
