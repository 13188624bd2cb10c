//! A timeline as it is kept: each [`Step`] numbered, placed in time after the first and
//! paired with the `.start` it ends ([`Timeline`]); rows as JSON objects; and the summary
//! after them. Pure. (As a table: `layout`.)

use super::row::Step;
use crate::listen::table::span;
use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::fmt;

/// One row: a step with its place in the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// From 1.
    pub number: u64,
    /// What it shows.
    pub step: Step,
    /// Seconds since the first row, when both timestamps could be read.
    pub offset: Option<f64>,
    /// For a `.end` or `.error`: seconds since the `.start` it ends.
    pub duration: Option<f64>,
}

/// The rows so far: numbering, the first one's time, the `.start`s still open, and what the
/// summary says.
#[derive(Debug, Default)]
pub struct Timeline {
    rows: u64,
    first: Option<(String, Option<NaiveDateTime>)>,
    last: Option<NaiveDateTime>,
    services: Vec<String>,
    failures: u64,
    slowest: Option<(String, f64)>,
    /// Each open `.start`'s time, by operation and what it is about.
    open: HashMap<(String, String), NaiveDateTime>,
}

/// Seconds from `from` to `to`.
fn seconds(from: NaiveDateTime, to: NaiveDateTime) -> f64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

/// Rounded to a thousandth, for output.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Timeline {
    /// Adds the next step, in the order they are written.
    pub fn add(&mut self, step: Step) -> Row {
        self.rows += 1;
        let first = self
            .first
            .get_or_insert_with(|| (step.timestamp.clone(), step.at));
        let offset = match (first.1, step.at) {
            (Some(first), Some(at)) => Some(round(seconds(first, at))),
            _ => None,
        };
        if let Some(at) = step.at {
            self.last = Some(self.last.map_or(at, |last| last.max(at)));
        }
        if !self.services.contains(&step.service) {
            self.services.push(step.service.clone());
        }
        self.failures += u64::from(step.failed);
        let mut duration = None;
        if let Some(operation) = &step.operation {
            if step.starts() {
                if let Some(at) = step.at {
                    // Started again before it ended: the first start stands, as in --top.
                    self.open.entry(operation.clone()).or_insert(at);
                }
            } else if let Some(started) = self.open.remove(operation) {
                duration = step.at.map(|at| round(seconds(started, at)));
                if let Some(took) = duration {
                    if self.slowest.as_ref().is_none_or(|(_, most)| took > *most) {
                        self.slowest = Some((operation.0.clone(), took));
                    }
                }
            }
        }
        Row {
            number: self.rows,
            step,
            offset,
            duration,
        }
    }

    /// What the summary line says.
    pub fn summary(&self) -> Summary {
        let span = match (&self.first, self.last) {
            (Some((_, Some(first))), Some(last)) => round(seconds(*first, last)),
            _ => 0.0,
        };
        Summary {
            rows: self.rows,
            first: self.first.as_ref().map(|(timestamp, _)| timestamp.clone()),
            span_s: span,
            services: self.services.clone(),
            failures: self.failures,
            slowest: self.slowest.as_ref().map(|(operation, took)| Slowest {
                operation: operation.clone(),
                duration_s: *took,
            }),
        }
    }
}

/// After the rows: how many, over how long, which services, how many failed, the slowest
/// step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Rows written.
    pub rows: u64,
    /// The first row's timestamp.
    pub first: Option<String>,
    /// Seconds from the first row to the last.
    pub span_s: f64,
    /// The services, in the order they first appear.
    pub services: Vec<String>,
    /// Rows marked as failures.
    pub failures: u64,
    /// The longest `.start` to `.end` or `.error`.
    pub slowest: Option<Slowest>,
}

/// The slowest step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slowest {
    /// Its operation (`compute.instance.create`).
    pub operation: String,
    /// How long it took, seconds.
    pub duration_s: f64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let Some(first) = &self.first else {
            return f.write_str("no notification of the timeline");
        };
        write!(
            f,
            "{} from {} over {}; {}: {}; {}",
            plural(self.rows, "row", "rows"),
            first,
            span(self.span_s),
            plural(self.services.len() as u64, "service", "services"),
            self.services.join(", "),
            plural(self.failures, "failure", "failures"),
        )?;
        if let Some(slowest) = &self.slowest {
            write!(
                f,
                "; slowest step: {} {}",
                slowest.operation,
                span(slowest.duration_s)
            )?;
        }
        Ok(())
    }
}

