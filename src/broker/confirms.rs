//! Publisher-confirm bookkeeping, with no I/O: which messages the broker has not confirmed
//! yet, which delivery tag of the current channel stands for which message, which refused
//! (nacked) ones are due to be published again and when, and which were refused for too long.
//!
//! Every message gets a sequence number (1, 2, 3, ... in publish order) that stays valid
//! across channels and connections; delivery tags restart at 1 on every channel.

use super::reconnect::Backoff;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A message kept until the broker confirms it.
#[derive(Debug)]
struct Entry<M> {
    message: M,
    /// How many times the broker refused it, and when first.
    nacks: u32,
    first_nack: Option<Instant>,
}

/// Values numbered in the order they came (sequence numbers, delivery tags), each taken out
/// when it is settled, in any order. A ring of slots from the oldest one not taken out to
/// the newest: numbering, finding and taking out cost no allocation (the ring grows only
/// past its largest size so far), where a map would allocate nodes as it goes.
#[derive(Debug)]
struct Numbered<T> {
    /// The number of the first slot. The first slot is always full (or there is none).
    first: u64,
    slots: VecDeque<Option<T>>,
    /// How many slots are full.
    full: usize,
}

impl<T> Numbered<T> {
    /// Empty; the first value will be numbered `first`.
    fn new(first: u64) -> Self {
        Numbered {
            first,
            slots: VecDeque::new(),
            full: 0,
        }
    }

    /// Adds `value` with the next number, and returns that number.
    fn push(&mut self, value: T) -> u64 {
        let number = self.next();
        self.slots.push_back(Some(value));
        self.full += 1;
        number
    }

    /// The number the next value will have.
    fn next(&self) -> u64 {
        self.first + self.slots.len() as u64
    }

    fn slot(&self, number: u64) -> Option<usize> {
        let at = usize::try_from(number.checked_sub(self.first)?).ok()?;
        (at < self.slots.len()).then_some(at)
    }

    fn get(&self, number: u64) -> Option<&T> {
        self.slots.get(self.slot(number)?)?.as_ref()
    }

    fn get_mut(&mut self, number: u64) -> Option<&mut T> {
        let at = self.slot(number)?;
        self.slots.get_mut(at)?.as_mut()
    }

    /// Takes the value numbered `number` out, if it is in.
    fn remove(&mut self, number: u64) -> Option<T> {
        let at = self.slot(number)?;
        let value = self.slots.get_mut(at)?.take()?;
        self.full -= 1;
        self.drop_empty_front();
        Some(value)
    }

    /// Takes out every value numbered up to `number`, oldest first, giving each to `each`.
    fn remove_through(&mut self, number: u64, mut each: impl FnMut(T)) {
        while self.first <= number {
            let Some(slot) = self.slots.pop_front() else {
                break;
            };
            self.first += 1;
            if let Some(value) = slot {
                self.full -= 1;
                each(value);
            }
        }
        self.drop_empty_front();
    }

    fn drop_empty_front(&mut self) {
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.first += 1;
        }
    }

    /// The values in, oldest first, with their numbers.
    fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        (self.first..)
            .zip(&self.slots)
            .filter_map(|(number, slot)| Some((number, slot.as_ref()?)))
    }
}

/// The messages published and not yet confirmed, and what the confirms so far said.
#[derive(Debug)]
pub(super) struct Ledger<M> {
    /// How long a message may go on being refused before it counts as refused for good.
    timeout: Duration,
    /// The unconfirmed messages by sequence number.
    unconfirmed: Numbered<Entry<M>>,
    /// Delivery tag on the current channel -> sequence number, for what awaits a confirm.
    tags: Numbered<u64>,
    /// Refused messages to publish again, and when.
    resend: Vec<u64>,
    resend_at: Option<Instant>,
    /// Messages refused for longer than the timeout, and the first of them.
    refused: usize,
    first_refused: Option<u64>,
}

impl<M> Ledger<M> {
    /// Nothing published yet.
    pub(super) fn new(timeout: Duration) -> Self {
        Ledger {
            timeout,
            unconfirmed: Numbered::new(1),
            tags: Numbered::new(1),
            resend: Vec::new(),
            resend_at: None,
            refused: 0,
            first_refused: None,
        }
    }

