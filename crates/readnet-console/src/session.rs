//! Sessions: a login turns a principal's token into a signed session cookie, HttpOnly,
//! SameSite=Strict (Secure over TLS), that survives a restart of the server (ADR 0020, amended
//! by ADR 0026).
//!
//! The cookie is self-contained: `v1.<payload>.<mac>`, the payload (hex of a small JSON object)
//! naming the principal, the id of the token it logged in with, the session's expiry and a
//! random nonce, and the MAC its HMAC-SHA256 under the console's key (`DIR/console.key`, 32
//! random bytes, mode 0600, created on first use). The token itself is never in the cookie nor
//! kept by the server. On every request the cookie's MAC and expiry are checked, then the
//! principal against the log as every gRPC call's token is: a principal revoked since, or
//! whose token was replaced or has expired, is logged out at once. A logout records the
//! session's nonce until the session would have expired (`DIR/console-logouts.json`, replaced
//! by a synced temporary file), so a copy of a logged-out cookie stays refused across restarts.
//! Each session's CSRF token is derived from its nonce with the same key.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "readnet_session";
/// The login form's CSRF cookie (double submit: the form carries the same value).
pub const LOGIN_COOKIE: &str = "readnet_login";
/// The language cookie (`zh` or `en`).
pub const LANG_COOKIE: &str = "readnet_lang";
/// A session ends this long after its login (a working day), whatever its use.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// At most this many logged-out sessions are remembered; past it the one that expires first is
/// forgotten (it is refused anyway once expired).
pub const MAX_ENDED: usize = 65_536;
/// The key file's name in the data directory.
pub const KEY_FILE: &str = "console.key";
/// The logged-out sessions' file's name in the data directory.
pub const ENDED_FILE: &str = "console-logouts.json";

const KEY_BYTES: usize = 32;
const VERSION: &str = "v1";

type HmacSha256 = Hmac<Sha256>;

/// A logged-in browser, as its cookie says and the MAC vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The principal who logged in.
    pub principal: String,
    /// The id of the token it proved; the session works while that is its current token.
    pub token_id: String,
    /// When the session ends, seconds since the Unix epoch.
    pub expires_at_s: i64,
    /// The per-session CSRF token every form of the session carries.
    pub csrf: String,
    nonce: String,
}

/// What the cookie's payload holds.
#[derive(Serialize, Deserialize)]
struct Claims {
    principal: String,
    token_id: String,
    expires_at_s: i64,
    nonce: String,
}

/// The console's sessions: the key that signs them and the ones logged out early.
pub struct Sessions {
    key: [u8; KEY_BYTES],
    /// Nonce → expiry (seconds) of sessions logged out before they expired.
    ended: Mutex<BTreeMap<String, i64>>,
    /// Where `ended` is kept (none: in memory only, for tests).
    ended_file: Option<PathBuf>,
}

/// Why the sessions' files could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SessionFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Format { path: PathBuf, what: String },
}

