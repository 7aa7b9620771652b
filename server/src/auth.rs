//! Who may do what: Quire's access tokens.
//!
//! A token is an HS256 JWT signed with `--auth-secret`, naming a document (an exact id, or a
//! prefix ending in `*`), an access level and an expiry. It is checked before a client receives a
//! single byte of a document: WebSocket clients pass it as `?token=` (y-websocket's `params`),
//! HTTP clients as `Authorization: Bearer`. Missing, malformed or expired tokens are 401; a token
//! for another document, or with too little access, is 403.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// What a token allows, weakest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum AccessLevel {
    /// Receive the document and live updates, share awareness; never change it.
    Read,
    /// Read and edit.
    Write,
    /// Edit, and delete the document.
    Admin,
}

/// The claims of a Quire token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The document: an exact id, or a prefix ending in `*` (`*` alone: every document).
    pub doc: String,
    /// What the bearer may do.
    pub access: AccessLevel,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: u64,
}

impl Claims {
    /// Whether the token names document `id`.
    pub fn covers(&self, id: &str) -> bool {
        match self.doc.strip_suffix('*') {
            Some(prefix) => id.starts_with(prefix),
            None => self.doc == id,
        }
    }
}

/// Why a request was not authorised.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token came with the request.
    #[error("a token is required")]
    Missing,
    /// The token has expired.
    #[error("the token has expired")]
    Expired,
    /// The token is not a valid Quire token (bad encoding, bad signature, missing claims).
    #[error("the token is invalid: {0}")]
    Invalid(#[source] jsonwebtoken::errors::Error),
    /// The token names another document.
    #[error("the token does not grant access to this document")]
    WrongDocument,
    /// The token's access level is too low for the request.
    #[error("the token grants {granted:?} access; this needs {needed:?}")]
    InsufficientAccess {
        /// What the token grants.
        granted: AccessLevel,
        /// What the request needs.
        needed: AccessLevel,
    },
    /// The token could not be signed.
    #[error("cannot sign the token: {0}")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

impl AuthError {
    /// True for the failures that are 401 (who are you?) rather than 403 (not allowed).
    pub fn is_unauthenticated(&self) -> bool {
        matches!(
            self,
            AuthError::Missing | AuthError::Expired | AuthError::Invalid(_)
        )
    }
}

/// Signs and checks tokens with one secret.
#[derive(Clone)]
pub struct Authenticator {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Authenticator { .. }")
    }
}

impl Authenticator {
    /// An authenticator for `secret`.
    pub fn new(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp"]);
        // Expiry is exact: a token valid "for an hour" is not valid a minute later.
        validation.leeway = 0;
        Authenticator {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// A token for `doc` with `access`, valid for `lifetime`.
    pub fn issue(
        &self,
        doc: &str,
        access: AccessLevel,
        lifetime: Duration,
    ) -> Result<String, AuthError> {
        let expiry = SystemTime::now() + lifetime;
        let claims = Claims {
            doc: doc.to_owned(),
            access,
            exp: expiry
                .duration_since(UNIX_EPOCH)
                .map(|since| since.as_secs())
                .unwrap_or(0),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(AuthError::Signing)
    }

    /// The token's claims, if it is genuine and unexpired.
    pub fn verify(&self, token: Option<&str>) -> Result<Claims, AuthError> {
        let token = token
            .filter(|token| !token.is_empty())
            .ok_or(AuthError::Missing)?;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid(error),
            })
    }

    /// The token's access level for document `id`, if it is at least `needed`.
    pub fn authorize(
        &self,
        token: Option<&str>,
        id: &str,
        needed: AccessLevel,
    ) -> Result<AccessLevel, AuthError> {
        let claims = self.verify(token)?;
        if !claims.covers(id) {
            return Err(AuthError::WrongDocument);
        }
        if claims.access < needed {
            return Err(AuthError::InsufficientAccess {
                granted: claims.access,
                needed,
            });
        }
        Ok(claims.access)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_grant_their_document_and_level_only() {
        let authenticator = Authenticator::new("s3cret");
        let token = authenticator
            .issue("team/*", AccessLevel::Write, Duration::from_secs(60))
            .unwrap();
        let token = Some(token.as_str());
        assert_eq!(
            authenticator
                .authorize(token, "team/notes", AccessLevel::Write)
                .unwrap(),
            AccessLevel::Write
        );
        assert!(matches!(
            authenticator.authorize(token, "other", AccessLevel::Read),
            Err(AuthError::WrongDocument)
        ));
        assert!(matches!(
            authenticator.authorize(token, "team/notes", AccessLevel::Admin),
            Err(AuthError::InsufficientAccess { .. })
        ));
        assert!(matches!(
            Authenticator::new("other secret").authorize(token, "team/notes", AccessLevel::Read),
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            authenticator.authorize(None, "team/notes", AccessLevel::Read),
            Err(AuthError::Missing)
        ));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let authenticator = Authenticator::new("s3cret");
        let claims = Claims {
            doc: "notes".to_owned(),
            access: AccessLevel::Admin,
            exp: 1,
        };
        let token =
            jsonwebtoken::encode(&Header::default(), &claims, &authenticator.encoding).unwrap();
        assert!(matches!(
            authenticator.verify(Some(&token)),
            Err(AuthError::Expired)
        ));
    }
}
