//! Kafka Streams groups (KIP-1071, `group.protocol=streams`): the topology a Streams application
//! sends, its configuration against the topics that exist, the target assignment of active,
//! standby and warm-up tasks, and each member's reconciliation toward it, as quorum state.
//!
//! It follows Kafka's group coordinator (`org.apache.kafka.coordinator.group.streams`):
//! - [`configure`] is Kafka's `InternalTopicManager.configureTopics`: from the topology and the
//!   partition counts of existing topics it decides every internal topic's partition count
//!   (repartition topics from their upstream sub-topologies, copartition groups enforced,
//!   changelog topics one partition per task), each sub-topology's task count, and what stops
//!   the group from running: missing source topics, incorrectly partitioned topics, or missing
//!   internal topics (which the coordinator then creates).
//! - The target assignment comes from [`crate::streams_assignor`], computed when the group epoch
//!   moves past the assignment epoch and only while the topology is configured; until then every
//!   member's target is empty.
//! - [`StreamsGroup::heartbeat`] is a pure function of (group, request), like the KIP-848
//!   heartbeat of [`crate::consumer_group`]: the coordinating agent runs it on its replica's copy
//!   first and proposes it only when it changes the group, so a steady group costs no quorum
//!   writes. Reconciliation is Kafka's streams `CurrentAssignmentBuilder`: a member first gives
//!   up the tasks it must lose (UNREVOKED_TASKS, at its current epoch); only then does it move to
//!   the target epoch and gain tasks, except an active task still owned by another member, or
//!   any task still held in some role by another member of its own process (UNRELEASED_TASKS).
//!   So a task is never active on two members at once.
//!
//! Liveness (session timeouts) stays in the coordinator's memory, as for the other kinds.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::codes;
use crate::consumer_group::{
    compile_regex, member_epoch_refusal, regex_matches, FENCED_MEMBER_EPOCH,
    GROUP_MAX_SIZE_REACHED, JOIN_EPOCH, LEAVE_EPOCH, STALE_MEMBER_EPOCH, STATIC_LEAVE_EPOCH,
    UNRELEASED_INSTANCE_ID,
};
use crate::streams_assignor::{
    self, AssignorConfig, MemberSpec, MemberTasks, SubtopologySpec, TaskId,
};

/// Kafka's STREAMS_INVALID_TOPOLOGY.
pub const STREAMS_INVALID_TOPOLOGY: i16 = 130;
/// Kafka's STREAMS_INVALID_TOPOLOGY_EPOCH.
pub const STREAMS_INVALID_TOPOLOGY_EPOCH: i16 = 131;

/// The status codes of a StreamsGroupHeartbeat response (Kafka's
/// `StreamsGroupHeartbeatResponse.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum StatusCode {
    /// The member's topology epoch is older than the group's.
    StaleTopology = 0,
    /// A source topic is missing, or a source regex matches nothing.
    MissingSourceTopics = 1,
    /// Topics that must be copartitioned are not, or an internal topic exists with the wrong
    /// partition count.
    IncorrectlyPartitionedTopics = 2,
    /// Internal topics are missing (the coordinator is creating them).
    MissingInternalTopics = 3,
    /// A member asked the whole application to shut down.
    ShutdownApplication = 4,
}

/// One entry of the heartbeat response's status list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// What the status is.
    pub code: StatusCode,
    /// Kafka's wording of the detail.
    pub detail: String,
}

/// An internal topic the topology needs (Kafka's `StreamsGroupTopologyValue.TopicInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicInfo {
    /// The topic name.
    pub name: String,
    /// Partition count the topology requires; 0 when the coordinator decides it.
    pub partitions: i32,
    /// Replication factor; 0 for the default.
    pub replication_factor: i16,
    /// Topic configs for its creation (e.g. `cleanup.policy=compact` for a changelog).
    pub configs: BTreeMap<String, String>,
}

/// Source topics of one sub-topology that must be copartitioned, as indexes into its lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopartitionGroup {
    /// Indexes into `source_topics`.
    pub source_topics: Vec<i16>,
    /// Indexes into `source_topic_regex`.
    pub source_topic_regex: Vec<i16>,
    /// Indexes into `repartition_source_topics`.
    pub repartition_source_topics: Vec<i16>,
}

/// One sub-topology: its partitions are its tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subtopology {
    /// The sub-topology id ("0", "1", ...: Kafka Streams numbers them).
    pub id: String,
    /// Topics it reads from, by name.
    pub source_topics: Vec<String>,
    /// Regular expressions of topics it reads from.
    pub source_topic_regex: Vec<String>,
    /// Its state stores' changelog topics.
    pub state_changelog_topics: Vec<TopicInfo>,
    /// Repartition topics it writes to.
    pub repartition_sink_topics: Vec<String>,
    /// Repartition topics it reads from.
    pub repartition_source_topics: Vec<TopicInfo>,
    /// Source topics that must be copartitioned.
    pub copartition_groups: Vec<CopartitionGroup>,
}

/// A Streams application's topology as the group stores it (Kafka's `StreamsTopology`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamsTopology {
    /// The topology epoch the application gave it.
    pub epoch: i32,
    /// The sub-topologies, by id.
    pub subtopologies: BTreeMap<String, Subtopology>,
}

/// Most sub-topologies, and most topics named in all, that a topology may have: a bound on what
/// one heartbeat may make the quorum store (Kafka has no such bound; 10,000 topics is far beyond
/// any real application).
pub const MAX_TOPOLOGY_TOPICS: usize = 10_000;

/// Why a topology is refused: INVALID_REQUEST or STREAMS_INVALID_TOPOLOGY, with a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TopologyError {
    /// The Kafka error code.
    pub code: i16,
    /// The message the client gets.
    pub message: String,
}

fn invalid_topology(message: String) -> TopologyError {
    TopologyError {
        code: STREAMS_INVALID_TOPOLOGY,
        message,
    }
}

