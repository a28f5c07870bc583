//! Authorization as handlers use it: one call at the top of a handler.
//!
//! `agent.authorize(Op::Read, Res::Topic(name))` asks the standard authorizer
//! ([`sluice_auth::authorizer`]) about the current request's principal and peer IP (from
//! [`current_conn`]) against the ACLs in the agent's local metadata replica, so a check costs a
//! read lock and no network hop. With the authorizer off (the default) every check passes.
//! Calls outside a client connection (unit tests driving handlers directly) are internal and
//! pass too. Denials are logged with the principal, operation and resource.

pub use sluice_meta::acl::{AclOperation as Op, ResourceType};

use sluice_auth::authorizer::{self, Caller};
use sluice_meta::acl::CLUSTER_NAME;

use crate::agent::Agent;
use crate::listener::current_conn;

/// A resource a request acts on.
#[derive(Debug, Clone, Copy)]
pub enum Res<'a> {
    Topic(&'a str),
    Group(&'a str),
    Cluster,
    TransactionalId(&'a str),
}

impl<'a> Res<'a> {
    fn parts(self) -> (ResourceType, &'a str) {
        match self {
            Res::Topic(n) => (ResourceType::Topic, n),
            Res::Group(n) => (ResourceType::Group, n),
            Res::Cluster => (ResourceType::Cluster, CLUSTER_NAME),
            Res::TransactionalId(n) => (ResourceType::TransactionalId, n),
        }
    }
}

impl Agent {
    /// Whether the authorizer is on (the ACL APIs answer SECURITY_DISABLED when it is not).
    pub fn authorizer_enabled(&self) -> bool {
        self.cfg.authorizer.enabled
    }

    /// May the current request's principal do `op` on `res`? Logs a denial at info.
    pub fn authorize(&self, op: Op, res: Res<'_>) -> bool {
        self.check(op, res, true)
    }

    /// Like [`Agent::authorize`], for filtering lists (Metadata, ListGroups): denials are
    /// expected there and logged at debug only.
    pub fn may(&self, op: Op, res: Res<'_>) -> bool {
        self.check(op, res, false)
    }

    fn check(&self, op: Op, res: Res<'_>, loud: bool) -> bool {
        let cfg = &self.cfg.authorizer;
        if !cfg.enabled {
            return true;
        }
        let Some(conn) = current_conn() else {
            return true;
        };
        let (rt, name) = res.parts();
        let caller = Caller {
            principal: &conn.principal,
            host: &conn.host,
        };
        let ok = self.read(|s| authorizer::authorize(cfg, &s.acls, caller, op, rt, name));
        if !ok {
            if loud {
                tracing::info!(principal = %conn.principal, host = %conn.host, operation = ?op, resource_type = ?rt, resource = %name, "authorization denied");
            } else {
                tracing::debug!(principal = %conn.principal, host = %conn.host, operation = ?op, resource_type = ?rt, resource = %name, "authorization denied");
            }
        }
        ok
    }

    /// May the principal do `op` on at least one resource of `rt` (Kafka's
    /// `authorizeByResourceType`)?
    pub fn authorize_any(&self, op: Op, rt: ResourceType) -> bool {
        let cfg = &self.cfg.authorizer;
        if !cfg.enabled {
            return true;
        }
        let Some(conn) = current_conn() else {
            return true;
        };
        let caller = Caller {
            principal: &conn.principal,
            host: &conn.host,
        };
        let ok =
            self.read(|s| authorizer::authorize_by_resource_type(cfg, &s.acls, caller, op, rt));
        if !ok {
            tracing::info!(principal = %conn.principal, host = %conn.host, operation = ?op, resource_type = ?rt, "authorization denied on every resource of the type");
        }
        ok
    }

    /// Kafka's authorized-operations bit field of `res` for the current principal.
    pub fn authorized_operations(&self, res: Res<'_>) -> i32 {
        let (rt, name) = res.parts();
        let ops = authorizer::supported_operations(rt);
        let cfg = &self.cfg.authorizer;
        let caller_conn = current_conn().filter(|_| cfg.enabled);
        let Some(conn) = caller_conn else {
            return ops.iter().fold(0, |bits, op| bits | (1 << op.id()));
        };
        let caller = Caller {
            principal: &conn.principal,
            host: &conn.host,
        };
        self.read(|s| authorizer::authorized_operations(cfg, &s.acls, caller, rt, name, ops))
    }
}
