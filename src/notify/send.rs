//! Running `oslo-notify`: connect, send what was given, write each message_id once the
//! broker confirmed it, and say what happened on stderr.

use super::input::{parse_payload_json, InputError};
use super::replay::{replayed, MaskedOnce};
use super::stdin::{Chunks, Interrupts};
use super::{Given, Outgoing, SendConfig};
use crate::engine::notifier::{Notifier, NotifierOptions};
use crate::engine::receive::stored::saved_files;
use crate::events::Weight;
use crate::tool::talk::Talk;
use crate::tool::Signalled;
use crate::wire::pyjson::PythonJson;
use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::io::{self, Read, Write};

/// Connects (trying again while the broker may come back, for up to the connect timeout),
/// sends the notifications and writes the message_id of each to `out` once the broker has
/// confirmed it. Notices about waiting go to `err`.
///
/// While notifications stream from `stdin` (`--lines`, `--replay`), SIGINT and SIGTERM ask to
/// stop: nothing more is read, what was sent is confirmed and its ids written, and the run
/// ends with [`Signalled`]; a second one ends the process at once. A closed `out` (a reader
/// that went away, `| head -1`) stops the ids, not the sending: every line is still sent and
/// confirmed.
pub fn run(
    config: &SendConfig,
    stdin: impl Read + Send + 'static,
    out: &mut impl Write,
    err: impl Write + Send + 'static,
) -> Result<()> {
    let talk = Talk::new("oslo-notify", config.verbosity, err);
    if let Some(warning) = config.connect.tls.insecure_warning() {
        talk.warn(warning)?;
    }
    talk.say(Weight::Detail, format_args!("connecting to {}", config.url))?;
    let options = NotifierOptions {
        connect: config.connect.clone(),
        durability: config.durability,
    };
    let notifier = Notifier::connect_with(
        &config.url,
        config.publisher_id.clone(),
        &options,
        Box::new(talk.clone()),
    )?;
    let mut notifier = notifier
        .exchange(config.exchange.clone())
        .topics(config.topics.iter().cloned())
        .format(config.format);
    let mut pending = Pending::default();
    // The lines to send, read on a thread of their own: stdin, or a --replay FILE read as
    // stdin would be; none for one notification or a --replay directory.
    let lines = match &config.given {
        Given::One { .. } => None,
        Given::Replay {
            dir: Some(path), ..
        } if path.is_dir() => None,
        Given::Replay {
            dir: Some(path), ..
        } => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("reading the --replay file {}", path.display()))?;
            Some(Chunks::read(file))
        }
        _ => Some(Chunks::read(stdin)),
    };
    // Only once connected and with many to send: otherwise a signal ends the process as
    // usual (there is nothing half sent to report).
    let interrupts = match config.given {
        Given::One { .. } => Interrupts::default(),
        _ => Interrupts::arm().context("setting up signal handling")?,
    };
    let result = match &config.given {
        Given::One {
            priority,
            event_type,
            payload,
        } => {
            let payload = PythonJson::from_value(payload).context("encoding the payload")?;
            let notification = config.notification(*priority, event_type, payload);
            notifier.prepare(*priority)?;
            pending.send(
                &mut notifier,
                Outgoing {
                    notification,
                    route: None,
                },
            )
        }
        Given::Lines {
            priority,
            event_type,
        } => {
            notifier.prepare(*priority)?;
            let lines = lines.expect("--lines reads stdin");
            send_lines(
                &mut notifier,
                lines,
                &interrupts,
                &mut pending,
                out,
                |text, number| {
                    let what = format_args!("payload on line {number}");
                    let payload = parse_payload_json(text, what)?;
                    let notification = config.notification(*priority, event_type, payload);
                    Ok(Outgoing {
                        notification,
                        route: None,
                    })
                },
            )
        }
        Given::Replay { keep_routing, dir } => {
            let mut masked = MaskedOnce::new(&talk);
            match (lines, dir) {
                (None, Some(dir)) => send_files(
                    &mut notifier,
                    dir,
                    &interrupts,
                    &mut pending,
                    out,
                    |text, what| masked.check(replayed(text, what, *keep_routing)?, what),
                ),
                (lines, _) => {
                    let lines = lines.expect("--replay reads stdin or its file");
                    send_lines(
                        &mut notifier,
                        lines,
                        &interrupts,
                        &mut pending,
                        out,
                        |text, number| {
                            let what = format!("line {number}");
                            masked.check(replayed(text, &what, *keep_routing)?, &what)
                        },
                    )
                }
            }
        }
    };
    if matches!(config.given, Given::Replay { .. }) && pending.sent == 0 {
        let from = match &config.given {
            Given::Replay {
                dir: Some(path), ..
            } => path.display().to_string(),
            _ => "stdin".to_owned(),
        };
        if result.is_ok() {
            talk.say(
                Weight::Notice,
                format_args!("nothing to replay: no notification found in {from}"),
            )?;
        }
    }
    // Whatever stopped the input, report what the broker took before saying why.
    let flushed = notifier.flush();
    pending.write_confirmed(notifier.confirmed_through(), out)?;
    talk.say(
        Weight::Detail,
        format_args!("the broker confirmed {} notification(s)", pending.confirmed),
    )?;
    if pending.unprinted > 0 {
        talk.say(
            Weight::Detail,
            format_args!(
                "stdout was closed: {} confirmed message id(s) were not printed",
                pending.unprinted
            ),
        )?;
    }
    let result = result.map_err(|e| match e.downcast::<Signalled>() {
        Ok(signalled) => anyhow::Error::new(signalled).context(format!(
            "interrupted: the broker confirmed {} notification(s) (their ids are on stdout); \
             nothing more was read or sent",
            pending.confirmed
        )),
        Err(e) => e,
    });
    result?;
    flushed?;
    Ok(notifier.close()?)
}

