//! Running `oslo-notify`: connect, send what was given, write each message_id once the
//! broker confirmed it, and say what happened on stderr.

use super::input::{next_payload, InputError};
use super::pace::ReplayOptions;
use super::paced::{Flow, Pacer};
use super::pending::Pending;
use super::replay::{replayed, MaskedOnce};
use super::rewrite::Rewriter;
use super::stdin::{Chunks, Interrupts};
use super::{Given, Outgoing, SendConfig};
use crate::engine::notifier::{Notifier, NotifierOptions};
use crate::engine::receive::stored::saved_files;
use crate::events::Weight;
use crate::tool::talk::Talk;
use crate::tool::Signalled;
use crate::wire::envelope::{python_timestamp, Series};
use crate::wire::pyjson::PythonJson;
use anyhow::{Context, Result};
use std::io::{self, IsTerminal, Read, Write};

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
    // The pace of a replay, and its progress line on a terminal.
    let mut pacer = match &config.given {
        Given::Replay { options, .. } => {
            let progress = talk.shows(Weight::Notice) && io::stderr().is_terminal();
            Pacer::new(options.clone(), progress)
        }
        _ => Pacer::unpaced(),
    };
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
                    recorded: None,
                },
                None,
            )
        }
        Given::Lines {
            priority,
            event_type,
        } => {
            notifier.prepare(*priority)?;
            let mut series = Series::new(
                *priority,
                event_type,
                Some(&config.publisher_id),
                &config.context,
            )
            .context("encoding the context")?;
            let lines = lines.expect("--lines reads stdin");
            send_payloads(
                &mut notifier,
                &lines,
                &interrupts,
                &mut pending,
                out,
                &mut series,
            )
        }
        Given::Replay { dir, options } => {
            let input = match (lines, dir) {
                (None, Some(dir)) => Input::Dir(dir),
                (Some(lines), _) if options.loops != 1 => {
                    Input::Kept(read_all(lines, &interrupts)?)
                }
                (Some(lines), file) => {
                    // A file's lines can be counted first, for the progress line's ETA.
                    let size = file.as_deref().and_then(|path| count_lines(path).ok());
                    Input::Stream(lines, size)
                }
                (None, None) => unreachable!("--replay reads stdin, a file or a directory"),
            };
            replay(
                &mut notifier,
                input,
                options,
                &interrupts,
                &mut pending,
                out,
                &mut pacer,
                &talk,
            )
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
    // (A replay that found nothing said so above.)
    if matches!(config.given, Given::Replay { .. }) && pending.sent > 0 {
        pacer.summary(&talk, pending.confirmed, pending.max_lag)?;
    }
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
#[allow(clippy::too_many_arguments)]
fn send_files(
    notifier: &mut Notifier,
    dir: &std::path::Path,
    interrupts: &Interrupts,
    pending: &mut Pending,
    out: &mut impl Write,
    pacer: &mut Pacer,
    mut parse: impl FnMut(&str, &str) -> Result<Outgoing>,
) -> Result<Flow> {
    for path in saved_files(dir) {
        let path =
            path.with_context(|| format!("reading the --replay directory {}", dir.display()))?;
        interrupts.check()?;
        let what = path.display().to_string();
        let bytes = std::fs::read(&path).with_context(|| format!("reading {what}"))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| InputError(format!("{what} is not UTF-8 text: {e}")))?;
        let outgoing = parse(text.trim(), &what)?;
        if paced_send(notifier, interrupts, pending, out, pacer, outgoing)? == Flow::Stop {
            return Ok(Flow::Stop);
        }
    }
    Ok(Flow::Go)
}

