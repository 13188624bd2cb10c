//! The notifications handled last, remembered to drop second copies.

use foldhash::HashSet;
use std::collections::VecDeque;

/// How many `_unique_id`s of handled notifications are remembered to drop second copies.
pub(super) const REMEMBERED_IDS: usize = 4096;

/// The `_unique_id`s of the notifications handled last, to drop a second copy of one, as
/// oslo's subscriber does with its `_MsgIdCache`: after a reconnection the broker delivers again
/// what was handled but not yet acknowledged, and a sender that lost its connection publishes
/// again what the broker had not confirmed.
///
/// oslo writes a `_unique_id` as 32 lowercase hex digits (`uuid4().hex`); such an id is kept
/// as the number it spells, without a copy of its text and compared without following a
/// pointer. Any other text is kept as it is. Two ids are the same exactly when their texts
/// are: a number stands only for its one lowercase spelling, which no other text has.
#[derive(Debug)]
pub(super) struct RecentIds {
    order: VecDeque<Id>,
    /// Hashed by foldhash, seeded at random for each set as the standard hasher is (ids come
    /// from the network), at a third of its cost per notification.
    numbers: HashSet<u128>,
    texts: HashSet<Box<str>>,
    capacity: usize,
}

/// A remembered id: the number its 32 lowercase hex digits spell, or any other text.
#[derive(Debug)]
enum Id {
    Number(u128),
    Text(Box<str>),
}

/// Each byte's value as a lowercase hex digit, or 0xff for a byte that is not one.
const HEX_DIGITS: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The number `id` spells when it is exactly 32 lowercase hex digits: every digit looked up,
/// without a branch for each, in two halves of 64 bits.
fn number(id: &str) -> Option<u128> {
    let digits: &[u8; 32] = id.as_bytes().try_into().ok()?;
    let (high, low) = digits.split_at(16);
    let mut not_digits = 0;
    let mut half = |digits: &[u8]| {
        digits.iter().fold(0u64, |n, &b| {
            let digit = HEX_DIGITS[usize::from(b)];
            not_digits |= digit;
            n << 4 | u64::from(digit & 0xf)
        })
    };
    let n = u128::from(half(high)) << 64 | u128::from(half(low));
    // Only a byte that is not a digit has a bit above the lowest four.
    (not_digits & 0xf0 == 0).then_some(n)
}

/// An id as [`RecentIds`] looks it up: read once, then asked about and remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key<'a> {
    /// The number 32 lowercase hex digits spell.
    Number(u128),
    /// Any other text.
    Text(&'a str),
}

impl<'a> Key<'a> {
    pub(super) fn of(id: &'a str) -> Self {
        match number(id) {
            Some(n) => Key::Number(n),
            None => Key::Text(id),
        }
    }
}

impl RecentIds {
    pub(super) fn new(capacity: usize) -> Self {
        RecentIds {
            order: VecDeque::with_capacity(capacity),
            numbers: HashSet::with_capacity_and_hasher(capacity, Default::default()),
            texts: HashSet::default(),
            capacity,
        }
    }

    pub(super) fn contains(&self, key: Key<'_>) -> bool {
        match key {
            Key::Number(n) => self.numbers.contains(&n),
            Key::Text(text) => self.texts.contains(text),
        }
    }

    pub(super) fn insert(&mut self, key: Key<'_>) {
        if self.contains(key) {
            return;
        }
        if self.order.len() == self.capacity {
            match self.order.pop_front() {
                Some(Id::Number(n)) => {
                    self.numbers.remove(&n);
                }
                Some(Id::Text(text)) => {
                    self.texts.remove(&text);
                }
                None => {}
            }
        }
        let id = match key {
            Key::Number(n) => {
                self.numbers.insert(n);
                Id::Number(n)
            }
            Key::Text(text) => {
                let text: Box<str> = text.into();
                self.texts.insert(text.clone());
                Id::Text(text)
            }
        };
        self.order.push_back(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_ids_remember_the_last_ones() {
        let mut recent = RecentIds::new(2);
        recent.insert(Key::of("a"));
        recent.insert(Key::of("b"));
        recent.insert(Key::of("b"));
        assert!(recent.contains(Key::of("a")) && recent.contains(Key::of("b")));
        recent.insert(Key::of("c"));
        assert!(
            !recent.contains(Key::of("a"))
                && recent.contains(Key::of("b"))
                && recent.contains(Key::of("c"))
        );
    }

    #[test]
    fn oslo_ids_are_numbers_and_only_their_lowercase_spelling_is() {
        let hex = "0123456789abcdef0123456789abcdef";
        assert_eq!(number(hex), Some(0x0123456789abcdef0123456789abcdef));
        assert_eq!(number(&"f".repeat(32)), Some(u128::MAX));
        for other in [
            "0123456789ABCDEF0123456789abcdef",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "01234567-89ab-cdef-0123-456789abcdef",
            "0123456789abcdeg0123456789abcdef",
            " 123456789abcdef0123456789abcdef",
            "",
        ] {
            assert_eq!(number(other), None, "{other:?}");
        }
    }

    #[test]
    fn every_byte_in_every_place_is_read_as_u128_from_str_radix_reads_it() {
        for place in 0..32 {
            for b in 0..=255u8 {
                let mut bytes = *b"00112233445566778899aabbccddeeff";
                bytes[place] = b;
                let Ok(id) = std::str::from_utf8(&bytes) else {
                    continue;
                };
                let lowercase = b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
                let want = lowercase.then(|| u128::from_str_radix(id, 16).unwrap());
                assert_eq!(number(id), want, "{id:?}");
            }
        }
    }

    #[test]
    fn ids_are_the_same_exactly_when_their_texts_are() {
        let lower = "0123456789abcdef0123456789abcdef";
        let upper = lower.to_uppercase();
        let dashed = "01234567-89ab-cdef-0123-456789abcdef";
        let mut recent = RecentIds::new(8);
        recent.insert(Key::of(lower));
        assert!(recent.contains(Key::of(lower)));
        assert!(!recent.contains(Key::of(&upper)) && !recent.contains(Key::of(dashed)));
        recent.insert(Key::of(&upper));
        recent.insert(Key::of(dashed));
        assert!(
            recent.contains(Key::of(lower))
                && recent.contains(Key::of(&upper))
                && recent.contains(Key::of(dashed))
        );
    }

    #[test]
    fn numbers_and_texts_leave_in_the_order_they_came() {
        let ids: Vec<String> = (0..40u32)
            .map(|i| match i % 3 {
                0 => format!("{:032x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15),
                1 => format!("{:032X}", u128::from(i) << 64 | 0xa),
                _ => format!("id-{i}"),
            })
            .collect();
        let mut recent = RecentIds::new(10);
        for (i, id) in ids.iter().enumerate() {
            recent.insert(Key::of(id));
            recent.insert(Key::of(id));
            let kept = i.saturating_sub(9)..=i;
            for (j, id) in ids.iter().enumerate() {
                assert_eq!(
                    recent.contains(Key::of(id)),
                    kept.contains(&j),
                    "{id} after {i}"
                );
            }
        }
        assert_eq!(recent.order.len(), 10);
        assert_eq!(recent.numbers.len() + recent.texts.len(), 10);
    }
}
