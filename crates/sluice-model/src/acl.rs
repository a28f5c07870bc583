//! ACLs as the quorum keeps them (KIP-140's CreateAcls / DescribeAcls / DeleteAcls).
//!
//! An [`AclBinding`] is a resource pattern (type, name, LITERAL or PREFIXED) plus an access
//! control entry (principal, host, operation, ALLOW or DENY). [`Acls`] holds them grouped by
//! resource pattern so the authorizer (in `sluice-auth`) finds the ones that can match a
//! resource without scanning everything. [`AclBindingFilter`] implements Kafka's filter
//! semantics, shared by DescribeAcls and DeleteAcls: `ANY` matches every value, a null name,
//! principal or host matches every value, and the `MATCH` pattern type matches every pattern
//! that would apply to the named resource (literal equal, the wildcard `*`, or a prefix).
//!
//! Pure data: applying a create or delete is deterministic (ordered maps, no clock).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Kafka's wildcard resource name (literal pattern `*` matches every resource of its type).
pub const WILDCARD_RESOURCE: &str = "*";
/// Kafka's wildcard principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// Kafka's wildcard host.
pub const WILDCARD_HOST: &str = "*";
/// The one valid name of the CLUSTER resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";

macro_rules! kafka_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $id:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* $variant),* }

        impl $name {
            /// Kafka's wire id.
            pub fn id(self) -> i8 {
                match self { $(Self::$variant => $id),* }
            }

            /// The variant of a wire id; unknown ids become `Unknown`.
            pub fn from_id(id: i8) -> Self {
                match id { $($id => Self::$variant,)* _ => Self::Unknown }
            }
        }
    };
}

kafka_enum!(
    /// Kafka's `ResourceType`.
    ResourceType {
        /// 0: an id this version does not know (never stored).
        Unknown = 0,
        /// 1: filters only: any resource type.
        Any = 1,
        /// 2: a topic.
        Topic = 2,
        /// 3: a group id (classic, consumer, share or streams group).
        Group = 3,
        /// 4: the cluster (name `kafka-cluster`).
        Cluster = 4,
        /// 5: a transactional id.
        TransactionalId = 5,
        /// 6: a delegation token (Sluice issues none).
        DelegationToken = 6,
        /// 7: a user principal (KIP-373; delegation tokens for other users).
        User = 7,
    }
);

kafka_enum!(
    /// Kafka's `PatternType`.
    PatternType {
        /// 0: an id this version does not know (never stored).
        Unknown = 0,
        /// 1: filters only: any pattern type, exact name.
        Any = 1,
        /// 2: filters only: every pattern that applies to the named resource.
        Match = 2,
        /// 3: the name itself, or `*` for every resource of the type.
        Literal = 3,
        /// 4: every resource whose name starts with the name (KIP-290).
        Prefixed = 4,
    }
);

kafka_enum!(
    /// Kafka's `AclOperation`.
    AclOperation {
        /// 0: an id this version does not know (never stored).
        Unknown = 0,
        /// 1: filters only: any operation.
        Any = 1,
        /// 2: every operation.
        All = 2,
        /// 3: READ (fetch, consume as a group member, OffsetFetch...).
        Read = 3,
        /// 4: WRITE (produce, transactional ids).
        Write = 4,
        /// 5: CREATE (topics).
        Create = 5,
        /// 6: DELETE (topics, records, groups).
        Delete = 6,
        /// 7: ALTER (partitions, ACLs, ...).
        Alter = 7,
        /// 8: DESCRIBE (metadata, offsets, groups, ACLs...).
        Describe = 8,
        /// 9: CLUSTER_ACTION (broker-to-broker requests such as WriteTxnMarkers).
        ClusterAction = 9,
        /// 10: DESCRIBE_CONFIGS.
        DescribeConfigs = 10,
        /// 11: ALTER_CONFIGS.
        AlterConfigs = 11,
        /// 12: IDEMPOTENT_WRITE (InitProducerId without a transactional id).
        IdempotentWrite = 12,
        /// 13: CREATE_TOKENS (delegation tokens, KIP-373).
        CreateTokens = 13,
        /// 14: DESCRIBE_TOKENS (delegation tokens, KIP-373).
        DescribeTokens = 14,
        /// 15: TWO_PHASE_COMMIT (KIP-939).
        TwoPhaseCommit = 15,
    }
);

