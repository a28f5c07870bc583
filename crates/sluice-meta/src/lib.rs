//! Sluice's metadata quorum.
//!
//! The pure, deterministic state machine (no raft, no I/O, no clock) is layered so that no
//! module imports one above it, bottom to top:
//!
//! 1. Data and rules of each area: [`codes`], [`refusal`], [`topics`] (topics and their
//!    partitions' offset indexes), [`agents`], [`producers`], [`share`], the assignors; the
//!    group kinds ([`classic_group`], [`consumer_group`], [`share_group`], [`streams_group`])
//!    over what they share ([`group_types`]), and [`groups`] over them; the data and commands of
//!    [`txn`], [`lifecycle`] and [`tables`].
//! 2. [`command`]: every [`command::Command`] and [`command::CommandResponse`].
//! 3. [`state`]: [`state::MetaState`], the whole quorum state, and its reads.
//! 4. [`invariants`]: what must hold after every command.
//! 5. [`apply`]: [`state::MetaState::apply`], and under it the logic of each area that takes
//!    the whole state ([`apply::txn`], [`apply::lifecycle`], [`apply::share`],
//!    [`apply::tables`]).
//!
//! The rest wraps it in openraft with durable log storage and an HTTP surface:
//!
//! - [`types`]: the openraft type configuration.
//! - [`log_store`]: the raft log on redb; [`state_machine`] + [`snapshot_store`]:
//!   the state machine, its snapshots, and the [`feed`] of applied entries.
//! - [`network`] (raft RPC client) and `server` (HTTP listener) speak the wire
//!   types in [`api`], which also decodes answers for every HTTP caller.
//! - `node_core`: what a node and its HTTP handlers share (raft handle, proposals with
//!   forwarding to the leader, membership changes), below both `server` and [`node`].
//! - [`node`]: a running meta node ([`metrics`]: what it exports); [`admin`]: membership changes over HTTP;
//!   [`client`]: what agents use, in-process or remote, each with a [`Replica`]
//!   of the state; [`health`]: what makes a node or a client ready.

#![warn(missing_docs)]

/// ACL bindings and filters (defined in `sluice-model`, so the security layer needs no quorum code).
pub use sluice_model::acl;
pub mod agents;
pub mod apply;
pub mod assignor;
pub mod classic_group;
pub mod codes;
pub mod command;
pub mod consumer_group;
pub mod group_types;
pub mod groups;
pub mod invariants;
pub mod lifecycle;
pub mod producers;
pub mod refusal;
pub mod share;
pub mod share_group;
pub mod state;
pub mod streams_assignor;
pub mod streams_group;
pub mod tables;
pub mod topics;
pub mod txn;

pub mod admin;
pub mod api;
pub mod archive;
pub mod client;
pub mod config;
pub mod error;
pub mod feed;
pub mod health;
pub mod log_store;
pub mod metrics;
pub mod netfault;
pub mod network;
pub mod node;
mod node_core;
pub mod replica;
mod server;
pub mod snapshot_store;
pub mod state_machine;
pub mod types;

#[cfg(test)]
mod random_apply_tests;

pub use client::MetaClient;
pub use config::{MetaNodeConfig, MetaTuning};
pub use error::{LeaderInfo, MetaError};
pub use feed::{ChangeEntry, ChangeFeed};
pub use health::NotReady;
pub use node::MetaNode;
pub use replica::Replica;
