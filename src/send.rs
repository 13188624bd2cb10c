//! The `oslo-notify` command: from its configuration to confirmed notifications.

use crate::broker::{ConnectOptions, Durability};
use crate::envelope::{Format, Notification, Priority};
use crate::events::Weight;
use crate::input::{parse_payload, parse_payload_json, InputError};
use crate::listen::Signalled;
use crate::notifier::{Notifier, NotifierOptions};
use crate::pyjson::PythonJson;
use crate::replay::parse_line;
use crate::talk::Talk;
use crate::transport_url::TransportUrl;
use crate::verbosity::Verbosity;
use anyhow::{Context, Result};
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Everything `oslo-notify` needs, with no command-line types in it.
#[derive(Debug, Clone)]
pub struct SendConfig {
    /// Where to connect.
    pub url: TransportUrl,
    /// How to connect and how long to wait for the broker.
    pub connect: ConnectOptions,
    /// How to declare what does not exist yet.
    pub durability: Durability,
    /// The exchange (oslo's control_exchange).
    pub exchange: String,
    /// The topics; each notification is sent to every one.
    pub topics: Vec<String>,
    /// Envelope 2.0 or bare 1.0.
    pub format: Format,
    /// The publisher_id of every notification.
    pub publisher_id: String,
    /// The request context of every notification.
    pub context: Map<String, Value>,
    /// What to send.
    pub input: Input,
    /// How much to say on stderr.
    pub verbosity: Verbosity,
}

/// What to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// One notification.
    One {
        /// Its priority.
        priority: Priority,
        /// Its event_type.
        event_type: String,
        /// Its payload.
        payload: Value,
    },
    /// One notification per non-blank line of stdin, each line a JSON payload.
    Lines {
        /// The priority of each.
        priority: Priority,
        /// The event_type of each.
        event_type: String,
    },
    /// One notification per non-blank line of stdin, each line an `oslo-listen --format
    /// json` object: priority, event_type, publisher_id, payload and context come from it.
    Replay {
        /// Publish to the line's exchange and routing key rather than the configured ones.
        keep_routing: bool,
        /// Read the files of this `oslo-listen --save` directory instead of stdin.
        dir: Option<std::path::PathBuf>,
    },
}

/// Reads the PAYLOAD argument: JSON text, `@FILE` for a file's content, or `-` (or nothing)
/// for all of `stdin`.
pub fn read_payload(argument: Option<&str>, stdin: impl Read) -> Result<Value> {
    let (text, what) = match argument {
        None | Some("-") => (
            read_text(stdin).context("reading the payload from stdin")?,
            "payload from stdin".to_owned(),
        ),
        Some(arg) => match arg.strip_prefix('@') {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| InputError(format!("cannot read the payload file {path}: {e}")))?;
                (
                    utf8(bytes, &format!("payload file {path}"))?,
                    format!("payload in {path}"),
                )
            }
            None => (arg.to_owned(), "payload".to_owned()),
        },
    };
    Ok(parse_payload(&text, &what)?)
}

fn read_text(mut input: impl Read) -> Result<String> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    utf8(bytes, "stdin")
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        InputError(format!(
            "{what} is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
        .into()
    })
}

