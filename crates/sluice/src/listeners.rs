//! Binding the agent's listeners: `--listen` (PLAINTEXT, the bootstrap address printed at
//! start) plus any `--listener NAME://host:port`, each with what it advertises and, for SSL and
//! SASL_SSL, the TLS config from `--ssl-cert` / `--ssl-key`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use sluice_agent::listener::{parse_listener, SecurityProtocol};
use sluice_agent::server::{serve_listener, ListenerCtx};
use sluice_agent::Agent;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::cli::AgentTuning;

pub struct Listeners {
    /// The PLAINTEXT listener's bound address and advertised endpoint.
    pub bound: SocketAddr,
    pub host: String,
    pub port: i32,
    bound_listeners: Vec<(TcpListener, Arc<ListenerCtx>, String, i32)>,
}

fn host_port(s: &str) -> anyhow::Result<(String, i32)> {
    let (h, p) = s
        .rsplit_once(':')
        .with_context(|| format!("advertised listener '{s}' is not host:port"))?;
    Ok((
        h.to_string(),
        p.parse().with_context(|| format!("port of '{s}'"))?,
    ))
}

impl Listeners {
    pub async fn bind(t: &AgentTuning) -> anyhow::Result<Listeners> {
        // Advertised endpoints: `host:port` is the PLAINTEXT one, `NAME://host:port` a named one.
        let mut main_advert = None;
        let mut named = Vec::new();
        for a in &t.advertised_listener {
            match parse_listener(a) {
                Ok((name, _, addr)) => named.push((name, host_port(&addr)?)),
                Err(_) if !a.contains("://") => main_advert = Some(host_port(a)?),
                Err(e) => return Err(e.into()),
            }
        }
        let main = TcpListener::bind(t.listen)
            .await
            .with_context(|| format!("binding {}", t.listen))?;
        let bound = main.local_addr()?;
        let (host, port) = main_advert.unwrap_or((bound.ip().to_string(), bound.port() as i32));
        let mut tls = None;
        let mut bound_listeners =
            vec![(main, Arc::new(ListenerCtx::plaintext()), host.clone(), port)];
        for spec in &t.listener {
            let (name, protocol, addr) = parse_listener(spec)?;
            if bound_listeners.iter().any(|(_, c, _, _)| c.name == name) {
                anyhow::bail!("listener {name} is configured twice");
            }
            let acceptor = if protocol.tls() {
                if tls.is_none() {
                    let (Some(cert), Some(key)) = (&t.ssl_cert, &t.ssl_key) else {
                        anyhow::bail!("listener {spec} needs --ssl-cert and --ssl-key");
                    };
                    let cfg = sluice_auth::tls::server_config(cert, key)?;
                    tls = Some(tokio_rustls::TlsAcceptor::from(cfg));
                }
                tls.clone()
            } else {
                None
            };
            let l = TcpListener::bind(&addr)
                .await
                .with_context(|| format!("binding {spec}"))?;
            let local = l.local_addr()?;
            let (h, p) = named
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, hp)| hp.clone())
                .unwrap_or((local.ip().to_string(), local.port() as i32));
            let ctx = Arc::new(ListenerCtx {
                name,
                protocol,
                tls: acceptor,
            });
            bound_listeners.push((l, ctx, h, p));
        }
        if t.sasl_enabled_mechanisms
            .iter()
            .any(|m| sluice_agent::sasl::Mechanism::parse(m).is_none())
        {
            anyhow::bail!(
                "--sasl-enabled-mechanisms: supported are PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER"
            );
        }
        if sasl_mechanisms(t).iter().any(|m| m == "OAUTHBEARER")
            && t.sasl_oauthbearer_jwks_endpoint_url.is_none()
        {
            anyhow::bail!("OAUTHBEARER needs --sasl-oauthbearer-jwks-endpoint-url");
        }
        Ok(Listeners {
            bound,
            host,
            port,
            bound_listeners,
        })
    }

    /// (name, host, port) of every listener, for the quorum's agent registry.
    pub fn adverts(&self) -> Vec<(String, String, i32)> {
        self.bound_listeners
            .iter()
            .map(|(_, c, h, p)| (c.name.clone(), h.clone(), *p))
            .collect()
    }

    pub fn serve_all(self, agent: &Arc<Agent>, tasks: &mut JoinSet<()>) {
        for (l, ctx, h, p) in self.bound_listeners {
            if ctx.protocol != SecurityProtocol::Plaintext {
                let local = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
                println!("listener {} on {local}, advertised {h}:{p}", ctx.name);
            }
            tasks.spawn(serve_listener(agent.clone(), l, ctx));
        }
    }
}

/// The mechanisms SASL listeners offer: the configured ones, plus OAUTHBEARER when a JWKS URL
/// is set.
pub fn sasl_mechanisms(t: &AgentTuning) -> Vec<String> {
    let mut m = t.sasl_enabled_mechanisms.clone();
    if t.sasl_oauthbearer_jwks_endpoint_url.is_some() && !m.iter().any(|x| x == "OAUTHBEARER") {
        m.push("OAUTHBEARER".into());
    }
    m
}

/// The OAUTHBEARER token validator, when a JWKS URL is configured.
pub fn oauth_validator(
    t: &AgentTuning,
) -> anyhow::Result<Option<Arc<sluice_auth::oauth::JwtValidator>>> {
    use sluice_auth::oauth::{parse_algorithm, JwtValidator, OAuthConfig};
    let Some(url) = &t.sasl_oauthbearer_jwks_endpoint_url else {
        return Ok(None);
    };
    let mut cfg = OAuthConfig::new(url.clone());
    cfg.issuer = t.sasl_oauthbearer_expected_issuer.clone();
    cfg.audience = t.sasl_oauthbearer_expected_audience.clone();
    cfg.principal_claim = t.sasl_oauthbearer_sub_claim_name.clone();
    cfg.scope_claim = t.sasl_oauthbearer_scope_claim_name.clone();
    cfg.required_scope = t.sasl_oauthbearer_required_scope.clone();
    cfg.clock_skew = std::time::Duration::from_secs(t.sasl_oauthbearer_clock_skew_seconds);
    cfg.algorithms = t
        .sasl_oauthbearer_allowed_algorithms
        .iter()
        .map(|a| parse_algorithm(a).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<_>>()?;
    Ok(Some(Arc::new(JwtValidator::new(cfg))))
}