kafka_enum!(
    /// Kafka's `AclPermissionType`.
    AclPermissionType {
        /// 0: an id this version does not know (never stored).
        Unknown = 0,
        /// 1: filters only: either permission.
        Any = 1,
        /// 2: the entry denies the operation (a DENY wins over any ALLOW).
        Deny = 2,
        /// 3: the entry allows the operation.
        Allow = 3,
    }
);

/// A resource pattern an ACL applies to (only LITERAL and PREFIXED are stored).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourcePattern {
    /// The kind of resource (topic, group, cluster, ...); never `Any` or `Unknown` once stored.
    pub resource_type: ResourceType,
    /// How `name` is matched: `Literal` (exact, or the wildcard `*`) or `Prefixed`.
    pub pattern_type: PatternType,
    /// The resource name, or the prefix for `Prefixed`; `kafka-cluster` for the cluster.
    pub name: String,
}

/// Who may (or may not) do what, from where.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccessControlEntry {
    /// `Type:name`, e.g. `User:alice`, or `User:*`.
    pub principal: String,
    /// An IP address, or `*`.
    pub host: String,
    /// What the entry allows or denies (`All` covers every operation).
    pub operation: AclOperation,
    /// `Allow` or `Deny` (a matching DENY wins over any ALLOW, as in Kafka).
    pub permission: AclPermissionType,
}

/// One ACL: a pattern and an entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    /// The resources the ACL applies to.
    pub pattern: ResourcePattern,
    /// Who, from where, which operation, allow or deny.
    pub entry: AccessControlEntry,
}

/// Why a binding cannot be stored (Kafka answers INVALID_REQUEST with these words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidAcl {
    /// The resource type is `Unknown` or `Any`.
    #[error("Invalid resourceType {0:?}")]
    ResourceType(ResourceType),
    /// The pattern type is not `Literal` or `Prefixed`.
    #[error("Invalid patternType {0:?}")]
    PatternType(PatternType),
    /// The operation is `Unknown` or `Any`.
    #[error("Invalid operation {0:?}")]
    Operation(AclOperation),
    /// The permission type is `Unknown` or `Any`.
    #[error("Invalid permissionType {0:?}")]
    Permission(AclPermissionType),
    /// The resource name is empty.
    #[error("Resource name should not be empty")]
    EmptyName,
    /// A CLUSTER pattern names something other than `kafka-cluster`.
    #[error("The only valid name for the CLUSTER resource is kafka-cluster")]
    ClusterName,
    /// The principal is not `Type:name` with a non-empty type.
    #[error("Could not parse principal from `{0}` (no colon is found)")]
    Principal(String),
    /// The host is empty.
    #[error("Invalid host {0}")]
    Host(String),
}

impl AclBinding {
    /// Kafka's checks on a binding before it is created (CreateAcls); the first failing check
    /// is the error.
    pub fn validate(&self) -> Result<(), InvalidAcl> {
        let p = &self.pattern;
        let e = &self.entry;
        match p.resource_type {
            ResourceType::Unknown | ResourceType::Any => {
                return Err(InvalidAcl::ResourceType(p.resource_type))
            }
            _ => {}
        }
        if !matches!(p.pattern_type, PatternType::Literal | PatternType::Prefixed) {
            return Err(InvalidAcl::PatternType(p.pattern_type));
        }
        if matches!(e.operation, AclOperation::Unknown | AclOperation::Any) {
            return Err(InvalidAcl::Operation(e.operation));
        }
        if matches!(
            e.permission,
            AclPermissionType::Unknown | AclPermissionType::Any
        ) {
            return Err(InvalidAcl::Permission(e.permission));
        }
        if p.name.is_empty() {
            return Err(InvalidAcl::EmptyName);
        }
        if p.resource_type == ResourceType::Cluster && p.name != CLUSTER_NAME {
            return Err(InvalidAcl::ClusterName);
        }
        match e.principal.split_once(':') {
            Some((t, _)) if !t.is_empty() => {}
            _ => return Err(InvalidAcl::Principal(e.principal.clone())),
        }
        if e.host.is_empty() {
            return Err(InvalidAcl::Host(e.host.clone()));
        }
        Ok(())
    }
}

