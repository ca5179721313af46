//! Who may call the HTTP endpoint: static bearer tokens (`--auth-tokens`),
//! each stored as the SHA-256 digest of the token with the subject it
//! stands for and the scope it grants.
//!
//! A scope is a set of toolsets plus a read-only flag. As OAuth scope
//! strings (in the protected-resource metadata and in `insufficient_scope`
//! answers) they read `<toolset>:read` and `<toolset>:write`; `write`
//! includes `read`. `server_info` needs no scope.
//!
//! The file (JSON):
//! ```json
//! {"tokens": [
//!   {"subject": "alice", "sha256": "<64 hex digits>", "toolsets": ["events", "audit"], "read_only": false},
//!   {"subject": "dashboards", "sha256": "<64 hex digits>", "read_only": true}
//! ]}
//! ```
//! `toolsets` left out means every toolset. Make a token and its digest with
//! `openssl rand -hex 32` and `printf %s "$TOKEN" | sha256sum`. Only digests
//! are stored, so the file is not a secret worth stealing; a token is looked
//! up by its digest, which leaks nothing about the token by its timing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::audit::merkle::from_hex;
use crate::config::Toolset;

/// What one token may do: the subject it names and its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Who the token stands for (audit entries and metrics name it).
    pub subject: Arc<str>,
    /// Toolsets whose read-only tools it may call; `None`: all.
    pub read: Option<Vec<Toolset>>,
    /// Toolsets whose other tools it may call; `None`: all.
    pub write: Option<Vec<Toolset>>,
}

/// What a tool needs: its toolset (`None` for `server_info`) and whether it
/// only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolScope {
    /// The toolset the tool belongs to; `None` for the system tools.
    pub toolset: Option<Toolset>,
    /// Annotated `readOnlyHint: true`.
    pub read_only: bool,
}

impl ToolScope {
    /// The OAuth scope string a call of this tool needs, e.g. `audit:write`
    /// (`None`: no scope needed).
    pub fn scope_string(self) -> Option<String> {
        let toolset = self.toolset?;
        let access = if self.read_only { "read" } else { "write" };
        Some(format!("{}:{access}", toolset.name()))
    }
}

impl Grant {
    /// Everything (the grant of every request when there are no tokens).
    pub fn everything(subject: &str) -> Grant {
        Grant {
            subject: subject.into(),
            read: None,
            write: None,
        }
    }

    /// The grant of OAuth scope strings (`audit:read`, `events:write`, ...;
    /// others are ignored): `write` includes `read`.
    pub fn from_scopes<'a>(subject: &str, scopes: impl IntoIterator<Item = &'a str>) -> Grant {
        let mut read = Vec::new();
        let mut write = Vec::new();
        for scope in scopes {
            let Some((name, access)) = scope.split_once(':') else {
                continue;
            };
            let Some(toolset) = Toolset::ALL.into_iter().find(|t| t.name() == name) else {
                continue;
            };
            match access {
                "read" => read.push(toolset),
                "write" => {
                    read.push(toolset);
                    write.push(toolset);
                }
                _ => {}
            }
        }
        read.sort();
        read.dedup();
        write.sort();
        write.dedup();
        Grant {
            subject: subject.into(),
            read: Some(read),
            write: Some(write),
        }
    }

    /// Whether this grant may call a tool that needs `scope`.
    pub fn allows(&self, scope: ToolScope) -> bool {
        let Some(toolset) = scope.toolset else {
            return true;
        };
        let sets = if scope.read_only {
            &self.read
        } else {
            &self.write
        };
        sets.as_ref().is_none_or(|sets| sets.contains(&toolset))
    }
}

/// Every scope string there is, for the protected-resource metadata.
pub fn all_scopes() -> Vec<String> {
    Toolset::ALL
        .iter()
        .flat_map(|t| [format!("{}:read", t.name()), format!("{}:write", t.name())])
        .collect()
}

/// Every way a bearer token may be valid here: a static token, or a JWT
/// from the configured issuer.
#[derive(Debug)]
pub struct Authenticator {
    tokens: Option<StaticTokens>,
    jwt: Option<super::jwt::JwtVerifier>,
}

