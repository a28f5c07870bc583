//! DeleteGroups (v0-v2): removes empty groups and their committed offsets in one proposal.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};
use sluice_meta::command::{Command, CommandResponse};
use sluice_meta::groups::{GroupCommand, GroupResponse};
use sluice_meta::share_group::{ShareCommand, ShareResponse};

use crate::authz::Op;
use crate::request::RequestContext;

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
    // Share groups (KIP-932) live apart from classic/consumer groups: settle them first.
    let mut settled = vec![false; codes.len()];
    for ((g, c), done) in req
        .groups_names
        .iter()
        .zip(codes.iter_mut())
        .zip(settled.iter_mut())
    {
        if *c == 0 && agent.read(|s| s.share_groups.contains_key(g.0.as_str())) {
            let cmd = Command::Share(ShareCommand::DeleteGroup {
                group: g.0.to_string(),
            });
            *c = match agent.propose(cmd).await {
                Ok(CommandResponse::Share(ShareResponse::Ok)) => 0,
                Ok(CommandResponse::Share(ShareResponse::Error { code, .. })) => code,
                Ok(_) => ResponseError::UnknownServerError.code(),
                Err(e) => e.code(),
            };
            *done = true;
        }
    }
    let mine: Vec<String> = req
        .groups_names
        .iter()
        .zip(&codes)
        .zip(&settled)
        .filter(|((_, c), done)| **c == 0 && !**done)
        .map(|((g, _), _)| g.0.to_string())
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
        for (c, _) in codes
            .iter_mut()
            .zip(&settled)
            .filter(|(c, done)| **c == 0 && !**done)
        {
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
