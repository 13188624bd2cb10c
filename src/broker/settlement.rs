//! Which acknowledgements and requeues settle the deliveries of one channel, handled in any
//! order.
//!
//! Delivery tags on a channel count 1, 2, 3, ... in the order the broker sent them, but a
//! channel with one consumer per queue hands them on queue by queue, so they are handled in
//! no particular tag order. An ack with `multiple` on tag K settles *every* unsettled
//! delivery up to K, so it is only sent where every tag up to K is settled or done: the rest
//! are acknowledged one by one. Nothing here does I/O.

use std::collections::BTreeSet;

/// Something that carries the delivery tag its channel gave it.
pub trait Tagged {
    /// The delivery tag.
    fn tag(&self) -> u64;
}

impl Tagged for u64 {
    fn tag(&self) -> u64 {
        *self
    }
}

/// How a delivery is to be settled.
#[derive(Debug, PartialEq, Eq)]
pub enum Settle<T> {
    /// Acknowledge it, and with `multiple`, every unsettled delivery of a lower tag too.
    Ack {
        /// The delivery.
        token: T,
        /// Whether the ack covers every unsettled delivery below it.
        multiple: bool,
    },
    /// Return it to its queue.
    Requeue(T),
}

/// The deliveries of one channel handled but not yet settled, and which tags are settled.
#[derive(Debug)]
pub struct Settlement<T> {
    /// Every tag up to this one is settled.
    settled_through: u64,
    /// Tags above `settled_through` that are settled already (acknowledged alone or
    /// requeued): a later multiple ack may reach past them.
    settled_above: BTreeSet<u64>,
    done: Vec<T>,
    held: Vec<T>,
}

impl<T: Tagged> Default for Settlement<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Tagged> Settlement<T> {
    /// Nothing delivered yet (a new channel).
    pub fn new() -> Self {
        Settlement {
            settled_through: 0,
            settled_above: BTreeSet::new(),
            done: Vec::new(),
            held: Vec::new(),
        }
    }

    /// Handled (printed, dropped or reported): to acknowledge.
    pub fn done(&mut self, token: T) {
        self.done.push(token);
    }

    /// Not for us: to give back to the queue later.
    pub fn hold(&mut self, token: T) {
        self.held.push(token);
    }

    /// How many handled deliveries wait for their acknowledgement.
    pub fn done_count(&self) -> usize {
        self.done.len()
    }

    /// How many deliveries are held to be given back.
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// Acknowledgements for everything done: one with `multiple` for the run of tags that
    /// follows the settled ones without a gap, one each for the rest.
    pub fn flush(&mut self) -> Vec<Settle<T>> {
        if self.done.is_empty() {
            return Vec::new();
        }
        self.done.sort_unstable_by_key(Tagged::tag);
        let mut done = std::mem::take(&mut self.done).into_iter().peekable();
        let mut run_end = None;
        loop {
            self.skip_settled();
            match done.next_if(|t| t.tag() == self.settled_through + 1) {
                Some(token) => {
                    self.settled_through += 1;
                    run_end = Some(token);
                }
                None => break,
            }
        }
        let mut settles: Vec<Settle<T>> = run_end
            .map(|token| Settle::Ack {
                token,
                multiple: true,
            })
            .into_iter()
            .collect();
        for token in done {
            self.settled_above.insert(token.tag());
            settles.push(Settle::Ack {
                token,
                multiple: false,
            });
        }
        settles
    }

    /// Acknowledgements for everything done, then every held delivery back to its queue.
    pub fn release(&mut self) -> Vec<Settle<T>> {
        let mut settles = self.flush();
        for token in self.held.drain(..) {
            self.settled_above.insert(token.tag());
            settles.push(Settle::Requeue(token));
        }
        self.skip_settled();
        settles
    }

