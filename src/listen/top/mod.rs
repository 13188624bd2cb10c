//! `oslo-listen --top`: instead of printing each notification, keep running figures of the
//! traffic and show them, on a terminal as a full-screen view, elsewhere as a JSON line every
//! interval.
//!
//! The receiving engine ([`crate::engine::receive`]) feeds a [`Tally`] (rows, totals, rates,
//! operations); a thread of its own reads the depth of the shared queues every
//! five seconds with passive declares; every interval a [`Snapshot`] of both is written
//! ([`Face::Lines`]) or drawn ([`Face::Screen`], [`view`]).

mod held;
pub mod operations;
mod saved;
mod screen;
mod shared;
pub mod snapshot;
pub mod tally;
pub mod tty;
pub mod view;
mod watcher;

use snapshot::SortBy;
use tally::{GroupBy, Sample, Tally};

use super::pipeline::{Pipeline, Step};
use super::{settings, ListenConfig, TopOptions};
use crate::engine::receive::{self, Ended, Received, Verdict};
use crate::listen::metrics::Served;
use crate::listen::queues::QueueWatch;
use crate::tool::talk::Talk;
use crate::tool::{from_engine, ToolHandler};
use anyhow::{Context, Result};
use held::Held;
use screen::{Quit, Screen};
use shared::{lock, Clock, Shared, TICK};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use view::View;
use watcher::{initial_states, Watcher};

/// Where the figures go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// One JSON object per line every interval, and a last one when the run ends.
    Lines,
    /// A full-screen view on the terminal; the final tables as plain text once it ends.
    Screen {
        /// Hold what would go to stderr until the screen is given back (stderr is the same
        /// terminal), showing the last line at the bottom.
        hold_stderr: bool,
        /// Colours (NO_COLOR unset).
        color: bool,
    },
}

/// Listens as `config` says and shows the figures on `face` until `--count` notifications
/// were counted, `--timeout` passes, a signal arrives (its number is stored in `signal`),
/// the person at the screen quits, or an error. The final figures go to `out`; notices and
/// diagnostics to `err`.
pub fn run(
    config: &ListenConfig,
    top: &TopOptions,
    face: Face,
    out: &mut impl Write,
    err: impl Write + Send + 'static,
    signal: &AtomicUsize,
) -> Result<()> {
    let held = match face {
        Face::Screen {
            hold_stderr: true, ..
        } => Some(Held::default()),
        _ => None,
    };
    let talk = match &held {
        Some(held) => Talk::new("oslo-listen", config.verbosity, held.clone()),
        None => Talk::new("oslo-listen", config.verbosity, err),
    };
    if config.from.is_some() {
        return saved::run(config, top, face, out, &talk, signal);
    }
    super::say_connecting(&talk, config)?;
    let started = Instant::now();
    let deadline = config.timeout.map(|t| started + t);
    let settings = settings(config, deadline);
    let queues = QueueWatch::start(&config.sources, &config.connect);
    let served = Served::start(config, Some(Arc::clone(&queues))).inspect_err(|_| queues.stop())?;
    if let Some(served) = &served {
        served.say(&talk)?;
    }
    let metrics = served.as_ref().map(|s| &*s.metrics);
    let shared = Arc::new(Shared {
        tally: Mutex::new(Tally::new(top.stale)),
        queues,
        sources: Mutex::new(initial_states(&config.sources)),
    });
    let keep_samples = matches!(face, Face::Screen { .. });
    let mut pipeline = Pipeline::new(config, talk.clone()).counting(metrics);
    let mut count = |received: &Received| -> Result<Verdict> {
        // --fail-on cannot be given with --top.
        if pipeline.judge(received)? != Step::Take {
            return Ok(Verdict::Skip);
        }
        let sample = keep_samples.then(|| {
            Arc::new(Sample {
                exchange: received.exchange.to_owned(),
                routing_key: received.routing_key.to_owned(),
                source: received.source.to_owned(),
                body: received.body.to_vec(),
            })
        });
        lock(&shared.tally).record(
            received.message,
            received.exchange,
            received.source,
            started.elapsed(),
            sample,
        );
        Ok(pipeline.taken())
    };
    let mut observer = Watcher {
        talk: talk.clone(),
        shared: &shared,
        metrics,
    };
    let halt = AtomicBool::new(false);
    let engine_done = AtomicBool::new(false);
    let clock = Clock { started };
    let shown = std::thread::scope(|scope| {
        let engine = scope.spawn(|| {
            let mut handler = ToolHandler::new(&mut count);
            let ended =
                receive::run(&settings, &mut handler, &mut observer, &halt).map_err(from_engine);
            engine_done.store(true, Ordering::Relaxed);
            ended
        });
        let stopped = || engine_done.load(Ordering::Relaxed) || signal.load(Ordering::Relaxed) != 0;
        let shown = match face {
            Face::Lines => lines(&shared, top, &clock, out, stopped),
            Face::Screen { color, .. } => {
                let mut view = View::new(top.by, color, "oslo-listen --top".to_owned());
                let screen = Screen {
                    config,
                    shared: &shared,
                    top,
                    clock: &clock,
                    held: held.as_ref(),
                };
                screen
                    .run(&mut view, stopped)
                    .map(|quit| (view.by, view.sort, quit == Quit::HungUp))
            }
        };
        halt.store(true, Ordering::Relaxed);
        let ended = engine
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the receiving engine stopped unexpectedly")));
        shown.and_then(|shown| Ok((ended?, shown)))
    });
    shared.queues.read_now();
    shared.queues.stop();
    if let Some(held) = &held {
        held.give_back(&mut io::stderr());
    }
    let (ended, (by, sort, hung_up)) = shown?;
    if hung_up {
        // Nowhere to show the final tables.
        return Ok(());
    }
    let mut last = clock.snapshot(&shared, by, sort);
    last.last = true;
    match face {
        Face::Lines => last.write_json_line(out),
        Face::Screen { .. } => last.write_text(out, terminal_width()),
    }
    .and_then(|()| out.flush())
    .context("writing to stdout")?;
    match (ended, config.count, config.timeout) {
        (Ended::TimedOut, Some(_), Some(_)) => Err(pipeline.not_reached(ended).into()),
        _ => Ok(()),
    }
}

/// The width the final tables are fitted to, so that they do not wrap: the terminal's; `None`
/// (whole) on one too narrow to show them anyway.
fn terminal_width() -> Option<usize> {
    ratatui::crossterm::terminal::size()
        .ok()
        .map(|(w, _)| usize::from(w))
        .filter(|w| *w >= usize::from(view::MIN_WIDTH))
}

/// The JSON face: a line every interval until `stopped`.
fn lines(
    shared: &Shared,
    top: &TopOptions,
    clock: &Clock,
    out: &mut impl Write,
    stopped: impl Fn() -> bool,
) -> Result<(GroupBy, SortBy, bool)> {
    let mut next = clock.started + top.interval;
    while !stopped() {
        let now = Instant::now();
        if now >= next {
            let snapshot = clock.snapshot(shared, top.by, SortBy::Count);
            snapshot
                .write_json_line(out)
                .and_then(|()| out.flush())
                .context("writing to stdout")?;
            // A slow reader delays lines; it does not make them bunch up afterwards.
            next = (next + top.interval).max(now);
        }
        std::thread::sleep(TICK.min(next.saturating_duration_since(Instant::now())));
    }
    Ok((top.by, SortBy::Count, false))
}
