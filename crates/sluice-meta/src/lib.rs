//! Sluice's metadata quorum.
//!
//! `state` is the pure, deterministic state machine (no raft, no I/O, no clock);
//! the rest wraps it in openraft with durable log storage and an HTTP surface:
//!
//! - [`types`]: the openraft type configuration.
//! - [`log_store`]: the raft log on redb; [`state_machine`] + [`snapshot_store`]:
//!   the state machine, its snapshots, and the [`feed`] of applied entries.
//! - [`network`] (raft RPC client) and `server` (HTTP listener) speak the wire
//!   types in [`api`].
//! - [`node`]: a running meta node ([`metrics`]: what it exports); [`admin`]: membership changes over HTTP;
//!   [`client`]: what agents use, in-process or remote, each with a [`Replica`]
//!   of the state; [`health`]: what makes a node or a client ready.

#![warn(missing_docs)]

/// ACL bindings and filters (defined in `sluice-model`, so the security layer needs no quorum code).
pub use sluice_model::acl;
pub mod assignor;
pub mod classic_group;
pub mod codes;
pub mod command;
pub mod consumer_group;
pub mod groups;
pub mod invariants;
pub mod lifecycle;
pub mod share;
pub mod share_group;
pub mod state;
pub mod streams_assignor;
pub mod streams_group;
pub mod tables;
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
