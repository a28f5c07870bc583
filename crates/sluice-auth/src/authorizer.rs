//! Kafka's standard authorizer (`StandardAuthorizer`), as a pure function of the ACLs.
//!
//! The agent asks "may `principal`, connected from `host`, do `op` on this resource?" and this
//! module answers from an [`Acls`] set (the agent's replica of the quorum's ACLs, so an
//! authorization costs no network hop). The rules are Kafka's:
//! - super users (`super.users`) may do everything;
//! - the ACLs that apply to a resource are the LITERAL ones with its name, the LITERAL `*`, and
//!   the PREFIXED ones whose name is a prefix of it; of those, the ones whose principal is the
//!   caller or `User:*` and whose host is the caller's IP or `*`;
//! - a matching DENY beats any ALLOW; a DENY matches its operation or `ALL`, an ALLOW also
//!   grants the operations it implies (`DESCRIBE` by READ, WRITE, DELETE, ALTER;
//!   `DESCRIBE_CONFIGS` by ALTER_CONFIGS);
//! - with no ALLOW the answer is no, except that a resource with no ACL at all is allowed when
//!   `allow.everyone.if.no.acl.found` is set.

use sluice_model::acl::{
    AccessControlEntry, AclOperation, AclPermissionType, Acls, PatternType, ResourcePattern,
    ResourceType, WILDCARD_HOST, WILDCARD_PRINCIPAL, WILDCARD_RESOURCE,
};

/// `authorizer.*` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// Off: everything is allowed and the ACL APIs answer SECURITY_DISABLED.
    pub enabled: bool,
    /// `super.users`: principals (`User:admin`) that bypass ACLs.
    pub super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_if_no_acl: bool,
}

impl AuthorizerConfig {
    /// Parses Kafka's `super.users` syntax: `User:a;User:b` (commas are accepted too).
    pub fn parse_super_users(s: &str) -> Vec<String> {
        s.split([';', ','])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect()
    }

    /// Whether `principal` (`User:admin`) is one of `super_users`, compared exactly.
    pub fn is_super_user(&self, principal: &str) -> bool {
        self.super_users.iter().any(|s| s == principal)
    }
}

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// `User:alice`.
    pub principal: &'a str,
    /// The peer's IP address.
    pub host: &'a str,
}

/// Whether `e` applies to `caller` (principal and host).
fn entry_applies(e: &AccessControlEntry, caller: Caller<'_>) -> bool {
    (e.principal == caller.principal || e.principal == WILDCARD_PRINCIPAL)
        && (e.host == caller.host || e.host == WILDCARD_HOST)
}

/// Whether an ALLOW entry of `granted` grants `op` (Kafka's implied operations).
fn allow_grants(granted: AclOperation, op: AclOperation) -> bool {
    use AclOperation::*;
    granted == All
        || granted == op
        || match op {
            Describe => matches!(granted, Read | Write | Delete | Alter),
            DescribeConfigs => granted == AlterConfigs,
            _ => false,
        }
}

/// A DENY of `denied` denies `op` only when it names it or ALL.
fn deny_covers(denied: AclOperation, op: AclOperation) -> bool {
    denied == AclOperation::All || denied == op
}

/// The stored patterns that apply to the resource `(resource_type, name)`.
fn applicable<'a>(
    acls: &'a Acls,
    resource_type: ResourceType,
    name: &'a str,
) -> impl Iterator<Item = &'a AccessControlEntry> + 'a {
    let literal = |n: &str| ResourcePattern {
        resource_type,
        pattern_type: PatternType::Literal,
        name: n.to_string(),
    };
    let mut patterns = vec![literal(name)];
    if name != WILDCARD_RESOURCE {
        patterns.push(literal(WILDCARD_RESOURCE));
    }
    // Every prefix of the name (on char boundaries) that a PREFIXED ACL may name.
    patterns.extend(
        name.char_indices()
            .skip(1)
            .map(|(i, _)| i)
            .chain(std::iter::once(name.len()))
            .filter(|i| *i > 0)
            .map(|i| ResourcePattern {
                resource_type,
                pattern_type: PatternType::Prefixed,
                name: name[..i].to_string(),
            }),
    );
    patterns
        .into_iter()
        .filter_map(move |p| acls.entries(&p))
        .flatten()
}

