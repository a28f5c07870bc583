//! DescribeAcls (KIP-140): the ACLs one filter matches, grouped by resource pattern, read from
//! the local replica. Needs DESCRIBE on the cluster; SECURITY_DISABLED with the authorizer off.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use sluice_meta::acl::{
    AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType,
};

use super::{acl_gate, str_bytes};
use crate::authz::Op;
use crate::request::RequestContext;

/// Answers one DescribeAcls request (API key 29): the matching bindings grouped by resource
/// pattern, or one top-level error code.
pub async fn handle(cx: &RequestContext, req: DescribeAclsRequest) -> DescribeAclsResponse {
    let agent = &*cx.agent;
    let mut resp = DescribeAclsResponse::default();
    // Kafka sends a null message on success (the codec's default is "").
    resp.error_message = None;
    if let Err(e) = acl_gate(cx, Op::Describe) {
        resp.error_code = e.code;
        resp.error_message = e.message.map(str_bytes);
        return resp;
    }
    let filter = AclBindingFilter {
        resource_type: ResourceType::from_id(req.resource_type_filter),
        name: req.resource_name_filter.map(|s| s.to_string()),
        pattern_type: PatternType::from_id(req.pattern_type_filter),
        principal: req.principal_filter.map(|s| s.to_string()),
        host: req.host_filter.map(|s| s.to_string()),
        operation: AclOperation::from_id(req.operation),
        permission: AclPermissionType::from_id(req.permission_type),
    };
    if filter.is_unknown() {
        resp.error_code = ResponseError::InvalidRequest.code();
        resp.error_message = Some(str_bytes(
            "The filter must match only known resource types, pattern types, operations and permission types",
        ));
        return resp;
    }
    let bindings = agent.read(|s| s.acls.matching(&filter));
    // `matching` is in pattern order, so each pattern's ACLs are adjacent.
    for b in bindings {
        let mut d = AclDescription::default();
        d.principal = str_bytes(b.entry.principal);
        d.host = str_bytes(b.entry.host);
        d.operation = b.entry.operation.id();
        d.permission_type = b.entry.permission.id();
        let same = resp.resources.last().is_some_and(|r| {
            r.resource_type == b.pattern.resource_type.id()
                && r.pattern_type == b.pattern.pattern_type.id()
                && r.resource_name.as_str() == b.pattern.name
        });
        if !same {
            let mut r = DescribeAclsResource::default();
            r.resource_type = b.pattern.resource_type.id();
            r.resource_name = str_bytes(b.pattern.name);
            r.pattern_type = b.pattern.pattern_type.id();
            resp.resources.push(r);
        }
        if let Some(r) = resp.resources.last_mut() {
            r.acls.push(d);
        }
    }
    resp
}
