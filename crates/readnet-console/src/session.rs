//! Sessions: a login turns a principal's token into a random session id kept in an HttpOnly,
//! SameSite=Strict cookie (Secure over TLS). The token stays on the server and is proven again
//! on every request, so a revoked or replaced token ends its sessions at once (ADR 0020).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore as _;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "readnet_session";
/// The login form's CSRF cookie (double submit: the form carries the same value).
pub const LOGIN_COOKIE: &str = "readnet_login";
/// The language cookie (`zh` or `en`).
pub const LANG_COOKIE: &str = "readnet_lang";
/// At most this many sessions at once; the oldest idle one makes room for a new login.
pub const MAX_SESSIONS: usize = 4096;
/// A session unused for this long ends.
pub const SESSION_IDLE: Duration = Duration::from_secs(8 * 3600);

/// One logged-in browser.
#[derive(Clone)]
pub struct Session {
    /// The principal's token, proven again on each request.
    pub token: String,
    /// The per-session CSRF token every form of the session carries.
    pub csrf: String,
    last_used: Instant,
}

/// The sessions of one console (in memory: a restart logs everyone out).
#[derive(Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
}

/// 32 random bytes as hex: a session id or a CSRF token.
pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Sessions {
    /// A new session for `token`; returns its id.
    pub fn start(&self, token: String) -> String {
        let id = random_id();
        let mut sessions = self.sessions.lock().expect("sessions lock");
        let now = Instant::now();
        sessions.retain(|_, s| now.duration_since(s.last_used) < SESSION_IDLE);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| id.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Session {
                token,
                csrf: random_id(),
                last_used: now,
            },
        );
        id
    }

    /// The live session of `id`, marked used.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut sessions = self.sessions.lock().expect("sessions lock");
        let now = Instant::now();
        let session = sessions.get_mut(id)?;
        if now.duration_since(session.last_used) >= SESSION_IDLE {
            sessions.remove(id);
            return None;
        }
        session.last_used = now;
        Some(session.clone())
    }

    pub fn end(&self, id: &str) {
        self.sessions.lock().expect("sessions lock").remove(id);
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

    #[test]
    fn a_session_is_found_by_its_id_until_it_ends() {
        let sessions = Sessions::default();
        let id = sessions.start("token".into());
        let session = sessions.get(&id).expect("live");
        assert_eq!(session.token, "token");
        assert_eq!(session.csrf.len(), 64);
        assert!(sessions.get(&random_id()).is_none());
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn secrets_compare_equal_only_when_identical() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
