//! The dispatch table: one handler per Kafka API, one hop from here.
//!
//! `dispatch` returns a future per request. Most handlers do all their work in that future;
//! Produce appends its batches to the segment writer *before* returning it, so that batches are
//! sequenced in request order even though responses are awaited concurrently.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use kafka_protocol::messages::{RequestKind, ResponseKind};
use sluice_protocol::codec::Request;

use crate::agent::Agent;
use crate::handlers;

/// What the connection does with a request's outcome.
pub enum Reply {
    Response(Box<ResponseKind>),
    /// Produce with acks=0: Kafka sends nothing back.
    NoResponse,
    /// A raw SASL token frame (after a v0 SaslHandshake; the connection writes these).
    Raw(bytes::Bytes),
    /// Close the connection when this request's turn comes (logged by the connection).
    Close(String),
}

pub type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

fn ready(r: ResponseKind) -> ReplyFuture {
    Box::pin(std::future::ready(Reply::Response(Box::new(r))))
}

pub async fn dispatch(agent: Arc<Agent>, req: Request) -> ReplyFuture {
    let v = req.version;
    match req.body {
        RequestKind::Produce(r) => handlers::produce::handle(agent, r, v).await,
        RequestKind::ApiVersions(r) => ready(ResponseKind::ApiVersions(
            handlers::api_versions::handle(r, v),
        )),
        RequestKind::Metadata(r) => {
            resp(
                async move { ResponseKind::Metadata(handlers::metadata::handle(&agent, r, v).await) },
            )
        }
        RequestKind::Fetch(r) => {
            resp(async move { ResponseKind::Fetch(handlers::fetch::handle(&agent, r, v).await) })
        }
        RequestKind::ListOffsets(r) => resp(async move {
            ResponseKind::ListOffsets(handlers::list_offsets::handle(&agent, r, v).await)
        }),
        RequestKind::CreateTopics(r) => resp(async move {
            ResponseKind::CreateTopics(handlers::create_topics::handle(&agent, r, v).await)
        }),
        RequestKind::DeleteRecords(r) => resp(async move {
            ResponseKind::DeleteRecords(handlers::delete_records::handle(&agent, r, v).await)
        }),
        RequestKind::DeleteTopics(r) => resp(async move {
            ResponseKind::DeleteTopics(handlers::delete_topics::handle(&agent, r, v).await)
        }),
        RequestKind::CreatePartitions(r) => resp(async move {
            ResponseKind::CreatePartitions(handlers::create_partitions::handle(&agent, r, v).await)
        }),
        RequestKind::DescribeConfigs(r) => resp(async move {
            ResponseKind::DescribeConfigs(handlers::describe_configs::handle(&agent, r, v).await)
        }),
        RequestKind::IncrementalAlterConfigs(r) => resp(async move {
            ResponseKind::IncrementalAlterConfigs(
                handlers::incremental_alter_configs::handle(&agent, r, v).await,
            )
        }),
        RequestKind::DescribeCluster(r) => resp(async move {
            ResponseKind::DescribeCluster(handlers::describe_cluster::handle(&agent, r, v).await)
        }),
        RequestKind::InitProducerId(r) => resp(async move {
            ResponseKind::InitProducerId(handlers::init_producer_id::handle(&agent, r, v).await)
        }),
        RequestKind::DescribeProducers(r) => resp(async move {
            ResponseKind::DescribeProducers(
                handlers::describe_producers::handle(&agent, r, v).await,
            )
        }),
        RequestKind::AddPartitionsToTxn(r) => resp(async move {
            ResponseKind::AddPartitionsToTxn(
                handlers::add_partitions_to_txn::handle(&agent, r, v).await,
            )
        }),
        RequestKind::AddOffsetsToTxn(r) => resp(async move {
            ResponseKind::AddOffsetsToTxn(handlers::add_offsets_to_txn::handle(&agent, r, v).await)
        }),
        RequestKind::TxnOffsetCommit(r) => resp(async move {
            ResponseKind::TxnOffsetCommit(handlers::txn_offset_commit::handle(&agent, r, v).await)
        }),
        RequestKind::EndTxn(r) => {
            resp(async move { ResponseKind::EndTxn(handlers::end_txn::handle(&agent, r, v).await) })
        }
        RequestKind::WriteTxnMarkers(r) => resp(async move {
            ResponseKind::WriteTxnMarkers(handlers::write_txn_markers::handle(&agent, r, v).await)
        }),
        RequestKind::ListTransactions(r) => resp(async move {
            ResponseKind::ListTransactions(handlers::list_transactions::handle(&agent, r, v).await)
        }),
        RequestKind::DescribeTransactions(r) => resp(async move {
            ResponseKind::DescribeTransactions(
                handlers::describe_transactions::handle(&agent, r, v).await,
            )
        }),
        RequestKind::FindCoordinator(r) => resp(async move {
            ResponseKind::FindCoordinator(handlers::find_coordinator::handle(&agent, r, v).await)
        }),
        RequestKind::ShareGroupHeartbeat(r) => resp(async move {
            ResponseKind::ShareGroupHeartbeat(
                handlers::share_group_heartbeat::handle(&agent, r, v).await,
            )
        }),
        RequestKind::ShareGroupDescribe(r) => resp(async move {
            ResponseKind::ShareGroupDescribe(
                handlers::share_group_describe::handle(&agent, r, v).await,
            )
        }),
        RequestKind::ShareFetch(r) => resp(async move {
            ResponseKind::ShareFetch(handlers::share_fetch::handle(&agent, r, v).await)
        }),
        RequestKind::ShareAcknowledge(r) => resp(async move {
            ResponseKind::ShareAcknowledge(handlers::share_acknowledge::handle(&agent, r, v).await)
        }),
        RequestKind::DescribeShareGroupOffsets(r) => resp(async move {
            ResponseKind::DescribeShareGroupOffsets(
                handlers::describe_share_group_offsets::handle(&agent, r, v).await,
            )
        }),
        RequestKind::AlterShareGroupOffsets(r) => resp(async move {
            ResponseKind::AlterShareGroupOffsets(
                handlers::alter_share_group_offsets::handle(&agent, r, v).await,
            )
        }),
        RequestKind::DeleteShareGroupOffsets(r) => resp(async move {
            ResponseKind::DeleteShareGroupOffsets(
                handlers::delete_share_group_offsets::handle(&agent, r, v).await,
            )
        }),
        RequestKind::AlterUserScramCredentials(r) => resp(async move {
            ResponseKind::AlterUserScramCredentials(
                handlers::alter_user_scram_credentials::handle(&agent, r, v).await,
            )
        }),
        RequestKind::DescribeUserScramCredentials(r) => resp(async move {
            ResponseKind::DescribeUserScramCredentials(
                handlers::describe_user_scram_credentials::handle(&agent, r, v).await,
            )
        }),
        RequestKind::CreateAcls(r) => resp(async move {
            ResponseKind::CreateAcls(handlers::create_acls::handle(&agent, r, v).await)
        }),
        RequestKind::DescribeClientQuotas(r) => ready(ResponseKind::DescribeClientQuotas(
            handlers::client_quotas::describe(&agent, r),
        )),
        RequestKind::AlterClientQuotas(r) => ready(ResponseKind::AlterClientQuotas(
            handlers::client_quotas::alter(&agent, r),
        )),
        RequestKind::DescribeAcls(r) => ready(ResponseKind::DescribeAcls(
            handlers::describe_acls::handle(&agent, r, v),
        )),
        RequestKind::DeleteAcls(r) => resp(async move {
            ResponseKind::DeleteAcls(handlers::delete_acls::handle(&agent, r, v).await)
        }),
        // SaslHandshake and SaslAuthenticate change the connection's state, so the connection
        // answers them itself (server.rs, via sasl.rs) and they never reach this table (their
        // arm is at the end).
        RequestKind::JoinGroup(r) => {
            let client_id = req
                .header
                .client_id
                .as_ref()
                .map_or(String::new(), |c| c.to_string());
            resp(async move {
                ResponseKind::JoinGroup(
                    handlers::join_group::handle(&agent, r, v, &client_id).await,
                )
            })
        }
        RequestKind::ConsumerGroupHeartbeat(r) => {
            let client_id = req
                .header
                .client_id
                .as_ref()
                .map_or(String::new(), |c| c.to_string());
            resp(async move {
                ResponseKind::ConsumerGroupHeartbeat(
                    handlers::consumer_group_heartbeat::handle(&agent, r, v, client_id).await,
                )
            })
        }
        RequestKind::ConsumerGroupDescribe(r) => resp(async move {
            ResponseKind::ConsumerGroupDescribe(
                handlers::consumer_group_describe::handle(&agent, r, v).await,
            )
        }),
        RequestKind::SyncGroup(r) => resp(async move {
            ResponseKind::SyncGroup(handlers::sync_group::handle(&agent, r, v).await)
        }),
        RequestKind::Heartbeat(r) => ready(ResponseKind::Heartbeat(handlers::heartbeat::handle(
            &agent, r, v,
        ))),
        RequestKind::LeaveGroup(r) => resp(async move {
            ResponseKind::LeaveGroup(handlers::leave_group::handle(&agent, r, v).await)
        }),
        RequestKind::OffsetCommit(r) => resp(async move {
            ResponseKind::OffsetCommit(handlers::offset_commit::handle(&agent, r, v).await)
        }),
        RequestKind::OffsetFetch(r) => ready(ResponseKind::OffsetFetch(
            handlers::offset_fetch::handle(&agent, r, v),
        )),
        RequestKind::OffsetDelete(r) => resp(async move {
            ResponseKind::OffsetDelete(handlers::offset_delete::handle(&agent, r, v).await)
        }),
        RequestKind::ListGroups(r) => ready(ResponseKind::ListGroups(
            handlers::list_groups::handle(&agent, r, v),
        )),
        RequestKind::DescribeGroups(r) => ready(ResponseKind::DescribeGroups(
            handlers::describe_groups::handle(&agent, r, v),
        )),
        RequestKind::DeleteGroups(r) => resp(async move {
            ResponseKind::DeleteGroups(handlers::delete_groups::handle(&agent, r, v).await)
        }),
        RequestKind::AlterConfigs(r) => resp(async move {
            ResponseKind::AlterConfigs(handlers::alter_configs::handle(&agent, r, v).await)
        }),
        RequestKind::OffsetForLeaderEpoch(r) => ready(ResponseKind::OffsetForLeaderEpoch(
            handlers::offset_for_leader_epoch::handle(&agent, r, v),
        )),
        RequestKind::DescribeTopicPartitions(r) => ready(ResponseKind::DescribeTopicPartitions(
            handlers::describe_topic_partitions::handle(&agent, r, v),
        )),
        RequestKind::DescribeLogDirs(r) => ready(ResponseKind::DescribeLogDirs(
            handlers::describe_log_dirs::handle(&agent, r, v),
        )),
        RequestKind::DescribeQuorum(r) => resp(async move {
            ResponseKind::DescribeQuorum(handlers::describe_quorum::handle(&agent, r, v).await)
        }),
        RequestKind::UpdateFeatures(r) => ready(ResponseKind::UpdateFeatures(
            handlers::update_features::handle(&agent, r, v),
        )),
        RequestKind::ElectLeaders(r) => ready(ResponseKind::ElectLeaders(
            handlers::elect_leaders::handle(&agent, r, v),
        )),
        RequestKind::AlterPartitionReassignments(r) => {
            ready(ResponseKind::AlterPartitionReassignments(
                handlers::partition_reassignments::alter(&agent, r, v),
            ))
        }
        RequestKind::ListPartitionReassignments(r) => {
            ready(ResponseKind::ListPartitionReassignments(
                handlers::partition_reassignments::list(&agent, r, v),
            ))
        }
        other => {
            // The codec only decodes APIs in the versions table, so this is a table/dispatch
            // mismatch: answer nothing and let the connection close.
            let why = format!(
                "no handler for {:?} (versions table and dispatch disagree)",
                req.api
            );
            drop(other);
            Box::pin(std::future::ready(Reply::Close(why)))
        }
    }
}

