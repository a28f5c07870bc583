//! What a meta node's HTTP handlers and the node itself share: [`NodeCore`].
//!
//! [`crate::node::MetaNode`] builds one `NodeCore` at start and hands it to the HTTP
//! listener (`server`); both call into it. It holds the raft handle, the replica
//! and the change feed, and does the work behind the client API: proposals (a
//! follower forwards them to the leader over HTTP, [`NodeCore::propose`]),
//! membership changes, and the readiness check. It sits below both `node` and
//! `server`, so neither needs the other's internals.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, ChangeMembers, ServerState};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{decode_response, MembershipResponse, ProposeResponse, FORWARDED_HEADER};
use crate::command::{Command, CommandResponse};
use crate::error::{LeaderInfo, MetaError};
use crate::feed::ChangeFeed;
use crate::health::{NotReady, APPLY_SLACK};
use crate::netfault::NetFaults;
use crate::replica::Replica;
use crate::types::{MetaRaft, NodeId};

/// Pause between attempts while a leader is being elected.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// What the HTTP handlers and the node share.
pub(crate) struct NodeCore {
    pub(crate) id: NodeId,
    pub(crate) advertised: String,
    pub(crate) raft: MetaRaft,
    pub(crate) replica: Replica,
    pub(crate) feed: Arc<ChangeFeed>,
    pub(crate) http: reqwest::Client,
    pub(crate) cancel: CancellationToken,
    /// Raft traffic faults (shared with the raft network); switchable over HTTP only
    /// when `fault_injection` is on.
    pub(crate) net_faults: Arc<NetFaults>,
    pub(crate) fault_injection: bool,
    pub(crate) propose_timeout: Duration,
    /// A leader no quorum has acknowledged for this long refuses proposals (see
    /// [`NodeCore::cut_off_leader`]).
    pub(crate) quorum_ack_limit_ms: u64,
}

/// An error before the request left this process (safe to retry) vs after.
enum ForwardError {
    NotSent(MetaError),
    Failed(MetaError),
}