impl StreamsTopology {
    /// Checks a topology before it is stored (Kafka's `throwIfInvalidTopology`, and bounds of our
    /// own): unique sub-topology ids, changelog topics without a partition count, no negative
    /// partition counts, copartition indexes within the sub-topology's lists, valid regexes, and
    /// at most [`MAX_TOPOLOGY_TOPICS`] topics named.
    pub fn validate(&self) -> Result<(), TopologyError> {
        let mut named = 0usize;
        for (id, s) in &self.subtopologies {
            if *id != s.id {
                return Err(invalid_topology(format!(
                    "Subtopology {id} is stored under another id {}.",
                    s.id
                )));
            }
            named += s.source_topics.len()
                + s.source_topic_regex.len()
                + s.state_changelog_topics.len()
                + s.repartition_sink_topics.len()
                + s.repartition_source_topics.len();
            if named > MAX_TOPOLOGY_TOPICS {
                return Err(invalid_topology(format!(
                    "The topology names more than {MAX_TOPOLOGY_TOPICS} topics."
                )));
            }
            if s.source_topics.is_empty()
                && s.source_topic_regex.is_empty()
                && s.repartition_source_topics.is_empty()
            {
                return Err(invalid_topology(format!(
                    "Subtopology {id} has no source topics."
                )));
            }
            if let Some(t) = s.state_changelog_topics.iter().find(|t| t.partitions != 0) {
                return Err(invalid_topology(format!(
                    "Changelog topic {} must have an undefined partition count, but it is set to {}.",
                    t.name, t.partitions
                )));
            }
            if let Some(t) = s
                .repartition_source_topics
                .iter()
                .find(|t| t.partitions < 0)
            {
                return Err(invalid_topology(format!(
                    "Repartition topic {} has a negative partition count {}.",
                    t.name, t.partitions
                )));
            }
            for re in &s.source_topic_regex {
                if compile_regex(re).is_err() {
                    return Err(invalid_topology(format!(
                        "Source topic regex {re} of subtopology {id} is not a valid regular expression."
                    )));
                }
            }
            for g in &s.copartition_groups {
                let bad =
                    |idx: &[i16], len: usize| idx.iter().any(|i| *i < 0 || *i as usize >= len);
                if bad(&g.source_topics, s.source_topics.len())
                    || bad(&g.source_topic_regex, s.source_topic_regex.len())
                    || bad(
                        &g.repartition_source_topics,
                        s.repartition_source_topics.len(),
                    )
                {
                    return Err(invalid_topology(format!(
                        "Copartition group of subtopology {id} refers to a topic outside the subtopology."
                    )));
                }
            }
        }
        Ok(())
    }

    /// Every topic name the topology names explicitly (sources, internal topics).
    pub fn named_topics(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for s in self.subtopologies.values() {
            out.extend(s.source_topics.iter().cloned());
            out.extend(s.repartition_sink_topics.iter().cloned());
            out.extend(s.repartition_source_topics.iter().map(|t| t.name.clone()));
            out.extend(s.state_changelog_topics.iter().map(|t| t.name.clone()));
        }
        out
    }

    /// Whether any sub-topology reads topics by regex (then the coordinator must pass every
    /// topic's partition count).
    pub fn has_regex(&self) -> bool {
        self.subtopologies
            .values()
            .any(|s| !s.source_topic_regex.is_empty())
    }
}

/// An internal topic the coordinator must create (Kafka's `CreatableTopic` of
/// `missingInternalTopics`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicToCreate {
    /// The name.
    pub name: String,
    /// The decided partition count.
    pub partitions: i32,
    /// Topic configs from the topology.
    pub configs: BTreeMap<String, String>,
}

/// The topology configured against existing topics (Kafka's `ConfiguredTopology`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfiguredTopology {
    /// The topology epoch it was configured from.
    pub topology_epoch: i32,
    /// Tasks per sub-topology; empty when the source topics are missing or misconfigured.
    pub tasks: BTreeMap<String, i32>,
    /// Sub-topologies with state stores.
    pub stateful: BTreeSet<String>,
    /// Source topics per sub-topology with regexes resolved, repartition sources included:
    /// the partitions each task reads (task `p` reads partition `p` of each, where it exists).
    pub sources: BTreeMap<String, Vec<String>>,
    /// What keeps the group from running (none: ready).
    pub problem: Option<Status>,
    /// Internal topics to create (with `problem` MISSING_INTERNAL_TOPICS).
    pub to_create: Vec<TopicToCreate>,
}

impl ConfiguredTopology {
    /// Whether tasks can be assigned.
    pub fn is_ready(&self) -> bool {
        self.problem.is_none()
    }
}

fn summarize(topics: &BTreeSet<String>) -> String {
    let list: Vec<&str> = topics.iter().map(String::as_str).collect();
    format!("[{}]", list.join(", "))
}

