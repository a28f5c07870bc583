//! `sluice token`: the JWT-bearer grant (KIP-1139's client side) for tools that cannot do it:
//! signs an assertion with a private key, exchanges it at the token endpoint, prints the access
//! token on stdout (for kcat's `sasl.oauthbearer.token`, scripts, curl...).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sluice_auth::grant::{exchange, sign_assertion, Assertion};

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// OAuth token endpoint (e.g. https://idp.example/oauth2/token).
    #[arg(long, env = "SLUICE_TOKEN_ENDPOINT")]
    pub token_endpoint: String,
    /// PEM private key signing the assertion (RSA, or EC for ES256/ES384).
    #[arg(long, env = "SLUICE_TOKEN_PRIVATE_KEY")]
    pub private_key: PathBuf,
    /// Signature algorithm of the assertion.
    #[arg(long, default_value = "RS256")]
    pub algorithm: String,
    /// `kid` header of the assertion, if the IdP wants one.
    #[arg(long)]
    pub kid: Option<String>,
    /// Assertion `sub` (the identity asking for a token).
    #[arg(long)]
    pub sub: String,
    /// Assertion `iss` (defaults to the sub).
    #[arg(long)]
    pub iss: Option<String>,
    /// Assertion `aud` (defaults to the token endpoint).
    #[arg(long)]
    pub aud: Option<String>,
    /// Scope to ask for.
    #[arg(long)]
    pub scope: Option<String>,
    /// client_id to send along, if the IdP wants one.
    #[arg(long)]
    pub client_id: Option<String>,
    /// Assertion lifetime in seconds.
    #[arg(long, default_value_t = 300)]
    pub lifetime_secs: u64,
}

pub async fn run(a: TokenArgs) -> anyhow::Result<()> {
    let algorithm = a
        .algorithm
        .parse()
        .map_err(|_| anyhow::anyhow!("unknown algorithm {}", a.algorithm))?;
    let pem = std::fs::read(&a.private_key)
        .with_context(|| format!("reading {}", a.private_key.display()))?;
    let assertion = sign_assertion(
        &Assertion {
            algorithm,
            kid: a.kid.clone(),
            iss: a.iss.clone().unwrap_or_else(|| a.sub.clone()),
            sub: a.sub.clone(),
            aud: a.aud.clone().unwrap_or_else(|| a.token_endpoint.clone()),
            lifetime: Duration::from_secs(a.lifetime_secs),
        },
        &pem,
    )?;
    let token = exchange(
        &a.token_endpoint,
        &assertion,
        a.scope.as_deref(),
        a.client_id.as_deref(),
    )
    .await?;
    println!("{token}");
    Ok(())
}