/// Sends one notification per `*.json` file of `dir` (an `oslo-listen --save` directory),
/// in name order, as `parse` makes it from the file's text.
fn send_files(
    notifier: &mut Notifier,
    dir: &std::path::Path,
    interrupts: &Interrupts,
    pending: &mut Pending,
    out: &mut impl Write,
    mut parse: impl FnMut(&str, &str) -> Result<Outgoing>,
) -> Result<()> {
    for path in saved_files(dir) {
        let path =
            path.with_context(|| format!("reading the --replay directory {}", dir.display()))?;
        interrupts.check()?;
        let what = path.display().to_string();
        let bytes = std::fs::read(&path).with_context(|| format!("reading {what}"))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| InputError(format!("{what} is not UTF-8 text: {e}")))?;
        pending.send(notifier, parse(text.trim(), &what)?)?;
        pending.write_confirmed(notifier.confirmed_through(), out)?;
    }
    Ok(())
}

/// Sends one notification per non-blank line of `stdin`, as `parse` makes it from the text.
fn send_lines(
    notifier: &mut Notifier,
    stdin: Chunks,
    interrupts: &Interrupts,
    pending: &mut Pending,
    out: &mut impl Write,
    mut parse: impl FnMut(&str, u64) -> Result<Outgoing>,
) -> Result<()> {
    // The start of a line whose end has not been read yet.
    let mut partial: Vec<u8> = Vec::new();
    let mut number = 0;
    let mut line = |bytes: &[u8], notifier: &mut Notifier, pending: &mut Pending, out: &mut _| {
        number += 1;
        let text = std::str::from_utf8(bytes).map_err(|e| {
            InputError(format!(
                "line {number} is not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ))
        })?;
        if text.trim().is_empty() {
            return Ok(());
        }
        interrupts.check()?;
        pending.send(notifier, parse(text, number)?)?;
        pending.write_confirmed(notifier.confirmed_through(), out)
    };
    // While stdin is quiet, the ids confirmed meanwhile are written.
    while let Some(chunk) = stdin.next(interrupts, || {
        pending.write_confirmed(notifier.confirmed_through(), out)
    })? {
        let mut rest = &chunk[..];
        while let Some(end) = memchr::memchr(b'\n', rest) {
            if partial.is_empty() {
                line(&rest[..=end], notifier, pending, out)?;
            } else {
                partial.extend_from_slice(&rest[..=end]);
                line(&partial, notifier, pending, out)?;
                partial.clear();
            }
            rest = &rest[end + 1..];
        }
        partial.extend_from_slice(rest);
    }
    if !partial.is_empty() {
        line(&partial, notifier, pending, out)?;
    }
    Ok(())
}

/// Notifications sent but not yet reported.
#[derive(Default)]
struct Pending {
    queue: VecDeque<(u64, String)>,
    /// How many were sent so far.
    sent: u64,
    /// How many were confirmed so far.
    confirmed: u64,
    /// stdout was closed by its reader: ids are no longer written.
    closed: bool,
    /// How many confirmed ids were not written for that.
    unprinted: u64,
}

impl Pending {
    fn send(&mut self, notifier: &mut Notifier, outgoing: Outgoing) -> Result<()> {
        let sent = match &outgoing.route {
            None => notifier.send(&outgoing.notification)?,
            Some((exchange, key)) => notifier.send_to(&outgoing.notification, exchange, key)?,
        };
        self.queue
            .push_back((sent.last_seq, outgoing.notification.message_id));
        self.sent += 1;
        Ok(())
    }

    /// Writes the message_id of every notification whose publishes are confirmed through
    /// sequence number `through`.
    fn write_confirmed(&mut self, through: u64, out: &mut impl Write) -> Result<()> {
        let mut wrote = false;
        while let Some((seq, _)) = self.queue.front() {
            if *seq > through {
                break;
            }
            if let Some((_, id)) = self.queue.pop_front() {
                self.confirmed += 1;
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
