//! STUB (being written by another engineer).
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use crate::agent::Agent;
pub async fn handle(_agent: &Agent, _req: IncrementalAlterConfigsRequest, _version: i16) -> IncrementalAlterConfigsResponse {
    IncrementalAlterConfigsResponse::default()
}
