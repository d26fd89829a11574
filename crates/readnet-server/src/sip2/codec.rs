//! SIP2 frames: what arrives on the wire checked before anything reads it, the `AY`/`AZ`
//! trailer verified and stripped, the message parsed by crates.io `sip2` (its spec tables and
//! `Message`), and answers built with it and given the trailer.
//!
//! The crate parses and builds messages well, but it is a client's codec: it slices strings by
//! byte (a multi-byte character where a fixed field or a field code should be would panic), it
//! keeps fields sorted by code (so `AY`/`AZ`, which SIP2 wants last, are never last), and it has
//! no checksum. So this module owns the frame: at most [`MAX_FRAME_BYTES`], UTF-8 without control
//! characters, ASCII where the crate slices, the checksum of SIP2's specification; and it
//! appends `AY<n>AZ<checksum>` itself after the crate's text.

use sip2::{Message, spec};

/// The longest frame a session takes, terminator excluded. SIP2 messages are short: a
/// checkout is under 200 bytes; a frame this long is a client out of step or an attack.
pub const MAX_FRAME_BYTES: usize = 4096;

/// SIP2's message terminator.
pub const TERMINATOR: u8 = b'\r';

/// Why a frame is not a message this server reads. Every one closes the session that sent it
/// (logged with this reason), but [`FrameError::Checksum`], which asks the client to resend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the frame is longer than {MAX_FRAME_BYTES} bytes without a terminator")]
    TooLong,
    #[error("the frame is not UTF-8 text")]
    NotUtf8,
    #[error("the frame holds a control character (byte {0:#04x}) at offset {1}")]
    Control(u8, usize),
    #[error("the frame is too short to be a message ({0} bytes)")]
    TooShort(usize),
    #[error("message type {0:?} is not a SIP2 message")]
    UnknownType(String),
    #[error("message {code}: its fixed fields need {needed} ASCII characters, the frame has {found}")]
    FixedFields {
        code: &'static str,
        needed: usize,
        found: usize,
    },
    #[error("message {code}: a field code is not two ASCII characters")]
    FieldCode { code: &'static str },
    #[error("checksum AZ{found} does not match the frame (expected {expected})")]
    Checksum { found: String, expected: String },
    #[error("sequence number AY{0:?} is not one digit")]
    Sequence(String),
}

/// A checked request: the message, its sequence number if the client sent one, and its text
/// without the `AY`/`AZ` trailer (what tells a resend from a new transaction).
#[derive(Debug)]
pub struct Frame {
    pub message: Message,
    pub sequence: Option<char>,
    pub body: String,
}

/// The SIP2 checksum of `bytes` (everything from the message code up to and including `AZ`):
/// the binary sum of the bytes, negated (two's complement), its low 16 bits as four
/// upper-case hexadecimal digits.
pub fn checksum(bytes: &[u8]) -> String {
    let sum = bytes
        .iter()
        .fold(0u16, |sum, &byte| sum.wrapping_add(u16::from(byte)));
    format!("{:04X}", sum.wrapping_neg())
}

/// Checks and parses one frame (the bytes before its terminator).
pub fn parse(raw: &[u8]) -> Result<Frame, FrameError> {
    if raw.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLong);
    }
    let text = std::str::from_utf8(raw).map_err(|_| FrameError::NotUtf8)?;
    // A client that ends messages with CR LF leaves the LF in front of the next one.
    let text = text.strip_prefix('\n').unwrap_or(text);
    if let Some((offset, byte)) = text.bytes().enumerate().find(|(_, b)| b.is_ascii_control()) {
        return Err(FrameError::Control(byte, offset));
    }
    let (body, sequence) = strip_trailer(text)?;
    if body.len() < 2 || !body.is_char_boundary(2) {
        return Err(FrameError::TooShort(body.len()));
    }
    let code = &body[..2];
    let spec = spec::Message::from_code(code)
        .ok_or_else(|| FrameError::UnknownType(code.to_owned()))?;
    let needed: usize = spec.fixed_fields.iter().map(|f| f.length).sum();
    let rest = &body[2..];
    if rest.len() < needed || !rest.as_bytes()[..needed].is_ascii() {
        return Err(FrameError::FixedFields {
            code: spec.code,
            needed,
            found: rest.len().min(needed),
        });
    }
    let fields = &rest[needed..];
    if fields
        .split('|')
        .any(|part| part.len() > 1 && !part.as_bytes()[..2].is_ascii())
    {
        return Err(FrameError::FieldCode { code: spec.code });
    }
    // Checked above: the crate's slicing falls on character boundaries, so it cannot panic.
    let message = Message::from_sip(body).map_err(|_| FrameError::FixedFields {
        code: spec.code,
        needed,
        found: rest.len(),
    })?;
    Ok(Frame {
        message,
        sequence,
        body: body.to_owned(),
    })
}