/// Configures `topology` against `topics` (name → partition count of every existing topic the
/// topology names, and of every topic when it has regexes): Kafka's
/// `InternalTopicManager.configureTopics`. Deterministic.
pub fn configure(topology: &StreamsTopology, topics: &BTreeMap<String, i32>) -> ConfiguredTopology {
    let mut out = ConfiguredTopology {
        topology_epoch: topology.epoch,
        stateful: topology
            .subtopologies
            .values()
            .filter(|s| !s.state_changelog_topics.is_empty())
            .map(|s| s.id.clone())
            .collect(),
        ..Default::default()
    };
    let fail = |mut out: ConfiguredTopology, code: StatusCode, detail: String| {
        out.tasks.clear();
        out.sources.clear();
        out.to_create.clear();
        out.problem = Some(Status { code, detail });
        out
    };
    // Source topics, regexes resolved (internal topics never match a regex).
    let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut missing = BTreeSet::new();
    for s in topology.subtopologies.values() {
        let mut mine: Vec<String> = Vec::new();
        for t in &s.source_topics {
            if topics.contains_key(t) {
                mine.push(t.clone());
            } else {
                missing.insert(t.clone());
            }
        }
        for re in &s.source_topic_regex {
            let Ok(re) = compile_regex(re) else { continue };
            let matched: Vec<String> = topics
                .keys()
                .filter(|t| !t.starts_with("__") && regex_matches(&re, t))
                .cloned()
                .collect();
            if matched.is_empty() {
                missing.insert(format!("regex {}", re.as_str()));
            }
            mine.extend(matched);
        }
        sources.insert(s.id.clone(), mine);
    }
    if !missing.is_empty() {
        return fail(
            out,
            StatusCode::MissingSourceTopics,
            format!("Source topics {} are missing.", summarize(&missing)),
        );
    }
    // Repartition topics: fixed counts first, then from upstream sub-topologies until no
    // progress (Kafka's `RepartitionTopics.setup`).
    let mut decided: BTreeMap<String, i32> = BTreeMap::new();
    let count = |t: &str, decided: &BTreeMap<String, i32>| -> Option<i32> {
        topics.get(t).or_else(|| decided.get(t)).copied()
    };
    for s in topology.subtopologies.values() {
        for r in &s.repartition_source_topics {
            if r.partitions > 0 {
                decided.insert(r.name.clone(), r.partitions);
            }
        }
    }
    loop {
        let mut progress = false;
        for s in topology.subtopologies.values() {
            for r in &s.repartition_source_topics {
                if decided.contains_key(&r.name) || r.partitions > 0 {
                    continue;
                }
                // Writers of this repartition topic, and their inputs' partition counts.
                let mut max: Option<i32> = None;
                for w in topology.subtopologies.values() {
                    if !w.repartition_sink_topics.contains(&r.name) {
                        continue;
                    }
                    let inputs = sources[&w.id]
                        .iter()
                        .cloned()
                        .chain(w.repartition_source_topics.iter().map(|t| t.name.clone()));
                    for i in inputs {
                        if let Some(n) = count(&i, &decided) {
                            max = Some(max.map_or(n, |m: i32| m.max(n)));
                        }
                    }
                }
                if let Some(n) = max.or_else(|| topics.get(&r.name).copied()) {
                    decided.insert(r.name.clone(), n);
                    progress = true;
                }
            }
        }
        if !progress {
            break;
        }
    }
    let undecided: BTreeSet<String> = topology
        .subtopologies
        .values()
        .flat_map(|s| s.repartition_source_topics.iter())
        .filter(|r| !decided.contains_key(&r.name))
        .map(|r| r.name.clone())
        .collect();
    if !undecided.is_empty() {
        return fail(
            out,
            StatusCode::IncorrectlyPartitionedTopics,
            format!(
                "Failed to compute the number of partitions of repartition topics {}.",
                summarize(&undecided)
            ),
        );
    }
    // Copartition groups (Kafka's `CopartitionedTopicsEnforcer`): external topics must agree;
    // repartition topics without a fixed count follow them (or the largest of the group).
    for s in topology.subtopologies.values() {
        for g in &s.copartition_groups {
            let mut external: BTreeMap<String, i32> = BTreeMap::new();
            for i in &g.source_topics {
                let t = &s.source_topics[*i as usize];
                external.insert(t.clone(), topics[t]);
            }
            for i in &g.source_topic_regex {
                let Ok(re) = compile_regex(&s.source_topic_regex[*i as usize]) else {
                    continue;
                };
                for t in sources[&s.id].iter().filter(|t| regex_matches(&re, t)) {
                    external.insert(t.clone(), topics[t]);
                }
            }
            let repartition: Vec<&TopicInfo> = g
                .repartition_source_topics
                .iter()
                .map(|i| &s.repartition_source_topics[*i as usize])
                .collect();
            let fixed: BTreeMap<String, i32> = repartition
                .iter()
                .filter(|r| r.partitions > 0)
                .map(|r| (r.name.clone(), r.partitions))
                .collect();
            let counts: BTreeSet<i32> = external.values().chain(fixed.values()).copied().collect();
            if counts.len() > 1 {
                let names: BTreeSet<String> =
                    external.keys().chain(fixed.keys()).cloned().collect();
                return fail(
                    out,
                    StatusCode::IncorrectlyPartitionedTopics,
                    format!(
                        "Following topics do not have the same number of partitions: {}",
                        summarize(&names)
                    ),
                );
            }
            let n = match counts.first() {
                Some(n) => *n,
                None => repartition
                    .iter()
                    .filter_map(|r| decided.get(&r.name))
                    .copied()
                    .max()
                    .unwrap_or(0),
            };
            for r in repartition.iter().filter(|r| r.partitions == 0) {
                decided.insert(r.name.clone(), n);
            }
        }
    }
    // Tasks per sub-topology, then changelog topics: one partition per task.
    for s in topology.subtopologies.values() {
        let mut inputs = sources[&s.id].clone();
        inputs.extend(s.repartition_source_topics.iter().map(|t| t.name.clone()));
        let tasks = inputs
            .iter()
            .filter_map(|t| count(t, &decided))
            .max()
            .unwrap_or(0);
        out.tasks.insert(s.id.clone(), tasks);
        out.sources.insert(s.id.clone(), inputs);
        for c in &s.state_changelog_topics {
            decided.insert(c.name.clone(), tasks);
        }
    }
    // Internal topics: missing ones to create, existing ones must have the decided count.
    let mut wrong = None;
    for s in topology.subtopologies.values() {
        for t in s
            .repartition_source_topics
            .iter()
            .chain(&s.state_changelog_topics)
        {
            let want = decided[&t.name];
            match topics.get(&t.name) {
                Some(have) if *have != want => {
                    wrong.get_or_insert(format!(
                        "Existing topic {} has different number of partitions: expected {want}, found {have}",
                        t.name
                    ));
                }
                Some(_) => {}
                None => {
                    if !out.to_create.iter().any(|c| c.name == t.name) {
                        out.to_create.push(TopicToCreate {
                            name: t.name.clone(),
                            partitions: want,
                            configs: t.configs.clone(),
                        });
                    }
                }
            }
        }
    }
    if let Some(detail) = wrong {
        return fail(out, StatusCode::IncorrectlyPartitionedTopics, detail);
    }
    if !out.to_create.is_empty() {
        let names: BTreeSet<String> = out.to_create.iter().map(|t| t.name.clone()).collect();
        out.problem = Some(Status {
            code: StatusCode::MissingInternalTopics,
            detail: format!("Internal topics are missing: {}", summarize(&names)),
        });
        out.tasks.clear();
    }
    out
}

