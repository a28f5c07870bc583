//! ElectLeaders (43): preferred or unclean leader election (`kafka-leader-election`).
//!
//! Every Sluice partition always has a leader (any live agent serves it, and its one replica is
//! that leader), so no election is ever needed: as in a Kafka cluster whose leaders are all
//! preferred, each named partition is answered ELECTION_NOT_NEEDED, and a request for all
//! partitions (null list) gets every topic with no partitions, since KRaft leaves out the
//! partitions it did not elect. Unknown partitions get UNKNOWN_TOPIC_OR_PARTITION; the API needs ALTER on the
//! cluster.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use super::{str_bytes, topic_name};
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Answers one ElectLeaders request (API key 43): ELECTION_NOT_NEEDED (or
/// UNKNOWN_TOPIC_OR_PARTITION) per named partition.
pub async fn handle(cx: &RequestContext, req: ElectLeadersRequest) -> ElectLeadersResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let mut resp = ElectLeadersResponse::default();
    let denied = !cx.authorize(Op::Alter, Res::Cluster);
    if denied && version >= 1 {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
    }
    let Some(topics) = req.topic_partitions else {
        // All partitions: KRaft lists every topic, leaving out the partitions it did not elect.
        if !denied {
            resp.replica_election_results = agent
                .read(|s| s.topics.keys().cloned().collect::<Vec<_>>())
                .into_iter()
                .map(|name| {
                    let mut r = ReplicaElectionResult::default();
                    r.topic = topic_name(name);
                    r
                })
                .collect();
        }
        return resp;
    };
    for t in topics {
        let count = agent.read(|s| s.topic(&t.topic).map(|x| x.partitions.len() as i32));
        let partition_result = t
            .partitions
            .iter()
            .map(|&p| {
                let mut r = PartitionResult::default();
                r.partition_id = p;
                let (error, message) = match count {
                    _ if denied => (ResponseError::ClusterAuthorizationFailed, None),
                    None => (
                        ResponseError::UnknownTopicOrPartition,
                        Some(format!("No such topic as {}", t.topic.as_str())),
                    ),
                    Some(n) if !(0..n).contains(&p) => (
                        ResponseError::UnknownTopicOrPartition,
                        Some(format!("No such partition as {}-{p}", t.topic.as_str())),
                    ),
                    Some(_) => (
                        ResponseError::ElectionNotNeeded,
                        Some("Leader election not needed for topic partition.".to_string()),
                    ),
                };
                r.error_code = error.code();
                r.error_message = message.map(str_bytes);
                r
            })
            .collect();
        let mut r = ReplicaElectionResult::default();
        r.topic = t.topic;
        r.partition_result = partition_result;
        resp.replica_election_results.push(r);
    }
    resp
}
