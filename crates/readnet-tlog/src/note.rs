//! Signed tree heads as existing transparency tools read them: a checkpoint body in the C2SP
//! `tlog-checkpoint` format, signed as a C2SP `signed-note` with an Ed25519 key.
//!
//! A checkpoint body is three lines and optional extension lines, each ending in a newline:
//!
//! ```text
//! <origin>                  the log's name, e.g. "readnet.example/jinan-zibo"
//! <tree size>               decimal
//! <root hash>               standard base64 of the 32 bytes
//! time <unix seconds>       readnet's extension: when the head was signed
//! ```
//!
//! The signed note is the body, a blank line, and one line per signature:
//! `— <key name> <base64(key id ‖ signature)>`, where the key id is the first four bytes of
//! `SHA-256(key name ‖ "\n" ‖ 0x01 ‖ public key)` and the signature is Ed25519 over the body's
//! bytes. A verifier key is written `<name>+<key id in hex>+<base64(0x01 ‖ public key)>`, as Go's
//! `golang.org/x/mod/sumdb/note` writes it; the signer key as
//! `PRIVATE+KEY+<name>+<key id in hex>+<base64(0x01 ‖ seed)>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::hash::Hash;

/// The signature algorithm byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;

/// Why a note or key is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed key: {0}")]
    Key(String),
    #[error("malformed note: {0}")]
    Malformed(String),
    #[error("no signature by {0} on the note")]
    Unsigned(String),
    #[error("the signature by {0} does not verify: the note was changed or not signed by that key")]
    BadSignature(String),
}

/// A tree head: what a checkpoint says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// When it was signed, seconds since the Unix epoch.
    pub time: Option<i64>,
}

impl Checkpoint {
    /// The body, as signed.
    pub fn body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        if let Some(time) = self.time {
            body.push_str(&format!("time {time}\n"));
        }
        body
    }

    /// Reads a body (what [`Checkpoint::body`] writes; unknown extension lines are ignored).
    pub fn parse(body: &str) -> Result<Checkpoint, NoteError> {
        let malformed = |what: &str| NoteError::Malformed(what.to_owned());
        let Some(text) = body.strip_suffix('\n') else {
            return Err(malformed("a checkpoint ends with a newline"));
        };
        let mut lines = text.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty());
        let origin = origin.ok_or_else(|| malformed("the first line names the log"))?;
        let size = lines
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| malformed("the second line is the tree size in decimal"))?;
        let root = lines
            .next()
            .and_then(|r| STANDARD.decode(r).ok())
            .and_then(|r| Hash::try_from(r).ok())
            .ok_or_else(|| malformed("the third line is the root hash in base64 (32 bytes)"))?;
        let mut time = None;
        for line in lines {
            if let Some(seconds) = line.strip_prefix("time ") {
                time = Some(
                    seconds
                        .parse()
                        .map_err(|_| malformed("the time line holds seconds since 1970"))?,
                );
            }
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            time,
        })
    }
}

fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ED25519]);
    hasher.update(public.as_bytes());
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('+')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Signs notes: a key name and an Ed25519 key.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl NoteSigner {
    /// A signer for `name` with the secret `seed` (32 random bytes).
    pub fn new(name: &str, seed: [u8; 32]) -> Result<NoteSigner, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::Key(format!(
                "the key name {name:?} is empty or holds a '+', a space or a control character"
            )));
        }
        Ok(NoteSigner {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Reads `PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖ seed)>`.
    pub fn from_text(text: &str) -> Result<NoteSigner, NoteError> {
        let bad = |why: &str| NoteError::Key(why.to_owned());
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("a signer key starts PRIVATE+KEY+"))?;
        // The key's base64 may hold '+'; the name and the id never do.
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("a signer key is PRIVATE+KEY+<name>+<id>+<key>"));
        };
        let key = STANDARD
            .decode(key)
            .map_err(|_| bad("the key is not base64"))?;
        let seed: [u8; 32] = match key.split_first() {
            Some((&ED25519, seed)) => seed
                .try_into()
                .map_err(|_| bad("an Ed25519 seed is 32 bytes"))?,
            _ => return Err(bad("only Ed25519 keys (algorithm 1) are read")),
        };
        let signer = NoteSigner::new(name, seed)?;
        if format!("{:08x}", u32::from_be_bytes(signer.id())) != id {
            return Err(bad("the key id does not match the key"));
        }
        Ok(signer)
    }

    fn id(&self) -> [u8; 4] {
        key_id(&self.name, &self.key.verifying_key())
    }

    /// The key's name: the log's origin in the checkpoints it signs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signer key's text (a secret: keep it like `patron.key`).
    pub fn to_text(&self) -> String {
        let mut key = vec![ED25519];
        key.extend_from_slice(&self.key.to_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            u32::from_be_bytes(self.id()),
            STANDARD.encode(key)
        )
    }

    /// The verifier key's text: what auditors are given.
    pub fn verifier_text(&self) -> String {
        let mut key = vec![ED25519];
        key.extend_from_slice(self.key.verifying_key().as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            u32::from_be_bytes(self.id()),
            STANDARD.encode(key)
        )
    }

    /// The signed note of `body` (which must end with a newline).
    pub fn sign(&self, body: &str) -> String {
        debug_assert!(body.ends_with('\n'));
        let signature = self.key.sign(body.as_bytes());
        let mut blob = self.id().to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!("{body}\n\u{2014} {} {}\n", self.name, STANDARD.encode(blob))
    }
}

