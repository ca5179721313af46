//! Personal values at rest: sealed (encrypted) under a per-subject data key,
//! so that erasing a subject is destroying its keys (crypto-shredding).
//!
//! Why keys and not deleting the values in place: a database moves rows
//! between pages as it rebalances its trees, and the copies it leaves behind
//! in page gaps and free pages are out of reach of `secure_delete`
//! (PostgreSQL keeps dead tuples and rewrites pages the same way). Scrubbing
//! them means rewriting the whole file (VACUUM), whose cost grows with the
//! trail. A value sealed under a key is unreadable once the key is gone,
//! wherever its copies lie; the keys live in a store of their own (a small
//! SQLite file beside the trail, or their own PostgreSQL table) that is small
//! enough to be rewritten whole after every erasure, so no copy of a
//! destroyed key survives in it. Its size grows with the number of distinct
//! subjects (about 150 bytes each), not with the number of entries.
//!
//! A subject is the pair (user_id, e-mail) of an entry: erasing a user_id
//! destroys the keys of all its pairs, erasing an e-mail those of all pairs
//! with that e-mail, so an erasure reaches exactly the entries it names. The
//! e-mail is found through [`email_token`], a hash kept only in the key store
//! (so it is rewritten away with the key).
//!
//! Format, version 1:
//!
//! ```text
//! sealed = nonce (12 random bytes) || ChaCha20-Poly1305(key, nonce, aad, salt (32 bytes) || value_json) || tag
//! aad    = "ssm-audit-sealed/v1" 0x00 || u64be(sequence) || field (UTF-8)
//! email_token = SHA-256("ssm-audit-subject/v1" 0x00 || canonical JSON of the e-mail)
//! ```
//!
//! The associated data binds a sealed value to its entry and field, so a
//! value moved to another entry does not open; the salted commitment in the
//! hashed entry ([`super::encoding::pii_commitment`]) then proves the opened
//! value is the one logged.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

use super::AuditError;
use super::merkle::Hash;

/// A subject's data key.
pub type DataKey = [u8; 32];

const AAD_TAG: &[u8] = b"ssm-audit-sealed/v1\0";
const TOKEN_TAG: &[u8] = b"ssm-audit-subject/v1\0";
const TAG_LEN: usize = 16;

fn aad(sequence: u64, field: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(AAD_TAG.len() + 8 + field.len());
    a.extend_from_slice(AAD_TAG);
    a.extend_from_slice(&sequence.to_be_bytes());
    a.extend_from_slice(field.as_bytes());
    a
}

fn cipher(key: &DataKey) -> Result<LessSafeKey, AuditError> {
    UnboundKey::new(&CHACHA20_POLY1305, key)
        .map(LessSafeKey::new)
        .map_err(|_| AuditError::Internal("cannot use a 32-byte ChaCha20 key".into()))
}

/// Seals the salt and value of personal field `field` of entry `sequence`.
pub fn seal(
    key: &DataKey,
    sequence: u64,
    field: &str,
    salt: &[u8; 32],
    value_json: &str,
) -> Result<Vec<u8>, AuditError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| AuditError::Internal(format!("no randomness: {e}")))?;
    let mut body = Vec::with_capacity(NONCE_LEN + 32 + value_json.len() + TAG_LEN);
    body.extend_from_slice(salt);
    body.extend_from_slice(value_json.as_bytes());
    cipher(key)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(sequence, field)),
            &mut body,
        )
        .map_err(|_| AuditError::Internal("sealing a personal value failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&body);
    Ok(out)
}

/// Opens a sealed value: its salt and canonical JSON, or None when it does
/// not open under `key` for this entry and field (another key, another
/// entry's value, edited bytes).
pub fn open(key: &[u8], sequence: u64, field: &str, sealed: &[u8]) -> Option<([u8; 32], String)> {
    let key: &DataKey = key.try_into().ok()?;
    if sealed.len() < NONCE_LEN + 32 + TAG_LEN {
        return None;
    }
    let nonce = Nonce::try_assume_unique_for_key(&sealed[..NONCE_LEN]).ok()?;
    let mut body = sealed[NONCE_LEN..].to_vec();
    let plain = cipher(key)
        .ok()?
        .open_in_place(nonce, Aad::from(aad(sequence, field)), &mut body)
        .ok()?;
    let salt: [u8; 32] = plain[..32].try_into().ok()?;
    let value = String::from_utf8(plain[32..].to_vec()).ok()?;
    Some((salt, value))
}

/// The lookup token of an e-mail (canonical JSON) in the key store.
pub fn email_token(email_json: &str) -> Hash {
    let mut h = Sha256::new();
    h.update(TOKEN_TAG);
    h.update(email_json.as_bytes());
    h.finalize().into()
}

/// A fresh random data key.
pub fn new_key() -> Result<DataKey, AuditError> {
    super::entry::random_bytes()
}

/// What the store holds for one personal field of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredPersonal<'a> {
    /// `user_email`, `ip_address`, `user_agent` or `details.<key>`.
    pub field: &'a str,
    /// The sealed value; None once erased.
    pub sealed: Option<&'a [u8]>,
    /// The data key it was sealed under; None when erased or destroyed.
    pub key: Option<&'a [u8]>,
    /// Sequence of the erasure entry that erased it.
    pub erased_by: Option<u64>,
}

impl StoredPersonal<'_> {
    /// The value as canonical JSON, when it is there and opens.
    pub fn value(&self, sequence: u64) -> Option<String> {
        open(self.key?, sequence, self.field, self.sealed?).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_for_its_key_entry_and_field() {
        let key = new_key().unwrap();
        let salt = [7u8; 32];
        let s = seal(&key, 5, "user_email", &salt, "\"a@b.c\"").unwrap();
        assert!(!s.windows(5).any(|w| w == b"a@b.c"));
        assert_eq!(
            open(&key, 5, "user_email", &s),
            Some((salt, "\"a@b.c\"".to_string()))
        );
        assert_eq!(open(&key, 6, "user_email", &s), None);
        assert_eq!(open(&key, 5, "ip_address", &s), None);
        assert_eq!(open(&new_key().unwrap(), 5, "user_email", &s), None);
        let mut flipped = s.clone();
        flipped[20] ^= 1;
        assert_eq!(open(&key, 5, "user_email", &flipped), None);
        assert_eq!(open(&key, 5, "user_email", &s[..20]), None);
    }
}
