//! The codes and ids the domain speaks of, as types of their own, so that an item code is never
//! passed where a library code is meant. Each wraps the `String` the protobuf messages carry:
//! converting at the boundary moves the string, and a clone costs what a `String` clone did.

use std::borrow::Borrow;
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(
            feature = "serde",
            derive(serde::Serialize, serde::Deserialize),
            serde(transparent)
        )]
        pub struct $name(String);

        impl $name {
            /// The code as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// Maps keyed by the code are looked up with a `&str`.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(code: String) -> Self {
                Self(code)
            }
        }

        impl From<&str> for $name {
            fn from(code: &str) -> Self {
                Self(code.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(code: $name) -> Self {
                code.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

string_id!(
    /// A library's code (`JN-CENTRAL`, `JN-BOOTH-01`).
    LibraryCode
);
string_id!(
    /// An item's code, the id of its stream (`ZB-000123`).
    ItemCode
);
string_id!(
    /// A member city's code (`jinan`).
    CityCode
);
string_id!(
    /// A patron's id: the keyed hash of their card (see [`crate::PatronKey`]), never the card.
    PatronId
);

string_id!(
    /// A principal's name (`admin`, `jn-central-desk`): who a credential belongs to.
    PrincipalName
);

string_id!(
    /// A token's public id: the part of a token that names it in the log and in the token file.
    TokenId
);
