//! The server-side task assignor of Kafka Streams groups (KIP-1071): a pure function from the
//! topology's task counts and the members (process, client tags, current tasks, reported changelog
//! offsets) to the target assignment of active, standby and warm-up tasks.
//!
//! It follows Kafka's `StickyTaskAssignor` (group-coordinator,
//! `org.apache.kafka.coordinator.group.streams.assignor`):
//! - Active tasks, stateful ones first and then stateless ones, each kind balanced on its own:
//!   a task stays with its previous active owner while that member is under its quota (tasks per
//!   member, rounded up, shrinking as members fill up), else goes to a member that held it as a
//!   standby or warm-up (or reported offsets for it: a restarted instance with local state), else
//!   to the least-loaded process (tasks per member), on its least-loaded member.
//! - Standby tasks (0-2 per stateful task) never on a process holding the task: first where client
//!   tags make the task more rack-diverse (`rack_aware_tags`, highest priority first), then to the
//!   previous active or standby holder under the total quota, then to the least-loaded process.
//!
//! On top of it, warm-up tasks (the high-availability scheme of KIP-441, which Kafka's own sticky
//! assignor leaves to later): when the balanced assignment moves a stateful active task to a process
//! that is not caught up (its reported lag is over `acceptable_recovery_lag`) while another process
//! is, the task stays active on the caught-up process and the new one gets a warm-up replica (at most
//! `max_warmup_replicas` in the group; if the caught-up process had the task as a standby the two
//! swap roles instead). Once the warm-up holder reports a lag under the acceptable one, the next
//! assignment promotes it to active. `max_warmup_replicas = 0` gives Kafka's assignor exactly.
//!
//! Deterministic: ordered maps only, ties broken on process then member id, no clock and no
//! randomness, so it can run inside raft apply. Costs O(tasks × members) per run.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// A task: one partition of one sub-topology. Orders by sub-topology id, then partition.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct TaskId {
    /// The sub-topology identifier.
    pub subtopology: String,
    /// The partition (task number within the sub-topology).
    pub partition: i32,
}

impl TaskId {
    /// The task `partition` of `subtopology`.
    pub fn new(subtopology: impl Into<String>, partition: i32) -> Self {
        Self {
            subtopology: subtopology.into(),
            partition,
        }
    }
}

/// A sub-topology as the assignor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtopologySpec {
    /// The sub-topology identifier.
    pub id: String,
    /// Its number of tasks (the largest partition count of its source topics).
    pub tasks: i32,
    /// Whether it has state stores (changelog topics): only those get standby and warm-up tasks.
    pub stateful: bool,
}

/// One member of the group, with what it owns now and what it reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberSpec {
    /// The member id.
    pub member_id: String,
    /// The Streams instance (process) the member runs in; several members may share one.
    pub process_id: String,
    /// The process's client tags (`client.tag.*`), for rack-aware standby placement.
    pub client_tags: BTreeMap<String, String>,
    /// Active tasks it owns now.
    pub active: BTreeSet<TaskId>,
    /// Standby tasks it owns now.
    pub standby: BTreeSet<TaskId>,
    /// Warm-up tasks it owns now.
    pub warmup: BTreeSet<TaskId>,
    /// Cumulative changelog offsets it last reported, per task (state it has on local disk).
    pub task_offsets: BTreeMap<TaskId, i64>,
    /// Cumulative changelog end offsets it last reported, per task.
    pub task_end_offsets: BTreeMap<TaskId, i64>,
}

/// Assignment settings (group configs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignorConfig {
    /// Standby replicas per stateful task (`streams.num.standby.replicas`, 0-2).
    pub num_standby_replicas: u32,
    /// Tag keys for rack-aware standby placement, highest priority first (empty: tag-blind).
    pub rack_aware_tags: Vec<String>,
    /// Largest lag (changelog offsets) at which a process counts as caught up for a task.
    pub acceptable_recovery_lag: i64,
    /// Most warm-up tasks in the group at once (0: no warm-ups, Kafka's sticky assignor as is).
    pub max_warmup_replicas: u32,
}

impl Default for AssignorConfig {
    /// Kafka Streams' defaults: no standbys, 10000 offsets of acceptable lag, 2 warm-ups.
    fn default() -> Self {
        Self {
            num_standby_replicas: 0,
            rack_aware_tags: Vec::new(),
            acceptable_recovery_lag: 10_000,
            max_warmup_replicas: 2,
        }
    }
}

/// The tasks a member should own (or owns).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberTasks {
    /// Active tasks.
    pub active: BTreeSet<TaskId>,
    /// Standby tasks.
    pub standby: BTreeSet<TaskId>,
    /// Warm-up tasks.
    pub warmup: BTreeSet<TaskId>,
}

/// The target assignment, per member id (every member of the input has an entry).
pub type TargetAssignment = BTreeMap<String, MemberTasks>;

/// Input the assignor refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignError {
    /// Two members with the same id.
    #[error("member {0} is listed twice")]
    DuplicateMember(String),
    /// Two sub-topologies with the same id.
    #[error("sub-topology {0} is listed twice")]
    DuplicateSubtopology(String),
    /// A negative task count.
    #[error("sub-topology {id} has a negative task count {tasks}")]
    NegativeTaskCount {
        /// The sub-topology.
        id: String,
        /// Its task count.
        tasks: i32,
    },
}