impl Authenticator {
    /// From what `--auth-tokens` and `--oauth-*` loaded; `None` when neither.
    pub fn new(tokens: Option<StaticTokens>, jwt: Option<super::jwt::JwtVerifier>) -> Option<Self> {
        (tokens.is_some() || jwt.is_some()).then_some(Authenticator { tokens, jwt })
    }

    /// The grant of a presented token, or why it is refused.
    pub fn check(&self, token: &str) -> Result<Grant, String> {
        if let Some(grant) = self.tokens.as_ref().and_then(|t| t.check(token)) {
            return Ok(grant);
        }
        match &self.jwt {
            Some(jwt) if super::jwt::JwtVerifier::looks_like_jwt(token) => jwt.check(token),
            _ => Err("unknown or revoked token".into()),
        }
    }

    /// The OAuth issuer, when JWTs are accepted.
    pub fn issuer(&self) -> Option<&str> {
        self.jwt.as_ref().map(|j| j.issuer())
    }

    /// Reads the token file and the key set again (SIGHUP); what failed
    /// keeps its old contents. One line per source for the log.
    pub fn reload(&self) -> Vec<Result<String, String>> {
        let mut out = Vec::new();
        if let Some(t) = &self.tokens {
            out.push(t.reload().map(|n| format!("--auth-tokens: {n} tokens")));
        }
        if let Some(j) = &self.jwt {
            out.push(j.reload().map(|n| format!("--oauth-jwks: {n} keys")));
        }
        out
    }
}

/// The token table, replaced whole on reload.
#[derive(Debug)]
pub struct StaticTokens {
    path: PathBuf,
    table: RwLock<Arc<HashMap<[u8; 32], Grant>>>,
}

impl StaticTokens {
    /// Reads the token file; an error names the file and what is wrong.
    pub fn load(path: &Path) -> Result<Self, String> {
        let table = read_table(path)?;
        Ok(StaticTokens {
            path: path.to_path_buf(),
            table: RwLock::new(Arc::new(table)),
        })
    }

    /// Reads the file again; on error the old table stays in force. Returns
    /// how many tokens are now valid.
    pub fn reload(&self) -> Result<usize, String> {
        let table = read_table(&self.path)?;
        let n = table.len();
        if let Ok(mut t) = self.table.write() {
            *t = Arc::new(table);
        }
        Ok(n)
    }

    /// The grant of a presented token, if it is one of ours.
    pub fn check(&self, token: &str) -> Option<Grant> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let table = self.table.read().ok()?.clone();
        table.get(&digest).cloned()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    tokens: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    subject: String,
    sha256: String,
    #[serde(default)]
    toolsets: Option<Vec<String>>,
    #[serde(default)]
    read_only: bool,
}

