//! Signed notes and checkpoints against the reference implementation's published example (Go's
//! `golang.org/x/mod/sumdb/note`), and every change to a signed checkpoint refused.

use readnet_tlog::{Checkpoint, NoteError, NoteSigner, NoteVerifier};

const SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const SIGNATURE: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

#[test]
fn the_reference_note_is_signed_and_opened_byte_for_byte() {
    let signer = NoteSigner::from_text(SKEY).unwrap();
    assert_eq!(signer.to_text(), SKEY);
    assert_eq!(signer.verifier_text(), VKEY);
    let note = signer.sign(TEXT);
    assert_eq!(note, format!("{TEXT}\n{SIGNATURE}"));
    let verifier = NoteVerifier::from_text(VKEY).unwrap();
    assert_eq!(verifier.open(&note).unwrap(), TEXT);
}

#[test]
fn a_changed_note_or_another_key_is_refused() {
    let verifier = NoteVerifier::from_text(VKEY).unwrap();
    let note = format!("{TEXT}\n{SIGNATURE}");
    let changed = note.replacen("cryptography", "cryptograph", 1);
    assert_eq!(
        verifier.open(&changed),
        Err(NoteError::BadSignature("PeterNeumann".into()))
    );
    let other = NoteSigner::new("PeterNeumann", [7; 32]).unwrap();
    let by_other = other.sign(TEXT);
    // The same name, another key: its id differs, so the note carries no signature of ours.
    assert_eq!(
        verifier.open(&by_other),
        Err(NoteError::Unsigned("PeterNeumann".into()))
    );
    assert!(NoteVerifier::from_text(&VKEY.replace("c74f20a3", "c74f20a4")).is_err());
    assert!(NoteVerifier::from_text("PeterNeumann+c74f20a3").is_err());
}

#[test]
fn a_signed_checkpoint_round_trips_and_any_changed_byte_is_refused() {
    let signer = NoteSigner::new("readnet.test/jinan-zibo", [42; 32]).unwrap();
    let verifier = NoteVerifier::from_text(&signer.verifier_text()).unwrap();
    let checkpoint = Checkpoint {
        origin: "readnet.test/jinan-zibo".into(),
        size: 218,
        root: [9; 32],
        time: Some(1_765_000_000),
    };
    let note = signer.sign(&checkpoint.body());
    assert_eq!(
        checkpoint.body(),
        "readnet.test/jinan-zibo\n218\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\ntime 1765000000\n"
    );
    assert_eq!(verifier.open_checkpoint(&note).unwrap(), checkpoint);
    // Every single-bit change anywhere in the note: refused, never a different checkpoint.
    let bytes = note.as_bytes();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut changed = bytes.to_vec();
            changed[i] ^= 1 << bit;
            let Ok(text) = String::from_utf8(changed) else {
                continue;
            };
            match verifier.open_checkpoint(&text) {
                Err(_) => {}
                Ok(opened) => panic!("byte {i} bit {bit} changed, yet it opened as {opened:?}"),
            }
        }
    }
}
