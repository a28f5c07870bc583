//! The dispatch table: one line per Kafka API, naming its handler (one hop from here).
//!
//! Every handler has the same shape:
//!
//! ```ignore
//! pub async fn handle(cx: &RequestContext, req: XRequest) -> XResponse
//! ```
//!
//! `cx` ([`RequestContext`]) carries the agent, the API version, the client id, the principal,
//! the peer address and the listener; authorization is asked of it (`cx.authorize(op, res)`).
//! Produce is the one exception: it appends its batches to the segment writer *before* returning
//! its reply future, so that batches are sequenced in request order even though responses are
//! awaited concurrently, and it answers nothing for acks=0.
//!
//! # Adding an API
//!
//! 1. Advertise it: add its version range to `sluice_protocol::versions` (what ApiVersions
//!    answers and the codec decodes).
//! 2. Write `handlers/<api>.rs` with a module doc (what Kafka does, what Sluice does, the KIP)
//!    and `pub async fn handle(cx: &RequestContext, req: XRequest) -> XResponse`; declare it in
//!    `handlers/mod.rs`. Use the shared gates there: [`crate::handlers::groups`] for requests
//!    about a group (authorization, then "this agent coordinates it"), the admin helpers
//!    (`ApiError`, `propose_admin`, `acl_gate`) for admin APIs.
//! 3. Add one line `X => handlers::x::handle,` to the table below: the name is the
//!    `RequestKind`/`ResponseKind`/`ApiKey` variant. The test at the bottom fails until the
//!    advertised APIs and the table agree.

use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use sluice_protocol::codec::Request;

use crate::handlers;
pub use crate::request::{Reply, ReplyFuture, RequestContext};

/// The APIs the connection answers itself because they change its state (see
/// [`crate::server`] and [`crate::sasl`]); they never reach [`dispatch`].
pub const ANSWERED_BY_CONNECTION: &[ApiKey] = &[ApiKey::SaslHandshake, ApiKey::SaslAuthenticate];

/// Declares the table: `Api => handler,` for every API whose handler has the common shape.
macro_rules! dispatch_table {
    ($($api:ident => $handler:path,)*) => {
        /// Every API [`dispatch`] has a handler for.
        pub const DISPATCHED: &[ApiKey] = &[ApiKey::Produce, $(ApiKey::$api,)*];

        /// Runs the handler of `body`; `None` when the table has none.
        fn route(cx: RequestContext, body: RequestKind) -> Option<ReplyFuture> {
            match body {
                $(RequestKind::$api(r) => Some(Box::pin(async move {
                    Reply::Response(Box::new(ResponseKind::$api($handler(&cx, r).await)))
                })),)*
                _ => None,
            }
        }
    };
}

