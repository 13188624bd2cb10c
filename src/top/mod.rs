//! `oslo-listen --top`: instead of printing each notification, keep running figures of the
//! traffic and show them, on a terminal as a full-screen view, elsewhere as a JSON line every
//! interval.
//!
//! The listening engine ([`crate::receive`]) feeds a [`Tally`] (rows, totals, rates,
//! operations); a thread of its own reads the depth of the shared queues every
//! [`QUEUE_INTERVAL`] with passive declares; every interval a [`Snapshot`] of both is written
//! ([`Face::Lines`]) or drawn ([`Face::Screen`], [`view`]).

pub mod operations;
pub mod snapshot;
pub mod tally;
pub mod tty;
pub mod view;

pub use snapshot::{QueueDepth, Snapshot, SortBy};
pub use tally::{GroupBy, Sample, Tally};

use crate::broker::{self, QueueGauge};
use crate::envelope::decode;
use crate::events::{Event, Observer, Weight};
use crate::listen::{holds, predicate_input, settings, CountNotReached, ListenConfig};
use crate::output::{OutputFormat, Printer};
use crate::receive::{self, Ended, Received, Verdict};
use crate::talk::Talk;
use crate::versioned;
use anyhow::{Context, Result};
use chrono::Utc;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tty::{Ready, Tty};
use view::{Action, View};

/// How often the depth of the shared queues is read.
pub const QUEUE_INTERVAL: Duration = Duration::from_secs(5);
/// How many lines said on stderr are held while the screen is in use.
const HELD_LINES: usize = 1_000;
/// How often the loops look at keys, signals and the engine.
const TICK: Duration = Duration::from_millis(50);

/// What `--top` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopOptions {
    /// What rows are grouped by.
    pub by: GroupBy,
    /// How often the figures are written or drawn.
    pub interval: Duration,
    /// How long in flight makes an operation stale.
    pub stale: Duration,
}

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

/// What the engine's thread and the others share.
struct Shared {
    tally: Mutex<Tally>,
    /// The shared queues to read the depth of, with the exchange each is named for.
    watched: Mutex<Vec<(String, String)>>,
    /// Their depths as last read.
    queues: Mutex<Vec<QueueDepth>>,
    /// Asks the depth reader to read now, whatever its interval (and cuts its pause short).
    ask: Channel,
    /// The reader's answer: it read (or tried to).
    answer: Channel,
}

/// A channel of one signal, both of its ends.
type Channel = (
    crossbeam_channel::Sender<()>,
    crossbeam_channel::Receiver<()>,
);

/// How long the final figures wait for the queue depths to be read once more.
const LAST_READ: Duration = Duration::from_secs(2);

