//! Errors of the metadata quorum's public API.
//!
//! [`MetaError`] is what every fallible public function of this crate returns.
//! `NotLeader` carries the leader (if known) so callers can redirect; the HTTP
//! surface maps each variant to a status code and back (see [`crate::api`]).
//!
//! Errors that originate in this process keep their cause as [`std::error::Error::source`]
//! (a redb error, an openraft error, a reqwest error). Errors rebuilt from a remote node's
//! answer only have its message: [`MetaError::Unavailable`] and
//! [`MetaError::Indeterminate`] then have no source, and an internal error of the remote
//! node is a [`MetaError::Remote`]. Display messages include the cause's message, as they
//! did when causes were kept as strings (clients and logs read them).

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

/// A type-erased cause: the underlying error of a [`MetaError`], or what a
/// [`crate::archive::SnapshotArchive`] fails with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Identity and address of a meta node believed to be the leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderInfo {
    /// Raft node id of the leader.
    pub id: u64,
    /// `host:port` of the leader's HTTP listener.
    pub addr: String,
}

/// Error returned by the metadata quorum's API.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// This node is not the leader; `leader` is the current leader if known.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        /// The leader, if this node knows it.
        leader: Option<LeaderInfo>,
    },
    /// No meta node could serve the request (no leader, unreachable, timed out). Safe to
    /// retry: the request was not applied.
    #[error("metadata quorum unavailable: {reason}")]
    Unavailable {
        /// What could not be reached and why, including the cause's message (e.g.
        /// `http://host:port/api/propose: <connect error>`), or a remote node's message.
        reason: String,
        /// The local error behind it (a reqwest or archive error); `None` when the reason is
        /// all there is (no leader elected, a remote node's answer).
        #[source]
        source: Option<BoxError>,
    },
    /// The request reached a node but its outcome is unknown (e.g. the leader did
    /// not answer in time): the command may or may not have been applied. Not
    /// retried automatically, since commands need not be idempotent.
    #[error("outcome unknown: {reason}")]
    Indeterminate {
        /// What happened, including the cause's message, or a remote node's message.
        reason: String,
        /// The local error behind it (a reqwest error), if any.
        #[source]
        source: Option<BoxError>,
    },
    /// Local I/O failed (data directory, snapshot files, listener).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The embedded log store failed: a [`redb::Error`], or the blocking task that
    /// wrote a snapshot failed (a [`tokio::task::JoinError`]).
    #[error("log store error: {0}")]
    Storage(#[source] BoxError),
    /// openraft returned an error that is neither "not leader" nor "unavailable" (the
    /// source is the openraft error), or the quorum answered a command with a response of
    /// the wrong kind.
    #[error("raft error: {0}")]
    Raft(#[source] BoxError),
    /// A remote meta node answered with an internal error (an [`crate::api::ErrorBody`] of
    /// kind `internal`, or of a kind this client does not know), or with a body that is not
    /// an `ErrorBody`. Only the text crossed the wire.
    #[error("raft error: {message}")]
    Remote {
        /// HTTP status of the answer (500 for an `internal` error body).
        status: StatusCode,
        /// The remote error's message, or `HTTP <status>: <body>` for a body that is not an
        /// `ErrorBody`.
        message: String,
    },
    /// (De)serialization failed.
    #[error("serialization error: {0}")]
    Serde(#[from] serde_json::Error),
    /// The request was rejected as malformed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The node or client has been shut down.
    #[error("shut down")]
    Shutdown,
}

impl MetaError {
    /// [`MetaError::Unavailable`] without a local cause.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        MetaError::Unavailable {
            reason: reason.into(),
            source: None,
        }
    }

    /// [`MetaError::Unavailable`] caused by `source`; the reason reads `<context>: <source>`.
    pub fn unavailable_from(context: impl std::fmt::Display, source: impl Into<BoxError>) -> Self {
        let source = source.into();
        MetaError::Unavailable {
            reason: format!("{context}: {source}"),
            source: Some(source),
        }
    }

    /// [`MetaError::Indeterminate`] without a local cause.
    pub fn indeterminate(reason: impl Into<String>) -> Self {
        MetaError::Indeterminate {
            reason: reason.into(),
            source: None,
        }
    }

    /// [`MetaError::Indeterminate`] caused by `source`; the reason reads
    /// `<context>: <source>`.
    pub fn indeterminate_from(
        context: impl std::fmt::Display,
        source: impl Into<BoxError>,
    ) -> Self {
        let source = source.into();
        MetaError::Indeterminate {
            reason: format!("{context}: {source}"),
            source: Some(source),
        }
    }

    /// [`MetaError::Raft`] caused by an openraft (or other local) error.
    pub fn raft(source: impl Into<BoxError>) -> Self {
        MetaError::Raft(source.into())
    }
}

impl From<redb::Error> for MetaError {
    fn from(e: redb::Error) -> Self {
        MetaError::Storage(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::api::ErrorBody;

    #[test]
    fn local_causes_are_sources_and_stay_in_the_message() {
        let io = std::io::Error::other("refused");
        let e = MetaError::unavailable_from("http://m1:9000/api/propose", io);
        assert_eq!(
            e.to_string(),
            "metadata quorum unavailable: http://m1:9000/api/propose: refused"
        );
        assert_eq!(e.source().unwrap().to_string(), "refused");
        let e = MetaError::from(redb::Error::Corrupted("bad page".into()));
        assert!(e.to_string().starts_with("log store error: "));
        assert!(e.source().unwrap().downcast_ref::<redb::Error>().is_some());
        assert!(MetaError::unavailable("no leader elected")
            .source()
            .is_none());
    }

    #[test]
    fn the_http_round_trip_keeps_kinds_and_messages() {
        let round_trip = |e: MetaError| {
            let (status, body) = ErrorBody::from_error(&e);
            (status, body.into_error(status))
        };
        let (status, back) = round_trip(MetaError::unavailable("no leader elected"));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(matches!(back, MetaError::Unavailable { source: None, .. }));
        assert_eq!(
            back.to_string(),
            "metadata quorum unavailable: metadata quorum unavailable: no leader elected"
        );
        let (status, back) = round_trip(MetaError::indeterminate("answer lost"));
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert!(matches!(back, MetaError::Indeterminate { .. }));
        // Internal errors come back as `Remote`, worded as before (`raft error: ...`).
        let (status, back) = round_trip(MetaError::raft(std::io::Error::other("fatal")));
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(matches!(
            back,
            MetaError::Remote {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                ..
            }
        ));
        assert_eq!(back.to_string(), "raft error: raft error: fatal");
        let (_, back) = round_trip(MetaError::Shutdown);
        assert_eq!(
            back.to_string(),
            "metadata quorum unavailable: remote node shut down: shut down"
        );
    }
}
