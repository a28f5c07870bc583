//! Wire lengths checked against the bytes that remain, before anything is decoded.
//!
//! `kafka-protocol` sizes a decoded array with `Vec::with_capacity(n)`, `n` straight from the
//! wire: a 13-byte Metadata request claiming 2^31 topics would make it ask for ~150 GB before it
//! finds out the topics are not there. [`check_request_body`] walks a request body by its
//! message schema first and refuses any array, string or bytes field whose claimed length
//! exceeds the bytes left in the frame, so every allocation the decoder then makes is backed by
//! bytes actually received (a request costs at most a small multiple of its own size). It holds
//! in every build and every test, unlike an allocator trick, and names the field at fault.
//!
//! The schemas are Apache Kafka's own request definitions (`common/message/*Request.json` in
//! the `kafka-clients` jar), reduced by `schemas/generate.py` to names, types and version
//! ranges and embedded in the binary (`schemas/requests.json`). They are parsed once, on first
//! use. Hand-written because no crate exposes Kafka's schemas at run time; `kafka-protocol`
//! only generates code from them.
//!
//! The walk follows Kafka's `MessageDataGenerator` encoding: in flexible versions strings,
//! bytes and arrays have unsigned-varint lengths plus one (0 = null) and every struct ends with
//! a tagged-field buffer; otherwise strings have an int16 length, bytes and arrays an int32
//! (-1 = null); a nullable struct is preceded by an int8 (-1 = null). Trailing bytes and
//! type-level problems (a null where none is allowed, an unknown enum value...) are left to the
//! decoder, which refuses them with its own error.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// Why a request body was refused before decoding. Display names the message, version and
/// field path (`FetchRequest v12: Topics[0].Partitions: ...`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BoundsError {
    /// A length prefix claims more elements or bytes than remain in the frame.
    #[error("{path}: {claimed} {unit} claimed, {remaining} bytes remain")]
    TooLong {
        /// Where, e.g. `MetadataRequest v0: Topics`.
        path: String,
        /// The claimed element or byte count.
        claimed: u64,
        /// `elements` or `bytes`.
        unit: &'static str,
        /// Bytes left in the frame after the length prefix.
        remaining: usize,
    },
    /// A length below -1 (or below 0 where null is not encodable).
    #[error("{path}: negative length {len}")]
    NegativeLength {
        /// Where.
        path: String,
        /// The length read.
        len: i64,
    },
    /// The frame ends inside a fixed-size field or a length prefix.
    #[error("{path}: frame ends inside the field")]
    Truncated {
        /// Where.
        path: String,
    },
    /// An unsigned varint longer than 5 bytes.
    #[error("{path}: malformed varint")]
    BadVarint {
        /// Where.
        path: String,
    },
    /// No schema for this API key and version (the caller refuses such requests earlier; this
    /// is a bug if seen).
    #[error("no schema for api key {api_key} v{version}")]
    NoSchema {
        /// The request's API key.
        api_key: i16,
        /// The request's version.
        version: i16,
    },
}

impl BoundsError {
    /// Prefixes the path with the message name and version: `FetchRequest v12: Topics`.
    fn in_message(mut self, name: &str, version: i16) -> Self {
        if let Some(path) = self.path_mut() {
            *path = if path.is_empty() {
                format!("{name} v{version}")
            } else {
                format!("{name} v{version}: {path}")
            };
        }
        self
    }

    /// Prefixes the path with `outer`, the enclosing field (`Topics`) or element (`[3]`).
    fn within(mut self, outer: &str) -> Self {
        if let Some(path) = self.path_mut() {
            *path = if path.is_empty() {
                outer.to_string()
            } else if path.starts_with('[') {
                format!("{outer}{path}")
            } else {
                format!("{outer}.{path}")
            };
        }
        self
    }

    fn path_mut(&mut self) -> Option<&mut String> {
        match self {
            BoundsError::TooLong { path, .. }
            | BoundsError::NegativeLength { path, .. }
            | BoundsError::Truncated { path }
            | BoundsError::BadVarint { path } => Some(path),
            BoundsError::NoSchema { .. } => None,
        }
    }
}

