//! STUB (being written by another engineer).
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};
use crate::agent::Agent;
pub async fn handle(_agent: &Agent, _req: InitProducerIdRequest, _version: i16) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
}