/// Kafka's `AclBindingFilter`: `None` name / principal / host match anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclBindingFilter {
    /// The resource type to match, or `Any`.
    pub resource_type: ResourceType,
    /// The resource name to match (see `pattern_type`); `None` matches every name.
    pub name: Option<String>,
    /// `Any` (any pattern type, exact name), `Match` (every pattern that applies to `name`),
    /// or `Literal` / `Prefixed` (that pattern type, exact name).
    pub pattern_type: PatternType,
    /// The exact principal (`User:alice`); `None` matches every principal.
    pub principal: Option<String>,
    /// The exact host; `None` matches every host.
    pub host: Option<String>,
    /// The operation to match, or `Any`.
    pub operation: AclOperation,
    /// The permission type to match, or `Any`.
    pub permission: AclPermissionType,
}

impl AclBindingFilter {
    /// A filter matching every binding.
    pub fn any() -> Self {
        AclBindingFilter {
            resource_type: ResourceType::Any,
            name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermissionType::Any,
        }
    }

    /// Whether the filter names an `Unknown` value (Kafka refuses such filters).
    pub fn is_unknown(&self) -> bool {
        self.resource_type == ResourceType::Unknown
            || self.pattern_type == PatternType::Unknown
            || self.operation == AclOperation::Unknown
            || self.permission == AclPermissionType::Unknown
    }

    /// Kafka's `ResourcePatternFilter.matches`.
    pub fn matches_pattern(&self, p: &ResourcePattern) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != p.resource_type {
            return false;
        }
        if !matches!(self.pattern_type, PatternType::Any | PatternType::Match)
            && self.pattern_type != p.pattern_type
        {
            return false;
        }
        let Some(name) = &self.name else {
            return true;
        };
        if self.pattern_type == PatternType::Any || self.pattern_type == p.pattern_type {
            return *name == p.name;
        }
        // MATCH: every pattern that applies to the named resource.
        match p.pattern_type {
            PatternType::Literal => *name == p.name || p.name == WILDCARD_RESOURCE,
            PatternType::Prefixed => name.starts_with(p.name.as_str()),
            _ => false,
        }
    }

    /// Kafka's `AccessControlEntryFilter.matches`.
    pub fn matches_entry(&self, e: &AccessControlEntry) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == e.principal)
            && self.host.as_ref().is_none_or(|h| *h == e.host)
            && (self.operation == AclOperation::Any || self.operation == e.operation)
            && (self.permission == AclPermissionType::Any || self.permission == e.permission)
    }

    /// Kafka's `AclBindingFilter.matches`: both the pattern and the entry match.
    pub fn matches(&self, b: &AclBinding) -> bool {
        self.matches_pattern(&b.pattern) && self.matches_entry(&b.entry)
    }
}

/// Every ACL of the cluster, grouped by resource pattern. Serialized as a flat list of bindings
/// (JSON snapshots cannot have structured map keys).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<AclBinding>", into = "Vec<AclBinding>")]
pub struct Acls {
    by_pattern: BTreeMap<ResourcePattern, BTreeSet<AccessControlEntry>>,
}

impl Acls {
    /// Adds a binding; adding one that exists is a no-op (as in Kafka).
    pub fn add(&mut self, b: &AclBinding) {
        self.by_pattern
            .entry(b.pattern.clone())
            .or_default()
            .insert(b.entry.clone());
    }

