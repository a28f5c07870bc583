//! DescribeTopicPartitions (75, KIP-966): the Java Admin's `describeTopics` since Kafka 3.8,
//! paginated.
//!
//! Topics are answered in name order: the requested ones, or every topic the client may
//! DESCRIBE when none is named, starting at the cursor's topic and partition. At most
//! `response_partition_limit` partitions are answered (capped at Kafka's default
//! `max.request.partition.size.limit`, 2000); when more remain, `next_cursor` names the first
//! one left out. Partitions are shown as Metadata shows them ([`PartitionView`]), with empty
//! eligible-leader-replica lists (Sluice has no ELR, like a Kafka cluster without it enabled).
//! A requested topic that does not exist gets UNKNOWN_TOPIC_OR_PARTITION, one the client may not
//! DESCRIBE TOPIC_AUTHORIZATION_FAILED.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse};

use super::{topic_name, PartitionView};
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Kafka's default `max.request.partition.size.limit`.
const MAX_PARTITIONS: i32 = 2000;

/// Answers one DescribeTopicPartitions request (API key 75): one page of topics and partitions,
/// with `next_cursor` when more remain.
pub async fn handle(
    cx: &RequestContext,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let agent = &*cx.agent;
    let mut resp = DescribeTopicPartitionsResponse::default();
    let mut names: Vec<String> = if req.topics.is_empty() {
        agent
            .read(|s| s.topics.keys().cloned().collect::<Vec<_>>())
            .into_iter()
            .filter(|n| cx.may(Op::Describe, Res::Topic(n)))
            .collect()
    } else {
        req.topics.iter().map(|t| t.name.to_string()).collect()
    };
    names.sort();
    names.dedup();
    let (start_topic, start_partition) = req.cursor.as_ref().map_or((String::new(), 0), |c| {
        (c.topic_name.to_string(), c.partition_index)
    });
    let mut budget = req.response_partition_limit.clamp(1, MAX_PARTITIONS);
    let agents = agent.live_agents();
    for name in names.into_iter().filter(|n| *n >= start_topic) {
        // As Kafka: once the budget is spent, the next topic (known or not) starts the next page.
        if budget == 0 {
            resp.next_cursor = Some(cursor(&name, 0));
            break;
        }
        let mut t = DescribeTopicPartitionsResponseTopic::default();
        t.name = Some(topic_name(name.clone()));
        t.topic_authorized_operations = i32::MIN;
        if !cx.authorize(Op::Describe, Res::Topic(&name)) {
            t.error_code = ResponseError::TopicAuthorizationFailed.code();
            resp.topics.push(t);
            continue;
        }
        let Some((id, count)) =
            agent.read(|s| s.topic(&name).map(|x| (x.id, x.partitions.len() as i32)))
        else {
            t.error_code = ResponseError::UnknownTopicOrPartition.code();
            resp.topics.push(t);
            continue;
        };
        t.topic_id = id;
        t.topic_authorized_operations = cx.authorized_operations(Res::Topic(&name));
        let first = if name == start_topic {
            start_partition.max(0)
        } else {
            0
        };
        for p in first..count {
            if budget == 0 {
                resp.next_cursor = Some(cursor(&name, p));
                break;
            }
            budget -= 1;
            let view = PartitionView::of(&agents, &name, p);
            let mut out = DescribeTopicPartitionsResponsePartition::default();
            out.partition_index = p;
            out.leader_id = view.leader;
            out.leader_epoch = view.leader_epoch;
            out.replica_nodes = view.replicas.clone();
            out.isr_nodes = view.replicas;
            out.eligible_leader_replicas = Some(Vec::new());
            out.last_known_elr = Some(Vec::new());
            t.partitions.push(out);
        }
        resp.topics.push(t);
        if resp.next_cursor.is_some() {
            break;
        }
    }
    resp
}

fn cursor(topic: &str, partition: i32) -> Cursor {
    let mut c = Cursor::default();
    c.topic_name = topic_name(topic);
    c.partition_index = partition;
    c
}
