//! Users, user auth tokens and call tokens: the seed's token flow.
//!
//! An admin call creates a user auth token (an opaque random string kept in server memory)
//! for a user id; `generateToken(sessionId, authToken)` turns it into a call token, a
//! standard HS256 JWT bound to one session (`sid`) and one user (`sub`) with an expiry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use switchboard_core::model::{CallsException, ErrorCode};

/// The shortest secret accepted: HS256 wants a key of at least its 32-byte output, but 16
/// bytes of real entropy already defeat guessing; anything shorter is surely a mistake.
pub const MIN_SECRET_LEN: usize = 16;

/// Why a secret could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The secret was shorter than [`MIN_SECRET_LEN`].
    #[error("the JWT secret from {source_name} is {len} bytes long; at least {MIN_SECRET_LEN} are needed")]
    TooShort {
        /// Where the secret came from (`SWITCHBOARD_SECRET`, a file path).
        source_name: String,
        /// Its length.
        len: usize,
    },
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(getrandom::Error),
}

/// The key call tokens are signed with. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl Secret {
    /// A secret from configured bytes; `source_name` says where they came from, for errors.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>, source_name: &str) -> Result<Self, SecretError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort { source_name: source_name.to_owned(), len: bytes.len() });
        }
        Ok(Self(bytes))
    }

    /// A fresh random 32-byte secret. Tokens signed with it die with the process.
    pub fn generate() -> Result<Self, SecretError> {
        let mut bytes = vec![0u8; 32];
        getrandom::fill(&mut bytes).map_err(SecretError::Random)?;
        Ok(Self(bytes))
    }

    /// The raw key bytes (for tests that forge or craft tokens with the right key).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The claims of a call token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallClaims {
    /// The user id.
    pub sub: String,
    /// The session the token is bound to.
    pub sid: String,
    /// The user's display name.
    #[serde(default)]
    pub name: String,
    /// The user's avatar URL.
    #[serde(default)]
    pub avatar: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: u64,
}

/// A user the admin created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user id.
    pub uid: String,
    /// The display name.
    pub name: String,
    /// The avatar URL.
    pub avatar: String,
}

/// Signs and checks call tokens.
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("algorithm", &"HS256")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer signing with `secret`; its tokens live for `ttl`.
    pub fn new(secret: &Secret, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // The issuer and the verifier are the same process, so there is no clock skew to
        // forgive: a token is expired the second its `exp` passes.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            ttl,
        }
    }

    /// How long the tokens this issuer signs stay valid.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A call token for `user` in `session_id`, valid from now for the issuer's ttl.
    pub fn issue(&self, user: &UserRecord, session_id: &str) -> Result<String, CallsException> {
        let iat = jsonwebtoken::get_current_timestamp();
        let claims = CallClaims {
            sub: user.uid.clone(),
            sid: session_id.to_owned(),
            name: user.name.clone(),
            avatar: user.avatar.clone(),
            iat,
            exp: iat.saturating_add(self.ttl.as_secs().max(1)),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|err| {
            CallsException::new(ErrorCode::Error, format!("could not sign the call token: {err}"))
        })
    }

    /// The claims of a token this issuer signed and that has not expired.
    ///
    /// `TOKEN_EXPIRED` for a well-signed token past its `exp`; `TOKEN_INVALID` for anything
    /// else (bad signature, another algorithm, garbage, missing claims). The signature is
    /// checked before the expiry, so a forged expired token reads as invalid.
    pub fn verify(&self, token: &str) -> Result<CallClaims, CallsException> {
        if token.is_empty() {
            return Err(CallsException::new(ErrorCode::TokenInvalid, "no call token was given"));
        }
        match jsonwebtoken::decode::<CallClaims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(err) => Err(match err.kind() {
                ErrorKind::ExpiredSignature => {
                    CallsException::new(ErrorCode::TokenExpired, "the call token has expired")
                }
                _ => CallsException::new(
                    ErrorCode::TokenInvalid,
                    format!("the call token is not valid: {err}"),
                ),
            }),
        }
    }
}

/// The users the admin created, by user auth token. Kept in memory only: a restart
/// forgets them, like the random secret forgets call tokens.
#[derive(Debug, Default)]
pub struct UserDirectory {
    by_auth_token: Mutex<HashMap<String, UserRecord>>,
}

impl UserDirectory {
    /// Records `user` under a fresh auth token and returns the token. Creating the same
    /// user id again returns another token; earlier ones stay valid and all of them carry
    /// the newest name and avatar.
    pub fn create(&self, user: UserRecord) -> Result<String, CallsException> {
        let token = random_token("sbat_")?;
        let mut map = self.by_auth_token.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for existing in map.values_mut().filter(|u| u.uid == user.uid) {
            existing.clone_from(&user);
        }
        map.insert(token.clone(), user);
        Ok(token)
    }

    /// The user an auth token belongs to.
    pub fn lookup(&self, auth_token: &str) -> Option<UserRecord> {
        let map = self.by_auth_token.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(auth_token).cloned()
    }
}

/// `prefix` followed by 32 random bytes in hex.
fn random_token(prefix: &str) -> Result<String, CallsException> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| {
        CallsException::new(ErrorCode::Error, format!("the system random number generator failed: {err}"))
    })?;
    let mut out = String::with_capacity(prefix.len() + 64);
    out.push_str(prefix);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    Ok(out)
}

/// Compares two secrets in time that depends only on their lengths, so that the API key
/// cannot be guessed byte by byte from response times.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(&Secret::generate().expect("random"), Duration::from_secs(60))
    }

    fn alice() -> UserRecord {
        UserRecord { uid: "alice".into(), name: "Alice".into(), avatar: String::new() }
    }

    #[test]
    fn issued_tokens_verify_with_their_claims() {
        let issuer = issuer();
        let token = issuer.issue(&alice(), "s1").expect("signs");
        let claims = issuer.verify(&token).expect("verifies");
        assert_eq!(
            (claims.sub.as_str(), claims.sid.as_str(), claims.name.as_str()),
            ("alice", "s1", "Alice")
        );
        assert_eq!(claims.exp - claims.iat, 60);
    }

    #[test]
    fn another_secret_makes_the_token_invalid() {
        let token = issuer().issue(&alice(), "s1").expect("signs");
        let err = issuer().verify(&token).expect_err("other key");
        assert_eq!(err.code, ErrorCode::TokenInvalid);
        assert_eq!(issuer().verify("not.a.jwt").expect_err("garbage").code, ErrorCode::TokenInvalid);
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(
            Secret::from_bytes(b"short".to_vec(), "test"),
            Err(SecretError::TooShort { len: 5, .. })
        ));
    }

    #[test]
    fn recreating_a_user_keeps_old_tokens_with_the_new_name() {
        let dir = UserDirectory::default();
        let first = dir.create(alice()).expect("token");
        let second = dir.create(UserRecord { name: "Alice B".into(), ..alice() }).expect("token");
        assert_ne!(first, second);
        assert_eq!(dir.lookup(&first).map(|u| u.name), Some("Alice B".into()));
        assert_eq!(dir.lookup("nope"), None);
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"key", b"key"));
        assert!(!constant_time_eq(b"key", b"kez"));
        assert!(!constant_time_eq(b"key", b"keys"));
    }
}
