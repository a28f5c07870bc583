//! A zero-copy view of Kafka record batches (magic v2), as produced by clients and as stored.
//!
//! Sluice stores client batches byte for byte. The hot path therefore never decodes records:
//! it validates the batch header and CRC-32C on produce, and on fetch it patches `baseOffset` and
//! `partitionLeaderEpoch`, which sit outside the CRC, so the patch costs two stores per batch.
//! The layout is written by hand because `kafka-protocol`'s decoder always materialises records.

use bytes::{Bytes, BytesMut};

use crate::compression::{self, Codec, CodecError};

/// Bytes before the first record: everything from `baseOffset` to `recordsCount`.
pub const HEADER_LEN: usize = 61;
/// `baseOffset` + `batchLength`: the part of the header not counted by `batchLength`.
pub const LOG_OVERHEAD: usize = 12;
const CRC_START: usize = 21;

/// `attributes` bits 0-2: the compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
pub const ATTR_COMPRESSION_MASK: i16 = 0x07;
/// `attributes` bit 3: timestamps are LogAppendTime (else CreateTime).
pub const ATTR_LOG_APPEND_TIME: i16 = 0x08;
/// `attributes` bit 4: the batch belongs to a transaction.
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
/// `attributes` bit 5: a control batch (a transaction marker).
pub const ATTR_CONTROL: i16 = 0x20;

/// Why bytes are not a valid magic-v2 record batch (Produce answers CORRUPT_MESSAGE or
/// INVALID_RECORD).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Fewer bytes than the header or `batchLength` asks for.
    #[error("record batch truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes the batch needs.
        need: usize,
        /// Bytes there are.
        have: usize,
    },
    /// A magic byte other than 2 (v0/v1 message sets are not accepted).
    #[error("unsupported record batch magic {0} (only v2 is accepted)")]
    Magic(i8),
    /// The CRC-32C over `attributes..` does not match the stored one.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc {
        /// The batch's `crc` field.
        stored: u32,
        /// The CRC-32C of the bytes.
        computed: u32,
    },
    /// `batchLength` too small for a v2 batch header (Kafka's `DefaultRecordBatch.ensureValid`:
    /// a `CorruptRecordException`, CORRUPT_MESSAGE on produce).
    #[error(
        "Record batch is corrupt (the size of {0} is smaller than the minimum allowed overhead 61)"
    )]
    TooShort(i64),
    /// Any other structural rule broken (the text says which, in Kafka's words where it has
    /// them).
    #[error("invalid record batch: {0}")]
    Invalid(&'static str),
}