impl Summary {
    /// The summary in lines of at most `width` columns where it can be cut between its parts
    /// (one line without a width).
    pub fn lines(&self, width: Option<usize>) -> Vec<String> {
        let text = self.to_string();
        let Some(width) = width else {
            return vec![text];
        };
        let mut lines: Vec<String> = Vec::new();
        for part in text.split("; ") {
            match lines.last_mut() {
                Some(line) if line.chars().count() + 2 + part.chars().count() <= width => {
                    line.push_str("; ");
                    line.push_str(part);
                }
                _ => lines.push(part.to_owned()),
            }
        }
        lines
    }
}

/// A row as a JSON object: its fields, then the whole notification (the `--format json`
/// object, `notification`).
pub fn json_row(row: &Row, notification: &str) -> serde_json::Result<String> {
    #[derive(Serialize)]
    struct Json<'a> {
        row: u64,
        failed: bool,
        timestamp: &'a str,
        offset_s: Option<f64>,
        service: &'a str,
        host: &'a str,
        event_type: &'a str,
        instance: Option<&'a str>,
        state: Option<&'a str>,
        duration_s: Option<f64>,
        request_id: Option<&'a str>,
        notification: &'a RawValue,
    }
    let step = &row.step;
    let notification: &RawValue = serde_json::from_str(notification)?;
    serde_json::to_string(&Json {
        row: row.number,
        failed: step.failed,
        timestamp: &step.timestamp,
        offset_s: row.offset,
        service: &step.service,
        host: &step.host,
        event_type: &step.event_type,
        instance: step.instance.as_deref(),
        state: step.state.as_deref(),
        duration_s: row.duration,
        request_id: step.request_id.as_deref(),
        notification,
    })
}

/// The summary as the last JSON object: `{"summary": {...}}`.
pub fn json_summary(summary: &Summary) -> serde_json::Result<String> {
    serde_json::to_string(&serde_json::json!({ "summary": summary }))
}

#[cfg(test)]
mod tests {
    use super::super::row::tests::step;
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_are_placed_after_the_first_and_ends_paired_with_their_start() {
        let mut timeline = Timeline::default();
        let i = json!({"instance_id": "inst-1"});
        let rows: Vec<Row> = [
            step(
                "compute.instance.create.start",
                "2026-12-05 08:00:00.250",
                i.clone(),
            ),
            step("compute.instance.update", "2026-12-05 08:00:01", i.clone()),
            step(
                "compute.instance.create.end",
                "2026-12-05 08:00:09.500",
                i.clone(),
            ),
            step(
                "compute.instance.delete.end",
                "2026-12-05 08:00:10",
                i.clone(),
            ),
        ]
        .into_iter()
        .map(|s| timeline.add(s))
        .collect();
        let offsets: Vec<_> = rows.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [Some(0.0), Some(0.75), Some(9.25), Some(9.75)]);
        let durations: Vec<_> = rows.iter().map(|r| r.duration).collect();
        assert_eq!(durations, [None, None, Some(9.25), None]);
        let summary = timeline.summary();
        assert_eq!(
            summary.to_string(),
            "4 rows from 2026-12-05 08:00:00.250 over 9.75s; 1 service: nova-compute; \
             0 failures; slowest step: compute.instance.create 9.25s"
        );
        assert_eq!(
            Timeline::default().summary().to_string(),
            "no notification of the timeline"
        );
        assert_eq!(
            summary.lines(Some(60)),
            [
                "4 rows from 2026-12-05 08:00:00.250 over 9.75s",
                "1 service: nova-compute; 0 failures",
                "slowest step: compute.instance.create 9.25s"
            ]
        );
        assert_eq!(summary.lines(None), [summary.to_string()]);
    }
}