impl Shared {
    /// Has the depths read once more (the last read may be an interval old), waiting at most
    /// [`LAST_READ`] for it.
    fn read_depths_now(&self) {
        if lock(&self.watched).is_empty() {
            return;
        }
        let _ = self.ask.0.try_send(());
        let _ = self.answer.1.recv_timeout(LAST_READ);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
    if let Some(warning) = config.connect.tls.insecure_warning() {
        talk.warn(warning)?;
    }
    talk.say(Weight::Detail, format_args!("connecting to {}", config.url))?;
    let started = Instant::now();
    let deadline = config.timeout.map(|t| started + t);
    let settings = settings(config, deadline);
    let shared = Arc::new(Shared {
        tally: Mutex::new(Tally::new(top.stale)),
        watched: Mutex::new(Vec::new()),
        queues: Mutex::new(Vec::new()),
        ask: crossbeam_channel::bounded(1),
        answer: crossbeam_channel::bounded(1),
    });
    let gauge_stop = Arc::new(AtomicBool::new(false));
    {
        // Not joined: it may be waiting on a broker when the run ends.
        let (shared, stop) = (Arc::clone(&shared), Arc::clone(&gauge_stop));
        let (url, options) = (config.url.clone(), config.connect.clone());
        std::thread::spawn(move || read_depths(&url, &options, &shared, &stop));
    }
    let keep_samples = matches!(face, Face::Screen { .. });
    let mut counted = 0;
    let mut json = Vec::new();
    let verdicts = talk.clone();
    let mut count = |received: &Received| -> Result<Verdict> {
        let n = received.notification;
        if !config.filter.matches(n) {
            return Ok(Verdict::Skip);
        }
        if !config.wheres.is_empty() {
            let input = predicate_input(config, received, &mut json)?;
            if !config.wheres.iter().all(|p| holds(p, &input, n, &verdicts)) {
                return Ok(Verdict::Skip);
            }
        }
        let sample = keep_samples.then(|| {
            Arc::new(Sample {
                exchange: received.exchange.to_owned(),
                routing_key: received.routing_key.to_owned(),
                body: received.body.to_vec(),
            })
        });
        lock(&shared.tally).record(n, received.exchange, started.elapsed(), sample);
        counted += 1;
        Ok(match config.count {
            Some(count) if counted >= count => Verdict::DoneAndStop,
            _ => Verdict::Done,
        })
    };
    let mut observer = Watcher {
        talk: talk.clone(),
        shared: &shared,
    };
    let halt = AtomicBool::new(false);
    let engine_done = AtomicBool::new(false);
    let clock = Clock { started };
    let shown = std::thread::scope(|scope| {
        let engine = scope.spawn(|| {
            let ended = receive::run(&settings, &mut count, &mut observer, &halt);
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
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the listening engine stopped unexpectedly")));
        shown.and_then(|shown| Ok((ended?, shown)))
    });
    shared.read_depths_now();
    gauge_stop.store(true, Ordering::Relaxed);
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
        Face::Screen { .. } => {
            // Fitted to the terminal, so that the tables do not wrap; on one too narrow to
            // show them anyway, whole.
            let width = ratatui::crossterm::terminal::size()
                .ok()
                .map(|(w, _)| usize::from(w))
                .filter(|w| *w >= usize::from(view::MIN_WIDTH));
            last.write_text(out, width)
        }
    }
    .and_then(|()| out.flush())
    .context("writing to stdout")?;
    match (ended, config.count, config.timeout) {
        (Ended::TimedOut, Some(wanted), Some(timeout)) => Err(CountNotReached {
            seen: counted,
            wanted,
            timeout,
        }
        .into()),
        _ => Ok(()),
    }
}

/// Time since the start, and the wall clock.
struct Clock {
    started: Instant,
}

impl Clock {
    fn snapshot(&self, shared: &Shared, by: GroupBy, sort: SortBy) -> Snapshot {
        let queues = lock(&shared.queues).clone();
        let tally = lock(&shared.tally);
        Snapshot::take(
            &tally,
            &queues,
            by,
            sort,
            self.started.elapsed(),
            Utc::now(),
        )
    }
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

/// The full-screen face.
struct Screen<'a> {
    config: &'a ListenConfig,
    shared: &'a Shared,
    top: &'a TopOptions,
    clock: &'a Clock,
    held: Option<&'a Held>,
}

impl Screen<'_> {
    /// Draws every interval and follows the keys until quit or `stopped`; the terminal is
    /// given back as it was in every case.
    fn run(&self, view: &mut View, stopped: impl Fn() -> bool) -> Result<Quit> {
        let mut tty = Tty::open().context("opening the terminal")?;
        let mut terminal = ratatui::try_init().context("setting up the terminal")?;
        let result = self.follow(&mut terminal, &mut tty, view, stopped);
        if !matches!(result, Ok(Quit::HungUp)) {
            ratatui::try_restore().context("restoring the terminal")?;
        }
        result
    }

    fn follow(
        &self,
        terminal: &mut ratatui::DefaultTerminal,
        tty: &mut Tty,
        view: &mut View,
        stopped: impl Fn() -> bool,
    ) -> Result<Quit> {
        let mut latest = self.clock.snapshot(self.shared, view.by, view.sort);
        let mut next = Instant::now();
        let mut dirty = true;
        // Every turn blocks in `tty.wait` (keys, signals, hang-up) for at most a tick, and
        // looks at the stop flag: no state of the view skips either.
        while !stopped() {
            if Instant::now() >= next {
                latest = self.clock.snapshot(self.shared, view.by, view.sort);
                next = Instant::now() + self.top.interval;
                dirty = true;
            }
            if dirty {
                let status = self.held.and_then(Held::last).unwrap_or_default();
                let status = status.strip_prefix("oslo-listen: ").unwrap_or(&status);
                // A draw asks the terminal its size: a resize shows at the next one.
                terminal
                    .draw(|frame| view.draw(frame, &latest, status))
                    .context("drawing on the terminal")?;
                dirty = false;
            }
            let wait = TICK.min(next.saturating_duration_since(Instant::now()));
            let keys = match tty.wait(wait).context("reading the terminal")? {
                Ready::Nothing => continue,
                // A new size, or a stop asked for (seen at the top of the loop).
                Ready::Signalled => {
                    dirty = true;
                    continue;
                }
                // The terminal is gone (its window closed): as if SIGHUP had come.
                Ready::HungUp => return Ok(Quit::HungUp),
                Ready::Keys(keys) => keys,
            };
            for key in keys {
                let (by, sort) = (view.by, view.sort);
                match view.key(key, &latest) {
                    Action::Quit => return Ok(Quit::Asked),
                    Action::Show(row) => {
                        let lines = self.last_of(view.by, &row);
                        view.show(row, lines);
                    }
                    Action::Redraw => {}
                }
                if (by, sort) != (view.by, view.sort) {
                    latest = self.clock.snapshot(self.shared, view.by, view.sort);
                }
                dirty = true;
            }
        }
        Ok(Quit::Stopped)
    }

    /// The last notification of a row, as the pretty format writes it, line by line.
    fn last_of(&self, by: GroupBy, row: &str) -> Vec<String> {
        let sample = lock(&self.shared.tally)
            .group(by)
            .get(row)
            .and_then(|r| r.last.clone());
        let Some(sample) = sample else {
            return vec!["(none kept)".to_owned()];
        };
        let mut decoded = match decode(&sample.body) {
            Ok(decoded) => decoded,
            Err(e) => return vec![format!("cannot show it: {e}")],
        };
        if self.config.unwrap {
            versioned::unwrap_in_place(&mut decoded.notification.payload);
        }
        let printer = Printer {
            format: OutputFormat::Pretty,
            color: false,
            escape_controls: true,
            show_secrets: self.config.printer.show_secrets,
        };
        let mut text = Vec::new();
        let received = Received {
            notification: &decoded.notification,
            exchange: &sample.exchange,
            routing_key: &sample.routing_key,
            body: &sample.body,
        };
        if let Err(e) = printer.write(&mut text, &received) {
            return vec![format!("cannot show it: {e}")];
        }
        String::from_utf8_lossy(&text)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// How the full-screen face ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quit {
    /// The person at the screen quit.
    Asked,
    /// The run ended (count, timeout, signal, error).
    Stopped,
    /// The terminal hung up: nothing more can be written to it.
    HungUp,
}

/// Says the engine's events, and learns from them which shared queues to watch.
struct Watcher<'a> {
    talk: Talk,
    shared: &'a Shared,
}

impl Observer for Watcher<'_> {
    fn event(&mut self, event: Event) {
        if let Event::Bound {
            exchanges, keys, ..
        } = &event
        {
            // The shared queue of a route is named by its routing key, whatever the exchange.
            let first = exchanges.first().cloned().unwrap_or_default();
            *lock(&self.shared.watched) = keys
                .iter()
                .map(|key| (key.clone(), first.clone()))
                .collect();
        }
        self.talk.event(event);
    }
}

