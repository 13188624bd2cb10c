//! `oslo-listen --timeline ID`: only the notifications that belong to a request or an
//! instance ([`row::belongs`]), as rows of a table (or JSON objects with `--json`), then one
//! summary line.
//!
//! Live, each row is written as it arrives. Read from saved notifications (`--from`), the
//! rows are gathered (only those of the timeline, never the rest), put in the order of their
//! own timestamps, and written at the end, fitted to their widest cells.

pub mod layout;
pub mod row;
pub mod sheet;

use super::output::{OutputFormat, Printer};
use super::pipeline::{Pipeline, Step as Judged};
use super::{receive, say_connecting, watched, FailureNotification, ListenConfig};
use crate::engine::receive::{Ended, Received, Verdict};
use crate::tool::talk::Talk;
use crate::tool::{from_engine, ToolHandler};
use anyhow::{Context, Result};
use layout::{cells, Layout};
use row::{belongs, id_texts, may_belong, Step};
use sheet::{json_row, json_summary, Row, Timeline};
use std::io::Write;
use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// How the rows are written.
enum Writer {
    /// As JSON objects.
    Json,
    /// As a table, in this layout (known once the first row is written, from `--from`).
    Table(Option<Layout>),
}

/// Where the rows go, and what is needed to write them.
struct Sheet<W: Write> {
    out: W,
    writer: Writer,
    timeline: Timeline,
    /// The request column is shown: an id is not a request id.
    requests: bool,
    /// The source column is shown: several brokers are read (rows read from `--from` that
    /// name one show it too).
    sources: bool,
    /// The terminal's width, to fit the table into.
    width: Option<usize>,
    /// Rows are written as they arrive: their widths are not known beforehand.
    live: bool,
}

impl<W: Write> Sheet<W> {
    /// Writes the next rows, in order; each step with the notification's `--format json` text.
    fn write(&mut self, steps: Vec<(Step, String)>) -> Result<()> {
        let rows: Vec<(Row, String)> = steps
            .into_iter()
            .map(|(step, json)| (self.timeline.add(step), json))
            .collect();
        match &mut self.writer {
            Writer::Json => {
                for (row, json) in &rows {
                    writeln!(self.out, "{}", json_row(row, json)?)?;
                }
            }
            Writer::Table(layout) => {
                let cells: Vec<Vec<String>> = rows.iter().map(|(row, _)| cells(row)).collect();
                if layout.is_none() {
                    // Live, the first row does not tell how wide the next will be.
                    let sized = (!self.live).then_some(&cells[..]);
                    let sources =
                        self.sources || rows.iter().any(|(r, _)| !r.step.source.is_empty());
                    let layout_made = Layout::new(sized, self.requests, sources, self.width);
                    let made = layout.insert(layout_made);
                    writeln!(self.out, "{}", made.header())?;
                }
                let layout = layout.as_ref().expect("made above");
                for cells in &cells {
                    writeln!(self.out, "{}", layout.line(cells))?;
                }
            }
        }
        Ok(())
    }

    /// Writes the summary.
    fn summary(&mut self) -> Result<()> {
        let summary = self.timeline.summary();
        match self.writer {
            Writer::Json => writeln!(self.out, "{}", json_summary(&summary)?)?,
            Writer::Table(ref layout) => {
                // Set apart from the rows, when there are any.
                if layout.is_some() {
                    writeln!(self.out)?;
                }
                for line in summary.lines(self.width) {
                    writeln!(self.out, "{line}")?;
                }
            }
        }
        Ok(self.out.flush()?)
    }
}

/// Listens (or reads, with `--from`) as `config` says, and writes the timeline of
/// `config.timeline`'s ids to `out`, fitted to `width` columns when given, until `--count`
/// rows, `--timeout`, the end of the input, a signal (its number is stored in `signal`) or a
/// `--fail-on` notification; then the summary.
pub fn run(
    config: &ListenConfig,
    out: &mut (impl Write + Send),
    err: impl Write + Send + 'static,
    signal: &AtomicUsize,
    width: Option<usize>,
) -> Result<()> {
    let talk = Talk::new("oslo-listen", config.verbosity, err);
    say_connecting(&talk, config)?;
    let json = Printer {
        format: OutputFormat::Json,
        show_secrets: config.printer.show_secrets,
        ..Printer::default()
    };
    let live = config.from.is_none();
    let sheet = Mutex::new(Sheet {
        out,
        writer: match config.printer.format {
            OutputFormat::Json => Writer::Json,
            _ => Writer::Table(None),
        },
        timeline: Timeline::default(),
        requests: config.timeline.iter().any(|id| !id.starts_with("req-")),
        sources: config.sources.iter().any(|s| !s.name.is_empty()),
        width,
        live,
    });
    // Read from saved notifications: the rows, until all are read.
    let mut gathered: Vec<(Step, String)> = Vec::new();
    let mut failure = None;
    let mut pipeline = Pipeline::new(config, talk.clone());
    let id_texts = id_texts(&config.timeline);
    let mut handle = |received: &Received| -> Result<Verdict> {
        let judged = pipeline.judge(received)?;
        // A first look at the text spares building the values of most of a busy stream.
        let mine = may_belong(received.message, &id_texts)
            && belongs(received.notification(), &config.timeline);
        let verdict = match judged {
            Judged::Skip => Verdict::Skip,
            Judged::Take if mine => pipeline.taken(),
            Judged::Take => Verdict::Skip,
            Judged::Fail(failed) => {
                failure = Some(failed);
                Verdict::DoneAndStop
            }
        };
        if !mine || verdict == Verdict::Skip {
            return Ok(verdict);
        }
        let mut text = Vec::new();
        json.write_json_object(&mut text, received)?;
        let mut step = Step::of(received.notification());
        step.source = received.source.to_owned();
        let step = (step, String::from_utf8(text)?);
        match live {
            true => sheet
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write(vec![step])?,
            false => gathered.push(step),
        }
        Ok(verdict)
    };
    let flush = || {
        let mut sheet = sheet.lock().unwrap_or_else(PoisonError::into_inner);
        sheet.out.flush().context("writing to stdout")
    };
    let deadline = config.timeout.map(|t| Instant::now() + t);
    let (ended, _) = watched(
        signal,
        || None,
        |halt| {
            let mut handler = ToolHandler {
                handle: &mut handle,
                before_acknowledging: Some(flush),
                caught_up: Some(flush),
            };
            let mut observer = talk.clone();
            receive(config, deadline, &mut handler, &mut observer, halt).map_err(from_engine)
        },
    );
    let ended = ended?;
    let mut sheet = sheet.into_inner().unwrap_or_else(PoisonError::into_inner);
    if !live {
        // In the order of their own timestamps; those without one last, as they came.
        gathered.sort_by_key(|(step, _)| (step.at.is_none(), step.at));
        if !gathered.is_empty() {
            sheet.write(gathered)?;
        }
    }
    sheet.summary().context("writing to stdout")?;
    outcome(config, ended, failure, &pipeline)
}

/// The run's outcome: a `--fail-on` notification, or `--count` not reached.
fn outcome(
    config: &ListenConfig,
    ended: Ended,
    failure: Option<FailureNotification>,
    pipeline: &Pipeline,
) -> Result<()> {
    if let Some(failure) = failure {
        return Err(failure.into());
    }
    match (ended, config.count, config.timeout) {
        (Ended::TimedOut, Some(_), Some(_)) | (Ended::EndOfInput, Some(_), _) => {
            Err(pipeline.not_reached(ended).into())
        }
        _ => Ok(()),
    }
}
