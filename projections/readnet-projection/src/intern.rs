//! Codes interned once: dense integer ids for the strings a fold keys its state by.
//!
//! A fold that keys millions of entries by item code, library code or title key pays, per event,
//! a string hash and comparison for every look-up and a heap allocation for every new key, and
//! holds each key as a `String` (24 bytes plus its allocation) in every map that names it. An
//! [`Interner`] keeps every code once, in one contiguous buffer, and hands out a [`Code`] (a
//! `u32`) that indexes plain vectors: per-item state becomes a `Vec` of small fixed-size
//! structs, and a look-up by id is an index.
//!
//! Ids are given in the order codes are first seen. A fold sees the log in position order, so
//! the same history gives the same ids on every machine, and a state encoded in id order is
//! canonical without sorting anything.

use std::fmt;
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::num::NonZeroU32;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An interned code: an index into its [`Interner`] and into the vectors kept beside it.
/// The type parameter says what kind of code it is (a marker type of the fold's), so an item's
/// id cannot index a library's table.
///
/// Held as the index plus one, so that `Option<Code<K>>` is 4 bytes like the code itself: per-item
/// structs keep optional codes (a loan's lender, a destination) at no extra cost.
pub struct Code<K> {
    index_plus_one: NonZeroU32,
    kind: PhantomData<fn() -> K>,
}

impl<K> Code<K> {
    /// The id as an index into vectors kept beside the interner.
    pub fn index(self) -> usize {
        (self.index_plus_one.get() - 1) as usize
    }

    /// The id of the code at `index` (for iterating vectors kept beside the interner).
    pub fn from_index(index: usize) -> Self {
        u32::try_from(index)
            .ok()
            .and_then(Self::from_u32)
            .expect("interned ids fit a u32")
    }

    fn from_u32(index: u32) -> Option<Self> {
        let index_plus_one = NonZeroU32::new(index.checked_add(1)?)?;
        Some(Self {
            index_plus_one,
            kind: PhantomData,
        })
    }

    fn get(self) -> u32 {
        self.index_plus_one.get() - 1
    }
}

// Derives would require `K: Clone` etc.; the marker is never stored.
impl<K> Clone for Code<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Code<K> {}
impl<K> PartialEq for Code<K> {
    fn eq(&self, other: &Self) -> bool {
        self.index_plus_one == other.index_plus_one
    }
}
impl<K> Eq for Code<K> {}
impl<K> PartialOrd for Code<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Code<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.index_plus_one.cmp(&other.index_plus_one)
    }
}
impl<K> std::hash::Hash for Code<K> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.index_plus_one.hash(state);
    }
}
impl<K> fmt::Debug for Code<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.get())
    }
}
impl<K> Serialize for Code<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(serializer)
    }
}
impl<'de, K> Deserialize<'de> for Code<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let index = u32::deserialize(deserializer)?;
        Self::from_u32(index)
            .ok_or_else(|| serde::de::Error::custom(format!("{index} is not an interned id")))
    }
}

/// Codes of one kind, each kept once, with dense ids in the order first seen.
///
/// Memory: the code's bytes, 4 bytes for where it ends, and about 4.5 bytes of hash table (a
/// `u32` slot and a control byte, at the table's load factor): about 9 bytes over the code
/// itself, against 24 bytes of `String` header, an allocation and a map entry for each map a
/// `String` key is repeated in.
pub struct Interner<K> {
    /// Every code, back to back.
    text: String,
    /// Where each code ends in `text`; code `i` starts where code `i - 1` ends.
    ends: Vec<u32>,
    /// Ids, found by the hash of their code.
    table: HashTable<u32>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Default for Interner<K> {
    fn default() -> Self {
        Self {
            text: String::new(),
            ends: Vec::new(),
            table: HashTable::new(),
            kind: PhantomData,
        }
    }
}

impl<K> Clone for Interner<K> {
    fn clone(&self) -> Self {
        Self {
            text: self.text.clone(),
            ends: self.ends.clone(),
            table: self.table.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> fmt::Debug for Interner<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interner")
            .field("codes", &self.len())
            .field("bytes", &self.text.len())
            .finish()
    }
}

impl<K> PartialEq for Interner<K> {
    fn eq(&self, other: &Self) -> bool {
        // The ids follow from the order, so equal text and ends mean equal tables.
        self.ends == other.ends && self.text == other.text
    }
}
impl<K> Eq for Interner<K> {}

fn hash(code: &str) -> u64 {
    FxBuildHasher.hash_one(code)
}

impl<K> Interner<K> {
    /// How many codes are kept.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no code is kept.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The code of `id`. Panics on an id this interner did not give.
    pub fn resolve(&self, id: Code<K>) -> &str {
        let index = id.index();
        let end = self.ends[index] as usize;
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize
        };
        &self.text[start..end]
    }

