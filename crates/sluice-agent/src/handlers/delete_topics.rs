//! STUB (being written by another engineer).
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use crate::agent::Agent;
pub async fn handle(_agent: &Agent, _req: DeleteTopicsRequest, _version: i16) -> DeleteTopicsResponse {
    DeleteTopicsResponse::default()
}
