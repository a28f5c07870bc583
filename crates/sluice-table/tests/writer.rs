//! Two table commits into a local directory: the second adds a column; the metadata, manifest
//! list and Parquet files say what they should.

use std::sync::Arc;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use sluice_table::iceberg::{read_manifest_list, TableMetadata};
use sluice_table::{CommitInput, TableLocation, TableRecord, TableWriter, ValueFormat};

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

#[tokio::test]
async fn commits_append_snapshots_and_evolve_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(&root).unwrap());
    let w = TableWriter::new(
        store,
        TableLocation {
            root_url: root.clone(),
            topic: "orders".into(),
        },
    );
    let first = vec![rec(0, 0, r#"{"a": 1}"#), rec(1, 0, r#"{"a": 2}"#)];
    let c1 = w
        .prepare(CommitInput {
            previous: None,
            format: ValueFormat::Json,
            records: &first,
            now_ms: 10,
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