/// Reads the depth of the watched queues every [`QUEUE_INTERVAL`] (and as soon as there are
/// some) over a connection of its own, until `stop`. A queue that does not exist is left out.
fn read_depths(
    url: &crate::transport_url::TransportUrl,
    options: &broker::ConnectOptions,
    shared: &Shared,
    stop: &AtomicBool,
) {
    let mut gauge: Option<QueueGauge> = None;
    let mut next = Instant::now();
    let mut read: Vec<(String, String)> = Vec::new();
    let mut asked = false;
    while !stop.load(Ordering::Relaxed) {
        let watched = lock(&shared.watched).clone();
        if !watched.is_empty() && (asked || Instant::now() >= next || watched != read) {
            next = Instant::now() + QUEUE_INTERVAL;
            read.clone_from(&watched);
            if gauge.is_none() {
                gauge = broker::connect(url, options).ok().map(QueueGauge::new);
            }
            if let Some(reader) = &mut gauge {
                match depths(reader, &watched) {
                    Some(depths) => *lock(&shared.queues) = depths,
                    // Connected again at the next turn; the last figures stay meanwhile.
                    None => gauge = None,
                }
            }
        }
        if asked {
            let _ = shared.answer.0.try_send(());
        }
        // A pause that a request for a read now cuts short.
        asked = shared
            .ask
            .1
            .recv_timeout(Duration::from_millis(100))
            .is_ok();
    }
    if let Some(gauge) = gauge {
        let _ = gauge.close();
    }
}

