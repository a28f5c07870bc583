//! The Streams group messages (KIP-1071) against the Java client's own serializer: the vectors in
//! `tests/data/streams` come from `tests/java/clients/.../StreamsProtocolVectors.java`
//! (kafka-clients 4.4.0). Each is decoded, re-encoded byte for byte, and the "full" samples are
//! also built here field by field and encoded to the same bytes. Hostile frames (every truncation,
//! huge lengths, random corruption) must give errors, never panics.
//!
//! Regenerate the vectors: `tests/java/build.sh && java -cp "tests/java/clients/target/classes:$(cat
//! tests/java/clients/target/classpath.txt)" StreamsProtocolVectors crates/sluice-protocol/tests/data/streams`.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{GroupId, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use sluice_protocol::streams::{
    streams_group_describe_request as dreq, streams_group_describe_response as dresp,
    streams_group_heartbeat_request as hreq, streams_group_heartbeat_response as hresp,
};

fn vector(name: &str, version: i16) -> Bytes {
    let path = format!(
        "{}/tests/data/streams/{name}_v{version}.hex",
        env!("CARGO_MANIFEST_DIR")
    );
    let hex = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let hex = hex.trim();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

fn encode<M: Encodable>(m: &M, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    m.encode(&mut buf, version).unwrap();
    assert_eq!(m.compute_size(version).unwrap(), buf.len());
    buf.freeze()
}

/// Decodes `bytes` whole, checks it re-encodes to the same bytes, returns the value.
fn decode_exact<M: Decodable + Encodable + std::fmt::Debug>(bytes: &Bytes, version: i16) -> M {
    let mut buf = bytes.clone();
    let m = M::decode(&mut buf, version).unwrap();
    assert!(buf.is_empty(), "{} bytes left after {m:?}", buf.len());
    assert_eq!(&encode(&m, version), bytes, "re-encoding {m:?}");
    m
}

/// Every proper prefix fails to decode, and random corruption never panics.
fn hostile<M: Decodable + std::fmt::Debug>(bytes: &Bytes, version: i16) {
    for len in 0..bytes.len() {
        let mut buf = bytes.slice(..len);
        assert!(
            M::decode(&mut buf, version).is_err(),
            "prefix of {len} bytes decoded"
        );
    }
    let mut seed: u64 = 0x5eed ^ bytes.len() as u64;
    for _ in 0..2000 {
        let mut b = bytes.to_vec();
        for _ in 0..3 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = (seed >> 33) as usize % b.len();
            b[at] = (seed >> 20) as u8;
        }
        let _ = M::decode(&mut Bytes::from(b), version);
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn topic(v: &str) -> TopicName {
    TopicName(s(v))
}

fn hb_tasks(sub: &str, parts: &[i32]) -> hreq::TaskIds {
    hreq::TaskIds {
        subtopology_id: s(sub),
        partitions: parts.to_vec(),
        ..Default::default()
    }
}

fn heartbeat_request_full() -> hreq::StreamsGroupHeartbeatRequest {
    let cfg = hreq::KeyValue {
        key: s("cleanup.policy"),
        value: s("compact"),
        ..Default::default()
    };
    let s0 = hreq::Subtopology {
        subtopology_id: s("0"),
        source_topics: vec![topic("input")],
        source_topic_regex: vec![s("in-.*")],
        repartition_sink_topics: vec![topic("app-repartition")],
        copartition_groups: vec![hreq::CopartitionGroup {
            source_topics: vec![0],
            source_topic_regex: vec![0],
            ..Default::default()
        }],
        ..Default::default()
    };
    let s1 = hreq::Subtopology {
        subtopology_id: s("1"),
        state_changelog_topics: vec![hreq::TopicInfo {
            name: topic("app-store-changelog"),
            topic_configs: vec![cfg],
            ..Default::default()
        }],
        repartition_source_topics: vec![hreq::TopicInfo {
            name: topic("app-repartition"),
            partitions: 6,
            replication_factor: 3,
            ..Default::default()
        }],
        ..Default::default()
    };
    let offset = |offset| hreq::TaskOffset {
        subtopology_id: s("1"),
        partition: 2,
        offset,
        ..Default::default()
    };
    hreq::StreamsGroupHeartbeatRequest {
        group_id: GroupId(s("app")),
        member_id: s("member-ä"),
        member_epoch: 0,
        endpoint_information_epoch: 3,
        instance_id: Some(s("instance-1")),
        rack_id: Some(s("rack-a")),
        rebalance_timeout_ms: 300_000,
        topology: Some(hreq::Topology {
            epoch: 2,
            subtopologies: vec![s0, s1],
            ..Default::default()
        }),
        active_tasks: Some(vec![hb_tasks("0", &[0, 1]), hb_tasks("1", &[5])]),
        standby_tasks: Some(vec![]),
        warmup_tasks: Some(vec![hb_tasks("1", &[2])]),
        process_id: Some(s("7f8e1c2a-0000-4000-8000-000000000001")),
        user_endpoint: Some(hreq::Endpoint {
            host: s("localhost"),
            port: 65535,
            ..Default::default()
        }),
        client_tags: Some(vec![hreq::KeyValue {
            key: s("zone"),
            value: s("z1"),
            ..Default::default()
        }]),
        task_offsets: Some(vec![offset(1 << 40)]),
        task_end_offsets: Some(vec![offset(-1)]),
        shutdown_application: true,
        unknown_tagged_fields: BTreeMap::from([(7, Bytes::from_static(&[1, 2, 3]))]),
    }
}

fn resp_tasks(sub: &str, parts: &[i32]) -> hresp::TaskIds {
    hresp::TaskIds {
        subtopology_id: s(sub),
        partitions: parts.to_vec(),
        ..Default::default()
    }
}

fn heartbeat_response_full(version: i16) -> hresp::StreamsGroupHeartbeatResponse {
    let mut r = hresp::StreamsGroupHeartbeatResponse {
        throttle_time_ms: 5,
        member_id: s("member-ä"),
        member_epoch: 12,
        heartbeat_interval_ms: 5000,
        task_offset_interval_ms: 60_000,
        status: Some(vec![hresp::Status {
            status_code: 1,
            status_detail: s("Source topics input are missing."),
            ..Default::default()
        }]),
        active_tasks: Some(vec![resp_tasks("0", &[0, 3])]),
        standby_tasks: Some(vec![resp_tasks("1", &[1])]),
        warmup_tasks: None,
        endpoint_information_epoch: 4,
        partitions_by_user_endpoint: Some(vec![hresp::EndpointToPartitions {
            user_endpoint: hresp::Endpoint {
                host: s("h1"),
                port: 8080,
                ..Default::default()
            },
            active_partitions: vec![hresp::TopicPartition {
                topic: topic("input"),
                partitions: vec![0, 3],
                ..Default::default()
            }],
            ..Default::default()
        }]),
        ..Default::default()
    };
    if version == 0 {
        r.acceptable_recovery_lag_legacy = 10_000;
    } else {
        r.acceptable_recovery_lag = 1 << 33;
        r.topology_description_required = true;
    }
    r
}

fn describe_request_full(version: i16) -> dreq::StreamsGroupDescribeRequest {
    dreq::StreamsGroupDescribeRequest {
        group_ids: vec![GroupId(s("app-1")), GroupId(s("app-2"))],
        include_authorized_operations: true,
        include_topology_description: version >= 1,
        ..Default::default()
    }
}

fn desc_tasks(sub: &str, parts: &[i32]) -> dresp::TaskIds {
    dresp::TaskIds {
        subtopology_id: s(sub),
        partitions: parts.to_vec(),
        ..Default::default()
    }
}

fn node(name: &str, node_type: i8) -> dresp::TopologyDescriptionNode {
    dresp::TopologyDescriptionNode {
        name: s(name),
        node_type,
        ..Default::default()
    }
}

fn describe_response_full(version: i16) -> dresp::StreamsGroupDescribeResponse {
    let member = dresp::Member {
        member_id: s("m1"),
        member_epoch: 7,
        rack_id: Some(s("rack-b")),
        client_id: s("app-client"),
        client_host: s("/127.0.0.1"),
        topology_epoch: 2,
        process_id: s("p1"),
        user_endpoint: Some(dresp::Endpoint {
            host: s("h1"),
            port: 1,
            ..Default::default()
        }),
        client_tags: vec![dresp::KeyValue {
            key: s("k"),
            value: s("v"),
            ..Default::default()
        }],
        task_offsets: vec![dresp::TaskOffset {
            subtopology_id: s("0"),
            partition: 1,
            offset: 99,
            ..Default::default()
        }],
        assignment: dresp::Assignment {
            active_tasks: vec![desc_tasks("0", &[0, 1])],
            ..Default::default()
        },
        target_assignment: dresp::Assignment {
            active_tasks: vec![desc_tasks("0", &[0])],
            standby_tasks: vec![desc_tasks("1", &[2])],
            warmup_tasks: vec![desc_tasks("0", &[1])],
            ..Default::default()
        },
        ..Default::default()
    };
    let mut group = dresp::DescribedGroup {
        group_id: GroupId(s("app-1")),
        group_state: s("Stable"),
        group_epoch: 9,
        assignment_epoch: 9,
        topology: Some(dresp::Topology {
            epoch: 2,
            subtopologies: Some(vec![dresp::Subtopology {
                subtopology_id: s("0"),
                source_topics: vec![topic("input")],
                repartition_sink_topics: vec![topic("app-repartition")],
                repartition_source_topics: vec![dresp::TopicInfo {
                    name: topic("app-repartition"),
                    partitions: 6,
                    replication_factor: -1,
                    topic_configs: vec![dresp::KeyValue {
                        key: s("retention.ms"),
                        value: s("-1"),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }]),
            ..Default::default()
        }),
        members: vec![member],
        authorized_operations: 0x7fff,
        ..Default::default()
    };
    let mut missing = dresp::DescribedGroup {
        error_code: 69,
        error_message: Some(s("Group app-2 not found.")),
        group_id: GroupId(s("app-2")),
        group_state: s("Dead"),
        ..Default::default()
    };
    if version >= 1 {
        let src = dresp::TopologyDescriptionNode {
            source_topics: vec![topic("input")],
            successors: vec![s("KSTREAM-SINK-0000000001")],
            ..node("KSTREAM-SOURCE-0000000000", 1)
        };
        let sink = dresp::TopologyDescriptionNode {
            sink_topic: Some(topic("app-repartition")),
            ..node("KSTREAM-SINK-0000000001", 3)
        };
        group.topology_description = Some(dresp::TopologyDescription {
            subtopologies: vec![dresp::TopologyDescriptionSubtopology {
                subtopology_id: s("0"),
                nodes: vec![src, sink],
                ..Default::default()
            }],
            global_stores: vec![dresp::TopologyDescriptionGlobalStore {
                source: node("g-src", 1),
                processor: dresp::TopologyDescriptionNode {
                    stores: vec![s("g-store")],
                    ..node("g-proc", 2)
                },
                ..Default::default()
            }],
            ..Default::default()
        });
        group.topology_description_status = 3;
        group.assignor_name = Some(s("sticky"));
        missing.topology_description_status = 1;
    }
    dresp::StreamsGroupDescribeResponse {
        groups: vec![group, missing],
        ..Default::default()
    }
}

/// Checks one sample at one version: Java's bytes decode to `expected`, `expected` encodes to
/// Java's bytes, and no corruption of them panics.
fn check<M>(name: &str, version: i16, expected: M)
where
    M: Decodable + Encodable + PartialEq + std::fmt::Debug,
{
    let bytes = vector(name, version);
    let decoded: M = decode_exact(&bytes, version);
    assert_eq!(decoded, expected, "{name} v{version}");
    assert_eq!(encode(&expected, version), bytes, "{name} v{version}");
    hostile::<M>(&bytes, version);
}

#[test]
fn heartbeat_request_matches_the_java_client_at_every_version() {
    for v in 0..=1 {
        check("heartbeat_request_full", v, heartbeat_request_full());
        check(
            "heartbeat_request_empty",
            v,
            hreq::StreamsGroupHeartbeatRequest::default(),
        );
    }
}

#[test]
fn heartbeat_response_matches_the_java_client_at_every_version() {
    for v in 0..=1 {
        check("heartbeat_response_full", v, heartbeat_response_full(v));
        check(
            "heartbeat_response_empty",
            v,
            hresp::StreamsGroupHeartbeatResponse::default(),
        );
    }
}

#[test]
fn describe_request_matches_the_java_client_at_every_version() {
    for v in 0..=1 {
        check("describe_request_full", v, describe_request_full(v));
    }
}

#[test]
fn describe_response_matches_the_java_client_at_every_version() {
    for v in 0..=1 {
        check("describe_response_full", v, describe_response_full(v));
        check(
            "describe_response_empty",
            v,
            dresp::StreamsGroupDescribeResponse::default(),
        );
    }
}

#[test]
fn versions_outside_0_to_1_are_refused() {
    let req = heartbeat_request_full();
    for v in [-1, 2] {
        assert!(req.encode(&mut BytesMut::new(), v).is_err());
        let mut buf = encode(&req, 1);
        assert!(hreq::StreamsGroupHeartbeatRequest::decode(&mut buf, v).is_err());
    }
}

#[test]
fn fields_a_version_lacks_are_refused_unless_ignorable() {
    // Non-ignorable v1 fields with a non-default value cannot be written at v0, as in Java.
    assert!(describe_response_full(1)
        .encode(&mut BytesMut::new(), 0)
        .is_err());
    assert!(describe_request_full(1)
        .encode(&mut BytesMut::new(), 0)
        .is_err());
    let mut r = heartbeat_response_full(1);
    assert!(r.encode(&mut BytesMut::new(), 0).is_err());
    // The ignorable int64 lag is dropped at v0; the legacy int32 one cannot go out at v1.
    r.topology_description_required = false;
    assert!(r.encode(&mut BytesMut::new(), 0).is_ok());
    assert!(heartbeat_response_full(0)
        .encode(&mut BytesMut::new(), 1)
        .is_err());
    // Reading an older version gives the field's default.
    let mut v0 = encode(&heartbeat_response_full(0), 0);
    let back = hresp::StreamsGroupHeartbeatResponse::decode(&mut v0, 0).unwrap();
    assert_eq!(back.acceptable_recovery_lag, -1);
    assert_eq!(back.acceptable_recovery_lag_legacy, 10_000);
}

#[test]
fn huge_lengths_are_errors_not_allocations() {
    // GroupIds array claiming 2^32 - 2 entries, then nothing.
    let mut buf = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(dreq::StreamsGroupDescribeRequest::decode(&mut buf, 0).is_err());
    // A varint running past 5 bytes.
    let mut buf = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert!(dreq::StreamsGroupDescribeRequest::decode(&mut buf, 0).is_err());
    // A string longer than the frame; a 2^31 tagged-field count.
    let mut buf = Bytes::from_static(&[0x02, 0x7f, 0x61]);
    assert!(dreq::StreamsGroupDescribeRequest::decode(&mut buf, 0).is_err());
    let mut buf = Bytes::from_static(&[0x01, 0x00, 0x80, 0x80, 0x80, 0x80, 0x08]);
    assert!(dreq::StreamsGroupDescribeRequest::decode(&mut buf, 0).is_err());
    // Any negative nullable-struct marker means null, as Kafka reads it (heartbeat topology).
    let mut bytes = encode(&hreq::StreamsGroupHeartbeatRequest::default(), 0).to_vec();
    let marker = 1 + 1 + 4 + 4 + 1 + 1 + 4; // group, member, epochs, instance, rack, timeout
    assert_eq!(bytes[marker], 0xff);
    bytes[marker] = 0x80;
    let back = hreq::StreamsGroupHeartbeatRequest::decode(&mut Bytes::from(bytes), 0).unwrap();
    assert_eq!(back, hreq::StreamsGroupHeartbeatRequest::default());
}

#[test]
fn frames_like_every_other_response() {
    let frame = sluice_protocol::codec::encode_message(
        kafka_protocol::messages::ApiKey::ConsumerGroupDescribe, // header v1, as key 89
        0,
        42,
        &describe_response_full(0),
    )
    .unwrap();
    let body = encode(&describe_response_full(0), 0);
    // size, correlation id, empty header tagged fields, body.
    assert_eq!(frame.len(), 4 + 4 + 1 + body.len());
    assert_eq!(&frame[9..], &body[..]);
}

#[test]
fn unknown_tagged_fields_are_kept_in_any_order() {
    // DescribeRequest v0: no groups, false, then tags 5 (one byte) and 3 (empty), out of order.
    let mut buf = Bytes::from_static(&[0x01, 0x00, 0x02, 0x05, 0x01, 0xaa, 0x03, 0x00]);
    let req = dreq::StreamsGroupDescribeRequest::decode(&mut buf, 0).unwrap();
    assert_eq!(
        req.unknown_tagged_fields,
        BTreeMap::from([(3, Bytes::new()), (5, Bytes::from_static(&[0xaa]))])
    );
    // Re-encoded in tag order.
    assert_eq!(
        &encode(&req, 0)[..],
        &[0x01, 0x00, 0x02, 0x03, 0x00, 0x05, 0x01, 0xaa]
    );
}