/// Checks every length in a request body (the bytes after the request header) of API
/// `api_key` at `version` against the bytes that remain.
///
/// # Errors
/// [`BoundsError`] naming the first field whose length cannot be satisfied, or
/// [`BoundsError::NoSchema`] for an API key or version Kafka does not define.
pub fn check_request_body(api_key: i16, version: i16, body: &[u8]) -> Result<(), BoundsError> {
    walk(api_key, version, body).map(drop)
}

/// Walks `body` as [`check_request_body`] does; returns the bytes after the message.
fn walk(api_key: i16, version: i16, body: &[u8]) -> Result<&[u8], BoundsError> {
    let Some(message) = schemas()
        .get(&api_key)
        .filter(|m| m.valid.contains(version))
    else {
        return Err(BoundsError::NoSchema { api_key, version });
    };
    let mut r = Reader {
        buf: body,
        flexible: message.flexible.contains(version),
        version,
    };
    r.walk_struct(&message.body)
        .map_err(|e| e.in_message(&message.name, version))?;
    Ok(r.buf)
}

/// The bytes of the schema file and the kafka-clients release it came from.
const SCHEMAS_JSON: &str = include_str!("../schemas/requests.json");

/// An inclusive version range; `min > max` for "none".
#[derive(Debug, Clone, Copy)]
struct Versions {
    min: i16,
    max: i16,
}

impl Versions {
    const NONE: Versions = Versions { min: 1, max: 0 };

    /// Parses Kafka's version syntax: `none`, `N`, `N+`, `N-M`.
    fn parse(s: Option<&str>) -> Versions {
        let Some(s) = s.map(str::trim) else {
            return Versions::NONE;
        };
        let num = |t: &str| t.trim().parse::<i16>().expect("schema version");
        if s.is_empty() || s == "none" {
            Versions::NONE
        } else if let Some(min) = s.strip_suffix('+') {
            Versions {
                min: num(min),
                max: i16::MAX,
            }
        } else if let Some((min, max)) = s.split_once('-') {
            Versions {
                min: num(min),
                max: num(max),
            }
        } else {
            Versions {
                min: num(s),
                max: num(s),
            }
        }
    }

    fn contains(self, v: i16) -> bool {
        self.min <= v && v <= self.max
    }
}

#[derive(Debug)]
enum Ty {
    /// A fixed-size value of this many bytes (bool, intN, uintN, float64, uuid).
    Fixed(usize),
    /// `string`: int16 or compact length.
    String,
    /// `bytes` and `records`: int32 or compact length.
    Bytes,
    Array(Box<Ty>),
    Struct(Box<StructDef>),
}

#[derive(Debug)]
struct Field {
    name: String,
    ty: Ty,
    versions: Versions,
    nullable: Versions,
    tagged: Versions,
    tag: Option<u32>,
}

#[derive(Debug)]
struct StructDef {
    fields: Vec<Field>,
}

#[derive(Debug)]
struct Message {
    name: String,
    valid: Versions,
    flexible: Versions,
    body: StructDef,
}

#[derive(Deserialize)]
struct SchemaDoc {
    messages: Vec<MessageSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageSpec {
    api_key: i16,
    name: String,
    valid_versions: String,
    flexible_versions: String,
    fields: Vec<FieldSpec>,
    common_structs: Vec<StructSpec>,
}

#[derive(Deserialize)]
struct StructSpec {
    name: String,
    fields: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FieldSpec {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    versions: String,
    nullable_versions: Option<String>,
    tagged_versions: Option<String>,
    tag: Option<u32>,
    fields: Option<Vec<FieldSpec>>,
}

fn schemas() -> &'static HashMap<i16, Message> {
    static SCHEMAS: OnceLock<HashMap<i16, Message>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let doc: SchemaDoc = serde_json::from_str(SCHEMAS_JSON).expect("embedded schemas parse");
        doc.messages
            .into_iter()
            .map(|m| {
                let common: HashMap<&str, &[FieldSpec]> = m
                    .common_structs
                    .iter()
                    .map(|s| (s.name.as_str(), s.fields.as_slice()))
                    .collect();
                let message = Message {
                    valid: Versions::parse(Some(&m.valid_versions)),
                    flexible: Versions::parse(Some(&m.flexible_versions)),
                    body: compile_struct(&m.fields, &common),
                    name: m.name,
                };
                (m.api_key, message)
            })
            .collect()
    })
}

