//! DeleteGroups (v0-v2): removes empty groups of any kind (one group-id namespace) and their
//! committed offsets in one proposal.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};
use sluice_meta::command::CommandResponse;
use sluice_meta::groups::{GroupCommand, GroupResponse};

use crate::authz::Op;
use crate::request::RequestContext;

/// Answers one DeleteGroups request (API key 42): one result code per group (authorization, or
/// the state machine's refusal, e.g. NON_EMPTY_GROUP).
pub async fn handle(cx: &RequestContext, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let agent = &*cx.agent;
    let mut codes: Vec<i16> = req
        .groups_names
        .iter()
        .map(|g| match cx.coordinated_group(Op::Delete, &g.0) {
            Ok(()) => 0,
            Err(refused) => refused.code(),
        })
        .collect();
    let mine: Vec<String> = req
        .groups_names
        .iter()
        .zip(&codes)
        .filter(|(_, c)| **c == 0)
        .map(|(g, _)| g.0.to_string())
        .collect();
    if !mine.is_empty() {
        let answer = agent
            .propose_group(GroupCommand::DeleteGroups { groups: mine })
            .await;
        let mut results = match answer {
            Ok(CommandResponse::Group(GroupResponse::Codes(c))) => c.into_iter(),
            Ok(_) => Vec::new().into_iter(),
            Err(code) => vec![code; codes.len()].into_iter(),
        };
        for c in codes.iter_mut().filter(|c| **c == 0) {
            *c = results
                .next()
                .unwrap_or(ResponseError::UnknownServerError.code());
        }
    }
    let mut resp = DeleteGroupsResponse::default();
    resp.results = req
        .groups_names
        .iter()
        .zip(codes)
        .map(|(g, c)| {
            DeletableGroupResult::default()
                .with_group_id(g.clone())
                .with_error_code(c)
        })
        .collect();
    resp
}
