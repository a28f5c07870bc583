//! CreateAcls (KIP-140): validate each binding, store the valid ones in the quorum in one
//! command. One result per creation, in request order. Needs ALTER on the cluster; with the
//! authorizer off every creation answers SECURITY_DISABLED, as Kafka does without an authorizer.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use sluice_meta::acl::{
    AccessControlEntry, AclBinding, AclOperation, AclPermissionType, PatternType, ResourcePattern,
    ResourceType,
};
use sluice_meta::command::Command;

use super::{acl_gate, str_bytes, ApiError};
use crate::authz::Op;
use crate::request::RequestContext;

/// Answers one CreateAcls request (API key 30): one result per creation, in request order.
pub async fn handle(cx: &RequestContext, req: CreateAclsRequest) -> CreateAclsResponse {
    let agent = &*cx.agent;
    let mut resp = CreateAclsResponse::default();
    let result = |e: &Option<ApiError>| {
        let mut r = AclCreationResult::default();
        r.error_message = None;
        if let Some(e) = e {
            r.error_code = e.code;
            r.error_message = e.message.clone().map(str_bytes);
        }
        r
    };
    if let Err(e) = acl_gate(cx, Op::Alter) {
        resp.results = req
            .creations
            .iter()
            .map(|_| result(&Some(e.clone())))
            .collect();
        return resp;
    }
    let mut errors: Vec<Option<ApiError>> = Vec::with_capacity(req.creations.len());
    let mut bindings = Vec::new();
    for c in &req.creations {
        let b = AclBinding {
            pattern: ResourcePattern {
                resource_type: ResourceType::from_id(c.resource_type),
                pattern_type: PatternType::from_id(c.resource_pattern_type),
                name: c.resource_name.to_string(),
            },
            entry: AccessControlEntry {
                principal: c.principal.to_string(),
                host: c.host.to_string(),
                operation: AclOperation::from_id(c.operation),
                permission: AclPermissionType::from_id(c.permission_type),
            },
        };
        match b.validate() {
            Ok(()) => {
                bindings.push(b);
                errors.push(None);
            }
            Err(e) => {
                tracing::info!(error = %e, "CreateAcls: invalid binding");
                errors.push(Some(ApiError::new(
                    ResponseError::InvalidRequest,
                    e.to_string(),
                )));
            }
        }
    }
    if !bindings.is_empty() {
        let n = bindings.len();
        if let Err(e) = agent.propose_admin(Command::CreateAcls { bindings }).await {
            for slot in errors.iter_mut().filter(|s| s.is_none()) {
                *slot = Some(e.clone());
            }
        } else {
            tracing::info!(count = n, "ACLs created");
        }
    }
    resp.results = errors.iter().map(result).collect();
    resp
}
