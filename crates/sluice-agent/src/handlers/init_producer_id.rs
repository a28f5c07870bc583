//! InitProducerId for idempotent producers: a fresh producer id from the quorum, or (v3+,
//! KIP-360) an epoch bump of the producer's current id.
//!
//! Kafka hands a non-transactional producer a new id whatever it sends; Sluice first tries the
//! bump, which keeps the id, and falls back to a new id when the quorum no longer knows the
//! producer or its epoch moved on, so an idempotent producer never gets an error Kafka would
//! not send. A transactional id goes to the transaction coordinator in the quorum
//! ([`sluice_meta::txn`]): a new id gets a new producer id at epoch 0, a known one an epoch
//! bump that fences earlier incarnations and aborts their open transaction.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use sluice_meta::codes;
use sluice_meta::command::{Command, CommandResponse};
use sluice_meta::state::ProducerInfo;
use sluice_meta::txn::TxnCommand;

use super::ApiError;
use crate::agent::Agent;
use crate::authz::{Op, Res, ResourceType};
use crate::clock::now_ms;
use crate::request::RequestContext;
use crate::txn_coordinator::{self, TxnApi};

/// Answers one InitProducerId request (API key 22): a producer id and epoch, new or bumped, or an
/// error code.
pub async fn handle(cx: &RequestContext, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let version = cx.api_version;
    let mut resp = InitProducerIdResponse::default();
    match init(cx, &req, version).await {
        Ok(p) => {
            resp.producer_id = ProducerId(p.producer_id);
            resp.producer_epoch = p.producer_epoch;
        }
        Err(code) => {
            resp.error_code = code;
            resp.producer_id = ProducerId(-1);
            resp.producer_epoch = -1;
        }
    }
    resp
}

async fn init(
    cx: &RequestContext,
    req: &InitProducerIdRequest,
    version: i16,
) -> Result<ProducerInfo, i16> {
    let agent = &*cx.agent;
    // A transactional id needs WRITE on it; otherwise, as Kafka 3.x+, IDEMPOTENT_WRITE on the
    // cluster or WRITE on at least one topic.
    match &req.transactional_id {
        Some(tid) if !cx.authorize(Op::Write, Res::TransactionalId(&tid.0)) => {
            return Err(ResponseError::TransactionalIdAuthorizationFailed.code());
        }
        None if !cx.may(Op::IdempotentWrite, Res::Cluster)
            && !cx.authorize_any(Op::Write, ResourceType::Topic) =>
        {
            return Err(ResponseError::ClusterAuthorizationFailed.code());
        }
        _ => {}
    }
    if let Some(tid) = &req.transactional_id {
        return init_transactional(agent, req, &tid.0, version).await;
    }
    let (id, epoch) = if version >= 3 {
        (req.producer_id.0, req.producer_epoch)
    } else {
        (-1, -1)
    };
    // Kafka: both or neither of id and epoch.
    if (id == -1) != (epoch == -1) {
        return Err(ResponseError::InvalidRequest.code());
    }
    if id >= 0 {
        match propose(agent, id, epoch).await {
            Err(code) if code == codes::UNKNOWN_PRODUCER_ID || code == codes::PRODUCER_FENCED => {
                tracing::debug!(
                    producer_id = id,
                    epoch,
                    code,
                    "epoch bump refused; allocating a new producer id"
                );
            }
            other => return other,
        }
    }
    propose(agent, -1, -1).await
}

/// InitProducerId for a transactional id (Kafka's `TransactionCoordinator.handleInitProducerId`).
async fn init_transactional(
    agent: &Agent,
    req: &InitProducerIdRequest,
    tid: &str,
    version: i16,
) -> Result<ProducerInfo, i16> {
    if tid.is_empty() {
        return Err(ResponseError::InvalidRequest.code());
    }
    if req.transaction_timeout_ms <= 0
        || req.transaction_timeout_ms > agent.cfg.transaction_max_timeout_ms
    {
        return Err(codes::INVALID_TRANSACTION_TIMEOUT);
    }
    let expected =
        (version >= 3 && req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
    let cmd = TxnCommand::InitProducerId {
        transactional_id: tid.to_string(),
        timeout_ms: req.transaction_timeout_ms,
        expected,
        now_ms: now_ms(),
    };
    match txn_coordinator::propose(agent, cmd).await {
        Ok(CommandResponse::Producer(p)) => Ok(p),
        Ok(other) => {
            tracing::error!(
                ?other,
                "unexpected answer to a transactional InitProducerId"
            );
            Err(ResponseError::UnknownServerError.code())
        }
        Err(ApiError { code, .. }) => Err(TxnApi::InitProducerId.code_for(version, code)),
    }
}

async fn propose(
    agent: &Agent,
    producer_id: i64,
    producer_epoch: i16,
) -> Result<ProducerInfo, i16> {
    let cmd = Command::InitProducerId {
        producer_id,
        producer_epoch,
        now_ms: now_ms(),
    };
    match agent.propose_admin(cmd).await {
        Ok(CommandResponse::Producer(p)) => Ok(p),
        Ok(other) => {
            tracing::error!(?other, "unexpected answer to InitProducerId");
            Err(ResponseError::UnknownServerError.code())
        }
        Err(ApiError { code, .. }) => Err(code),
    }
}