    /// Removes and returns every binding `f` matches, in pattern order.
    pub fn remove_matching(&mut self, f: &AclBindingFilter) -> Vec<AclBinding> {
        let mut removed = Vec::new();
        self.by_pattern.retain(|pattern, entries| {
            if !f.matches_pattern(pattern) {
                return true;
            }
            entries.retain(|e| {
                if f.matches_entry(e) {
                    removed.push(AclBinding {
                        pattern: pattern.clone(),
                        entry: e.clone(),
                    });
                    false
                } else {
                    true
                }
            });
            !entries.is_empty()
        });
        removed
    }

    /// Every binding `f` matches, in pattern order.
    pub fn matching(&self, f: &AclBindingFilter) -> Vec<AclBinding> {
        self.iter().filter(|b| f.matches(b)).collect()
    }

    /// Every binding, in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = AclBinding> + '_ {
        self.by_pattern.iter().flat_map(|(p, es)| {
            es.iter().map(move |e| AclBinding {
                pattern: p.clone(),
                entry: e.clone(),
            })
        })
    }

    /// Whether no ACL is stored.
    pub fn is_empty(&self) -> bool {
        self.by_pattern.is_empty()
    }

    /// The number of bindings (entries across every pattern).
    pub fn len(&self) -> usize {
        self.by_pattern.values().map(BTreeSet::len).sum()
    }

    /// The patterns of `resource_type` with their entries (the authorizer narrows further).
    pub fn of_type(
        &self,
        resource_type: ResourceType,
    ) -> impl Iterator<Item = (&ResourcePattern, &BTreeSet<AccessControlEntry>)> {
        self.by_pattern
            .iter()
            .filter(move |(p, _)| p.resource_type == resource_type)
    }

    /// The entries of one exact pattern.
    pub fn entries(&self, pattern: &ResourcePattern) -> Option<&BTreeSet<AccessControlEntry>> {
        self.by_pattern.get(pattern)
    }
}

impl From<Vec<AclBinding>> for Acls {
    fn from(bindings: Vec<AclBinding>) -> Self {
        let mut acls = Acls::default();
        for b in &bindings {
            acls.add(b);
        }
        acls
    }
}

