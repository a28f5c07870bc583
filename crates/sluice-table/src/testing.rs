//! Test helpers: record batches as a producer would send them.

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record};
use sluice_protocol::testing;

/// One batch at `base` holding `values` (one header `h=v` each), zstd-compressed.
pub fn batch(base: i64, values: &[&[u8]]) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            key: Some(Bytes::from(format!("k{i}"))),
            headers: IndexMap::from([(
                StrBytes::from_static_str("h"),
                Some(Bytes::from_static(b"v")),
            )]),
            ..testing::record(base + i as i64, 1_700_000_000_000 + i as i64, v)
        })
        .collect();
    testing::encode(&records, Compression::Zstd).freeze()
}