/// The decoded header of one record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// `baseOffset`: the first record's offset (placeholder, usually 0, as produced; real once
    /// patched for fetch).
    pub base_offset: i64,
    /// Total bytes of the batch including the 12-byte log overhead.
    pub total_len: usize,
    /// `partitionLeaderEpoch` (-1 as produced by most clients).
    pub partition_leader_epoch: i32,
    /// `magic`: always 2 once parsed.
    pub magic: i8,
    /// `crc`: CRC-32C of everything from `attributes` to the end of the batch.
    pub crc: u32,
    /// `attributes`: the `ATTR_*` bits.
    pub attributes: i16,
    /// `lastOffsetDelta`: the last record's offset minus `base_offset`.
    pub last_offset_delta: i32,
    /// `baseTimestamp`: the first record's timestamp, ms since the Unix epoch.
    pub base_timestamp: i64,
    /// `maxTimestamp`: the largest record timestamp, ms since the Unix epoch (the append time
    /// for LogAppendTime batches).
    pub max_timestamp: i64,
    /// `producerId`; -1 for a non-idempotent producer.
    pub producer_id: i64,
    /// `producerEpoch`; -1 without a producer id.
    pub producer_epoch: i16,
    /// `baseSequence`: the first record's idempotence sequence number; -1 without one.
    pub base_sequence: i32,
    /// `recordsCount`: the number of records in the batch.
    pub records_count: i32,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl BatchHeader {
    /// Parses the header at the start of `buf`. Checks lengths and magic, not the CRC.
    /// Errors: [`BatchError::Truncated`] when `buf` is shorter than the batch (`need` is the
    /// batch's length once `buf` holds its `batchLength`), [`BatchError::Magic`],
    /// [`BatchError::Invalid`] for a `batchLength` below the header's.
    pub fn parse(buf: &[u8]) -> Result<Self, BatchError> {
        let h = Self::parse_header(buf)?;
        if buf.len() < h.total_len {
            return Err(BatchError::Truncated {
                need: h.total_len,
                have: buf.len(),
            });
        }
        Ok(h)
    }

    /// [`parse`](Self::parse) of a header whose batch may continue past `buf` (a reader that
    /// has the first [`HEADER_LEN`] bytes and reads the rest elsewhere). Errors: as `parse`,
    /// `Truncated` only when `buf` is shorter than the header.
    pub fn parse_header(buf: &[u8]) -> Result<Self, BatchError> {
        if buf.len() < LOG_OVERHEAD + 5 {
            return Err(BatchError::Truncated {
                need: LOG_OVERHEAD + 5,
                have: buf.len(),
            });
        }
        let batch_length = be_i32(buf, 8);
        let magic = buf[16] as i8;
        if magic != 2 {
            return Err(BatchError::Magic(magic));
        }
        if batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(BatchError::TooShort(
                LOG_OVERHEAD as i64 + batch_length as i64,
            ));
        }
        let total_len = LOG_OVERHEAD + batch_length as usize;
        if buf.len() < HEADER_LEN {
            return Err(BatchError::Truncated {
                need: total_len,
                have: buf.len(),
            });
        }
        Ok(BatchHeader {
            base_offset: be_i64(buf, 0),
            total_len,
            partition_leader_epoch: be_i32(buf, 12),
            magic,
            crc: u32::from_be_bytes(buf[17..21].try_into().expect("4 bytes")),
            attributes: be_i16(buf, 21),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, 35),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            records_count: be_i32(buf, 57),
        })
    }

    /// Parses and fully validates a batch as received from a producer: CRC-32C, and the
    /// count/offset-delta consistency Kafka requires of fresh batches. Errors: those of
    /// [`BatchHeader::parse`], [`BatchError::Crc`], and [`BatchError::Invalid`] for no records,
    /// `lastOffsetDelta != recordsCount - 1`, or a control batch.
    pub fn parse_validated(buf: &[u8]) -> Result<Self, BatchError> {
        let h = Self::parse(buf)?;
        let computed = crc32c::crc32c(&buf[CRC_START..h.total_len]);
        if computed != h.crc {
            return Err(BatchError::Crc {
                stored: h.crc,
                computed,
            });
        }
        if h.records_count <= 0 {
            return Err(BatchError::Invalid("record batch has no records"));
        }
        if h.last_offset_delta != h.records_count - 1 {
            return Err(BatchError::Invalid(
                "lastOffsetDelta must equal recordsCount - 1",
            ));
        }
        if h.is_control() {
            return Err(BatchError::Invalid(
                "producers may not write control batches",
            ));
        }
        Ok(h)
    }

    /// Number of offsets this batch occupies.
    pub fn offset_count(&self) -> i64 {
        self.last_offset_delta as i64 + 1
    }
    /// Whether the batch belongs to a transaction ([`ATTR_TRANSACTIONAL`]).
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }
    /// Whether the batch is a control batch, i.e. a transaction marker ([`ATTR_CONTROL`]).
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
    /// Whether the batch comes from an idempotent or transactional producer (`producerId >= 0`).
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
    /// The codec id of the records section (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd; see
    /// [`Codec::from_attributes`]).
    pub fn compression(&self) -> i16 {
        self.attributes & ATTR_COMPRESSION_MASK
    }
    /// Whether timestamps are LogAppendTime ([`ATTR_LOG_APPEND_TIME`]).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_LOG_APPEND_TIME != 0
    }
}

/// Splits a byte run of concatenated batches. A trailing partial batch (as fetch responses may
/// carry) ends the iteration silently; a malformed header yields one error and stops.
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> BatchIter<'a> {
    /// An iterator over the batches of `buf`, from its first byte.
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter {
            buf,
            pos: 0,
            failed: false,
        }
    }
}

