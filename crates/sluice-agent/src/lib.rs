//! The Sluice agent: a stateless Kafka broker.
//!
//! Connections ([`server`]) decode requests and hand them to [`dispatch`], the one table from
//! API key to handler (`handlers/<api>.rs`). Produced batches go to the [`writer`], which flushes
//! a segment object per `flush_bytes`/`linger` and commits it to the metadata quorum in one
//! command; fetches are served by [`reader`] from the local metadata replica and the block cache.
//! Everything durable lives in object storage or the quorum, so any agent can serve any
//! partition and agents can come and go. Transactions ([`txn_coordinator`] and the
//! `*_txn`/`*_transactions` handlers) are quorum commands too: markers are index entries,
//! and read_committed fetches use the last stable offset and aborted ranges of the replica.
//!
//! Files depend one way, bottom to top (no file imports one above it):
//! 1. leaves: [`clock`], [`config`] (every agent setting, compaction's and the table job's
//!    too), [`topic_config`], [`placement`], [`sequence_fence`], [`log_validator`], [`zone`];
//! 2. what [`Agent`] holds: the [`writer`], [`fetch_session`]s, the coordinators' memory
//!    ([`group_coordinator`], [`share`]);
//! 3. [`agent`]: the shared state every handler and task reaches through `&Agent`;
//! 4. what works on an agent: [`request`], [`authz`], [`reader`], [`group_timers`],
//!    [`txn_coordinator`], [`compaction`], [`table_job`], [`background`], the handlers;
//! 5. [`dispatch`] and the [`server`] on top.

#![warn(missing_docs)]

pub mod agent;
pub mod authz;
pub mod background;
pub mod clock;
pub mod compaction;
pub mod config;
pub mod dispatch;
pub mod fetch_session;
pub mod group_config;
pub mod group_coordinator;
pub mod group_timers;
pub mod handlers;
pub mod listener;
pub mod log_validator;
pub mod placement;
pub mod reader;
pub mod request;
pub mod sasl;
pub mod sequence_fence;
pub mod server;
pub mod share;
pub mod table_job;
pub mod topic_config;
pub mod txn_coordinator;
pub mod writer;
pub mod zone;

pub use agent::Agent;
pub use config::AgentConfig;
