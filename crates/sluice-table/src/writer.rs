//! One table commit's files: Parquet data, manifest, manifest list and metadata JSON, written
//! to the object store; the caller then records the commit in the metadata quorum and
//! publishes the version hint. Append mode adds the commit's records as one file; latest mode
//! ([`crate::latest`]) rewrites the table as one file and deletes files whose retention is over.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::columns::build_batch;
use crate::iceberg::{
    read_manifest, read_manifest_list, write_manifest, write_manifest_entries, write_manifest_list,
    DataFile, EntryStatus, ManifestEntry, ManifestFile, Snapshot, TableMetadata,
};
use crate::latest::{self, RowSource};
use crate::parquet_file::{parse_values, ParquetSink, ROWS_PER_GROUP};
use crate::schema::{TableSchema, ValueFormat};
use crate::{TableError, TableRecord};

/// Where a topic's table lives: `tables/<topic>` under the store's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLocation {
    /// The store's root as readers spell it: an absolute directory for a local store
    /// (`/var/lib/sluice/objects`), `s3://bucket/prefix` for S3.
    pub root_url: String,
    /// The topic name (used as is in object keys and URLs).
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

/// How a table follows its topic (the `sluice.table.mode` topic config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableMode {
    /// `append`: every record is a row; each commit is an `append` snapshot adding one file.
    Append,
    /// `latest`: one row per (partition, key), its newest record; each commit is a
    /// copy-on-write `overwrite` snapshot (see [`crate::latest`]).
    Latest {
        /// How long, in milliseconds, a snapshot and the files only it lists are kept after a
        /// newer snapshot replaced it (`sluice.table.retain.ms`).
        retain_ms: i64,
    },
}

/// What one table commit should hold.
#[derive(Debug, Clone, Copy)]
pub struct CommitInput<'a> {
    /// The current metadata file's object key (`None` for the table's first commit).
    pub previous: Option<&'a str>,
    /// How values become columns (the topic's `sluice.table.value.format`).
    pub format: ValueFormat,
    /// The records, ordered by partition then offset. Append mode needs at least one; latest
    /// mode takes none too (then it only deletes files whose retention is over).
    pub records: &'a [TableRecord],
    /// The writer's clock, in milliseconds since the Unix epoch (snapshot timestamps, and what
    /// latest mode measures retention against).
    pub now_ms: i64,
    /// Append or latest (the topic's `sluice.table.mode`).
    pub mode: TableMode,
}