fn read_table(path: &Path) -> Result<HashMap<[u8; 32], Grant>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("--auth-tokens {shown}: {e}"))?;
    let file: TokenFile = serde_json::from_str(&text).map_err(|e| {
        format!(
            "--auth-tokens {shown}: {e} (expected {{\"tokens\": [{{\"subject\", \"sha256\", \
             \"toolsets\"?, \"read_only\"?}}]}})"
        )
    })?;
    let mut table = HashMap::new();
    for (i, entry) in file.tokens.into_iter().enumerate() {
        let at = format!("--auth-tokens {shown}: tokens[{i}]");
        let subject = entry.subject.trim();
        if subject.is_empty() || subject.len() > 200 {
            return Err(format!("{at}.subject: expected 1 to 200 characters"));
        }
        let digest = from_hex(entry.sha256.trim()).ok_or_else(|| {
            format!("{at}.sha256: expected 64 hex digits (printf %s \"$TOKEN\" | sha256sum)")
        })?;
        let toolsets = match entry.toolsets {
            None => None,
            Some(names) => {
                let mut sets = Vec::new();
                for name in names {
                    let set = Toolset::ALL
                        .into_iter()
                        .find(|t| t.name() == name.trim())
                        .ok_or_else(|| {
                            format!(
                                "{at}.toolsets: no toolset {}; expected some of events, audit, \
                                 cost, docs, alerting",
                                crate::quote::quote(&name)
                            )
                        })?;
                    sets.push(set);
                }
                Some(sets)
            }
        };
        let write = if entry.read_only {
            Some(Vec::new())
        } else {
            toolsets.clone()
        };
        let grant = Grant {
            subject: subject.into(),
            read: toolsets,
            write,
        };
        if table.insert(digest, grant).is_some() {
            return Err(format!("{at}.sha256: the same digest is listed twice"));
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        use std::io::Write;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn digest(token: &str) -> String {
        crate::audit::merkle::to_hex(&Sha256::digest(token.as_bytes()))
    }

    #[test]
    fn a_token_maps_to_its_grant_and_a_wrong_one_to_none() {
        let f = file(&format!(
            r#"{{"tokens": [{{"subject": "alice", "sha256": "{}", "toolsets": ["audit"], "read_only": true}}]}}"#,
            digest("s3cret")
        ));
        let tokens = StaticTokens::load(f.path()).unwrap();
        let grant = tokens.check("s3cret").unwrap();
        assert_eq!(&*grant.subject, "alice");
        assert_eq!(grant.read, Some(vec![Toolset::Audit]));
        assert_eq!(grant.write, Some(vec![]));
        assert!(tokens.check("s3cret ").is_none());
        assert!(tokens.check("").is_none());
        let erase = ToolScope {
            toolset: Some(Toolset::Audit),
            read_only: false,
        };
        let query = ToolScope {
            toolset: Some(Toolset::Audit),
            read_only: true,
        };
        let publish = ToolScope {
            toolset: Some(Toolset::Events),
            read_only: false,
        };
        assert!(!grant.allows(erase));
        assert!(grant.allows(query));
        assert!(!grant.allows(publish));
        assert_eq!(erase.scope_string().as_deref(), Some("audit:write"));
        assert!(grant.allows(ToolScope {
            toolset: None,
            read_only: true
        }));
    }

    #[test]
    fn scopes_map_to_read_and_write_per_toolset() {
        let grant =
            Grant::from_scopes("s", "audit:write events:read openid bogus:write".split(' '));
        let scope = |toolset, read_only| ToolScope {
            toolset: Some(toolset),
            read_only,
        };
        assert!(grant.allows(scope(Toolset::Audit, false)));
        assert!(grant.allows(scope(Toolset::Audit, true)));
        assert!(grant.allows(scope(Toolset::Events, true)));
        assert!(!grant.allows(scope(Toolset::Events, false)));
        assert!(!grant.allows(scope(Toolset::Cost, true)));
        let none = Grant::from_scopes("s", []);
        assert!(!none.allows(scope(Toolset::Audit, true)));
        assert!(none.allows(ToolScope {
            toolset: None,
            read_only: true
        }));
    }

    #[test]
    fn bad_files_are_refused_naming_the_entry_and_field() {
        let cases = [
            (
                r#"{"tokens": [{"subject": "a", "sha256": "abc"}]}"#,
                "tokens[0].sha256",
            ),
            (
                &format!(
                    r#"{{"tokens": [{{"subject": "a", "sha256": "{}", "toolsets": ["nope"]}}]}}"#,
                    digest("x")
                ),
                "tokens[0].toolsets: no toolset",
            ),
            (
                &format!(
                    r#"{{"tokens": [{{"subject": " ", "sha256": "{}"}}]}}"#,
                    digest("x")
                ),
                "tokens[0].subject",
            ),
            (
                r#"{"tokens": [{"subject": "a"}]}"#,
                "missing field `sha256`",
            ),
            ("not json", "expected {\"tokens\""),
        ];
        for (text, wanted) in cases {
            let f = file(text);
            let err = StaticTokens::load(f.path()).unwrap_err();
            assert!(err.contains(wanted), "{err} should contain {wanted}");
        }
    }

    #[test]
    fn reload_replaces_the_table_and_keeps_it_on_error() {
        let f = file(&format!(
            r#"{{"tokens": [{{"subject": "a", "sha256": "{}"}}]}}"#,
            digest("one")
        ));
        let tokens = StaticTokens::load(f.path()).unwrap();
        std::fs::write(
            f.path(),
            format!(
                r#"{{"tokens": [{{"subject": "b", "sha256": "{}"}}]}}"#,
                digest("two")
            ),
        )
        .unwrap();
        assert_eq!(tokens.reload().unwrap(), 1);
        assert!(tokens.check("one").is_none());
        assert_eq!(&*tokens.check("two").unwrap().subject, "b");
        std::fs::write(f.path(), "{").unwrap();
        assert!(tokens.reload().is_err());
        assert!(tokens.check("two").is_some());
    }
}