/// Computes the target assignment. Tasks of sub-topologies not in `subtopologies` that members
/// still own are dropped; with no members the assignment is empty.
pub fn assign(
    subtopologies: &[SubtopologySpec],
    members: &[MemberSpec],
    config: &AssignorConfig,
) -> Result<TargetAssignment, AssignError> {
    let mut seen = BTreeSet::new();
    for s in subtopologies {
        if !seen.insert(&s.id) {
            return Err(AssignError::DuplicateSubtopology(s.id.clone()));
        }
        if s.tasks < 0 {
            return Err(AssignError::NegativeTaskCount {
                id: s.id.clone(),
                tasks: s.tasks,
            });
        }
    }
    let mut by_id = BTreeMap::new();
    for m in members {
        if by_id.insert(m.member_id.as_str(), m).is_some() {
            return Err(AssignError::DuplicateMember(m.member_id.clone()));
        }
    }
    if members.is_empty() {
        return Ok(TargetAssignment::new());
    }
    let mut state = State::new(subtopologies, &by_id, config);
    state.assign_active(true);
    state.assign_active(false);
    state.even_out_processes();
    if config.num_standby_replicas > 0 {
        state.assign_standby();
    }
    if config.max_warmup_replicas > 0 {
        state.place_warmups();
    }
    Ok(state.out)
}

/// Ceiling of `tasks / members` (0 with no members): the per-member quota.
fn per_member(tasks: usize, members: usize) -> usize {
    if members == 0 {
        0
    } else {
        tasks.div_ceil(members)
    }
}

/// A quota that tightens as members reach it, as Kafka's `computeTasksPerMember` bookkeeping:
/// once a member holds `per` tasks it leaves the pool and the rest is spread over the others.
#[derive(Debug, Clone, Copy)]
struct Quota {
    tasks: usize,
    members: usize,
    per: usize,
}

impl Quota {
    fn new(tasks: usize, members: usize) -> Self {
        Self {
            tasks,
            members,
            per: per_member(tasks, members),
        }
    }

    /// A member now holds `count` tasks.
    fn record(&mut self, count: usize) {
        if count == self.per && self.members > 0 {
            self.members -= 1;
            self.tasks = self.tasks.saturating_sub(count);
            self.per = per_member(self.tasks, self.members);
        }
    }
}

/// The highest value per task over several members' reports.
fn max_per_task<'m>(
    reports: impl Iterator<Item = &'m BTreeMap<TaskId, i64>>,
) -> BTreeMap<TaskId, i64> {
    let mut max: BTreeMap<TaskId, i64> = BTreeMap::new();
    for (t, o) in reports.flatten() {
        let e = max.entry(t.clone()).or_insert(*o);
        *e = (*e).max(*o);
    }
    max
}

#[derive(Debug, Default)]
struct Process {
    /// Tasks per member (actives and standbys), the members' load.
    members: BTreeMap<String, usize>,
    tasks: usize,
    stateless_active: usize,
    holds: BTreeSet<TaskId>,
}

impl Process {
    /// Compares loads (tasks per member) exactly, by cross-multiplying.
    fn cmp_load(&self, other: &Process) -> Ordering {
        (self.tasks * other.members.len()).cmp(&(other.tasks * self.members.len()))
    }

    fn cmp_stateless_load(&self, other: &Process) -> Ordering {
        (self.stateless_active * other.members.len())
            .cmp(&(other.stateless_active * self.members.len()))
    }

    fn least_member_load(&self) -> usize {
        self.members.values().copied().min().unwrap_or(0)
    }

    fn least_loaded_member(&self) -> &str {
        self.members
            .iter()
            .min_by_key(|(id, count)| (**count, *id))
            .map(|(id, _)| id.as_str())
            .expect("a process has at least one member")
    }
}

/// A member that held a task before, for stickiness.
#[derive(Debug, Clone)]
struct PrevHolder {
    member: String,
    process: String,
}

struct State<'a> {
    config: &'a AssignorConfig,
    members: &'a BTreeMap<&'a str, &'a MemberSpec>,
    stateful_tasks: Vec<TaskId>,
    stateless_tasks: Vec<TaskId>,
    processes: BTreeMap<String, Process>,
    member_process: BTreeMap<String, String>,
    prev_active: BTreeMap<TaskId, PrevHolder>,
    /// Previous standby/warm-up holders, then members reporting offsets, most caught-up first.
    prev_standby: BTreeMap<TaskId, Vec<PrevHolder>>,
    stateful_quota: Quota,
    active_quota: Quota,
    total_quota: Quota,
    active_owner: BTreeMap<TaskId, String>,
    /// Per task, the highest end offset any member reported, or failing that the highest offset.
    end_offsets: BTreeMap<TaskId, i64>,
    out: TargetAssignment,
}

