//! `--top --from`: the figures of saved notifications, shown once when all are read, their
//! times those of the notifications themselves: rates over their timestamps, the run's
//! length from the first to the last, stale operations as of the last.

use super::snapshot::{Snapshot, SortBy};
use super::tally::Tally;
use super::Face;
use crate::engine::receive::{Ended, Received, Verdict};
use crate::listen::pipeline::{Pipeline, Step};
use crate::listen::top::operations::parse_timestamp;
use crate::listen::{receive, watched, ListenConfig, TopOptions};
use crate::tool::talk::Talk;
use crate::tool::{from_engine, ToolHandler};
use anyhow::{Context, Result};
use chrono::NaiveDateTime;
use std::io::Write;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

/// Reads what `config` says to the end (or `--count`, `--timeout`, a signal) and writes the
/// final figures to `out`: tables for [`Face::Screen`], a JSON object for [`Face::Lines`].
pub(super) fn run(
    config: &ListenConfig,
    top: &TopOptions,
    face: Face,
    out: &mut impl Write,
    talk: &Talk,
    signal: &AtomicUsize,
) -> Result<()> {
    let mut tally = Tally::new(top.stale);
    // The first notification's time, and the latest one's.
    let mut times: Option<(NaiveDateTime, NaiveDateTime)> = None;
    let mut pipeline = Pipeline::new(config, talk.clone());
    let mut count = |received: &Received| -> Result<Verdict> {
        if pipeline.judge(received)? == Step::Skip {
            return Ok(Verdict::Skip);
        }
        let message = received.message;
        let since_first = match (parse_timestamp(&message.timestamp), &mut times) {
            (Some(at), Some((first, last))) => {
                *last = (*last).max(at);
                (at - *first).to_std().unwrap_or(Duration::ZERO)
            }
            (Some(at), None) => {
                times = Some((at, at));
                Duration::ZERO
            }
            (None, _) => Duration::ZERO,
        };
        tally.record(
            message,
            received.exchange,
            received.source,
            since_first,
            None,
        );
        Ok(pipeline.taken())
    };
    let deadline = config.timeout.map(|t| Instant::now() + t);
    let (ended, _) = watched(
        signal,
        || None,
        |halt| {
            let mut handler = ToolHandler::new(&mut count);
            let mut observer = talk.clone();
            receive(config, deadline, &mut handler, &mut observer, halt).map_err(from_engine)
        },
    );
    let ended = ended?;
    let (span, at) = match times {
        Some((first, last)) => ((last - first).to_std().unwrap_or_default(), last.and_utc()),
        None => (Duration::ZERO, chrono::Utc::now()),
    };
    let mut last = Snapshot::take(&tally, &[], top.by, SortBy::Count, span, at);
    last.last = true;
    match face {
        Face::Lines => last.write_json_line(out),
        Face::Screen { .. } => last.write_text(out, super::terminal_width()),
    }
    .and_then(|()| out.flush())
    .context("writing to stdout")?;
    match (ended, config.count) {
        (Ended::EndOfInput, Some(_)) => Err(pipeline.not_reached(ended).into()),
        (Ended::TimedOut, Some(_)) if config.timeout.is_some() => {
            Err(pipeline.not_reached(ended).into())
        }
        _ => Ok(()),
    }
}
