//! JWT access tokens from an OAuth authorization server (`--oauth-issuer`,
//! `--oauth-audience`, `--oauth-jwks`): the signature is checked with the
//! issuer's key named by the token's `kid`, in that key's algorithm only
//! (asymmetric: RS*, PS*, ES256/384, EdDSA; an HMAC key in the set is
//! refused, so a public key can never be used as a shared secret); then
//! `iss`, `aud`, `exp` and `nbf` (60 s leeway). The subject is `sub`; the
//! scopes (`scope`, space-separated, or `scp`, a list) map to toolsets as
//! in [`super::auth`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::auth::Grant;

/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 60;

/// The issuer's settings and its keys (reloaded with the JWKS file).
pub struct JwtVerifier {
    issuer: String,
    audience: String,
    jwks: PathBuf,
    keys: RwLock<HashMap<String, (DecodingKey, Algorithm)>>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scp: Option<Vec<String>>,
}

impl JwtVerifier {
    /// Reads the key set; an error names the file and the key at fault.
    pub fn load(issuer: &str, audience: &str, jwks: &Path) -> Result<Self, String> {
        let keys = read_keys(jwks)?;
        Ok(JwtVerifier {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            jwks: jwks.to_path_buf(),
            keys: RwLock::new(keys),
        })
    }

    /// The issuer, for the protected-resource metadata.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Reads the key set again (key rotation); on error the old keys stay.
    pub fn reload(&self) -> Result<usize, String> {
        let keys = read_keys(&self.jwks)?;
        let n = keys.len();
        if let Ok(mut k) = self.keys.write() {
            *k = keys;
        }
        Ok(n)
    }

    /// Whether `token` looks like a JWT (three dot-separated parts).
    pub fn looks_like_jwt(token: &str) -> bool {
        token.split('.').count() == 3
    }

    /// The grant of a valid token; the error says why it is not valid
    /// (for the log and `error_description`, never the token itself).
    pub fn check(&self, token: &str) -> Result<Grant, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("malformed: {e}"))?;
        let kid = header.kid.ok_or("no key id (kid) in the header")?;
        let keys = self.keys.read().map_err(|_| "key set unavailable")?;
        let (key, alg) = keys
            .get(&kid)
            .ok_or_else(|| format!("unknown key id {}", crate::quote::quote(&kid)))?;
        let mut validation = Validation::new(*alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| format!("{e}"))?;
        let claims = data.claims;
        if claims.sub.trim().is_empty() || claims.sub.len() > 200 {
            return Err("sub: expected 1 to 200 characters".into());
        }
        let scopes: Vec<String> = match (claims.scope, claims.scp) {
            (Some(s), _) => s.split_whitespace().map(String::from).collect(),
            (None, Some(list)) => list,
            (None, None) => Vec::new(),
        };
        Ok(Grant::from_scopes(
            &claims.sub,
            scopes.iter().map(String::as_str),
        ))
    }
}

fn read_keys(path: &Path) -> Result<HashMap<String, (DecodingKey, Algorithm)>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("--oauth-jwks {shown}: {e}"))?;
    let set: JwkSet = serde_json::from_str(&text)
        .map_err(|e| format!("--oauth-jwks {shown}: not a JWK set ({{\"keys\": [...]}}): {e}"))?;
    let mut keys = HashMap::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        let at = format!("--oauth-jwks {shown}: keys[{i}]");
        let kid = jwk
            .common
            .key_id
            .clone()
            .ok_or_else(|| format!("{at}: no kid (tokens name their key by kid)"))?;
        let alg = algorithm_of(jwk).map_err(|e| format!("{at}: {e}"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("{at}: {e}"))?;
        keys.insert(kid, (key, alg));
    }
    if keys.is_empty() {
        return Err(format!("--oauth-jwks {shown}: the set has no key"));
    }
    Ok(keys)
}

/// The one algorithm a key verifies: its `alg`, else the usual one for its
/// type. Symmetric keys are refused.
fn algorithm_of(jwk: &Jwk) -> Result<Algorithm, String> {
    let named = match &jwk.common.key_algorithm {
        Some(a) => Some(
            a.to_string()
                .parse::<Algorithm>()
                .map_err(|_| format!("alg {a} cannot verify a signature"))?,
        ),
        None => None,
    };
    let usual = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            jsonwebtoken::jwk::EllipticCurve::P256 => Algorithm::ES256,
            jsonwebtoken::jwk::EllipticCurve::P384 => Algorithm::ES384,
            _ => return Err("EC curve not supported (P-256 or P-384)".into()),
        },
        AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
        AlgorithmParameters::OctetKey(_) => {
            return Err("symmetric (oct) keys are refused: use the issuer's public keys".into());
        }
    };
    let alg = named.unwrap_or(usual);
    if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err("HMAC algorithms are refused: use the issuer's public keys".into());
    }
    Ok(alg)
}
