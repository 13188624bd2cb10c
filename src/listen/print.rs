//! `oslo-listen`'s printing face: the receiving engine run with a handler that takes what
//! the [`Pipeline`] lets through, prints it and saves it; the command after `--` started
//! once listening; the engine's events said on stderr; and the run's outcome, which the
//! command's decides too.

use super::metrics::Served;
use super::pipeline::{Pipeline, Step};
use super::save::SaveDir;
use super::trigger::{CommandFailed, Trigger, GRACE};
use super::{watched, CommandTimedOut, FailureNotification, Halt, ListenConfig};
use crate::engine::receive::{Ended, Ready, Received, Verdict};
use crate::events::{Event, Observer};
use crate::tool::talk::Talk;
use crate::tool::{from_engine, Signalled, ToolHandler};
use anyhow::{Context, Result};
use std::io::{self, Write};
use std::sync::atomic::AtomicUsize;
use std::sync::PoisonError;
use std::time::Instant;

/// What a write into a stdout whose reader went away gives: it ends the run quietly, exit 0.
fn stdout_closed() -> anyhow::Error {
    anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing to stdout")
}

/// Whether stdout's reader went away (a pipe whose reader closed, a terminal that hung up),
/// seen without writing to it: poll(2) reports an error or a hang-up on it.
fn stdout_gone() -> bool {
    let mut watched = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: poll(2) is given one pollfd that lives across the call, and a count of 1; a
    // zero timeout makes it only look.
    let ready = unsafe { libc::poll(&mut watched, 1, 0) };
    ready > 0 && watched.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// Connects, binds, and prints notifications to `out` until `count` is reached, `timeout`
/// passes, a signal arrives (its number is stored in `signal`), a `--fail-on` program holds,
/// the command fails, or an error. Notices and diagnostics go to `err`.
pub fn run(
    config: &ListenConfig,
    out: &mut (impl Write + Send),
    err: impl Write + Send + 'static,
    signal: &AtomicUsize,
) -> Result<()> {
    let mut talk = Talk::new("oslo-listen", config.verbosity, err);
    let served = Served::start(config, None)?;
    if let Some(served) = &served {
        served.say(&talk)?;
    }
    let metrics = served.as_ref().map(|s| &*s.metrics);
    super::say_connecting(&talk, config)?;
    let save = match &config.save {
        Some(dir) => Some(SaveDir::create(dir, config.printer.show_secrets)?),
        None => None,
    };
    let started = Instant::now();
    let deadline = config.timeout.map(|t| started + t);
    let mut failure: Option<FailureNotification> = None;
    let mut pipeline = Pipeline::new(config, talk.clone()).counting(metrics);
    // Written as they come, flushed when nothing more waits and before acknowledging.
    // (Several sources are read on threads of their own: one writes at a time.)
    let out = std::sync::Mutex::new(out);
    let out = || out.lock().unwrap_or_else(PoisonError::into_inner);
    let mut print = |received: &Received| -> Result<Verdict> {
        match pipeline.judge(received)? {
            Step::Fail(failed) => {
                write(config, &save, &mut *out(), received)?;
                failure = Some(failed);
                Ok(Verdict::DoneAndStop)
            }
            Step::Skip => Ok(Verdict::Skip),
            Step::Take => {
                write(config, &save, &mut *out(), received)?;
                Ok(pipeline.taken())
            }
        }
    };
    let show = || out().flush().context("writing to stdout");
    let trigger = std::sync::Mutex::new(None::<Trigger>);
    let start_failure = std::sync::Mutex::new(None::<CommandFailed>);
    // Halts the engine for a signal, for the command failing, or for stdout going away.
    let check = || {
        let failed_start = start_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        let command_failed = trigger
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            .and_then(Trigger::status)
            .is_some_and(|status| !status.success());
        if failed_start || command_failed {
            Some(Halt::CommandFailed)
        } else if stdout_gone() {
            Some(Halt::OutputClosed)
        } else {
            None
        }
    };
    let (ended, halted) = watched(signal, check, |halt| {
        // Starts the command once the engine consumes: on every source (with --partial, on
        // every source but those being tried again).
        let mut ready = Ready::new(&config.sources, config.partial);
        let mut observer = |event: Event| {
            let listening = ready.hear(&event);
            if let Some(served) = &served {
                let (source, happened) = event.at_source();
                served.observe(source, happened);
            }
            talk.event(event);
            if listening && !config.command.is_empty() {
                let mut trigger = trigger.lock().unwrap_or_else(PoisonError::into_inner);
                if trigger.is_none() {
                    match Trigger::start(&config.command) {
                        Ok(started) => *trigger = Some(started),
                        Err(e) => {
                            *start_failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(e)
                        }
                    }
                }
            }
        };
        // What was printed is out, and --save's files synced, before it is acknowledged.
        let mut handler = ToolHandler {
            handle: &mut print,
            before_acknowledging: Some(|| {
                show()?;
                match &save {
                    Some(save) => save.sync(),
                    None => Ok(()),
                }
            }),
            caught_up: Some(show),
        };
        super::receive(config, deadline, &mut handler, &mut observer, halt).map_err(from_engine)
    });
    let trigger = trigger.into_inner().unwrap_or_else(PoisonError::into_inner);
    if let Some(failed) = start_failure
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        return Err(failed.into());
    }
    let ended = ended?;
    outcome(config, ended, halted, failure, trigger, &pipeline, deadline)
}

