//! SASL/PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd` in one message.
//!
//! Passwords are checked against the user's SCRAM credentials (either mechanism), so a user
//! created with AlterUserScramCredentials can log in with PLAIN too, and no password is stored.

use sluice_model::ScramCredential;

use crate::scram::{password_matches, ScramMechanism};
use crate::AuthError;

/// Checks one PLAIN message; returns the authenticated user. `lookup` lists the user's
/// credentials with their mechanisms.
pub fn authenticate(
    msg: &[u8],
    lookup: impl FnOnce(&str) -> Vec<(ScramMechanism, ScramCredential)>,
) -> Result<String, AuthError> {
    // Kafka's PlainSaslServer: the message as (lossy) UTF-8, at most 4 NUL-separated tokens
    // looked at, and each refusal worded as Kafka words it.
    let rejected = |m: &str| AuthError::Rejected(m.to_string());
    let text = String::from_utf8_lossy(msg);
    let tokens: Vec<&str> = text.splitn(5, '\0').take(4).collect();
    let [authzid, user, password] = tokens[..] else {
        return Err(rejected(&format!(
            "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
            tokens.len()
        )));
    };
    if user.is_empty() {
        return Err(rejected("Authentication failed: username not specified"));
    }
    if password.is_empty() {
        return Err(rejected("Authentication failed: password not specified"));
    }
    if !authzid.is_empty() && authzid != user {
        return Err(rejected(
            "Authentication failed: Client requested an authorization id that is different from username",
        ));
    }
    let creds = lookup(user);
    // Check against the first credential only: one PBKDF2 per attempt bounds the work a
    // guessing client can cause.
    match creds.first() {
        Some((mech, cred)) if password_matches(*mech, cred, password.as_bytes()) => {
            Ok(user.to_string())
        }
        _ => Err(AuthError::InvalidCredentials {
            user: user.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scram::derive_credential;

    fn lookup(user: &str) -> Vec<(ScramMechanism, ScramCredential)> {
        if user != "alice" {
            return vec![];
        }
        let m = ScramMechanism::Sha256;
        let salted = m.salted_password(b"pw", b"salt", 4096);
        vec![(m, derive_credential(m, b"salt", &salted, 4096))]
    }

    #[test]
    fn accepts_the_right_password_only() {
        assert_eq!(authenticate(b"\0alice\0pw", lookup).unwrap(), "alice");
        assert_eq!(authenticate(b"alice\0alice\0pw", lookup).unwrap(), "alice");
        assert!(matches!(
            authenticate(b"\0alice\0nope", lookup),
            Err(AuthError::InvalidCredentials { .. })
        ));
        assert!(matches!(
            authenticate(b"\0mallory\0pw", lookup),
            Err(AuthError::InvalidCredentials { .. })
        ));
    }

    #[test]
    fn malformed_messages_fail_with_kafkas_words() {
        let rejected = |m: &str| Err(AuthError::Rejected(m.to_string()));
        let tokens = |n| {
            rejected(&format!(
                "Invalid SASL/PLAIN response: expected 3 tokens, got {n}"
            ))
        };
        assert_eq!(authenticate(b"", lookup), tokens(1));
        assert_eq!(authenticate(b"alice", lookup), tokens(1));
        assert_eq!(authenticate(b"\0alice", lookup), tokens(2));
        assert_eq!(authenticate(b"\0alice\0pw\0x", lookup), tokens(4));
        assert_eq!(authenticate(b"\0a\0b\0c\0d\0e", lookup), tokens(4));
        assert_eq!(
            authenticate(b"\0\0pw", lookup),
            rejected("Authentication failed: username not specified")
        );
        assert_eq!(
            authenticate(b"\0alice\0", lookup),
            rejected("Authentication failed: password not specified")
        );
        assert_eq!(
            authenticate(b"bob\0alice\0pw", lookup),
            rejected("Authentication failed: Client requested an authorization id that is different from username")
        );
        // not UTF-8: read lossily, as Kafka does, so this authzid differs from the user name
        assert_eq!(
            authenticate(b"\xff\0a\0b", lookup),
            rejected("Authentication failed: Client requested an authorization id that is different from username")
        );
        assert!(matches!(
            authenticate(b"\0\xff\0pw", lookup),
            Err(AuthError::InvalidCredentials { .. })
        ));
    }
}
