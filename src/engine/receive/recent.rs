//! The notifications handled last, remembered to drop second copies.

use foldhash::HashSet;
use std::collections::VecDeque;

/// How many `_unique_id`s of handled notifications are remembered to drop second copies.
pub(super) const REMEMBERED_IDS: usize = 4096;

/// The `_unique_id`s of the notifications handled last, to drop a second copy of one, as
/// oslo's subscriber does with its `_MsgIdCache`: after a reconnection the broker delivers again
/// what was handled but not yet acknowledged, and a sender that lost its connection publishes
/// again what the broker had not confirmed.
#[derive(Debug)]
pub(super) struct RecentIds {
    order: VecDeque<String>,
    /// Hashed by foldhash, seeded at random for each set as the standard hasher is (ids come
    /// from the network), at a third of its cost per notification.
    set: HashSet<String>,
    capacity: usize,
}

impl RecentIds {
    pub(super) fn new(capacity: usize) -> Self {
        RecentIds {
            order: VecDeque::with_capacity(capacity),
            set: HashSet::with_capacity_and_hasher(capacity, Default::default()),
            capacity,
        }
    }

    pub(super) fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    pub(super) fn insert(&mut self, id: String) {
        if self.set.contains(&id) {
            return;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        self.set.insert(id.clone());
        self.order.push_back(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_ids_remember_the_last_ones() {
        let mut recent = RecentIds::new(2);
        recent.insert("a".into());
        recent.insert("b".into());
        recent.insert("b".into());
        assert!(recent.contains("a") && recent.contains("b"));
        recent.insert("c".into());
        assert!(!recent.contains("a") && recent.contains("b") && recent.contains("c"));
    }
}
