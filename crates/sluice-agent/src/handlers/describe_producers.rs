//! STUB (being written by another engineer).
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse};
use crate::agent::Agent;
pub async fn handle(_agent: &Agent, _req: DescribeProducersRequest, _version: i16) -> DescribeProducersResponse {
    DescribeProducersResponse::default()
}
