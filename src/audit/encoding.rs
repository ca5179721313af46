//! The canonical byte encoding of an audit entry, the input of its hash.
//!
//! The hash must cover every field, and two honest implementations must agree
//! on the bytes, so the encoding is a fixed-order sequence of length-prefixed
//! fields (not JSON, whose key order and whitespace vary, and not a format
//! string, which is ambiguous). Version 1, byte for byte:
//!
//! ```text
//! E = "ssm-audit-entry/v1" 0x00
//!     u64be(sequence)
//!     str(audit_id) str(timestamp) str(user_id) str(action)
//!     str(resource_type) str(resource_id) str(severity) str(outcome)
//!     opt(session_id) str(details) opt(changes) opt(tenant_id)
//!     opt(correlation_id) str(tags) opt(purpose) str(personal)
//!     prev_hash (32 bytes; all zero for sequence 1)
//! str(x) = u32be(byte length of x) || UTF-8 bytes of x
//! opt(x) = 0x00 when absent, else 0x01 || str(x)
//! entry_hash = SHA-256(0x00 || E)      (the RFC 9162 leaf hash of E)
//! ```
//!
//! `details`, `changes`, `tags` and `personal` are canonical JSON
//! ([`canonical_json`]: object keys sorted by their UTF-8 bytes, no
//! whitespace, serde_json's number and string escaping), and the hash covers
//! the exact stored text. `personal` maps each personal field (`user_email`,
//! `ip_address`, `user_agent`, `details.<key>`) to the hex of its salted
//! commitment ([`pii_commitment`]); the values themselves are stored apart so
//! that erasing them leaves every hash intact.

use sha2::{Digest, Sha256};

use super::merkle::{Hash, leaf_hash};

/// Magic prefix naming the encoding version.
pub const ENCODING_TAG: &[u8] = b"ssm-audit-entry/v1\0";

/// Magic prefix of a personal-value commitment.
pub const PII_TAG: &[u8] = b"ssm-audit-pii/v1\0";

/// The prev_hash of the first entry.
pub const GENESIS_PREV: Hash = [0u8; 32];

/// Every hashed field of one entry, borrowed (so verification can hash rows
/// straight out of SQLite without copying).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryView<'a> {
    pub sequence: u64,
    pub audit_id: &'a str,
    pub timestamp: &'a str,
    pub user_id: &'a str,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: &'a str,
    pub severity: &'a str,
    pub outcome: &'a str,
    pub session_id: Option<&'a str>,
    pub details: &'a str,
    pub changes: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    pub tags: &'a str,
    pub purpose: Option<&'a str>,
    pub personal: &'a str,
    pub prev_hash: Hash,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

impl EntryView<'_> {
    /// Appends the canonical encoding E to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(ENCODING_TAG);
        out.extend_from_slice(&self.sequence.to_be_bytes());
        put_str(out, self.audit_id);
        put_str(out, self.timestamp);
        put_str(out, self.user_id);
        put_str(out, self.action);
        put_str(out, self.resource_type);
        put_str(out, self.resource_id);
        put_str(out, self.severity);
        put_str(out, self.outcome);
        put_opt(out, self.session_id);
        put_str(out, self.details);
        put_opt(out, self.changes);
        put_opt(out, self.tenant_id);
        put_opt(out, self.correlation_id);
        put_str(out, self.tags);
        put_opt(out, self.purpose);
        put_str(out, self.personal);
        out.extend_from_slice(&self.prev_hash);
    }

    /// The canonical encoding E.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.encode_into(&mut out);
        out
    }

    /// entry_hash = SHA-256(0x00 || E), using `scratch` as the buffer.
    pub fn hash_with(&self, scratch: &mut Vec<u8>) -> Hash {
        scratch.clear();
        self.encode_into(scratch);
        leaf_hash(scratch)
    }

    /// entry_hash = SHA-256(0x00 || E).
    pub fn hash(&self) -> Hash {
        leaf_hash(&self.encode())
    }
}

