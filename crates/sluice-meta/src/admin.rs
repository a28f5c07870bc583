//! Cluster administration over HTTP: what `sluice meta add-node|remove-node|members` run.
//!
//! Membership changes must be made by the leader. [`MetaAdmin`] asks the given
//! endpoints in turn and follows `not_leader` hints, so any reachable member is a
//! good enough starting point. Adding a node is two raft steps done by the leader
//! (`POST /api/add-node`): the node joins as a learner and is sent the log (or a
//! snapshot) until it has caught up, then it is promoted to voter; the quorum keeps
//! serving throughout, so adding or removing one node at a time needs no downtime.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;

use crate::api::{
    decode_response, parse_endpoints, AddNodeRequest, MembershipResponse, RemoveNodeRequest,
};
use crate::error::MetaError;
use crate::types::NodeId;

/// How long one membership change may take (a learner catching up included).
const CHANGE_TIMEOUT: Duration = Duration::from_secs(120);

/// Client of the admin API of a metadata cluster.
pub struct MetaAdmin {
    endpoints: Vec<String>,
    http: reqwest::Client,
}

impl MetaAdmin {
    /// An admin client of the nodes in `endpoints` (`http://h:p,http://h2:p`).
    pub fn new(endpoints: &str) -> Result<Self, MetaError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| MetaError::Invalid(format!("http client: {e}")))?;
        Ok(MetaAdmin {
            endpoints: parse_endpoints(endpoints)?,
            http,
        })
    }

    /// The membership as the first reachable node sees it.
    pub async fn membership(&self) -> Result<MembershipResponse, MetaError> {
        let mut last = MetaError::unavailable("no endpoint");
        for base in &self.endpoints {
            let url = format!("{base}/api/membership");
            match self
                .http
                .get(&url)
                .timeout(Duration::from_secs(5))
                .send()
                .await
            {
                Ok(resp) => return decode_response(resp).await,
                Err(e) => last = MetaError::unavailable_from(&url, e),
            }
        }
        Err(last)
    }

    /// Adds node `id` (listening on `addr`) as a voter.
    pub async fn add_node(&self, id: NodeId, addr: &str) -> Result<MembershipResponse, MetaError> {
        let body = AddNodeRequest {
            id,
            addr: addr.to_string(),
        };
        self.post_to_leader("/api/add-node", &body).await
    }

    /// Removes node `id` from the cluster.
    pub async fn remove_node(&self, id: NodeId) -> Result<MembershipResponse, MetaError> {
        self.post_to_leader("/api/remove-node", &RemoveNodeRequest { id })
            .await
    }

    /// POSTs to each endpoint in turn, following leader hints, until the leader
    /// answers. Retries only what certainly did not reach the leader.
    async fn post_to_leader<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<Resp, MetaError> {
        let deadline = Instant::now() + CHANGE_TIMEOUT;
        let mut i = 0usize;
        let mut hint: Option<String> = None;
        loop {
            let base = hint
                .take()
                .unwrap_or_else(|| self.endpoints[i % self.endpoints.len()].clone());
            let url = format!("{base}{path}");
            let res = match self
                .http
                .post(&url)
                .timeout(CHANGE_TIMEOUT)
                .json(body)
                .send()
                .await
            {
                Ok(resp) => decode_response::<Resp>(resp).await,
                Err(e) if e.is_connect() => Err(MetaError::unavailable_from(&url, e)),
                Err(e) => Err(MetaError::indeterminate_from(&url, e)),
            };
            let err = match res {
                Ok(r) => return Ok(r),
                Err(MetaError::NotLeader { leader: Some(l) }) => {
                    hint = Some(format!("http://{}", l.addr));
                    MetaError::NotLeader { leader: Some(l) }
                }
                Err(e @ (MetaError::NotLeader { .. } | MetaError::Unavailable { .. })) => {
                    i += 1;
                    e
                }
                Err(e) => return Err(e),
            };
            if Instant::now() >= deadline {
                return Err(err);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
