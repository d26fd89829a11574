//! Tokens: 256 random bits each, shown once; only their SHA-256 is kept, in `tokens.json` beside
//! the data directory, never in the log.
//!
//! A token reads `rnt1.<id>.<secret>`: the id (64 random bits, hex) names it in the log's
//! `TokenIssued` and in the file; the secret (256 random bits, hex) is what proves it. Whether a
//! token works is the log's to say (its principal is live and this is its current token, not
//! expired); the file only answers "does this secret belong to this id".

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use rand::RngCore as _;
use readnet_domain::{PrincipalName, TokenId};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

const PREFIX: &str = "rnt1";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// A token just made: its id, and the whole token to show once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub id: TokenId,
    pub token: String,
    hash: [u8; 32],
}

impl NewToken {
    /// A fresh token from the operating system's random source.
    pub fn generate() -> Self {
        let mut id = [0u8; ID_BYTES];
        let mut secret = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut id);
        rand::rng().fill_bytes(&mut secret);
        let id = hex::encode(id);
        let secret = hex::encode(secret);
        Self {
            hash: hash(&secret),
            token: format!("{PREFIX}.{id}.{secret}"),
            id: id.into(),
        }
    }
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The id and secret of a token's text, if it has a token's shape.
fn parse(token: &str) -> Option<(&str, &str)> {
    let mut parts = token.split('.');
    let (prefix, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let shaped = prefix == PREFIX
        && parts.next().is_none()
        && id.len() == 2 * ID_BYTES
        && secret.len() == 2 * SECRET_BYTES
        && id
            .bytes()
            .chain(secret.bytes())
            .all(|b| b.is_ascii_hexdigit());
    shaped.then_some((id, secret))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    principal: String,
    sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    version: u32,
    tokens: BTreeMap<String, Entry>,
}

/// Why the token file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("token file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("token file {path} is not a readnet token file: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The token hashes, in memory and in their file.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    tokens: RwLock<BTreeMap<String, (PrincipalName, [u8; 32])>>,
    /// Held while the file is rewritten, so that changes do not race; requests keep verifying
    /// against the map meanwhile.
    writer: std::sync::Mutex<()>,
}

impl TokenStore {
    /// Opens (or starts) the token file at `path`.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, TokenFileError> {
        let path = path.into();
        let file: TokenFile = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| TokenFileError::Format {
                    path: path.clone(),
                    source,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TokenFile::default(),
            Err(source) => return Err(TokenFileError::Io { path, source }),
        };
        let mut tokens = BTreeMap::new();
        for (id, entry) in file.tokens {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(&entry.sha256, &mut hash).map_err(|e| TokenFileError::Format {
                path: path.clone(),
                source: serde::de::Error::custom(format!("token {id}: sha256: {e}")),
            })?;
            tokens.insert(id, (PrincipalName::from(entry.principal), hash));
        }
        Ok(Self {
            path,
            tokens: RwLock::new(tokens),
            writer: std::sync::Mutex::new(()),
        })
    }

    /// The principal a token's secret was issued to, if the token is one of ours. Whether it
    /// still works is for the log to say.
    pub fn verify(&self, token: &str) -> Option<(TokenId, PrincipalName)> {
        let (id, secret) = parse(token)?;
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        let (principal, expected) = tokens.get(id)?;
        bool::from(hash(secret).ct_eq(expected)).then(|| (id.into(), principal.clone()))
    }

    /// Keeps a new token's hash, durably, before the event that issues it is recorded.
    pub fn insert(
        &self,
        principal: &PrincipalName,
        token: &NewToken,
    ) -> Result<(), TokenFileError> {
        self.change(|tokens| {
            tokens.insert(token.id.to_string(), (principal.clone(), token.hash));
        })
    }

    /// Forgets one token (its event was not recorded).
    pub fn remove(&self, id: &TokenId) -> Result<(), TokenFileError> {
        self.change(|tokens| {
            tokens.remove(id.as_str());
        })
    }

    /// Applies `edit` and writes the file whole: a temporary file, synced, renamed over the
    /// old one, the directory synced.
    fn change(
        &self,
        edit: impl FnOnce(&mut BTreeMap<String, (PrincipalName, [u8; 32])>),
    ) -> Result<(), TokenFileError> {
        let _writing = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = self
            .tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        edit(&mut next);
        let file = TokenFile {
            version: 1,
            tokens: next
                .iter()
                .map(|(id, (principal, hash))| {
                    (
                        id.clone(),
                        Entry {
                            principal: principal.to_string(),
                            sha256: hex::encode(hash),
                        },
                    )
                })
                .collect(),
        };
        let bytes = serde_json::to_vec_pretty(&file).expect("a token file serialises");
        write_private(&self.path, &bytes).map_err(|source| TokenFileError::Io {
            path: self.path.clone(),
            source,
        })?;
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically, readable by the owner only (0600 on Unix).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir, path)?;
    tmp.1.write_all(bytes)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, path)?;
    std::fs::File::open(dir)?.sync_all()
}

fn tempfile_in(dir: &Path, path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    Ok((tmp.clone(), options.open(&tmp)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_against_its_hash_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path().join("tokens.json")).unwrap();
        let token = NewToken::generate();
        store.insert(&"desk-a".into(), &token).unwrap();
        assert_eq!(
            store.verify(&token.token),
            Some((token.id.clone(), "desk-a".into()))
        );
        let mut forged = token.token.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == '0' { '1' } else { '0' });
        assert_eq!(store.verify(&forged), None);
        assert_eq!(store.verify("rnt1.short.secret"), None);
        assert_eq!(store.verify(""), None);
    }

    #[test]
    fn the_file_keeps_hashes_only_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let store = TokenStore::open(&path).unwrap();
        let (a, b) = (NewToken::generate(), NewToken::generate());
        store.insert(&"admin".into(), &a).unwrap();
        store.insert(&"admin".into(), &b).unwrap();
        store.remove(&a.id).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for token in [&a, &b] {
            let secret = token.token.rsplit('.').next().unwrap();
            assert!(!text.contains(secret), "the file holds a secret");
        }
        let reopened = TokenStore::open(&path).unwrap();
        assert_eq!(reopened.verify(&a.token), None);
        assert_eq!(
            reopened.verify(&b.token).map(|(_, p)| p),
            Some("admin".into())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_damaged_file_is_an_error_not_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        std::fs::write(&path, b"{\"version\":1,\"tokens\":{\"x\":").unwrap();
        assert!(matches!(
            TokenStore::open(&path),
            Err(TokenFileError::Format { .. })
        ));
    }
}
