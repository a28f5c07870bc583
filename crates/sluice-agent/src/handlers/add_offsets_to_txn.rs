//! AddOffsetsToTxn: a consumer group's offsets join a producer's transaction (KIP-98), so that
//! its TxnOffsetCommits become the group's committed offsets exactly when the transaction
//! commits. Needs WRITE on the transactional id and READ on the group.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use sluice_meta::codes;
use sluice_meta::txn::TxnCommand;

use crate::authz::{Op, Res};
use crate::clock::now_ms;
use crate::request::RequestContext;
use crate::txn_coordinator::{self, TxnApi};

/// Answers one AddOffsetsToTxn request (API key 25): adds the group to the transaction in the
/// quorum; a refusal is the response's error code.
pub async fn handle(cx: &RequestContext, req: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let mut resp = AddOffsetsToTxnResponse::default();
    let tid = req.transactional_id.0.to_string();
    let group = req.group_id.0.to_string();
    resp.error_code = if let Err(code) = txn_coordinator::gate(cx, &tid) {
        code
    } else if !cx.authorize(Op::Read, Res::Group(&group)) {
        codes::GROUP_AUTHORIZATION_FAILED
    } else {
        let cmd = TxnCommand::AddOffsets {
            transactional_id: tid,
            producer_id: req.producer_id.0,
            producer_epoch: req.producer_epoch,
            group,
            now_ms: now_ms(),
        };
        match txn_coordinator::propose(agent, cmd).await {
            Ok(_) => codes::NONE,
            Err(e) => TxnApi::AddOffsetsToTxn.code_for(version, e.code),
        }
    };
    resp
}
