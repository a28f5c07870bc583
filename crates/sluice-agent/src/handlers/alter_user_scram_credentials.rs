//! AlterUserScramCredentials: create, replace or delete SCRAM credentials in the quorum.
//!
//! Clients send the salted password, never the password; the agent derives `StoredKey` and
//! `ServerKey` from it and the quorum keeps only those. As in Kafka, alterations are checked per
//! user (one result per user): any invalid alteration of a user (unknown mechanism, iterations
//! outside 4096..=16384, empty name, the same user and mechanism twice) fails all of that user's
//! alterations, and other users are unaffected.

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use sluice_auth::scram::{derive_credential, ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};
use sluice_meta::command::Command;

use super::{cluster_denied, str_bytes, ApiError};
use crate::agent::Agent;
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Answers one AlterUserScramCredentials request (API key 51): one result per user, after Kafka's
/// per-user validation; valid alterations go to the quorum in one command.
pub async fn handle(
    cx: &RequestContext,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let agent = &*cx.agent;
    // Per user, in first-seen order: the commands to apply, or the first error.
    let mut order: Vec<String> = Vec::new();
    let mut per_user: BTreeMap<String, Result<Vec<Command>, ApiError>> = BTreeMap::new();
    let mut seen: HashSet<(String, i8)> = HashSet::new();
    // ALTER on the cluster, or every user's alterations fail.
    let cluster_alter = cx.authorize(Op::Alter, Res::Cluster);
    let alterations = req
        .deletions
        .iter()
        .map(|d| (d.name.to_string(), d.mechanism, None))
        .chain(
            req.upsertions
                .iter()
                .map(|u| (u.name.to_string(), u.mechanism, Some(u))),
        );
    for (user, mech_id, upsert) in alterations {
        if !per_user.contains_key(&user) {
            order.push(user.clone());
        }
        let entry = per_user.entry(user.clone()).or_insert_with(|| {
            if cluster_alter {
                Ok(Vec::new())
            } else {
                Err(cluster_denied())
            }
        });
        let checked = check(&user, mech_id, upsert.map(|u| u.iterations), &mut seen);
        let cmd = checked.map(|mech| match upsert {
            None => Command::DeleteScramCredential {
                user: user.clone(),
                mechanism: mech.id(),
            },
            Some(u) => Command::UpsertScramCredential {
                user: user.clone(),
                mechanism: mech.id(),
                credential: derive_credential(mech, &u.salt, &u.salted_password, u.iterations),
            },
        });
        match (entry, cmd) {
            (Ok(cmds), Ok(c)) => cmds.push(c),
            (e @ Ok(_), Err(err)) => *e = Err(err),
            (Err(_), _) => {}
        }
    }
    let mut resp = AlterUserScramCredentialsResponse::default();
    for user in order {
        let outcome = match per_user.remove(&user).unwrap_or(Ok(Vec::new())) {
            Err(e) => Err(e),
            Ok(cmds) => apply_all(agent, cmds).await,
        };
        let mut r = AlterUserScramCredentialsResult::default();
        r.user = str_bytes(user.clone());
        if let Err(e) = outcome {
            tracing::info!(user = %user, code = e.code, "SCRAM credential alteration refused");
            r.error_code = e.code;
            r.error_message = e.message.map(str_bytes);
        } else {
            tracing::info!(user = %user, "SCRAM credentials altered");
        }
        resp.results.push(r);
    }
    resp
}

fn check(
    user: &str,
    mech_id: i8,
    iterations: Option<i32>,
    seen: &mut HashSet<(String, i8)>,
) -> Result<ScramMechanism, ApiError> {
    if user.is_empty() {
        return Err(ApiError::new(
            ResponseError::UnacceptableCredential,
            "Username must not be empty",
        ));
    }
    let Some(mech) = ScramMechanism::from_id(mech_id) else {
        return Err(ApiError::new(
            ResponseError::UnsupportedSaslMechanism,
            "Unknown SCRAM mechanism",
        ));
    };
    if !seen.insert((user.to_string(), mech_id)) {
        return Err(ApiError::new(
            ResponseError::DuplicateResource,
            "A user credential cannot be altered twice in the same request",
        ));
    }
    match iterations {
        Some(i) if i < MIN_ITERATIONS => Err(ApiError::new(
            ResponseError::UnacceptableCredential,
            "Too few iterations",
        )),
        Some(i) if i > MAX_ITERATIONS => Err(ApiError::new(
            ResponseError::UnacceptableCredential,
            "Too many iterations",
        )),
        _ => Ok(mech),
    }
}

async fn apply_all(agent: &Agent, cmds: Vec<Command>) -> Result<(), ApiError> {
    for c in cmds {
        agent.propose_admin(c).await?;
    }
    Ok(())
}
