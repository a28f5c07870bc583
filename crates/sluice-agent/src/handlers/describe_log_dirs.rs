//! DescribeLogDirs (35): `kafka-log-dirs --describe`, as an object-store view.
//!
//! A Sluice agent has no log directories: every partition lives in object storage, readable by
//! every agent. So each agent answers with one "log dir", the object store's URL, holding every
//! partition (or the requested ones) with its size: the bytes of its stored batches, as the
//! metadata quorum indexes them. The volume's total and usable bytes are unknown (-1, Kafka's
//! `UNKNOWN_VOLUME_BYTES`), the offset lag 0 (nothing is replicated) and no partition is a
//! future replica. Without DESCRIBE on the cluster the answer is empty (v3+: with
//! CLUSTER_AUTHORIZATION_FAILED), as in Kafka.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse};

use super::{str_bytes, topic_name};
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Answers one DescribeLogDirs request (API key 35): one log dir, the object store's URL, holding
/// the partitions with their stored bytes.
pub async fn handle(cx: &RequestContext, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let mut resp = DescribeLogDirsResponse::default();
    if !cx.authorize(Op::Describe, Res::Cluster) {
        if version >= 3 {
            resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        }
        return resp;
    }
    // topic -> [(partition, size in bytes)]
    let sizes: BTreeMap<String, Vec<(i32, i64)>> = agent.read(|s| {
        let size = |t: &sluice_meta::state::Topic, p: i32| {
            t.partitions
                .get(p as usize)
                .map(|l| (p, l.chunks.values().map(|c| c.len as i64).sum()))
        };
        match &req.topics {
            None => s
                .topics
                .values()
                .map(|t| {
                    let parts = (0..t.partitions.len() as i32).filter_map(|p| size(t, p));
                    (t.name.clone(), parts.collect())
                })
                .collect(),
            Some(wanted) => wanted
                .iter()
                .filter_map(|w| {
                    let t = s.topic(&w.topic)?;
                    let parts = w.partitions.iter().filter_map(|&p| size(t, p));
                    Some((t.name.clone(), parts.collect()))
                })
                .collect(),
        }
    });
    let mut dir = DescribeLogDirsResult::default();
    dir.log_dir = str_bytes(agent.cfg.object_store_url.clone());
    dir.total_bytes = -1;
    dir.usable_bytes = -1;
    dir.topics = sizes
        .into_iter()
        .filter(|(_, parts)| !parts.is_empty())
        .map(|(name, parts)| {
            let mut t = DescribeLogDirsTopic::default();
            t.name = topic_name(name);
            t.partitions = parts
                .into_iter()
                .map(|(p, size)| {
                    let mut out = DescribeLogDirsPartition::default();
                    out.partition_index = p;
                    out.partition_size = size;
                    out
                })
                .collect();
            t
        })
        .collect();
    resp.results.push(dir);
    resp
}