/// A notification to send, and where to when not to the configured exchange and topics.
struct Outgoing {
    notification: Notification<PythonJson>,
    route: Option<(String, String)>,
}

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
    let lines = match &config.input {
        Input::One { .. } => None,
        Input::Replay {
            dir: Some(path), ..
        } if path.is_dir() => None,
        Input::Replay {
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
    let interrupts = match config.input {
        Input::One { .. } => Interrupts::default(),
        _ => Interrupts::arm().context("setting up signal handling")?,
    };
    let result = match &config.input {
        Input::One {
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
        Input::Lines {
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
        Input::Replay { keep_routing, dir } => {
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
    if matches!(config.input, Input::Replay { .. }) && pending.sent == 0 {
        let from = match &config.input {
            Input::Replay {
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
    notifier.close()
}

/// SIGINT and SIGTERM while notifications are sent: the first is noted (the sending stops at
/// the next notification, and what was sent is confirmed and reported), a second ends the
/// process at once with the signal's default action. Given back to the default on drop.
#[derive(Default)]
struct Interrupts {
    /// The number of the first signal (0: none yet).
    signal: Arc<AtomicUsize>,
    registered: Vec<signal_hook::SigId>,
}

impl Interrupts {
    fn arm() -> io::Result<Interrupts> {
        use signal_hook::{consts, flag};
        let signal = Arc::new(AtomicUsize::new(0));
        let asked = Arc::new(AtomicBool::new(false));
        let mut registered = Vec::new();
        for number in [consts::SIGINT, consts::SIGTERM] {
            // In this order: the second signal finds `asked` already set.
            registered.push(flag::register_conditional_default(
                number,
                Arc::clone(&asked),
            )?);
            registered.push(flag::register(number, Arc::clone(&asked))?);
            let value = usize::try_from(number).unwrap_or(usize::MAX);
            registered.push(flag::register_usize(number, Arc::clone(&signal), value)?);
        }
        Ok(Interrupts { signal, registered })
    }

    /// The signal that asked to stop, as an error.
    fn check(&self) -> Result<(), Signalled> {
        match self.signal.load(Ordering::Relaxed) {
            0 => Ok(()),
            number => Err(Signalled(i32::try_from(number).unwrap_or(i32::MAX))),
        }
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        for id in self.registered.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Stdin read on a thread of its own, in chunks, so that waiting for input can be
/// interrupted by a signal.
struct Chunks {
    chunks: crossbeam_channel::Receiver<io::Result<Vec<u8>>>,
}

/// How much stdin is read at once.
const CHUNK: usize = 64 * 1024;

impl Chunks {
    fn read(mut stdin: impl Read + Send + 'static) -> Chunks {
        let (tx, rx) = crossbeam_channel::bounded(4);
        // Not joined: it may be blocked in read(2) when sending stops early; the process
        // ends with it.
        std::thread::spawn(move || loop {
            let mut chunk = vec![0; CHUNK];
            match stdin.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    chunk.truncate(n);
                    if tx.send(Ok(chunk)).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        });
        Chunks { chunks: rx }
    }

    /// The next chunk, or `None` at the end of stdin; waits for it, looking at `interrupts`
    /// and calling `idle` every so often.
    fn next(
        &self,
        interrupts: &Interrupts,
        mut idle: impl FnMut() -> Result<()>,
    ) -> Result<Option<Vec<u8>>> {
        loop {
            interrupts.check()?;
            match self.chunks.recv_timeout(Duration::from_millis(50)) {
                Ok(chunk) => return Ok(Some(chunk.context("reading stdin")?)),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => idle()?,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Ok(None),
            }
        }
    }
}

impl SendConfig {
    fn notification<P>(&self, priority: Priority, event_type: &str, payload: P) -> Notification<P> {
        Notification::new(priority, event_type, payload)
            .with_publisher_id(self.publisher_id.clone())
            .with_context(self.context.clone())
    }
}

/// Warns once when a replayed notification carries secrets that were masked when it was
/// saved: they are sent as the mask, not as the secret.
struct MaskedOnce<'a> {
    talk: &'a Talk,
    warned: bool,
}

impl<'a> MaskedOnce<'a> {
    fn new(talk: &'a Talk) -> Self {
        MaskedOnce {
            talk,
            warned: false,
        }
    }

    fn check(&mut self, outgoing: Outgoing, what: &str) -> Result<Outgoing> {
        if !self.warned {
            let masked = outgoing
                .notification
                .context
                .iter()
                .find(|(_, value)| value.as_str() == Some(crate::mask::MASK));
            if let Some((key, _)) = masked {
                self.warned = true;
                self.talk.warn(format_args!(
                    "{what} has context {key:?} masked as \"{}\" when it was saved: it is sent \
                     so (save with oslo-listen --show-secrets to replay secrets)",
                    crate::mask::MASK
                ))?;
            }
        }
        Ok(outgoing)
    }
}

/// A notification to send again from an `oslo-listen --format json` object; `what` names
/// where it came from in errors.
fn replayed(text: &str, what: &str, keep_routing: bool) -> Result<Outgoing> {
    let replayed = parse_line(text, what)?;
    let route = match (keep_routing, replayed.exchange, replayed.routing_key) {
        (false, _, _) => None,
        (true, Some(exchange), Some(key)) => Some((exchange, key)),
        (true, _, _) => {
            return Err(
                InputError(format!("{what} has no exchange and routing_key to keep")).into(),
            )
        }
    };
    let payload =
        PythonJson::from_value(&replayed.notification.payload).context("encoding the payload")?;
    Ok(Outgoing {
        notification: replayed.notification.with_payload(payload),
        route,
    })
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
    let reading = || format!("reading the --replay directory {}", dir.display());
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(reading)? {
        let path = entry.with_context(reading)?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        // Skips what oslo-listen --save is still writing (.NAME.partial).
        if name.ends_with(".json") && !name.starts_with('.') && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    for path in files {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_arguments() {
        assert_eq!(
            read_payload(Some(r#"{"a":1}"#), &b""[..]).unwrap(),
            serde_json::json!({"a": 1})
        );
        assert_eq!(
            read_payload(Some("-"), &b"[1]"[..]).unwrap(),
            serde_json::json!([1])
        );
        assert_eq!(
            read_payload(None, &b" \"s\"\n"[..]).unwrap(),
            serde_json::json!("s")
        );
        let dir = std::env::temp_dir().join(format!("oslo-notify-test-{}", uuid::Uuid::new_v4()));
        std::fs::write(&dir, br#"{"from": "file"}"#).unwrap();
        let arg = format!("@{}", dir.display());
        assert_eq!(
            read_payload(Some(&arg), &b""[..]).unwrap(),
            serde_json::json!({"from": "file"})
        );
        std::fs::remove_file(&dir).unwrap();
        let missing = read_payload(Some("@/nonexistent/payload.json"), &b""[..]).unwrap_err();
        assert!(missing.is::<InputError>());
        assert!(
            format!("{missing}").contains("cannot read the payload file /nonexistent/payload.json")
        );
        let bad = read_payload(None, &b"\xff"[..]).unwrap_err();
        assert!(bad.is::<InputError>(), "{bad:#}");
    }
}
