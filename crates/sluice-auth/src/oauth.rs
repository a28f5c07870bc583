//! SASL/OAUTHBEARER (RFC 7628) with JWT validation against a JWKS endpoint.
//!
//! The client's first (and only) message carries `auth=Bearer <jwt>`. The token is checked as
//! Kafka's broker-side JWT validator does, and more strictly where it matters:
//! - the header's `alg` must be in the allow-list (asymmetric algorithms only: `none` does not
//!   even parse, and HMAC is refused so a public key can never be used as an HMAC secret);
//! - the key is chosen by `kid` from the JWKS, fetched on first use, cached, and re-fetched when
//!   an unknown `kid` shows up (rate-limited, so unknown kids cannot hammer the IdP); the key's
//!   family must match the algorithm's;
//! - the signature, `exp` (required), `nbf`, `iss` and `aud` (when configured) are checked with
//!   the configured clock skew;
//! - the principal is the configured claim (`sub` by default), and a required scope, when set,
//!   must be among the token's scopes (`scope`: space-separated string or array).
//!
//! The result carries the token's expiry so the connection can end the session then.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::Mutex;

use crate::AuthError;

/// Broker-side OAUTHBEARER settings (Kafka's `sasl.oauthbearer.*` names in comments).
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// `sasl.oauthbearer.jwks.endpoint.url`
    pub jwks_url: String,
    /// `sasl.oauthbearer.expected.issuer`
    pub issuer: Option<String>,
    /// `sasl.oauthbearer.expected.audience`
    pub audience: Vec<String>,
    /// `sasl.oauthbearer.sub.claim.name`
    pub principal_claim: String,
    /// `sasl.oauthbearer.scope.claim.name`
    pub scope_claim: String,
    /// A scope every token must carry (none by default).
    pub required_scope: Option<String>,
    /// `sasl.oauthbearer.clock.skew.seconds`
    pub clock_skew: Duration,
    /// Accepted `alg` values; HMAC and `none` are never accepted.
    pub algorithms: Vec<Algorithm>,
    /// Unknown `kid`s re-fetch the JWKS at most this often.
    pub refresh_min_interval: Duration,
}

impl OAuthConfig {
    /// The defaults (Kafka's, where Kafka has the setting) for a JWKS URL: no issuer or audience
    /// check, principal from `sub`, scopes from `scope`, no required scope, 30 s clock skew,
    /// [`default_algorithms`], JWKS re-fetched at most every 10 s.
    pub fn new(jwks_url: impl Into<String>) -> Self {
        OAuthConfig {
            jwks_url: jwks_url.into(),
            issuer: None,
            audience: Vec::new(),
            principal_claim: "sub".into(),
            scope_claim: "scope".into(),
            required_scope: None,
            clock_skew: Duration::from_secs(30),
            algorithms: default_algorithms(),
            refresh_min_interval: Duration::from_secs(10),
        }
    }
}

/// The default allow-list: RS256/384/512, PS256/384/512, ES256, ES384 (no HMAC, no EdDSA).
pub fn default_algorithms() -> Vec<Algorithm> {
    use Algorithm::*;
    vec![RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384]
}

/// Why [`parse_algorithm`] refused an `alg` name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlgorithmError {
    /// Not a JWS algorithm name (RFC 7518 section 3.1).
    #[error("unknown JWT algorithm {0}")]
    Unknown(String),
    /// HS256/HS384/HS512: a shared secret, which a JWKS of public keys cannot verify.
    #[error("{0}: HMAC algorithms cannot be verified with JWKS public keys")]
    Hmac(String),
}

/// Parses an `alg` name (`RS256`, `ES384`...) for the allow-list
/// (`sasl.oauthbearer.allowed.algorithms`); HMAC algorithms are refused outright.
///
/// # Errors
/// [`AlgorithmError::Unknown`] for a name that is no JWS algorithm, [`AlgorithmError::Hmac`]
/// for HS256, HS384 and HS512.
pub fn parse_algorithm(name: &str) -> Result<Algorithm, AlgorithmError> {
    let alg: Algorithm = name
        .parse()
        .map_err(|_| AlgorithmError::Unknown(name.to_string()))?;
    if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err(AlgorithmError::Hmac(name.to_string()));
    }
    Ok(alg)
}

/// A validated token: who, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidToken {
    /// The value of the configured principal claim (`sub` by default), as the principal's
    /// name (the connection makes it `User:<name>`).
    pub principal: String,
    /// `exp`, in milliseconds since the epoch.
    pub expires_ms: i64,
}

struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
}

/// Validates bearer tokens; shared by all connections of an agent.
pub struct JwtValidator {
    cfg: OAuthConfig,
    http: reqwest::Client,
    keys: Mutex<Keys>,
}