    /// Keeps `message` until it is confirmed; returns its sequence number.
    pub(super) fn add(&mut self, message: M) -> u64 {
        self.unconfirmed.push(Entry {
            message,
            nacks: 0,
            first_nack: None,
        })
    }

    /// The message of `seq`, while unconfirmed.
    pub(super) fn get(&self, seq: u64) -> Option<&M> {
        self.unconfirmed.get(seq).map(|e| &e.message)
    }

    /// Every unconfirmed message, in publish order.
    pub(super) fn unconfirmed(&self) -> impl Iterator<Item = (u64, &M)> {
        self.unconfirmed.iter().map(|(seq, e)| (seq, &e.message))
    }

    /// How many messages are unconfirmed.
    pub(super) fn unconfirmed_count(&self) -> usize {
        self.unconfirmed.full
    }

    /// `seq` was published on the current channel: it has the channel's next delivery tag.
    pub(super) fn published(&mut self, seq: u64) {
        self.tags.push(seq);
    }

    /// Publishing goes on on a new channel (or connection): its delivery tags start at 1,
    /// and nothing sent on the old one will be confirmed.
    pub(super) fn new_channel(&mut self) {
        self.tags = Numbered::new(1);
    }

    /// Everything unconfirmed is about to be published again on a new connection, refused
    /// messages included: no resend is due any more.
    pub(super) fn forget_resends(&mut self) {
        self.resend.clear();
        self.resend_at = None;
        self.new_channel();
    }

    /// Whether the current channel has publishes awaiting their confirm.
    pub(super) fn awaiting_confirms(&self) -> bool {
        self.tags.full > 0
    }

    /// When refused messages are due to be published again, if any are.
    pub(super) fn resend_at(&self) -> Option<Instant> {
        self.resend_at
    }

    /// The refused messages due to be published again, in publish order.
    pub(super) fn take_resends(&mut self) -> Vec<u64> {
        self.resend_at = None;
        let mut seqs = std::mem::take(&mut self.resend);
        seqs.sort_unstable();
        seqs
    }

    /// A confirm for delivery `tag` (and with `multiple` every one below it): an ack frees
    /// the messages; a nack schedules them to be published again after a [`Backoff`] wait,
    /// unless they have been refused for longer than the timeout already.
    pub(super) fn confirm(&mut self, tag: u64, multiple: bool, acked: bool, now: Instant) {
        let Ledger {
            timeout,
            unconfirmed,
            tags,
            resend,
            resend_at,
            refused,
            first_refused,
        } = self;
        let mut settle = |seq: u64| {
            if acked {
                unconfirmed.remove(seq);
                return;
            }
            let Some(entry) = unconfirmed.get_mut(seq) else {
                return;
            };
            entry.nacks += 1;
            let first = *entry.first_nack.get_or_insert(now);
            if now.duration_since(first) >= *timeout {
                unconfirmed.remove(seq);
                *refused += 1;
                *first_refused = Some(first_refused.map_or(seq, |f| f.min(seq)));
                return;
            }
            let at = now + Backoff::after(entry.nacks);
            *resend_at = Some(resend_at.map_or(at, |due| due.min(at)));
            resend.push(seq);
        };
        if multiple {
            tags.remove_through(tag, settle);
        } else if let Some(seq) = tags.remove(tag) {
            settle(seq);
        }
    }

    /// Every message up to and including this sequence number has been confirmed (acked).
    pub(super) fn confirmed_through(&self) -> u64 {
        // The oldest unconfirmed message, or the next to come when there is none.
        let oldest_open = self.unconfirmed.first;
        oldest_open.min(self.first_refused.unwrap_or(u64::MAX)) - 1
    }

