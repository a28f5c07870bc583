//! SASL/SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), server side, as Kafka speaks it.
//!
//! [`ScramServer`] is a small state machine fed one client message at a time: client-first
//! (user and nonce) gets the server-first (nonce, salt, iterations); client-final (proof) gets
//! the server signature, or an error. It never sees a password: credentials hold only the salt,
//! `StoredKey` and `ServerKey`, derived once from the salted password by [`derive_credential`].

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256, Sha512};
use sluice_model::ScramCredential;

use crate::AuthError;

/// Kafka's `ScramMechanism` ids, as AlterUserScramCredentials names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramMechanism {
    /// SCRAM-SHA-256 (id 1): 32-byte keys.
    Sha256 = 1,
    /// SCRAM-SHA-512 (id 2): 64-byte keys.
    Sha512 = 2,
}

/// Kafka's lower bound on a credential's iteration count (inclusive).
pub const MIN_ITERATIONS: i32 = 4096;
/// Kafka's upper bound on a credential's iteration count (inclusive).
pub const MAX_ITERATIONS: i32 = 16384;

impl ScramMechanism {
    /// The mechanism of a Kafka wire id (1 or 2); `None` for any other id.
    pub fn from_id(id: i8) -> Option<Self> {
        match id {
            1 => Some(Self::Sha256),
            2 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The mechanism of a SASL mechanism name (`SCRAM-SHA-256`, `SCRAM-SHA-512`, exact case);
    /// `None` for any other name.
    pub fn from_sasl_name(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(Self::Sha256),
            "SCRAM-SHA-512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Kafka's wire id: 1 for SHA-256, 2 for SHA-512.
    pub fn id(self) -> i8 {
        self as i8
    }

    /// The SASL mechanism name clients ask for in SaslHandshake.
    pub fn sasl_name(self) -> &'static str {
        match self {
            Self::Sha256 => "SCRAM-SHA-256",
            Self::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Self::Sha512 => {
                let mut m = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `Hi(password, salt, i)` of RFC 5802: PBKDF2 with this mechanism's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            Self::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// The stored form of a credential, from the salted password a client computed
/// (AlterUserScramCredentials never carries the password itself).
pub fn derive_credential(
    mech: ScramMechanism,
    salt: &[u8],
    salted_password: &[u8],
    iterations: i32,
) -> ScramCredential {
    let client_key = mech.hmac(salted_password, b"Client Key");
    ScramCredential {
        salt: salt.to_vec(),
        stored_key: mech.hash(&client_key),
        server_key: mech.hmac(salted_password, b"Server Key"),
        iterations,
    }
}

/// Whether `password` matches `cred` (SASL/PLAIN checks passwords against SCRAM credentials,
/// so no password is ever stored).
pub fn password_matches(mech: ScramMechanism, cred: &ScramCredential, password: &[u8]) -> bool {
    let iterations = u32::try_from(cred.iterations).unwrap_or(0).max(1);
    let salted = mech.salted_password(password, &cred.salt, iterations);
    let candidate = derive_credential(mech, &cred.salt, &salted, cred.iterations);
    constant_time_eq(&candidate.stored_key, &cred.stored_key)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

enum State {
    AwaitingClientFirst,
    AwaitingClientFinal {
        user: String,
        credential: ScramCredential,
        client_first_bare: String,
        server_first: String,
        nonce: String,
    },
    Done,
}

/// What the server answers to one client message.
#[derive(Debug, PartialEq, Eq)]
pub enum ScramStep {
    /// Send these bytes and wait for the next message.
    Continue(Vec<u8>),
    /// Authenticated as this user; send these bytes (the server signature).
    Success {
        /// The authenticated user name (without `User:`).
        user: String,
        /// The server-final message (`v=<base64 server signature>`).
        reply: Vec<u8>,
    },
}

/// One SCRAM exchange.
pub struct ScramServer {
    mech: ScramMechanism,
    state: State,
}

impl ScramServer {
    /// An exchange waiting for the client-first message.
    pub fn new(mech: ScramMechanism) -> Self {
        ScramServer {
            mech,
            state: State::AwaitingClientFirst,
        }
    }

    /// Feeds one client message. `lookup` finds a user's credential for this mechanism.
    /// The first message gets [`ScramStep::Continue`] (server-first), the second
    /// [`ScramStep::Success`]. Errors: [`AuthError::Malformed`] for a message that does not
    /// parse or a nonce mismatch, [`AuthError::InvalidCredentials`] for an unknown user or a
    /// wrong proof, [`AuthError::IllegalState`] for a message after the exchange ended (the
    /// exchange also ends on any error).
    pub fn step(
        &mut self,
        msg: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<ScramStep, AuthError> {
        let text = std::str::from_utf8(msg)
            .map_err(|_| AuthError::Malformed("SCRAM message is not UTF-8".into()))?;
        match std::mem::replace(&mut self.state, State::Done) {
            State::AwaitingClientFirst => {
                let (user, client_first_bare, client_nonce) = parse_client_first(text)?;
                let credential = lookup(&user)
                    .ok_or_else(|| AuthError::InvalidCredentials { user: user.clone() })?;
                let mut rnd = [0u8; 24];
                rand::rng().fill_bytes(&mut rnd);
                let nonce = format!("{client_nonce}{}", B64.encode(rnd));
                let server_first = format!(
                    "r={nonce},s={},i={}",
                    B64.encode(&credential.salt),
                    credential.iterations
                );
                self.state = State::AwaitingClientFinal {
                    user,
                    credential,
                    client_first_bare,
                    server_first: server_first.clone(),
                    nonce,
                };
                Ok(ScramStep::Continue(server_first.into_bytes()))
            }
            State::AwaitingClientFinal {
                user,
                credential,
                client_first_bare,
                server_first,
                nonce,
            } => {
                let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(|| {
                    AuthError::Malformed("client-final message has no proof".into())
                })?;
                let attr = |name: &str| {
                    without_proof
                        .split(',')
                        .find_map(|a| a.strip_prefix(name))
                        .map(str::to_string)
                };
                if attr("r=").as_deref() != Some(nonce.as_str()) {
                    return Err(AuthError::Malformed("nonce mismatch".into()));
                }
                if attr("c=").is_none() {
                    return Err(AuthError::Malformed("no channel binding".into()));
                }
                let proof = B64
                    .decode(proof)
                    .map_err(|_| AuthError::Malformed("proof is not base64".into()))?;
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let signature = self
                    .mech
                    .hmac(&credential.stored_key, auth_message.as_bytes());
                if proof.len() != signature.len() {
                    return Err(AuthError::InvalidCredentials { user });
                }
                let client_key: Vec<u8> =
                    proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
                if !constant_time_eq(&self.mech.hash(&client_key), &credential.stored_key) {
                    return Err(AuthError::InvalidCredentials { user });
                }
                let server_sig = self
                    .mech
                    .hmac(&credential.server_key, auth_message.as_bytes());
                Ok(ScramStep::Success {
                    user,
                    reply: format!("v={}", B64.encode(server_sig)).into_bytes(),
                })
            }
            State::Done => Err(AuthError::IllegalState(
                "SCRAM exchange already finished".into(),
            )),
        }
    }
}

/// `gs2-header client-first-bare` -> (user, client-first-bare, client nonce).
fn parse_client_first(text: &str) -> Result<(String, String, String), AuthError> {
    let malformed = |m: &str| AuthError::Malformed(format!("client-first message: {m}"));
    let mut parts = text.splitn(3, ',');
    let cbind = parts.next().ok_or_else(|| malformed("empty"))?;
    if cbind != "n" && cbind != "y" {
        return Err(malformed("channel binding is not supported"));
    }
    let authzid = parts.next().ok_or_else(|| malformed("no gs2 header"))?;
    let bare = parts.next().ok_or_else(|| malformed("no user"))?;
    let mut user = None;
    let mut nonce = None;
    for attr in bare.split(',') {
        if let Some(u) = attr.strip_prefix("n=") {
            user = Some(unescape_username(u)?);
        } else if let Some(r) = attr.strip_prefix("r=") {
            nonce = Some(r.to_string());
        }
    }
    let user = user.ok_or_else(|| malformed("no user"))?;
    let nonce = nonce
        .filter(|n| !n.is_empty())
        .ok_or_else(|| malformed("no nonce"))?;
    if let Some(a) = authzid.strip_prefix("a=") {
        if unescape_username(a)? != user {
            return Err(AuthError::Malformed(
                "authorization id differs from the user".into(),
            ));
        }
    }
    Ok((user, bare.to_string(), nonce))
}

/// RFC 5802 `saslname`: `=2C` is `,` and `=3D` is `=`; any other `=` is an error.
fn unescape_username(s: &str) -> Result<String, AuthError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(AuthError::Malformed("bad escape in user name".into())),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client side written from RFC 5802, to drive the server.
    fn client_final(
        mech: ScramMechanism,
        password: &str,
        client_first_bare: &str,
        server_first: &str,
    ) -> String {
        let attrs: Vec<&str> = server_first.split(',').collect();
        let nonce = attrs[0].strip_prefix("r=").unwrap();
        let salt = B64.decode(attrs[1].strip_prefix("s=").unwrap()).unwrap();
        let iters: u32 = attrs[2].strip_prefix("i=").unwrap().parse().unwrap();
        let salted = mech.salted_password(password.as_bytes(), &salt, iters);
        let client_key = mech.hmac(&salted, b"Client Key");
        let stored = mech.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = mech.hmac(&stored, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        format!("{without_proof},p={}", B64.encode(proof))
    }

    fn cred(mech: ScramMechanism, password: &str) -> ScramCredential {
        let salt = b"0123456789abcdef";
        let salted = mech.salted_password(password.as_bytes(), salt, 4096);
        derive_credential(mech, salt, &salted, 4096)
    }

    #[test]
    fn full_exchange_succeeds_with_the_right_password_for_both_mechanisms() {
        for mech in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            let c = cred(mech, "s3cret");
            let mut server = ScramServer::new(mech);
            let first = "n,,n=alice,r=abcdef";
            let ScramStep::Continue(sf) = server
                .step(first.as_bytes(), |u| {
                    assert_eq!(u, "alice");
                    Some(c.clone())
                })
                .unwrap()
            else {
                panic!("expected server-first")
            };
            let sf = String::from_utf8(sf).unwrap();
            assert!(sf.starts_with("r=abcdef"));
            let fin = client_final(mech, "s3cret", "n=alice,r=abcdef", &sf);
            match server.step(fin.as_bytes(), |_| None).unwrap() {
                ScramStep::Success { user, reply } => {
                    assert_eq!(user, "alice");
                    assert!(reply.starts_with(b"v="));
                }
                other => panic!("{other:?}"),
            }
            // A third message is out of order.
            assert!(matches!(
                server.step(b"x", |_| None),
                Err(AuthError::IllegalState(_))
            ));
        }
    }

    #[test]
    fn wrong_password_and_unknown_user_fail() {
        let mech = ScramMechanism::Sha256;
        let c = cred(mech, "right");
        let mut server = ScramServer::new(mech);
        let ScramStep::Continue(sf) = server
            .step(b"n,,n=bob,r=nonce1", |_| Some(c.clone()))
            .unwrap()
        else {
            panic!()
        };
        let fin = client_final(
            mech,
            "wrong",
            "n=bob,r=nonce1",
            &String::from_utf8(sf).unwrap(),
        );
        assert!(matches!(
            server.step(fin.as_bytes(), |_| None),
            Err(AuthError::InvalidCredentials { .. })
        ));
        let mut server = ScramServer::new(mech);
        assert!(matches!(
            server.step(b"n,,n=nobody,r=n", |_| None),
            Err(AuthError::InvalidCredentials { .. })
        ));
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let c = cred(ScramMechanism::Sha256, "pw");
        for msg in [
            &b""[..],
            b"\xff\xfe",
            b"n",
            b"n,,",
            b"n,,n=a",
            b"p=tls-unique,,n=a,r=x",
            b"n,,n=a=zz,r=x",
            b"n,a=other,n=a,r=x",
        ] {
            let mut s = ScramServer::new(ScramMechanism::Sha256);
            assert!(s.step(msg, |_| Some(c.clone())).is_err(), "{msg:?}");
        }
        let mut s = ScramServer::new(ScramMechanism::Sha256);
        s.step(b"n,,n=a,r=x", |_| Some(c.clone())).unwrap();
        assert!(s.step(b"c=biws,r=wrongnonce,p=AAAA", |_| None).is_err());
    }

    #[test]
    fn usernames_unescape_and_plain_passwords_check_against_credentials() {
        assert_eq!(unescape_username("a=2Cb=3Dc").unwrap(), "a,b=c");
        let c = cred(ScramMechanism::Sha512, "pw");
        assert!(password_matches(ScramMechanism::Sha512, &c, b"pw"));
        assert!(!password_matches(ScramMechanism::Sha512, &c, b"pW"));
    }
}
