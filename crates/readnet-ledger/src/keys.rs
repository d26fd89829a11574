//! The patron key store (crypto-shredding, ADR 0018): one key per patron, kept outside the log
//! in `<data>/patron-keys/`, so that destroying it makes every event that names the patron
//! read as "a patron of <city>".
//!
//! Files, each written whole (a temporary file, fsync, rename, fsync of the directory), each
//! with a SHA-256 check line so that a damaged file is refused, never read as a key:
//! - `index.key`: the index key. Patron ids in events carry their patron's key id sealed
//!   under it, so the server finds the key of an event without a readable id in the log.
//! - `<key id>.key`: a live patron: their id (the keyed hash of their card), their key.
//! - `<key id>.forgotten`: a patron forgotten: the key id only. Written before the key file is
//!   removed, so that a crash between the two is finished at the next open, and so that an
//!   event whose key is missing tells "forgotten" from "the key store is damaged".
//!
//! A key is durable before the first event sealed under it is appended (the command bus calls
//! [`KeyStore::persist`] before its append): a key acknowledged with its event survives a crash.
//! A key persisted for an append that never happened names a patron with no event; it is
//! harmless and is used again if the same card comes back.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadPayload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use readnet_domain::personal::SEALED_PREFIX;
use sha2::{Digest, Sha256};

/// The key store's folder in a data directory.
pub const KEY_DIR: &str = "patron-keys";
const INDEX_FILE: &str = "index.key";
const KEY_ID_BYTES: usize = 16;
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;
const TOKEN_BYTES: usize = 16;
/// A sealed key id: its nonce, the key id, its tag.
const KID_BOX_BYTES: usize = NONCE_BYTES + KEY_ID_BYTES + TAG_BYTES;
const KID_AAD: &[u8] = b"readnet key id 1";

/// A patron key's id: random, and never written in the clear in the log.
pub type KeyId = [u8; KEY_ID_BYTES];

/// What the key store fails with. Every message names the file or the key id.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("patron key store: {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "patron key store: {path} is damaged ({why}); restore the data directory's patron-keys/ from a backup"
    )]
    Damaged { path: PathBuf, why: String },
    #[error(
        "patron key store: no key and no record of forgetting for key id {kid}: the key store is damaged or is not this log's; restore patron-keys/ from the backup taken with the log"
    )]
    MissingKey { kid: String },
    #[error("a sealed patron id does not open: {0}")]
    Unreadable(String),
    #[error(
        "the log holds sealed patron ids, but the data directory has no patron key store ({0}); restore patron-keys/ from the backup taken with the log"
    )]
    NoKeyStore(PathBuf),
}

/// One patron's key and what follows from it.
#[derive(Clone)]
pub struct PatronKeys {
    pub kid: KeyId,
    key: [u8; KEY_BYTES],
}

impl PatronKeys {
    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The name of the patron's stream in the store (`patron-<hex>`): derived from the key, so
    /// that once the key is gone nothing ties the stream to a card.
    pub fn stream_suffix(&self) -> String {
        hex::encode(&self.mac(&[b"readnet patron stream"])[..16])
    }

    /// "The same patron, the same day": what the statistics count distinct patrons by.
    fn day_token(&self, day: NaiveDate) -> [u8; TOKEN_BYTES] {
        let day = day.format("%Y-%m-%d").to_string();
        let mac = self.mac(&[b"readnet active day\0", day.as_bytes()]);
        mac[..TOKEN_BYTES].try_into().expect("16 bytes")
    }
}

/// What a sealed patron id opens to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// A live patron's id.
    Patron(String),
    /// A forgotten patron: the key is destroyed.
    Forgotten,
}

#[derive(Default)]
struct Keys {
    by_patron: HashMap<String, PatronKeys>,
    by_kid: HashMap<KeyId, String>,
    by_stream: HashMap<String, String>,
    forgotten: HashSet<KeyId>,
}

/// The patron key store of one data directory.
pub struct KeyStore {
    dir: PathBuf,
    index: XChaCha20Poly1305,
    keys: RwLock<Keys>,
}

