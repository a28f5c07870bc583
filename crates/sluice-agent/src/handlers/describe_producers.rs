//! DescribeProducers: the idempotent producers with state on each requested partition, read
//! from the producer table of the local metadata replica (the same state that deduplicates
//! their retries). A producer with an open transaction on the partition reports its first
//! offset there (`current_txn_start_offset`, what `kafka-transactions.sh find-hanging` looks
//! for) and coordinator epoch 0 (Sluice's one coordinator); others report -1 for both.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use sluice_meta::state::MetaState;

use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Answers one DescribeProducers request (API key 61): per partition, its active idempotent
/// producers or an error code.
pub async fn handle(
    cx: &RequestContext,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let agent = &*cx.agent;
    let mut resp = DescribeProducersResponse::default();
    // READ on each topic.
    let allowed: Vec<bool> = req
        .topics
        .iter()
        .map(|t| cx.authorize(Op::Read, Res::Topic(&t.name.0)))
        .collect();
    resp.topics = agent.read(|s| {
        req.topics
            .into_iter()
            .zip(allowed)
            .map(|(t, allowed)| {
                let name = t.name.0.to_string();
                let mut out = TopicResponse::default();
                out.partitions = t
                    .partition_indexes
                    .iter()
                    .map(|p| {
                        if allowed {
                            describe(s, &name, *p)
                        } else {
                            let mut r = PartitionResponse::default();
                            r.partition_index = *p;
                            r.error_code = ResponseError::TopicAuthorizationFailed.code();
                            r
                        }
                    })
                    .collect();
                out.name = t.name;
                out
            })
            .collect()
    });
    resp
}

fn describe(s: &MetaState, topic: &str, partition: i32) -> PartitionResponse {
    let mut r = PartitionResponse::default();
    r.partition_index = partition;
    let Some(log) = s.partition(topic, partition) else {
        r.error_code = ResponseError::UnknownTopicOrPartition.code();
        return r;
    };
    r.active_producers = s
        .producers
        .iter()
        .filter_map(|(id, ps)| {
            let state = ps.partitions.get(topic)?.get(&partition)?;
            let newest = state.batches.back()?;
            let mut p = ProducerState::default();
            p.producer_id = ProducerId(*id);
            p.producer_epoch = state.epoch as i32;
            p.last_sequence = newest.last_seq;
            p.last_timestamp = newest.timestamp;
            let open = log.open_txns.get(id).copied();
            p.coordinator_epoch = if open.is_some() { 0 } else { -1 };
            p.current_txn_start_offset = open.unwrap_or(-1);
            Some(p)
        })
        .collect();
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::fixtures::state_with_topics;
    use sluice_meta::state::{PartitionProducerState, ProducerState as Producer, SeqEntry};
    use std::collections::{BTreeMap, VecDeque};
    use uuid::Uuid;

    #[test]
    fn lists_producers_with_their_newest_batch() {
        // given a topic with two partitions and producer 7 that wrote two batches to partition 1
        let mut s = state_with_topics(&[("t", Uuid::new_v4(), 2)]);
        let entry = |first, last, ts| SeqEntry {
            first_seq: first,
            last_seq: last,
            base_offset: 0,
            timestamp: ts,
        };
        let seqs: VecDeque<SeqEntry> = [entry(0, 4, 10), entry(5, 9, 20)].into_iter().collect();
        let mut parts = BTreeMap::new();
        let state = PartitionProducerState {
            epoch: 2,
            batches: seqs,
        };
        parts.insert("t".to_string(), BTreeMap::from([(1, state)]));
        s.producers.insert(
            7,
            Producer {
                epoch: 5,
                last_update_ms: 0,
                partitions: parts,
            },
        );

        // then partition 1 lists it, partition 0 does not, and partition 5 is unknown
        let p1 = describe(&s, "t", 1);
        assert_eq!(p1.error_code, 0);
        assert_eq!(p1.active_producers.len(), 1);
        let p = &p1.active_producers[0];
        assert_eq!(
            (
                p.producer_id.0,
                p.producer_epoch,
                p.last_sequence,
                p.last_timestamp
            ),
            (7, 2, 9, 20)
        );
        assert_eq!((p.coordinator_epoch, p.current_txn_start_offset), (-1, -1));
        assert!(describe(&s, "t", 0).active_producers.is_empty());
        assert_eq!(
            describe(&s, "t", 5).error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
        assert_eq!(
            describe(&s, "x", 0).error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
    }
}