/// Waits until `outgoing` is due, sends it (its timestamp the time it is sent, when paced),
/// and writes the ids confirmed so far; [`Flow::Stop`] when the replay is to end instead.
fn paced_send(
    notifier: &mut Notifier,
    interrupts: &Interrupts,
    pending: &mut Pending,
    out: &mut impl Write,
    pacer: &mut Pacer,
    mut outgoing: Outgoing,
) -> Result<Flow> {
    let flow = pacer.wait(outgoing.recorded, interrupts, || {
        pending.write_confirmed(notifier.confirmed_through(), out)
    })?;
    if flow == Flow::Stop {
        return Ok(Flow::Stop);
    }
    if pacer.paced() {
        outgoing.notification.timestamp = python_timestamp(chrono::Utc::now());
    }
    pending.send(notifier, outgoing, pacer.due())?;
    pending.write_confirmed(notifier.confirmed_through(), out)?;
    pacer.sent(pending.confirmed, pending.lag);
    Ok(Flow::Go)
}

/// What a replay reads.
enum Input<'a> {
    /// The files of an `oslo-listen --save` directory, read again for every pass.
    Dir(&'a std::path::Path),
    /// Lines streamed from stdin or a file, once; how many, when known.
    Stream(Chunks, Option<u64>),
    /// Lines read whole (and numbered) for several passes.
    Kept(Vec<(u64, String)>),
}

/// Replays `input` as `options` say: pass after pass (`--loop`), each notification when
/// `pacer` says, its ids rewritten in each pass (`--rewrite-ids`), until the passes, the
/// limit or the duration end.
#[allow(clippy::too_many_arguments)]
fn replay(
    notifier: &mut Notifier,
    mut input: Input,
    options: &ReplayOptions,
    interrupts: &Interrupts,
    pending: &mut Pending,
    out: &mut impl Write,
    pacer: &mut Pacer,
    talk: &Talk,
) -> Result<()> {
    let mut masked = MaskedOnce::new(talk);
    let mut rewriter = options.rewrite_ids.then(Rewriter::new);
    let mut passes = 0;
    loop {
        passes += 1;
        if let Some(rewriter) = rewriter.as_mut() {
            rewriter.new_pass();
        }
        let mut parse = |text: &str, what: &str| {
            let outgoing = replayed(text, what, options.keep_routing, rewriter.as_mut())?;
            masked.check(outgoing, what)
        };
        let flow = match &mut input {
            Input::Dir(dir) => {
                pacer.new_pass(Some(saved_files(dir).count() as u64));
                send_files(notifier, dir, interrupts, pending, out, pacer, parse)?
            }
            Input::Stream(lines, size) => {
                pacer.new_pass(*size);
                send_lines(
                    notifier,
                    lines,
                    interrupts,
                    pending,
                    out,
                    pacer,
                    |text, n| parse(text, &format!("line {n}")),
                )?
            }
            Input::Kept(lines) => {
                pacer.new_pass(Some(lines.len() as u64));
                let mut flow = Flow::Go;
                for (number, text) in lines.iter() {
                    interrupts.check()?;
                    let outgoing = parse(text, &format!("line {number}"))?;
                    flow = paced_send(notifier, interrupts, pending, out, pacer, outgoing)?;
                    if flow == Flow::Stop {
                        break;
                    }
                }
                flow
            }
        };
        let last = matches!(input, Input::Stream(..))
            || (options.loops != 0 && passes >= options.loops)
            || pending.sent == 0;
        if flow == Flow::Stop || last {
            return Ok(());
        }
    }
}

