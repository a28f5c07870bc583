//! SASL/PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd` in one message.
//!
//! Passwords are checked against the user's SCRAM credentials (either mechanism), so a user
//! created with AlterUserScramCredentials can log in with PLAIN too, and no password is stored.

use sluice_meta::state::ScramCredential;

use crate::scram::{password_matches, ScramMechanism};
use crate::AuthError;

/// Checks one PLAIN message; returns the authenticated user. `lookup` lists the user's
/// credentials with their mechanisms.
pub fn authenticate(
    msg: &[u8],
    lookup: impl FnOnce(&str) -> Vec<(ScramMechanism, ScramCredential)>,
) -> Result<String, AuthError> {
    let malformed = |m: &str| AuthError::Malformed(format!("PLAIN: {m}"));
    let text = std::str::from_utf8(msg).map_err(|_| malformed("not UTF-8"))?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("expected authzid NUL user NUL password"));
    };
    if user.is_empty() {
        return Err(malformed("user name is empty"));
    }
    if password.is_empty() {
        return Err(malformed("password is empty"));
    }
    if !authzid.is_empty() && authzid != user {
        return Err(malformed(
            "requested an authorization id different from the user name",
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
    fn malformed_messages_fail() {
        for m in [
            &b""[..],
            b"alice",
            b"\0alice",
            b"\0\0pw",
            b"\0alice\0",
            b"bob\0alice\0pw",
            b"\0alice\0pw\0x",
            b"\xff\0a\0b",
        ] {
            assert!(
                matches!(authenticate(m, lookup), Err(AuthError::Malformed(_))),
                "{m:?}"
            );
        }
    }
}
