//! The agent's shared state: what every handler reaches through `&Agent`.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use sluice_meta::command::{Command, CommandResponse};
use sluice_meta::groups::GroupCommand;
use sluice_meta::share_group::ShareCommand;
use sluice_meta::state::{AgentInfo, MetaState};
use sluice_meta::{MetaClient, MetaError};
use sluice_storage::BlockCache;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::config::AgentConfig;
use crate::fetch_session::FetchSessions;
use crate::group_coordinator::{coordinator_among, GroupCoordinator};
use crate::share::ShareCoordinator;
use crate::writer::SegmentWriter;

/// Kafka's COORDINATOR_NOT_AVAILABLE: what a group request gets when the quorum does not answer
/// (clients retry and look the coordinator up again).
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;

/// A share-group command's failure as Kafka reports it: an error code and maybe a message.
pub type ShareFailure = (i16, Option<String>);

/// One running agent: its configuration, its metadata quorum client and replica, the block
/// cache, the segment writer and the coordinators' in-memory state. Shared (`Arc`) by every
/// connection and background task.
pub struct Agent {
    /// The agent's configuration, fixed at start.
    pub cfg: AgentConfig,
    /// The metadata quorum client, with the local replica every read goes to.
    pub meta: MetaClient,
    /// The block cache all reads of segment objects go through.
    pub cache: Arc<BlockCache>,
    /// The segment writer produced batches are appended to.
    pub writer: SegmentWriter,
    /// KIP-227 incremental fetch sessions of this agent's consumers.
    pub sessions: FetchSessions,
    /// Share sessions and share-group member liveness (KIP-932).
    pub share: ShareCoordinator,
    /// Group coordinator memory: member liveness, pending member ids (state lives in meta).
    pub groups: GroupCoordinator,
    agent_id: AtomicI32,
    /// Cancelled when the agent shuts down; background tasks and the writer stop on it.
    pub shutdown: CancellationToken,
}

impl Agent {
    /// Registers with the quorum (getting an id if none was configured) and starts the writer.
    pub async fn start(
        cfg: AgentConfig,
        meta: MetaClient,
        cache: Arc<BlockCache>,
    ) -> Result<Arc<Agent>, MetaError> {
        let shutdown = CancellationToken::new();
        if meta.replica().read(|s| s.cluster_id.is_empty()) {
            // The first agent names the cluster; the state machine keeps only the first name.
            let id = uuid::Uuid::new_v4().simple().to_string();
            meta.propose_and_wait(Command::InitCluster {
                cluster_id: id[..22].to_string(),
            })
            .await?;
        }
        let info = AgentInfo {
            agent_id: cfg.agent_id,
            host: cfg.advertised_host.clone(),
            port: cfg.advertised_port,
            rack: cfg.rack.clone(),
            last_seen_ms: 0,
            listeners: cfg.listeners.clone(),
        };
        let (_, resp) = meta
            .propose_and_wait(Command::AgentHeartbeat {
                agent: info,
                now_ms: now_ms(),
            })
            .await?;
        let id = match resp {
            CommandResponse::AgentId(id) => id,
            other => {
                return Err(MetaError::Raft(
                    format!("unexpected registration answer {other:?}").into(),
                ))
            }
        };
        tracing::info!(agent_id = id, "agent registered");
        let writer = SegmentWriter::start(
            &cfg,
            id,
            meta.clone(),
            cache.clone(),
            shutdown.child_token(),
        );
        Ok(Arc::new(Agent {
            sessions: FetchSessions::new(1_000),
            share: ShareCoordinator::new(
                cfg.share_limits,
                cfg.share_session_timeout,
                cfg.share_heartbeat_interval,
            ),
            groups: GroupCoordinator::default(),
            cfg,
            meta,
            cache,
            writer,
            agent_id: AtomicI32::new(id),
            shutdown,
        }))
    }

    /// The agent's id (Kafka's broker id): configured, or handed out by the quorum at
    /// registration.
    pub fn id(&self) -> i32 {
        self.agent_id.load(Ordering::Relaxed)
    }

    /// This agent as the quorum's agent table lists it, `last_seen_ms` now (ms since the Unix
    /// epoch).
    pub fn self_info(&self) -> AgentInfo {
        AgentInfo {
            agent_id: self.id(),
            host: self.cfg.advertised_host.clone(),
            port: self.cfg.advertised_port,
            rack: self.cfg.rack.clone(),
            last_seen_ms: now_ms(),
            listeners: self.cfg.listeners.clone(),
        }
    }

