//! AddPartitionsToTxn: partitions join a producer's transaction (KIP-98).
//!
//! v0-3 are the producer's form: one transaction, every partition answered with one code.
//! v4+ (KIP-890) are Kafka's broker-to-broker batched form, several transactions per request
//! and `verify_only` checks; they need CLUSTER_ACTION, as in Kafka.
//!
//! Per partition, as Kafka: a topic the principal may not WRITE is TOPIC_AUTHORIZATION_FAILED,
//! an unknown one UNKNOWN_TOPIC_OR_PARTITION, and when any partition fails that way the others
//! are OPERATION_NOT_ATTEMPTED and nothing is added. Otherwise the transaction's own outcome
//! (fenced, wrong state, quorum trouble) is every partition's code.

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
use sluice_meta::codes;
use sluice_meta::txn::{TxnCommand, TxnState};

use crate::agent::Agent;
use crate::authz::{Op, Res};
use crate::clock::now_ms;
use crate::request::RequestContext;
use crate::txn_coordinator::{self, TxnApi};

/// Answers one AddPartitionsToTxn request (API key 24): v0-3 one transaction, v4+ a batch of them;
/// each partition's result code follows Kafka's rules above.
pub async fn handle(
    cx: &RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let version = cx.api_version;
    let mut resp = AddPartitionsToTxnResponse::default();
    if version <= 3 {
        let one = Txn {
            transactional_id: req.v3_and_below_transactional_id.0.to_string(),
            producer_id: req.v3_and_below_producer_id.0,
            producer_epoch: req.v3_and_below_producer_epoch,
            verify_only: false,
            topics: req.v3_and_below_topics,
        };
        resp.results_by_topic_v3_and_below = add(cx, one, version).await;
        return resp;
    }
    if !cx.authorize(Op::ClusterAction, Res::Cluster) {
        resp.error_code = codes::CLUSTER_AUTHORIZATION_FAILED;
        return resp;
    }
    for t in req.transactions {
        let tid = t.transactional_id.clone();
        let one = Txn {
            transactional_id: t.transactional_id.0.to_string(),
            producer_id: t.producer_id.0,
            producer_epoch: t.producer_epoch,
            verify_only: t.verify_only,
            topics: t.topics,
        };
        let mut r = AddPartitionsToTxnResult::default();
        r.transactional_id = tid;
        r.topic_results = add(cx, one, version).await;
        resp.results_by_transaction.push(r);
    }
    resp
}

struct Txn {
    transactional_id: String,
    producer_id: i64,
    producer_epoch: i16,
    verify_only: bool,
    topics: Vec<AddPartitionsToTxnTopic>,
}

async fn add(cx: &RequestContext, t: Txn, version: i16) -> Vec<AddPartitionsToTxnTopicResult> {
    let agent = &*cx.agent;
    let partitions = txn_coordinator::partitions_of(&t.topics, |tp| {
        (tp.name.0.as_str(), tp.partitions.as_slice())
    });
    // Per-partition refusals first (authorization, existence), as Kafka's KafkaApis.
    let refusals: Vec<Option<i16>> = partitions
        .iter()
        .map(|(topic, p)| {
            if !cx.authorize(Op::Write, Res::Topic(topic)) {
                Some(codes::TOPIC_AUTHORIZATION_FAILED)
            } else if agent.read(|s| s.partition(topic, *p).is_none()) {
                Some(codes::UNKNOWN_TOPIC_OR_PARTITION)
            } else {
                None
            }
        })
        .collect();
    let codes: Vec<i16> = if let Err(code) = txn_coordinator::gate(cx, &t.transactional_id) {
        vec![code; partitions.len()]
    } else if refusals.iter().any(Option::is_some) {
        refusals
            .iter()
            .map(|r| r.unwrap_or(codes::OPERATION_NOT_ATTEMPTED))
            .collect()
    } else if t.verify_only {
        verify(agent, &t, &partitions)
    } else {
        let cmd = TxnCommand::AddPartitions {
            transactional_id: t.transactional_id.clone(),
            producer_id: t.producer_id,
            producer_epoch: t.producer_epoch,
            partitions: partitions.clone(),
            now_ms: now_ms(),
        };
        let code = match txn_coordinator::propose(agent, cmd).await {
            Ok(_) => codes::NONE,
            Err(e) => TxnApi::AddPartitionsToTxn.code_for(version, e.code),
        };
        vec![code; partitions.len()]
    };
    group_by_topic(&partitions, &codes)
}

/// KIP-890's verification: is each partition already in the producer's ongoing transaction?
/// One that is not is TRANSACTION_ABORTABLE (KIP-1050), as Kafka's
/// `TransactionCoordinator.handleVerifyPartitionsInTransaction` answers.
fn verify(agent: &Agent, t: &Txn, partitions: &[(String, i32)]) -> Vec<i16> {
    agent.read(|s| {
        let m = s.transactions.by_id.get(&t.transactional_id);
        partitions
            .iter()
            .map(|tp| match m {
                Some(m) if m.producer_id != t.producer_id => codes::INVALID_PRODUCER_ID_MAPPING,
                Some(m) if m.producer_epoch != t.producer_epoch => codes::PRODUCER_FENCED,
                Some(m) if m.state == TxnState::Ongoing && m.partitions.contains(tp) => codes::NONE,
                Some(_) => codes::TRANSACTION_ABORTABLE,
                None => codes::INVALID_PRODUCER_ID_MAPPING,
            })
            .collect()
    })
}

/// The response's per-topic, per-partition shape, in request order.
fn group_by_topic(
    partitions: &[(String, i32)],
    codes: &[i16],
) -> Vec<AddPartitionsToTxnTopicResult> {
    txn_coordinator::by_topic(partitions.iter().cloned().zip(codes.iter().copied()))
        .into_iter()
        .map(|(topic, parts)| {
            let mut r = AddPartitionsToTxnTopicResult::default();
            r.name = super::topic_name(topic);
            r.results_by_partition = parts
                .into_iter()
                .map(|(p, code)| {
                    let mut pr = AddPartitionsToTxnPartitionResult::default();
                    pr.partition_index = p;
                    pr.partition_error_code = code;
                    pr
                })
                .collect();
            r
        })
        .collect()
}