impl From<Acls> for Vec<AclBinding> {
    fn from(acls: Acls) -> Self {
        acls.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(
        rt: ResourceType,
        pt: PatternType,
        name: &str,
        principal: &str,
        op: AclOperation,
        perm: AclPermissionType,
    ) -> AclBinding {
        AclBinding {
            pattern: ResourcePattern {
                resource_type: rt,
                pattern_type: pt,
                name: name.into(),
            },
            entry: AccessControlEntry {
                principal: principal.into(),
                host: "*".into(),
                operation: op,
                permission: perm,
            },
        }
    }

    fn topic_lit(name: &str) -> AclBinding {
        binding(
            ResourceType::Topic,
            PatternType::Literal,
            name,
            "User:alice",
            AclOperation::Read,
            AclPermissionType::Allow,
        )
    }

    #[test]
    fn ids_round_trip_and_unknown_ids_are_unknown() {
        for id in 0..=15 {
            assert_eq!(AclOperation::from_id(id).id(), id);
        }
        assert_eq!(AclOperation::from_id(99), AclOperation::Unknown);
        assert_eq!(ResourceType::from_id(-1), ResourceType::Unknown);
        assert_eq!(PatternType::from_id(4), PatternType::Prefixed);
        assert_eq!(AclPermissionType::from_id(3), AclPermissionType::Allow);
    }

    #[test]
    fn validate_refuses_what_kafka_refuses() {
        assert_eq!(topic_lit("t").validate(), Ok(()));
        let mut b = topic_lit("t");
        b.pattern.pattern_type = PatternType::Match;
        assert_eq!(
            b.validate(),
            Err(InvalidAcl::PatternType(PatternType::Match))
        );
        let mut b = topic_lit("t");
        b.entry.operation = AclOperation::Any;
        assert_eq!(b.validate(), Err(InvalidAcl::Operation(AclOperation::Any)));
        let mut b = topic_lit("");
        assert_eq!(b.validate(), Err(InvalidAcl::EmptyName));
        b = topic_lit("t");
        b.entry.principal = "alice".into();
        assert!(matches!(b.validate(), Err(InvalidAcl::Principal(_))));
        b = topic_lit("t");
        b.pattern.resource_type = ResourceType::Cluster;
        assert_eq!(b.validate(), Err(InvalidAcl::ClusterName));
        b.pattern.name = CLUSTER_NAME.into();
        assert_eq!(b.validate(), Ok(()));
    }

    #[test]
    fn filter_pattern_semantics() {
        let lit = topic_lit("orders").pattern;
        let wild = topic_lit("*").pattern;
        let mut pre = topic_lit("ord").pattern;
        pre.pattern_type = PatternType::Prefixed;
        let f = |pt: PatternType, name: Option<&str>| AclBindingFilter {
            pattern_type: pt,
            name: name.map(String::from),
            resource_type: ResourceType::Topic,
            ..AclBindingFilter::any()
        };
        // ANY with a name: exact name, any pattern type
        assert!(f(PatternType::Any, Some("orders")).matches_pattern(&lit));
        assert!(!f(PatternType::Any, Some("orders")).matches_pattern(&wild));
        assert!(!f(PatternType::Any, Some("orders")).matches_pattern(&pre));
        assert!(f(PatternType::Any, Some("ord")).matches_pattern(&pre));
        // MATCH: everything that applies to the resource "orders"
        let m = f(PatternType::Match, Some("orders"));
        assert!(m.matches_pattern(&lit) && m.matches_pattern(&wild) && m.matches_pattern(&pre));
        assert!(!f(PatternType::Match, Some("other")).matches_pattern(&pre));
        // LITERAL / PREFIXED: that pattern type and exact name
        assert!(f(PatternType::Literal, Some("orders")).matches_pattern(&lit));
        assert!(!f(PatternType::Literal, Some("ord")).matches_pattern(&pre));
        assert!(f(PatternType::Prefixed, None).matches_pattern(&pre));
        assert!(!f(PatternType::Prefixed, None).matches_pattern(&lit));
        // resource type
        let mut g = f(PatternType::Any, None);
        g.resource_type = ResourceType::Group;
        assert!(!g.matches_pattern(&lit));
    }

    #[test]
    fn remove_matching_returns_exactly_what_it_removed() {
        let mut acls = Acls::default();
        let a = topic_lit("a");
        let b = topic_lit("b");
        let mut c = topic_lit("a");
        c.entry.permission = AclPermissionType::Deny;
        for x in [&a, &b, &c, &a] {
            acls.add(x);
        }
        assert_eq!(acls.len(), 3);
        // snapshots are JSON: the set survives a round trip
        let json = serde_json::to_string(&acls).unwrap();
        assert_eq!(serde_json::from_str::<Acls>(&json).unwrap(), acls);
        let f = AclBindingFilter {
            name: Some("a".into()),
            ..AclBindingFilter::any()
        };
        let mut removed = acls.remove_matching(&f);
        removed.sort();
        let mut want = vec![a.clone(), c.clone()];
        want.sort();
        assert_eq!(removed, want);
        assert_eq!(acls.iter().collect::<Vec<_>>(), vec![b.clone()]);
        assert!(acls.remove_matching(&f).is_empty());
        let f = AclBindingFilter {
            principal: Some("User:bob".into()),
            ..AclBindingFilter::any()
        };
        assert!(acls.remove_matching(&f).is_empty());
        assert_eq!(acls.remove_matching(&AclBindingFilter::any()), vec![b]);
        assert!(acls.is_empty());
    }
}
