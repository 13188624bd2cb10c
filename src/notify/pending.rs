//! Notifications sent but not yet reported: their message_ids written to stdout as the
//! broker confirms them, in order, and how far behind schedule the confirms came.

use super::Outgoing;
use crate::engine::notifier::Notifier;
use crate::wire::envelope::Series;
use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::time::{Duration, Instant};

/// A notification's message_id.
enum MessageId {
    /// Drawn for it (a series' notification): printed with dashes when confirmed.
    Drawn(uuid::Uuid),
    /// Given with it.
    Given(String),
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageId::Drawn(id) => id.hyphenated().fmt(f),
            MessageId::Given(id) => f.write_str(id),
        }
    }
}

/// Notifications sent but not yet reported.
#[derive(Default)]
pub(super) struct Pending {
    /// Each one's last sequence number, message_id, and when it was due (paced).
    queue: VecDeque<(u64, MessageId, Option<Instant>)>,
    /// How many were sent so far.
    pub(super) sent: u64,
    /// How many were confirmed so far.
    pub(super) confirmed: u64,
    /// stdout was closed by its reader: ids are no longer written.
    closed: bool,
    /// How many confirmed ids were not written for that.
    pub(super) unprinted: u64,
    /// How long after it was due the last confirmed one was confirmed, and the most so far:
    /// a broker that holds publishes back (flow control, an alarm) shows here.
    pub(super) lag: Duration,
    pub(super) max_lag: Duration,
}

impl Pending {
    /// Sends `outgoing`, which was `due` then (when paced).
    pub(super) fn send(
        &mut self,
        notifier: &mut Notifier,
        outgoing: Outgoing,
        due: Option<Instant>,
    ) -> Result<()> {
        let sent = match &outgoing.route {
            None => notifier.send(&outgoing.notification)?,
            Some((exchange, key)) => notifier.send_to(&outgoing.notification, exchange, key)?,
        };
        let id = MessageId::Given(outgoing.notification.message_id);
        self.queue.push_back((sent.last_seq, id, due));
        self.sent += 1;
        Ok(())
    }

    /// Sends the current notification of `series`.
    pub(super) fn send_next(&mut self, notifier: &mut Notifier, series: &Series) -> Result<()> {
        let sent = notifier.send(series)?;
        let id = MessageId::Drawn(series.message_id());
        self.queue.push_back((sent.last_seq, id, None));
        self.sent += 1;
        Ok(())
    }

    /// Writes the message_id of every notification whose publishes are confirmed through
    /// sequence number `through`.
    pub(super) fn write_confirmed(&mut self, through: u64, out: &mut impl Write) -> Result<()> {
        let mut wrote = false;
        while let Some((seq, _, _)) = self.queue.front() {
            if *seq > through {
                break;
            }
            if let Some((_, id, due)) = self.queue.pop_front() {
                self.confirmed += 1;
                if let Some(due) = due {
                    self.lag = due.elapsed();
                    self.max_lag = self.max_lag.max(self.lag);
                }
                if self.closed {
                    self.unprinted += 1;
                    continue;
                }
                let written = writeln!(out, "{id}");
                self.wrote(written, 1)?;
                wrote = true;
            }
        }
        if wrote && !self.closed {
            let flushed = out.flush();
            // What the writer held is lost with the pipe; the count says how many ids.
            self.wrote(flushed, 0)?;
        }
        Ok(())
    }

    /// Notes a write of `ids` ids: a reader that went away (broken pipe) closes stdout for
    /// good, and sending goes on; any other failure stops it.
    fn wrote(&mut self, result: io::Result<()>, ids: u64) -> Result<()> {
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                self.unprinted += ids;
                Ok(())
            }
            Err(e) => Err(e).context("writing message ids to stdout"),
        }
    }
}
