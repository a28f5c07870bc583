//! STUB (being written by another engineer).
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use crate::agent::Agent;
pub async fn handle(_agent: &Agent, _req: CreatePartitionsRequest, _version: i16) -> CreatePartitionsResponse {
    CreatePartitionsResponse::default()
}
