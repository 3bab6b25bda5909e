//! The bearer token Alertmanager presents: read once at start, compared in constant time, never
//! logged or printed.

use std::fmt;

use http::{HeaderMap, header::AUTHORIZATION};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The expected token. Only its SHA-256 digest is kept: comparing two digests of equal length
/// takes the same time whatever the presented token is, so neither its content nor its length
/// leaks through timing.
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

/// Why a token was refused at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token is empty or only whitespace.
    #[error("the webhook token is empty")]
    Empty,
    /// The token holds characters that cannot travel in an HTTP header.
    #[error("the webhook token holds characters other than visible ASCII")]
    NotVisibleAscii,
}

/// What the `Authorization` header of a request says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The right bearer token.
    Valid,
    /// No `Authorization: Bearer` header.
    Missing,
    /// A bearer token, but not the right one.
    Invalid,
}

impl Token {
    /// The token from a secret as stored (a file or SSM parameter): surrounding whitespace, such
    /// as a trailing newline, is not part of it.
    pub fn new(secret: &str) -> Result<Self, TokenError> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(TokenError::Empty);
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::NotVisibleAscii);
        }
        Ok(Self { digest: Sha256::digest(secret.as_bytes()).into() })
    }

    /// Checks the request's `Authorization: Bearer <token>` header.
    pub fn verify(&self, headers: &HeaderMap) -> Verdict {
        let Some(value) = headers.get(AUTHORIZATION) else { return Verdict::Missing };
        let value = value.as_bytes();
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let Some(presented) = value.get(..7).filter(|s| s.eq_ignore_ascii_case(b"bearer ")).map(|_| &value[7..]) else {
            return Verdict::Missing;
        };
        let digest: [u8; 32] = Sha256::digest(presented.trim_ascii()).into();
        if bool::from(self.digest.ct_eq(&digest)) { Verdict::Valid } else { Verdict::Invalid }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, authorization.parse().unwrap());
        h
    }

    #[test]
    fn only_the_right_bearer_token_is_valid() {
        let token = Token::new("s3cret-token\n").unwrap();
        assert_eq!(token.verify(&headers("Bearer s3cret-token")), Verdict::Valid);
        assert_eq!(token.verify(&headers("bearer s3cret-token")), Verdict::Valid);
        assert_eq!(token.verify(&headers("Bearer s3cret-toke")), Verdict::Invalid);
        assert_eq!(token.verify(&headers("Bearer s3cret-token2")), Verdict::Invalid);
        assert_eq!(token.verify(&headers("Bearer ")), Verdict::Invalid);
        assert_eq!(token.verify(&headers("Basic czNjcmV0LXRva2Vu")), Verdict::Missing);
        assert_eq!(token.verify(&headers("s3cret-token")), Verdict::Missing);
        assert_eq!(token.verify(&HeaderMap::new()), Verdict::Missing);
    }

    #[test]
    fn empty_or_unprintable_tokens_are_refused_at_start() {
        assert_eq!(Token::new("").unwrap_err(), TokenError::Empty);
        assert_eq!(Token::new(" \n\t").unwrap_err(), TokenError::Empty);
        assert_eq!(Token::new("two words").unwrap_err(), TokenError::NotVisibleAscii);
        assert_eq!(Token::new("caf\u{e9}").unwrap_err(), TokenError::NotVisibleAscii);
    }

    #[test]
    fn the_token_never_prints() {
        let token = Token::new("s3cret-token").unwrap();
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
    }
}