/// Where a member stands in reconciliation (Kafka's streams `MemberState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamsMemberState {
    /// At the target epoch with all its target tasks.
    Stable,
    /// Must give up `pending_revocation` before moving to the target epoch.
    UnrevokedTasks,
    /// At the target epoch, waiting for tasks other members still hold.
    UnreleasedTasks,
}

impl StreamsMemberState {
    /// The name Kafka uses.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamsMemberState::Stable => "stable",
            StreamsMemberState::UnrevokedTasks => "unrevoked_tasks",
            StreamsMemberState::UnreleasedTasks => "unreleased_tasks",
        }
    }
}

/// Tasks by sub-topology and partition, as the wire and the snapshots carry them.
pub type TaskMap = BTreeMap<String, BTreeSet<i32>>;

/// One member of a streams group (Kafka's `StreamsGroupMember`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamsMember {
    /// The member id (generated by the client).
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    /// The member's rack.
    pub rack_id: Option<String>,
    /// The client id of its last heartbeat that changed the group.
    pub client_id: String,
    /// The client host.
    pub client_host: String,
    /// Milliseconds it may take to revoke tasks.
    pub rebalance_timeout_ms: i32,
    /// The topology epoch the member runs.
    pub topology_epoch: i32,
    /// The Streams instance (process) it runs in.
    pub process_id: String,
    /// Its endpoint for interactive queries.
    pub user_endpoint: Option<(String, u16)>,
    /// Its client tags (rack-aware standby placement).
    pub client_tags: BTreeMap<String, String>,
    /// Cumulative changelog offsets per task it last reported.
    pub task_offsets: BTreeMap<String, BTreeMap<i32, i64>>,
    /// Cumulative changelog end offsets per task it last reported.
    pub task_end_offsets: BTreeMap<String, BTreeMap<i32, i64>>,
    /// Its member epoch.
    pub member_epoch: i32,
    /// Its epoch before the last change (a lost response is tolerated).
    pub previous_member_epoch: i32,
    /// Reconciliation state.
    pub state: StreamsMemberState,
    /// Tasks it holds now (what it was last told).
    pub assigned: MemberTasks,
    /// Tasks it must give up.
    pub pending_revocation: MemberTasks,
    /// When it was asked to revoke (proposer's clock, ms).
    pub revoking_since_ms: i64,
}

impl StreamsMember {
    fn new(member_id: &str) -> Self {
        StreamsMember {
            member_id: member_id.to_string(),
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            rebalance_timeout_ms: 0,
            topology_epoch: 0,
            process_id: String::new(),
            user_endpoint: None,
            client_tags: BTreeMap::new(),
            task_offsets: BTreeMap::new(),
            task_end_offsets: BTreeMap::new(),
            member_epoch: 0,
            previous_member_epoch: -1,
            state: StreamsMemberState::Stable,
            assigned: MemberTasks::default(),
            pending_revocation: MemberTasks::default(),
            revoking_since_ms: 0,
        }
    }
}

/// Kafka's `StreamsGroup.StreamsGroupState`, as ListGroups and StreamsGroupDescribe name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamsGroupState {
    /// No members.
    Empty,
    /// Members, but the topology is not configured (missing or misconfigured topics).
    NotReady,
    /// The group epoch moved past the assignment epoch.
    Assigning,
    /// Some member is not at the target yet.
    Reconciling,
    /// Every member holds its target.
    Stable,
    /// What a group that does not exist is described as.
    Dead,
}

impl StreamsGroupState {
    /// The name Kafka uses on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamsGroupState::Empty => "Empty",
            StreamsGroupState::NotReady => "NotReady",
            StreamsGroupState::Assigning => "Assigning",
            StreamsGroupState::Reconciling => "Reconciling",
            StreamsGroupState::Stable => "Stable",
            StreamsGroupState::Dead => "Dead",
        }
    }
}

/// One Kafka Streams group (Kafka's `StreamsGroup`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamsGroup {
    /// Bumped by every change that calls for a new assignment.
    pub group_epoch: i32,
    /// The group epoch the target assignment was computed at.
    pub assignment_epoch: i32,
    /// The topology, from the first member (or a newer topology epoch).
    pub topology: Option<StreamsTopology>,
    /// The topology configured against the topics of the last change.
    pub configured: Option<ConfiguredTopology>,
    /// Partition counts of the topics the topology was configured against.
    pub topics: BTreeMap<String, i32>,
    /// Members by id.
    pub members: BTreeMap<String, StreamsMember>,
    /// The target assignment of `assignment_epoch`, per member.
    pub target: BTreeMap<String, MemberTasks>,
    /// Bumped whenever some member's tasks or endpoint change: members with an older one are
    /// sent the partitions per endpoint (interactive queries).
    pub endpoint_information_epoch: i32,
    /// A member asked the application to shut down: every member is told until the group empties.
    pub shutdown_requested: bool,
    /// When the last member left (proposer's clock): committed offsets expire from here.
    pub empty_since_ms: i64,
}

/// Group settings a heartbeat carries (group configs over the coordinator's defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamsSettings {
    /// `streams.num.standby.replicas` (0-2).
    pub num_standby_replicas: u32,
    /// Largest changelog lag at which a process counts as caught up.
    pub acceptable_recovery_lag: i64,
    /// Most warm-up tasks at once (0: Kafka's sticky assignor as is).
    pub max_warmup_replicas: u32,
    /// `group.streams.max.size` (0: unbounded).
    pub max_size: i32,
}

