//! Just enough of a Kafka client for the load generator: size-prefixed frames, correlation ids,
//! the ApiVersions handshake, and the three admin calls the bench needs (CreateTopics, Metadata,
//! ListOffsets).
//!
//! A [`Connection`] is used call-and-wait for admin traffic; the hot paths take its socket apart
//! with [`Connection::into_parts`] and pipeline on their own, reusing [`encode_request`] and
//! [`decode_response`]. Versions are negotiated per connection, as real clients do: the highest
//! version both `kafka-protocol` and the broker support.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ParseResponseErrorCode;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, ListOffsetsRequest,
    MetadataRequest, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes, VersionRange};
use sluice_protocol::frame::read_frame;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use uuid::Uuid;

/// Largest response frame accepted: a 50 MiB fetch plus headroom.
pub const MAX_RESPONSE_BYTES: usize = 256 << 20;
const CLIENT_ID: &str = "sluice-bench";
const UNSUPPORTED_VERSION: i16 = 35;
const TOPIC_ALREADY_EXISTS: i16 = 36;

/// A Kafka error code as people read it: `NOT_LEADER_OR_FOLLOWER (6)`-ish, from the crate's names.
pub fn error_name(code: i16) -> String {
    match code.err() {
        None => "NONE (0)".to_string(),
        Some(e) => format!("{} ({code})", screaming_snake(&format!("{e:?}"))),
    }
}

/// `MessageTooLarge` -> `MESSAGE_TOO_LARGE`, the spelling Kafka's documentation uses.
fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

/// The version chosen for each API: the top of the intersection of our and the broker's ranges.
#[derive(Debug, Clone, Default)]
pub struct Versions(HashMap<ApiKey, i16>);

impl Versions {
    pub fn get(&self, api: ApiKey) -> anyhow::Result<i16> {
        self.0
            .get(&api)
            .copied()
            .ok_or_else(|| anyhow!("the broker supports no version of {api:?} that we do"))
    }

    /// Like [`Versions::get`], but never above `cap`.
    pub fn get_capped(&self, api: ApiKey, cap: i16) -> anyhow::Result<i16> {
        let v = self.get(api)?;
        let min = api.valid_versions().min;
        ensure!(
            v.min(cap) >= min,
            "{api:?} would need a version below {cap}, which the broker does not serve"
        );
        Ok(v.min(cap))
    }
}