    /// How many messages were refused for longer than the timeout.
    pub(super) fn refused(&self) -> usize {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Push,
        Remove(u64),
        RemoveThrough(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Push),
            2 => (0u64..40).prop_map(Op::Remove),
            1 => (0u64..40).prop_map(Op::RemoveThrough),
        ]
    }

    proptest! {
        /// Whatever is pushed and taken out, in whatever order, the ring holds what a map
        /// of the same numbers would, numbers go on from where they were, and its first
        /// number is the oldest one in (or the next to come).
        #[test]
        fn numbered_values_are_those_of_a_map(ops in proptest::collection::vec(op(), 0..200)) {
            let mut ring = Numbered::new(1);
            let mut map = BTreeMap::new();
            let mut next = 1u64;
            for op in ops {
                match op {
                    Op::Push => {
                        prop_assert_eq!(ring.push(next * 10), next);
                        map.insert(next, next * 10);
                        next += 1;
                    }
                    Op::Remove(n) => prop_assert_eq!(ring.remove(n), map.remove(&n)),
                    Op::RemoveThrough(n) => {
                        let mut taken = Vec::new();
                        ring.remove_through(n, |v| taken.push(v));
                        let rest = map.split_off(&(n + 1));
                        let expected: Vec<u64> = std::mem::replace(&mut map, rest).into_values().collect();
                        prop_assert_eq!(taken, expected);
                    }
                }
                prop_assert_eq!(ring.full, map.len());
                prop_assert_eq!(ring.next(), next);
                prop_assert_eq!(ring.first, map.keys().next().copied().unwrap_or(next));
                let held: Vec<(u64, u64)> = ring.iter().map(|(n, v)| (n, *v)).collect();
                let expected: Vec<(u64, u64)> = map.iter().map(|(n, v)| (*n, *v)).collect();
                prop_assert_eq!(held, expected);
                for n in 0..next + 2 {
                    prop_assert_eq!(ring.get(n), map.get(&n));
                }
            }
        }
    }

    fn ledger_with(count: u64) -> Ledger<&'static str> {
        let mut ledger = Ledger::new(Duration::from_secs(10));
        for _ in 0..count {
            let seq = ledger.add("m");
            ledger.published(seq);
        }
        ledger
    }

    #[test]
    fn acks_free_messages_singly_or_up_to_a_tag() {
        let mut ledger = ledger_with(5);
        let now = Instant::now();
        assert_eq!(ledger.confirmed_through(), 0);
        ledger.confirm(3, true, true, now);
        assert_eq!(ledger.confirmed_through(), 3);
        ledger.confirm(5, false, true, now);
        assert_eq!(ledger.confirmed_through(), 3, "4 is still open");
        assert_eq!(ledger.unconfirmed_count(), 1);
        ledger.confirm(4, false, true, now);
        assert_eq!(ledger.confirmed_through(), 5);
        assert!(!ledger.awaiting_confirms());
    }

    #[test]
    fn sequence_numbers_survive_a_new_channel() {
        let mut ledger = ledger_with(3);
        let now = Instant::now();
        ledger.confirm(1, false, true, now);
        ledger.forget_resends();
        // Republished on the new channel: 2 and 3 get tags 1 and 2 there.
        let open: Vec<u64> = ledger.unconfirmed().map(|(seq, _)| seq).collect();
        assert_eq!(open, [2, 3]);
        for seq in open {
            ledger.published(seq);
        }
        ledger.confirm(2, true, true, now);
        assert_eq!(ledger.confirmed_through(), 3);
        assert_eq!(ledger.add("next"), 4);
    }

    #[test]
    fn nacked_messages_are_sent_again_with_backoff_then_refused_for_good() {
        let mut ledger = ledger_with(3);
        let start = Instant::now();
        ledger.confirm(2, true, false, start);
        assert_eq!(ledger.resend_at(), Some(start + Backoff::FIRST));
        ledger.confirm(3, false, true, start);
        assert_eq!(ledger.confirmed_through(), 0, "1 and 2 wait to go again");
        assert_eq!(ledger.take_resends(), [1, 2]);
        assert_eq!(ledger.resend_at(), None);
        ledger.new_channel();
        ledger.published(1);
        ledger.published(2);
        // Refused again: the wait doubles.
        let later = start + Duration::from_secs(1);
        ledger.confirm(1, false, false, later);
        assert_eq!(ledger.resend_at(), Some(later + Backoff::after(2)));
        ledger.confirm(2, false, true, later);
        assert_eq!(ledger.confirmed_through(), 0);
        // Refused past the timeout: given up, and the count says so.
        ledger.take_resends();
        ledger.published(1);
        ledger.confirm(3, false, false, start + Duration::from_secs(11));
        assert_eq!(ledger.refused(), 1);
        assert_eq!(ledger.unconfirmed_count(), 0);
        assert_eq!(ledger.confirmed_through(), 0, "1 was never confirmed");
        assert_eq!(ledger.get(1), None);
    }
}