/// Prints (and saves) one notification.
fn write(
    config: &ListenConfig,
    save: &Option<SaveDir>,
    out: &mut impl Write,
    received: &Received,
) -> Result<()> {
    config
        .printer
        .write(out, received)
        .context("writing to stdout")?;
    if let Some(save) = save {
        save.save(received)?;
    }
    Ok(())
}

/// The run's outcome, once the engine has stopped: what the command did decides it too.
fn outcome(
    config: &ListenConfig,
    ended: Ended,
    halted: Option<Halt>,
    failure: Option<FailureNotification>,
    trigger: Option<Trigger>,
    pipeline: &Pipeline,
    deadline: Option<Instant>,
) -> Result<()> {
    if let Some(failure) = failure {
        drop(trigger);
        return Err(failure.into());
    }
    let timed_out = |trigger: Option<Trigger>| -> Result<()> {
        let timeout = config.timeout.unwrap_or_default();
        drop(trigger);
        match config.count {
            Some(_) => Err(pipeline.not_reached(Ended::TimedOut).into()),
            None => Err(CommandTimedOut(timeout).into()),
        }
    };
    let Some(mut trigger) = trigger else {
        // No command, or none started yet.
        return match (ended, config.count, config.timeout, halted) {
            (Ended::TimedOut, Some(_), Some(_), _) | (Ended::EndOfInput, Some(_), _, _) => {
                Err(pipeline.not_reached(ended).into())
            }
            (_, _, _, Some(Halt::Signal(number))) if !config.command.is_empty() => {
                Err(Signalled(number).into())
            }
            (_, _, _, Some(Halt::OutputClosed)) => Err(stdout_closed()),
            _ => Ok(()),
        };
    };
    match (halted, ended) {
        // The command still running is stopped as the trigger is dropped.
        (Some(Halt::OutputClosed), _) => Err(stdout_closed()),
        (Some(Halt::Signal(number)), _) => {
            trigger.signal(number);
            trigger.settle(GRACE);
            Err(Signalled(number).into())
        }
        (Some(Halt::CommandFailed), _) => {
            let status = trigger.wait_until(None);
            match status {
                Some(status) => Ok(trigger.outcome(status)?),
                None => Ok(()),
            }
        }
        (None, Ended::TimedOut) => match trigger.status() {
            Some(status) if config.count.is_none() => Ok(trigger.outcome(status)?),
            _ => timed_out(Some(trigger)),
        },
        (None, _) => match trigger.wait_until(deadline) {
            Some(status) => Ok(trigger.outcome(status)?),
            None => timed_out(Some(trigger)),
        },
    }
}
