//! The running figures of `oslo-listen --top`: a row per event type, publisher, priority and
//! exchange (all four kept at once, so the grouping can change while it runs), totals, rates
//! over the last seconds, and the operations. Pure: the caller says what time it is.

use super::operations::{Counted, Operations};
use crate::wire::envelope::Priority;
use foldhash::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How many rows each grouping keeps; notifications of further keys count in [`OTHER`].
pub const MAX_ROWS: usize = 10_000;
/// The row that counts the notifications of keys beyond [`MAX_ROWS`].
pub const OTHER: &str = "(other)";
/// The row key of notifications without a publisher_id.
pub const NO_PUBLISHER: &str = "(none)";
/// The row key of notifications of a run's only broker, when it names none.
pub const NO_SOURCE: &str = "(default)";
/// The seconds a row's rate is measured over.
pub const RATE_WINDOW: usize = 10;
/// The seconds of total rate the sparkline shows.
pub const HISTORY: usize = 60;

/// What rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupBy {
    /// The event_type.
    EventType,
    /// The publisher_id.
    PublisherId,
    /// The priority.
    Priority,
    /// The exchange it was published to.
    Exchange,
    /// The broker it came from (`--source`).
    Source,
}

impl GroupBy {
    /// Every grouping, in the order `b` cycles through them.
    pub const ALL: [GroupBy; 5] = [
        GroupBy::EventType,
        GroupBy::PublisherId,
        GroupBy::Priority,
        GroupBy::Exchange,
        GroupBy::Source,
    ];

    /// The name `--by` takes.
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::EventType => "event_type",
            GroupBy::PublisherId => "publisher_id",
            GroupBy::Priority => "priority",
            GroupBy::Exchange => "exchange",
            GroupBy::Source => "source",
        }
    }

    /// The next grouping.
    pub fn next(self) -> GroupBy {
        let at = GroupBy::ALL.iter().position(|g| *g == self).unwrap_or(0);
        GroupBy::ALL[(at + 1) % GroupBy::ALL.len()]
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Counts per second over a window of the last `N` seconds.
#[derive(Debug, Clone)]
pub struct Rate<const N: usize> {
    buckets: [u32; N],
    /// The second the newest bucket counts.
    newest: u64,
}

impl<const N: usize> Default for Rate<N> {
    fn default() -> Self {
        Rate {
            buckets: [0; N],
            newest: 0,
        }
    }
}

impl<const N: usize> Rate<N> {
    /// Moves the window on to `second`, emptying the buckets of the seconds it passes.
    fn advance(&mut self, second: u64) {
        if second <= self.newest {
            return;
        }
        let passed = second - self.newest;
        if passed >= N as u64 {
            self.buckets = [0; N];
        } else {
            for s in self.newest + 1..=second {
                self.buckets[(s % N as u64) as usize] = 0;
            }
        }
        self.newest = second;
    }

    /// Counts one event at `at` (time since the start).
    pub fn record(&mut self, at: Duration) {
        let second = at.as_secs();
        self.advance(second);
        if second + (N as u64) > self.newest {
            let slot = &mut self.buckets[(second % N as u64) as usize];
            *slot = slot.saturating_add(1);
        }
    }

    /// Events per second over the last `N` seconds before `now` (or since the start, when
    /// that is shorter; at least one second).
    pub fn per_second(&self, now: Duration) -> f64 {
        let second = now.as_secs();
        let counted: u64 = (second.saturating_sub(N as u64 - 1)..=second)
            .filter(|s| *s + (N as u64) > self.newest && *s <= self.newest)
            .map(|s| u64::from(self.buckets[(s % N as u64) as usize]))
            .sum();
        // The buckets cover from the start of the oldest second counted up to `now`.
        let oldest = second.saturating_sub(N as u64 - 1);
        let span = now.as_secs_f64() - oldest as f64;
        counted as f64 / span.max(1.0)
    }

    /// The count of each of the last `N` seconds before `now`, oldest first.
    pub fn history(&self, now: Duration) -> Vec<u64> {
        let second = now.as_secs();
        (0..N as u64)
            .rev()
            .map(|back| match second.checked_sub(back) {
                Some(s) if s + (N as u64) > self.newest && s <= self.newest => {
                    u64::from(self.buckets[(s % N as u64) as usize])
                }
                _ => 0,
            })
            .collect()
    }
}

/// A notification as the terminal view shows it on `Enter`: the message as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The exchange it was published to.
    pub exchange: String,
    /// Its routing key.
    pub routing_key: String,
    /// The broker it came from (empty for a run's only one).
    pub source: String,
    /// The body as received.
    pub body: Vec<u8>,
}