impl<'a> Iterator for BatchIter<'a> {
    /// `(byte position, header)`.
    type Item = Result<(usize, BatchHeader), BatchError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        match BatchHeader::parse(&self.buf[self.pos..]) {
            Ok(h) => {
                let at = self.pos;
                self.pos += h.total_len;
                Some(Ok((at, h)))
            }
            Err(BatchError::Truncated { .. }) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Splits a producer's `records` field into validated batches (each a slice of `records`, with
/// its header). Every byte must belong to a complete, valid batch. Errors: those of
/// [`BatchHeader::parse_validated`], and [`BatchError::Invalid`] for an empty record set.
pub fn split_produced(records: &Bytes) -> Result<Vec<(Bytes, BatchHeader)>, BatchError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < records.len() {
        let h = BatchHeader::parse_validated(&records[pos..])?;
        out.push((records.slice(pos..pos + h.total_len), h));
        pos += h.total_len;
    }
    if out.is_empty() {
        return Err(BatchError::Invalid("empty record set"));
    }
    Ok(out)
}

/// Rewrites `baseOffset` and `partitionLeaderEpoch` of the batch at the start of `buf`.
/// Both fields precede the CRC'd region, so the batch stays valid.
pub fn patch_base_offset(buf: &mut [u8], base_offset: i64, leader_epoch: i32) {
    buf[0..8].copy_from_slice(&base_offset.to_be_bytes());
    buf[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Stamps LogAppendTime: sets the timestamp-type attribute and `maxTimestamp` to `now_ms`, and
/// recomputes the CRC (both fields are inside it). Consumers then report `now_ms` for every record.
pub fn stamp_log_append_time(buf: &mut [u8], now_ms: i64) {
    let attrs = be_i16(buf, 21) | ATTR_LOG_APPEND_TIME;
    buf[21..23].copy_from_slice(&attrs.to_be_bytes());
    set_max_timestamp(buf, now_ms);
}

/// Sets `maxTimestamp` of the batch at the start of `buf` and recomputes its CRC.
pub fn set_max_timestamp(buf: &mut [u8], max_timestamp: i64) {
    buf[35..43].copy_from_slice(&max_timestamp.to_be_bytes());
    reseal(buf);
}

/// Recomputes the CRC-32C of the batch at the start of `buf` after a change inside it.
fn reseal(buf: &mut [u8]) {
    let total = LOG_OVERHEAD + be_i32(buf, 8) as usize;
    let crc = crc32c::crc32c(&buf[CRC_START..total]);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// The records section of a batch (everything after its header), compressed as the batch's
/// codec says.
pub fn records_section<'a>(batch: &'a [u8], h: &BatchHeader) -> &'a [u8] {
    &batch[HEADER_LEN..h.total_len]
}

/// A new batch with `batch`'s header fields (base offset, producer id, epoch and base sequence,
/// timestamps, transactional flag...) whose records section is `raw_records` (uncompressed)
/// compressed with `codec` at `level`: the codec bits, `batchLength` and the CRC are rewritten.
pub fn rebuild(
    batch: &[u8],
    raw_records: &[u8],
    codec: Codec,
    level: Option<i32>,
) -> Result<BytesMut, CodecError> {
    let body = compression::compress(codec, level, raw_records)?;
    let mut out = BytesMut::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&batch[..HEADER_LEN]);
    out.extend_from_slice(&body);
    let batch_length = (out.len() - LOG_OVERHEAD) as i32;
    out[8..12].copy_from_slice(&batch_length.to_be_bytes());
    let attrs = (be_i16(&out, 21) & !ATTR_COMPRESSION_MASK) | codec.id();
    out[21..23].copy_from_slice(&attrs.to_be_bytes());
    reseal(&mut out);
    Ok(out)
}

/// A transaction marker as Kafka writes it (`MemoryRecords.withEndTransactionMarker`): a v2
/// batch at `base_offset` with the transactional and control attributes, producer id and epoch,
/// no sequence, and one control record whose key is (version 0, type 0 = ABORT / 1 = COMMIT)
/// and whose value is (version 0, `coordinator_epoch`). `timestamp_ms` is the marker's time.
pub fn control_batch(
    base_offset: i64,
    leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    timestamp_ms: i64,
) -> Bytes {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&i16::from(commit).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: leader_epoch,
        producer_id,
        producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: base_offset,
        sequence: -1,
        timestamp: timestamp_ms,
        key: Some(Bytes::from(key)),
        value: Some(Bytes::from(value)),
        headers: Default::default(),
    };
    let mut buf = BytesMut::with_capacity(80);
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    // Encoding one uncompressed record into memory has no failure mode.
    RecordBatchEncoder::encode(&mut buf, std::iter::once(&record), &opts)
        .expect("an uncompressed control batch encodes");
    buf.freeze()
}

/// What validation needs of one record of an uncompressed records section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordInfo {
    /// `offsetDelta`: the record's offset minus the batch's `baseOffset`.
    pub offset_delta: i32,
    /// `timestampDelta`: the record's timestamp minus the batch's `baseTimestamp`, ms.
    pub timestamp_delta: i64,
    /// Bytes of the key; -1 for a null key.
    pub key_len: i32,
    /// Bytes of the value; -1 for a null value.
    pub value_len: i32,
    /// Where the whole record (its length prefix included) lies in the records section:
    /// `span.0..span.1`.
    pub span: (usize, usize),
    /// Where the key's bytes start in the records section (`key_len` of them).
    pub key_pos: usize,
}