fn depths(gauge: &mut QueueGauge, watched: &[(String, String)]) -> Option<Vec<QueueDepth>> {
    let mut depths = Vec::with_capacity(watched.len());
    for (queue, exchange) in watched {
        if let Some(depth) = gauge.depth(queue).ok()? {
            depths.push(QueueDepth {
                queue: queue.clone(),
                exchange: exchange.clone(),
                messages: depth.messages,
                consumers: depth.consumers,
            });
        }
    }
    Some(depths)
}

/// Lines said on stderr while the screen is in use: the last ones kept, given back after.
#[derive(Clone, Default)]
struct Held(Arc<Mutex<HeldLines>>);

#[derive(Default)]
struct HeldLines {
    lines: VecDeque<String>,
    dropped: u64,
    partial: Vec<u8>,
}

impl Held {
    /// The last line said.
    fn last(&self) -> Option<String> {
        lock(&self.0).lines.back().cloned()
    }

    /// Writes every line held to `err`.
    fn give_back(&self, err: &mut impl Write) {
        let mut held = lock(&self.0);
        if held.dropped > 0 {
            let _ = writeln!(
                err,
                "oslo-listen: {} earlier lines were not kept while the screen was in use",
                held.dropped
            );
        }
        for line in held.lines.drain(..) {
            let _ = writeln!(err, "{line}");
        }
    }
}

impl Write for Held {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut held = lock(&self.0);
        held.partial.extend_from_slice(buf);
        while let Some(end) = held.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = held.partial.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            if held.lines.len() == HELD_LINES {
                held.lines.pop_front();
                held.dropped += 1;
            }
            held.lines.push_back(line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_lines_are_given_back_in_order_within_bounds() {
        let mut held = Held::default();
        write!(held, "a: one\na: tw").unwrap();
        assert_eq!(held.last().as_deref(), Some("a: one"));
        writeln!(held, "o").unwrap();
        assert_eq!(held.last().as_deref(), Some("a: two"));
        for i in 0..HELD_LINES {
            writeln!(held, "line {i}").unwrap();
        }
        let mut err = Vec::new();
        held.give_back(&mut err);
        let err = String::from_utf8(err).unwrap();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), HELD_LINES + 1);
        assert_eq!(
            lines[0],
            "oslo-listen: 2 earlier lines were not kept while the screen was in use"
        );
        assert_eq!(lines[HELD_LINES], format!("line {}", HELD_LINES - 1));
    }
}
