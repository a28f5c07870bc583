//! The agent's shared state: what every handler reaches through `&Agent`.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use kafka_protocol::error::ResponseError;
use sluice_meta::command::{Command, CommandResponse};
use sluice_meta::state::{AgentInfo, MetaState};
use sluice_meta::{MetaClient, MetaError};
use sluice_storage::BlockCache;
use tokio_util::sync::CancellationToken;

use crate::config::AgentConfig;
use crate::fetch_session::FetchSessions;
use crate::group_coordinator::GroupCoordinator;
use crate::share::ShareCoordinator;
use crate::writer::SegmentWriter;

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

/// Wall clock in milliseconds. Only proposers and readers call it, never the state machine.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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
}