    /// Moves `settled_through` over the settled tags that follow it.
    fn skip_settled(&mut self) {
        while self.settled_above.remove(&(self.settled_through + 1)) {
            self.settled_through += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(token: u64, multiple: bool) -> Settle<u64> {
        Settle::Ack { token, multiple }
    }

    /// Applies `settles` to the set of unsettled tags as a broker would, failing on a tag
    /// that is not outstanding (RabbitMQ's "unknown delivery tag").
    fn broker_applies(outstanding: &mut BTreeSet<u64>, settles: &[Settle<u64>]) {
        for settle in settles {
            match settle {
                Settle::Ack { token, multiple } => {
                    assert!(outstanding.contains(token), "unknown delivery tag {token}");
                    if *multiple {
                        outstanding.retain(|t| t > token);
                    } else {
                        outstanding.remove(token);
                    }
                }
                Settle::Requeue(token) => {
                    assert!(outstanding.remove(token), "unknown delivery tag {token}");
                }
            }
        }
    }

    #[test]
    fn a_run_of_done_deliveries_is_one_multiple_ack() {
        let mut s = Settlement::new();
        assert_eq!(s.flush(), []);
        for tag in 1..=5 {
            s.done(tag);
        }
        assert_eq!(s.flush(), [ack(5, true)]);
        assert_eq!(s.flush(), []);
        s.done(6);
        assert_eq!(s.flush(), [ack(6, true)]);
    }

    #[test]
    fn held_deliveries_are_never_covered_by_a_multiple_ack() {
        let mut s = Settlement::new();
        s.done(1);
        s.hold(2);
        s.done(3);
        assert_eq!(s.flush(), [ack(1, true), ack(3, false)]);
        s.done(4);
        assert_eq!(s.release(), [ack(4, false), Settle::Requeue(2)]);
        s.done(5);
        assert_eq!(s.flush(), [ack(5, true)], "nothing held any more");
    }

    #[test]
    fn deliveries_handled_out_of_tag_order_are_all_acknowledged() {
        // Queue A got tags 1-3, queue B tags 4-5; B was drained first.
        let mut s = Settlement::new();
        for tag in [4, 5, 1, 2, 3] {
            s.done(tag);
        }
        assert_eq!(s.flush(), [ack(5, true)]);

        // B's deliveries handled and flushed before A's: acknowledged alone, then A's run
        // ends at A's last tag, below what is already acknowledged.
        let mut s = Settlement::new();
        s.done(4);
        s.done(5);
        assert_eq!(s.flush(), [ack(4, false), ack(5, false)]);
        for tag in [2, 1, 3] {
            s.done(tag);
        }
        assert_eq!(s.flush(), [ack(3, true)]);
        s.done(6);
        assert_eq!(
            s.flush(),
            [ack(6, true)],
            "the settled tags were passed over"
        );
    }

    #[test]
    fn a_delivery_not_yet_handled_stops_the_multiple_ack_below_it() {
        // Tag 2 sits in another consumer's buffer: --count was reached before it was read.
        let mut s = Settlement::new();
        for tag in [1, 3, 4] {
            s.done(tag);
        }
        assert_eq!(s.flush(), [ack(1, true), ack(3, false), ack(4, false)]);
    }

    #[test]
    fn any_handling_order_settles_exactly_what_was_handled() {
        // Every order of 8 deliveries over three queues, flushed at every other step, with
        // some held: the broker never sees an unknown tag, everything done is acknowledged
        // and nothing else.
        let orders: [&[u64]; 4] = [
            &[6, 7, 8, 1, 2, 3, 4, 5],
            &[1, 6, 2, 7, 3, 8, 4, 5],
            &[8, 7, 6, 5, 4, 3, 2, 1],
            &[4, 5, 1, 8, 2, 6, 3, 7],
        ];
        for order in orders {
            for held in [None, Some(2), Some(7)] {
                for handled in 1..=order.len() {
                    let mut s = Settlement::new();
                    let mut outstanding: BTreeSet<u64> = (1..=8).collect();
                    for (i, &tag) in order[..handled].iter().enumerate() {
                        if Some(tag) == held {
                            s.hold(tag);
                        } else {
                            s.done(tag);
                        }
                        if i % 2 == 1 {
                            broker_applies(&mut outstanding, &s.flush());
                        }
                    }
                    broker_applies(&mut outstanding, &s.flush());
                    let mut expected: BTreeSet<u64> = (1..=8).collect();
                    for tag in &order[..handled] {
                        if Some(*tag) != held {
                            expected.remove(tag);
                        }
                    }
                    assert_eq!(outstanding, expected, "order {order:?}, held {held:?}");
                    broker_applies(&mut outstanding, &s.release());
                    let unhandled: BTreeSet<u64> = order[handled..].iter().copied().collect();
                    assert_eq!(outstanding, unhandled, "order {order:?}, held {held:?}");
                }
            }
        }
    }
}