fn resp(f: impl Future<Output = ResponseKind> + Send + 'static) -> ReplyFuture {
    Box::pin(async move { Reply::Response(Box::new(f.await)) })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use kafka_protocol::messages::ApiKey;
    use sluice_protocol::versions::supported_range;

    /// The request kinds a match arm of `source` handles (`RequestKind::Name(r) =>`).
    fn arms(source: &str) -> BTreeSet<String> {
        source
            .split("RequestKind::")
            .skip(1)
            .filter_map(|rest| {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
                let after = rest[name.len()..].trim_start();
                after.starts_with("(r)").then_some(name)
            })
            .collect()
    }

    #[test]
    fn every_advertised_api_has_a_handler_and_back() {
        let dispatched = arms(include_str!("dispatch.rs"));
        // SaslHandshake / SaslAuthenticate change the connection's state: server.rs answers them.
        let by_connection = arms(include_str!("server.rs"));
        for api in ApiKey::iter() {
            let name = format!("{api:?}");
            let advertised = supported_range(api).is_some();
            let handled = dispatched.contains(&name) || by_connection.contains(&name);
            assert_eq!(
                handled, advertised,
                "{name}: advertised in ApiVersions = {advertised}, has a handler = {handled}"
            );
        }
        assert!(dispatched.contains("Produce") && by_connection.contains("SaslHandshake"));
    }
}