fn compile_struct(fields: &[FieldSpec], common: &HashMap<&str, &[FieldSpec]>) -> StructDef {
    StructDef {
        fields: fields
            .iter()
            .map(|f| Field {
                name: f.name.clone(),
                ty: compile_type(&f.ty, f.fields.as_deref(), common),
                versions: Versions::parse(Some(&f.versions)),
                nullable: Versions::parse(f.nullable_versions.as_deref()),
                tagged: Versions::parse(f.tagged_versions.as_deref()),
                tag: f.tag,
            })
            .collect(),
    }
}

fn compile_type(
    ty: &str,
    inline: Option<&[FieldSpec]>,
    common: &HashMap<&str, &[FieldSpec]>,
) -> Ty {
    if let Some(elem) = ty.strip_prefix("[]") {
        return Ty::Array(Box::new(compile_type(elem, inline, common)));
    }
    match ty {
        "bool" | "int8" => Ty::Fixed(1),
        "int16" | "uint16" => Ty::Fixed(2),
        "int32" | "uint32" => Ty::Fixed(4),
        "int64" | "float64" => Ty::Fixed(8),
        "uuid" => Ty::Fixed(16),
        "string" => Ty::String,
        "bytes" | "records" => Ty::Bytes,
        name => {
            let fields = inline
                .or_else(|| common.get(name).copied())
                .unwrap_or_else(|| panic!("schema names unknown struct {name}"));
            Ty::Struct(Box::new(compile_struct(fields, common)))
        }
    }
}

