//! What `--top` shows at one moment: the figures of a [`Tally`] and of the queues, sorted,
//! as a JSON line for scripts or as plain-text tables. Pure.

use super::operations::Operations;
use super::tally::{GroupBy, Tally};
use crate::events::Event;
pub use crate::listen::queues::QueueDepth;
use crate::listen::table::{ago, clock, span, write_table, Table};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::cmp::Ordering;
use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

/// How rows are sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// Most notifications first.
    Count,
    /// Highest rate first.
    Rate,
    /// Most errors first.
    Errors,
    /// By key, alphabetically.
    Name,
}

impl SortBy {
    /// Every order, in the order `s` cycles through them.
    pub const ALL: [SortBy; 4] = [SortBy::Count, SortBy::Rate, SortBy::Errors, SortBy::Name];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            SortBy::Count => "count",
            SortBy::Rate => "rate",
            SortBy::Errors => "errors",
            SortBy::Name => "name",
        }
    }

    /// The next order.
    pub fn next(self) -> SortBy {
        let at = SortBy::ALL.iter().position(|s| *s == self).unwrap_or(0);
        SortBy::ALL[(at + 1) % SortBy::ALL.len()]
    }
}

/// Where one of several brokers stands (`--source`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceState {
    /// The source's name.
    pub source: String,
    /// Where it stands.
    pub state: Standing,
}

/// Where a source stands, as its events say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    /// Not reached yet.
    Connecting,
    /// Read.
    Listening,
    /// Lost, being connected again.
    Reconnecting,
    /// Never reached, tried again (`--partial`).
    Unreachable,
}

impl Standing {
    /// Where a source that stood here stands after `event` (one of its own).
    pub fn after(self, event: &Event) -> Standing {
        match (event, self) {
            (Event::Listening { .. }, _) => Standing::Listening,
            (Event::Lost { .. }, _) => Standing::Reconnecting,
            (Event::Retrying { .. }, Standing::Connecting | Standing::Unreachable) => {
                Standing::Unreachable
            }
            (Event::Retrying { .. }, _) => Standing::Reconnecting,
            (_, standing) => standing,
        }
    }
}

impl fmt::Display for Standing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Standing::Connecting => "connecting",
            Standing::Listening => "listening",
            Standing::Reconnecting => "reconnecting",
            Standing::Unreachable => "unreachable",
        })
    }
}

/// One row's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowFigures {
    /// The event type, publisher, priority or exchange.
    pub key: String,
    /// Notifications seen.
    pub count: u64,
    /// Per second over the last 10 s.
    pub rate: f64,
    /// Of priority `error` or `critical`.
    pub errors: u64,
    /// Seconds since the last one.
    pub last_seen_s: f64,
}

/// One operation's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperationFigures {
    /// The broker it was seen on (`--source`); empty, and left out of the JSON, for a run's
    /// only one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Its name, such as `compute.instance.create`.
    pub operation: String,
    /// Starts seen.
    pub started: u64,
    /// Ends seen.
    pub ended: u64,
    /// Errors seen.
    pub failed: u64,
    /// Started and not ended.
    pub in_flight: u64,
    /// In flight for longer than the stale time.
    pub stale: u64,
    /// Median duration, seconds; null while nothing ended.
    pub p50_s: Option<f64>,
    /// 95th percentile duration, seconds.
    pub p95_s: Option<f64>,
    /// Longest duration, seconds.
    pub max_s: Option<f64>,
}

/// Everything shown at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// When, in UTC.
    pub at: String,
    /// Seconds since the start.
    pub elapsed_s: f64,
    /// Notifications seen.
    pub total: u64,
    /// Per second over the last 10 s.
    pub rate: f64,
    /// Of priority `error` or `critical`.
    pub errors: u64,
    /// What the rows are grouped by.
    pub by: &'static str,
    /// The rows, sorted.
    pub rows: Vec<RowFigures>,
    /// The operations, most started first.
    pub operations: Vec<OperationFigures>,
    /// The shared queues that exist, by name.
    pub queues: Vec<QueueDepth>,
    /// Where each source stands, when several brokers are read (`--source`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceState>,
    /// The total count of each of the last 60 seconds, oldest first (for the sparkline).
    #[serde(skip)]
    pub history: Vec<u64>,
    /// How rows are sorted.
    #[serde(skip)]
    pub sort: Option<SortBy>,
    /// The last one, written when the run ends.
    #[serde(rename = "final", skip_serializing_if = "std::ops::Not::not")]
    pub last: bool,
}