impl<'a> State<'a> {
    fn new(
        subtopologies: &[SubtopologySpec],
        members: &'a BTreeMap<&'a str, &'a MemberSpec>,
        config: &'a AssignorConfig,
    ) -> Self {
        let mut stateful_tasks = Vec::new();
        let mut stateless_tasks = Vec::new();
        for s in subtopologies {
            let list = if s.stateful {
                &mut stateful_tasks
            } else {
                &mut stateless_tasks
            };
            list.extend((0..s.tasks).map(|p| TaskId::new(s.id.clone(), p)));
        }
        let n = members.len();
        let replicas = config.num_standby_replicas as usize;
        let active_total = stateful_tasks.len() + stateless_tasks.len();
        let mut processes: BTreeMap<String, Process> = BTreeMap::new();
        let mut member_process = BTreeMap::new();
        let mut out = TargetAssignment::new();
        let mut prev_active = BTreeMap::new();
        // (task) -> [(is previous standby/warm-up, offset, holder)]
        let mut candidates: BTreeMap<TaskId, Vec<(bool, i64, PrevHolder)>> = BTreeMap::new();
        for (id, m) in members {
            let id = id.to_string();
            let holder = PrevHolder {
                member: id.clone(),
                process: m.process_id.clone(),
            };
            processes
                .entry(m.process_id.clone())
                .or_default()
                .members
                .insert(id.clone(), 0);
            member_process.insert(id.clone(), m.process_id.clone());
            out.insert(id, MemberTasks::default());
            for t in &m.active {
                prev_active.insert(t.clone(), holder.clone());
            }
            let offset = |t: &TaskId| m.task_offsets.get(t).copied().unwrap_or(0);
            for t in m.standby.iter().chain(&m.warmup) {
                candidates
                    .entry(t.clone())
                    .or_default()
                    .push((true, offset(t), holder.clone()));
            }
            for (t, off) in &m.task_offsets {
                if !m.standby.contains(t) && !m.warmup.contains(t) {
                    candidates
                        .entry(t.clone())
                        .or_default()
                        .push((false, *off, holder.clone()));
                }
            }
        }
        let mut end_offsets = max_per_task(members.values().map(|m| &m.task_offsets));
        end_offsets.extend(max_per_task(members.values().map(|m| &m.task_end_offsets)));
        let prev_standby = candidates
            .into_iter()
            .map(|(t, mut c)| {
                // Stable: equal ranks keep member id order.
                c.sort_by_key(|(prev, off, _)| (!*prev, std::cmp::Reverse(*off)));
                (t, c.into_iter().map(|(_, _, h)| h).collect())
            })
            .collect();
        Self {
            config,
            members,
            stateful_quota: Quota::new(stateful_tasks.len(), n),
            active_quota: Quota::new(active_total, n),
            total_quota: Quota::new(active_total + stateful_tasks.len() * replicas, n),
            stateful_tasks,
            stateless_tasks,
            processes,
            member_process,
            prev_active,
            prev_standby,
            active_owner: BTreeMap::new(),
            end_offsets,
            out,
        }
    }

    fn member_count(&self, member: &str) -> usize {
        self.processes[&self.member_process[member]].members[member]
    }

    /// Gives `task` to `member`, as active or standby; returns the member's new task count.
    fn add(&mut self, member: &str, task: &TaskId, active: bool, stateful: bool) -> usize {
        let p = self
            .processes
            .get_mut(&self.member_process[member])
            .expect("member's process");
        p.tasks += 1;
        if active && !stateful {
            p.stateless_active += 1;
        }
        p.holds.insert(task.clone());
        let count = p.members.get_mut(member).expect("member");
        *count += 1;
        let count = *count;
        let tasks = self.out.get_mut(member).expect("member");
        if active {
            tasks.active.insert(task.clone());
            self.active_owner.insert(task.clone(), member.to_string());
        } else {
            tasks.standby.insert(task.clone());
        }
        count
    }

    fn add_active(&mut self, member: &str, task: &TaskId, stateful: bool) {
        let count = self.add(member, task, true, stateful);
        if stateful {
            self.stateful_quota.record(count);
        }
        self.active_quota.record(count);
        self.total_quota.record(count);
    }

    fn add_standby(&mut self, member: &str, task: &TaskId) {
        let count = self.add(member, task, false, true);
        self.total_quota.record(count);
    }

    fn under_active_quota(&self, member: &str, stateful: bool) -> bool {
        let quota = if stateful {
            self.stateful_quota.per
        } else {
            self.active_quota.per
        };
        self.member_count(member) < quota
    }

    fn under_total_quota(&self, member: &str) -> bool {
        self.member_count(member) < self.total_quota.per
    }

    /// Kafka's `findPrevMemberWithLeastLoad`: the first candidate, replaced only by one lower in
    /// both process and member load; skips processes holding `skip_holder` if given.
    fn prev_with_least_load(
        &self,
        holders: Option<&Vec<PrevHolder>>,
        skip_holder: Option<&TaskId>,
    ) -> Option<PrevHolder> {
        let mut best: Option<&PrevHolder> = None;
        for h in holders.into_iter().flatten() {
            let p = &self.processes[&h.process];
            if skip_holder.is_some_and(|t| p.holds.contains(t)) {
                continue;
            }
            let better = match best {
                None => true,
                Some(b) => {
                    let bp = &self.processes[&b.process];
                    p.cmp_load(bp) == Ordering::Less
                        && self.member_count(&h.member) < self.member_count(&b.member)
                }
            };
            if better {
                best = Some(h);
            }
        }
        best.cloned()
    }

    /// Member of a caught-up warm-up (promotion, before stickiness to the previous owner).
    fn caught_up_warmup_holder(&self, task: &TaskId) -> Option<String> {
        self.members
            .values()
            .filter(|m| m.warmup.contains(task))
            .filter(|m| {
                self.lag(m, task)
                    .is_some_and(|l| l <= self.config.acceptable_recovery_lag)
            })
            .map(|m| m.member_id.clone())
            .next()
    }

