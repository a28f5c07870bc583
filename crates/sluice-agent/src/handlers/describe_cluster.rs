//! STUB (being written by another engineer).
use kafka_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse};
use crate::agent::Agent;
pub async fn handle(_agent: &Agent, _req: DescribeClusterRequest, _version: i16) -> DescribeClusterResponse {
    DescribeClusterResponse::default()
}