/// Rounded to a thousandth, for output.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn seconds(d: Duration) -> f64 {
    round(d.as_secs_f64())
}

impl Snapshot {
    /// The figures of `tally` and `queues` at `now` (time since the start) and `at` (the
    /// wall clock), rows grouped `by` and sorted by `sort`.
    pub fn take(
        tally: &Tally,
        queues: &[QueueDepth],
        by: GroupBy,
        sort: SortBy,
        now: Duration,
        at: DateTime<Utc>,
    ) -> Snapshot {
        let mut rows: Vec<RowFigures> = tally
            .group(by)
            .rows()
            .map(|(key, row)| RowFigures {
                key: key.to_owned(),
                count: row.count,
                rate: round(row.rate(now)),
                errors: row.errors,
                last_seen_s: seconds(now.saturating_sub(row.last_seen)),
            })
            .collect();
        rows.sort_by(|a, b| compare(sort, a, b));
        let mut queues = queues.to_vec();
        queues.sort_by(|a, b| (&a.source, &a.queue).cmp(&(&b.source, &b.queue)));
        Snapshot {
            at: at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            elapsed_s: seconds(now),
            total: tally.total,
            rate: round(tally.rate(now)),
            errors: tally.errors,
            by: by.name(),
            rows,
            operations: operations(tally, at),
            queues,
            sources: Vec::new(),
            history: tally.history(now),
            sort: Some(sort),
            last: false,
        }
    }

    /// Writes it as one JSON object and a line end.
    pub fn write_json_line(&self, out: &mut impl Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, self)?;
        out.write_all(b"\n")
    }

    /// Writes it as plain-text tables: a summary line, then the rows, the operations and the
    /// queues (each left out when empty).
    /// `width` bounds the lines (a terminal's width): long names are shortened in the middle
    /// rather than wrapped; `None` writes them whole.
    pub fn write_text(&self, out: &mut impl Write, width: Option<usize>) -> io::Result<()> {
        writeln!(out, "{}", self.summary())?;
        if let Some(sources) = self.sources_line() {
            writeln!(out, "{sources}")?;
        }
        writeln!(out)?;
        write_table(out, &self.rows_table(), width)?;
        if !self.operations.is_empty() {
            writeln!(out)?;
            write_table(out, &self.operations_table(), width)?;
        }
        if !self.queues.is_empty() {
            writeln!(out)?;
            write_table(out, &self.queues_table(), width)?;
        }
        Ok(())
    }

    /// One line: total, rate, errors and time running.
    pub fn summary(&self) -> String {
        format!(
            "{} notifications in {}, {:.1}/s over the last 10 s, {} {}",
            self.total,
            clock(Duration::from_secs_f64(self.elapsed_s)),
            self.rate,
            self.errors,
            if self.errors == 1 { "error" } else { "errors" }
        )
    }

    /// Where each source stands, on one line (`sources: east listening, west
    /// reconnecting`); `None` unless several brokers are read.
    pub fn sources_line(&self) -> Option<String> {
        if self.sources.is_empty() {
            return None;
        }
        let states: Vec<String> = self
            .sources
            .iter()
            .map(|s| format!("{} {}", s.source, s.state))
            .collect();
        Some(format!("sources: {}", states.join(", ")))
    }

    /// The rows as a table: a header, then one line of cells per row.
    pub fn rows_table(&self) -> Table {
        Table {
            header: vec![
                self.by.to_uppercase(),
                "COUNT".into(),
                "RATE/S".into(),
                "ERRORS".into(),
                "LAST SEEN".into(),
            ],
            rows: self
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.key.clone(),
                        r.count.to_string(),
                        format!("{:.1}", r.rate),
                        r.errors.to_string(),
                        ago(r.last_seen_s),
                    ]
                })
                .collect(),
            text_columns: 1,
        }
    }

    /// The operations as a table, with the source of each when several brokers are read.
    pub fn operations_table(&self) -> Table {
        let duration = |s: Option<f64>| s.map_or_else(|| "-".to_owned(), span);
        let sources = self.operations.iter().any(|o| !o.source.is_empty());
        let skip = usize::from(!sources);
        Table {
            header: [
                "SOURCE",
                "OPERATION",
                "STARTED",
                "ENDED",
                "FAILED",
                "IN FLIGHT",
                "STALE",
                "P50",
                "P95",
                "MAX",
            ][skip..]
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
            rows: self
                .operations
                .iter()
                .map(|o| {
                    [
                        o.source.clone(),
                        o.operation.clone(),
                        o.started.to_string(),
                        o.ended.to_string(),
                        o.failed.to_string(),
                        o.in_flight.to_string(),
                        o.stale.to_string(),
                        duration(o.p50_s),
                        duration(o.p95_s),
                        duration(o.max_s),
                    ][skip..]
                        .to_vec()
                })
                .collect(),
            text_columns: 2 - skip,
        }
    }

    /// The queues as a table, with the source of each when several brokers are read; a
    /// queue with messages and no consumer says so.
    pub fn queues_table(&self) -> Table {
        let sources = self.queues.iter().any(|q| !q.source.is_empty());
        let header = ["SOURCE", "QUEUE", "EXCHANGE", "MESSAGES", "CONSUMERS", ""];
        let skip = usize::from(!sources);
        Table {
            header: header[skip..].iter().map(|h| (*h).to_owned()).collect(),
            rows: self
                .queues
                .iter()
                .map(|q| {
                    let row = [
                        q.source.clone(),
                        q.queue.clone(),
                        q.exchange.clone(),
                        q.messages.to_string(),
                        q.consumers.to_string(),
                        if q.unread() {
                            UNREAD.to_owned()
                        } else {
                            String::new()
                        },
                    ];
                    row[skip..].to_vec()
                })
                .collect(),
            text_columns: 3 - skip,
        }
    }
}

