//! The full-screen face of `--top`: draws every interval and follows the keys until quit,
//! and gives the terminal back as it was on every way out.

use super::held::Held;
use super::shared::{lock, Clock, Shared, TICK};
use super::tally::GroupBy;
use super::tty::{Ready, Tty};
use super::view::{Action, View};
use crate::engine::receive::Received;
use crate::listen::output::{OutputFormat, Printer};
use crate::listen::{ListenConfig, TopOptions};
use crate::wire::envelope::{decode, Message};
use crate::wire::versioned;
use anyhow::{Context, Result};
use std::time::Instant;

/// The full-screen face.
pub(super) struct Screen<'a> {
    pub(super) config: &'a ListenConfig,
    pub(super) shared: &'a Shared,
    pub(super) top: &'a TopOptions,
    pub(super) clock: &'a Clock,
    pub(super) held: Option<&'a Held>,
}

impl Screen<'_> {
    /// Draws every interval and follows the keys until quit or `stopped`; the terminal is
    /// given back as it was in every case.
    pub(super) fn run(&self, view: &mut View, stopped: impl Fn() -> bool) -> Result<Quit> {
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
        let message = Message::from(decoded);
        let received = Received {
            message: &message,
            exchange: &sample.exchange,
            routing_key: &sample.routing_key,
            source: &sample.source,
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
pub(super) enum Quit {
    /// The person at the screen quit.
    Asked,
    /// The run ended (count, timeout, signal, error).
    Stopped,
    /// The terminal hung up: nothing more can be written to it.
    HungUp,
}
