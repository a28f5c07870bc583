//! TxnOffsetCommit: offsets staged in a producer's transaction for a consumer group; they
//! become the group's committed offsets when the transaction commits and are dropped when it
//! aborts (KIP-98; KIP-447 adds the member and generation checks of v3+).
//!
//! Needs WRITE on the transactional id, READ on the group, READ on each topic (per partition:
//! TOPIC_AUTHORIZATION_FAILED). A group or transaction refusal is every partition's code.

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use sluice_meta::codes;
use sluice_meta::groups::OffsetCommitEntry;
use sluice_meta::txn::TxnCommand;

use crate::authz::{Op, Res};
use crate::clock::now_ms;
use crate::request::RequestContext;
use crate::txn_coordinator::{self, TxnApi};

/// The first TxnOffsetCommit version of transaction version 2 (KIP-890): the group joins the
/// producer's transaction without AddOffsetsToTxn, which starts the transaction if none is open.
const IMPLICIT_ADD_VERSION: i16 = 5;

/// Answers one TxnOffsetCommit request (API key 28): stages the offsets in the transaction; a code
/// per partition.
pub async fn handle(cx: &RequestContext, req: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let tid = req.transactional_id.0.to_string();
    let group = req.group_id.0.to_string();
    let topic_allowed: Vec<bool> = req
        .topics
        .iter()
        .map(|t| cx.authorize(Op::Read, Res::Topic(&t.name.0)))
        .collect();
    let common = if let Err(code) = txn_coordinator::gate(cx, &tid) {
        Some(code)
    } else if !cx.authorize(Op::Read, Res::Group(&group)) {
        Some(codes::GROUP_AUTHORIZATION_FAILED)
    } else {
        None
    };
    let offsets: Vec<OffsetCommitEntry> = req
        .topics
        .iter()
        .zip(&topic_allowed)
        .filter(|(_, allowed)| **allowed)
        .flat_map(|(t, _)| {
            t.partitions.iter().map(|p| OffsetCommitEntry {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            })
        })
        .collect();
    let outcome = match common {
        Some(code) => code,
        None if offsets.is_empty() => codes::NONE,
        None => {
            let cmd = TxnCommand::OffsetCommit {
                transactional_id: tid,
                producer_id: req.producer_id.0,
                producer_epoch: req.producer_epoch,
                group,
                generation: if version >= 3 { req.generation_id } else { -1 },
                member_id: if version >= 3 {
                    req.member_id.to_string()
                } else {
                    String::new()
                },
                instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
                offsets,
                implicit_add: version >= IMPLICIT_ADD_VERSION,
                now_ms: now_ms(),
            };
            match txn_coordinator::propose(agent, cmd).await {
                Ok(_) => codes::NONE,
                Err(e) => TxnApi::TxnOffsetCommit.code_for(version, e.code),
            }
        }
    };
    let mut resp = TxnOffsetCommitResponse::default();
    resp.topics = req
        .topics
        .into_iter()
        .zip(topic_allowed)
        .map(|(t, allowed)| {
            let mut tr = TxnOffsetCommitResponseTopic::default();
            tr.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut pr = TxnOffsetCommitResponsePartition::default();
                    pr.partition_index = p.partition_index;
                    pr.error_code = match common {
                        Some(code) => code,
                        None if !allowed => codes::TOPIC_AUTHORIZATION_FAILED,
                        None => outcome,
                    };
                    pr
                })
                .collect();
            tr.name = t.name;
            tr
        })
        .collect();
    resp
}