/// What marks a queue holding messages that nobody reads.
pub const UNREAD: &str = "NO CONSUMER";

fn compare(sort: SortBy, a: &RowFigures, b: &RowFigures) -> Ordering {
    let by_key = a.key.cmp(&b.key);
    match sort {
        SortBy::Count => b.count.cmp(&a.count).then(by_key),
        SortBy::Rate => b
            .rate
            .total_cmp(&a.rate)
            .then(b.count.cmp(&a.count))
            .then(by_key),
        SortBy::Errors => b
            .errors
            .cmp(&a.errors)
            .then(b.count.cmp(&a.count))
            .then(by_key),
        SortBy::Name => by_key,
    }
}

fn operations(tally: &Tally, at: DateTime<Utc>) -> Vec<OperationFigures> {
    let mut figures = Vec::new();
    for (source, operations) in tally.operations() {
        figures.extend(source_operations(source, operations, at));
    }
    figures.sort_by(|a, b| {
        b.started
            .cmp(&a.started)
            .then_with(|| a.operation.cmp(&b.operation))
            .then_with(|| a.source.cmp(&b.source))
    });
    figures
}

/// The figures of the operations of one source.
fn source_operations(
    source: &str,
    operations: &Operations,
    at: DateTime<Utc>,
) -> Vec<OperationFigures> {
    let stale = operations.stale(at.naive_utc());
    operations
        .iter()
        .map(|(name, o)| OperationFigures {
            source: source.to_owned(),
            operation: name.to_owned(),
            started: o.started,
            ended: o.ended,
            failed: o.failed,
            in_flight: o.in_flight(),
            stale: stale.get(name).copied().unwrap_or(0),
            p50_s: o.duration_at(0.5).map(seconds),
            p95_s: o.duration_at(0.95).map(seconds),
            max_s: o.max().map(seconds),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::envelope::{Notification, Priority};
    use chrono::TimeZone;
    use serde_json::json;

    fn tally() -> Tally {
        let mut tally = Tally::new(Duration::from_secs(600));
        let mut record = |priority, event_type: &str, payload, timestamp: &str, at: f64| {
            let mut n = Notification::new(priority, event_type, payload);
            n.publisher_id = Some("compute.h1".into());
            n.timestamp = timestamp.to_owned();
            tally.record(&n, "nova", "", Duration::from_secs_f64(at), None);
        };
        let id = json!({"instance_id": "i1"});
        record(
            Priority::Info,
            "compute.instance.create.start",
            id.clone(),
            "2026-11-26 11:00:00.000000",
            0.5,
        );
        record(
            Priority::Info,
            "compute.instance.create.end",
            id,
            "2026-11-26 11:00:04.000000",
            1.0,
        );
        record(
            Priority::Error,
            "compute.instance.delete.error",
            json!({}),
            "2026-11-26 11:00:05",
            2.0,
        );
        record(
            Priority::Info,
            "compute.instance.exists",
            json!({}),
            "2026-11-26 11:00:05",
            2.0,
        );
        record(
            Priority::Info,
            "compute.instance.exists",
            json!({}),
            "2026-11-26 11:00:05",
            2.5,
        );
        tally
    }

    fn snapshot(sort: SortBy) -> Snapshot {
        let queues = [
            QueueDepth {
                source: String::new(),
                queue: "notifications.info".into(),
                exchange: "nova".into(),
                messages: 12,
                consumers: 0,
            },
            QueueDepth {
                source: String::new(),
                queue: "notifications.error".into(),
                exchange: "nova".into(),
                messages: 0,
                consumers: 1,
            },
        ];
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 11, 0, 10).unwrap();
        Snapshot::take(
            &tally(),
            &queues,
            GroupBy::EventType,
            sort,
            Duration::from_secs(3),
            at,
        )
    }

    #[test]
    fn the_json_line_has_every_figure() {
        let mut line = Vec::new();
        snapshot(SortBy::Count).write_json_line(&mut line).unwrap();
        assert!(line.ends_with(b"}\n"));
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["at"], "2026-11-26T11:00:10.000000Z");
        assert_eq!(value["elapsed_s"], 3.0);
        assert_eq!(
            (value["total"].as_u64(), value["errors"].as_u64()),
            (Some(5), Some(1))
        );
        assert_eq!(value["by"], "event_type");
        assert_eq!(
            value["rows"][0],
            json!({"key": "compute.instance.exists", "count": 2, "rate": 0.667, "errors": 0,
                   "last_seen_s": 0.5})
        );
        assert_eq!(value["rows"].as_array().unwrap().len(), 4);
        assert_eq!(
            value["operations"],
            json!([
                {"operation": "compute.instance.create", "started": 1, "ended": 1, "failed": 0,
                 "in_flight": 0, "stale": 0, "p50_s": 4.0, "p95_s": 4.0, "max_s": 4.0},
                {"operation": "compute.instance.delete", "started": 0, "ended": 0, "failed": 1,
                 "in_flight": 0, "stale": 0, "p50_s": null, "p95_s": null, "max_s": null}
            ])
        );
        assert_eq!(value["queues"][0]["queue"], "notifications.error");
        assert_eq!(value["queues"][1]["messages"], 12);
        assert!(value.get("final").is_none());
        let mut last = snapshot(SortBy::Count);
        last.last = true;
        let mut line = Vec::new();
        last.write_json_line(&mut line).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["final"], true);
    }

    #[test]
    fn rows_sort_each_way() {
        let keys =
            |sort| -> Vec<String> { snapshot(sort).rows.into_iter().map(|r| r.key).collect() };
        assert_eq!(keys(SortBy::Count)[0], "compute.instance.exists");
        assert_eq!(keys(SortBy::Errors)[0], "compute.instance.delete.error");
        assert_eq!(
            keys(SortBy::Name),
            [
                "compute.instance.create.end",
                "compute.instance.create.start",
                "compute.instance.delete.error",
                "compute.instance.exists"
            ]
        );
        let mut sort = SortBy::Count;
        for _ in 0..4 {
            sort = sort.next();
        }
        assert_eq!(sort, SortBy::Count);
    }

    #[test]
    fn plain_text_tables_line_up() {
        let mut text = Vec::new();
        snapshot(SortBy::Count).write_text(&mut text, None).unwrap();
        let text = String::from_utf8(text).unwrap();
        let want = "\
5 notifications in 00:00:03, 1.7/s over the last 10 s, 1 error

EVENT_TYPE                     COUNT  RATE/S  ERRORS  LAST SEEN
compute.instance.exists            2     0.7       0       0.5s
compute.instance.create.end        1     0.3       0       2.0s
compute.instance.create.start      1     0.3       0       2.5s
compute.instance.delete.error      1     0.3       1       1.0s

OPERATION                STARTED  ENDED  FAILED  IN FLIGHT  STALE    P50    P95    MAX
compute.instance.create        1      1       0          0      0  4.00s  4.00s  4.00s
compute.instance.delete        0      0       1          0      0      -      -      -

QUEUE                EXCHANGE  MESSAGES  CONSUMERS
notifications.error  nova             0          1
notifications.info   nova            12          0  NO CONSUMER
";
        assert_eq!(text, want);
    }

    #[test]
    fn a_source_stands_where_its_events_put_it() {
        let retrying = Event::Retrying {
            error: "refused".into(),
            wait: Duration::from_millis(200),
        };
        let listening = Event::Listening {
            address: "h:1".into(),
            queues: vec![],
        };
        let lost = Event::Lost {
            error: "gone".into(),
        };
        let mut at = Standing::Connecting;
        let mut seen = Vec::new();
        for event in [
            &retrying, &retrying, &listening, &lost, &retrying, &listening,
        ] {
            at = at.after(event);
            seen.push(at.to_string());
        }
        assert_eq!(
            seen,
            [
                "unreachable",
                "unreachable",
                "listening",
                "reconnecting",
                "reconnecting",
                "listening"
            ]
        );
    }

    #[test]
    fn several_sources_show_in_their_own_column_and_line() {
        let mut tally = Tally::new(Duration::from_secs(600));
        for (source, event_type, timestamp) in [
            (
                "west",
                "compute.instance.create.start",
                "2026-11-26 11:00:00",
            ),
            ("west", "compute.instance.create.end", "2026-11-26 11:00:02"),
            (
                "east",
                "compute.instance.create.start",
                "2026-11-26 11:00:01",
            ),
        ] {
            let mut n = Notification::new(Priority::Info, event_type, json!({"uuid": "u1"}));
            n.timestamp = timestamp.to_owned();
            tally.record(&n, "nova", source, Duration::from_secs(1), None);
        }
        let queue = |source: &str, messages| QueueDepth {
            source: source.into(),
            queue: "notifications.info".into(),
            exchange: "nova".into(),
            messages,
            consumers: 1,
        };
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 11, 0, 10).unwrap();
        let queues = [queue("west", 3), queue("east", 0)];
        let mut s = Snapshot::take(
            &tally,
            &queues,
            GroupBy::Source,
            SortBy::Name,
            Duration::from_secs(3),
            at,
        );
        s.sources = vec![
            SourceState {
                source: "east".into(),
                state: Standing::Listening,
            },
            SourceState {
                source: "west".into(),
                state: Standing::Reconnecting,
            },
        ];
        let mut text = Vec::new();
        s.write_text(&mut text, None).unwrap();
        let text = String::from_utf8(text).unwrap();
        let want = "\
3 notifications in 00:00:03, 1.0/s over the last 10 s, 0 errors
sources: east listening, west reconnecting