/// A StreamsGroupHeartbeat as the group applies it; `None` fields are unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamsHeartbeat {
    /// The member id (always the client's).
    pub member_id: String,
    /// 0 to join, -1 to leave, -2 for a static member leaving for a while.
    pub member_epoch: i32,
    /// The endpoint information epoch the member has.
    pub endpoint_information_epoch: i32,
    /// `group.instance.id`.
    pub instance_id: Option<String>,
    /// Rack id.
    pub rack_id: Option<String>,
    /// -1: unchanged.
    pub rebalance_timeout_ms: i32,
    /// Sent on join only.
    pub topology: Option<StreamsTopology>,
    /// The tasks the member owns; `None` when unchanged since its last heartbeat.
    pub owned: Option<MemberTasks>,
    /// The Streams process id.
    pub process_id: Option<String>,
    /// Endpoint for interactive queries.
    pub user_endpoint: Option<(String, u16)>,
    /// Client tags.
    pub client_tags: Option<BTreeMap<String, String>>,
    /// Cumulative changelog offsets per task.
    pub task_offsets: Option<BTreeMap<String, BTreeMap<i32, i64>>>,
    /// Cumulative changelog end offsets per task.
    pub task_end_offsets: Option<BTreeMap<String, BTreeMap<i32, i64>>>,
    /// Asks every member to shut down.
    pub shutdown_application: bool,
    /// The client id.
    pub client_id: String,
    /// The client host.
    pub client_host: String,
    /// Partition counts of the topics the group's topology names (every topic if it uses regexes),
    /// read from the proposer's replica.
    pub topics: BTreeMap<String, i32>,
    /// Group settings.
    pub settings: StreamsSettings,
    /// The proposer's clock (ms).
    pub now_ms: i64,
}

/// Partitions one member's endpoint serves (for `PartitionsByUserEndpoint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointPartitions {
    /// Host and port.
    pub endpoint: (String, u16),
    /// Topic → partitions of its active tasks' inputs.
    pub active: BTreeMap<String, BTreeSet<i32>>,
    /// Topic → partitions of its standby and warm-up tasks' inputs.
    pub standby: BTreeMap<String, BTreeSet<i32>>,
}

/// What a heartbeat answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamsHeartbeatReply {
    /// The member id.
    pub member_id: String,
    /// The member's epoch now.
    pub member_epoch: i32,
    /// The tasks it holds, when they changed, on a join, or when it reported what it owns.
    pub assignment: Option<MemberTasks>,
    /// Statuses for the member (missing topics, stale topology, shutdown).
    pub status: Vec<Status>,
    /// The group's endpoint information epoch.
    pub endpoint_information_epoch: i32,
    /// Partitions per endpoint, when the member's endpoint epoch is older than the group's.
    pub partitions_by_endpoint: Option<Vec<EndpointPartitions>>,
    /// Internal topics the coordinator should create.
    pub to_create: Vec<TopicToCreate>,
}

/// A heartbeat refused: a Kafka error code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (error {code})")]
pub struct StreamsHeartbeatError {
    /// The Kafka error code.
    pub code: i16,
    /// The message.
    pub message: String,
}

fn fail<T>(code: i16, message: impl Into<String>) -> Result<T, StreamsHeartbeatError> {
    Err(StreamsHeartbeatError {
        code,
        message: message.into(),
    })
}

fn flatten(t: &MemberTasks) -> [BTreeSet<TaskId>; 3] {
    [t.active.clone(), t.standby.clone(), t.warmup.clone()]
}

fn is_empty(t: &MemberTasks) -> bool {
    t.active.is_empty() && t.standby.is_empty() && t.warmup.is_empty()
}

fn union(a: &MemberTasks, b: &MemberTasks) -> MemberTasks {
    MemberTasks {
        active: a.active.union(&b.active).cloned().collect(),
        standby: a.standby.union(&b.standby).cloned().collect(),
        warmup: a.warmup.union(&b.warmup).cloned().collect(),
    }
}

/// Tasks of a wire-shaped map.
pub fn tasks_of(map: &TaskMap) -> BTreeSet<TaskId> {
    map.iter()
        .flat_map(|(s, ps)| ps.iter().map(move |p| TaskId::new(s.clone(), *p)))
        .collect()
}

/// The wire shape of a task set.
pub fn task_map(tasks: &BTreeSet<TaskId>) -> TaskMap {
    let mut out = TaskMap::new();
    for t in tasks {
        out.entry(t.subtopology.clone())
            .or_default()
            .insert(t.partition);
    }
    out
}

fn offsets_of(map: &BTreeMap<String, BTreeMap<i32, i64>>) -> BTreeMap<TaskId, i64> {
    map.iter()
        .flat_map(|(s, ps)| {
            ps.iter()
                .map(move |(p, o)| (TaskId::new(s.clone(), *p), *o))
        })
        .collect()
}

impl StreamsGroup {
    /// The group's state (Kafka's `StreamsGroup.state()`).
    pub fn state(&self) -> StreamsGroupState {
        if self.members.is_empty() {
            StreamsGroupState::Empty
        } else if !self.configured.as_ref().is_some_and(|c| c.is_ready()) {
            StreamsGroupState::NotReady
        } else if self.group_epoch > self.assignment_epoch {
            StreamsGroupState::Assigning
        } else if self.members.values().any(|m| {
            m.member_epoch != self.assignment_epoch || m.state != StreamsMemberState::Stable
        }) {
            StreamsGroupState::Reconciling
        } else {
            StreamsGroupState::Stable
        }
    }