/// What [`KeyStore::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyStoreSummary {
    pub live: usize,
    pub forgotten: usize,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> KeyStoreError + 'a {
    move |source| KeyStoreError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// The lines of a file with its check line appended.
fn with_check(body: &str) -> String {
    format!(
        "{body}check {}\n",
        hex::encode(Sha256::digest(body.as_bytes()))
    )
}

/// The body of a file whose check line is right.
fn checked(path: &Path, text: &str) -> Result<String, KeyStoreError> {
    let damaged = |why: &str| KeyStoreError::Damaged {
        path: path.to_owned(),
        why: why.to_owned(),
    };
    let body_end = text
        .trim_end_matches('\n')
        .rfind('\n')
        .map(|i| i + 1)
        .ok_or_else(|| damaged("no check line"))?;
    let (body, check) = text.split_at(body_end);
    let check = check
        .trim_end()
        .strip_prefix("check ")
        .ok_or_else(|| damaged("no check line"))?;
    if check != hex::encode(Sha256::digest(body.as_bytes())) {
        return Err(damaged("its check line does not match its contents"));
    }
    Ok(body.to_owned())
}

fn field<'a>(path: &Path, body: &'a str, name: &str) -> Result<&'a str, KeyStoreError> {
    body.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .ok_or_else(|| KeyStoreError::Damaged {
            path: path.to_owned(),
            why: format!("no {name} line"),
        })
}

fn hex_bytes<const N: usize>(
    path: &Path,
    text: &str,
    what: &str,
) -> Result<[u8; N], KeyStoreError> {
    hex::decode(text)
        .ok()
        .and_then(|b| <[u8; N]>::try_from(b).ok())
        .ok_or_else(|| KeyStoreError::Damaged {
            path: path.to_owned(),
            why: format!("{what} is not {N} bytes of hex"),
        })
}

/// Writes `contents` to `path` whole: a temporary file, fsync, rename. The caller syncs the
/// directory.
fn write_whole(path: &Path, contents: &[u8]) -> Result<(), KeyStoreError> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(io("create", &tmp))?;
    file.write_all(contents).map_err(io("write", &tmp))?;
    file.sync_all().map_err(io("sync", &tmp))?;
    fs::rename(&tmp, path).map_err(io("rename", path))
}

fn sync_dir(dir: &Path) -> Result<(), KeyStoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync directory", dir))
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

impl KeyStore {
    /// The key store of `data_dir`, created (with a new index key) if the folder is missing.
    /// The caller decides whether a missing store is allowed (a log with sealed ids needs its
    /// own).
    pub fn open_or_create(data_dir: &Path) -> Result<Arc<Self>, KeyStoreError> {
        let dir = data_dir.join(KEY_DIR);
        if !dir.join(INDEX_FILE).exists() {
            fs::create_dir_all(&dir).map_err(io("create", &dir))?;
            let body = format!(
                "readnet key index 1\nkey {}\n",
                hex::encode(random::<KEY_BYTES>())
            );
            write_whole(&dir.join(INDEX_FILE), with_check(&body).as_bytes())?;
            sync_dir(&dir)?;
            sync_dir(data_dir)?;
        }
        Self::open(data_dir)
    }

    /// The key store of `data_dir`, which must exist. Finishes any forgetting a crash left
    /// half done (a key file beside its tombstone is removed).
    pub fn open(data_dir: &Path) -> Result<Arc<Self>, KeyStoreError> {
        Self::open_with(data_dir, true)
    }

    /// The key store of `data_dir`, read without changing a file (for `readnet doctor` and
    /// offline tools): a forgetting a crash left half done is reported by [`KeyStore::check`],
    /// not finished.
    pub fn open_read_only(data_dir: &Path) -> Result<Arc<Self>, KeyStoreError> {
        Self::open_with(data_dir, false)
    }