impl std::fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtValidator")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl JwtValidator {
    /// A validator with an empty key cache (the JWKS is fetched on first use, with a 5 s HTTP
    /// timeout).
    pub fn new(cfg: OAuthConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        JwtValidator {
            cfg,
            http,
            keys: Mutex::new(Keys {
                by_kid: HashMap::new(),
                fetched: None,
            }),
        }
    }

    /// The settings this validator checks tokens against.
    pub fn config(&self) -> &OAuthConfig {
        &self.cfg
    }

    /// Checks one OAUTHBEARER client message (`gs2-header ^A auth=Bearer <jwt> ^A ... ^A^A`).
    pub async fn authenticate(&self, msg: &[u8]) -> Result<ValidToken, AuthError> {
        let token = parse_client_message(msg)?;
        self.validate(&token).await
    }

    /// Validates a JWT; see the module docs for the checks.
    pub async fn validate(&self, token: &str) -> Result<ValidToken, AuthError> {
        let invalid = |m: String| AuthError::InvalidToken(m);
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| invalid(format!("bad header: {e}")))?;
        if !self.cfg.algorithms.contains(&header.alg) {
            return Err(invalid(format!(
                "algorithm {:?} is not allowed",
                header.alg
            )));
        }
        let kid = header
            .kid
            .clone()
            .ok_or_else(|| invalid("token has no kid".into()))?;
        let key = self.key(&kid).await?;
        if key.family() != header.alg.family() {
            return Err(invalid(format!(
                "algorithm {:?} does not match the {:?} key {kid}",
                header.alg,
                key.family()
            )));
        }
        let mut v = Validation::new(header.alg);
        v.algorithms = vec![header.alg];
        v.leeway = self.cfg.clock_skew.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        let mut required = vec!["exp"];
        match &self.cfg.issuer {
            Some(iss) => {
                v.set_issuer(&[iss]);
                required.push("iss");
            }
            None => v.iss = None,
        }
        if self.cfg.audience.is_empty() {
            v.validate_aud = false;
        } else {
            v.set_audience(&self.cfg.audience);
            required.push("aud");
        }
        v.set_required_spec_claims(&required);
        let data =
            jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &key, &v)
                .map_err(|e| invalid(format!("{e}")))?;
        let claims = data.claims;
        let principal = claims
            .get(&self.cfg.principal_claim)
            .and_then(|c| c.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "no string claim '{}' to name the principal",
                    self.cfg.principal_claim
                ))
            })?
            .to_string();
        if let Some(want) = &self.cfg.required_scope {
            let scopes: Vec<String> = match claims.get(&self.cfg.scope_claim) {
                Some(serde_json::Value::String(s)) => {
                    s.split_whitespace().map(String::from).collect()
                }
                Some(serde_json::Value::Array(a)) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                _ => Vec::new(),
            };
            if !scopes.iter().any(|s| s == want) {
                return Err(invalid(format!("token lacks the required scope '{want}'")));
            }
        }
        let exp = claims
            .get("exp")
            .and_then(|e| e.as_f64())
            .ok_or_else(|| invalid("no exp".into()))?;
        Ok(ValidToken {
            principal,
            expires_ms: (exp * 1000.0) as i64,
        })
    }

    /// The key named `kid`, fetching the JWKS when it is not cached (at most once per
    /// `refresh_min_interval`).
    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        let mut keys = self.keys.lock().await;
        if let Some(k) = keys.by_kid.get(kid) {
            return Ok(k.clone());
        }
        let may_fetch = keys
            .fetched
            .is_none_or(|t| t.elapsed() >= self.cfg.refresh_min_interval);
        if may_fetch {
            keys.fetched = Some(Instant::now());
            match self.fetch().await {
                Ok(fresh) => {
                    tracing::info!(url = %self.cfg.jwks_url, keys = fresh.len(), "JWKS fetched");
                    keys.by_kid = fresh;
                }
                Err(e) => tracing::warn!(url = %self.cfg.jwks_url, error = %e, "JWKS fetch failed"),
            }
        }
        keys.by_kid
            .get(kid)
            .cloned()
            .ok_or_else(|| AuthError::InvalidToken(format!("unknown kid '{kid}'")))
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let resp = self
            .http
            .get(&self.cfg.jwks_url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > 1 << 20 {
            return Err("JWKS larger than 1 MiB".into());
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let mut out = HashMap::new();
        for jwk in &set.keys {
            // Only public asymmetric keys: a symmetric ("oct") key in a JWKS is ignored.
            if !matches!(
                jwk.algorithm,
                AlgorithmParameters::RSA(_) | AlgorithmParameters::EllipticCurve(_)
            ) {
                continue;
            }
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk))
            else {
                continue;
            };
            out.insert(kid, key);
        }
        Ok(out)
    }
}

/// Kafka's limit on an OAUTHBEARER client message is the SASL frame limit; tokens are text.
fn parse_client_message(msg: &[u8]) -> Result<String, AuthError> {
    let malformed = |m: &str| AuthError::Malformed(format!("OAUTHBEARER: {m}"));
    let text = std::str::from_utf8(msg).map_err(|_| malformed("not UTF-8"))?;
    let (gs2, rest) = text
        .split_once('\x01')
        .ok_or_else(|| malformed("no key-value separator"))?;
    if !(gs2.starts_with("n,") || gs2.starts_with("y,")) {
        return Err(malformed("bad GS2 header"));
    }
    let auth = rest
        .split('\x01')
        .find_map(|kv| kv.strip_prefix("auth="))
        .ok_or_else(|| malformed("no auth value"))?;
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .ok_or_else(|| malformed("auth is not a Bearer token"))?
        .trim();
    if token.is_empty() {
        return Err(malformed("empty token"));
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_client_messages() {
        assert_eq!(
            parse_client_message(b"n,,\x01auth=Bearer abc.def.ghi\x01\x01").unwrap(),
            "abc.def.ghi"
        );
        assert_eq!(
            parse_client_message(b"n,a=u,\x01host=x\x01auth=Bearer t\x01\x01").unwrap(),
            "t"
        );
        for bad in [
            &b""[..],
            b"n,,",
            b"n,,\x01auth=Basic x\x01\x01",
            b"x\x01auth=Bearer t",
            b"\xff",
        ] {
            assert!(parse_client_message(bad).is_err());
        }
    }

    #[test]
    fn hmac_and_none_are_never_allowed() {
        assert_eq!(
            parse_algorithm("HS256"),
            Err(AlgorithmError::Hmac("HS256".into()))
        );
        assert_eq!(
            parse_algorithm("none"),
            Err(AlgorithmError::Unknown("none".into()))
        );
        assert_eq!(parse_algorithm("RS256").unwrap(), Algorithm::RS256);
    }
}