    /// The id of `code`, if it was interned.
    pub fn get(&self, code: &str) -> Option<Code<K>> {
        self.table
            .find(hash(code), |&id| {
                self.resolve(Code::from_index(id as usize)) == code
            })
            .map(|&id| Code::from_index(id as usize))
    }

    /// The id of `code`, interning it if it is new (a new id is [`Interner::len`] before the
    /// call). Allocates only when a buffer grows.
    pub fn intern(&mut self, code: &str) -> Code<K> {
        if let Some(id) = self.get(code) {
            return id;
        }
        // The last u32 is not an id (ids are held plus one).
        let id = u32::try_from(self.ends.len())
            .ok()
            .filter(|&id| id < u32::MAX)
            .expect("fewer than 2^32 - 1 codes");
        self.text.push_str(code);
        self.ends
            .push(u32::try_from(self.text.len()).expect("interned codes fit 4 GiB of text"));
        // The closure rehashes existing ids when the table grows.
        let Self {
            text, ends, table, ..
        } = self;
        table.insert_unique(hash(code), id, |&other| {
            let other = other as usize;
            let start = if other == 0 {
                0
            } else {
                ends[other - 1] as usize
            };
            hash(&text[start..ends[other] as usize])
        });
        Code::from_index(id as usize)
    }

    /// Every id with its code, in id order (the order first seen).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (Code<K>, &str)> + '_ {
        (0..self.len()).map(|index| {
            let id = Code::from_index(index);
            (id, self.resolve(id))
        })
    }

    /// Bytes held on the heap (for the benchmarks' per-item figures).
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + self.ends.capacity() * std::mem::size_of::<u32>()
            + self.table.capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

/// Encoded as the sequence of codes in id order: the ids are their positions.
impl<K> Serialize for Interner<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for (_, code) in self.iter() {
            seq.serialize_element(code)?;
        }
        seq.end()
    }
}

impl<'de, K> Deserialize<'de> for Interner<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Codes<K>(PhantomData<fn() -> K>);
        impl<'de, K> Visitor<'de> for Codes<K> {
            type Value = Interner<K>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of distinct codes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut interner = Interner::default();
                while let Some(code) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
                    let before = interner.len();
                    let id = interner.intern(&code);
                    if id.index() != before {
                        return Err(serde::de::Error::custom(format!(
                            "code {code:?} appears twice in an interner"
                        )));
                    }
                }
                Ok(interner)
            }
        }
        deserializer.deserialize_seq(Codes(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item;

    #[test]
    fn ids_are_dense_in_the_order_first_seen_and_resolve_back() {
        let mut codes = Interner::<Item>::default();
        let a = codes.intern("GZ-00001");
        let b = codes.intern("JN-7");
        assert_eq!(codes.intern("GZ-00001"), a);
        assert_eq!((a.index(), b.index()), (0, 1));
        assert_eq!(codes.resolve(b), "JN-7");
        assert_eq!(codes.get("JN-7"), Some(b));
        assert_eq!(codes.get("JN-8"), None);
        assert_eq!(codes.len(), 2);
    }

    #[test]
    fn survives_growth_and_round_trips_through_its_encoding() {
        let mut codes = Interner::<Item>::default();
        let keys: Vec<String> = (0..50_000)
            .map(|i| format!("ZB-{:07}", i * 7919 % 100_003))
            .collect();
        let ids: Vec<Code<Item>> = keys.iter().map(|k| codes.intern(k)).collect();
        for (key, id) in keys.iter().zip(&ids) {
            assert_eq!(codes.get(key), Some(*id));
            assert_eq!(codes.resolve(*id), key);
        }
        let json = serde_json::to_string(&codes).unwrap();
        let back: Interner<Item> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, codes);
        assert_eq!(back.get(&keys[777]), Some(ids[777]));
    }

    #[test]
    fn an_encoding_with_a_code_twice_is_refused() {
        let refused = serde_json::from_str::<Interner<Item>>(r#"["A","B","A"]"#).unwrap_err();
        assert!(refused.to_string().contains("appears twice"), "{refused}");
    }

    #[test]
    fn an_optional_id_is_as_small_as_an_id() {
        assert_eq!(std::mem::size_of::<Option<Code<Item>>>(), 4);
        assert_eq!(
            serde_json::to_string(&Code::<Item>::from_index(7)).unwrap(),
            "7"
        );
        let back: Code<Item> = serde_json::from_str("7").unwrap();
        assert_eq!(back.index(), 7);
        assert!(serde_json::from_str::<Code<Item>>("4294967295").is_err());
    }

    #[test]
    fn the_empty_code_is_a_code() {
        let mut codes = Interner::<Item>::default();
        let empty = codes.intern("");
        let x = codes.intern("X");
        assert_eq!(codes.resolve(empty), "");
        assert_eq!(codes.resolve(x), "X");
        assert_eq!(codes.get(""), Some(empty));
    }
}