/// Kafka's `authorize` for one action: may `caller` do `op` on `(resource_type, name)`?
pub fn authorize(
    cfg: &AuthorizerConfig,
    acls: &Acls,
    caller: Caller<'_>,
    op: AclOperation,
    resource_type: ResourceType,
    name: &str,
) -> bool {
    if !cfg.enabled || cfg.is_super_user(caller.principal) {
        return true;
    }
    let mut any_acl = false;
    let mut allowed = false;
    for e in applicable(acls, resource_type, name) {
        any_acl = true;
        if !entry_applies(e, caller) {
            continue;
        }
        match e.permission {
            AclPermissionType::Deny if deny_covers(e.operation, op) => return false,
            AclPermissionType::Allow if allow_grants(e.operation, op) => allowed = true,
            _ => {}
        }
    }
    allowed || (!any_acl && cfg.allow_if_no_acl)
}

/// Kafka's `authorizeByResourceType`: may `caller` do `op` on at least one resource of
/// `resource_type`? True when some ALLOW (literal or prefixed) for the caller is not cancelled
/// by a DENY on the same name, on `*`, or on a prefix of it. Used by InitProducerId (WRITE on
/// any topic stands in for IDEMPOTENT_WRITE).
pub fn authorize_by_resource_type(
    cfg: &AuthorizerConfig,
    acls: &Acls,
    caller: Caller<'_>,
    op: AclOperation,
    resource_type: ResourceType,
) -> bool {
    if !cfg.enabled || cfg.is_super_user(caller.principal) {
        return true;
    }
    let mut deny_literal = Vec::new();
    let mut deny_prefixed = Vec::new();
    let mut allow = Vec::new();
    let mut any_acl = false;
    for (p, entries) in acls.of_type(resource_type) {
        any_acl = true;
        for e in entries.iter().filter(|e| entry_applies(e, caller)) {
            match e.permission {
                AclPermissionType::Deny if deny_covers(e.operation, op) => {
                    if p.pattern_type == PatternType::Literal {
                        deny_literal.push(p.name.as_str());
                    } else {
                        deny_prefixed.push(p.name.as_str());
                    }
                }
                AclPermissionType::Allow if allow_grants(e.operation, op) => {
                    allow.push((p.pattern_type, p.name.as_str()))
                }
                _ => {}
            }
        }
    }
    if !any_acl {
        return cfg.allow_if_no_acl;
    }
    if deny_literal.contains(&WILDCARD_RESOURCE) {
        return false;
    }
    allow.into_iter().any(|(pt, name)| {
        let prefix_denied = deny_prefixed.iter().any(|d| name.starts_with(d));
        match pt {
            PatternType::Literal => {
                name == WILDCARD_RESOURCE || (!prefix_denied && !deny_literal.contains(&name))
            }
            _ => !prefix_denied,
        }
    })
}

/// Kafka's "authorized operations" bit field: bit `op.id()` set for each of `ops` allowed.
pub fn authorized_operations(
    cfg: &AuthorizerConfig,
    acls: &Acls,
    caller: Caller<'_>,
    resource_type: ResourceType,
    name: &str,
    ops: &[AclOperation],
) -> i32 {
    ops.iter()
        .filter(|op| authorize(cfg, acls, caller, **op, resource_type, name))
        .fold(0, |bits, op| bits | (1 << op.id()))
}