    /// Reads the local metadata replica.
    pub fn read<R>(&self, f: impl FnOnce(&MetaState) -> R) -> R {
        self.meta.replica().read(f)
    }

    /// Live agents, always including this one, ordered by id.
    pub fn live_agents(&self) -> Vec<AgentInfo> {
        let session = self.cfg.agent_session.as_millis() as i64;
        let me = self.self_info();
        let mut agents: Vec<AgentInfo> = self.read(|s| {
            s.live_agents(me.last_seen_ms, session)
                .into_iter()
                .filter(|a| a.agent_id != me.agent_id)
                .cloned()
                .collect()
        });
        agents.push(me);
        agents.sort_by_key(|a| a.agent_id);
        agents
    }

    /// The agent named leader of a partition (an agent id; -1 with no agents): round-robin over
    /// `agents` (ordered by id) from a stable hash of the topic (FNV-1a), so even a few partitions
    /// of a topic land on all agents and every client sees the same choice. Group coordinators
    /// use rendezvous hashing instead ([`crate::placement`]): a coordinator move costs a rejoin.
    pub fn leader_for(agents: &[AgentInfo], topic: &str, partition: i32) -> i32 {
        let mut h: u32 = 2166136261;
        for b in topic.bytes() {
            h = (h ^ b as u32).wrapping_mul(16777619);
        }
        let idx = (h as usize).wrapping_add(partition as usize) % agents.len().max(1);
        agents.get(idx).map_or(-1, |a| a.agent_id)
    }

    /// Proposes a command and waits until the local replica shows it. Quorum trouble becomes a
    /// retriable Kafka error for the client.
    pub async fn propose(&self, cmd: Command) -> Result<CommandResponse, ResponseError> {
        match self.meta.propose_and_wait(cmd).await {
            Ok((_, r)) => Ok(r),
            Err(e) => {
                tracing::warn!(error = %e, "metadata proposal failed");
                Err(ResponseError::RequestTimedOut)
            }
        }
    }

    /// The cluster id (22 characters, set by the first agent that started), from the replica.
    pub fn cluster_id(&self) -> String {
        self.read(|s| s.cluster_id.clone())
    }

    /// The live agent coordinating `group`.
    pub fn group_coordinator(&self, group: &str) -> AgentInfo {
        let agents = self.live_agents();
        coordinator_among(&agents, group)
            .cloned()
            .unwrap_or_else(|| self.self_info())
    }

    /// Whether this agent is `group`'s coordinator among the live agents.
    pub fn is_group_coordinator(&self, group: &str) -> bool {
        self.group_coordinator(group).agent_id == self.id()
    }

    /// Waits until `f` finds what it looks for in the replica, for at most `timeout`; then one
    /// last look.
    pub async fn wait_for_state<R>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&MetaState) -> Option<R>,
    ) -> Option<R> {
        let mut rx = self.meta.replica().applied();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(r) = self.read(&mut f) {
                return Some(r);
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return self.read(&mut f),
                _ = self.shutdown.cancelled() => return None,
            }
        }
    }

    /// Proposes a group command; a refusal by the state machine or quorum trouble becomes the
    /// Kafka error code the client gets.
    pub async fn propose_group(
        &self,
        cmd: GroupCommand,
    ) -> Result<sluice_meta::command::CommandResponse, i16> {
        match self.propose(Command::Group(cmd)).await {
            Ok(sluice_meta::command::CommandResponse::Error { code, .. }) => Err(code),
            Ok(r) => Ok(r),
            Err(_) => Err(COORDINATOR_NOT_AVAILABLE),
        }
    }

    /// Proposes a share-group command; a refusal by the state machine or a quorum failure
    /// comes back as `Err` with Kafka's code.
    pub async fn propose_share(
        &self,
        cmd: ShareCommand,
    ) -> Result<sluice_meta::share_group::ShareResponse, ShareFailure> {
        use sluice_meta::command::CommandResponse;
        use sluice_meta::share_group::ShareResponse;
        match self.propose(Command::Share(cmd)).await {
            Ok(CommandResponse::Share(ShareResponse::Error { code, message })) => {
                Err((code, Some(message)))
            }
            Ok(CommandResponse::Share(r)) => Ok(r),
            Ok(other) => {
                tracing::warn!(?other, "unexpected answer to a share-group command");
                Err((ResponseError::UnknownServerError.code(), None))
            }
            Err(e) => Err((e.code(), None)),
        }
    }
}