SOURCE  COUNT  RATE/S  ERRORS  LAST SEEN
east        1     0.3       0       2.0s
west        2     0.7       0       2.0s

SOURCE  OPERATION                STARTED  ENDED  FAILED  IN FLIGHT  STALE    P50    P95    MAX
east    compute.instance.create        1      0       0          1      0      -      -      -
west    compute.instance.create        1      1       0          0      0  2.00s  2.00s  2.00s

SOURCE  QUEUE               EXCHANGE  MESSAGES  CONSUMERS
east    notifications.info  nova             0          1
west    notifications.info  nova             3          1
";
        assert_eq!(text, want);
        let mut line = Vec::new();
        s.write_json_line(&mut line).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            value["sources"][1],
            json!({"source": "west", "state": "reconnecting"})
        );
        assert_eq!(value["operations"][0]["source"], "east");
        assert_eq!(value["queues"][1]["source"], "west");
        // Without sources, no member says so.
        let mut line = Vec::new();
        snapshot(SortBy::Count).write_json_line(&mut line).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert!(value.get("sources").is_none());
        assert!(value["queues"][0].get("source").is_none());
        assert!(value["operations"][0].get("source").is_none());
    }

    #[test]
    fn final_tables_fit_the_terminal() {
        let mut s = snapshot(SortBy::Count);
        s.rows[0].key = format!("compute.instance.{}.end", "very_long_name".repeat(6));
        let mut text = Vec::new();
        s.write_text(&mut text, Some(80)).unwrap();
        let text = String::from_utf8(text).unwrap();
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "{line:?}");
        }
        assert!(text.contains("compute.instance.very_lo…"), "{text}");
        // What fits with one blank between columns is not shortened.
        assert!(text.contains("compute.instance.create "), "{text}");
        assert!(text.contains('…'), "{text}");
    }

    #[test]
    fn spans_read_well() {
        assert_eq!(span(0.25), "0.25s");
        assert_eq!(span(12.34), "12.3s");
        assert_eq!(span(245.0), "4m05s");
        assert_eq!(span(7380.0), "2h03m");
        assert_eq!(clock(Duration::from_secs(3723)), "01:02:03");
    }
}