impl NodeCore {
    pub(crate) fn leader(&self) -> Option<LeaderInfo> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let id = m.current_leader?;
        let node = m.membership_config.membership().get_node(&id)?;
        Some(LeaderInfo {
            id,
            addr: node.addr.clone(),
        })
    }

    /// Whether this node leads but has not heard from a quorum for `quorum_ack_limit_ms`: cut off
    /// from its followers (openraft 0.9 keeps such a leader leading until it hears a higher
    /// term), so its proposals would hang until the partition heals.
    fn cut_off_leader(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.state == ServerState::Leader
            && m.millis_since_quorum_ack
                .is_some_and(|ms| ms > self.quorum_ack_limit_ms)
    }

    /// See [`MetaNode::readiness`](crate::node::MetaNode::readiness).
    pub(crate) fn readiness(&self) -> Result<(), NotReady> {
        if self.is_shutting_down() {
            return Err(NotReady::ShuttingDown);
        }
        let m = self.raft.metrics();
        let m = m.borrow();
        if !m
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == self.id)
        {
            return Err(NotReady::NotVoter { id: self.id });
        }
        if m.current_leader.is_none() {
            return Err(NotReady::NoLeader);
        }
        if m.state == ServerState::Leader {
            if let Some(ms) = m
                .millis_since_quorum_ack
                .filter(|&ms| ms > self.quorum_ack_limit_ms)
            {
                return Err(NotReady::CutOff { ms });
            }
        }
        let applied = m.last_applied.map_or(0, |l| l.index);
        let last = m.last_log_index.unwrap_or(0);
        if applied + APPLY_SLACK < last {
            return Err(NotReady::Behind {
                applied,
                needed: last - APPLY_SLACK,
            });
        }
        Ok(())
    }

    fn is_shutting_down(&self) -> bool {
        self.cancel.is_cancelled()
    }

    fn raft_error<E: std::error::Error + Send + Sync + 'static>(&self, e: E) -> MetaError {
        if self.is_shutting_down() {
            MetaError::Shutdown
        } else {
            MetaError::raft(e)
        }
    }

    /// Proposes `cmd`. With `forward`, a follower relays it to the leader and
    /// retries (until `propose_timeout`) while no leader is known; without, it
    /// answers [`MetaError::NotLeader`].
    pub(crate) async fn propose(
        &self,
        cmd: Command,
        forward: bool,
    ) -> Result<(u64, CommandResponse), MetaError> {
        let deadline = Instant::now() + self.propose_timeout;
        loop {
            let started = Instant::now();
            if self.cut_off_leader() {
                // Nothing this node appends can commit until it hears from a quorum again, and
                // the others have likely elected a new leader: callers should try other nodes.
                return Err(MetaError::NotLeader { leader: None });
            }
            // Bounded: a leader cut off mid-proposal would otherwise hold the caller until it
            // heals. The entry may still commit later: the outcome is unknown.
            let written =
                tokio::time::timeout(self.propose_timeout, self.raft.client_write(cmd.clone()))
                    .await
                    .map_err(|_| {
                        MetaError::indeterminate(format!(
                            "not committed within {:?}",
                            self.propose_timeout
                        ))
                    })?;
            let leader = match written {
                Ok(resp) => {
                    crate::metrics::record_commit(&cmd, started.elapsed());
                    return Ok((resp.log_id.index, resp.data));
                }
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    f.leader_id.zip(f.leader_node).map(|(id, node)| LeaderInfo {
                        id,
                        addr: node.addr,
                    })
                }
                Err(RaftError::APIError(e)) => return Err(MetaError::raft(e)),
                Err(RaftError::Fatal(e)) => return Err(self.raft_error(e)),
            };
            if !forward {
                return Err(MetaError::NotLeader { leader });
            }
            let err = match leader {
                Some(l) if l.id != self.id => {
                    match self
                        .forward::<_, ProposeResponse>(&l, "/api/propose", &cmd)
                        .await
                    {
                        Ok(r) => return Ok((r.index, r.response)),
                        Err(ForwardError::Failed(e)) => return Err(e),
                        Err(ForwardError::NotSent(e)) => e,
                    }
                }
                _ => MetaError::unavailable("no leader elected"),
            };
            if Instant::now() >= deadline {
                return Err(err);
            }
            tracing::debug!(error = %err, "proposal not accepted yet; retrying");
            tokio::select! {
                _ = tokio::time::sleep(RETRY_PAUSE) => {}
                _ = self.cancel.cancelled() => return Err(MetaError::Shutdown),
            }
        }
    }

    /// POSTs `body` to the leader's `path`, marked as forwarded so it is not
    /// forwarded again.
    async fn forward<Req, Resp>(
        &self,
        leader: &LeaderInfo,
        path: &str,
        body: &Req,
    ) -> Result<Resp, ForwardError>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
    {
        let url = format!("http://{}{}", leader.addr, path);
        if self.net_faults.is_isolated() {
            return Err(ForwardError::NotSent(MetaError::unavailable(format!(
                "{url}: isolated by fault injection"
            ))));
        }
        tracing::debug!(%url, leader = leader.id, "forwarding to leader");
        let resp = self
            .http
            .post(&url)
            .header(FORWARDED_HEADER, self.id.to_string())
            .timeout(self.propose_timeout)
            .json(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    ForwardError::NotSent(MetaError::unavailable_from(&url, e))
                } else {
                    ForwardError::Failed(MetaError::indeterminate_from(&url, e))
                }
            })?;
        decode_response(resp).await.map_err(|e| match e {
            // The leader refused before proposing: safe to retry.
            e @ (MetaError::NotLeader { .. } | MetaError::Unavailable { .. }) => {
                ForwardError::NotSent(e)
            }
            e => ForwardError::Failed(e),
        })
    }

    pub(crate) async fn initialize(
        &self,
        members: BTreeMap<NodeId, String>,
    ) -> Result<(), MetaError> {
        let nodes: BTreeMap<NodeId, BasicNode> = members
            .into_iter()
            .map(|(id, addr)| (id, BasicNode::new(addr)))
            .collect();
        tracing::info!(id = self.id, members = ?nodes, "initializing meta cluster");
        match self.raft.initialize(nodes).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotAllowed(e))) => {
                tracing::info!(id = self.id, reason = %e, "already initialized");
                Ok(())
            }
            Err(RaftError::APIError(e)) => Err(MetaError::Invalid(e.to_string())),
            Err(RaftError::Fatal(e)) => Err(self.raft_error(e)),
        }
    }

    pub(crate) async fn add_learner(&self, id: NodeId, addr: String) -> Result<u64, MetaError> {
        tracing::info!(learner = id, %addr, "adding learner");
        let res = self.raft.add_learner(id, BasicNode::new(addr), true).await;
        self.membership_result(res)
    }

    pub(crate) async fn change_membership(
        &self,
        voters: BTreeSet<NodeId>,
        retain: bool,
    ) -> Result<u64, MetaError> {
        tracing::info!(?voters, retain, "changing membership");
        let res = self.raft.change_membership(voters, retain).await;
        self.membership_result(res)
    }

    pub(crate) async fn add_voter(&self, id: NodeId, addr: String) -> Result<u64, MetaError> {
        if self.membership().voters.contains_key(&id) {
            tracing::info!(id, "already a voter");
            return self.raft_index();
        }
        self.add_learner(id, addr).await?;
        tracing::info!(voter = id, "promoting learner to voter");
        let res = self
            .raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await;
        self.membership_result(res)
    }

    pub(crate) async fn remove_node(&self, id: NodeId) -> Result<u64, MetaError> {
        let m = self.membership();
        let change = if m.voters.contains_key(&id) {
            if m.voters.len() == 1 {
                return Err(MetaError::Invalid(format!(
                    "node {id} is the last voter; it cannot be removed"
                )));
            }
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else if m.learners.contains_key(&id) {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        } else {
            return Err(MetaError::Invalid(format!("node {id} is not a member")));
        };
        tracing::info!(node = id, "removing node");
        let res = self.raft.change_membership(change, false).await;
        self.membership_result(res)
    }

    fn raft_index(&self) -> Result<u64, MetaError> {
        Ok(self.membership().index)
    }

    pub(crate) fn membership(&self) -> MembershipResponse {
        let m = self.raft.metrics();
        let m = m.borrow();
        let stored = &m.membership_config;
        let membership = stored.membership();
        let addr = |id: NodeId| {
            membership
                .get_node(&id)
                .map(|n| n.addr.clone())
                .unwrap_or_default()
        };
        let voters = membership.voter_ids().map(|id| (id, addr(id))).collect();
        let learners = membership.learner_ids().map(|id| (id, addr(id))).collect();
        let leader = m.current_leader.and_then(|id| {
            membership.get_node(&id).map(|n| LeaderInfo {
                id,
                addr: n.addr.clone(),
            })
        });
        let matched = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .filter_map(|(id, log)| log.map(|l| (*id, l.index)))
                    .collect()
            })
            .unwrap_or_default();
        MembershipResponse {
            node_id: self.id,
            leader,
            voters,
            learners,
            index: stored.log_id().map(|l| l.index).unwrap_or(0),
            term: m.current_term,
            applied: m.last_applied.map(|l| l.index).unwrap_or(0),
            last_log_index: m.last_log_index.unwrap_or(0),
            matched,
        }
    }

    /// The id of a peer that already has a membership, if any answers.
    pub(crate) async fn initialized_peer(
        &self,
        peers: &BTreeMap<NodeId, String>,
    ) -> Option<NodeId> {
        for (&id, addr) in peers {
            if id == self.id {
                continue;
            }
            let url = format!("http://{addr}/api/membership");
            let resp = self
                .http
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            let Ok(resp) = resp else { continue };
            if let Ok(m) = decode_response::<MembershipResponse>(resp).await {
                if !m.voters.is_empty() {
                    return Some(id);
                }
            }
        }
        None
    }

    fn membership_result(
        &self,
        res: Result<
            openraft::raft::ClientWriteResponse<crate::types::TypeConfig>,
            RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>,
        >,
    ) -> Result<u64, MetaError> {
        match res {
            Ok(r) => Ok(r.log_id.index),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(MetaError::NotLeader {
                    leader: f.leader_id.zip(f.leader_node).map(|(id, node)| LeaderInfo {
                        id,
                        addr: node.addr,
                    }),
                })
            }
            Err(RaftError::APIError(e)) => Err(MetaError::Invalid(e.to_string())),
            Err(RaftError::Fatal(e)) => Err(self.raft_error(e)),
        }
    }
}