    fn open_with(data_dir: &Path, finish: bool) -> Result<Arc<Self>, KeyStoreError> {
        let dir = data_dir.join(KEY_DIR);
        let index_path = dir.join(INDEX_FILE);
        if !index_path.exists() {
            return Err(KeyStoreError::NoKeyStore(dir));
        }
        let text = fs::read_to_string(&index_path).map_err(io("read", &index_path))?;
        let body = checked(&index_path, &text)?;
        let index_key: [u8; KEY_BYTES] = hex_bytes(
            &index_path,
            field(&index_path, &body, "key")?,
            "the index key",
        )?;
        let mut keys = Keys::default();
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .map_err(io("list", &dir))?
            .collect::<Result<_, _>>()
            .map_err(io("list", &dir))?;
        entries.sort_by_key(|e| e.file_name());
        let mut half_forgotten = Vec::new();
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(kid) = name.strip_suffix(".forgotten") {
                keys.forgotten
                    .insert(hex_bytes(&path, kid, "the file's key id")?);
            } else if let Some(kid_hex) = name.strip_suffix(".key") {
                if name == INDEX_FILE {
                    continue;
                }
                let kid: KeyId = hex_bytes(&path, kid_hex, "the file's key id")?;
                let text = fs::read_to_string(&path).map_err(io("read", &path))?;
                let body = checked(&path, &text)?;
                let patron = field(&path, &body, "patron")?.to_owned();
                let key = hex_bytes(&path, field(&path, &body, "key")?, "the key")?;
                keys.insert(patron, PatronKeys { kid, key });
            } else if name.ends_with(".tmp") && finish {
                // A write a crash cut short: never renamed, so never acknowledged.
                fs::remove_file(&path).map_err(io("remove", &path))?;
            }
        }
        for (patron, keys_of) in &keys.by_patron {
            if keys.forgotten.contains(&keys_of.kid) {
                half_forgotten.push((patron.clone(), keys_of.kid));
            }
        }
        let store = Arc::new(KeyStore {
            index: XChaCha20Poly1305::new((&index_key).into()),
            dir,
            keys: RwLock::new(keys),
        });
        if finish {
            for (patron, kid) in half_forgotten {
                tracing::warn!(
                    kid = hex::encode(kid),
                    "finishing a forgetting a crash interrupted"
                );
                store.destroy(&patron)?;
            }
        }
        Ok(store)
    }

    /// How many keys are live and how many destroyed (a key beside its tombstone, which the
    /// next start destroys, counts as destroyed).
    pub fn summary(&self) -> KeyStoreSummary {
        let keys = self.keys.read().expect("key store lock");
        KeyStoreSummary {
            live: keys
                .by_patron
                .values()
                .filter(|k| !keys.forgotten.contains(&k.kid))
                .count(),
            forgotten: keys.forgotten.len(),
        }
    }

    /// The keys of a live patron.
    pub fn keys_of(&self, patron: &str) -> Option<PatronKeys> {
        self.keys
            .read()
            .expect("key store lock")
            .by_patron
            .get(patron)
            .cloned()
    }

    /// New keys for a patron, not yet stored: [`KeyStore::persist`] them before appending an
    /// event sealed under them.
    pub fn fresh() -> PatronKeys {
        PatronKeys {
            kid: random(),
            key: random(),
        }
    }

    /// Makes new keys durable (each file written whole, the folder synced once), then usable.
    pub fn persist(&self, new: &[(String, PatronKeys)]) -> Result<(), KeyStoreError> {
        if new.is_empty() {
            return Ok(());
        }
        for (patron, keys) in new {
            let body = format!(
                "readnet patron key 1\npatron {patron}\nkey {}\n",
                hex::encode(keys.key)
            );
            let path = self.dir.join(format!("{}.key", hex::encode(keys.kid)));
            write_whole(&path, with_check(&body).as_bytes())?;
        }
        sync_dir(&self.dir)?;
        let mut keys = self.keys.write().expect("key store lock");
        for (patron, patron_keys) in new {
            keys.insert(patron.clone(), patron_keys.clone());
        }
        Ok(())
    }

    /// Destroys a patron's key: the tombstone first, then the key file, each synced. Nothing
    /// happens for a patron without a key (forgotten already).
    pub fn destroy(&self, patron: &str) -> Result<(), KeyStoreError> {
        let Some(keys_of) = self.keys_of(patron) else {
            return Ok(());
        };
        let kid = hex::encode(keys_of.kid);
        let tombstone = self.dir.join(format!("{kid}.forgotten"));
        write_whole(&tombstone, b"")?;
        sync_dir(&self.dir)?;
        let key_file = self.dir.join(format!("{kid}.key"));
        match fs::remove_file(&key_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove", &key_file)(e)),
        }
        sync_dir(&self.dir)?;
        let mut keys = self.keys.write().expect("key store lock");
        keys.by_patron.remove(patron);
        keys.by_kid.remove(&keys_of.kid);
        keys.by_stream.remove(&keys_of.stream_suffix());
        keys.forgotten.insert(keys_of.kid);
        Ok(())
    }

    /// The live patron whose stream is `patron-<suffix>`.
    pub fn patron_of_stream(&self, suffix: &str) -> Option<String> {
        self.keys
            .read()
            .expect("key store lock")
            .by_stream
            .get(suffix)
            .cloned()
    }

    /// Every live patron, for the retention sweep.
    pub fn live_patrons(&self) -> Vec<String> {
        let keys = self.keys.read().expect("key store lock");
        let mut patrons: Vec<String> = keys.by_patron.keys().cloned().collect();
        patrons.sort();
        patrons
    }

    /// `patron_id` sealed under `keys`, as events store it: a fresh random nonce each time, so
    /// two events of one patron share no bytes but the day token of the same day.
    pub fn seal(&self, keys: &PatronKeys, patron_id: &str, day: NaiveDate) -> String {
        let token = keys.day_token(day);
        let kid_nonce: [u8; NONCE_BYTES] = random();
        let kid_box = self
            .index
            .encrypt(
                XNonce::from_slice(&kid_nonce),
                AeadPayload {
                    msg: &keys.kid,
                    aad: KID_AAD,
                },
            )
            .expect("XChaCha20-Poly1305 seals any short message");
        let nonce: [u8; NONCE_BYTES] = random();
        let id_box = XChaCha20Poly1305::new((&keys.key).into())
            .encrypt(
                XNonce::from_slice(&nonce),
                AeadPayload {
                    msg: patron_id.as_bytes(),
                    aad: &token,
                },
            )
            .expect("XChaCha20-Poly1305 seals any short message");
        let mut blob = Vec::with_capacity(KID_BOX_BYTES + NONCE_BYTES + id_box.len());
        blob.extend_from_slice(&kid_nonce);
        blob.extend_from_slice(&kid_box);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&id_box);
        format!(
            "{SEALED_PREFIX}{}.{}",
            URL_SAFE_NO_PAD.encode(token),
            URL_SAFE_NO_PAD.encode(blob)
        )
    }

    /// Opens a sealed patron id: the live patron it names, or [`Opened::Forgotten`]. A key that
    /// is neither live nor recorded as forgotten is [`KeyStoreError::MissingKey`]; a sealed id
    /// that does not decrypt is [`KeyStoreError::Unreadable`]: never a guess.
    pub fn open_sealed(&self, sealed: &str) -> Result<Opened, KeyStoreError> {
        let unreadable = |why: &str| KeyStoreError::Unreadable(why.to_owned());
        let rest = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or_else(|| unreadable("no s1. prefix"))?;
        let (token, blob) = rest.split_once('.').ok_or_else(|| unreadable("no token"))?;
        let token = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| unreadable("the token is not base64url"))?;
        let blob = URL_SAFE_NO_PAD
            .decode(blob)
            .map_err(|_| unreadable("the box is not base64url"))?;
        if blob.len() < KID_BOX_BYTES + NONCE_BYTES + TAG_BYTES {
            return Err(unreadable("the box is too short"));
        }
        let (kid_part, id_part) = blob.split_at(KID_BOX_BYTES);
        let (kid_nonce, kid_box) = kid_part.split_at(NONCE_BYTES);
        let kid: KeyId = self
            .index
            .decrypt(
                XNonce::from_slice(kid_nonce),
                AeadPayload {
                    msg: kid_box,
                    aad: KID_AAD,
                },
            )
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| {
                unreadable("its key id does not open with this key store's index key")
            })?;
        let keys = self.keys.read().expect("key store lock");
        let Some(patron) = keys.by_kid.get(&kid) else {
            if keys.forgotten.contains(&kid) {
                return Ok(Opened::Forgotten);
            }
            return Err(KeyStoreError::MissingKey {
                kid: hex::encode(kid),
            });
        };
        let patron_keys = &keys.by_patron[patron];
        let (nonce, id_box) = id_part.split_at(NONCE_BYTES);
        let id = XChaCha20Poly1305::new((&patron_keys.key).into())
            .decrypt(
                XNonce::from_slice(nonce),
                AeadPayload {
                    msg: id_box,
                    aad: &token,
                },
            )
            .map_err(|_| unreadable("the patron id does not open with its key"))?;
        let id = String::from_utf8(id).map_err(|_| unreadable("the patron id is not UTF-8"))?;
        if &id != patron {
            return Err(unreadable("the patron id is not its key's patron"));
        }
        Ok(Opened::Patron(id))
    }
}