/// A cursor over the body; errors carry an empty path that callers extend on the way out.
struct Reader<'a> {
    buf: &'a [u8],
    flexible: bool,
    version: i16,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], BoundsError> {
        if n > self.buf.len() {
            return Err(BoundsError::Truncated {
                path: String::new(),
            });
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn int(&mut self, n: usize) -> Result<i64, BoundsError> {
        let b = self.take(n)?;
        Ok(match n {
            1 => i8::from_be_bytes([b[0]]) as i64,
            2 => i16::from_be_bytes([b[0], b[1]]) as i64,
            _ => i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i64,
        })
    }

    fn uvarint(&mut self) -> Result<u64, BoundsError> {
        let mut value = 0u64;
        for i in 0..5 {
            let [b] = self.take(1)? else { unreachable!() };
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(BoundsError::BadVarint {
            path: String::new(),
        })
    }

    /// A length prefix: compact (varint - 1) in flexible versions, else `classic_width` bytes.
    /// `None` for null.
    fn length(&mut self, classic_width: usize) -> Result<Option<u64>, BoundsError> {
        let len = if self.flexible {
            self.uvarint()? as i64 - 1
        } else {
            self.int(classic_width)?
        };
        match len {
            -1 => Ok(None),
            n if n < -1 => Err(BoundsError::NegativeLength {
                path: String::new(),
                len: n,
            }),
            n => Ok(Some(n as u64)),
        }
    }

    fn bounded(&self, claimed: u64, unit: &'static str) -> Result<(), BoundsError> {
        if claimed > self.buf.len() as u64 {
            return Err(BoundsError::TooLong {
                path: String::new(),
                claimed,
                unit,
                remaining: self.buf.len(),
            });
        }
        Ok(())
    }

    fn walk_struct(&mut self, s: &StructDef) -> Result<(), BoundsError> {
        let v = self.version;
        for f in &s.fields {
            if !f.versions.contains(v) || f.tagged.contains(v) {
                continue;
            }
            self.walk_type(&f.ty, f.nullable.contains(v))
                .map_err(|e| e.within(&f.name))?;
        }
        if self.flexible {
            self.walk_tagged_fields(s)?;
        }
        Ok(())
    }

    fn walk_tagged_fields(&mut self, s: &StructDef) -> Result<(), BoundsError> {
        let count = self.uvarint().map_err(|e| e.within("_tagged_fields"))?;
        // Each tagged field takes at least two bytes, so the loop ends with the frame.
        for _ in 0..count {
            let tag = self.uvarint().map_err(|e| e.within("_tagged_fields"))?;
            let size = self.uvarint().map_err(|e| e.within("_tagged_fields"))?;
            self.bounded(size, "bytes")
                .map_err(|e| e.within(&format!("_tagged_fields[{tag}]")))?;
            let (window, rest) = self.buf.split_at(size as usize);
            let known = s
                .fields
                .iter()
                .find(|f| f.tagged.contains(self.version) && f.tag.map(u64::from) == Some(tag));
            if let Some(f) = known {
                let mut inner = Reader {
                    buf: window,
                    flexible: self.flexible,
                    version: self.version,
                };
                inner
                    .walk_type(&f.ty, f.nullable.contains(self.version))
                    .map_err(|e| e.within(&f.name))?;
            }
            self.buf = rest;
        }
        Ok(())
    }

    fn walk_type(&mut self, ty: &Ty, nullable: bool) -> Result<(), BoundsError> {
        match ty {
            Ty::Fixed(n) => self.take(*n).map(drop),
            Ty::String | Ty::Bytes => {
                let width = if matches!(ty, Ty::String) { 2 } else { 4 };
                if let Some(len) = self.length(width)? {
                    self.bounded(len, "bytes")?;
                    self.take(len as usize)?;
                }
                Ok(())
            }
            Ty::Array(elem) => {
                let Some(n) = self.length(4)? else {
                    return Ok(());
                };
                // Every element takes at least one byte on the wire.
                self.bounded(n, "elements")?;
                for i in 0..n {
                    self.walk_type(elem, false)
                        .map_err(|e| e.within(&format!("[{i}]")))?;
                }
                Ok(())
            }
            Ty::Struct(s) => {
                if nullable && self.int(1)? < 0 {
                    return Ok(());
                }
                self.walk_struct(s)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versions::{api_versions, supported_range, STREAMS_VERSIONS};
    use bytes::BytesMut;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Encodable, StrBytes};
    use uuid::Uuid;

    /// Every (API, version) served through `kafka-protocol`.
    fn served() -> Vec<(ApiKey, i16)> {
        api_versions()
            .into_iter()
            .filter_map(|av| ApiKey::try_from(av.api_key).ok())
            .flat_map(|api| {
                let r = supported_range(api).expect("served");
                (r.min..=r.max).map(move |v| (api, v))
            })
            .collect()
    }

    #[test]
    fn every_served_version_has_a_schema() {
        for (api, v) in served() {
            let m = schemas().get(&(api as i16)).expect("schema");
            assert!(m.valid.contains(v), "{api:?} v{v} not in {:?}", m.valid);
        }
        for (key, min, max) in STREAMS_VERSIONS {
            for v in *min..=*max {
                assert!(schemas()[key].valid.contains(v));
            }
        }
    }

    /// Encodes `body` at `version` and checks that the walk accepts it and reads it to the end
    /// (a version range or field order out of step with the codec's would leave bytes over or
    /// run out).
    fn walks_exactly<M: Encodable>(api: ApiKey, version: i16, body: &M) {
        let mut buf = BytesMut::new();
        body.encode(&mut buf, version).expect("encodes");
        assert_walked_exactly(api, version, &buf);
    }

    fn assert_walked_exactly(api: ApiKey, version: i16, body: &[u8]) {
        let rest = walk(api as i16, version, body).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            rest.is_empty(),
            "{api:?} v{version}: {} bytes left",
            rest.len()
        );
    }

    #[test]
    fn encoded_requests_are_walked_to_their_last_byte() {
        let name = |s: &str| StrBytes::from_string(s.into());
        for v in 0..=13 {
            let topic = metadata_request::MetadataRequestTopic::default()
                .with_name(Some(name("t").into()))
                .with_topic_id(Uuid::from_u128(9));
            walks_exactly(
                ApiKey::Metadata,
                v,
                &MetadataRequest::default().with_topics(Some(vec![topic.clone(), topic])),
            );
        }
        for v in 4..=17 {
            let partition = fetch_request::FetchPartition::default()
                .with_partition(3)
                .with_fetch_offset(7);
            let topic = fetch_request::FetchTopic::default()
                .with_topic(name("t").into())
                .with_topic_id(Uuid::from_u128(9))
                .with_partitions(vec![partition.clone(), partition]);
            let mut req = FetchRequest::default().with_topics(vec![topic]);
            if v >= 12 {
                req = req.with_cluster_id(Some(name("cluster")));
            }
            walks_exactly(ApiKey::Fetch, v, &req);
        }
        for v in 3..=13 {
            let data = produce_request::PartitionProduceData::default()
                .with_index(1)
                .with_records(Some(bytes::Bytes::from_static(&[1, 2, 3, 4, 5])));
            let topic = produce_request::TopicProduceData::default()
                .with_name(name("t").into())
                .with_topic_id(Uuid::from_u128(9))
                .with_partition_data(vec![data]);
            walks_exactly(
                ApiKey::Produce,
                v,
                &ProduceRequest::default()
                    .with_acks(-1)
                    .with_topic_data(vec![topic]),
            );
        }
        for v in 2..=9 {
            let p = offset_commit_request::OffsetCommitRequestPartition::default()
                .with_committed_metadata(Some(name("m")));
            let t = offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(name("t").into())
                .with_partitions(vec![p]);
            walks_exactly(
                ApiKey::OffsetCommit,
                v,
                &OffsetCommitRequest::default()
                    .with_group_id(name("g").into())
                    .with_topics(vec![t]),
            );
        }
    }

    #[test]
    fn every_served_request_with_default_fields_is_walked_to_its_last_byte() {
        for (api, v) in served() {
            let mut buf = BytesMut::new();
            default_request(api)
                .encode(&mut buf, v)
                .unwrap_or_else(|e| panic!("{api:?} v{v}: {e}"));
            assert_walked_exactly(api, v, &buf);
        }
    }

    /// A request of `api` with every field at its default.
    fn default_request(api: ApiKey) -> RequestKind {
        match api {
            ApiKey::Produce => RequestKind::Produce(Default::default()),
            ApiKey::Fetch => RequestKind::Fetch(Default::default()),
            ApiKey::ListOffsets => RequestKind::ListOffsets(Default::default()),
            ApiKey::Metadata => RequestKind::Metadata(Default::default()),
            ApiKey::ApiVersions => RequestKind::ApiVersions(Default::default()),
            ApiKey::CreateTopics => RequestKind::CreateTopics(Default::default()),
            ApiKey::DeleteTopics => RequestKind::DeleteTopics(Default::default()),
            ApiKey::DeleteRecords => RequestKind::DeleteRecords(Default::default()),
            ApiKey::CreatePartitions => RequestKind::CreatePartitions(Default::default()),
            ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(Default::default()),
            ApiKey::IncrementalAlterConfigs => {
                RequestKind::IncrementalAlterConfigs(Default::default())
            }
            ApiKey::DescribeCluster => RequestKind::DescribeCluster(Default::default()),
            ApiKey::InitProducerId => RequestKind::InitProducerId(Default::default()),
            ApiKey::DescribeProducers => RequestKind::DescribeProducers(Default::default()),
            ApiKey::SaslHandshake => RequestKind::SaslHandshake(Default::default()),
            ApiKey::SaslAuthenticate => RequestKind::SaslAuthenticate(Default::default()),
            ApiKey::DescribeUserScramCredentials => {
                RequestKind::DescribeUserScramCredentials(Default::default())
            }
            ApiKey::AlterUserScramCredentials => {
                RequestKind::AlterUserScramCredentials(Default::default())
            }
            ApiKey::CreateAcls => RequestKind::CreateAcls(Default::default()),
            ApiKey::DescribeAcls => RequestKind::DescribeAcls(Default::default()),
            ApiKey::DeleteAcls => RequestKind::DeleteAcls(Default::default()),
            ApiKey::FindCoordinator => RequestKind::FindCoordinator(Default::default()),
            ApiKey::ShareGroupHeartbeat => RequestKind::ShareGroupHeartbeat(Default::default()),
            ApiKey::ShareGroupDescribe => RequestKind::ShareGroupDescribe(Default::default()),
            ApiKey::ShareFetch => RequestKind::ShareFetch(Default::default()),
            ApiKey::ShareAcknowledge => RequestKind::ShareAcknowledge(Default::default()),
            ApiKey::DescribeShareGroupOffsets => {
                RequestKind::DescribeShareGroupOffsets(Default::default())
            }
            ApiKey::AlterShareGroupOffsets => {
                RequestKind::AlterShareGroupOffsets(Default::default())
            }
            ApiKey::DeleteShareGroupOffsets => {
                RequestKind::DeleteShareGroupOffsets(Default::default())
            }
            ApiKey::JoinGroup => RequestKind::JoinGroup(Default::default()),
            ApiKey::SyncGroup => RequestKind::SyncGroup(Default::default()),
            ApiKey::Heartbeat => RequestKind::Heartbeat(Default::default()),
            ApiKey::LeaveGroup => RequestKind::LeaveGroup(Default::default()),
            ApiKey::OffsetCommit => RequestKind::OffsetCommit(Default::default()),
            ApiKey::OffsetFetch => RequestKind::OffsetFetch(Default::default()),
            ApiKey::OffsetDelete => RequestKind::OffsetDelete(Default::default()),
            ApiKey::ListGroups => RequestKind::ListGroups(Default::default()),
            ApiKey::DescribeGroups => RequestKind::DescribeGroups(Default::default()),
            ApiKey::DeleteGroups => RequestKind::DeleteGroups(Default::default()),
            ApiKey::ConsumerGroupHeartbeat => {
                RequestKind::ConsumerGroupHeartbeat(Default::default())
            }
            ApiKey::ConsumerGroupDescribe => RequestKind::ConsumerGroupDescribe(Default::default()),
            ApiKey::AlterConfigs => RequestKind::AlterConfigs(Default::default()),
            ApiKey::OffsetForLeaderEpoch => RequestKind::OffsetForLeaderEpoch(Default::default()),
            ApiKey::DescribeTopicPartitions => {
                RequestKind::DescribeTopicPartitions(Default::default())
            }
            ApiKey::DescribeLogDirs => RequestKind::DescribeLogDirs(Default::default()),
            ApiKey::DescribeQuorum => RequestKind::DescribeQuorum(Default::default()),
            ApiKey::UpdateFeatures => RequestKind::UpdateFeatures(Default::default()),
            ApiKey::ElectLeaders => RequestKind::ElectLeaders(Default::default()),
            ApiKey::AlterPartitionReassignments => {
                RequestKind::AlterPartitionReassignments(Default::default())
            }
            ApiKey::ListPartitionReassignments => {
                RequestKind::ListPartitionReassignments(Default::default())
            }
            ApiKey::DescribeClientQuotas => RequestKind::DescribeClientQuotas(Default::default()),
            ApiKey::AlterClientQuotas => RequestKind::AlterClientQuotas(Default::default()),
            ApiKey::AddPartitionsToTxn => RequestKind::AddPartitionsToTxn(Default::default()),
            ApiKey::AddOffsetsToTxn => RequestKind::AddOffsetsToTxn(Default::default()),
            ApiKey::TxnOffsetCommit => RequestKind::TxnOffsetCommit(Default::default()),
            ApiKey::EndTxn => RequestKind::EndTxn(Default::default()),
            ApiKey::WriteTxnMarkers => RequestKind::WriteTxnMarkers(Default::default()),
            ApiKey::ListTransactions => RequestKind::ListTransactions(Default::default()),
            ApiKey::DescribeTransactions => RequestKind::DescribeTransactions(Default::default()),
            other => panic!("{other:?} is not served"),
        }
    }

    #[test]
    fn a_length_beyond_the_frame_is_refused_naming_the_field() {
        // Metadata v0 claiming 2^31-1 topics, with nothing after the count.
        let body = i32::MAX.to_be_bytes();
        assert_eq!(
            check_request_body(ApiKey::Metadata as i16, 0, &body),
            Err(BoundsError::TooLong {
                path: "MetadataRequest v0: Topics".into(),
                claimed: i32::MAX as u64,
                unit: "elements",
                remaining: 0,
            })
        );
        // Fetch v12 (flexible): one topic whose partitions array claims 2^28 elements.
        let mut body = vec![];
        body.extend_from_slice(&(-1i32).to_be_bytes()); // replica id
        body.extend_from_slice(&[0; 4 + 4 + 4 + 1 + 4 + 4]); // max wait .. session epoch
        body.push(2); // topics: 1
        body.extend_from_slice(&[2, b't']); // topic name "t"
        body.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x01]); // partitions: 2^28 - 1
        let e = check_request_body(ApiKey::Fetch as i16, 12, &body).unwrap_err();
        assert_eq!(
            e.to_string(),
            "FetchRequest v12: Topics[0].Partitions: 268435455 elements claimed, 0 bytes remain"
        );
        // A string longer than the frame.
        let mut body = vec![0, 0, 0, 1];
        body.extend_from_slice(&1000i16.to_be_bytes());
        body.extend_from_slice(b"abc");
        assert_eq!(
            check_request_body(ApiKey::Metadata as i16, 0, &body)
                .unwrap_err()
                .to_string(),
            "MetadataRequest v0: Topics[0].Name: 1000 bytes claimed, 3 bytes remain"
        );
        // Negative lengths other than null.
        let body = (-2i32).to_be_bytes();
        assert!(matches!(
            check_request_body(ApiKey::Metadata as i16, 0, &body),
            Err(BoundsError::NegativeLength { len: -2, .. })
        ));
    }

    #[test]
    fn tagged_fields_are_bounded_and_known_ones_walked() {
        // Fetch v12 with no topics, no forgotten topics, rack "" and a tagged ClusterId (tag 0)
        // whose window is shorter than the string it claims.
        let mut body = vec![];
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&[0; 4 + 4 + 4 + 1 + 4 + 4]);
        body.extend_from_slice(&[1, 1, 1]); // topics, forgotten, rack: empty
        body.extend_from_slice(&[1, 0, 2, 20, b'x']); // one tagged field: tag 0, 2 bytes
        let e = check_request_body(ApiKey::Fetch as i16, 12, &body).unwrap_err();
        assert_eq!(
            e.to_string(),
            "FetchRequest v12: ClusterId: 19 bytes claimed, 1 bytes remain"
        );
        // An unknown tag is skipped whatever it holds; a size beyond the frame is refused.
        let mut ok = body[..body.len() - 5].to_vec();
        ok.extend_from_slice(&[1, 9, 2, 0xff, 0xff]);
        assert_eq!(check_request_body(ApiKey::Fetch as i16, 12, &ok), Ok(()));
        let mut long = body[..body.len() - 5].to_vec();
        long.extend_from_slice(&[1, 9, 50, 0]);
        assert_eq!(
            check_request_body(ApiKey::Fetch as i16, 12, &long)
                .unwrap_err()
                .to_string(),
            "FetchRequest v12: _tagged_fields[9]: 50 bytes claimed, 1 bytes remain"
        );
    }
}
