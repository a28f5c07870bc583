//! DescribeTransactions: state, producer id and epoch, timeout, start time and partitions of
//! each transactional id (KIP-664), read from the local replica. An id the principal may not
//! DESCRIBE is TRANSACTIONAL_ID_AUTHORIZATION_FAILED; an unknown one TRANSACTIONAL_ID_NOT_FOUND.

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId,
};
use sluice_meta::codes;
use sluice_meta::txn::TransactionMeta;

use super::{str_bytes, topic_name};
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Answers one DescribeTransactions request (API key 65): one state per transactional id, or its
/// error code.
pub async fn handle(
    cx: &RequestContext,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let agent = &*cx.agent;
    let mut resp = DescribeTransactionsResponse::default();
    for tid in req.transactional_ids {
        let mut t = TransactionState::default();
        t.producer_id = ProducerId(-1);
        t.producer_epoch = -1;
        t.transaction_start_time_ms = -1;
        let id = tid.0.to_string();
        if !cx.authorize(Op::Describe, Res::TransactionalId(&id)) {
            t.error_code = codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        } else {
            match agent.read(|s| s.transactions.by_id.get(&id).cloned()) {
                Some(m) => describe(&mut t, &m),
                None => t.error_code = codes::TRANSACTIONAL_ID_NOT_FOUND,
            }
        }
        t.transactional_id = tid;
        resp.transaction_states.push(t);
    }
    resp
}

fn describe(t: &mut TransactionState, m: &TransactionMeta) {
    t.transaction_state = str_bytes(m.state.name());
    t.transaction_timeout_ms = m.timeout_ms;
    t.transaction_start_time_ms = m.start_ms;
    t.producer_id = ProducerId(m.producer_id);
    t.producer_epoch = m.producer_epoch;
    t.topics = crate::txn_coordinator::by_topic(m.partitions.iter().map(|tp| (tp.clone(), ())))
        .into_iter()
        .map(|(topic, parts)| {
            let mut d = TopicData::default();
            d.topic = topic_name(topic);
            d.partitions = parts.into_iter().map(|(p, ())| p).collect();
            d
        })
        .collect();
}
