//! ListTransactions: the transactional ids the quorum knows, filtered by state, producer id,
//! how long the transaction has run (v1, KIP-994) and a transactional-id regular expression
//! (v2, KIP-1152; the whole id must match, as Java's `Matcher.matches`). Ids the principal may
//! not DESCRIBE are left out silently, as Kafka does. Read from the local replica.

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use sluice_meta::codes;
use sluice_meta::txn::TxnState;

use super::str_bytes;
use crate::authz::{Op, Res};
use crate::clock::now_ms;
use crate::request::RequestContext;

/// Answers one ListTransactions request (API key 66): the transactional ids that pass the filters
/// and that the principal may DESCRIBE.
pub async fn handle(cx: &RequestContext, req: ListTransactionsRequest) -> ListTransactionsResponse {
    let agent = &*cx.agent;
    let mut resp = ListTransactionsResponse::default();
    let mut states = Vec::new();
    for f in &req.state_filters {
        match TxnState::ALL.iter().find(|s| s.name() == f.as_str()) {
            Some(s) => states.push(*s),
            None => resp.unknown_state_filters.push(f.clone()),
        }
    }
    let pattern = match req
        .transactional_id_pattern
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(re) => Some(re),
            Err(e) => {
                tracing::info!(pattern = %p, error = %e, "ListTransactions with an invalid pattern");
                resp.error_code = codes::INVALID_REGULAR_EXPRESSION;
                return resp;
            }
        },
    };
    let now = now_ms();
    let listed: Vec<(String, i64, TxnState)> = agent.read(|s| {
        s.transactions
            .by_id
            .iter()
            .filter(|(_, m)| states.is_empty() || states.contains(&m.state))
            .filter(|(_, m)| {
                req.producer_id_filters.is_empty()
                    || req.producer_id_filters.contains(&ProducerId(m.producer_id))
            })
            .filter(|(_, m)| req.duration_filter < 0 || now - m.start_ms >= req.duration_filter)
            .filter(|(id, _)| pattern.as_ref().is_none_or(|re| re.is_match(id)))
            .map(|(id, m)| (id.clone(), m.producer_id, m.state))
            .collect()
    });
    resp.transaction_states = listed
        .into_iter()
        .filter(|(id, _, _)| cx.may(Op::Describe, Res::TransactionalId(id)))
        .map(|(id, producer_id, state)| {
            let mut t = TransactionState::default();
            t.transactional_id = TransactionalId(str_bytes(id));
            t.producer_id = ProducerId(producer_id);
            t.transaction_state = str_bytes(state.name());
            t
        })
        .collect();
    resp
}
