//! Compact per-seed storage. `kasim run --seeds N` holds one summary per
//! seed until it aggregates, so what a session run keeps (its restore times,
//! its request latencies) is packed as LEB128 varints: 2–5 bytes a number
//! instead of 8, and no B-tree nodes. Both serialize exactly as the plain
//! collections they replace (a list of numbers; a map of milliseconds to
//! counts), so shard partials read the same.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

fn put(buf: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            buf.push(byte);
            return;
        }
        buf.push(byte | 0x80);
    }
}

/// The varints of `bytes`, in order.
fn numbers(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = *bytes.get(at)?;
            at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
            shift += 7;
        }
    })
}

/// A list of numbers, in the order pushed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackedList(Vec<u8>);

impl PackedList {
    /// Append `v`.
    pub fn push(&mut self, v: u64) {
        put(&mut self.0, v);
    }
    /// The numbers, in the order pushed.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        numbers(&self.0)
    }
    /// Does it hold no number?
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The bytes it takes.
    pub fn byte_len(&self) -> usize {
        self.0.len()
    }
    /// Give back the spare capacity (once the list is complete).
    pub fn shrink(&mut self) {
        self.0.shrink_to_fit();
    }
}

impl FromIterator<u64> for PackedList {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        let mut list = PackedList::default();
        for v in iter {
            list.push(v);
        }
        list.shrink();
        list
    }
}

impl Serialize for PackedList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for PackedList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<u64>::deserialize(d)?.into_iter().collect())
    }
}

/// Counts by value (a histogram), values ascending: each entry is the gap
/// from the previous value and its count, so latencies clustered around a
/// round trip take two or three bytes each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackedCounts(Box<[u8]>);

impl PackedCounts {
    /// `(value, count)` in ascending value.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut n = numbers(&self.0);
        let mut value = 0u64;
        std::iter::from_fn(move || {
            value += n.next()?;
            Some((value, n.next()?))
        })
    }
}

impl From<&BTreeMap<u64, u64>> for PackedCounts {
    fn from(map: &BTreeMap<u64, u64>) -> Self {
        let mut buf = Vec::new();
        let mut previous = 0;
        for (&value, &count) in map {
            put(&mut buf, value - previous);
            put(&mut buf, count);
            previous = value;
        }
        PackedCounts(buf.into_boxed_slice())
    }
}

impl Serialize for PackedCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for PackedCounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(PackedCounts::from(&BTreeMap::<u64, u64>::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_counts_come_back_as_they_went_in_and_serialize_as_plain_collections() {
        let values = [0, 1, 127, 128, 16_383, 16_384, 60_000_000_000, u64::MAX];
        let list: PackedList = values.into_iter().collect();
        assert_eq!(list.iter().collect::<Vec<_>>(), values);
        // LEB128, 7 bits a byte: 1+1+1+2+2+3+6 (60e9 < 2^36) +10 bytes.
        assert_eq!(list.0.len(), 26);
        assert_eq!(serde_json::to_string(&list).unwrap(), serde_json::to_string(&values).unwrap());
        assert_eq!(serde_json::from_str::<PackedList>(&serde_json::to_string(&values).unwrap()).unwrap(), list);

        let map = BTreeMap::from([(50, 900), (51, 40), (52, 3), (3000, 1)]);
        let counts = PackedCounts::from(&map);
        assert_eq!(counts.iter().collect::<BTreeMap<_, _>>(), map);
        // Gaps 50, 1, 1, 2948 and counts 900, 40, 3, 1: 1+2+1+1+1+1+2+1 bytes.
        assert_eq!(counts.0.len(), 10);
        let json = serde_json::to_string(&map).unwrap();
        assert_eq!(serde_json::to_string(&counts).unwrap(), json);
        assert_eq!(serde_json::from_str::<PackedCounts>(&json).unwrap(), counts);
    }
}