impl RecordInfo {
    /// The key's bytes within `raw` (the records section this was read from); `None` if null.
    pub fn key<'a>(&self, raw: &'a [u8]) -> Option<&'a [u8]> {
        (self.key_len >= 0).then(|| &raw[self.key_pos..self.key_pos + self.key_len as usize])
    }
}

/// A cursor over zig-zag varints, as the v2 record format encodes its fields.
struct Varints<'a> {
    buf: &'a [u8],
    pos: usize,
}

const BAD_RECORD: BatchError = BatchError::Invalid("Found invalid record structure");

impl Varints<'_> {
    fn varlong(&mut self) -> Result<i64, BatchError> {
        let mut raw: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or(BAD_RECORD)?;
            self.pos += 1;
            raw |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err(BAD_RECORD)
    }
    fn varint(&mut self) -> Result<i32, BatchError> {
        i32::try_from(self.varlong()?).map_err(|_| BAD_RECORD)
    }
    fn skip(&mut self, n: usize) -> Result<(), BatchError> {
        if self.buf.len() - self.pos < n {
            return Err(BAD_RECORD);
        }
        self.pos += n;
        Ok(())
    }
    /// A length-prefixed field (-1 = null); returns its length.
    fn field(&mut self) -> Result<i32, BatchError> {
        let len = self.varint()?;
        if len < -1 {
            return Err(BAD_RECORD);
        }
        self.skip(len.max(0) as usize)?;
        Ok(len)
    }
}

