//! Table commits into a local directory. Append: the second commit adds a column; the metadata,
//! manifest list and Parquet files say what they should. Latest: overwrite snapshots hold one row
//! per key, and replaced files are deleted once their retention is over.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sluice_table::iceberg::{read_manifest, read_manifest_list, EntryStatus, TableMetadata};
use sluice_table::{CommitInput, TableLocation, TableMode, TableRecord, TableWriter, ValueFormat};

fn rec(partition: i32, offset: i64, value: &str) -> TableRecord {
    TableRecord {
        partition,
        offset,
        timestamp_ms: 1_700_000_000_000 + offset,
        key: Some(Bytes::from(format!("k{offset}"))),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers: vec![("h".into(), Some(Bytes::from_static(b"v")))],
    }
}

/// A writer of table `topic` in a local-directory store rooted at `dir`; returns the root too.
fn local_writer(dir: &tempfile::TempDir, topic: &str) -> (String, TableWriter) {
    let root = dir.path().to_str().unwrap().to_string();
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(&root).unwrap());
    let w = TableWriter::new(
        store,
        TableLocation {
            root_url: root.clone(),
            topic: topic.into(),
        },
    );
    (root, w)
}

#[tokio::test]
async fn commits_append_snapshots_and_evolve_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (root, w) = local_writer(&dir, "orders");
    let first = vec![rec(0, 0, r#"{"a": 1}"#), rec(1, 0, r#"{"a": 2}"#)];
    let c1 = w
        .prepare(CommitInput {
            previous: None,
            format: ValueFormat::Json,
            records: &first,
            now_ms: 10,
            mode: TableMode::Append,
        })
        .await
        .unwrap();
    assert_eq!(
        (c1.records, c1.malformed, c1.puts, c1.schema_id),
        (2, 0, 4, 1)
    );
    let second = vec![rec(0, 1, r#"{"a": 3, "b": "new"}"#), rec(0, 2, "oops")];
    let c2 = w
        .prepare(CommitInput {
            previous: Some(&c1.metadata_key),
            format: ValueFormat::Json,
            records: &second,
            now_ms: 20,
            mode: TableMode::Append,
        })
        .await
        .unwrap();
    assert_eq!((c2.records, c2.malformed, c2.schema_id), (2, 1, 2));
    w.publish_hint(&c2.metadata_key).await.unwrap();

    let md: TableMetadata = w.read_metadata(&c2.metadata_key).await.unwrap();
    assert_eq!(md.last_sequence_number, 2);
    assert_eq!(md.snapshots.len(), 2);
    assert_eq!(md.schemas.len(), 3, "the empty schema, then +a, then +b");
    let snap = md.current_snapshot().unwrap();
    assert_eq!(snap.summary["total-records"], "4");
    assert_eq!(md.location, format!("{root}/tables/orders"));
    let list_path = snap.manifest_list.clone();
    let list = read_manifest_list(&list_path, &std::fs::read(&list_path).unwrap()).unwrap();
    assert_eq!(
        list.iter()
            .map(|m| (m.sequence_number, m.added_rows_count))
            .collect::<Vec<_>>(),
        vec![(1, 2), (2, 2)]
    );
    let hint = std::fs::read_to_string(format!("{root}/tables/orders/metadata/version-hint.text"))
        .unwrap();
    assert!(c2.metadata_key.ends_with(&format!("{hint}.metadata.json")));
}

fn keyed(partition: i32, offset: i64, key: Option<&str>, value: Option<&str>) -> TableRecord {
    TableRecord {
        partition,
        offset,
        timestamp_ms: 1_700_000_000_000 + offset,
        key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
        value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
        headers: vec![("h".into(), Some(Bytes::from(format!("o{offset}"))))],
    }
}

/// (partition, offset, key, n) of every row of the current snapshot, in file order.
fn current_rows(md: &TableMetadata) -> Vec<(i32, i64, String, Option<i64>)> {
    let snap = md.current_snapshot().unwrap();
    let list = read_manifest_list(
        &snap.manifest_list,
        &std::fs::read(&snap.manifest_list).unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    for m in list {
        let entries =
            read_manifest(&m.manifest_path, &std::fs::read(&m.manifest_path).unwrap()).unwrap();
        for e in entries.iter().filter(|e| e.status.is_live()) {
            let bytes = Bytes::from(std::fs::read(&e.file.file_path).unwrap());
            for b in ParquetRecordBatchReaderBuilder::try_new(bytes)
                .unwrap()
                .build()
                .unwrap()
            {
                let b = b.unwrap();
                let p = b
                    .column_by_name("partition")
                    .unwrap()
                    .as_primitive::<arrow_array::types::Int32Type>()
                    .clone();
                let o = b
                    .column_by_name("offset")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .clone();
                let k = b.column_by_name("key").unwrap().as_binary::<i32>().clone();
                let n = b
                    .column_by_name("n")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .clone();
                // Every row keeps its record's one header through every rewrite.
                let h = b
                    .column_by_name("headers")
                    .unwrap()
                    .as_list::<i32>()
                    .clone();
                for i in 0..b.num_rows() {
                    let n = (!arrow_array::Array::is_null(&n, i)).then(|| n.value(i));
                    let hv = h.value(i);
                    let hv = hv
                        .as_struct()
                        .column(1)
                        .as_binary::<i32>()
                        .value(0)
                        .to_vec();
                    assert_eq!(hv, format!("o{}", o.value(i)).into_bytes());
                    out.push((
                        p.value(i),
                        o.value(i),
                        String::from_utf8(k.value(i).to_vec()).unwrap(),
                        n,
                    ));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn latest_commits_overwrite_with_one_row_per_key_and_expire_replaced_files() {
    let dir = tempfile::tempdir().unwrap();
    let (root, w) = local_writer(&dir, "kv");
    let mode = TableMode::Latest { retain_ms: 1_000 };
    let data_files = || {
        std::fs::read_dir(format!("{root}/tables/kv/data"))
            .unwrap()
            .count()
    };
    let commit = |previous: Option<String>, records: Vec<TableRecord>, now_ms: i64| {
        let w = &w;
        async move {
            w.prepare(CommitInput {
                previous: previous.as_deref(),
                format: ValueFormat::Json,
                records: &records,
                now_ms,
                mode,
            })
            .await
            .unwrap()
        }
    };
    // Given a first commit: a twice, b, and a keyless record
    let c1 = commit(
        None,
        vec![
            keyed(0, 0, Some("a"), Some(r#"{"n": 1}"#)),
            keyed(0, 1, Some("b"), Some(r#"{"n": 2}"#)),
            keyed(0, 2, Some("a"), Some(r#"{"n": 3}"#)),
            keyed(1, 0, None, Some(r#"{"n": 9}"#)),
        ],
        10_000,
    )
    .await;
    assert_eq!((c1.records, c1.keyless, c1.puts), (2, 1, 4));
    let md1 = w.read_metadata(&c1.metadata_key).await.unwrap();
    assert_eq!(
        current_rows(&md1),
        vec![(0, 1, "b".into(), Some(2)), (0, 2, "a".into(), Some(3))]
    );
    // When the second deletes b and adds c in partition 1
    let c2 = commit(
        Some(c1.metadata_key.clone()),
        vec![
            keyed(0, 3, Some("b"), None),
            keyed(1, 1, Some("c"), Some(r#"{"n": 4}"#)),
        ],
        10_500,
    )
    .await;
    let md2 = w.read_metadata(&c2.metadata_key).await.unwrap();
    // Then the table is a and c, in an overwrite snapshot that deleted the first file
    assert_eq!(
        current_rows(&md2),
        vec![(0, 2, "a".into(), Some(3)), (1, 1, "c".into(), Some(4))]
    );
    let snap = md2.current_snapshot().unwrap();
    let summary = |k: &str| snap.summary[k].as_str();
    assert_eq!(
        (
            summary("operation"),
            summary("added-data-files"),
            summary("deleted-data-files"),
            summary("added-records"),
            summary("deleted-records"),
            summary("total-records"),
            summary("total-data-files"),
        ),
        ("overwrite", "1", "1", "2", "2", "2", "1")
    );
    let list = read_manifest_list(
        &snap.manifest_list,
        &std::fs::read(&snap.manifest_list).unwrap(),
    )
    .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (
            list[0].added_files_count,
            list[0].deleted_files_count,
            list[0].added_rows_count,
            list[0].deleted_rows_count
        ),
        (1, 1, 2, 2)
    );
    let entries = read_manifest(
        &list[0].manifest_path,
        &std::fs::read(&list[0].manifest_path).unwrap(),
    )
    .unwrap();
    assert_eq!(
        entries
            .iter()
            .map(|e| (e.status, e.sequence_number))
            .collect::<Vec<_>>(),
        vec![(EntryStatus::Added, 2), (EntryStatus::Deleted, 1)]
    );
    assert_eq!(data_files(), 2, "the replaced file stays while retained");

    // Nothing new, and within retention: nothing to write.
    let idle = commit(Some(c2.metadata_key.clone()), vec![], 11_000).await;
    assert_eq!(
        (idle.metadata_key.as_str(), idle.puts),
        (c2.metadata_key.as_str(), 0)
    );
    // Only a keyless record: no new snapshot either.
    let k = commit(
        Some(c2.metadata_key.clone()),
        vec![keyed(1, 2, None, Some("{}"))],
        11_000,
    )
    .await;
    assert_eq!(
        (k.metadata_key.as_str(), k.keyless),
        (c2.metadata_key.as_str(), 1)
    );

    // retain.ms after c2 replaced c1's snapshot, an idle pass expires it and deletes its file;
    // a retried pass (the commit never landed) deletes nothing more and fails on nothing.
    let e = commit(Some(c2.metadata_key.clone()), vec![], 11_500).await;
    assert_eq!(e.deleted_data_files, 1);
    assert_eq!(data_files(), 1);
    let retry = commit(Some(c2.metadata_key.clone()), vec![], 11_600).await;
    assert_eq!(retry.deleted_data_files, 0);
    let md3 = w.read_metadata(&e.metadata_key).await.unwrap();
    assert_eq!(md3.snapshots.len(), 1);
    assert_eq!(md3.current_snapshot_id, md2.current_snapshot_id);
    assert_eq!(current_rows(&md3), current_rows(&md2));

    // Deleting every key leaves an empty snapshot (no data file).
    let c4 = commit(
        Some(e.metadata_key.clone()),
        vec![keyed(0, 4, Some("a"), None), keyed(1, 3, Some("c"), None)],
        12_000,
    )
    .await;
    let md4 = w.read_metadata(&c4.metadata_key).await.unwrap();
    assert_eq!(current_rows(&md4), vec![]);
    assert_eq!(
        md4.current_snapshot().unwrap().summary["total-records"],
        "0"
    );
    let c5 = commit(Some(c4.metadata_key.clone()), vec![], 13_000).await;
    assert_eq!((c5.deleted_data_files, data_files()), (1, 0));
}