/// Checks notes signed by one key.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Reads `<name>+<id>+<base64(0x01 ‖ public key)>`.
    pub fn from_text(text: &str) -> Result<NoteVerifier, NoteError> {
        let bad = |why: &str| NoteError::Key(why.to_owned());
        // The key's base64 may hold '+'; the name and the id never do.
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("a verifier key is <name>+<id>+<key>"));
        };
        if !valid_name(name) {
            return Err(bad(
                "the key name is empty or holds a space or a control character",
            ));
        }
        let key = STANDARD
            .decode(key)
            .map_err(|_| bad("the key is not base64"))?;
        let public: [u8; 32] = match key.split_first() {
            Some((&ED25519, public)) => public
                .try_into()
                .map_err(|_| bad("an Ed25519 public key is 32 bytes"))?,
            _ => return Err(bad("only Ed25519 keys (algorithm 1) are read")),
        };
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad("not an Ed25519 point"))?;
        let computed = key_id(name, &key);
        if format!("{:08x}", u32::from_be_bytes(computed)) != id {
            return Err(bad("the key id does not match the key"));
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            id: computed,
            key,
        })
    }

    /// The key's name: the origin of the log whose checkpoints it signs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The body of `note` if this key signed it. Signatures by other keys are passed over.
    pub fn open<'n>(&self, note: &'n str) -> Result<&'n str, NoteError> {
        let Some(split) = note.rfind("\n\n") else {
            return Err(NoteError::Malformed(
                "a signed note is a text, a blank line and signature lines".into(),
            ));
        };
        let (body, signatures) = (&note[..split + 1], &note[split + 2..]);
        let mut ours = false;
        for line in signatures.lines() {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                return Err(NoteError::Malformed(format!(
                    "a signature line starts with an em dash and a space: {:?}",
                    line.chars().take(32).collect::<String>()
                )));
            };
            let Some((name, blob)) = rest.split_once(' ') else {
                return Err(NoteError::Malformed(
                    "a signature line is '— <name> <signature>'".into(),
                ));
            };
            if name != self.name {
                continue;
            }
            let blob = STANDARD
                .decode(blob)
                .map_err(|_| NoteError::Malformed("a signature is not base64".into()))?;
            if blob.len() != 4 + 64 || blob[..4] != self.id {
                continue;
            }
            ours = true;
            let signature = Signature::from_slice(&blob[4..])
                .map_err(|_| NoteError::Malformed("an Ed25519 signature is 64 bytes".into()))?;
            if self.key.verify(body.as_bytes(), &signature).is_ok() {
                return Ok(body);
            }
        }
        if ours {
            Err(NoteError::BadSignature(self.name.clone()))
        } else {
            Err(NoteError::Unsigned(self.name.clone()))
        }
    }

    /// The checkpoint in `note`, if this key signed it.
    pub fn open_checkpoint(&self, note: &str) -> Result<Checkpoint, NoteError> {
        Checkpoint::parse(self.open(note)?)
    }
}
