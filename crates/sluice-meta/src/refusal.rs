//! [`Refusal`]: a command the state machine refuses, with a Kafka error code and message.
//!
//! A leaf, so that the area modules below [`crate::command`] (the groups) can refuse without
//! knowing [`crate::command::CommandResponse`], which converts from it into
//! `CommandResponse::Error` with the same code and message.

/// A refused command: what `CommandResponse::Error` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The Kafka error code (see [`crate::codes`]).
    pub code: i16,
    /// A human-readable message, Kafka's wording where Kafka has one.
    pub message: String,
}

impl Refusal {
    /// A refusal with `code` and `message`.
    pub fn new(code: i16, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}