    fn assign_active(&mut self, stateful: bool) {
        let mut tasks = if stateful {
            self.stateful_tasks.clone()
        } else {
            self.stateless_tasks.clone()
        };
        // Range-like stickiness: partition first.
        tasks.sort_by(|a, b| (a.partition, &a.subtopology).cmp(&(b.partition, &b.subtopology)));

        // 0. Warm-ups that caught up take the task over (Sluice's warm-up promotion).
        if stateful && self.config.max_warmup_replicas > 0 {
            tasks.retain(|t| match self.caught_up_warmup_holder(t) {
                Some(m) if self.under_active_quota(&m, true) => {
                    self.add_active(&m, t, true);
                    false
                }
                _ => true,
            });
        }
        // 1. The previous active owner, while under quota.
        tasks.retain(|t| match self.prev_active.get(t).cloned() {
            Some(h) if self.under_active_quota(&h.member, stateful) => {
                self.add_active(&h.member, t, stateful);
                false
            }
            _ => true,
        });
        // 2. A previous standby / warm-up holder (or one with local state), while under quota.
        tasks.retain(
            |t| match self.prev_with_least_load(self.prev_standby.get(t), None) {
                Some(h) if self.under_active_quota(&h.member, stateful) => {
                    self.add_active(&h.member, t, stateful);
                    false
                }
                _ => true,
            },
        );
        // 3. The rest, range-like, to the least-loaded process's least-loaded member.
        tasks.sort();
        for t in tasks {
            let process = self
                .processes
                .iter()
                .min_by(|(ida, a), (idb, b)| {
                    a.cmp_load(b)
                        .then_with(|| a.cmp_stateless_load(b))
                        // Kafka leaves this tie to its heap; the emptier member keeps members even.
                        .then_with(|| a.least_member_load().cmp(&b.least_member_load()))
                        .then_with(|| ida.cmp(idb))
                })
                .map(|(id, _)| id.clone())
                .expect("at least one process");
            let member = self.processes[&process].least_loaded_member().to_string();
            let count = self.add(&member, &t, true, stateful);
            self.active_quota.record(count);
            self.total_quota.record(count);
        }
    }

    /// Evens out active tasks between the members of each process (stickiness can leave one
    /// member of a process two tasks behind another). Moving a task between threads of one
    /// Streams instance costs no restoration: the state directory is the process's.
    fn even_out_processes(&mut self) {
        for p in self.processes.values_mut() {
            loop {
                let count = |m: &String| self.out[m].active.len();
                let most = p
                    .members
                    .keys()
                    .max_by_key(|m| (count(m), std::cmp::Reverse(*m)));
                let least = p.members.keys().min_by_key(|m| (count(m), *m));
                let (Some(most), Some(least)) = (most.cloned(), least.cloned()) else {
                    break;
                };
                if count(&most) < count(&least) + 2 {
                    break;
                }
                let task = self.out[&most].active.last().cloned().expect("non-empty");
                self.out
                    .get_mut(&most)
                    .expect("member")
                    .active
                    .remove(&task);
                self.out
                    .get_mut(&least)
                    .expect("member")
                    .active
                    .insert(task.clone());
                self.active_owner.insert(task, least.clone());
                *p.members.get_mut(&most).expect("member") -= 1;
                *p.members.get_mut(&least).expect("member") += 1;
            }
        }
    }

    fn assign_standby(&mut self) {
        let replicas = self.config.num_standby_replicas as usize;
        let mut tasks = self.stateful_tasks.clone();
        tasks.sort_by(|a, b| (b.partition, &b.subtopology).cmp(&(a.partition, &a.subtopology)));
        let mut to_least_loaded: Vec<(TaskId, usize)> = Vec::new();
        for t in &tasks {
            let placed = if self.config.rack_aware_tags.is_empty() {
                0
            } else {
                self.assign_rack_aware_standbys(t)
            };
            for i in placed..replicas {
                if let Some(h) = self.prev_active.get(t).cloned() {
                    if !self.processes[&h.process].holds.contains(t)
                        && self.under_total_quota(&h.member)
                    {
                        self.add_standby(&h.member, t);
                        continue;
                    }
                }
                if let Some(h) = self.prev_with_least_load(self.prev_standby.get(t), Some(t)) {
                    if self.under_total_quota(&h.member) {
                        self.add_standby(&h.member, t);
                        continue;
                    }
                }
                to_least_loaded.push((t.clone(), replicas - i));
                break;
            }
        }
        to_least_loaded.sort_by(|a, b| b.0.cmp(&a.0));
        for (t, remaining) in to_least_loaded {
            for _ in 0..remaining {
                let Some(process) = self
                    .processes
                    .iter()
                    .filter(|(_, p)| !p.holds.contains(&t))
                    .min_by(|(ida, a), (idb, b)| a.cmp_load(b).then_with(|| ida.cmp(idb)))
                    .map(|(id, _)| id.clone())
                else {
                    // Not enough processes for the replicas asked (Kafka logs a warning).
                    break;
                };
                let member = self.processes[&process].least_loaded_member().to_string();
                self.add_standby(&member, &t);
            }
        }
    }

    fn tags_of(&self, process: &str) -> &BTreeMap<String, String> {
        let member = self.processes[process]
            .members
            .keys()
            .next()
            .expect("a process has a member");
        &self.members[member.as_str()].client_tags
    }