/// The operations Kafka reports for each resource type.
pub fn supported_operations(resource_type: ResourceType) -> &'static [AclOperation] {
    use AclOperation::*;
    match resource_type {
        ResourceType::Topic => &[
            Read,
            Write,
            Create,
            Delete,
            Alter,
            Describe,
            DescribeConfigs,
            AlterConfigs,
        ],
        ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
        ResourceType::Cluster => &[
            Create,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            Alter,
            Describe,
        ],
        ResourceType::TransactionalId => &[Describe, Write, TwoPhaseCommit],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_model::acl::AclBinding;
    use AclOperation::*;
    use ResourceType::*;

    const ALICE: Caller<'static> = Caller {
        principal: "User:alice",
        host: "10.0.0.1",
    };
    const BOB: Caller<'static> = Caller {
        principal: "User:bob",
        host: "10.0.0.2",
    };

    fn on() -> AuthorizerConfig {
        AuthorizerConfig {
            enabled: true,
            super_users: vec!["User:admin".into()],
            allow_if_no_acl: false,
        }
    }

    struct Acl<'a>(
        ResourceType,
        PatternType,
        &'a str,
        &'a str,
        &'a str,
        AclOperation,
        bool,
    );

    fn acls(list: &[Acl<'_>]) -> Acls {
        let mut a = Acls::default();
        for Acl(rt, pt, name, principal, host, op, allow) in list {
            a.add(&AclBinding {
                pattern: ResourcePattern {
                    resource_type: *rt,
                    pattern_type: *pt,
                    name: name.to_string(),
                },
                entry: AccessControlEntry {
                    principal: principal.to_string(),
                    host: host.to_string(),
                    operation: *op,
                    permission: if *allow {
                        AclPermissionType::Allow
                    } else {
                        AclPermissionType::Deny
                    },
                },
            });
        }
        a
    }

    use PatternType::{Literal as Lit, Prefixed as Pre};

    #[test]
    fn disabled_allows_everything_and_enabled_denies_by_default() {
        let none = Acls::default();
        let off = AuthorizerConfig::default();
        assert!(authorize(&off, &none, ALICE, Read, Topic, "t"));
        assert!(!authorize(&on(), &none, ALICE, Read, Topic, "t"));
        let mut open = on();
        open.allow_if_no_acl = true;
        assert!(authorize(&open, &none, ALICE, Read, Topic, "t"));
        // ...but not once the resource has any ACL, even for someone else
        let a = acls(&[Acl(Topic, Lit, "t", "User:bob", "*", Read, true)]);
        assert!(!authorize(&open, &a, ALICE, Read, Topic, "t"));
        assert!(authorize(&open, &a, ALICE, Read, Topic, "u"));
    }

    #[test]
    fn super_users_bypass_acls_even_deny() {
        let a = acls(&[Acl(Topic, Lit, "*", "User:*", "*", All, false)]);
        let admin = Caller {
            principal: "User:admin",
            host: "1.2.3.4",
        };
        assert!(authorize(&on(), &a, admin, Write, Topic, "t"));
        assert!(!authorize(&on(), &a, ALICE, Write, Topic, "t"));
        assert_eq!(
            AuthorizerConfig::parse_super_users("User:admin; User:bob;"),
            vec!["User:admin".to_string(), "User:bob".to_string()]
        );
    }

    #[test]
    fn literal_wildcard_and_prefixed_patterns() {
        let a = acls(&[
            Acl(Topic, Lit, "orders", "User:alice", "*", Read, true),
            Acl(Topic, Pre, "logs-", "User:alice", "*", Write, true),
            Acl(Topic, Lit, "*", "User:bob", "*", Describe, true),
        ]);
        assert!(authorize(&on(), &a, ALICE, Read, Topic, "orders"));
        assert!(!authorize(&on(), &a, ALICE, Read, Topic, "orders2"));
        assert!(authorize(&on(), &a, ALICE, Write, Topic, "logs-app"));
        assert!(authorize(&on(), &a, ALICE, Write, Topic, "logs-"));
        assert!(!authorize(&on(), &a, ALICE, Write, Topic, "logs"));
        assert!(!authorize(&on(), &a, ALICE, Read, Topic, "logs-app"));
        assert!(authorize(&on(), &a, BOB, Describe, Topic, "anything"));
        assert!(!authorize(&on(), &a, BOB, Read, Topic, "anything"));
        // the resource type matters
        assert!(!authorize(&on(), &a, ALICE, Read, Group, "orders"));
        // a multi-byte name never splits a char
        assert!(!authorize(&on(), &a, ALICE, Read, Topic, "ördérs"));
    }

    #[test]
    fn deny_beats_allow_and_wildcard_principal() {
        let a = acls(&[
            Acl(Topic, Pre, "", "User:*", "*", All, true),
            Acl(Topic, Lit, "*", "User:*", "*", All, true),
            Acl(Topic, Lit, "secret", "User:alice", "*", Read, false),
        ]);
        assert!(authorize(&on(), &a, ALICE, Write, Topic, "secret"));
        assert!(!authorize(&on(), &a, ALICE, Read, Topic, "secret"));
        assert!(authorize(&on(), &a, BOB, Read, Topic, "secret"));
        // a DENY of READ does not deny DESCRIBE (deny implies nothing)
        assert!(authorize(&on(), &a, ALICE, Describe, Topic, "secret"));
        let a = acls(&[
            Acl(Topic, Lit, "t", "User:alice", "*", All, true),
            Acl(Topic, Pre, "t", "User:*", "*", All, false),
        ]);
        assert!(!authorize(&on(), &a, ALICE, Read, Topic, "t"));
    }

    #[test]
    fn implied_operations() {
        let a = acls(&[
            Acl(Topic, Lit, "r", "User:alice", "*", Read, true),
            Acl(Topic, Lit, "w", "User:alice", "*", Write, true),
            Acl(Topic, Lit, "c", "User:alice", "*", AlterConfigs, true),
            Acl(Topic, Lit, "a", "User:alice", "*", All, true),
        ]);
        assert!(authorize(&on(), &a, ALICE, Describe, Topic, "r"));
        assert!(authorize(&on(), &a, ALICE, Describe, Topic, "w"));
        assert!(!authorize(&on(), &a, ALICE, Write, Topic, "r"));
        assert!(authorize(&on(), &a, ALICE, DescribeConfigs, Topic, "c"));
        assert!(!authorize(&on(), &a, ALICE, Describe, Topic, "c"));
        for op in supported_operations(Topic) {
            assert!(authorize(&on(), &a, ALICE, *op, Topic, "a"), "{op:?}");
        }
    }

    #[test]
    fn host_matching() {
        let a = acls(&[Acl(Topic, Lit, "t", "User:alice", "10.0.0.1", Read, true)]);
        assert!(authorize(&on(), &a, ALICE, Read, Topic, "t"));
        let elsewhere = Caller {
            principal: "User:alice",
            host: "10.9.9.9",
        };
        assert!(!authorize(&on(), &a, elsewhere, Read, Topic, "t"));
    }

    #[test]
    fn by_resource_type() {
        let cfg = on();
        let a = acls(&[Acl(Topic, Lit, "t", "User:alice", "*", Write, true)]);
        assert!(authorize_by_resource_type(&cfg, &a, ALICE, Write, Topic));
        assert!(!authorize_by_resource_type(&cfg, &a, BOB, Write, Topic));
        assert!(!authorize_by_resource_type(&cfg, &a, ALICE, Write, Group));
        let a = acls(&[
            Acl(Topic, Lit, "t", "User:alice", "*", Write, true),
            Acl(Topic, Pre, "t", "User:alice", "*", Write, false),
        ]);
        assert!(!authorize_by_resource_type(&cfg, &a, ALICE, Write, Topic));
        let a = acls(&[
            Acl(Topic, Pre, "app-", "User:alice", "*", All, true),
            Acl(Topic, Lit, "app-x", "User:alice", "*", Write, false),
        ]);
        assert!(authorize_by_resource_type(&cfg, &a, ALICE, Write, Topic));
        let a = acls(&[
            Acl(Topic, Pre, "app-", "User:alice", "*", All, true),
            Acl(Topic, Lit, "*", "User:*", "*", Write, false),
        ]);
        assert!(!authorize_by_resource_type(&cfg, &a, ALICE, Write, Topic));
    }

    #[test]
    fn authorized_operations_bits() {
        let a = acls(&[Acl(
            Cluster,
            Lit,
            "kafka-cluster",
            "User:alice",
            "*",
            Alter,
            true,
        )]);
        let bits = authorized_operations(
            &on(),
            &a,
            ALICE,
            Cluster,
            "kafka-cluster",
            supported_operations(Cluster),
        );
        assert_eq!(bits, (1 << Alter.id()) | (1 << Describe.id()));
        // without an authorizer, every cluster operation: CREATE, ALTER, DESCRIBE,
        // CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE
        let all = authorized_operations(
            &AuthorizerConfig::default(),
            &Acls::default(),
            ALICE,
            Cluster,
            "kafka-cluster",
            supported_operations(Cluster),
        );
        assert_eq!(all, 0b1_1111_1010_0000);
    }
}
