//! AlterPartitionReassignments (45) and ListPartitionReassignments (46):
//! `kafka-reassign-partitions`.
//!
//! A Sluice partition is not stored on its replicas: any agent serves it from object storage,
//! and its one replica is the live agent reported as its leader ([`PartitionView`]). Nothing can
//! ever be moving, so no reassignment is ever in progress: the list is always empty, a
//! cancellation gets Kafka's NO_REASSIGNMENT_IN_PROGRESS, and a target equal to the current
//! replica set completes at once, as in Kafka. Any other target is refused with
//! INVALID_REPLICA_ASSIGNMENT: Kafka's words for a malformed list or an unknown broker, and
//! otherwise a message saying that Sluice places partitions itself. Both APIs need ALTER /
//! DESCRIBE on the cluster.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::ReassignablePartition;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use super::{cluster_denied, str_bytes, validate_manual_assignment, ApiError, PartitionView};
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Answers one AlterPartitionReassignments request (API key 45): per partition, success for a
/// target equal to the current replica, NO_REASSIGNMENT_IN_PROGRESS for a cancellation,
/// INVALID_REPLICA_ASSIGNMENT otherwise; CLUSTER_AUTHORIZATION_FAILED without ALTER.
pub async fn alter(
    cx: &RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let mut resp = AlterPartitionReassignmentsResponse::default();
    if version >= 1 {
        resp.allow_replication_factor_change = req.allow_replication_factor_change;
    }
    resp.error_message = None;
    if !cx.authorize(Op::Alter, Res::Cluster) {
        let e = cluster_denied();
        resp.error_code = e.code;
        resp.error_message = e.message.map(str_bytes);
        return resp;
    }
    let agents = agent.live_agents();
    for t in req.topics {
        let count = agent.read(|s| s.topic(&t.name).map(|x| x.partitions.len() as i32));
        let partitions = t
            .partitions
            .iter()
            .map(|p| {
                let unknown =
                    |m: String| Err(ApiError::new(ResponseError::UnknownTopicOrPartition, m));
                let outcome = match count {
                    Some(n) if (0..n).contains(&p.partition_index) => reassign(&agents, &t.name, p),
                    // Kafka's controller's words.
                    Some(_) => unknown(format!(
                        "Unable to find partition {}:{}.",
                        t.name.as_str(),
                        p.partition_index
                    )),
                    None => unknown(format!("Unable to find a topic named {}.", t.name.as_str())),
                };
                let mut r = ReassignablePartitionResponse::default();
                r.partition_index = p.partition_index;
                (r.error_code, r.error_message) = ApiError::fields(outcome);
                r
            })
            .collect();
        let mut r = ReassignableTopicResponse::default();
        r.name = t.name;
        r.partitions = partitions;
        resp.responses.push(r);
    }
    resp
}

/// One partition's reassignment: a cancellation (no target) or a target replica set.
fn reassign(
    agents: &[sluice_meta::state::AgentInfo],
    topic: &str,
    p: &ReassignablePartition,
) -> Result<(), ApiError> {
    let Some(target) = &p.replicas else {
        return Err(ApiError::bare(ResponseError::NoReassignmentInProgress));
    };
    let ids: Vec<i32> = target.iter().map(|b| b.0).collect();
    let registered = |id: i32| agents.iter().any(|a| a.agent_id == id);
    validate_manual_assignment(&ids, &registered, None)?;
    if *target == PartitionView::of(agents, topic, p.partition_index).replicas {
        return Ok(());
    }
    Err(ApiError::new(
        ResponseError::InvalidReplicaAssignment,
        "Sluice places partitions itself: every agent serves every partition from object storage, so replicas cannot be reassigned.",
    ))
}

/// Answers one ListPartitionReassignments request (API key 46): always an empty list (or
/// CLUSTER_AUTHORIZATION_FAILED without DESCRIBE on the cluster).
pub async fn list(
    cx: &RequestContext,
    _req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let mut resp = ListPartitionReassignmentsResponse::default();
    resp.error_message = None;
    if !cx.authorize(Op::Describe, Res::Cluster) {
        let e = cluster_denied();
        resp.error_code = e.code;
        resp.error_message = e.message.map(str_bytes);
    }
    resp
}