/// Encodes a request as a complete frame, size prefix included.
pub fn encode_request<M: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
    capacity_hint: usize,
) -> anyhow::Result<Bytes> {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
    let mut buf = BytesMut::with_capacity(capacity_hint.max(64));
    buf.put_i32(0);
    header.encode(&mut buf, api.request_header_version(version))?;
    body.encode(&mut buf, version)
        .with_context(|| format!("encoding {api:?} v{version}"))?;
    let size = i32::try_from(buf.len() - 4).context("request larger than 2 GiB")?;
    buf[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// Decodes a response frame (without its size prefix), checking the correlation id.
pub fn decode_response<R: Decodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    mut frame: Bytes,
) -> anyhow::Result<R> {
    let header = ResponseHeader::decode(&mut frame, api.response_header_version(version))
        .with_context(|| format!("decoding the {api:?} v{version} response header"))?;
    ensure!(
        header.correlation_id == correlation_id,
        "{api:?}: response correlation id {} where {correlation_id} was expected (responses out of order?)",
        header.correlation_id
    );
    R::decode(&mut frame, version)
        .with_context(|| format!("decoding a {api:?} v{version} response"))
}

/// One broker connection after the ApiVersions handshake.
pub struct Connection {
    pub addr: String,
    pub versions: Versions,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_correlation_id: i32,
}

/// A connection taken apart for pipelining: the read side can live in another task.
pub struct ConnectionParts {
    pub addr: String,
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
    pub next_correlation_id: i32,
}

impl Connection {
    pub async fn connect(addr: &str) -> anyhow::Result<Connection> {
        let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow!("connecting to {addr} timed out"))?
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut conn = Connection {
            addr: addr.to_string(),
            versions: Versions::default(),
            reader: BufReader::with_capacity(256 << 10, r),
            writer: w,
            next_correlation_id: 1,
        };
        conn.handshake()
            .await
            .with_context(|| format!("ApiVersions handshake with {addr}"))?;
        Ok(conn)
    }

    pub fn into_parts(self) -> ConnectionParts {
        ConnectionParts {
            addr: self.addr,
            reader: self.reader,
            writer: self.writer,
            next_correlation_id: self.next_correlation_id,
        }
    }

    async fn send<M: Encodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &M,
    ) -> anyhow::Result<i32> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let frame = encode_request(api, version, correlation_id, body, 256)?;
        self.writer
            .write_all(&frame)
            .await
            .with_context(|| format!("sending {api:?} to {}", self.addr))?;
        Ok(correlation_id)
    }

    async fn recv_frame(&mut self) -> anyhow::Result<Bytes> {
        read_frame(&mut self.reader, MAX_RESPONSE_BYTES)
            .await
            .with_context(|| format!("reading from {}", self.addr))?
            .ok_or_else(|| anyhow!("{} closed the connection", self.addr))
    }

    /// Sends one request at the negotiated version and waits for its response.
    pub async fn call<R: Request>(&mut self, req: &R) -> anyhow::Result<R::Response> {
        let api = ApiKey::try_from(R::KEY).map_err(|_| anyhow!("unknown api key {}", R::KEY))?;
        let version = self.versions.get(api)?;
        let correlation_id = self.send(api, version, req).await?;
        let frame = self.recv_frame().await?;
        decode_response(api, version, correlation_id, frame)
    }

    /// ApiVersions at our highest version; a broker that does not know it answers
    /// UNSUPPORTED_VERSION in a v0 body listing its own range, and we retry within it.
    async fn handshake(&mut self) -> anyhow::Result<()> {
        let mut version = ApiKey::ApiVersions.valid_versions().max;
        for _ in 0..2 {
            let req = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str(CLIENT_ID))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
            let correlation_id = self.send(ApiKey::ApiVersions, version, &req).await?;
            let mut frame = self.recv_frame().await?;
            // The ApiVersions response header is always v0, whatever the request version.
            let header = ResponseHeader::decode(&mut frame, 0)?;
            ensure!(
                header.correlation_id == correlation_id,
                "ApiVersions: wrong correlation id"
            );
            ensure!(frame.len() >= 2, "ApiVersions: empty response");
            let error_code = i16::from_be_bytes([frame[0], frame[1]]);
            if error_code == UNSUPPORTED_VERSION {
                let resp = ApiVersionsResponse::decode(&mut frame, 0)?;
                let theirs = resp
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                    .map(|k| k.max_version)
                    .ok_or_else(|| {
                        anyhow!(
                            "broker refused ApiVersions v{version} without saying which it serves"
                        )
                    })?;
                ensure!(
                    theirs < version,
                    "broker refused ApiVersions v{version} but claims to serve it"
                );
                version = theirs;
                continue;
            }
            let resp = ApiVersionsResponse::decode(&mut frame, version)?;
            ensure!(
                resp.error_code == 0,
                "ApiVersions failed: {}",
                error_name(resp.error_code)
            );
            for k in &resp.api_keys {
                let Ok(api) = ApiKey::try_from(k.api_key) else {
                    continue;
                };
                let both = api.valid_versions().intersect(&VersionRange {
                    min: k.min_version,
                    max: k.max_version,
                });
                if !both.is_empty() {
                    self.versions.0.insert(api, both.max);
                }
            }
            return Ok(());
        }
        bail!("no ApiVersions version agreed")
    }
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// Whether [`ensure_topic`] made the topic or found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicCreation {
    Created,
    AlreadyExisted,
}

/// CreateTopics; TOPIC_ALREADY_EXISTS counts as success.
pub async fn ensure_topic(
    conn: &mut Connection,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<TopicCreation> {
    let version = conn.versions.get(ApiKey::CreateTopics)?;
    // -1 (broker default) needs v4+ (KIP-464).
    let replication_factor = if version >= 4 { -1 } else { 1 };
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)]);
    let resp = conn.call(&req).await?;
    let result = resp
        .topics
        .iter()
        .find(|t| t.name.0.as_str() == topic)
        .ok_or_else(|| anyhow!("CreateTopics response does not mention {topic}"))?;
    match result.error_code {
        0 => Ok(TopicCreation::Created),
        TOPIC_ALREADY_EXISTS => Ok(TopicCreation::AlreadyExisted),
        code => bail!(
            "creating topic {topic}: {}{}",
            error_name(code),
            result
                .error_message
                .as_ref()
                .map(|m| format!(": {}", m.as_str()))
                .unwrap_or_default()
        ),
    }
}