/// Calls `each` with every line of `stdin` (its number, and its text without the line end),
/// giving both it and `idle` (called while stdin is quiet) `state`; stops early when `each`
/// says [`Flow::Stop`]. A line that is not UTF-8 is an error naming it.
fn split_lines<S>(
    stdin: &Chunks,
    interrupts: &Interrupts,
    state: &mut S,
    mut idle: impl FnMut(&mut S) -> Result<()>,
    mut each: impl FnMut(&mut S, u64, &str) -> Result<Flow>,
) -> Result<Flow> {
    // The start of a line whose end has not been read yet.
    let mut partial: Vec<u8> = Vec::new();
    let mut number = 0;
    let mut line = |state: &mut S, bytes: &[u8]| {
        number += 1;
        let text = std::str::from_utf8(bytes).map_err(|e| {
            InputError(format!(
                "line {number} is not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ))
        })?;
        each(state, number, text)
    };
    while let Some(chunk) = stdin.next(interrupts, || idle(state))? {
        let mut rest = &chunk[..];
        while let Some(end) = memchr::memchr(b'\n', rest) {
            let flow = if partial.is_empty() {
                line(state, &rest[..=end])?
            } else {
                partial.extend_from_slice(&rest[..=end]);
                let flow = line(state, &partial)?;
                partial.clear();
                flow
            };
            if flow == Flow::Stop {
                return Ok(Flow::Stop);
            }
            rest = &rest[end + 1..];
        }
        partial.extend_from_slice(rest);
    }
    match partial.is_empty() {
        true => Ok(Flow::Go),
        false => line(state, &partial),
    }
}

/// Sends one notification per non-blank line of `stdin`, as `parse` makes it from the text,
/// when `pacer` says.
fn send_lines(
    notifier: &mut Notifier,
    stdin: &Chunks,
    interrupts: &Interrupts,
    pending: &mut Pending,
    out: &mut impl Write,
    pacer: &mut Pacer,
    mut parse: impl FnMut(&str, u64) -> Result<Outgoing>,
) -> Result<Flow> {
    each_line(
        notifier,
        stdin,
        interrupts,
        pending,
        out,
        |notifier, pending, out, number, text| {
            let outgoing = parse(text, number)?;
            paced_send(notifier, interrupts, pending, out, pacer, outgoing)
        },
    )
}

/// Sends one notification of `series` per non-blank line of `stdin`, the line its payload.
fn send_payloads(
    notifier: &mut Notifier,
    stdin: &Chunks,
    interrupts: &Interrupts,
    pending: &mut Pending,
    out: &mut impl Write,
    series: &mut Series,
) -> Result<()> {
    each_line(
        notifier,
        stdin,
        interrupts,
        pending,
        out,
        |notifier, pending, out, number, text| {
            next_payload(series, text, format_args!("payload on line {number}"))?;
            pending.send_next(notifier, series)?;
            pending.write_confirmed(notifier.confirmed_through(), out)?;
            Ok(Flow::Go)
        },
    )
    .map(drop)
}

/// Calls `send` with every non-blank line of `stdin` (its number and text), unless
/// interrupted; while stdin is quiet, the ids confirmed meanwhile are written.
fn each_line<W: Write>(
    notifier: &mut Notifier,
    stdin: &Chunks,
    interrupts: &Interrupts,
    pending: &mut Pending,
    out: &mut W,
    mut send: impl FnMut(&mut Notifier, &mut Pending, &mut W, u64, &str) -> Result<Flow>,
) -> Result<Flow> {
    let mut state = (notifier, pending, out);
    split_lines(
        stdin,
        interrupts,
        &mut state,
        |(notifier, pending, out)| pending.write_confirmed(notifier.confirmed_through(), *out),
        |(notifier, pending, out), number, text| {
            if text.trim().is_empty() {
                return Ok(Flow::Go);
            }
            interrupts.check()?;
            send(notifier, pending, out, number, text)
        },
    )
}

/// How many non-blank lines the file at `path` holds.
fn count_lines(path: &std::path::Path) -> io::Result<u64> {
    let bytes = std::fs::read(path)?;
    let blank = |line: &[u8]| line.iter().all(u8::is_ascii_whitespace);
    Ok(bytes.split(|b| *b == b'\n').filter(|l| !blank(l)).count() as u64)
}

/// Every non-blank line of `stdin`, numbered, for a replay of several passes.
fn read_all(stdin: Chunks, interrupts: &Interrupts) -> Result<Vec<(u64, String)>> {
    let mut lines = Vec::new();
    split_lines(
        &stdin,
        interrupts,
        &mut lines,
        |_| Ok(()),
        |lines, number, text| {
            if !text.trim().is_empty() {
                lines.push((number, text.to_owned()));
            }
            Ok(Flow::Go)
        },
    )?;
    Ok(lines)
}
