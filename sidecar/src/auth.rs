//! Who may read `/v1/*` (snapshots, tracebacks, inventories: the sidecar's free text): a
//! client presenting `Authorization: Bearer <token>` whose SHA-256 is the configured one
//! (`--api-token-sha256`, `AGENTLENS_API_TOKEN_SHA256`, written by the webhook; the operator
//! keeps the token in its own Secret, so a pod spec shows only the hash). `/metrics`,
//! `/healthz` and `/readyz` stay open and carry no free text.
//!
//! Without a configured hash, `/v1/*` is open only when the sidecar listens on loopback (`run`
//! on a workstation); otherwise it is refused, never served unauthenticated.

use std::net::SocketAddr;

use sha2::{Digest, Sha256};

/// The access rule of `/v1/*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiAuth {
    /// Anyone who can connect (loopback only, no hash configured).
    Open,
    /// A bearer token whose SHA-256 is this.
    Token([u8; 32]),
    /// Nobody (no hash configured, listening beyond loopback).
    Refuse,
}

/// Why `--api-token-sha256` is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--api-token-sha256 must be 64 hexadecimal digits (the SHA-256 of the token)")]
pub struct BadHash;

impl ApiAuth {
    /// The rule for a server on `listen` with the configured `sha256_hex` (if any).
    pub fn new(sha256_hex: Option<&str>, listen: SocketAddr) -> Result<Self, BadHash> {
        match sha256_hex.map(str::trim).filter(|h| !h.is_empty()) {
            Some(hex) => parse_hex(hex).map(Self::Token).ok_or(BadHash),
            None if listen.ip().is_loopback() => Ok(Self::Open),
            None => Ok(Self::Refuse),
        }
    }

    /// Whether a request with this `Authorization` header value may read `/v1/*`.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        match self {
            Self::Open => true,
            Self::Refuse => false,
            Self::Token(want) => {
                let Some(token) = authorization.and_then(bearer) else {
                    return false;
                };
                let got: [u8; 32] = Sha256::digest(token).into();
                // Constant time: every byte compared whatever the first difference.
                got.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
            }
        }
    }
}

/// The token of a `Bearer <token>` header value.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let scheme = value.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = value[7..].trim_ascii();
    (!token.is_empty()).then_some(token)
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// The SHA-256 of `token`, in lowercase hex: what `--api-token-sha256` takes.
pub fn token_sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_checked_by_their_hash() {
        let any: SocketAddr = "0.0.0.0:9477"
            .parse()
            .unwrap_or(([0, 0, 0, 0], 9477).into());
        let lo: SocketAddr = ([127, 0, 0, 1], 9477).into();
        let hash = token_sha256_hex("s3cret-token");
        let auth = ApiAuth::new(Some(&hash), any).unwrap_or(ApiAuth::Refuse);
        let cases: [(&str, Option<&[u8]>, bool); 7] = [
            ("right token", Some(b"Bearer s3cret-token"), true),
            ("scheme in any case", Some(b"bearer  s3cret-token "), true),
            ("wrong token", Some(b"Bearer s3cret-tokeN"), false),
            (
                "the hash itself",
                Some(format!("Bearer {hash}").leak().as_bytes()),
                false,
            ),
            ("basic auth", Some(b"Basic czNjcmV0LXRva2Vu"), false),
            ("empty bearer", Some(b"Bearer "), false),
            ("no header", None, false),
        ];
        for (name, header, want) in cases {
            assert_eq!(auth.allows(header), want, "{name}");
        }
        assert_eq!(ApiAuth::new(None, lo), Ok(ApiAuth::Open));
        assert_eq!(ApiAuth::new(None, any), Ok(ApiAuth::Refuse));
        assert!(!ApiAuth::Refuse.allows(Some(b"Bearer s3cret-token")));
        assert_eq!(ApiAuth::new(Some("abc"), lo), Err(BadHash));
        assert_eq!(ApiAuth::new(Some(&"g".repeat(64)), lo), Err(BadHash));
    }
}