/// Verifies and removes `AY<n>AZ<xxxx>` (or `AZ<xxxx>` alone, or `AY<n>` alone) from the end.
fn strip_trailer(text: &str) -> Result<(&str, Option<char>), FrameError> {
    let mut body = text;
    if let Some(at) = text.rfind("AZ")
        && text.len() - at == 6
    {
        let found = &text[at + 2..];
        let expected = checksum(&text.as_bytes()[..at + 2]);
        if !found.eq_ignore_ascii_case(&expected) {
            return Err(FrameError::Checksum {
                found: found.to_owned(),
                expected,
            });
        }
        body = &text[..at];
    }
    let trimmed = body.strip_suffix('|').unwrap_or(body);
    let sequence = match trimmed.rfind("AY") {
        // The sequence number is the last field: `AY` and one character, nothing after it.
        Some(at) if trimmed.len() - at == 3 && at > 0 => {
            let digit = trimmed[at + 2..].chars().next().unwrap_or_default();
            if !digit.is_ascii_digit() {
                return Err(FrameError::Sequence(trimmed[at + 2..].to_owned()));
            }
            body = &trimmed[..at];
            Some(digit)
        }
        _ => None,
    };
    Ok((body, sequence))
}

/// A fixed field or field value made safe for a frame: no control characters (they would end
/// or corrupt it); the crate removes `|` itself.
pub fn clean(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An answer: `code`, its fixed fields (which must fit the crate's spec of the message), and
/// fields, with the trailer `AY<sequence>AZ<checksum>` (`AY0` when the request had none).
///
/// # Panics
/// If the fixed fields do not fit the message's spec: the server builds them, so that is a bug.
pub fn build(code: &str, fixed: &[&str], fields: &[(&str, &str)], sequence: Option<char>) -> String {
    let cleaned: Vec<(String, String)> = fields
        .iter()
        .map(|(code, value)| ((*code).to_owned(), clean(value)))
        .collect();
    let pairs: Vec<(&str, &str)> = cleaned
        .iter()
        .map(|(code, value)| (code.as_str(), value.as_str()))
        .collect();
    let message = Message::from_values(code, fixed, &pairs)
        .unwrap_or_else(|e| panic!("answer {code} with fixed fields {fixed:?}: {e}"));
    with_trailer(message.to_sip(), sequence)
}

/// Appends `AY<n>AZ` and the checksum of everything before it, as SIP2's error detection asks.
fn with_trailer(mut text: String, sequence: Option<char>) -> String {
    text.push_str("AY");
    text.push(sequence.unwrap_or('0'));
    text.push_str("AZ");
    let sum = checksum(text.as_bytes());
    text.push_str(&sum);
    text
}

/// SIP2's "request SC resend" (96), sent when a frame's checksum is wrong.
pub fn request_resend() -> String {
    // 96 has no fields and, being itself a request to resend, no sequence number to echo.
    let mut text = String::from("96AZ");
    let sum = checksum(text.as_bytes());
    text.push_str(&sum);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_the_specifications_worked_examples() {
        // 3M's SIP2 specification, its example checkin and login response (also the fixtures of
        // other SIP2 implementations' tests).
        let checkin = "09N19980821    085721                  APCertification Terminal \
                       Location|AOCertification Institute ID|ABCheckInBook|ACTPWord|BIN|AY2AZ";
        assert_eq!(checksum(checkin.as_bytes()), "D6A5");
        assert_eq!(checksum(b"941AY3AZ"), "FDFA");
        let frame = parse(format!("{checkin}D6A5").as_bytes()).expect("the example parses");
        assert_eq!(frame.sequence, Some('2'));
        assert_eq!(frame.message.spec().code, "09");
        assert_eq!(frame.message.get_field_value("AB"), Some("CheckInBook"));
    }
}
