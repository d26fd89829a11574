//! A refusal as the ledger records it: the `CommandRefused` event that makes a retry of a
//! refused command id get the same answer, on any server and after any restart (ADR 0010).

use std::fmt;

use chrono::{DateTime, Timelike, Utc};

use crate::codec::CodecError;
use crate::pb::{self, RefusalKind};
use crate::{Command, Rejection, RejectionKind};

/// The most bytes of a refusal's message that are recorded, and so sent to its caller, the first
/// time and on every retry. Messages quote what they name (codes, names, amounts); the bound
/// keeps a refusal a small event however long a value a request carried.
pub const MAX_REFUSAL_MESSAGE_BYTES: usize = 1024;

/// What a refused command's caller is told, as recorded: the same on every retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The command's name ([`Command::name`]).
    pub command: String,
    /// The rule's name ([`Rejection::rule`]).
    pub rule: String,
    pub kind: RejectionKind,
    /// The rejection's text, cut to [`MAX_REFUSAL_MESSAGE_BYTES`] (ending in `…` when cut).
    pub message: String,
    /// When the ledger refused it, by the server's clock: the retry window starts here.
    pub refused_at: DateTime<Utc>,
}

impl Refusal {
    /// The refusal of `command` by `rejection`, decided at `refused_at` (the server's clock,
    /// not the desk's `occurred_at`, which a client may backdate).
    pub fn of(command: &Command, rejection: &Rejection, refused_at: DateTime<Utc>) -> Self {
        Refusal {
            command: command.name().to_owned(),
            rule: rejection.rule().to_owned(),
            kind: rejection.kind(),
            message: bounded(rejection.to_string()),
            // As the event keeps it: whole microseconds.
            refused_at: refused_at
                .with_nanosecond(refused_at.nanosecond() / 1000 * 1000)
                .unwrap_or(refused_at),
        }
    }

    /// The event that records it.
    pub fn to_event(&self) -> pb::CommandRefused {
        pb::CommandRefused {
            command: self.command.clone(),
            rule: self.rule.clone(),
            kind: kind_to_pb(self.kind) as i32,
            message: self.message.clone(),
            refused_at_us: self.refused_at.timestamp_micros(),
        }
    }

    /// The refusal a `CommandRefused` records. A kind this build does not know is an error:
    /// the caller could not be told the same code again.
    pub fn from_event(event: &pb::CommandRefused) -> Result<Self, CodecError> {
        let unknown = || CodecError::UnknownValue {
            what: "CommandRefused.kind".to_owned(),
            value: event.kind.into(),
        };
        let refused_at = DateTime::from_timestamp_micros(event.refused_at_us).ok_or(
            CodecError::UnknownValue {
                what: "CommandRefused.refused_at_us".to_owned(),
                value: event.refused_at_us,
            },
        )?;
        let kind = match RefusalKind::try_from(event.kind).map_err(|_| unknown())? {
            RefusalKind::Unspecified => return Err(unknown()),
            RefusalKind::InvalidArgument => RejectionKind::InvalidArgument,
            RefusalKind::FailedPrecondition => RejectionKind::FailedPrecondition,
            RefusalKind::NotFound => RejectionKind::NotFound,
            RefusalKind::AlreadyExists => RejectionKind::AlreadyExists,
            RefusalKind::PermissionDenied => RejectionKind::PermissionDenied,
        };
        Ok(Refusal {
            command: event.command.clone(),
            rule: event.rule.clone(),
            kind,
            message: event.message.clone(),
            refused_at,
        })
    }
}

/// The message, word for word: what the caller reads.
impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn kind_to_pb(kind: RejectionKind) -> RefusalKind {
    match kind {
        RejectionKind::InvalidArgument => RefusalKind::InvalidArgument,
        RejectionKind::FailedPrecondition => RefusalKind::FailedPrecondition,
        RejectionKind::NotFound => RefusalKind::NotFound,
        RejectionKind::AlreadyExists => RefusalKind::AlreadyExists,
        RejectionKind::PermissionDenied => RefusalKind::PermissionDenied,
    }
}

/// `message` cut at a character boundary to at most [`MAX_REFUSAL_MESSAGE_BYTES`], ending in
/// `…` when cut.
fn bounded(mut message: String) -> String {
    if message.len() <= MAX_REFUSAL_MESSAGE_BYTES {
        return message;
    }
    let mut end = MAX_REFUSAL_MESSAGE_BYTES - '…'.len_utf8();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message.truncate(end);
    message.push('…');
    message
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::PrincipalName;

    fn long_name_refusal(name: &str) -> Refusal {
        Refusal::of(
            &Command::RevokePrincipal {
                principal: PrincipalName::from(name),
                reason: String::new(),
            },
            &Rejection::InvalidPrincipalName {
                principal: name.to_owned(),
            },
            Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0).unwrap(),
        )
    }

    #[test]
    fn a_refusal_round_trips_through_its_event() {
        let refusal = long_name_refusal("Desk One");
        assert_eq!(refusal.command, "RevokePrincipal");
        assert_eq!(refusal.rule, "InvalidPrincipalName");
        assert_eq!(refusal.kind, RejectionKind::InvalidArgument);
        assert!(refusal.message.starts_with("principal: \"Desk One\""));
        assert_eq!(refusal.to_event().refused_at_us, 1_795_140_000_000_000);
        assert_eq!(Refusal::from_event(&refusal.to_event()).unwrap(), refusal);
    }

    #[test]
    fn a_long_message_is_cut_at_a_character_boundary_within_the_bound() {
        // Three-byte characters, so the bound falls inside one.
        let refusal = long_name_refusal(&"书".repeat(2000));
        assert!(refusal.message.len() <= MAX_REFUSAL_MESSAGE_BYTES);
        assert!(refusal.message.len() > MAX_REFUSAL_MESSAGE_BYTES - 8);
        assert!(refusal.message.ends_with('…'));
        assert_eq!(
            Refusal::from_event(&refusal.to_event()).unwrap().message,
            refusal.message
        );
    }

    #[test]
    fn a_refusal_of_an_unknown_kind_is_not_read_as_another_kind() {
        let mut event = long_name_refusal("x").to_event();
        event.kind = RefusalKind::Unspecified as i32;
        assert!(matches!(
            Refusal::from_event(&event),
            Err(CodecError::UnknownValue { value: 0, .. })
        ));
        event.kind = 99;
        assert!(matches!(
            Refusal::from_event(&event),
            Err(CodecError::UnknownValue { value: 99, .. })
        ));
    }

    #[test]
    fn a_refusal_time_out_of_range_is_an_error_not_a_guess() {
        let mut event = long_name_refusal("x").to_event();
        event.refused_at_us = i64::MAX;
        assert!(matches!(
            Refusal::from_event(&event),
            Err(CodecError::UnknownValue {
                value: i64::MAX,
                ..
            })
        ));
    }
}
