//! DeleteAcls (KIP-140): every filter removes the ACLs it matches (Kafka's filter semantics, see
//! [`sluice_meta::acl::AclBindingFilter`]) and its result lists exactly those. All valid filters
//! go to the quorum as one command, so the removals are atomic. Needs ALTER on the cluster;
//! SECURITY_DISABLED with the authorizer off.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};
use sluice_meta::acl::{
    AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType,
};
use sluice_meta::command::{Command, CommandResponse};

use super::{acl_gate, str_bytes, ApiError};
use crate::authz::Op;
use crate::request::RequestContext;

/// Answers one DeleteAcls request (API key 31): one filter result per filter, listing the bindings
/// it removed.
pub async fn handle(cx: &RequestContext, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let agent = &*cx.agent;
    let mut resp = DeleteAclsResponse::default();
    let failed = |e: &ApiError| {
        let mut r = DeleteAclsFilterResult::default();
        r.error_code = e.code;
        r.error_message = e.message.clone().map(str_bytes);
        r
    };
    if let Err(e) = acl_gate(cx, Op::Alter) {
        resp.filter_results = req.filters.iter().map(|_| failed(&e)).collect();
        return resp;
    }
    // Per filter: its index among the valid ones, or why it is invalid.
    let mut slots: Vec<Result<usize, ApiError>> = Vec::with_capacity(req.filters.len());
    let mut filters = Vec::new();
    for f in &req.filters {
        let filter = AclBindingFilter {
            resource_type: ResourceType::from_id(f.resource_type_filter),
            name: f.resource_name_filter.as_ref().map(|s| s.to_string()),
            pattern_type: PatternType::from_id(f.pattern_type_filter),
            principal: f.principal_filter.as_ref().map(|s| s.to_string()),
            host: f.host_filter.as_ref().map(|s| s.to_string()),
            operation: AclOperation::from_id(f.operation),
            permission: AclPermissionType::from_id(f.permission_type),
        };
        if filter.is_unknown() {
            slots.push(Err(ApiError::new(
                ResponseError::InvalidRequest,
                "The filter must match only known resource types, pattern types, operations and permission types",
            )));
        } else {
            slots.push(Ok(filters.len()));
            filters.push(filter);
        }
    }
    let removed: Result<Vec<_>, ApiError> = if filters.is_empty() {
        Ok(Vec::new())
    } else {
        match agent.propose_admin(Command::DeleteAcls { filters }).await {
            Ok(CommandResponse::AclsDeleted(r)) => Ok(r),
            Ok(other) => Err(ApiError::new(
                ResponseError::UnknownServerError,
                format!("unexpected answer {other:?}"),
            )),
            Err(e) => Err(e),
        }
    };
    for slot in slots {
        let r = match (slot.as_ref(), &removed) {
            (Err(e), _) | (Ok(_), Err(e)) => failed(e),
            (Ok(i), Ok(removed)) => {
                let mut r = DeleteAclsFilterResult::default();
                r.error_message = None;
                for b in removed.get(*i).into_iter().flatten() {
                    let mut m = DeleteAclsMatchingAcl::default();
                    m.error_message = None;
                    m.resource_type = b.pattern.resource_type.id();
                    m.resource_name = str_bytes(b.pattern.name.clone());
                    m.pattern_type = b.pattern.pattern_type.id();
                    m.principal = str_bytes(b.entry.principal.clone());
                    m.host = str_bytes(b.entry.host.clone());
                    m.operation = b.entry.operation.id();
                    m.permission_type = b.entry.permission.id();
                    r.matching_acls.push(m);
                }
                if !r.matching_acls.is_empty() {
                    tracing::info!(count = r.matching_acls.len(), "ACLs deleted");
                }
                r
            }
        };
        resp.filter_results.push(r);
    }
    resp
}
