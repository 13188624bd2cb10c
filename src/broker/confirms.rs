//! Publisher-confirm bookkeeping, with no I/O: which messages the broker has not confirmed
//! yet, which delivery tag of the current channel stands for which message, which refused
//! (nacked) ones are due to be published again and when, and which were refused for too long.
//!
//! Every message gets a sequence number (1, 2, 3, ... in publish order) that stays valid
//! across channels and connections; delivery tags restart at 1 on every channel.

use super::reconnect::Backoff;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A message kept until the broker confirms it.
#[derive(Debug)]
struct Entry<M> {
    message: M,
    /// How many times the broker refused it, and when first.
    nacks: u32,
    first_nack: Option<Instant>,
}

/// The messages published and not yet confirmed, and what the confirms so far said.
#[derive(Debug)]
pub(super) struct Ledger<M> {
    /// How long a message may go on being refused before it counts as refused for good.
    timeout: Duration,
    next_seq: u64,
    unconfirmed: BTreeMap<u64, Entry<M>>,
    /// Delivery tag on the current channel -> sequence number, for what awaits a confirm.
    tags: BTreeMap<u64, u64>,
    next_tag: u64,
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
            next_seq: 1,
            unconfirmed: BTreeMap::new(),
            tags: BTreeMap::new(),
            next_tag: 1,
            resend: Vec::new(),
            resend_at: None,
            refused: 0,
            first_refused: None,
        }
    }

    /// Keeps `message` until it is confirmed; returns its sequence number.
    pub(super) fn add(&mut self, message: M) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.unconfirmed.insert(
            seq,
            Entry {
                message,
                nacks: 0,
                first_nack: None,
            },
        );
        seq
    }

    /// The message of `seq`, while unconfirmed.
    pub(super) fn get(&self, seq: u64) -> Option<&M> {
        self.unconfirmed.get(&seq).map(|e| &e.message)
    }

    /// Every unconfirmed message, in publish order.
    pub(super) fn unconfirmed(&self) -> impl Iterator<Item = (u64, &M)> {
        self.unconfirmed.iter().map(|(seq, e)| (*seq, &e.message))
    }

    /// How many messages are unconfirmed.
    pub(super) fn unconfirmed_count(&self) -> usize {
        self.unconfirmed.len()
    }

    /// `seq` was published on the current channel: it has the channel's next delivery tag.
    pub(super) fn published(&mut self, seq: u64) {
        self.tags.insert(self.next_tag, seq);
        self.next_tag += 1;
    }

    /// Publishing goes on on a new channel (or connection): its delivery tags start at 1,
    /// and nothing sent on the old one will be confirmed.
    pub(super) fn new_channel(&mut self) {
        self.tags.clear();
        self.next_tag = 1;
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
        !self.tags.is_empty()
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
        let settled: Vec<u64> = if multiple {
            let open = self.tags.split_off(&(tag + 1));
            std::mem::replace(&mut self.tags, open)
                .into_values()
                .collect()
        } else {
            self.tags.remove(&tag).into_iter().collect()
        };
        if acked {
            for seq in &settled {
                self.unconfirmed.remove(seq);
            }
            return;
        }
        for seq in settled {
            let Some(entry) = self.unconfirmed.get_mut(&seq) else {
                continue;
            };
            entry.nacks += 1;
            let first = *entry.first_nack.get_or_insert(now);
            if now.duration_since(first) >= self.timeout {
                self.unconfirmed.remove(&seq);
                self.refused += 1;
                self.first_refused = Some(self.first_refused.map_or(seq, |f| f.min(seq)));
                continue;
            }
            let at = now + Backoff::after(entry.nacks);
            self.resend_at = Some(self.resend_at.map_or(at, |due| due.min(at)));
            self.resend.push(seq);
        }
    }

    /// Every message up to and including this sequence number has been confirmed (acked).
    pub(super) fn confirmed_through(&self) -> u64 {
        let oldest_open = self
            .unconfirmed
            .keys()
            .next()
            .copied()
            .unwrap_or(self.next_seq);
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