    /// Places the standbys of `task` that make it more diverse over `rack_aware_tags` (Kafka's
    /// `RackAwareStandbyPicker`: the lexicographically largest vector of "brings a new value for
    /// this key", keys in priority order, among processes not holding the task with room); ties go
    /// to the previous active holder, then previous standby holders in rank order, then load.
    /// Returns how many were placed.
    fn assign_rack_aware_standbys(&mut self, task: &TaskId) -> usize {
        let keys = &self.config.rack_aware_tags;
        let mut used: Vec<BTreeSet<String>> = vec![BTreeSet::new(); keys.len()];
        let mark = |used: &mut Vec<BTreeSet<String>>, tags: &BTreeMap<String, String>| {
            for (i, k) in keys.iter().enumerate() {
                if let Some(v) = tags.get(k) {
                    used[i].insert(v.clone());
                }
            }
        };
        if let Some(owner) = self.active_owner.get(task) {
            mark(&mut used, self.tags_of(&self.member_process[owner]));
        }
        let mut rank: BTreeMap<String, (usize, String)> = BTreeMap::new();
        for (i, h) in self
            .prev_standby
            .get(task)
            .into_iter()
            .flatten()
            .enumerate()
        {
            rank.entry(h.process.clone())
                .or_insert((1 + i, h.member.clone()));
        }
        if let Some(h) = self.prev_active.get(task) {
            rank.insert(h.process.clone(), (0, h.member.clone()));
        }
        let mut placed = 0;
        while placed < self.config.num_standby_replicas as usize {
            let diversity = |p: &str| -> Vec<bool> {
                let tags = self.tags_of(p);
                keys.iter()
                    .enumerate()
                    .map(|(i, k)| tags.get(k).is_some_and(|v| !used[i].contains(v)))
                    .collect()
            };
            let has_room = |p: &Process| p.members.values().any(|c| *c < self.total_quota.per);
            let winner = self
                .processes
                .iter()
                .filter(|(_, p)| !p.holds.contains(task) && has_room(p))
                .map(|(id, p)| (diversity(id), id, p))
                .filter(|(d, _, _)| d.iter().any(|b| *b))
                .max_by(|(da, ida, a), (db, idb, b)| {
                    let ra = rank.get(*ida).map_or(usize::MAX, |r| r.0);
                    let rb = rank.get(*idb).map_or(usize::MAX, |r| r.0);
                    da.cmp(db)
                        .then_with(|| rb.cmp(&ra))
                        .then_with(|| b.cmp_load(a))
                        .then_with(|| idb.cmp(ida))
                })
                .map(|(_, id, _)| id.clone());
            let Some(process) = winner else { break };
            let member = match rank.get(&process) {
                Some((_, m)) if self.under_total_quota(m) => m.clone(),
                _ => self.processes[&process].least_loaded_member().to_string(),
            };
            self.add_standby(&member, task);
            mark(&mut used, &self.tags_of(&process).clone());
            placed += 1;
        }
        placed
    }

    /// A member's lag on `task`: 0 for its current active owner, end minus reported offset
    /// otherwise, `None` if it reported no offset.
    fn lag(&self, m: &MemberSpec, task: &TaskId) -> Option<i64> {
        if m.active.contains(task) {
            return Some(0);
        }
        let offset = *m.task_offsets.get(task)?;
        let end = self.end_offsets.get(task).copied().unwrap_or(offset);
        Some(end.saturating_sub(offset).max(0))
    }

    /// The smallest lag of any member of `process` on `task`, with that member.
    fn process_lag(&self, process: &str, task: &TaskId) -> Option<(i64, String)> {
        self.processes[process]
            .members
            .keys()
            .filter_map(|id| {
                let m = self.members[id.as_str()];
                self.lag(m, task).map(|l| (l, id.clone()))
            })
            .min()
    }

    fn caught_up(&self, process: &str, task: &TaskId) -> bool {
        self.process_lag(process, task)
            .is_some_and(|(l, _)| l <= self.config.acceptable_recovery_lag)
    }

