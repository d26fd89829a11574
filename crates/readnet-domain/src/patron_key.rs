use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ids::PatronId;

/// The network secret that turns a card into a patron id. The raw card number is never stored:
/// a patron id is HMAC-SHA256(secret, city || 0x00 || card number), first 16 bytes, hex.
#[derive(Clone)]
pub struct PatronKey {
    mac: Hmac<Sha256>,
}

impl PatronKey {
    /// A key from the network secret's bytes (any length; 32 random bytes are usual).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            mac: Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length"),
        }
    }

    /// A digest keyed with the network secret, for anything that may hold a card number (a
    /// request's digest, kept to recognise retries): without the secret it reveals nothing,
    /// not even to a search over every possible card number. Parts are length-prefixed.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(b"readnet-digest\0");
        for part in parts {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The patron id of a card.
    pub fn patron_id(&self, city: &str, card_number: &str) -> PatronId {
        let mut mac = self.mac.clone();
        mac.update(city.as_bytes());
        mac.update(&[0]);
        mac.update(card_number.as_bytes());
        let digest = mac.finalize().into_bytes();
        hex::encode(&digest[..16]).into()
    }
}

impl std::fmt::Debug for PatronKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PatronKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patron_id_depends_on_secret_city_and_card_and_hides_the_number() {
        let key = PatronKey::new(b"network secret");
        let id = key.patron_id("jinan", "370102199001011234");
        assert_eq!(id.as_str().len(), 32);
        assert!(!id.as_str().contains("1234"));
        assert_eq!(id, key.patron_id("jinan", "370102199001011234"));
        assert_ne!(id, key.patron_id("zibo", "370102199001011234"));
        assert_ne!(id, key.patron_id("jinan", "370102199001011235"));
        assert_ne!(
            id,
            PatronKey::new(b"other").patron_id("jinan", "370102199001011234")
        );
    }
}