/// The figures of one row.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// Notifications seen.
    pub count: u64,
    /// Of which priority `error` or `critical`.
    pub errors: u64,
    /// When the last one arrived (time since the start).
    pub last_seen: Duration,
    rate: Rate<RATE_WINDOW>,
    /// The last one, when samples are kept.
    pub last: Option<Arc<Sample>>,
}

impl Row {
    fn record(&mut self, error: bool, at: Duration, sample: Option<&Arc<Sample>>) {
        self.count += 1;
        self.errors += u64::from(error);
        self.last_seen = at;
        self.rate.record(at);
        if let Some(sample) = sample {
            self.last = Some(Arc::clone(sample));
        }
    }

    /// Notifications per second over the last [`RATE_WINDOW`] seconds.
    pub fn rate(&self, now: Duration) -> f64 {
        self.rate.per_second(now)
    }
}

/// The rows of one grouping: at most [`MAX_ROWS`] keys, then [`OTHER`].
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// Key -> index in `rows`: a key seen before costs one lookup and no allocation.
    index: HashMap<Box<str>, usize>,
    rows: Vec<(Box<str>, Row)>,
    other: Option<Row>,
    /// Where the row of the last key asked for is in `rows`: the same exchange, broker and
    /// priority come again and again, and a comparison costs less than a hash.
    last: Option<usize>,
}

impl Group {
    fn row(&mut self, key: &str) -> &mut Row {
        let at = match self.last {
            Some(at) if *self.rows[at].0 == *key => at,
            _ => match self.index.get(key) {
                Some(&at) => at,
                None if self.rows.len() < MAX_ROWS => {
                    self.index.insert(key.into(), self.rows.len());
                    self.rows.push((key.into(), Row::default()));
                    self.rows.len() - 1
                }
                None => return self.other.get_or_insert_with(Row::default),
            },
        };
        self.last = Some(at);
        &mut self.rows[at].1
    }

    /// Every row with its key, [`OTHER`] last when there is one.
    pub fn rows(&self) -> impl Iterator<Item = (&str, &Row)> {
        self.rows
            .iter()
            .map(|(k, r)| (&**k, r))
            .chain(self.other.iter().map(|r| (OTHER, r)))
    }

    /// The row of `key` (or of [`OTHER`]).
    pub fn get(&self, key: &str) -> Option<&Row> {
        if key == OTHER {
            return self.other.as_ref();
        }
        self.index.get(key).map(|at| &self.rows[*at].1)
    }
}

/// Everything `--top` counts.
#[derive(Debug)]
pub struct Tally {
    groups: [Group; GroupBy::ALL.len()],
    /// All notifications seen.
    pub total: u64,
    /// Of which priority `error` or `critical`.
    pub errors: u64,
    rate: Rate<RATE_WINDOW>,
    history: Rate<HISTORY>,
    /// The operations (`.start`/`.end`/`.error` pairs) of each source, in the order the
    /// sources were first seen.
    operations: Vec<(String, Operations)>,
    /// How long in flight makes an operation stale.
    stale: Duration,
}

impl Tally {
    /// An empty tally; operations in flight longer than `stale` are stale.
    pub fn new(stale: Duration) -> Self {
        Tally {
            groups: Default::default(),
            total: 0,
            errors: 0,
            rate: Rate::default(),
            history: Rate::default(),
            operations: Vec::new(),
            stale,
        }
    }

    /// Counts one notification that arrived on `exchange` of the broker `source` (empty for
    /// a run's only one) at `at` (time since the start); `sample` is kept as the last of its
    /// rows.
    pub fn record(
        &mut self,
        notification: &impl Counted,
        exchange: &str,
        source: &str,
        at: Duration,
        sample: Option<Arc<Sample>>,
    ) {
        let priority = notification.priority();
        let error = matches!(priority, Priority::Error | Priority::Critical);
        self.total += 1;
        self.errors += u64::from(error);
        self.rate.record(at);
        self.history.record(at);
        let sample = sample.as_ref();
        let event_type = notification.event_type();
        let keys = [
            event_type,
            notification.publisher_id().unwrap_or(NO_PUBLISHER),
            priority.name(),
            exchange,
            if source.is_empty() { NO_SOURCE } else { source },
        ];
        for (group, key) in self.groups.iter_mut().zip(keys) {
            group.row(key).record(error, at, sample);
        }
        let at = match self.operations.iter().position(|(name, _)| name == source) {
            Some(at) => at,
            None => {
                let operations = Operations::new(self.stale);
                self.operations.push((source.to_owned(), operations));
                self.operations.len() - 1
            }
        };
        self.operations[at].1.record(notification);
    }