dispatch_table! {
    ApiVersions => handlers::api_versions::handle,
    Metadata => handlers::metadata::handle,
    Fetch => handlers::fetch::handle,
    ListOffsets => handlers::list_offsets::handle,
    OffsetForLeaderEpoch => handlers::offset_for_leader_epoch::handle,
    CreateTopics => handlers::create_topics::handle,
    DeleteTopics => handlers::delete_topics::handle,
    CreatePartitions => handlers::create_partitions::handle,
    DescribeConfigs => handlers::describe_configs::handle,
    AlterConfigs => handlers::alter_configs::handle,
    IncrementalAlterConfigs => handlers::incremental_alter_configs::handle,
    DescribeCluster => handlers::describe_cluster::handle,
    DescribeTopicPartitions => handlers::describe_topic_partitions::handle,
    DescribeLogDirs => handlers::describe_log_dirs::handle,
    DescribeQuorum => handlers::describe_quorum::handle,
    UpdateFeatures => handlers::update_features::handle,
    ElectLeaders => handlers::elect_leaders::handle,
    AlterPartitionReassignments => handlers::partition_reassignments::alter,
    ListPartitionReassignments => handlers::partition_reassignments::list,
    InitProducerId => handlers::init_producer_id::handle,
    DescribeProducers => handlers::describe_producers::handle,
    AddPartitionsToTxn => handlers::add_partitions_to_txn::handle,
    AddOffsetsToTxn => handlers::add_offsets_to_txn::handle,
    TxnOffsetCommit => handlers::txn_offset_commit::handle,
    EndTxn => handlers::end_txn::handle,
    WriteTxnMarkers => handlers::write_txn_markers::handle,
    ListTransactions => handlers::list_transactions::handle,
    DescribeTransactions => handlers::describe_transactions::handle,
    DeleteRecords => handlers::delete_records::handle,
    FindCoordinator => handlers::find_coordinator::handle,
    JoinGroup => handlers::join_group::handle,
    SyncGroup => handlers::sync_group::handle,
    Heartbeat => handlers::heartbeat::handle,
    LeaveGroup => handlers::leave_group::handle,
    OffsetCommit => handlers::offset_commit::handle,
    OffsetFetch => handlers::offset_fetch::handle,
    OffsetDelete => handlers::offset_delete::handle,
    ListGroups => handlers::list_groups::handle,
    DescribeGroups => handlers::describe_groups::handle,
    DeleteGroups => handlers::delete_groups::handle,
    ConsumerGroupHeartbeat => handlers::consumer_group_heartbeat::handle,
    ConsumerGroupDescribe => handlers::consumer_group_describe::handle,
    ShareGroupHeartbeat => handlers::share_group_heartbeat::handle,
    ShareGroupDescribe => handlers::share_group_describe::handle,
    ShareFetch => handlers::share_fetch::handle,
    ShareAcknowledge => handlers::share_acknowledge::handle,
    DescribeShareGroupOffsets => handlers::describe_share_group_offsets::handle,
    AlterShareGroupOffsets => handlers::alter_share_group_offsets::handle,
    DeleteShareGroupOffsets => handlers::delete_share_group_offsets::handle,
    CreateAcls => handlers::create_acls::handle,
    DescribeAcls => handlers::describe_acls::handle,
    DeleteAcls => handlers::delete_acls::handle,
    AlterUserScramCredentials => handlers::alter_user_scram_credentials::handle,
    DescribeUserScramCredentials => handlers::describe_user_scram_credentials::handle,
    DescribeClientQuotas => handlers::client_quotas::describe,
    AlterClientQuotas => handlers::client_quotas::alter,
}

/// Starts serving one request: the future of its reply. Produce's batches are already appended
/// when this returns (see the module doc).
pub async fn dispatch(cx: RequestContext, req: Request) -> ReplyFuture {
    let body = match req.body {
        RequestKind::Produce(r) => return handlers::produce::handle(&cx, r).await,
        body => body,
    };
    route(cx, body).unwrap_or_else(|| {
        // The codec only decodes advertised APIs, so this is a table/versions mismatch (the
        // test below rules it out): answer nothing and let the connection close.
        let why = format!(
            "no handler for {:?} (versions table and dispatch disagree)",
            req.api
        );
        Box::pin(std::future::ready(Reply::Close(why)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::versions::supported_range;

    #[test]
    fn every_advertised_api_has_a_handler_and_back() {
        for api in ApiKey::iter() {
            let advertised = supported_range(api).is_some();
            let dispatched = DISPATCHED.contains(&api);
            let by_connection = ANSWERED_BY_CONNECTION.contains(&api);
            assert!(
                !(dispatched && by_connection),
                "{api:?} is both dispatched and answered by the connection"
            );
            assert_eq!(
                dispatched || by_connection,
                advertised,
                "{api:?}: advertised in ApiVersions = {advertised}, has a handler = {}",
                dispatched || by_connection
            );
        }
    }

    #[test]
    fn the_table_names_each_api_once() {
        let mut seen = std::collections::HashSet::new();
        for api in DISPATCHED {
            assert!(seen.insert(*api), "{api:?} twice in the dispatch table");
        }
    }
}
