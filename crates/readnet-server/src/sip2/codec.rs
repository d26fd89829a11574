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
    #[error(
        "message {code}: its fixed fields need {needed} ASCII characters, the frame has {found}"
    )]
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
    let spec =
        spec::Message::from_code(code).ok_or_else(|| FrameError::UnknownType(code.to_owned()))?;
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
pub fn build(
    code: &str,
    fixed: &[&str],
    fields: &[(&str, &str)],
    sequence: Option<char>,
) -> String {
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

    const DATE: &str = "20261207    083000";

    /// A request as a kiosk frames it, with `AY`/`AZ`.
    fn framed(body: &str, sequence: char) -> String {
        let head = format!("{body}AY{sequence}AZ");
        format!("{head}{}", checksum(head.as_bytes()))
    }

    #[test]
    fn every_request_the_server_takes_parses_with_its_fields() {
        let requests = [
            (
                "93",
                "9300CNkiosk-24h|COrnt1.a.b|CPJN-24H|",
                "CN",
                "kiosk-24h",
            ),
            ("99", "9900302.00", "", ""),
            (
                "23",
                &format!("23000{DATE}AOJN-24H|AA370102|AC|AD|") as &str,
                "AA",
                "370102",
            ),
            (
                "63",
                &format!("63000{DATE}Y         AOJN-24H|AAjinan:1|BP1|BQ5|"),
                "AA",
                "jinan:1",
            ),
            ("17", &format!("17{DATE}AOJN-24H|ABK-1|"), "AB", "K-1"),
            (
                "11",
                &format!("11YN{DATE}{DATE}AOJN-24H|AA1|ABK-1|AC|"),
                "AB",
                "K-1",
            ),
            (
                "09",
                &format!("09N{DATE}{DATE}APJN-24H|AOJN-24H|ABK-1|AC|"),
                "AP",
                "JN-24H",
            ),
            (
                "29",
                &format!("29NN{DATE}{DATE}AOJN-24H|AA1|ABK-1|"),
                "AB",
                "K-1",
            ),
            ("65", &format!("65{DATE}AOJN-24H|AA1|"), "AA", "1"),
            (
                "37",
                &format!("37{DATE}0100CNYBV25.00|AOJN-24H|AA1|CGK-1|"),
                "BV",
                "25.00",
            ),
            (
                "15",
                &format!("15+{DATE}BSJN-24H|AOJN-24H|AA1|ABK-1|"),
                "BS",
                "JN-24H",
            ),
            ("35", &format!("35{DATE}AOJN-24H|AA1|"), "AA", "1"),
            ("97", "97", "", ""),
        ];
        for (code, body, field, value) in requests {
            for sequence in ['0', '9'] {
                let frame = parse(framed(body, sequence).as_bytes())
                    .unwrap_or_else(|e| panic!("{code}: {e}"));
                assert_eq!(frame.message.spec().code, code);
                assert_eq!(frame.sequence, Some(sequence), "{code}");
                assert_eq!(frame.body, body, "{code}: the body without its trailer");
                if !field.is_empty() {
                    assert_eq!(frame.message.get_field_value(field), Some(value), "{code}");
                }
            }
            // Without error detection: no trailer at all, and AY alone.
            let bare = parse(body.as_bytes()).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!((bare.sequence, bare.body.as_str()), (None, body));
            let numbered = parse(format!("{body}AY4").as_bytes()).expect("AY alone");
            assert_eq!(numbered.sequence, Some('4'), "{code}");
        }
    }

    #[test]
    fn every_answer_the_server_builds_parses_back_with_a_valid_trailer() {
        // Code, fixed fields, fields.
        type Answer<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>);
        let answers: [Answer; 12] = [
            ("94", vec!["1"], vec![]),
            (
                "98",
                vec!["Y", "Y", "Y", "Y", "N", "N", "100", "003", DATE, "2.00"],
                vec![("AO", "JN-24H"), ("BX", "YYYNYYYYYYYNNYYY")],
            ),
            ("24", vec!["              ", "000", DATE], vec![("BL", "Y")]),
            (
                "64",
                vec![
                    "              ",
                    "000",
                    DATE,
                    "0000",
                    "0001",
                    "0002",
                    "0000",
                    "0000",
                    "0001",
                ],
                vec![("AU", "K-1"), ("AU", "K-2"), ("AT", "K-2")],
            ),
            (
                "18",
                vec!["03", "00", "01", DATE],
                vec![("AB", "K-1"), ("AJ", "呐喊")],
            ),
            ("12", vec!["1", "N", "U", "Y", DATE], vec![("AH", DATE)]),
            (
                "10",
                vec!["1", "N", "U", "Y", DATE],
                vec![("CV", "04"), ("CT", "JN-CENTRAL")],
            ),
            ("30", vec!["1", "Y", "U", "U", DATE], vec![("AH", DATE)]),
            ("66", vec!["1", "0001", "0000", DATE], vec![("BM", "K-1")]),
            ("38", vec!["Y", DATE], vec![("AF", "paid CNY 10.00")]),
            ("16", vec!["1", "N", DATE], vec![("BR", "2")]),
            ("36", vec!["Y", DATE], vec![("AA", "1")]),
        ];
        for (code, fixed, fields) in answers {
            let text = build(code, &fixed, &fields, Some('7'));
            let at = text.rfind("AZ").expect("a checksum");
            assert_eq!(
                &text[at + 2..],
                checksum(&text.as_bytes()[..at + 2]),
                "{code}"
            );
            assert!(
                text[..at].ends_with("AY7"),
                "{code}: AY echoes the request: {text}"
            );
            // What a client reads: the trailer verified, the fields as built.
            let frame = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{code}: {e}: {text}"));
            assert_eq!(frame.message.spec().code, code);
            let values: Vec<&str> = frame
                .message
                .fixed_fields()
                .iter()
                .map(|f| f.value())
                .collect();
            assert_eq!(values, fixed, "{code}");
            for (field, value) in &fields {
                assert!(
                    frame
                        .message
                        .fields()
                        .iter()
                        .any(|f| f.code() == *field && f.value() == *value),
                    "{code}: {field}{value} in {text}"
                );
            }
        }
        // 96 is not in the crate's tables (a server's message, which its client never reads).
        let resend = request_resend();
        assert_eq!(&resend[4..], checksum(b"96AZ"));
    }

    #[test]
    fn values_cannot_break_a_frame() {
        let text = build("36", &["Y", DATE], &[("AF", "a|b\rc\nd")], None);
        assert!(!text.contains('\r') && !text.contains('\n'), "{text}");
        assert!(text.contains("AFab c d|"), "{text}");
        assert!(text.ends_with(&format!("AY0AZ{}", &text[text.len() - 4..])));
    }

    #[test]
    fn malformed_frames_are_refused_with_a_reason() {
        let overlong = vec![b'9'; MAX_FRAME_BYTES + 1];
        assert_eq!(parse(&overlong).unwrap_err(), FrameError::TooLong);
        assert_eq!(parse(b"99\xff\xfe").unwrap_err(), FrameError::NotUtf8);
        assert!(matches!(
            parse(b"99\x00302.00").unwrap_err(),
            FrameError::Control(0, 2)
        ));
        assert!(matches!(parse(b"9").unwrap_err(), FrameError::TooShort(1)));
        assert!(matches!(
            parse(b"ZZabc").unwrap_err(),
            FrameError::UnknownType(_)
        ));
        assert!(matches!(
            parse(b"1100").unwrap_err(),
            FrameError::FixedFields { code: "11", .. }
        ));
        // Multi-byte characters where the crate slices bytes: refused, never a panic.
        assert!(matches!(
            parse("23€€€€€€€€€€".as_bytes()).unwrap_err(),
            FrameError::FixedFields { .. }
        ));
        assert!(matches!(
            parse(format!("17{DATE}€X|").as_bytes()).unwrap_err(),
            FrameError::FieldCode { .. }
        ));
        let mut damaged = framed("9900302.00", '1');
        damaged.replace_range(2..3, "1");
        assert!(matches!(
            parse(damaged.as_bytes()).unwrap_err(),
            FrameError::Checksum { .. }
        ));
        assert!(matches!(
            parse(b"9900302.00AYxAZ0000").unwrap_err(),
            FrameError::Checksum { .. } | FrameError::Sequence(_)
        ));
        // UTF-8 in free text is fine (titles, names).
        let chinese = framed(&format!("17{DATE}AB呐喊|"), '3');
        assert_eq!(
            parse(chinese.as_bytes())
                .unwrap()
                .message
                .get_field_value("AB"),
            Some("呐喊")
        );
    }
}
