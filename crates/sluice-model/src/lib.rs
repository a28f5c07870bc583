//! Data types the metadata quorum stores and the security layer reads: ACL bindings and filters
//! ([`acl`], Kafka's `AclBinding` model) and SCRAM credentials ([`ScramCredential`]).
//!
//! They live apart from `sluice-meta` so that `sluice-auth` (SASL, OAuth, the authorizer) builds
//! without the quorum's dependencies (openraft, redb, axum, reqwest) and in parallel with them;
//! `sluice-meta` re-exports them where they always were (`sluice_meta::acl`,
//! `sluice_meta::state::ScramCredential`).

#![warn(missing_docs)]

pub mod acl;

use serde::{Deserialize, Serialize};

/// A SCRAM credential as RFC 5802 servers keep it (Kafka's `ScramCredential`): never the
/// password, nor even the salted password, only the keys derived from it. `stored_key` and
/// `server_key` are the digest's length (32 bytes for SHA-256, 64 for SHA-512); `iterations` is
/// the PBKDF2 iteration count (Kafka accepts 4096..=16384).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScramCredential {
    /// The salt the client hashes its password with.
    pub salt: Vec<u8>,
    /// H(ClientKey).
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: i32,
}
