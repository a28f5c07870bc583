//! EndTxn: commit or abort the producer's transaction (KIP-98) — one quorum command that puts a
//! marker in every partition of the transaction and commits its staged offsets
//! ([`sluice_meta::txn`]). From v5 (KIP-890 transaction version 2) every EndTxn bumps the
//! producer epoch and the response carries the new producer id and epoch.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};
use sluice_meta::codes;
use sluice_meta::command::CommandResponse;
use sluice_meta::txn::TxnCommand;

use crate::clock::now_ms;
use crate::request::RequestContext;
use crate::txn_coordinator::{self, TxnApi};

/// The first EndTxn version of transaction version 2 (epoch bump at every end).
const TV2_VERSION: i16 = 5;

/// Answers one EndTxn request (API key 26): commits or aborts the transaction in one quorum
/// command; from v5 the response carries the bumped producer id and epoch.
pub async fn handle(cx: &RequestContext, req: EndTxnRequest) -> EndTxnResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let mut resp = EndTxnResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    let tid = req.transactional_id.0.to_string();
    if let Err(code) = txn_coordinator::gate(cx, &tid) {
        resp.error_code = code;
        return resp;
    }
    let cmd = TxnCommand::End {
        transactional_id: tid,
        producer_id: req.producer_id.0,
        producer_epoch: req.producer_epoch,
        commit: req.committed,
        bump: version >= TV2_VERSION,
        now_ms: now_ms(),
    };
    match txn_coordinator::propose(agent, cmd).await {
        Ok(CommandResponse::Producer(p)) => {
            resp.error_code = codes::NONE;
            resp.producer_id = ProducerId(p.producer_id);
            resp.producer_epoch = p.producer_epoch;
        }
        Ok(other) => {
            tracing::error!(?other, "unexpected answer to EndTxn");
            resp.error_code = codes::UNKNOWN_SERVER_ERROR;
        }
        Err(e) => resp.error_code = TxnApi::EndTxn.code_for(version, e.code),
    }
    resp
}
