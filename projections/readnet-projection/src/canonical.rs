//! Hash maps inside, ordered JSON outside.
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

/// For `skip_serializing_if`: a field added later is left out of the encoding while it has its
/// zero value, so that the states (and digests) of logs that never set it stay as they were.
pub fn is_false(value: &bool) -> bool {
    !*value
}

/// As [`is_false`], for counts.
pub fn is_zero(value: &u32) -> bool {
    *value == 0
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

    #[derive(Serialize)]
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
        assert_eq!(
            serde_json::to_string(&hashed).unwrap(),
            serde_json::to_string(&ordered).unwrap()
        );
    }
}
