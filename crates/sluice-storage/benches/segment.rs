//! Criterion benches of the produce-side segment encoder and the read-side offset patch.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_protocol::records::{Compression, Record};
use sluice_protocol::batch::{patch_base_offset, BatchHeader, BatchIter};
use sluice_protocol::testing;
use sluice_storage::SegmentBuilder;

fn batch(records: usize, value_len: usize) -> Bytes {
    let recs: Vec<Record> = (0..records)
        .map(|i| testing::record(i as i64, 0, &vec![b'x'; value_len]))
        .collect();
    testing::encode(&recs, Compression::None).freeze()
}

fn benches(c: &mut Criterion) {
    // 16 KiB batches of 1 KiB records, 8 MiB segments over 8 partitions.
    let b = batch(16, 1024);
    let per_segment = (8 << 20) / b.len();
    let mut g = c.benchmark_group("segment");
    g.throughput(Throughput::Bytes((per_segment * b.len()) as u64));
    g.bench_function("validate_and_encode_8MiB", |bench| {
        bench.iter(|| {
            let mut sb = SegmentBuilder::default();
            for i in 0..per_segment {
                BatchHeader::parse_validated(&b).unwrap();
                sb.push(i % 8, i as u64, b.clone());
            }
            sb.finish()
        })
    });
    let (obj, _) = {
        let mut sb = SegmentBuilder::default();
        for i in 0..per_segment {
            sb.push(0, i as u64, b.clone());
        }
        sb.finish()
    };
    g.bench_function("patch_offsets_8MiB", |bench| {
        bench.iter(|| {
            let mut m = BytesMut::from(&obj[..]);
            let mut next = 1_000i64;
            let positions: Vec<(usize, i64)> = BatchIter::new(&m)
                .map(|r| r.map(|(p, h)| (p, h.offset_count())).unwrap())
                .collect();
            for (p, n) in positions {
                patch_base_offset(&mut m[p..], next, 0);
                next += n;
            }
            m
        })
    });
    g.finish();
}

criterion_group!(segment, benches);
criterion_main!(segment);