/// 32 random bytes as hex: a nonce or the login form's CSRF token.
pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Writes `bytes` to `path` through a synced temporary file renamed into place, readable by
/// the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.partial"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&partial)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&partial, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The key in `path`, made (32 random bytes, mode 0600) if the file does not exist.
fn load_or_create_key(path: &Path) -> Result<[u8; KEY_BYTES], SessionFileError> {
    let io = |source| SessionFileError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::read(path) {
        Ok(bytes) => bytes
            .try_into()
            .map_err(|bytes: Vec<u8>| SessionFileError::Format {
                path: path.to_owned(),
                what: format!(
                    "a console key is {KEY_BYTES} bytes, this file has {}",
                    bytes.len()
                ),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; KEY_BYTES];
            rand::rng().fill_bytes(&mut key);
            write_private(path, &key).map_err(io)?;
            tracing::info!(path = %path.display(), "made the console's session key");
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

impl Sessions {
    /// The sessions of the console serving data directory `dir`: its key (made on first use)
    /// and its logged-out sessions.
    pub fn open(dir: &Path) -> Result<Self, SessionFileError> {
        let key = load_or_create_key(&dir.join(KEY_FILE))?;
        let ended_file = dir.join(ENDED_FILE);
        let ended = match std::fs::read(&ended_file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| SessionFileError::Format {
                path: ended_file.clone(),
                what: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(SessionFileError::Io {
                    path: ended_file,
                    source,
                });
            }
        };
        Ok(Self {
            key,
            ended: Mutex::new(ended),
            ended_file: Some(ended_file),
        })
    }

    /// Sessions under a random key, kept nowhere: a restart ends them (tests).
    pub fn ephemeral() -> Self {
        let mut key = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut key);
        Self {
            key,
            ended: Mutex::new(BTreeMap::new()),
            ended_file: None,
        }
    }

    fn mac(&self, what: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(what);
        mac
    }

    fn csrf(&self, nonce: &str) -> String {
        hex::encode(
            self.mac(format!("csrf:{nonce}").as_bytes())
                .finalize()
                .into_bytes(),
        )
    }

    /// A new session's cookie value for `principal`, who proved token `token_id` at `now_s`
    /// (seconds since the epoch).
    pub fn start(&self, principal: &str, token_id: &str, now_s: i64) -> String {
        let claims = Claims {
            principal: principal.to_owned(),
            token_id: token_id.to_owned(),
            expires_at_s: now_s.saturating_add(SESSION_LIFETIME.as_secs() as i64),
            nonce: random_id(),
        };
        let payload = hex::encode(serde_json::to_vec(&claims).expect("claims serialise"));
        let signed = format!("{VERSION}.{payload}");
        let mac = hex::encode(self.mac(signed.as_bytes()).finalize().into_bytes());
        format!("{signed}.{mac}")
    }

    /// The session a cookie value carries at `now_s`, if its MAC is this console's, it has not
    /// expired and it was not logged out. Whether its principal may still act is the log's to
    /// say, on each request.
    pub fn get(&self, cookie: &str, now_s: i64) -> Option<Session> {
        let (signed, mac) = cookie.rsplit_once('.')?;
        let (version, payload) = signed.split_once('.')?;
        if version != VERSION {
            return None;
        }
        let mac = hex::decode(mac).ok()?;
        // Constant time: a forger learns nothing from how long the refusal took.
        self.mac(signed.as_bytes()).verify_slice(&mac).ok()?;
        let claims: Claims = serde_json::from_slice(&hex::decode(payload).ok()?).ok()?;
        if claims.expires_at_s <= now_s {
            return None;
        }
        if self
            .ended
            .lock()
            .expect("sessions lock")
            .contains_key(&claims.nonce)
        {
            return None;
        }
        Some(Session {
            csrf: self.csrf(&claims.nonce),
            principal: claims.principal,
            token_id: claims.token_id,
            expires_at_s: claims.expires_at_s,
            nonce: claims.nonce,
        })
    }

    /// Logs `session` out for good: its cookie is refused from now on, across restarts.
    pub fn end(&self, session: &Session, now_s: i64) -> Result<(), SessionFileError> {
        let mut ended = self.ended.lock().expect("sessions lock");
        ended.retain(|_, expires| *expires > now_s);
        if ended.len() >= MAX_ENDED
            && let Some(first) = ended
                .iter()
                .min_by_key(|(_, expires)| **expires)
                .map(|(nonce, _)| nonce.clone())
        {
            ended.remove(&first);
        }
        ended.insert(session.nonce.clone(), session.expires_at_s);
        if let Some(path) = &self.ended_file {
            let bytes = serde_json::to_vec(&*ended).expect("a map serialises");
            write_private(path, &bytes).map_err(|source| SessionFileError::Io {
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// Compares two secrets in constant time.
pub fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_session_cookie_carries_its_principal_until_it_expires_or_is_ended() {
        let sessions = Sessions::ephemeral();
        let cookie = sessions.start("desk-jn", "0123456789abcdef", NOW);
        let session = sessions.get(&cookie, NOW + 60).expect("live");
        assert_eq!(session.principal, "desk-jn");
        assert_eq!(session.token_id, "0123456789abcdef");
        assert_eq!(session.csrf.len(), 64);
        let lifetime = SESSION_LIFETIME.as_secs() as i64;
        assert!(sessions.get(&cookie, NOW + lifetime).is_none(), "expired");
        sessions.end(&session, NOW + 60).unwrap();
        assert!(sessions.get(&cookie, NOW + 61).is_none(), "logged out");
    }

    #[test]
    fn an_altered_or_foreign_cookie_is_refused() {
        let sessions = Sessions::ephemeral();
        let cookie = sessions.start("desk-jn", "0123456789abcdef", NOW);
        // Another console's key signed it.
        assert!(Sessions::ephemeral().get(&cookie, NOW).is_none());
        // The payload names another principal, the MAC kept.
        let (_, payload, mac) = {
            let mut parts = cookie.split('.');
            (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            )
        };
        let claims = String::from_utf8(hex::decode(payload).unwrap()).unwrap();
        let forged = hex::encode(claims.replace("desk-jn", "admin").as_bytes());
        assert!(sessions.get(&format!("v1.{forged}.{mac}"), NOW).is_none());
        // One bit of the MAC flipped; garbage; an empty value.
        let mut flipped = cookie.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert!(
            sessions
                .get(&String::from_utf8(flipped).unwrap(), NOW)
                .is_none()
        );
        assert!(sessions.get("v1.zz.zz", NOW).is_none());
        assert!(sessions.get("", NOW).is_none());
        assert!(sessions.get(&cookie, NOW).is_some());
    }

    #[test]
    fn sessions_and_logouts_survive_reopening_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let first = Sessions::open(dir.path()).unwrap();
        let kept = first.start("desk-jn", "0123456789abcdef", NOW);
        let ended = first.start("desk-jn", "0123456789abcdef", NOW);
        first.end(&first.get(&ended, NOW).unwrap(), NOW).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "the key is the owner's only");
        }
        let again = Sessions::open(dir.path()).unwrap();
        assert_eq!(
            again.get(&kept, NOW).map(|s| s.principal).as_deref(),
            Some("desk-jn")
        );
        assert!(
            again.get(&ended, NOW).is_none(),
            "a logout outlives the restart"
        );
    }

    #[test]
    fn secrets_compare_equal_only_when_identical() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
