//! WriteTxnMarkers: Kafka's coordinator-to-leader request, which admins also send to close a
//! hanging transaction (`Admin.abortTransaction`, `kafka-transactions.sh abort`). Needs
//! CLUSTER_ACTION. Each marker becomes one quorum command placing a commit or abort marker in
//! every listed partition where the producer has an open transaction
//! ([`sluice_meta::txn::TxnCommand::WriteMarkers`]); Sluice's own coordinator never needs it.

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use sluice_meta::codes;
use sluice_meta::command::CommandResponse;
use sluice_meta::txn::TxnCommand;

use crate::authz::{Op, Res};
use crate::clock::now_ms;
use crate::request::RequestContext;
use crate::txn_coordinator;

/// Answers one WriteTxnMarkers request (API key 27): one quorum command per marker, a code per
/// partition.
pub async fn handle(cx: &RequestContext, req: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse {
    let agent = &*cx.agent;
    let allowed = cx.authorize(Op::ClusterAction, Res::Cluster);
    let mut resp = WriteTxnMarkersResponse::default();
    for m in req.markers {
        let partitions = txn_coordinator::partitions_of(&m.topics, |t| {
            (t.name.0.as_str(), t.partition_indexes.as_slice())
        });
        let codes: Vec<i16> = if !allowed {
            vec![codes::CLUSTER_AUTHORIZATION_FAILED; partitions.len()]
        } else {
            let cmd = TxnCommand::WriteMarkers {
                producer_id: m.producer_id.0,
                producer_epoch: m.producer_epoch,
                commit: m.transaction_result,
                partitions: partitions.clone(),
                now_ms: now_ms(),
            };
            match txn_coordinator::propose(agent, cmd).await {
                Ok(CommandResponse::Codes(c)) if c.len() == partitions.len() => c,
                Ok(other) => {
                    tracing::error!(?other, "unexpected answer to WriteTxnMarkers");
                    vec![codes::UNKNOWN_SERVER_ERROR; partitions.len()]
                }
                Err(e) => vec![e.code; partitions.len()],
            }
        };
        let mut r = WritableTxnMarkerResult::default();
        r.producer_id = m.producer_id;
        r.topics = txn_coordinator::by_topic(partitions.into_iter().zip(codes))
            .into_iter()
            .map(|(topic, parts)| {
                let mut t = WritableTxnMarkerTopicResult::default();
                t.name = super::topic_name(topic);
                t.partitions = parts
                    .into_iter()
                    .map(|(p, code)| {
                        let mut pr = WritableTxnMarkerPartitionResult::default();
                        pr.partition_index = p;
                        pr.error_code = code;
                        pr
                    })
                    .collect();
                t
            })
            .collect();
        resp.markers.push(r);
    }
    resp
}
