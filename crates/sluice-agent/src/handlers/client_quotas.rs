//! DescribeClientQuotas (48) and AlterClientQuotas (49): Sluice enforces no client quotas yet.
//!
//! Kafka's tools call these beside the APIs they are about: `kafka-configs --describe --entity-type
//! users` asks for the user's quotas as well as its SCRAM credentials, and fails as a whole when the
//! broker lacks the API. So Sluice serves them truthfully: DescribeClientQuotas answers that no quota
//! is set (an empty list, as Kafka does for a cluster without quotas), and AlterClientQuotas refuses
//! every entry with INVALID_REQUEST and a message saying quotas are not supported, rather than
//! storing limits that nothing would enforce. Authorization is Kafka's: DESCRIBE_CONFIGS (describe)
//! and ALTER_CONFIGS (alter) on the cluster, else CLUSTER_AUTHORIZATION_FAILED.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse,
};

use super::str_bytes;
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// The message every AlterClientQuotas entry is refused with.
pub const NOT_SUPPORTED: &str =
    "Client quotas are not supported by Sluice: no quota would be enforced";

/// DescribeClientQuotas v0-v1: no quotas, whatever the filter; CLUSTER_AUTHORIZATION_FAILED without
/// DESCRIBE_CONFIGS on the cluster.
pub async fn describe(
    cx: &RequestContext,
    _req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let mut resp = DescribeClientQuotasResponse::default();
    if !cx.authorize(Op::DescribeConfigs, Res::Cluster) {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        resp.error_message = Some(str_bytes("Cluster authorization failed."));
        return resp;
    }
    resp.entries = Some(Vec::new());
    resp
}

/// AlterClientQuotas v0-v1: each entry refused (INVALID_REQUEST, [`NOT_SUPPORTED`]), or
/// CLUSTER_AUTHORIZATION_FAILED for each without ALTER_CONFIGS on the cluster.
pub async fn alter(
    cx: &RequestContext,
    req: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let (code, message) = if cx.authorize(Op::AlterConfigs, Res::Cluster) {
        (ResponseError::InvalidRequest.code(), NOT_SUPPORTED)
    } else {
        (
            ResponseError::ClusterAuthorizationFailed.code(),
            "Cluster authorization failed.",
        )
    };
    let mut resp = AlterClientQuotasResponse::default();
    resp.entries = req
        .entries
        .into_iter()
        .map(|e| {
            let mut out = EntryData::default();
            out.error_code = code;
            out.error_message = Some(str_bytes(message));
            out.entity = e
                .entity
                .into_iter()
                .map(|x| {
                    let mut d = EntityData::default();
                    d.entity_type = x.entity_type;
                    d.entity_name = x.entity_name;
                    d
                })
                .collect();
            out
        })
        .collect();
    resp
}
