//! Authorization as handlers use it: one call at the top of a handler.
//!
//! `cx.authorize(Op::Read, Res::Topic(name))` asks the standard authorizer
//! ([`sluice_auth::authorizer`]) about the request's principal and peer IP (from its
//! [`RequestContext`]) against the ACLs in the agent's local metadata replica, so a check costs
//! a read lock and no network hop. With the authorizer off (the default) every check passes.
//! Denials are logged with the principal, operation and resource.

pub use sluice_meta::acl::{AclOperation as Op, ResourceType};

use sluice_auth::authorizer::{self, Caller};
use sluice_meta::acl::CLUSTER_NAME;

use crate::agent::Agent;
use crate::request::RequestContext;

/// A resource a request acts on.
#[derive(Debug, Clone, Copy)]
pub enum Res<'a> {
    /// The topic of this name (ACL resource type TOPIC).
    Topic(&'a str),
    /// The group (classic, consumer, share or streams) of this id (GROUP).
    Group(&'a str),
    /// The cluster (CLUSTER, name `kafka-cluster`).
    Cluster,
    /// The transactional id (TRANSACTIONAL_ID).
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
}

impl RequestContext {
    /// The request's principal and peer as the authorizer sees them.
    fn caller(&self) -> Caller<'_> {
        Caller {
            principal: &self.principal,
            host: &self.peer,
        }
    }

    /// May the request's principal do `op` on `res`? Logs a denial at info.
    pub fn authorize(&self, op: Op, res: Res<'_>) -> bool {
        self.check(op, res, true)
    }

    /// Like [`Agent::authorize`], for filtering lists (Metadata, ListGroups): denials are
    /// expected there and logged at debug only.
    pub fn may(&self, op: Op, res: Res<'_>) -> bool {
        self.check(op, res, false)
    }

    fn check(&self, op: Op, res: Res<'_>, loud: bool) -> bool {
        let cfg = &self.agent.cfg.authorizer;
        if !cfg.enabled {
            return true;
        }
        let (rt, name) = res.parts();
        let ok = self
            .agent
            .read(|s| authorizer::authorize(cfg, &s.acls, self.caller(), op, rt, name));
        if !ok {
            if loud {
                tracing::info!(principal = %self.principal, host = %self.peer, operation = ?op, resource_type = ?rt, resource = %name, "authorization denied");
            } else {
                tracing::debug!(principal = %self.principal, host = %self.peer, operation = ?op, resource_type = ?rt, resource = %name, "authorization denied");
            }
        }
        ok
    }

    /// May the principal do `op` on at least one resource of `rt` (Kafka's
    /// `authorizeByResourceType`)?
    pub fn authorize_any(&self, op: Op, rt: ResourceType) -> bool {
        let cfg = &self.agent.cfg.authorizer;
        if !cfg.enabled {
            return true;
        }
        let ok = self
            .agent
            .read(|s| authorizer::authorize_by_resource_type(cfg, &s.acls, self.caller(), op, rt));
        if !ok {
            tracing::info!(principal = %self.principal, host = %self.peer, operation = ?op, resource_type = ?rt, "authorization denied on every resource of the type");
        }
        ok
    }

    /// Kafka's authorized-operations bit field of `res` for the request's principal (bit `op.id()`
    /// set for each operation allowed).
    pub fn authorized_operations(&self, res: Res<'_>) -> i32 {
        let (rt, name) = res.parts();
        let ops = authorizer::supported_operations(rt);
        let cfg = &self.agent.cfg.authorizer;
        if !cfg.enabled {
            return ops.iter().fold(0, |bits, op| bits | (1 << op.id()));
        }
        self.agent
            .read(|s| authorizer::authorized_operations(cfg, &s.acls, self.caller(), rt, name, ops))
    }
}
