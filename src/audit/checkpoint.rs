//! Signed checkpoints: the log's tree head in the C2SP signed-note format.
//!
//! A checkpoint (<https://c2sp.org/tlog-checkpoint>) is a short text an
//! auditor can keep anywhere; a later `verify_chain` against it detects a log
//! that was truncated, rolled back to an older copy, or rewritten, because
//! none of those can reproduce the signed root for the signed size. The
//! signature is Ed25519 in the signed-note format (<https://c2sp.org/signed-note>),
//! so standard tooling (e.g. Go's `golang.org/x/mod/sumdb/note` with the
//! verifier key we print) can check it too:
//!
//! ```text
//! <origin>\n<tree size>\n<base64 root hash>\ntimestamp <RFC 3339>\n
//! \n
//! — <key name> <base64(4-byte key id || 64-byte signature)>\n
//! ```
//!
//! The key id is the first 4 bytes of SHA-256(key name || "\n" || 0x01 ||
//! public key). The signing key is a 32-byte seed in the data dir, created
//! with mode 0600 on first start; several processes on one data dir share it
//! (creation is atomic, the first one wins).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::AuditError;
use super::merkle::{Hash, to_hex};

/// File name of the signing key inside the data dir.
pub const KEY_FILE: &str = "audit-checkpoint.ed25519";

/// The signed-note algorithm byte of Ed25519.
const ALG_ED25519: u8 = 0x01;

/// The log's checkpoint signing key.
#[derive(Debug)]
pub struct CheckpointKey {
    signing: SigningKey,
    name: String,
    key_id: [u8; 4],
    path: PathBuf,
}

/// The fields of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub tree_size: u64,
    pub root_hash: Hash,
    pub timestamp: Option<String>,
}