impl KeyStore {
    /// Opens every sealed patron id of `payload` in place: a live patron's id, or
    /// [`readnet_domain::personal::FORGOTTEN_PATRON`]. Plaintext ids stay as they are.
    pub fn open_payload(&self, payload: &mut readnet_domain::Payload) -> Result<(), KeyStoreError> {
        for id in readnet_domain::personal::patron_ids_mut(payload) {
            if readnet_domain::personal::is_sealed(id) {
                *id = match self.open_sealed(id)? {
                    Opened::Patron(patron) => patron,
                    Opened::Forgotten => readnet_domain::personal::FORGOTTEN_PATRON.to_owned(),
                };
            }
        }
        Ok(())
    }
}

impl Keys {
    fn insert(&mut self, patron: String, keys: PatronKeys) {
        self.by_kid.insert(keys.kid, patron.clone());
        self.by_stream.insert(keys.stream_suffix(), patron.clone());
        self.by_patron.insert(patron, keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LI_WEI: &str = "c3a929a9f55d8a1d3b75cece546acae5";

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn store_with_li_wei(dir: &Path) -> (Arc<KeyStore>, PatronKeys) {
        let store = KeyStore::open_or_create(dir).unwrap();
        let keys = KeyStore::fresh();
        store.persist(&[(LI_WEI.to_owned(), keys.clone())]).unwrap();
        (store, keys)
    }

    #[test]
    fn a_sealed_id_opens_to_its_patron_and_two_seals_share_only_the_days_token() {
        let dir = tempfile::tempdir().unwrap();
        let (store, keys) = store_with_li_wei(dir.path());
        let first = store.seal(&keys, LI_WEI, day(2));
        let second = store.seal(&keys, LI_WEI, day(2));
        let next_day = store.seal(&keys, LI_WEI, day(3));
        assert_ne!(first, second, "random nonces: no two seals are alike");
        assert!(!first.contains(LI_WEI));
        let token = readnet_domain::personal::activity_token;
        assert_eq!(token(&first), token(&second));
        assert_ne!(token(&first), token(&next_day));
        let boxes = |s: &str| s.rsplit_once('.').unwrap().1.to_owned();
        assert_ne!(boxes(&first)[..40], boxes(&second)[..40]);
        assert_eq!(
            store.open_sealed(&first).unwrap(),
            Opened::Patron(LI_WEI.into())
        );
    }

    #[test]
    fn a_persisted_key_is_read_back_by_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let (store, keys) = store_with_li_wei(dir.path());
        let sealed = store.seal(&keys, LI_WEI, day(2));
        drop(store);
        let reopened = KeyStore::open(dir.path()).unwrap();
        assert_eq!(
            reopened.open_sealed(&sealed).unwrap(),
            Opened::Patron(LI_WEI.into())
        );
        assert_eq!(
            reopened.patron_of_stream(&keys.stream_suffix()).as_deref(),
            Some(LI_WEI)
        );
    }

    #[test]
    fn a_destroyed_key_leaves_its_events_forgotten_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let (store, keys) = store_with_li_wei(dir.path());
        let sealed = store.seal(&keys, LI_WEI, day(2));
        store.destroy(LI_WEI).unwrap();
        assert_eq!(store.open_sealed(&sealed).unwrap(), Opened::Forgotten);
        assert!(store.keys_of(LI_WEI).is_none());
        drop(store);
        let reopened = KeyStore::open(dir.path()).unwrap();
        assert_eq!(reopened.open_sealed(&sealed).unwrap(), Opened::Forgotten);
        let kid = hex::encode(keys.kid);
        assert!(!dir.path().join(KEY_DIR).join(format!("{kid}.key")).exists());
        let left: Vec<u8> = fs::read_dir(dir.path().join(KEY_DIR))
            .unwrap()
            .flat_map(|e| fs::read(e.unwrap().path()).unwrap())
            .collect();
        let key_hex = hex::encode(keys.key);
        assert!(
            !String::from_utf8_lossy(&left).contains(&key_hex),
            "no file keeps the destroyed key"
        );
    }