    /// The static member with `instance`, if any.
    pub fn member_by_instance(&self, instance: &str) -> Option<&StreamsMember> {
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance))
    }

    /// Recomputes the configured topology from the stored topology and `topics`; true when it
    /// changed (a new assignment is due).
    fn refresh_configuration(&mut self, topics: &BTreeMap<String, i32>) -> bool {
        let Some(topology) = &self.topology else {
            return false;
        };
        let configured = configure(topology, topics);
        let mut relevant = topology.named_topics();
        if topology.has_regex() {
            relevant.extend(configured.sources.values().flatten().cloned());
        }
        let seen: BTreeMap<String, i32> = topics
            .iter()
            .filter(|(t, _)| relevant.contains(*t))
            .map(|(t, n)| (t.clone(), *n))
            .collect();
        let changed = self.configured.as_ref() != Some(&configured) || self.topics != seen;
        self.configured = Some(configured);
        self.topics = seen;
        changed
    }

    /// Bumps the group epoch and computes the target assignment for it.
    fn bump(&mut self, settings: &StreamsSettings) {
        self.group_epoch += 1;
        self.compute_target(settings);
    }

    fn compute_target(&mut self, settings: &StreamsSettings) {
        let ready = self.configured.as_ref().filter(|c| c.is_ready());
        let subtopologies: Vec<SubtopologySpec> = ready
            .map(|c| {
                c.tasks
                    .iter()
                    .map(|(id, n)| SubtopologySpec {
                        id: id.clone(),
                        tasks: *n,
                        stateful: c.stateful.contains(id),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let members: Vec<MemberSpec> = self
            .members
            .values()
            .filter(|m| m.member_epoch != STATIC_LEAVE_EPOCH || m.instance_id.is_some())
            .map(|m| {
                let held = union(&m.assigned, &m.pending_revocation);
                MemberSpec {
                    member_id: m.member_id.clone(),
                    process_id: m.process_id.clone(),
                    client_tags: m.client_tags.clone(),
                    active: held.active,
                    standby: held.standby,
                    warmup: held.warmup,
                    task_offsets: offsets_of(&m.task_offsets),
                    task_end_offsets: offsets_of(&m.task_end_offsets),
                }
            })
            .collect();
        let config = AssignorConfig {
            num_standby_replicas: settings.num_standby_replicas.min(2),
            rack_aware_tags: Vec::new(),
            acceptable_recovery_lag: settings.acceptable_recovery_lag,
            max_warmup_replicas: settings.max_warmup_replicas,
        };
        // The input is built from validated state (unique ids, counts ≥ 0), so the assignor
        // cannot refuse it; should it anyway, every member gets nothing rather than a panic.
        self.target =
            streams_assignor::assign(&subtopologies, &members, &config).unwrap_or_else(|_| {
                members
                    .iter()
                    .map(|m| (m.member_id.clone(), MemberTasks::default()))
                    .collect()
            });
        self.assignment_epoch = self.group_epoch;
    }

    /// Who holds each task now, per role, except `except` (Kafka's
    /// `currentActiveTaskProcessId`, `currentStandbyTaskProcessIds`, ...): pending revocations
    /// count as held.
    fn holders(&self, except: &str) -> [BTreeMap<TaskId, BTreeSet<String>>; 3] {
        let mut out: [BTreeMap<TaskId, BTreeSet<String>>; 3] = Default::default();
        for m in self.members.values().filter(|m| m.member_id != except) {
            let held = flatten(&union(&m.assigned, &m.pending_revocation));
            for (role, tasks) in held.iter().enumerate() {
                for t in tasks {
                    out[role]
                        .entry(t.clone())
                        .or_default()
                        .insert(m.process_id.clone());
                }
            }
        }
        out
    }

    /// Moves `member_id` toward its target (Kafka's streams `CurrentAssignmentBuilder`).
    fn reconcile(&mut self, member_id: &str, owned: Option<&MemberTasks>, now_ms: i64) {
        let [active_by, standby_by, warmup_by] = self.holders(member_id);
        let target_epoch = self.assignment_epoch;
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let m = self
            .members
            .get_mut(member_id)
            .expect("reconciled member exists");
        match m.state {
            StreamsMemberState::UnrevokedTasks => {
                let revoked = flatten(&m.pending_revocation);
                let still_owns = match owned {
                    None => true,
                    Some(o) => flatten(o)
                        .iter()
                        .zip(revoked.iter())
                        .any(|(o, r)| !o.is_disjoint(r)),
                };
                if still_owns {
                    return;
                }
            }
            StreamsMemberState::Stable if m.member_epoch == target_epoch => return,
            _ => {}
        }
        let process = m.process_id.clone();
        let on_my_process = |t: &TaskId| {
            standby_by.get(t).is_some_and(|p| p.contains(&process))
                || warmup_by.get(t).is_some_and(|p| p.contains(&process))
        };
        let current = flatten(&m.assigned);
        let goal = flatten(&target);
        let mut kept: [BTreeSet<TaskId>; 3] = Default::default();
        let mut revoke: [BTreeSet<TaskId>; 3] = Default::default();
        for role in 0..3 {
            kept[role] = current[role].intersection(&goal[role]).cloned().collect();
            revoke[role] = current[role].difference(&goal[role]).cloned().collect();
        }
        let as_tasks = |sets: &[BTreeSet<TaskId>; 3]| MemberTasks {
            active: sets[0].clone(),
            standby: sets[1].clone(),
            warmup: sets[2].clone(),
        };
        if revoke.iter().any(|r| !r.is_empty()) {
            m.state = StreamsMemberState::UnrevokedTasks;
            m.assigned = as_tasks(&kept);
            m.pending_revocation = as_tasks(&revoke);
            m.revoking_since_ms = now_ms;
            return;
        }
        let mut unreleased = false;
        for role in 0..3 {
            for t in goal[role].difference(&current[role]) {
                let busy = match role {
                    0 => active_by.contains_key(t) || on_my_process(t),
                    _ => active_by.get(t).is_some_and(|p| p.contains(&process)) || on_my_process(t),
                };
                if busy {
                    unreleased = true;
                } else {
                    kept[role].insert(t.clone());
                }
            }
        }
        m.state = if unreleased {
            StreamsMemberState::UnreleasedTasks
        } else {
            StreamsMemberState::Stable
        };
        m.assigned = as_tasks(&kept);
        m.pending_revocation = MemberTasks::default();
        if m.member_epoch != target_epoch {
            m.previous_member_epoch = m.member_epoch;
            m.member_epoch = target_epoch;
        }
    }

    /// Removes members (leave, expiry, fencing); the rest rebalance.
    pub fn remove_members(
        &mut self,
        ids: &[String],
        settings: &StreamsSettings,
        now_ms: i64,
    ) -> bool {
        let before = self.members.len();
        for id in ids {
            self.members.remove(id);
            self.target.remove(id);
        }
        if self.members.len() == before {
            return false;
        }
        if self.members.is_empty() {
            self.empty_since_ms = now_ms;
            self.shutdown_requested = false;
        }
        self.endpoint_information_epoch += 1;
        self.bump(settings);
        true
    }

    /// Members that held revoked tasks past their rebalance timeout at `now_ms`.
    pub fn revocation_overdue(&self, now_ms: i64) -> Vec<String> {
        self.members
            .values()
            .filter(|m| {
                m.state == StreamsMemberState::UnrevokedTasks
                    && now_ms - m.revoking_since_ms > m.rebalance_timeout_ms as i64
            })
            .map(|m| m.member_id.clone())
            .collect()
    }

    /// Kafka's `StreamsGroup.validateMemberEpoch` for an OffsetCommit or OffsetFetch of
    /// `member_id`: UNKNOWN_MEMBER_ID, or STALE_MEMBER_EPOCH for any epoch but its own.
    pub fn validate_member_epoch(&self, member_id: &str, member_epoch: i32) -> Option<i16> {
        member_epoch_refusal(
            self.members.get(member_id).map(|m| m.member_epoch),
            member_epoch,
            STALE_MEMBER_EPOCH,
        )
    }

    /// One StreamsGroupHeartbeat, applied. Deterministic: everything comes from `self` and `hb`.
    pub fn heartbeat(
        &mut self,
        hb: &StreamsHeartbeat,
    ) -> Result<StreamsHeartbeatReply, StreamsHeartbeatError> {
        let id = hb.member_id.as_str();
        if hb.member_epoch == LEAVE_EPOCH || hb.member_epoch == STATIC_LEAVE_EPOCH {
            return self.leave(hb);
        }
        let mut joined = false;
        if hb.member_epoch == JOIN_EPOCH {
            if let Some(inst) = &hb.instance_id {
                if let Some(old) = self.member_by_instance(inst).cloned() {
                    if old.member_id != id {
                        if old.member_epoch != STATIC_LEAVE_EPOCH {
                            return fail(
                                UNRELEASED_INSTANCE_ID,
                                format!("Static member {inst} is still in use by another member."),
                            );
                        }
                        // A static member coming back takes over its predecessor's place.
                        self.members.remove(&old.member_id);
                        if let Some(t) = self.target.remove(&old.member_id) {
                            self.target.insert(id.to_string(), t);
                        }
                        let mut m = old;
                        m.member_id = id.to_string();
                        m.member_epoch = m.previous_member_epoch.max(0);
                        self.members.insert(id.to_string(), m);
                    }
                }
            }
            if let Some(m) = self.members.get_mut(id) {
                // A rejoin: the member abandoned whatever it held.
                if m.member_epoch != STATIC_LEAVE_EPOCH && !is_empty(&m.assigned) {
                    m.assigned = MemberTasks::default();
                    m.pending_revocation = MemberTasks::default();
                    m.state = StreamsMemberState::Stable;
                    m.member_epoch = 0;
                    joined = true;
                }
            } else {
                let max = hb.settings.max_size;
                if max > 0 && self.members.len() >= max as usize {
                    return fail(
                        GROUP_MAX_SIZE_REACHED,
                        format!("The streams group has reached its maximum size of {max}."),
                    );
                }
                self.members.insert(id.to_string(), StreamsMember::new(id));
                joined = true;
            }
            if let Some(t) = &hb.topology {
                self.adopt_topology(t)?;
            }
        } else {
            let Some(m) = self.members.get(id) else {
                return fail(
                    codes::UNKNOWN_MEMBER_ID,
                    format!("Member {id} is not a member of group."),
                );
            };
            if hb.instance_id.is_some() && m.instance_id != hb.instance_id {
                return fail(
                    codes::FENCED_INSTANCE_ID,
                    "The member's group.instance.id does not match.",
                );
            }
            if hb.member_epoch != m.member_epoch {
                let owned_ok = hb.owned.as_ref().is_some_and(|o| {
                    let held = flatten(&m.assigned);
                    flatten(o)
                        .iter()
                        .zip(held.iter())
                        .all(|(o, h)| o.is_subset(h))
                });
                if !(hb.member_epoch == m.previous_member_epoch && owned_ok) {
                    let than = if hb.member_epoch > m.member_epoch {
                        "greater"
                    } else {
                        "smaller"
                    };
                    return fail(
                        FENCED_MEMBER_EPOCH,
                        format!(
                            "The streams group member has a {than} member epoch ({}) than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                            hb.member_epoch, m.member_epoch
                        ),
                    );
                }
            }
        }
        let topology_epoch = self.topology.as_ref().map_or(0, |t| t.epoch);
        let m = self.members.get_mut(id).expect("member present");
        let before = (m.member_epoch, m.assigned.clone());
        let endpoint_before = m.user_endpoint.clone();
        let mut metadata_changed = joined;
        if let Some(t) = &hb.topology {
            m.topology_epoch = t.epoch;
        }
        if let Some(p) = &hb.process_id {
            if *p != m.process_id {
                m.process_id = p.clone();
                metadata_changed = true;
            }
        }
        if let Some(tags) = &hb.client_tags {
            if *tags != m.client_tags {
                m.client_tags = tags.clone();
                metadata_changed = true;
            }
        }
        if hb.rack_id.is_some() && hb.rack_id != m.rack_id {
            m.rack_id = hb.rack_id.clone();
            metadata_changed = true;
        }
        if hb.user_endpoint.is_some() && hb.user_endpoint != m.user_endpoint {
            m.user_endpoint = hb.user_endpoint.clone();
        }
        if hb.instance_id.is_some() {
            m.instance_id = hb.instance_id.clone();
        }
        if hb.rebalance_timeout_ms > 0 {
            m.rebalance_timeout_ms = hb.rebalance_timeout_ms;
        }
        if let Some(o) = &hb.task_offsets {
            m.task_offsets = o.clone();
        }
        if let Some(o) = &hb.task_end_offsets {
            m.task_end_offsets = o.clone();
        }
        if !hb.client_id.is_empty() {
            m.client_id = hb.client_id.clone();
        }
        if !hb.client_host.is_empty() {
            m.client_host = hb.client_host.clone();
        }
        let member_topology_epoch = m.topology_epoch;
        if hb.shutdown_application {
            self.shutdown_requested = true;
        }
        let configuration_changed = self.refresh_configuration(&hb.topics);
        if metadata_changed || configuration_changed {
            self.bump(&hb.settings);
        }
        let owned = if hb.member_epoch == JOIN_EPOCH {
            Some(MemberTasks::default())
        } else {
            hb.owned.clone()
        };
        self.reconcile(id, owned.as_ref(), hb.now_ms);
        let m = &self.members[id];
        let changed = before != (m.member_epoch, m.assigned.clone());
        if changed || endpoint_before != m.user_endpoint {
            self.endpoint_information_epoch += 1;
        }
        let m = &self.members[id];
        let send = hb.member_epoch == JOIN_EPOCH || hb.owned.is_some() || changed;
        let mut status = Vec::new();
        if member_topology_epoch < topology_epoch {
            status.push(Status {
                code: StatusCode::StaleTopology,
                detail: format!(
                    "The member's topology epoch {member_topology_epoch} is behind the group's topology epoch {topology_epoch}."
                ),
            });
        }
        if let Some(p) = self.configured.as_ref().and_then(|c| c.problem.clone()) {
            status.push(p);
        }
        if self.shutdown_requested {
            status.push(Status {
                code: StatusCode::ShutdownApplication,
                detail: "A KafkaStreams instance encountered a fatal error and requested a shutdown for the entire application.".into(),
            });
        }
        let to_create = self
            .configured
            .as_ref()
            .map(|c| c.to_create.clone())
            .unwrap_or_default();
        let partitions_by_endpoint = (hb.endpoint_information_epoch
            != self.endpoint_information_epoch)
            .then(|| self.partitions_by_endpoint());
        Ok(StreamsHeartbeatReply {
            member_id: id.to_string(),
            member_epoch: m.member_epoch,
            assignment: send.then(|| m.assigned.clone()),
            status,
            endpoint_information_epoch: self.endpoint_information_epoch,
            partitions_by_endpoint,
            to_create,
        })
    }

    /// Takes a joining member's topology: the first one, or one with a newer epoch. A different
    /// topology under the same epoch replaces the stored one only while no other member runs it.
    fn adopt_topology(&mut self, t: &StreamsTopology) -> Result<(), StreamsHeartbeatError> {
        t.validate().map_err(|e| StreamsHeartbeatError {
            code: e.code,
            message: e.message,
        })?;
        match &self.topology {
            None => self.topology = Some(t.clone()),
            Some(cur) if t.epoch > cur.epoch => self.topology = Some(t.clone()),
            Some(cur) if t.epoch == cur.epoch && cur != t => {
                if self.members.len() > 1 {
                    return fail(
                        STREAMS_INVALID_TOPOLOGY_EPOCH,
                        format!(
                            "The topology of epoch {} differs from the one the group runs; bump the topology epoch to change it.",
                            t.epoch
                        ),
                    );
                }
                self.topology = Some(t.clone());
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn leave(
        &mut self,
        hb: &StreamsHeartbeat,
    ) -> Result<StreamsHeartbeatReply, StreamsHeartbeatError> {
        let id = hb.member_id.as_str();
        let Some(m) = self.members.get_mut(id) else {
            return fail(
                codes::UNKNOWN_MEMBER_ID,
                format!("Member {id} is not a member of group."),
            );
        };
        if hb.member_epoch == STATIC_LEAVE_EPOCH && m.instance_id.is_some() {
            if m.member_epoch != STATIC_LEAVE_EPOCH {
                m.previous_member_epoch = m.member_epoch;
                m.member_epoch = STATIC_LEAVE_EPOCH;
            }
        } else {
            self.remove_members(&[id.to_string()], &hb.settings, hb.now_ms);
        }
        Ok(StreamsHeartbeatReply {
            member_id: id.to_string(),
            member_epoch: hb.member_epoch,
            assignment: None,
            status: Vec::new(),
            endpoint_information_epoch: self.endpoint_information_epoch,
            partitions_by_endpoint: None,
            to_create: Vec::new(),
        })
    }

    /// The input partitions of every member with an endpoint (Kafka's
    /// `EndpointToPartitionsManager`): task `p` of a sub-topology reads partition `p` of each of
    /// its source topics that has one.
    pub fn partitions_by_endpoint(&self) -> Vec<EndpointPartitions> {
        let Some(c) = &self.configured else {
            return Vec::new();
        };
        let inputs = |tasks: &BTreeSet<TaskId>| {
            let mut out: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
            for t in tasks {
                for topic in c.sources.get(&t.subtopology).into_iter().flatten() {
                    let n = self.topics.get(topic).copied().unwrap_or(i32::MAX);
                    if t.partition < n {
                        out.entry(topic.clone()).or_default().insert(t.partition);
                    }
                }
            }
            out
        };
        self.members
            .values()
            .filter_map(|m| {
                let endpoint = m.user_endpoint.clone()?;
                let standby: BTreeSet<TaskId> = m
                    .assigned
                    .standby
                    .union(&m.assigned.warmup)
                    .cloned()
                    .collect();
                Some(EndpointPartitions {
                    endpoint,
                    active: inputs(&m.assigned.active),
                    standby: inputs(&standby),
                })
            })
            .collect()
    }

    /// [`crate::invariants`]: no task active on two members (current assignment and pending
    /// revocations together), nor in two members' active targets. `Err` names the task.
    /// (A `String`: it becomes the detail of an [`crate::invariants::Violation`], read by people.)
    pub fn check_ownership(&self) -> Result<(), String> {
        let mut target: BTreeMap<&TaskId, &str> = BTreeMap::new();
        for (id, t) in &self.target {
            for task in &t.active {
                if let Some(other) = target.insert(task, id) {
                    return Err(format!(
                        "{task:?} active in the targets of {other} and {id}"
                    ));
                }
            }
        }
        let mut owned: BTreeMap<&TaskId, &str> = BTreeMap::new();
        for (id, m) in &self.members {
            for task in m.assigned.active.iter().chain(&m.pending_revocation.active) {
                if let Some(other) = owned.insert(task, id) {
                    return Err(format!("{task:?} active on {other} and {id}"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "streams_group_tests.rs"]
mod tests;