/// A commit's files, written but not yet current.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedCommit {
    /// Object key of the new metadata JSON (what the quorum records). Latest mode only: the
    /// previous key again (or empty for a table with none) when the commit changes nothing —
    /// no row added or removed, no snapshot expired — and so wrote nothing.
    pub metadata_key: String,
    /// Records written as rows (latest mode: the new rows, one per key the commit changed).
    pub records: u64,
    /// Of those, records with `_error` set.
    pub malformed: u64,
    /// Latest mode: records skipped because they have no key.
    pub keyless: u64,
    /// Latest mode: data files deleted from the store because their retention was over
    /// (files found already gone are not counted).
    pub deleted_data_files: u64,
    /// DELETE requests issued (data files, manifests, manifest lists).
    pub deletes: u64,
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
    /// A writer for the table at `location` in `store` (nothing is read or written yet).
    pub fn new(store: Arc<dyn ObjectStore>, location: TableLocation) -> TableWriter {
        TableWriter { store, location }
    }

    /// The object store the table lives in.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Where the table lives.
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

    async fn get(&self, key: &ObjectPath) -> Result<Bytes, TableError> {
        Ok(self.store.get(key).await?.bytes().await?)
    }

    /// Writes the data file, manifest, manifest list and metadata of one commit. Nothing is
    /// current until the caller records `metadata_key` in the quorum; an attempt that never gets
    /// there leaves unreferenced files only.
    ///
    /// Latest mode also deletes, before it returns, the files of snapshots whose retention was
    /// over in the metadata `previous` names (they are dropped from the new metadata): safe
    /// whether or not the caller's commit then lands, as no snapshot still retained lists them.
    ///
    /// Errors: reading the previous metadata, manifests or (latest mode) data files, or writing
    /// or deleting objects, failed; or a file read back is not one this writer wrote.
    pub async fn prepare(&self, input: CommitInput<'_>) -> Result<PreparedCommit, TableError> {
        match input.mode {
            TableMode::Append => self.prepare_append(input).await,
            TableMode::Latest { retain_ms } => self.prepare_latest(input, retain_ms).await,
        }
    }

    /// The metadata `input.previous` names (or a new table's), its schema for `input.format`,
    /// and the previous file's URL and timestamp for `metadata-log`.
    async fn load(
        &self,
        input: &CommitInput<'_>,
    ) -> Result<(TableMetadata, TableSchema, Option<(String, i64)>), TableError> {
        Ok(match input.previous {
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
        })
    }

    async fn prepare_append(&self, input: CommitInput<'_>) -> Result<PreparedCommit, TableError> {
        let (mut md, schema, previous_ts) = self.load(&input).await?;
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
            ..ManifestFile::default()
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
        let (md_key, md_len) = self.put_metadata(&md).await?;
        written += md_len;
        puts += 1;
        Ok(PreparedCommit {
            metadata_key: md_key,
            records: stats.rows,
            malformed: stats.malformed,
            keyless: 0,
            deleted_data_files: 0,
            deletes: 0,
            bytes_written: written,
            puts,
            schema_id: schema.schema_id,
        })
    }

    /// Writes `md` as a new metadata file; returns its object key and size.
    async fn put_metadata(&self, md: &TableMetadata) -> Result<(String, u64), TableError> {
        let md_rel = format!(
            "metadata/{:05}-{}.metadata.json",
            md.last_sequence_number,
            unique()
        );
        let md_bytes = serde_json::to_vec_pretty(md).map_err(|source| TableError::Metadata {
            location: md_rel.clone(),
            source,
        })?;
        let md_key = self.location.key(&md_rel);
        let len = self.put(&md_key, md_bytes).await?;
        Ok((md_key.to_string(), len))
    }

    /// Latest mode (see [`crate::latest`]): expire, merge, overwrite.
    async fn prepare_latest(
        &self,
        input: CommitInput<'_>,
        retain_ms: i64,
    ) -> Result<PreparedCommit, TableError> {
        let (mut md, schema, previous_ts) = self.load(&input).await?;
        let mut out = PreparedCommit {
            metadata_key: input.previous.unwrap_or_default().to_string(),
            records: 0,
            malformed: 0,
            keyless: input.records.iter().filter(|r| r.key.is_none()).count() as u64,
            deleted_data_files: 0,
            deletes: 0,
            bytes_written: 0,
            puts: 0,
            schema_id: schema.schema_id,
        };
        // Retention is measured against the committed metadata, so the current snapshot is
        // never among the expired, whatever becomes of this commit.
        let expired = latest::expired_prefix(
            &md.snapshots,
            md.current_snapshot_id,
            input.now_ms,
            retain_ms,
        );
        let mut changed = false;
        if !expired.is_empty() {
            self.expire(&mut md, &expired, &mut out).await?;
            changed = true;
        }
        if input.records.iter().any(|r| r.key.is_some()) {
            changed |= self.overwrite(&mut md, schema, &input, &mut out).await?;
        }
        if !changed {
            return Ok(out);
        }
        md.last_updated_ms = input.now_ms;
        md.note_replaced(previous_ts);
        let (md_key, md_len) = self.put_metadata(&md).await?;
        out.metadata_key = md_key;
        out.bytes_written += md_len;
        out.puts += 1;
        Ok(out)
    }

    /// The live entries (added or existing) of every manifest `snap` lists.
    async fn live_entries(&self, snap: &Snapshot) -> Result<Vec<ManifestEntry>, TableError> {
        let list = self.get(&self.key_of_url(&snap.manifest_list)).await?;
        let mut out = Vec::new();
        for m in read_manifest_list(&snap.manifest_list, &list)? {
            let bytes = self.get(&self.key_of_url(&m.manifest_path)).await?;
            out.extend(
                read_manifest(&m.manifest_path, &bytes)?
                    .into_iter()
                    .filter(|e| e.status.is_live()),
            );
        }
        Ok(out)
    }

    /// Merges `input.records` into the current snapshot's rows and, unless that changes
    /// nothing, writes the new data file, manifest and manifest list and adds the `overwrite`
    /// snapshot to `md`. Returns whether it did.
    async fn overwrite(
        &self,
        md: &mut TableMetadata,
        schema: TableSchema,
        input: &CommitInput<'_>,
        out: &mut PreparedCommit,
    ) -> Result<bool, TableError> {
        let parent = md.current_snapshot().cloned();
        let live = match &parent {
            Some(p) => self.live_entries(p).await?,
            None => Vec::new(),
        };
        let mut batches: Vec<RecordBatch> = Vec::new();
        // Per batch, the data file it came from (for errors).
        let mut batch_file: Vec<usize> = Vec::new();
        for (fi, e) in live.iter().enumerate() {
            let bytes = self.get(&self.key_of_url(&e.file.file_path)).await?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?
                .with_batch_size(ROWS_PER_GROUP)
                .build()?;
            for b in reader {
                batches.push(b?);
                batch_file.push(fi);
            }
        }
        let mut keys = Vec::new();
        let mut at: Vec<(usize, usize)> = Vec::new();
        for (bi, b) in batches.iter().enumerate() {
            let k = latest::row_keys(b).ok_or_else(|| TableError::DataFile {
                location: live[batch_file[bi]].file.file_path.clone(),
                reason: "no partition, offset or key column".into(),
            })?;
            at.extend((0..k.len()).map(|r| (bi, r)));
            keys.extend(k);
        }
        let plan = latest::plan(&keys, input.records);
        drop(keys);
        if plan.changes_nothing() {
            return Ok(false);
        }
        let added: Vec<TableRecord> = plan
            .rows
            .iter()
            .filter_map(|r| match r {
                RowSource::New(i) => Some(input.records[*i].clone()),
                RowSource::Previous(_) => None,
            })
            .collect();
        let parsed = parse_values(input.format, &added);
        let schema = schema.evolve(&parsed).unwrap_or(schema);
        md.set_schema(&schema);
        let arrow = schema.arrow();
        let mut sources = batches
            .iter()
            .map(|b| latest::conform(b, &arrow))
            .collect::<Result<Vec<_>, _>>()?;
        drop(batches);
        let built = build_batch(&schema, &added, &parsed)?;
        let new_ix = sources.len();
        sources.push(built.batch);

        let seq = md.last_sequence_number + 1;
        let snapshot_id = (uuid::Uuid::new_v4().as_u64_pair().0 >> 1) as i64;
        let mut entries = Vec::new();
        let (mut rows, mut data_len) = (0u64, 0i64);
        if !plan.rows.is_empty() {
            let mut next_new = 0;
            let idx: Vec<(usize, usize)> = plan
                .rows
                .iter()
                .map(|r| match r {
                    RowSource::Previous(i) => at[*i],
                    RowSource::New(_) => {
                        next_new += 1;
                        (new_ix, next_new - 1)
                    }
                })
                .collect();
            let refs: Vec<&RecordBatch> = sources.iter().collect();
            let mut sink = ParquetSink::new(Vec::new(), schema.clone())?;
            for chunk in idx.chunks(ROWS_PER_GROUP) {
                let b = arrow_select::interleave::interleave_record_batch(&refs, chunk)?;
                sink.write_batch(&b)?;
            }
            let (data, stats) = sink.finish()?;
            rows = stats.rows;
            data_len = data.len() as i64;
            let data_rel = format!("data/{seq:05}-{}.parquet", unique());
            out.bytes_written += self.put(&self.location.key(&data_rel), data).await?;
            out.puts += 1;
            entries.push(ManifestEntry {
                status: EntryStatus::Added,
                snapshot_id,
                sequence_number: seq,
                file: DataFile {
                    file_path: self.location.url(&data_rel),
                    record_count: rows as i64,
                    file_size_in_bytes: data_len,
                },
            });
        }
        let added_files = entries.len();
        // Every file of the parent is replaced; its entry keeps the sequence number it was
        // added with, and names this snapshot as the one that deleted it.
        entries.extend(live.iter().map(|e| ManifestEntry {
            status: EntryStatus::Deleted,
            snapshot_id,
            sequence_number: e.sequence_number,
            file: e.file.clone(),
        }));
        let deleted_rows: i64 = live.iter().map(|e| e.file.record_count).sum();
        let deleted_size: i64 = live.iter().map(|e| e.file.file_size_in_bytes).sum();
        let manifest = write_manifest_entries(&schema, &entries)?;
        let manifest_rel = format!("metadata/{}-m0.avro", unique());
        let manifest_len = manifest.len() as i64;
        out.bytes_written += self
            .put(&self.location.key(&manifest_rel), manifest)
            .await?;
        out.puts += 1;
        let list = write_manifest_list(
            snapshot_id,
            parent.as_ref().map(|p| p.snapshot_id),
            seq,
            &[ManifestFile {
                manifest_path: self.location.url(&manifest_rel),
                manifest_length: manifest_len,
                sequence_number: seq,
                added_snapshot_id: snapshot_id,
                added_files_count: added_files as i32,
                deleted_files_count: live.len() as i32,
                added_rows_count: rows as i64,
                deleted_rows_count: deleted_rows,
                ..ManifestFile::default()
            }],
        )?;
        let list_rel = format!("metadata/snap-{snapshot_id}-{}.avro", unique());
        out.bytes_written += self.put(&self.location.key(&list_rel), list).await?;
        out.puts += 1;

        let summary = BTreeMap::from([
            ("operation".to_string(), "overwrite".to_string()),
            ("added-data-files".into(), added_files.to_string()),
            ("deleted-data-files".into(), live.len().to_string()),
            ("added-records".into(), rows.to_string()),
            ("deleted-records".into(), deleted_rows.to_string()),
            ("added-files-size".into(), data_len.to_string()),
            ("removed-files-size".into(), deleted_size.to_string()),
            ("total-data-files".into(), added_files.to_string()),
            ("total-records".into(), rows.to_string()),
            ("total-files-size".into(), data_len.to_string()),
            ("total-delete-files".into(), "0".into()),
            ("total-position-deletes".into(), "0".into()),
            ("total-equality-deletes".into(), "0".into()),
            (
                "sluice.malformed-records".into(),
                built.malformed.to_string(),
            ),
            ("sluice.keyless-records".into(), plan.keyless.to_string()),
        ]);
        md.add_snapshot_keeping(
            Snapshot {
                snapshot_id,
                parent_snapshot_id: parent.map(|p| p.snapshot_id),
                sequence_number: seq,
                timestamp_ms: input.now_ms,
                manifest_list: self.location.url(&list_rel),
                summary,
                schema_id: schema.schema_id,
            },
            None,
            usize::MAX,
        );
        out.records = added.len() as u64;
        out.malformed = built.malformed;
        out.schema_id = schema.schema_id;
        Ok(true)
    }

    /// Deletes what only the `expired` snapshots (a prefix, oldest first, see
    /// [`latest::expired_prefix`]) list, and drops them from `md`. A data file goes when the
    /// snapshot that replaced it is expired or is the first one kept (every snapshot listing it
    /// is then expired); their manifests and manifest lists go too unless the first kept
    /// snapshot still lists them. Data files go first, so a crash part-way leaves the manifests
    /// that name what is left, and the next pass (the same snapshots are still expired in the
    /// committed metadata) finishes the job; objects already gone are skipped.
    async fn expire(
        &self,
        md: &mut TableMetadata,
        expired: &[i64],
        out: &mut PreparedCommit,
    ) -> Result<(), TableError> {
        let mut by_seq: Vec<&Snapshot> = md.snapshots.iter().collect();
        by_seq.sort_by_key(|s| s.sequence_number);
        let Some(first_kept) = by_seq.iter().find(|s| !expired.contains(&s.snapshot_id)) else {
            return Ok(());
        };
        let snap = |id: i64| by_seq.iter().find(|s| s.snapshot_id == id).copied();
        // Manifest lists (and their manifests) of the expired snapshots, then the first kept's.
        let mut lists: Vec<(&Snapshot, Vec<ManifestFile>)> = Vec::new();
        for s in expired
            .iter()
            .filter_map(|id| snap(*id))
            .chain([*first_kept])
        {
            let manifests = match self.get(&self.key_of_url(&s.manifest_list)).await {
                Ok(bytes) => read_manifest_list(&s.manifest_list, &bytes)?,
                Err(TableError::Store(object_store::Error::NotFound { .. })) => Vec::new(),
                Err(e) => return Err(e),
            };
            lists.push((s, manifests));
        }
        let (kept, gone) = lists
            .split_last()
            .expect("the first kept snapshot is listed");
        let mut deleted_data: Vec<String> = Vec::new();
        let mut live_data: Vec<String> = Vec::new();
        // The files each of expired[1..] and the first kept snapshot replaced (expired[0]'s were
        // deleted when it was the first kept), and what the first kept snapshot still reads.
        for (i, (s, manifests)) in lists.iter().enumerate() {
            let is_kept = i == lists.len() - 1;
            if i == 0 && !is_kept {
                continue;
            }
            for m in manifests {
                if m.added_snapshot_id != s.snapshot_id && !is_kept {
                    continue;
                }
                let entries = match self.get(&self.key_of_url(&m.manifest_path)).await {
                    Ok(bytes) => read_manifest(&m.manifest_path, &bytes)?,
                    Err(TableError::Store(object_store::Error::NotFound { .. })) => Vec::new(),
                    Err(e) => return Err(e),
                };
                for e in entries {
                    if e.status.is_live() {
                        if is_kept {
                            live_data.push(e.file.file_path);
                        }
                    } else if m.added_snapshot_id == s.snapshot_id {
                        deleted_data.push(e.file.file_path);
                    }
                }
            }
        }
        let live: std::collections::HashSet<&str> = live_data.iter().map(String::as_str).collect();
        let data = latest::unreferenced(deleted_data.iter().map(String::as_str), &live);
        for path in &data {
            if self.delete(path).await? {
                out.deleted_data_files += 1;
            }
        }
        let kept_manifests: std::collections::HashSet<&str> =
            kept.1.iter().map(|m| m.manifest_path.as_str()).collect();
        let manifests = latest::unreferenced(
            gone.iter()
                .flat_map(|(_, ms)| ms.iter().map(|m| m.manifest_path.as_str())),
            &kept_manifests,
        );
        for path in manifests
            .into_iter()
            .chain(gone.iter().map(|(s, _)| s.manifest_list.as_str()))
        {
            self.delete(path).await?;
        }
        md.remove_snapshots(expired);
        Ok(())
    }

    /// Deletes the object at `url`; returns whether it was there (a missing one is not an
    /// error: a crashed or refused pass may have deleted it already).
    async fn delete(&self, url: &str) -> Result<bool, TableError> {
        match self.store.delete(&self.key_of_url(url)).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
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