    /// The operations of each source (named as given; empty for a run's only one).
    pub fn operations(&self) -> impl Iterator<Item = (&str, &Operations)> {
        self.operations
            .iter()
            .map(|(name, ops)| (name.as_str(), ops))
    }

    /// The rows grouped by `by`.
    pub fn group(&self, by: GroupBy) -> &Group {
        &self.groups[by.index()]
    }

    /// Notifications per second over the last [`RATE_WINDOW`] seconds before `now`.
    pub fn rate(&self, now: Duration) -> f64 {
        self.rate.per_second(now)
    }

    /// Notifications in each of the last [`HISTORY`] seconds before `now`, oldest first.
    pub fn history(&self, now: Duration) -> Vec<u64> {
        self.history.history(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::envelope::{Message, Notification};
    use serde_json::json;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn notification(priority: Priority, event_type: &str, publisher: Option<&str>) -> Notification {
        let mut n = Notification::new(priority, event_type, json!({}));
        n.publisher_id = publisher.map(str::to_owned);
        n
    }

    /// A message read from a body counts as the notification it holds: the same rows, and
    /// the same operations paired by the request id in its context.
    #[test]
    fn a_message_counts_as_its_notification() {
        use crate::wire::envelope::Format;
        let sent = [
            (Priority::Info, "compute.instance.create.start", "req-1"),
            (Priority::Info, "compute.instance.update", "req-1"),
            (Priority::Error, "compute.instance.create.end", "req-1"),
            (Priority::Info, "compute.instance.create.start", "req-2"),
        ];
        let (mut by_message, mut by_value) = (Tally::new(secs(60.0)), Tally::new(secs(60.0)));
        for (i, (priority, event_type, request)) in sent.into_iter().enumerate() {
            let mut n = notification(priority, event_type, Some("compute.h1"));
            n.context.insert("request_id".into(), json!(request));
            let body = n.encode(Format::V2, "u").unwrap();
            let message = Message::read(&body).unwrap();
            let at = secs(i as f64);
            by_message.record(&message, "nova", "", at, None);
            by_value.record(message.notification(), "nova", "", at, None);
        }
        for by in GroupBy::ALL {
            let rows = |t: &Tally| -> Vec<(String, u64, u64)> {
                let rows = t.group(by).rows();
                rows.map(|(k, r)| (k.to_owned(), r.count, r.errors))
                    .collect()
            };
            assert_eq!(rows(&by_message), rows(&by_value), "{by}");
        }
        let operations = |t: &Tally| -> Vec<(String, u64, u64, u64)> {
            let (_, ops) = t.operations().next().unwrap();
            let mut all: Vec<_> = ops
                .iter()
                .map(|(name, o)| (name.to_owned(), o.started, o.ended, o.in_flight()))
                .collect();
            all.sort();
            all
        };
        assert_eq!(
            operations(&by_message),
            vec![("compute.instance.create".to_owned(), 2, 1, 1)]
        );
        assert_eq!(operations(&by_message), operations(&by_value));
    }

    #[test]
    fn rates_count_the_last_ten_seconds() {
        let mut rate = Rate::<10>::default();
        for i in 0..100 {
            rate.record(secs(f64::from(i) * 0.1)); // 10 a second for 10 s
        }
        assert!((rate.per_second(secs(10.0)) - 10.0).abs() < 1e-9);
        // Half a minute later, nothing is left in the window.
        assert_eq!(rate.per_second(secs(40.0)), 0.0);
        // At the start, the window is the time since the start (at least a second).
        let mut early = Rate::<10>::default();
        for _ in 0..5 {
            early.record(secs(1.5));
        }
        assert!((early.per_second(secs(2.0)) - 2.5).abs() < 1e-9);
        assert_eq!(early.per_second(secs(0.2)), 0.0);
    }

    #[test]
    fn old_buckets_are_emptied_as_time_passes() {
        let mut rate = Rate::<3>::default();
        rate.record(secs(0.5));
        rate.record(secs(1.5));
        rate.record(secs(1.6));
        rate.record(secs(5.5));
        assert_eq!(rate.history(secs(5.9)), [0, 0, 1]);
        rate.record(secs(6.1));
        assert_eq!(rate.history(secs(6.2)), [0, 1, 1]);
        assert_eq!(rate.history(secs(7.0)), [1, 1, 0]);
        assert_eq!(rate.history(secs(100.0)), [0, 0, 0]);
    }

    #[test]
    fn every_grouping_counts_at_once() {
        let mut tally = Tally::new(Duration::from_secs(600));
        let seen = [
            (
                Priority::Info,
                "compute.instance.create.end",
                Some("compute.h1"),
                "nova",
            ),
            (
                Priority::Error,
                "compute.instance.create.error",
                Some("compute.h1"),
                "nova",
            ),
            (
                Priority::Info,
                "port.create.end",
                Some("network.h2"),
                "neutron",
            ),
            (Priority::Critical, "port.create.end", None, "neutron"),
        ];
        for (i, (priority, event_type, publisher, exchange)) in seen.into_iter().enumerate() {
            let at = secs(i as f64);
            let source = if i % 2 == 0 { "east" } else { "" };
            tally.record(
                &notification(priority, event_type, publisher),
                exchange,
                source,
                at,
                None,
            );
        }
        assert_eq!((tally.total, tally.errors), (4, 2));
        let figures = |by: GroupBy| {
            let mut rows: Vec<(String, u64, u64)> = tally
                .group(by)
                .rows()
                .map(|(k, r)| (k.to_owned(), r.count, r.errors))
                .collect();
            rows.sort();
            rows
        };
        let row = |k: &str, c, e| (k.to_owned(), c, e);
        assert_eq!(
            figures(GroupBy::EventType),
            [
                row("compute.instance.create.end", 1, 0),
                row("compute.instance.create.error", 1, 1),
                row("port.create.end", 2, 1)
            ]
        );
        assert_eq!(
            figures(GroupBy::PublisherId),
            [
                row("(none)", 1, 1),
                row("compute.h1", 2, 1),
                row("network.h2", 1, 0)
            ]
        );
        assert_eq!(
            figures(GroupBy::Priority),
            [row("critical", 1, 1), row("error", 1, 1), row("info", 2, 0)]
        );
        assert_eq!(
            figures(GroupBy::Exchange),
            [row("neutron", 2, 1), row("nova", 2, 1)]
        );
        assert_eq!(
            figures(GroupBy::Source),
            [row(NO_SOURCE, 2, 2), row("east", 2, 0)]
        );
        let port = tally
            .group(GroupBy::EventType)
            .get("port.create.end")
            .unwrap();
        assert_eq!(port.last_seen, secs(3.0));
    }

    #[test]
    fn keys_beyond_the_limit_share_one_row() {
        let mut tally = Tally::new(Duration::from_secs(600));
        for i in 0..MAX_ROWS + 5 {
            let n = notification(Priority::Info, &format!("event.{i}"), Some("p"));
            tally.record(&n, "x", "", Duration::ZERO, None);
        }
        // A key seen before the limit still has its row.
        tally.record(
            &notification(Priority::Info, "event.0", Some("p")),
            "x",
            "",
            Duration::ZERO,
            None,
        );
        let group = tally.group(GroupBy::EventType);
        assert_eq!(group.rows().count(), MAX_ROWS + 1);
        assert_eq!(group.get(OTHER).unwrap().count, 5);
        assert_eq!(group.get("event.0").unwrap().count, 2);
    }

    #[test]
    fn a_key_asked_again_and_a_key_between_count_in_their_own_rows() {
        let mut tally = Tally::new(Duration::from_secs(600));
        for event_type in ["a", "a", "b", "a", "ab", "b", "b", "a"] {
            tally.record(
                &notification(Priority::Info, event_type, None),
                "x",
                "",
                Duration::ZERO,
                None,
            );
        }
        let counts: Vec<(&str, u64)> = tally
            .group(GroupBy::EventType)
            .rows()
            .map(|(key, row)| (key, row.count))
            .collect();
        assert_eq!(counts, [("a", 4), ("b", 3), ("ab", 1)]);
        assert_eq!(tally.group(GroupBy::Exchange).get("x").unwrap().count, 8);
    }

    #[test]
    fn rows_keep_their_last_sample() {
        let mut tally = Tally::new(Duration::from_secs(600));
        let sample = |body: &str| {
            Some(Arc::new(Sample {
                exchange: "nova".into(),
                routing_key: "notifications.info".into(),
                source: String::new(),
                body: body.as_bytes().to_vec(),
            }))
        };
        let n = notification(Priority::Info, "a.b", Some("p"));
        tally.record(&n, "nova", "", Duration::ZERO, sample("first"));
        tally.record(&n, "nova", "", Duration::ZERO, sample("second"));
        let last = tally
            .group(GroupBy::PublisherId)
            .get("p")
            .unwrap()
            .last
            .clone();
        assert_eq!(last.unwrap().body, b"second");
    }

    #[test]
    fn groupings_cycle() {
        let mut by = GroupBy::EventType;
        let mut seen = vec![];
        for _ in 0..5 {
            seen.push(by.name());
            by = by.next();
        }
        assert_eq!(
            seen,
            [
                "event_type",
                "publisher_id",
                "priority",
                "exchange",
                "source"
            ]
        );
        assert_eq!(by, GroupBy::EventType);
    }
}
