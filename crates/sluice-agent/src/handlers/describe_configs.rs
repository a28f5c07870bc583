//! STUB (being written by another engineer).
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use crate::agent::Agent;
pub async fn handle(_agent: &Agent, _req: DescribeConfigsRequest, _version: i16) -> DescribeConfigsResponse {
    DescribeConfigsResponse::default()
}
