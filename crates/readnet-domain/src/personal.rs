//! Personal data in events (ADR 0018): which fields of a payload name a patron, and the parts of
//! a sealed patron id that need no key.
//!
//! The ledger seals every patron id before an event is stored: `s1.<token>.<box>`, where `box`
//! (base64url) holds the patron's key id under the key store's index key and the patron id
//! under the patron's own key, each with a random nonce, so two events of one patron share no
//! bytes. `token` (base64url of 16 bytes) is a keyed hash of the patron's key and the local day
//! the event happened on: the statistics count distinct active patrons per day with it, and the
//! same log gives the same count with or without the keys. An id without the `s1.` prefix is a
//! plaintext id written before sealing (a legacy log): it is its own token.

use crate::Payload;

/// What starts a sealed patron id.
pub const SEALED_PREFIX: &str = "s1.";

/// The id of a forgotten patron, as the command bus reads their sealed events once the key is
/// gone: one anonymous patron that every such event names. It never matches a card's id (those
/// are hex).
pub const FORGOTTEN_PATRON: &str = "~forgotten";

/// Whether `patron_id` is a sealed id (as stored), rather than a plaintext one.
pub fn is_sealed(patron_id: &str) -> bool {
    patron_id.starts_with(SEALED_PREFIX)
}

/// The part of a patron id that says "the same patron, the same day" and nothing more: the token
/// of a sealed id, or a plaintext id itself. Empty stays empty.
pub fn activity_token(patron_id: &str) -> &str {
    match patron_id.strip_prefix(SEALED_PREFIX) {
        Some(rest) => rest.split_once('.').map_or(rest, |(token, _)| token),
        None => patron_id,
    }
}

/// Every field of `payload` that holds a patron id (empty ones included), in field order.
pub fn patron_ids_mut(payload: &mut Payload) -> Vec<&mut String> {
    match payload {
        Payload::PatronEnrolled(e) => vec![&mut e.patron_id],
        Payload::PatronTierChanged(e) => vec![&mut e.patron_id],
        Payload::PatronForgotten(e) => vec![&mut e.patron_id],
        Payload::ItemLoaned(e) => vec![&mut e.patron_id],
        Payload::ItemRenewed(e) => vec![&mut e.patron_id],
        Payload::ItemReturned(e) => vec![&mut e.patron_id],
        Payload::BoothSwapped(e) => vec![&mut e.patron_id],
        Payload::ItemDeclaredLost(e) => vec![&mut e.patron_id],
        Payload::LostItemPaid(e) => vec![&mut e.patron_id],
        Payload::LostItemDebtWaived(e) => vec![&mut e.patron_id],
        Payload::LoanExtended(e) => vec![&mut e.patron_id],
        Payload::HoldPlaced(e) => vec![&mut e.patron_id],
        Payload::HoldAssigned(e) => vec![&mut e.patron_id],
        Payload::HoldReady(e) => vec![&mut e.patron_id],
        Payload::HoldFilled(e) => vec![&mut e.patron_id],
        Payload::HoldReleased(e) => vec![&mut e.patron_id],
        Payload::HoldEnded(e) => vec![&mut e.patron_id],
        Payload::PatronDrivenPurchaseRecorded(e) => vec![&mut e.patron_id],
        Payload::DigitalLoaned(e) => vec![&mut e.patron_id],
        Payload::DigitalLoanEnded(e) => vec![&mut e.patron_id],
        Payload::CityJoined(_)
        | Payload::LibraryRegistered(_)
        | Payload::LibraryClosed(_)
        | Payload::ReturnPolicySet(_)
        | Payload::TariffSet(_)
        | Payload::ItemCatalogued(_)
        | Payload::TransferDispatched(_)
        | Payload::TransferReceived(_)
        | Payload::ItemWithdrawn(_)
        | Payload::SettlementPeriodClosed(_)
        | Payload::PrincipalAdded(_)
        | Payload::PrincipalChanged(_)
        | Payload::PrincipalRevoked(_)
        | Payload::TokenIssued(_)
        | Payload::CommandRefused(_)
        | Payload::LibraryRolesSet(_)
        | Payload::LibraryMoved(_)
        | Payload::LibraryRenamed(_)
        | Payload::LibraryTierChanged(_)
        | Payload::CalendarSet(_)
        | Payload::LibraryClosedTemporarily(_)
        | Payload::LibraryReopened(_)
        | Payload::ClockTicked(_)
        | Payload::NoticesAcknowledged(_)
        | Payload::AcquisitionBudgetSet(_)
        | Payload::AcquisitionPolicySet(_)
        | Payload::BookstorePartnerRegistered(_)
        | Payload::EResourceLicensed(_)
        | Payload::FootfallReported(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_of_a_sealed_id_is_its_second_part() {
        assert_eq!(activity_token("s1.AAAA.BBBB"), "AAAA");
        assert_eq!(activity_token("c3a929a9"), "c3a929a9");
        assert_eq!(activity_token(""), "");
        assert!(is_sealed("s1.AAAA.BBBB"));
        assert!(!is_sealed("c3a929a9"));
    }
}
