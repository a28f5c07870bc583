//! DescribeUserScramCredentials: which mechanisms and iteration counts each user has (never any
//! key material). A null user list describes every user.

use std::collections::HashSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use super::{cluster_denied, duplicates, str_bytes};
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Answers one DescribeUserScramCredentials request (API key 50): each user's mechanisms and
/// iteration counts, or RESOURCE_NOT_FOUND for an unknown one.
pub async fn handle(
    cx: &RequestContext,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let agent = &*cx.agent;
    let mut resp = DescribeUserScramCredentialsResponse::default();
    // DESCRIBE on the cluster, or every user's result fails.
    let cluster_describe = cx.authorize(Op::Describe, Res::Cluster);
    let users: Vec<String> = match req.users {
        Some(us) => us.into_iter().map(|u| u.name.to_string()).collect(),
        None => agent.read(|s| s.scram_users.keys().cloned().collect()),
    };
    let dup = duplicates(users.iter().map(String::as_str));
    let mut reported = HashSet::new();
    for user in &users {
        if !reported.insert(user.as_str()) {
            continue;
        }
        let mut r = DescribeUserScramCredentialsResult::default();
        r.user = str_bytes(user.clone());
        if !cluster_describe {
            let e = cluster_denied();
            r.error_code = e.code;
            r.error_message = e.message.map(str_bytes);
        } else if dup.contains(user.as_str()) {
            r.error_code = ResponseError::DuplicateResource.code();
            r.error_message = Some(str_bytes(
                "Cannot describe SCRAM credentials for the same user twice in a single request",
            ));
        } else {
            let infos: Option<Vec<CredentialInfo>> = agent.read(|s| {
                s.scram_users.get(user).map(|creds| {
                    creds
                        .iter()
                        .map(|(m, c)| {
                            let mut i = CredentialInfo::default();
                            i.mechanism = *m;
                            i.iterations = c.iterations;
                            i
                        })
                        .collect()
                })
            });
            match infos {
                Some(i) => r.credential_infos = i,
                None => {
                    r.error_code = ResponseError::ResourceNotFound.code();
                    r.error_message = Some(str_bytes(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    )));
                }
            }
        }
        resp.results.push(r);
    }
    resp
}