    #[test]
    fn a_crash_between_the_tombstone_and_the_key_files_removal_is_finished_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let (store, keys) = store_with_li_wei(dir.path());
        let sealed = store.seal(&keys, LI_WEI, day(2));
        drop(store);
        let kid = hex::encode(keys.kid);
        let keys_dir = dir.path().join(KEY_DIR);
        fs::write(keys_dir.join(format!("{kid}.forgotten")), b"").unwrap();
        let reopened = KeyStore::open(dir.path()).unwrap();
        assert_eq!(reopened.open_sealed(&sealed).unwrap(), Opened::Forgotten);
        assert!(!keys_dir.join(format!("{kid}.key")).exists());
    }

    #[test]
    fn a_missing_key_file_is_an_error_naming_the_key_not_a_forgotten_patron() {
        let dir = tempfile::tempdir().unwrap();
        let (store, keys) = store_with_li_wei(dir.path());
        let sealed = store.seal(&keys, LI_WEI, day(2));
        drop(store);
        let kid = hex::encode(keys.kid);
        fs::remove_file(dir.path().join(KEY_DIR).join(format!("{kid}.key"))).unwrap();
        let reopened = KeyStore::open(dir.path()).unwrap();
        let error = reopened.open_sealed(&sealed).unwrap_err();
        assert!(matches!(error, KeyStoreError::MissingKey { .. }));
        assert!(error.to_string().contains(&kid), "{error}");
    }

    #[test]
    fn a_damaged_key_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let (store, keys) = store_with_li_wei(dir.path());
        drop(store);
        let path = dir
            .path()
            .join(KEY_DIR)
            .join(format!("{}.key", hex::encode(keys.kid)));
        let mut bytes = fs::read(&path).unwrap();
        let at = bytes.iter().position(|b| *b == b'k').unwrap() + 5;
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        fs::write(&path, bytes).unwrap();
        let error = KeyStore::open(dir.path()).err().expect("refused");
        assert!(matches!(error, KeyStoreError::Damaged { .. }), "{error}");
        assert!(error.to_string().contains(".key"), "{error}");
    }

    #[test]
    fn a_key_store_that_is_not_the_logs_cannot_open_its_ids() {
        let ours = tempfile::tempdir().unwrap();
        let theirs = tempfile::tempdir().unwrap();
        let (store, keys) = store_with_li_wei(ours.path());
        let sealed = store.seal(&keys, LI_WEI, day(2));
        let other = KeyStore::open_or_create(theirs.path()).unwrap();
        assert!(matches!(
            other.open_sealed(&sealed),
            Err(KeyStoreError::Unreadable(_))
        ));
        assert!(matches!(
            KeyStore::open(tempfile::tempdir().unwrap().path()),
            Err(KeyStoreError::NoKeyStore(_))
        ));
    }

    #[test]
    fn a_sealed_id_with_any_byte_changed_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let (store, keys) = store_with_li_wei(dir.path());
        let sealed = store.seal(&keys, LI_WEI, day(2));
        let (head, blob) = sealed.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(blob).unwrap();
        for i in 0..bytes.len() {
            bytes[i] ^= 1;
            let tampered = format!("{head}.{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert!(store.open_sealed(&tampered).is_err(), "byte {i} flipped");
            bytes[i] ^= 1;
        }
    }
}
