//! Hash maps inside, ordered maps in the canonical encoding.
//!
//! The canonical encoding of a state (ADR 0022) is the `postcard` 1.x wire format of its serde
//! encoding: what snapshots hold and digests hash. The format is not self-describing, so a
//! state's types must not use the serde attributes that need the decoder to look ahead or that
//! make the fields written depend on the values: `skip_serializing_if`, internally tagged
//! (`tag = "..."`) or `untagged` enums, `flatten`, or anything decoded with `deserialize_any`.
//! Every field is always written, every enum is externally tagged (its variant's index).
//!
//! The big maps of a projection (items, titles) are looked up on every event; ordered maps pay a
//! tree descent of string comparisons for each look-up, hash maps one hash and one comparison.
//! The canonical encoding stays that of an ordered map: these serialisers sort the entries by
//! key as they write them, so a state encodes to the same bytes whichever map holds it, and no
//! hash order ever reaches a digest.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use serde::{Serialize, Serializer};

/// A hash map with a fast, deterministic, unkeyed hasher (FxHash).
pub type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;
/// A hash set with the hasher of [`FastMap`].
pub type FastSet<T> = rustc_hash::FxHashSet<T>;

/// Serialises a hash map as a map in key order: the encoding of the same entries in a
/// `BTreeMap`. For `#[serde(serialize_with = "...")]`.
pub fn sorted_map<K, V, H, S>(map: &HashMap<K, V, H>, serializer: S) -> Result<S::Ok, S::Error>
where
    K: Ord + Serialize,
    V: Serialize,
    H: BuildHasher,
    S: Serializer,
{
    let mut entries: Vec<(&K, &V)> = map.iter().collect();
    // Keys are unique, so an unstable sort is still one order.
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    serializer.collect_map(entries)
}

/// Serialises a hash set as a sequence in order: the encoding of the same values in a
/// `BTreeSet`. For `#[serde(serialize_with = "...")]`.
pub fn sorted_set<T, H, S>(set: &HashSet<T, H>, serializer: S) -> Result<S::Ok, S::Error>
where
    T: Ord + Serialize,
    H: BuildHasher,
    S: Serializer,
{
    let mut values: Vec<&T> = set.iter().collect();
    values.sort_unstable();
    serializer.collect_seq(values)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    #[derive(Serialize)]
    struct Hashed {
        #[serde(serialize_with = "sorted_map")]
        map: FastMap<String, u32>,
        #[serde(serialize_with = "sorted_set")]
        set: FastSet<String>,
    }

    #[derive(Serialize, serde::Deserialize)]
    struct Ordered {
        map: BTreeMap<String, u32>,
        set: BTreeSet<String>,
    }

    #[test]
    fn hashed_maps_and_sets_encode_like_ordered_ones() {
        let keys: Vec<String> = (0..500)
            .map(|i| format!("GZ-{:05}", (i * 7919) % 1000))
            .collect();
        let hashed = Hashed {
            map: keys.iter().map(|k| (k.clone(), k.len() as u32)).collect(),
            set: keys.iter().cloned().collect(),
        };
        let ordered = Ordered {
            map: keys.iter().map(|k| (k.clone(), k.len() as u32)).collect(),
            set: keys.iter().cloned().collect(),
        };
        let bytes = crate::encode_state(&hashed).unwrap();
        assert_eq!(bytes, crate::encode_state(&ordered).unwrap());
        // The maps' orders differ: the sort is what makes the bytes equal.
        assert!(!hashed.map.keys().eq(ordered.map.keys()));
        let decoded: Ordered = crate::decode_state(&bytes).unwrap();
        assert_eq!((&decoded.map, &decoded.set), (&ordered.map, &ordered.set));
        // The JSON export is that of the ordered maps too.
        assert_eq!(
            serde_json::to_string(&hashed).unwrap(),
            serde_json::to_string(&ordered).unwrap()
        );
    }
}
