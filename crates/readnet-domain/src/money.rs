//! Money: whole fen (0.01 yuan) as an integer, never a float.

use std::fmt;

/// The most a catalogued item may cost: 10,000,000 fen (100,000 yuan). A rare book or a bound
/// set costs a library thousands of yuan, not millions; the bound keeps a typo (or a hostile
/// request) from becoming a debt no patron can pay, and keeps every sum of money far from
/// `i64::MAX`: a statement line would need over 900 billion charges at this bound to overflow.
pub const MAX_PRICE_FEN: Fen = Fen(10_000_000);

/// The most one charge of a tariff may be: 100,000 fen (1,000 yuan). Tariffs price a loan, a
/// return or a shipment between cities, which cost yuan, not thousands of yuan.
pub const MAX_TARIFF_FEN: Fen = Fen(100_000);

/// The most one payment may be: the price bound, since a payment settles one lost item's debt,
/// which is the item's price or the lost tariff, both at most [`MAX_PRICE_FEN`].
pub const MAX_PAYMENT_FEN: Fen = MAX_PRICE_FEN;

/// The most a library's acquisition budget for one year may be: 10,000,000,000 fen (100 million
/// yuan), far above any city library's book budget, and far from `i64::MAX` however many years
/// or libraries are summed.
pub const MAX_BUDGET_FEN: Fen = Fen(10_000_000_000);

/// An amount of money in fen. Arithmetic is checked: an overflow is a `None` to handle, never a
/// wrapped amount, so there is no `Add` or `Sub`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct Fen(pub i64);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    /// The amount as the integer fen the protobuf messages carry.
    pub fn get(self) -> i64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }

    /// `self - other`, or `None` on overflow.
    pub fn checked_sub(self, other: Fen) -> Option<Fen> {
        self.0.checked_sub(other.0).map(Fen)
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
}

/// The number alone (`4500`): messages add the unit.
impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_that_overflows_is_none() {
        assert_eq!(Fen(4500).checked_add(Fen(500)), Some(Fen(5000)));
        assert_eq!(Fen(4500).checked_sub(Fen(500)), Some(Fen(4000)));
        assert_eq!(Fen(i64::MAX).checked_add(Fen(1)), None);
        assert_eq!(Fen(i64::MIN).checked_sub(Fen(1)), None);
    }
}