impl CheckpointKey {
    /// Loads the key from `data_dir`, creating it (mode 0600) on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, AuditError> {
        let path = data_dir.join(KEY_FILE);
        let err = |what: &str, e: std::io::Error| {
            AuditError::Internal(format!("checkpoint key {}: {what}: {e}", path.display()))
        };
        if !path.exists() {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed)
                .map_err(|e| AuditError::Internal(format!("no randomness for the key: {e}")))?;
            let tmp = data_dir.join(format!(".{KEY_FILE}.{}.tmp", std::process::id()));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| err("cannot create", e))?;
            file.write_all(&seed).map_err(|e| err("cannot write", e))?;
            file.sync_all().map_err(|e| err("cannot sync", e))?;
            drop(file);
            // hard_link fails if another process created the key first: use theirs.
            match std::fs::hard_link(&tmp, &path) {
                Ok(()) => {
                    // Make the new name durable too: a key lost in a crash
                    // would orphan every checkpoint signed with it.
                    if let Err(e) = std::fs::File::open(data_dir).and_then(|d| d.sync_all()) {
                        tracing::warn!("cannot sync the data dir after creating the key: {e}");
                    }
                    tracing::info!(path = %path.display(), "created the audit checkpoint key");
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(err("cannot install", e));
                }
            }
            let _ = std::fs::remove_file(&tmp);
        }
        let meta = std::fs::metadata(&path).map_err(|e| err("cannot stat", e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "checkpoint key is readable by others; chmod 600 it");
        }
        let bytes = std::fs::read(&path).map_err(|e| err("cannot read", e))?;
        let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            AuditError::Internal(format!(
                "checkpoint key {} holds {} bytes, expected a 32-byte Ed25519 seed",
                path.display(),
                bytes.len()
            ))
        })?;
        Ok(Self::from_seed(&seed, path))
    }

    /// The key of a 32-byte Ed25519 seed kept at `path` (a file, or a
    /// description of where a database keeps it).
    pub fn from_seed(seed: &[u8; 32], path: PathBuf) -> Self {
        let signing = SigningKey::from_bytes(seed);
        let public = signing.verifying_key().to_bytes();
        let fingerprint = to_hex(&Sha256::digest(public)[..8]);
        let name = format!("smart-systems-mcp/audit/{fingerprint}");
        let key_id = key_id(&name, &public);
        CheckpointKey {
            signing,
            name,
            key_id,
            path,
        }
    }

    /// The key name, also used as the checkpoint origin (unique per log key).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the key file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The signed-note verifier key: `<name>+<key id hex>+<base64(0x01 || public key)>`.
    pub fn verifier_key(&self) -> String {
        let mut k = vec![ALG_ED25519];
        k.extend_from_slice(&self.public_key());
        format!("{}+{}+{}", self.name, to_hex(&self.key_id), B64.encode(k))
    }

    /// The signed checkpoint note for a tree head.
    pub fn sign(&self, tree_size: u64, root: &Hash, timestamp: &str) -> String {
        let body = format!(
            "{}\n{}\n{}\ntimestamp {}\n",
            self.name,
            tree_size,
            B64.encode(root),
            timestamp
        );
        let sig = self.signing.sign(body.as_bytes());
        let mut blob = self.key_id.to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        format!("{body}\n\u{2014} {} {}\n", self.name, B64.encode(blob))
    }

    /// Parses a checkpoint note and checks that this log's key signed it.
    pub fn verify(&self, note: &str) -> Result<Checkpoint, AuditError> {
        let bad = |m: &str| AuditError::invalid("checkpoint", m.to_string());
        let split = note.find("\n\n").ok_or_else(|| {
            bad("not a signed note: no blank line between the text and its signatures")
        })?;
        let body = &note[..split + 1];
        let mut signed = false;
        for line in note[split + 2..].lines().filter(|l| !l.trim().is_empty()) {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                return Err(bad(
                    "signature lines must start with an em dash (U+2014) and a space",
                ));
            };
            let Some((name, sig)) = rest.rsplit_once(' ') else {
                return Err(bad(
                    "a signature line must be `— <key name> <base64 signature>`",
                ));
            };
            if name != self.name {
                continue;
            }
            let blob = B64
                .decode(sig.trim())
                .map_err(|_| bad("signature is not valid base64"))?;
            if blob.len() != 68 || blob[..4] != self.key_id {
                continue;
            }
            let sig = Signature::from_slice(&blob[4..]).map_err(|_| bad("malformed signature"))?;
            let vk: VerifyingKey = self.signing.verifying_key();
            if vk.verify(body.as_bytes(), &sig).is_ok() {
                signed = true;
            } else {
                return Err(bad(
                    "the signature by this log's key does not verify: the checkpoint text was altered",
                ));
            }
        }
        if !signed {
            return Err(AuditError::invalid(
                "checkpoint",
                format!("carries no signature by this log's key `{}`", self.name),
            ));
        }
        let mut lines = body.lines();
        let origin = lines.next().unwrap_or_default().to_string();
        if origin != self.name {
            return Err(bad("its origin line names another log"));
        }
        let tree_size = lines
            .next()
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or_else(|| bad("second line must be the tree size in decimal"))?;
        let root: Hash = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("third line must be the base64 root hash (32 bytes)"))?;
        let timestamp = lines
            .find_map(|l| l.strip_prefix("timestamp "))
            .map(str::to_string);
        Ok(Checkpoint {
            origin,
            tree_size,
            root_hash: root,
            timestamp,
        })
    }
}

/// The signed-note key id of an Ed25519 key.
fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_0600_once_and_reloaded() {
        let tmp = tempfile::tempdir().unwrap();
        let k1 = CheckpointKey::load_or_create(tmp.path()).unwrap();
        let mode = std::fs::metadata(k1.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let k2 = CheckpointKey::load_or_create(tmp.path()).unwrap();
        assert_eq!(k1.public_key(), k2.public_key());
        assert!(k1.verifier_key().starts_with(&format!("{}+", k1.name())));
    }

    #[test]
    fn signed_note_round_trips_and_any_edit_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let k = CheckpointKey::load_or_create(tmp.path()).unwrap();
        let note = k.sign(42, &[7u8; 32], "2026-11-26T00:00:00Z");
        let cp = k.verify(&note).unwrap();
        assert_eq!((cp.tree_size, cp.root_hash), (42, [7u8; 32]));
        assert_eq!(cp.timestamp.as_deref(), Some("2026-11-26T00:00:00Z"));
        let edited = note.replacen("\n42\n", "\n41\n", 1);
        assert!(
            k.verify(&edited)
                .unwrap_err()
                .to_string()
                .contains("altered")
        );
        let other = tempfile::tempdir().unwrap();
        let k2 = CheckpointKey::load_or_create(other.path()).unwrap();
        assert!(k2.verify(&note).is_err());
        assert!(k.verify("hello").is_err());
    }
}
