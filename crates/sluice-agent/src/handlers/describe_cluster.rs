//! DescribeCluster: the live agents as brokers, the cluster id, and a controller id.
//!
//! Sluice has no controller clients could talk to (the metadata quorum is not a Kafka
//! endpoint), so, like a KRaft broker, it names a live broker as controller: the lowest live
//! agent id, the same choice Metadata makes. Agents answer only the BROKER endpoint type
//! (KIP-919); a request for controllers gets Kafka's MISMATCHED_ENDPOINT_TYPE.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::str_bytes;
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// KIP-919 endpoint types.
const ENDPOINT_BROKER: i8 = 1;
const ENDPOINT_CONTROLLER: i8 = 2;

/// Answers one DescribeCluster request (API key 60): live agents as brokers, the cluster id, the
/// lowest live agent id as controller.
pub async fn handle(cx: &RequestContext, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let mut resp = DescribeClusterResponse::default();
    if let Some((code, message)) = endpoint_error(req.endpoint_type, version) {
        resp.error_code = code;
        resp.error_message = Some(str_bytes(message));
        return resp;
    }
    let agents = agent.live_agents();
    resp.brokers = agents
        .iter()
        .map(|a| {
            let mut b = DescribeClusterBroker::default();
            b.broker_id = BrokerId(a.agent_id);
            let (host, port) = cx.endpoint_of(a);
            b.host = str_bytes(host);
            b.port = port;
            b.rack = a.rack.clone().map(str_bytes);
            b
        })
        .collect();
    resp.cluster_id = str_bytes(agent.cluster_id());
    resp.controller_id = BrokerId(agents.first().map_or(agent.id(), |a| a.agent_id));
    if version >= 1 {
        resp.endpoint_type = req.endpoint_type;
    }
    // As Kafka: the operations are told only to a principal that may DESCRIBE the cluster.
    if req.include_cluster_authorized_operations {
        resp.cluster_authorized_operations = if cx.may(Op::Describe, Res::Cluster) {
            cx.authorized_operations(Res::Cluster)
        } else {
            0
        };
    }
    resp
}

/// Kafka's endpoint-type checks: an unknown type first, then a type this endpoint is not.
/// Version 0 cannot name a type, so its errors become INVALID_REQUEST.
fn endpoint_error(endpoint_type: i8, version: i16) -> Option<(i16, String)> {
    let (error, message) = match endpoint_type {
        ENDPOINT_BROKER => return None,
        ENDPOINT_CONTROLLER => (
            ResponseError::MismatchedEndpointType,
            "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"
                .to_string(),
        ),
        other => (ResponseError::UnsupportedEndpointType, format!("Unsupported endpoint type {other}")),
    };
    let error = if version == 0 {
        ResponseError::InvalidRequest
    } else {
        error
    };
    Some((error.code(), message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_types_as_kafka_answers_them() {
        assert_eq!(endpoint_error(1, 1), None);
        assert_eq!(
            endpoint_error(2, 1).unwrap().0,
            ResponseError::MismatchedEndpointType.code()
        );
        assert_eq!(
            endpoint_error(7, 2),
            Some((
                ResponseError::UnsupportedEndpointType.code(),
                "Unsupported endpoint type 7".into()
            ))
        );
    }
}
