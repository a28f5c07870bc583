//! The client side of the JWT-bearer grant (RFC 7523, as KIP-1139 clients use it): sign an
//! assertion with a private key, exchange it at a token endpoint for an access token. Backs
//! `sluice token`, for tools that cannot do the grant themselves.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// The `grant_type` form value of the JWT-bearer grant (RFC 7523 section 2.1).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Why signing an assertion or exchanging it for a token failed.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The private key PEM does not parse as a key of the algorithm's family.
    #[error("private key: {0}")]
    Key(String),
    /// `jsonwebtoken` could not sign the claims.
    #[error("signing the assertion: {0}")]
    Sign(String),
    /// The HTTP request failed (connect, TLS, 30 s timeout, reading the body).
    #[error("token endpoint: {0}")]
    Http(String),
    /// The token endpoint answered with a non-2xx status.
    #[error("token endpoint refused the assertion: HTTP {status}: {body}")]
    Refused {
        /// The HTTP status code.
        status: u16,
        /// The response body, as sent (usually an RFC 6749 error JSON).
        body: String,
    },
    /// The 2xx answer is not JSON or has no string `access_token`; carries the body.
    #[error("token endpoint answer has no access_token: {0}")]
    NoToken(String),
}

/// What the assertion says and how it is signed.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// The JWS algorithm: ES256 / ES384 take an EC key, every other one an RSA key.
    pub algorithm: Algorithm,
    /// The JWS header's `kid`, so the endpoint picks the right public key; `None` omits it.
    pub kid: Option<String>,
    /// The `iss` claim (usually the client id).
    pub iss: String,
    /// The `sub` claim (the principal the token is for).
    pub sub: String,
    /// The `aud` claim (usually the token endpoint URL).
    pub aud: String,
    /// `exp - iat`; whole seconds (sub-second parts are dropped).
    pub lifetime: Duration,
}

/// Signs `a` with the PEM private key (RSA for RS*/PS*, EC for ES*) into a compact JWS with
/// `iat` = `nbf` = now (s since the Unix epoch), `exp` = now + lifetime and a random 128-bit
/// hex `jti`. Errors: [`GrantError::Key`], [`GrantError::Sign`].
pub fn sign_assertion(a: &Assertion, private_key_pem: &[u8]) -> Result<String, GrantError> {
    let key = match a.algorithm {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(private_key_pem),
        _ => EncodingKey::from_rsa_pem(private_key_pem),
    }
    .map_err(|e| GrantError::Key(e.to_string()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut jti = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut jti);
    let claims = serde_json::json!({
        "iss": a.iss,
        "sub": a.sub,
        "aud": a.aud,
        "iat": now,
        "nbf": now,
        "exp": now + a.lifetime.as_secs(),
        "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    });
    let mut header = Header::new(a.algorithm);
    header.kid = a.kid.clone();
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| GrantError::Sign(e.to_string()))
}

/// Exchanges a signed assertion at `token_endpoint` (an RFC 7523 form POST with optional
/// `scope` and `client_id`, 30 s timeout); returns the `access_token` of the JSON answer.
/// Errors: [`GrantError::Http`], [`GrantError::Refused`], [`GrantError::NoToken`].
pub async fn exchange(
    token_endpoint: &str,
    assertion: &str,
    scope: Option<&str>,
    client_id: Option<&str>,
) -> Result<String, GrantError> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", GRANT_TYPE);
    form.append_pair("assertion", assertion);
    if let Some(s) = scope {
        form.append_pair("scope", s);
    }
    if let Some(c) = client_id {
        form.append_pair("client_id", c);
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| GrantError::Http(e.to_string()))?;
    let resp = http
        .post(token_endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(form.finish())
        .send()
        .await
        .map_err(|e| GrantError::Http(e.to_string()))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|e| GrantError::Http(e.to_string()))?;
    if !status.is_success() {
        return Err(GrantError::Refused {
            status: status.as_u16(),
            body,
        });
    }
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|_| GrantError::NoToken(body.clone()))?;
    v.get("access_token")
        .and_then(|t| t.as_str())
        .map(String::from)
        .ok_or(GrantError::NoToken(body))
}
