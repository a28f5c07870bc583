//! DescribeQuorum (55): `kafka-metadata-quorum describe --status|--replication`, showing
//! Sluice's openraft metadata quorum as Kafka shows its KRaft quorum.
//!
//! The quorum is asked for its leader's view (`MetaClient::quorum_status`): the leader's id, the
//! raft term as leader epoch, the leader's applied index as high watermark, the voters and
//! learners (observers) with their log end offsets (the leader's own last log index, each
//! follower's matched index; -1 when not known yet). Raft does not track fetch times, so a
//! replica is reported as fetched and caught up now when it has all of the leader's log, and
//! -1 otherwise. v2 adds each voter's endpoint, a `CONTROLLER` listener at the node's raft
//! address. As in Kafka, the request must name `__cluster_metadata` partition 0 and needs
//! DESCRIBE on the cluster.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use sluice_meta::api::MembershipResponse;

use super::{str_bytes, topic_name};
use crate::authz::{Op, Res};
use crate::clock::now_ms;
use crate::request::RequestContext;

/// KRaft's metadata topic, the only partition DescribeQuorum describes.
const METADATA_TOPIC: &str = "__cluster_metadata";

/// Answers one DescribeQuorum request (API key 55): the metadata quorum's leader, epoch, high
/// watermark, voters and observers as KRaft reports them.
pub async fn handle(cx: &RequestContext, req: DescribeQuorumRequest) -> DescribeQuorumResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let mut resp = DescribeQuorumResponse::default();
    resp.error_message = None;
    if !cx.authorize(Op::Describe, Res::Cluster) {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        return resp;
    }
    let single = matches!(&req.topics[..], [t] if t.topic_name.as_str() == METADATA_TOPIC
        && matches!(&t.partitions[..], [p] if p.partition_index == 0));
    let mut partition = PartitionData::default();
    partition.error_message = None;
    if !single {
        // Kafka's `getPartitionLevelErrorResponse`: every named partition, UNKNOWN_TOPIC_OR_PARTITION.
        for t in &req.topics {
            let mut td = TopicData::default();
            td.topic_name = t.topic_name.clone();
            td.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut pd = partition.clone();
                    pd.partition_index = p.partition_index;
                    pd.error_code = ResponseError::UnknownTopicOrPartition.code();
                    pd
                })
                .collect();
            resp.topics.push(td);
        }
        return resp;
    }
    match agent.meta.quorum_status().await {
        Ok(status) => {
            fill(&mut partition, &status);
            if version >= 2 {
                resp.nodes = nodes(&status);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "DescribeQuorum: the metadata quorum did not answer");
            partition.error_code = ResponseError::NotLeaderOrFollower.code();
        }
    }
    let mut td = TopicData::default();
    td.topic_name = topic_name(METADATA_TOPIC);
    td.partitions = vec![partition];
    resp.topics = vec![td];
    resp
}

/// The quorum's state as one `__cluster_metadata-0` partition.
fn fill(p: &mut PartitionData, s: &MembershipResponse) {
    let now = now_ms();
    let leader = s.leader.as_ref().map(|l| l.id);
    p.leader_id = BrokerId(leader.map_or(-1, |id| id as i32));
    p.leader_epoch = s.term as i32;
    p.high_watermark = s.applied as i64;
    let replica = |id: u64| {
        let end = if Some(id) == leader {
            Some(s.last_log_index)
        } else {
            s.matched.get(&id).copied()
        };
        let caught_up = end.is_some_and(|e| e >= s.last_log_index);
        let mut r = ReplicaState::default();
        r.replica_id = BrokerId(id as i32);
        r.log_end_offset = end.map_or(-1, |e| e as i64);
        r.last_fetch_timestamp = if end.is_some() { now } else { -1 };
        r.last_caught_up_timestamp = if caught_up { now } else { -1 };
        r
    };
    p.current_voters = s.voters.keys().map(|id| replica(*id)).collect();
    p.observers = s.learners.keys().map(|id| replica(*id)).collect();
}

/// The voters' endpoints (v2).
fn nodes(s: &MembershipResponse) -> Vec<Node> {
    s.voters
        .iter()
        .map(|(id, addr)| {
            let mut n = Node::default();
            n.node_id = BrokerId(*id as i32);
            if let Some((host, port)) = addr.rsplit_once(':') {
                let mut l = Listener::default();
                l.name = str_bytes("CONTROLLER");
                l.host = str_bytes(host);
                l.port = port.parse().unwrap_or(0);
                n.listeners = vec![l];
            }
            n
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_meta::error::LeaderInfo;

    #[test]
    fn the_leaders_view_becomes_one_partition() {
        let mut s = MembershipResponse {
            node_id: 2,
            leader: Some(LeaderInfo {
                id: 2,
                addr: "m2:9500".into(),
            }),
            term: 4,
            applied: 90,
            last_log_index: 100,
            ..Default::default()
        };
        s.voters = [
            (1, "m1:9500".to_string()),
            (2, "m2:9500".to_string()),
            (3, "m3:9500".to_string()),
        ]
        .into_iter()
        .collect();
        s.learners = [(4, "m4:9500".to_string())].into_iter().collect();
        s.matched = [(1, 100), (3, 60)].into_iter().collect();
        let mut p = PartitionData::default();
        fill(&mut p, &s);
        assert_eq!(
            (p.leader_id.0, p.leader_epoch, p.high_watermark),
            (2, 4, 90)
        );
        let ends: Vec<(i32, i64, bool)> = p
            .current_voters
            .iter()
            .map(|r| {
                (
                    r.replica_id.0,
                    r.log_end_offset,
                    r.last_caught_up_timestamp > 0,
                )
            })
            .collect();
        assert_eq!(ends, [(1, 100, true), (2, 100, true), (3, 60, false)]);
        assert_eq!(p.observers[0].log_end_offset, -1);
        let n = nodes(&s);
        assert_eq!(n.len(), 3);
        assert_eq!(
            (n[1].listeners[0].host.as_str(), n[1].listeners[0].port),
            ("m2", 9500)
        );
    }
}