/// Where a topic's partitions live.
#[derive(Debug, Clone)]
pub struct TopicLayout {
    /// Nil when the broker's Metadata version predates topic ids.
    pub id: Uuid,
    /// partition -> leader broker id.
    pub leaders: BTreeMap<i32, i32>,
    /// broker id -> host:port.
    pub brokers: HashMap<i32, String>,
}

impl TopicLayout {
    /// Partitions grouped by the address of their leader.
    pub fn by_leader(&self) -> anyhow::Result<BTreeMap<String, Vec<i32>>> {
        let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (&p, leader) in &self.leaders {
            let addr = self
                .brokers
                .get(leader)
                .ok_or_else(|| anyhow!("partition {p}: leader {leader} is not a known broker"))?;
            out.entry(addr.clone()).or_default().push(p);
        }
        Ok(out)
    }
}

/// Metadata for one topic, retried for up to `patience` until every partition has a leader (a
/// topic just created may take a moment to get them).
pub async fn topic_layout(
    conn: &mut Connection,
    topic: &str,
    patience: Duration,
) -> anyhow::Result<TopicLayout> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let req = MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(topic)))
            ]))
            .with_allow_auto_topic_creation(false);
        let resp = conn.call(&req).await?;
        let brokers: HashMap<i32, String> = resp
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
            .collect();
        let t = resp
            .topics
            .iter()
            .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(topic))
            .ok_or_else(|| anyhow!("Metadata response does not mention {topic}"))?;
        let problem = if t.error_code != 0 {
            Some(format!("topic error {}", error_name(t.error_code)))
        } else if t.partitions.is_empty() {
            Some("no partitions".to_string())
        } else {
            t.partitions.iter().find_map(|p| {
                if p.error_code != 0 {
                    Some(format!(
                        "partition {}: {}",
                        p.partition_index,
                        error_name(p.error_code)
                    ))
                } else if !brokers.contains_key(&p.leader_id.0) {
                    Some(format!("partition {}: no leader", p.partition_index))
                } else {
                    None
                }
            })
        };
        match problem {
            None => {
                return Ok(TopicLayout {
                    id: t.topic_id,
                    leaders: t
                        .partitions
                        .iter()
                        .map(|p| (p.partition_index, p.leader_id.0))
                        .collect(),
                    brokers,
                })
            }
            Some(why) if tokio::time::Instant::now() >= deadline => {
                bail!("topic {topic} is not usable: {why}")
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// ListOffsets timestamps with a special meaning.
pub const EARLIEST: i64 = -2;
pub const LATEST: i64 = -1;

/// ListOffsets for `partitions` of `topic` (read-uncommitted, so LATEST is the high watermark).
pub async fn list_offsets(
    conn: &mut Connection,
    topic: &str,
    partitions: &[i32],
    timestamp: i64,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let req = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_isolation_level(0)
        .with_timeout_ms(30_000)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&p| {
                        ListOffsetsPartition::default()
                            .with_partition_index(p)
                            .with_current_leader_epoch(-1)
                            .with_timestamp(timestamp)
                    })
                    .collect(),
            )]);
    let resp = conn.call(&req).await?;
    let mut out = BTreeMap::new();
    for t in &resp.topics {
        for p in &t.partitions {
            ensure!(
                p.error_code == 0,
                "ListOffsets {topic}/{}: {}",
                p.partition_index,
                error_name(p.error_code)
            );
            out.insert(p.partition_index, p.offset);
        }
    }
    for p in partitions {
        ensure!(
            out.contains_key(p),
            "ListOffsets did not answer for {topic}/{p}"
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_read_like_kafka_docs() {
        assert_eq!(error_name(0), "NONE (0)");
        assert_eq!(error_name(10), "MESSAGE_TOO_LARGE (10)");
        assert_eq!(error_name(6), "NOT_LEADER_OR_FOLLOWER (6)");
    }

    #[test]
    fn requests_round_trip_through_the_frame_encoder() {
        let req = MetadataRequest::default().with_allow_auto_topic_creation(false);
        let frame = encode_request(ApiKey::Metadata, 12, 7, &req, 0).unwrap();
        let size = i32::from_be_bytes(frame[0..4].try_into().unwrap()) as usize;
        assert_eq!(size, frame.len() - 4);
        let decoded = sluice_protocol::codec::decode_request(frame.slice(4..)).unwrap();
        assert_eq!(
            (decoded.api, decoded.version, decoded.header.correlation_id),
            (ApiKey::Metadata, 12, 7)
        );
    }
}