    /// Keeps stateful tasks whose new active process is not caught up on a caught-up process, with
    /// a warm-up (or the caught-up process's standby, swapped) on the new one.
    fn place_warmups(&mut self) {
        let mut moves = Vec::new();
        for t in &self.stateful_tasks {
            let Some(target) = self.active_owner.get(t).cloned() else {
                continue;
            };
            let target_process = self.member_process[&target].clone();
            if self.caught_up(&target_process, t) {
                continue;
            }
            // The previous owner's process if caught up, else the least-lagging caught-up one.
            let source = self
                .prev_active
                .get(t)
                .map(|h| h.process.clone())
                .filter(|p| self.caught_up(p, t))
                .or_else(|| {
                    self.processes
                        .keys()
                        .filter(|p| self.caught_up(p, t))
                        .min_by_key(|p| (self.process_lag(p, t).map(|(l, _)| l), *p))
                        .cloned()
                });
            if let Some(source) = source {
                let continuing = self.members[target.as_str()].warmup.contains(t);
                moves.push((!continuing, t.clone(), target, source));
            }
        }
        // Warm-ups in progress first, then new ones, in task order.
        moves.sort();
        let mut budget = self.config.max_warmup_replicas as usize;
        for (_, t, target, source) in moves {
            let source_member = match self.prev_active.get(&t) {
                Some(h) if h.process == source => h.member.clone(),
                _ => self
                    .process_lag(&source, &t)
                    .map(|(_, m)| m)
                    .unwrap_or_else(|| self.processes[&source].least_loaded_member().to_string()),
            };
            let standby_on_source = self.processes[&source]
                .members
                .keys()
                .find(|m| self.out[*m].standby.contains(&t))
                .cloned();
            if standby_on_source.is_none() && budget == 0 {
                continue;
            }
            self.out.get_mut(&target).expect("member").active.remove(&t);
            self.out
                .get_mut(&source_member)
                .expect("member")
                .active
                .insert(t.clone());
            self.active_owner.insert(t.clone(), source_member);
            match standby_on_source {
                Some(s) => {
                    self.out.get_mut(&s).expect("member").standby.remove(&t);
                    self.out.get_mut(&target).expect("member").standby.insert(t);
                }
                None => {
                    budget -= 1;
                    self.out.get_mut(&target).expect("member").warmup.insert(t);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random_apply_tests::Rng;

    fn sub(id: &str, tasks: i32, stateful: bool) -> SubtopologySpec {
        SubtopologySpec {
            id: id.into(),
            tasks,
            stateful,
        }
    }

    fn member(id: &str, process: &str) -> MemberSpec {
        MemberSpec {
            member_id: id.into(),
            process_id: process.into(),
            ..Default::default()
        }
    }

    fn t(s: &str, p: i32) -> TaskId {
        TaskId::new(s, p)
    }

    fn no_warmups() -> AssignorConfig {
        AssignorConfig {
            max_warmup_replicas: 0,
            ..Default::default()
        }
    }

    /// Members carrying the target assignment as their current one (the next heartbeat round).
    fn converge(members: &[MemberSpec], out: &TargetAssignment) -> Vec<MemberSpec> {
        members
            .iter()
            .map(|m| {
                let a = &out[&m.member_id];
                MemberSpec {
                    active: a.active.clone(),
                    standby: a.standby.clone(),
                    warmup: a.warmup.clone(),
                    ..m.clone()
                }
            })
            .collect()
    }

    /// The invariants of every target assignment: each task active exactly once; standbys and
    /// warm-ups never on a process that holds the task otherwise; nothing unknown assigned.
    fn check(subs: &[SubtopologySpec], members: &[MemberSpec], out: &TargetAssignment) {
        if members.is_empty() {
            assert!(out.is_empty());
            return;
        }
        let process: BTreeMap<&str, &str> = members
            .iter()
            .map(|m| (m.member_id.as_str(), m.process_id.as_str()))
            .collect();
        let all: BTreeSet<TaskId> = subs
            .iter()
            .flat_map(|s| (0..s.tasks).map(|p| t(&s.id, p)))
            .collect();
        let mut active: BTreeMap<&TaskId, usize> = BTreeMap::new();
        // (task, process) -> number of replicas of any kind
        let mut holders: BTreeMap<(&TaskId, &str), usize> = BTreeMap::new();
        for (m, a) in out {
            for task in a.active.iter().chain(&a.standby).chain(&a.warmup) {
                assert!(all.contains(task), "{m} got unknown {task:?}");
                *holders.entry((task, process[m.as_str()])).or_default() += 1;
            }
            for task in &a.active {
                *active.entry(task).or_default() += 1;
            }
        }
        for task in &all {
            assert_eq!(active.get(task), Some(&1), "{task:?} active {active:?}");
        }
        for ((task, p), n) in holders {
            assert_eq!(n, 1, "{task:?} held {n} times on process {p}");
        }
    }

    fn active_counts(out: &TargetAssignment) -> Vec<usize> {
        out.values().map(|a| a.active.len()).collect()
    }

    fn spread(counts: &[usize]) -> usize {
        counts.iter().max().unwrap() - counts.iter().min().unwrap()
    }

    #[test]
    fn active_tasks_are_balanced_over_processes_then_members() {
        // 2 sub-topologies x 6 = 12 tasks; processes p1 (2 members), p2 (1), p3 (1).
        let subs = [sub("0", 6, false), sub("1", 6, true)];
        let members = [
            member("a", "p1"),
            member("b", "p1"),
            member("c", "p2"),
            member("d", "p3"),
        ];
        let out = assign(&subs, &members, &no_warmups()).unwrap();
        check(&subs, &members, &out);
        assert_eq!(active_counts(&out), vec![3, 3, 3, 3]);
        // Each kind is balanced on its own: every member has 1 or 2 stateful tasks.
        for a in out.values() {
            let stateful = a.active.iter().filter(|t| t.subtopology == "1").count();
            assert!((1..=2).contains(&stateful), "{a:?}");
        }
        for n in 1..=9 {
            let members: Vec<_> = (0..n)
                .map(|i| member(&format!("m{i}"), &format!("p{}", i % 3)))
                .collect();
            let out = assign(&subs, &members, &no_warmups()).unwrap();
            check(&subs, &members, &out);
            assert!(spread(&active_counts(&out)) <= 1, "{n} members: {out:?}");
        }
    }

    #[test]
    fn active_tasks_stay_with_their_owners_when_members_come_and_go() {
        let subs = [sub("0", 4, true), sub("1", 8, false)];
        let mut members: Vec<_> = ["a", "b", "c"].iter().map(|m| member(m, m)).collect();
        let out = assign(&subs, &members, &no_warmups()).unwrap();
        members = converge(&members, &out);

        // A fourth member joins: only tasks needed to balance it move, all from the others to it.
        members.push(member("d", "d"));
        let out2 = assign(&subs, &members, &no_warmups()).unwrap();
        check(&subs, &members, &out2);
        assert_eq!(active_counts(&out2), vec![3, 3, 3, 3]);
        for m in ["a", "b", "c"] {
            assert!(
                out2[m].active.is_subset(&out[m].active),
                "{m} got new tasks"
            );
        }
        members = converge(&members, &out2);

        // b leaves: a, c and d keep everything and share b's three tasks.
        members.retain(|m| m.member_id != "b");
        let out3 = assign(&subs, &members, &no_warmups()).unwrap();
        check(&subs, &members, &out3);
        assert_eq!(active_counts(&out3), vec![4, 4, 4]);
        for m in ["a", "c", "d"] {
            assert!(out2[m].active.is_subset(&out3[m].active), "{m} lost a task");
        }
        // Same input, same output.
        assert_eq!(assign(&subs, &members, &no_warmups()).unwrap(), out3);
    }

    #[test]
    fn standbys_never_share_a_process_with_their_active() {
        let subs = [sub("0", 6, true), sub("1", 3, false)];
        let members = [
            member("a1", "p1"),
            member("a2", "p1"),
            member("b1", "p2"),
            member("c1", "p3"),
        ];
        let config = AssignorConfig {
            num_standby_replicas: 2,
            ..no_warmups()
        };
        let out = assign(&subs, &members, &config).unwrap();
        check(&subs, &members, &out);
        let standbys: usize = out.values().map(|a| a.standby.len()).sum();
        assert_eq!(standbys, 12, "two standbys per stateful task: {out:?}");
        assert!(out
            .values()
            .all(|a| a.standby.iter().all(|t| t.subtopology == "0")));

        // With one process there is nowhere to put a standby.
        let alone = [member("a1", "p1"), member("a2", "p1")];
        let out = assign(&subs, &alone, &config).unwrap();
        check(&subs, &alone, &out);
        assert!(out.values().all(|a| a.standby.is_empty()));
    }

    #[test]
    fn standbys_are_sticky_and_take_over_a_lost_active() {
        let subs = [sub("0", 6, true)];
        let config = AssignorConfig {
            num_standby_replicas: 1,
            ..no_warmups()
        };
        let mut members: Vec<_> = ["a", "b", "c"].iter().map(|m| member(m, m)).collect();
        let out = assign(&subs, &members, &config).unwrap();
        members = converge(&members, &out);
        assert_eq!(assign(&subs, &members, &config).unwrap(), out, "stable");

        // c dies: its active tasks go to the members holding their standbys, as far as balance
        // allows (a member takes at most 3 of the 6).
        let lost = out["c"].active.clone();
        members.retain(|m| m.member_id != "c");
        let out2 = assign(&subs, &members, &config).unwrap();
        check(&subs, &members, &out2);
        assert_eq!(active_counts(&out2), vec![3, 3]);
        for task in &lost {
            let standby_holder = ["a", "b"]
                .into_iter()
                .find(|m| out[*m].standby.contains(task))
                .unwrap();
            assert!(
                out2[standby_holder].active.contains(task)
                    || out2[standby_holder].active.len() == 3,
                "{task:?}"
            );
            // Every task keeps a standby, on the other member.
            assert!(out2.values().any(|a| a.standby.contains(task)));
        }
        // The members keep what they had.
        for m in ["a", "b"] {
            assert!(out[m].active.is_subset(&out2[m].active));
        }
    }

    #[test]
    fn standbys_spread_over_client_tag_values() {
        let subs = [sub("0", 4, true)];
        let zone = |m: &str, z: &str| MemberSpec {
            client_tags: BTreeMap::from([("zone".to_string(), z.to_string())]),
            ..member(m, m)
        };
        // Two processes in zone z1, two in z2: every standby in the other zone than its active.
        let members = [
            zone("a", "z1"),
            zone("b", "z1"),
            zone("c", "z2"),
            zone("d", "z2"),
        ];
        let config = AssignorConfig {
            num_standby_replicas: 1,
            rack_aware_tags: vec!["zone".into()],
            ..no_warmups()
        };
        let out = assign(&subs, &members, &config).unwrap();
        check(&subs, &members, &out);
        let zone_of = |m: &str| if m < "c" { "z1" } else { "z2" };
        for (m, a) in &out {
            for task in &a.standby {
                let owner = out.iter().find(|(_, x)| x.active.contains(task)).unwrap().0;
                assert_ne!(zone_of(m), zone_of(owner), "{task:?} on {m} and {owner}");
            }
        }
    }

    #[test]
    fn a_stateful_task_moving_to_a_process_without_state_warms_up_first() {
        let subs = [sub("0", 4, true)];
        let config = AssignorConfig {
            acceptable_recovery_lag: 100,
            ..Default::default()
        };
        // a owns all four tasks, its changelogs at 10_000.
        let mut a = member("a", "pa");
        a.active = (0..4).map(|p| t("0", p)).collect();
        a.task_offsets = (0..4).map(|p| (t("0", p), 10_000)).collect();
        a.task_end_offsets = a.task_offsets.clone();
        let b = member("b", "pb");
        let members = vec![a.clone(), b.clone()];

        // b joins with no state: balance wants two tasks on b, so they stay on a and warm up on b.
        let out = assign(&subs, &members, &config).unwrap();
        check(&subs, &members, &out);
        assert_eq!(out["a"].active.len(), 4);
        assert!(out["b"].active.is_empty());
        assert_eq!(out["b"].warmup.len(), 2);
        let warming = out["b"].warmup.clone();

        // b restores to 9_950 of 10_000 on one task, 5_000 on the other: one is promoted.
        let mut members = converge(&members, &out);
        let mut it = warming.iter();
        let (done, behind) = (it.next().unwrap(), it.next().unwrap());
        members[1].task_offsets = BTreeMap::from([(done.clone(), 9_950), (behind.clone(), 5_000)]);
        let out2 = assign(&subs, &members, &config).unwrap();
        check(&subs, &members, &out2);
        assert_eq!(out2["b"].active, BTreeSet::from([done.clone()]));
        assert_eq!(out2["b"].warmup, BTreeSet::from([behind.clone()]));
        assert!(!out2["a"].active.contains(done) && out2["a"].active.contains(behind));

        // Then the other: balanced, no warm-ups left.
        let mut members = converge(&members, &out2);
        members[1].task_offsets.insert(behind.clone(), 10_000);
        let out3 = assign(&subs, &members, &config).unwrap();
        check(&subs, &members, &out3);
        assert_eq!(active_counts(&out3), vec![2, 2]);
        assert!(out3.values().all(|a| a.warmup.is_empty()));
    }

    #[test]
    fn warmups_are_capped_and_standbys_swap_instead() {
        let subs = [sub("0", 6, true)];
        let mut a = member("a", "pa");
        a.active = (0..6).map(|p| t("0", p)).collect();
        a.task_offsets = (0..6).map(|p| (t("0", p), 500)).collect();
        a.task_end_offsets = a.task_offsets.clone();
        let members = [a, member("b", "pb"), member("c", "pc")];
        let config = AssignorConfig {
            acceptable_recovery_lag: 0,
            max_warmup_replicas: 1,
            ..Default::default()
        };
        let out = assign(&subs, &members, &config).unwrap();
        check(&subs, &members, &out);
        let warmups: usize = out.values().map(|m| m.warmup.len()).sum();
        assert_eq!(warmups, 1);
        // Tasks over the cap move without warming up (the balance still has to happen).
        assert_eq!(out["a"].active.len(), 3);

        // With a standby on the caught-up process, the two swap: a keeps the active, the new
        // process takes the standby, and no warm-up is spent on it.
        let config = AssignorConfig {
            num_standby_replicas: 1,
            ..config
        };
        let out = assign(&subs, &members, &config).unwrap();
        check(&subs, &members, &out);
        let standbys: usize = out.values().map(|m| m.standby.len()).sum();
        assert_eq!(standbys, 6);
        let warmups: usize = out.values().map(|m| m.warmup.len()).sum();
        assert_eq!(warmups, 1);
        // Of the four tasks balance moves away from a, the two with a standby on a stay (swapped),
        // one warms up, one moves cold.
        assert_eq!(out["a"].active.len(), 5, "{out:?}");
    }

    #[test]
    fn bad_input_is_refused_and_no_members_get_nothing() {
        let m = [member("a", "p"), member("a", "q")];
        assert_eq!(
            assign(&[sub("0", 1, true)], &m, &no_warmups()),
            Err(AssignError::DuplicateMember("a".into()))
        );
        assert!(matches!(
            assign(&[sub("0", -1, true)], &m[..1], &no_warmups()),
            Err(AssignError::NegativeTaskCount { .. })
        ));
        assert!(matches!(
            assign(
                &[sub("0", 1, true), sub("0", 2, true)],
                &m[..1],
                &no_warmups()
            ),
            Err(AssignError::DuplicateSubtopology(_))
        ));
        assert!(assign(&[sub("0", 3, true)], &[], &no_warmups())
            .unwrap()
            .is_empty());
        // Tasks of a gone sub-topology are dropped.
        let mut old = member("a", "p");
        old.active.insert(t("gone", 0));
        let out = assign(&[sub("0", 1, false)], &[old], &no_warmups()).unwrap();
        assert_eq!(out["a"].active, BTreeSet::from([t("0", 0)]));
    }

    #[test]
    fn randomized_churn_never_assigns_a_task_twice() {
        for seed in 0..20u64 {
            let mut rng = Rng(seed);
            let subs = [
                sub("0", 1 + rng.below(12) as i32, true),
                sub("1", rng.below(8) as i32, false),
                sub("2", rng.below(6) as i32, true),
            ];
            let config = AssignorConfig {
                num_standby_replicas: rng.below(3) as u32,
                rack_aware_tags: if rng.below(2) == 0 {
                    vec!["zone".into()]
                } else {
                    vec![]
                },
                acceptable_recovery_lag: rng.below(200) as i64,
                max_warmup_replicas: rng.below(3) as u32,
            };
            let mut members: Vec<MemberSpec> = Vec::new();
            let mut next_id = 0;
            for round in 0..40 {
                // Join, leave, or a process restarting under a new member id with its state.
                match rng.below(4) {
                    0 | 1 if members.len() < 8 => {
                        let process = format!("p{}", rng.below(5));
                        let mut m = member(&format!("m{next_id}"), &process);
                        m.client_tags
                            .insert("zone".into(), format!("z{}", rng.below(3)));
                        next_id += 1;
                        members.push(m);
                    }
                    2 if members.len() > 1 => {
                        let gone = rng.below(members.len() as u64) as usize;
                        members.remove(gone);
                    }
                    3 if !members.is_empty() => {
                        let i = rng.below(members.len() as u64) as usize;
                        let old = members.remove(i);
                        let offsets = old
                            .active
                            .iter()
                            .chain(&old.standby)
                            .map(|t| (t.clone(), 900))
                            .collect();
                        members.push(MemberSpec {
                            member_id: format!("m{next_id}"),
                            task_offsets: offsets,
                            ..member("x", &old.process_id)
                        });
                        next_id += 1;
                    }
                    _ => {}
                }
                // Members report progress on everything they hold.
                for m in &mut members {
                    for task in m.active.clone() {
                        m.task_offsets.insert(task.clone(), 1_000);
                        m.task_end_offsets.insert(task, 1_000);
                    }
                    for task in m
                        .standby
                        .iter()
                        .chain(&m.warmup)
                        .cloned()
                        .collect::<Vec<_>>()
                    {
                        let o = m.task_offsets.entry(task).or_insert(0);
                        *o = (*o + rng.below(400) as i64).min(1_000);
                    }
                }
                let out = assign(&subs, &members, &config).unwrap();
                // Shown with a failure: which case to replay.
                eprintln!("seed {seed} round {round}");
                check(&subs, &members, &out);
                assert_eq!(
                    assign(&subs, &members, &config).unwrap(),
                    out,
                    "seed {seed} round {round}: not deterministic"
                );
                if config.max_warmup_replicas == 0 && !members.is_empty() {
                    assert!(spread(&active_counts(&out)) <= 1, "{out:?}");
                }
                members = converge(&members, &out);
            }
            // Then no churn, and members restore fully between rounds: the warm-ups are promoted
            // and the group settles balanced with none left.
            let mut out = TargetAssignment::new();
            for _ in 0..10 {
                for m in &mut members {
                    for task in m.active.iter().chain(&m.standby).chain(&m.warmup) {
                        m.task_offsets.insert(task.clone(), 1_000);
                        m.task_end_offsets.insert(task.clone(), 1_000);
                    }
                }
                out = assign(&subs, &members, &config).unwrap();
                check(&subs, &members, &out);
                members = converge(&members, &out);
            }
            assert!(spread(&active_counts(&out)) <= 1, "seed {seed}: {out:?}");
            assert!(
                out.values().all(|a| a.warmup.is_empty()),
                "seed {seed}: {out:?}"
            );
        }
    }
}