/// The commitment to one personal value:
/// SHA-256("ssm-audit-pii/v1" 0x00 || salt || str(field) || str(value_json)).
/// With the 32-byte random salt deleted, the commitment reveals nothing a
/// guesser could confirm (an e-mail address has little entropy).
pub fn pii_commitment(salt: &[u8; 32], field: &str, value_json: &str) -> Hash {
    let mut h = Sha256::new();
    h.update(PII_TAG);
    h.update(salt);
    h.update((field.len() as u32).to_be_bytes());
    h.update(field.as_bytes());
    h.update((value_json.len() as u32).to_be_bytes());
    h.update(value_json.as_bytes());
    h.finalize().into()
}

/// Canonical JSON text: object keys sorted by UTF-8 bytes, no whitespace,
/// serde_json's escaping and number formatting. Independent of whether
/// serde_json keeps insertion order.
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample<'a>(prev: &'a Hash) -> EntryView<'a> {
        EntryView {
            sequence: 7,
            audit_id: "a",
            timestamp: "2026-01-01T00:00:00.000000Z",
            user_id: "u",
            action: "read",
            resource_type: "player",
            resource_id: "23",
            severity: "info",
            outcome: "success",
            session_id: None,
            details: "{}",
            changes: None,
            tenant_id: Some("t"),
            correlation_id: None,
            tags: "[]",
            purpose: None,
            personal: "{}",
            prev_hash: *prev,
        }
    }

    #[test]
    fn encoding_is_length_prefixed_in_the_documented_order() {
        let prev = [9u8; 32];
        let e = sample(&prev).encode();
        assert!(e.starts_with(ENCODING_TAG));
        let rest = &e[ENCODING_TAG.len()..];
        assert_eq!(&rest[..8], &7u64.to_be_bytes());
        assert_eq!(&rest[8..13], &[0, 0, 0, 1, b'a']);
        assert_eq!(&e[e.len() - 32..], &prev);
    }

    #[test]
    fn every_field_changes_the_hash_and_absent_differs_from_empty() {
        let prev = [0u8; 32];
        let base = sample(&prev);
        let h = base.hash();
        let other_prev = [1u8; 32];
        let variants = [
            EntryView {
                sequence: 8,
                ..base
            },
            EntryView {
                audit_id: "b",
                ..base
            },
            EntryView {
                timestamp: "2026-01-01T00:00:00.000001Z",
                ..base
            },
            EntryView {
                user_id: "v",
                ..base
            },
            EntryView {
                action: "update",
                ..base
            },
            EntryView {
                resource_type: "team",
                ..base
            },
            EntryView {
                resource_id: "24",
                ..base
            },
            EntryView {
                severity: "critical",
                ..base
            },
            EntryView {
                outcome: "failure",
                ..base
            },
            EntryView {
                session_id: Some(""),
                ..base
            },
            EntryView {
                details: "{\"a\":1}",
                ..base
            },
            EntryView {
                changes: Some("{}"),
                ..base
            },
            EntryView {
                tenant_id: None,
                ..base
            },
            EntryView {
                correlation_id: Some("c"),
                ..base
            },
            EntryView {
                tags: "[\"x\"]",
                ..base
            },
            EntryView {
                purpose: Some("p"),
                ..base
            },
            EntryView {
                personal: "{\"user_email\":\"00\"}",
                ..base
            },
            EntryView {
                prev_hash: other_prev,
                ..base
            },
        ];
        for v in variants {
            assert_ne!(v.hash(), h, "{v:?}");
        }
        // Moving bytes between adjacent fields changes the hash too.
        let a = EntryView {
            user_id: "ab",
            action: "c",
            ..base
        };
        let b = EntryView {
            user_id: "a",
            action: "bc",
            ..base
        };
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": "é"}], "c": null}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":null,"z":[1,{"x":"é","y":2}]},"b":1}"#
        );
    }

    #[test]
    fn commitments_depend_on_salt_field_and_value() {
        let s1 = [1u8; 32];
        let s2 = [2u8; 32];
        let c = pii_commitment(&s1, "user_email", "\"a@b\"");
        assert_ne!(c, pii_commitment(&s2, "user_email", "\"a@b\""));
        assert_ne!(c, pii_commitment(&s1, "ip_address", "\"a@b\""));
        assert_ne!(c, pii_commitment(&s1, "user_email", "\"a@c\""));
    }
}