/// Reads the `count` records of an uncompressed records section, checking that each record's
/// fields fill exactly its declared size and that the records fill exactly the section
/// (Kafka's `DefaultRecord.readFrom` rules; a mismatch is INVALID_RECORD).
pub fn read_records(raw: &[u8], count: i32) -> Result<Vec<RecordInfo>, BatchError> {
    let mut out = Vec::with_capacity(count.clamp(0, 1 << 16) as usize);
    let mut c = Varints { buf: raw, pos: 0 };
    for _ in 0..count {
        let start = c.pos;
        let size = c.varint()?;
        if size < 0 || raw.len() - c.pos < size as usize {
            return Err(BAD_RECORD);
        }
        let end = c.pos + size as usize;
        let mut r = Varints {
            buf: &raw[..end],
            pos: c.pos,
        };
        r.skip(1)?; // attributes
        let timestamp_delta = r.varlong()?;
        let offset_delta = r.varint()?;
        let key_len = r.field()?;
        let key_pos = r.pos - key_len.max(0) as usize;
        let value_len = r.field()?;
        let headers = r.varint()?;
        if headers < 0 {
            return Err(BAD_RECORD);
        }
        for _ in 0..headers {
            if r.field()? < 0 {
                return Err(BatchError::Invalid("Invalid negative header key size"));
            }
            r.field()?;
        }
        if r.pos != end {
            return Err(BatchError::Invalid("record size does not match its fields"));
        }
        c.pos = end;
        out.push(RecordInfo {
            offset_delta,
            timestamp_delta,
            key_len,
            value_len,
            span: (start, end),
            key_pos,
        });
    }
    if c.pos != raw.len() {
        return Err(BatchError::Invalid(
            "Incorrect declared batch size, records still remaining in file",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, TimestampType};

    fn encode(n: i64, compression: Compression) -> Bytes {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                producer_id: 7,
                producer_epoch: 1,
                sequence: i as i32,
                key: Some(Bytes::from(format!("k{i}"))),
                ..crate::testing::record(i, 1_000 + i, format!("v{i}").as_bytes())
            })
            .collect();
        crate::testing::encode(&records, compression).freeze()
    }

    #[test]
    fn parses_and_validates_a_client_batch() {
        let b = encode(5, Compression::Lz4);
        let h = BatchHeader::parse_validated(&b).unwrap();
        assert_eq!(h.total_len, b.len());
        assert_eq!(h.records_count, 5);
        assert_eq!(h.offset_count(), 5);
        assert_eq!(h.producer_id, 7);
        assert_eq!(h.producer_epoch, 1);
        assert_eq!(h.base_sequence, 0);
        assert_eq!(h.max_timestamp, 1_004);
        assert_eq!(h.compression(), 3);
    }

    #[test]
    fn corrupt_crc_is_detected() {
        let mut b = BytesMut::from(&encode(3, Compression::None)[..]);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert!(matches!(
            BatchHeader::parse_validated(&b),
            Err(BatchError::Crc { .. })
        ));
    }

    #[test]
    fn truncated_and_bad_magic_are_errors_not_panics() {
        let b = encode(3, Compression::None);
        for cut in 0..b.len() {
            assert!(
                BatchHeader::parse_validated(&b[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut m = BytesMut::from(&b[..]);
        m[16] = 1;
        assert_eq!(BatchHeader::parse(&m), Err(BatchError::Magic(1)));
        let mut short = BytesMut::from(&b[..]);
        short[8..12].copy_from_slice(&5i32.to_be_bytes());
        assert!(BatchHeader::parse(&short).is_err());
    }

    #[test]
    fn patching_base_offset_keeps_the_batch_valid_and_readable() {
        let mut all = BytesMut::new();
        all.extend_from_slice(&encode(2, Compression::Zstd));
        all.extend_from_slice(&encode(3, Compression::None));
        let split = split_produced(&all.clone().freeze()).unwrap();
        assert_eq!(split.len(), 2);
        let second_at = split[0].1.total_len;
        patch_base_offset(&mut all[..], 100, 4);
        patch_base_offset(&mut all[second_at..], 102, 4);
        let mut bytes = all.freeze();
        let sets = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
        let offsets: Vec<i64> = sets
            .iter()
            .flat_map(|s| s.records.iter().map(|r| r.offset))
            .collect();
        assert_eq!(offsets, vec![100, 101, 102, 103, 104]);
    }

    #[test]
    fn log_append_time_stamp_recomputes_crc() {
        let mut b = BytesMut::from(&encode(2, Compression::None)[..]);
        stamp_log_append_time(&mut b, 42_000);
        let h = BatchHeader::parse_validated(&b).unwrap();
        assert_eq!(h.max_timestamp, 42_000);
        assert_ne!(h.attributes & ATTR_LOG_APPEND_TIME, 0);
        let mut bytes = b.freeze();
        let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
        // Clients read a LogAppendTime batch's maxTimestamp as every record's timestamp.
        assert!(set
            .records
            .iter()
            .all(|r| r.timestamp_type == TimestampType::LogAppend));
    }

    #[test]
    fn batch_iter_stops_at_partial_tail() {
        let mut all = BytesMut::new();
        all.extend_from_slice(&encode(2, Compression::None));
        let one = all.len();
        all.extend_from_slice(&encode(2, Compression::None));
        let items: Vec<_> = BatchIter::new(&all[..one + 10]).collect();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].as_ref().unwrap().0, 0);
    }

    #[test]
    fn recompression_keeps_every_field_but_the_codec() {
        let src = encode(50, Compression::Lz4);
        let h = BatchHeader::parse_validated(&src).unwrap();
        let raw = compression::decompress(Codec::Lz4, records_section(&src, &h), 1 << 20).unwrap();
        let infos = read_records(&raw, h.records_count).unwrap();
        assert_eq!(infos.len(), 50);
        assert_eq!(infos[7].offset_delta, 7);
        assert_eq!(infos[7].timestamp_delta, 7);
        assert_eq!((infos[7].key_len, infos[7].value_len), (2, 2));
        let out = rebuild(&src, &raw, Codec::Zstd, Some(10)).unwrap();
        let h2 = BatchHeader::parse_validated(&out).unwrap();
        assert_eq!(h2.compression(), Codec::Zstd.id());
        assert_eq!(
            (
                h2.producer_id,
                h2.producer_epoch,
                h2.base_sequence,
                h2.records_count
            ),
            (
                h.producer_id,
                h.producer_epoch,
                h.base_sequence,
                h.records_count
            )
        );
        assert_eq!(
            (h2.base_timestamp, h2.max_timestamp),
            (h.base_timestamp, h.max_timestamp)
        );
        let mut a = src.clone();
        let mut b = out.freeze();
        let (a, b) = (
            RecordBatchDecoder::decode(&mut a).unwrap(),
            RecordBatchDecoder::decode(&mut b).unwrap(),
        );
        assert_eq!(b.compression, Compression::Zstd);
        assert_eq!(a.records, b.records);
    }

    #[test]
    fn malformed_records_are_errors_not_panics() {
        let src = encode(3, Compression::None);
        let h = BatchHeader::parse(&src).unwrap();
        let raw = records_section(&src, &h);
        assert_eq!(read_records(raw, 3).unwrap().len(), 3);
        assert!(read_records(raw, 2).is_err(), "bytes left over");
        assert!(read_records(raw, 4).is_err(), "a record missing");
        for cut in 0..raw.len() {
            assert!(read_records(&raw[..cut], 3).is_err(), "cut at {cut}");
        }
        let mut bad = raw.to_vec();
        bad[0] = 0x7f; // a record size past the end
        assert!(read_records(&bad, 3).is_err());
    }
}
