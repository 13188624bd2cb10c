//! The `oslo-listen` command: its configuration in, the listening engine ([`crate::receive`])
//! run with a handler that filters, prints and saves, and the engine's events said on stderr.

use crate::broker::{ConnectOptions, Durability};
use crate::envelope::{Notification, Priority};
use crate::events::{Event, Observer, Weight};
use crate::filter::Filter;
use crate::output::{Printer, Received};
use crate::predicate::{Input, Predicate};
use crate::receive::{self, Ended, Settings, Sources, Verdict};
use crate::save::SaveDir;
use crate::talk::Talk;
pub use crate::topology::Mode;
use crate::topology::Target;
use crate::transport_url::TransportUrl;
use crate::trigger::{CommandFailed, Trigger, GRACE};
use crate::verbosity::Verbosity;
use anyhow::{Context, Result};
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// Everything `oslo-listen` needs, with no command-line types in it.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    /// Where to connect.
    pub url: TransportUrl,
    /// Heartbeat; the connect timeout is bounded by [`ListenConfig::timeout`] too.
    pub connect: ConnectOptions,
    /// How to create shared queues that do not exist.
    pub durability: Durability,
    /// Where to read from.
    pub mode: Mode,
    /// The exchanges; empty means `openstack` and the well-known ones that exist.
    pub exchanges: Vec<String>,
    /// The topics.
    pub topics: Vec<String>,
    /// The priorities.
    pub priorities: Vec<Priority>,
    /// How to write what arrives.
    pub printer: Printer,
    /// Which notifications count.
    pub filter: Filter,
    /// Stop after this many matching notifications.
    pub count: Option<u64>,
    /// Stop after this long; a failure when `count` was not reached.
    pub timeout: Option<Duration>,
    /// Unacknowledged deliveries allowed per queue.
    pub prefetch: u16,
    /// Also write each notification as a file in this directory.
    pub save: Option<std::path::PathBuf>,
    /// How much to say on stderr.
    pub verbosity: Verbosity,
    /// jq programs that must all hold for a notification to count.
    pub wheres: Vec<Predicate>,
    /// jq programs that end the run (exit 5) on the first notification one holds for.
    pub fail_on: Vec<Predicate>,
    /// Show versioned objects in payloads as their data.
    pub unwrap: bool,
    /// A command to start once listening; empty for none.
    pub command: Vec<String>,
    /// Show running figures instead of each notification ([`crate::top`]).
    pub top: Option<crate::top::TopOptions>,
}

/// `--count` was not reached before `--timeout`. Exit code 4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountNotReached {
    /// How many matching notifications arrived.
    pub seen: u64,
    /// How many were wanted.
    pub wanted: u64,
    /// The timeout.
    pub timeout: Duration,
}

impl fmt::Display for CountNotReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:?}: {} of {} notifications arrived",
            self.timeout, self.seen, self.wanted
        )
    }
}

impl std::error::Error for CountNotReached {}

/// A `--fail-on` program held for a notification. Exit code 5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureNotification {
    /// Its event_type.
    pub event_type: String,
    /// Its publisher_id.
    pub publisher_id: Option<String>,
    /// Its message_id.
    pub message_id: String,
}

impl fmt::Display for FailureNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "failure notification {} from {} ({})",
            self.event_type,
            self.publisher_id.as_deref().unwrap_or("-"),
            self.message_id
        )
    }
}

impl std::error::Error for FailureNotification {}

/// A signal (SIGINT, SIGTERM) ended the run: exit code 128 + the signal's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signalled(pub i32);

impl fmt::Display for Signalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stopped by signal {}", self.0)
    }
}

impl std::error::Error for Signalled {}

/// The command after `--` was still running at `--timeout`. Exit code 4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTimedOut(pub Duration);

impl fmt::Display for CommandTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:?} with the command still running",
            self.0
        )
    }
}

impl std::error::Error for CommandTimedOut {}

/// Why the run was halted from outside the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Halt {
    Signal(i32),
    CommandFailed,
    /// stdout's reader went away while nothing was being written (`| head -1`, idle).
    OutputClosed,
}

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
    out: &mut impl Write,
    err: impl Write + Send + 'static,
    signal: &AtomicUsize,
) -> Result<()> {
    let mut talk = Talk::new("oslo-listen", config.verbosity, err);
    if let Some(warning) = config.connect.tls.insecure_warning() {
        talk.warn(warning)?;
    }
    talk.say(Weight::Detail, format_args!("connecting to {}", config.url))?;
    let save = match &config.save {
        Some(dir) => Some(SaveDir::create(dir, config.printer.show_secrets)?),
        None => None,
    };
    let started = Instant::now();
    let deadline = config.timeout.map(|t| started + t);
    let settings = settings(config, deadline);
    let mut printed = 0;
    let mut failure: Option<FailureNotification> = None;
    let predicates = !config.wheres.is_empty() || !config.fail_on.is_empty();
    let verdicts = talk.clone();
    let mut json = Vec::new();
    let mut print = |received: &Received| -> Result<Verdict> {
        let n = received.notification;
        let input = if predicates {
            Some(predicate_input(config, received, &mut json)?)
        } else {
            None
        };
        let holds = |predicate: &Predicate, input: &Input| holds(predicate, input, n, &verdicts);
        if let Some(input) = &input {
            if config.fail_on.iter().any(|p| holds(p, input)) {
                write(config, &save, out, received)?;
                failure = Some(FailureNotification {
                    event_type: n.event_type.clone(),
                    publisher_id: n.publisher_id.clone(),
                    message_id: n.message_id.clone(),
                });
                return Ok(Verdict::DoneAndStop);
            }
        }
        if !config.filter.matches(n) {
            return Ok(Verdict::Skip);
        }
        if let Some(input) = &input {
            if !config.wheres.iter().all(|p| holds(p, input)) {
                return Ok(Verdict::Skip);
            }
        }
        write(config, &save, out, received)?;
        printed += 1;
        Ok(match config.count {
            Some(count) if printed >= count => Verdict::DoneAndStop,
            _ => Verdict::Done,
        })
    };
    let halt = AtomicBool::new(false);
    let halted = std::sync::Mutex::new(None::<Halt>);
    let trigger = std::sync::Mutex::new(None::<Trigger>);
    let start_failure = std::sync::Mutex::new(None::<CommandFailed>);
    let engine_done = AtomicBool::new(false);
    let ended = std::thread::scope(|scope| {
        // Watches for a signal, and for the command to end, and halts the engine for either.
        scope.spawn(|| {
            let stop = |why: Halt| {
                *halted.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
                halt.store(true, Ordering::Relaxed);
            };
            while !engine_done.load(Ordering::Relaxed) {
                let number = signal.load(Ordering::Relaxed);
                if number != 0 {
                    stop(Halt::Signal(i32::try_from(number).unwrap_or(libc::SIGTERM)));
                    return;
                }
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
                    stop(Halt::CommandFailed);
                    return;
                }
                if stdout_gone() {
                    stop(Halt::OutputClosed);
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        // Starts the command once the engine consumes.
        let mut observer = |event: Event| {
            let listening = matches!(event, Event::Listening { .. });
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
        let mut handler = Syncing {
            handle: &mut print,
            save: save.as_ref(),
        };
        let ended = receive::run(&settings, &mut handler, &mut observer, &halt);
        engine_done.store(true, Ordering::Relaxed);
        ended
    });
    let trigger = trigger.into_inner().unwrap_or_else(PoisonError::into_inner);
    let halted = halted.into_inner().unwrap_or_else(PoisonError::into_inner);
    if let Some(failed) = start_failure
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        return Err(failed.into());
    }
    finish(config, ended?, halted, failure, trigger, printed, deadline)
}

/// The engine's settings for `config`, to stop at `deadline`.
pub(crate) fn settings(config: &ListenConfig, deadline: Option<Instant>) -> Settings {
    Settings {
        url: config.url.clone(),
        connect: config.connect.clone(),
        durability: config.durability,
        mode: config.mode.clone(),
        sources: if config.exchanges.is_empty() {
            Sources::WellKnown(config.topics.clone())
        } else {
            Sources::Targets(Target::every(&config.exchanges, &config.topics))
        },
        priorities: config.priorities.clone(),
        prefetch: config.prefetch,
        unwrap: config.unwrap,
        deadline,
    }
}

/// A notification as `--where` and `--fail-on` programs see it: the `--format json` object.
pub(crate) fn predicate_input(
    config: &ListenConfig,
    received: &Received,
    json: &mut Vec<u8>,
) -> Result<Input> {
    json.clear();
    config.printer.write_json_object(&mut *json, received)?;
    Ok(Input::from_json(json).map_err(std::io::Error::other)?)
}

/// Whether `predicate` holds for `input`; a program that fails on it does not hold, and
/// says so at `-v`.
pub(crate) fn holds(
    predicate: &Predicate,
    input: &Input,
    notification: &Notification,
    talk: &Talk,
) -> bool {
    match predicate.judge(input) {
        Ok(judged) => {
            if let Some(advice) = judged.advice {
                let _ = talk.warn(format_args!("{advice}"));
            }
            judged.holds
        }
        Err(why) => {
            let line = format_args!(
                "{:?} failed on notification {}: {why}",
                predicate.code(),
                notification.message_id
            );
            let _ = talk.say(Weight::Detail, line);
            false
        }
    }
}

/// The tool's handler, with `--save`'s files synced before acknowledgements.
struct Syncing<'a, F> {
    handle: F,
    save: Option<&'a SaveDir>,
}

impl<F: FnMut(&Received) -> Result<Verdict>> receive::Handler for Syncing<'_, F> {
    fn handle(&mut self, received: &Received) -> Result<Verdict> {
        (self.handle)(received)
    }

    fn before_acknowledging(&mut self) -> Result<()> {
        match self.save {
            Some(save) => save.sync(),
            None => Ok(()),
        }
    }
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
    out.flush().context("writing to stdout")?;
    if let Some(save) = save {
        save.save(received)?;
    }
    Ok(())
}

/// The run's outcome, once the engine has stopped: what the command did decides it too.
fn finish(
    config: &ListenConfig,
    ended: Ended,
    halted: Option<Halt>,
    failure: Option<FailureNotification>,
    trigger: Option<Trigger>,
    printed: u64,
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
            Some(wanted) => Err(CountNotReached {
                seen: printed,
                wanted,
                timeout,
            }
            .into()),
            None => Err(CommandTimedOut(timeout).into()),
        }
    };
    let Some(mut trigger) = trigger else {
        // No command, or none started yet.
        return match (ended, config.count, config.timeout, halted) {
            (Ended::TimedOut, Some(wanted), Some(timeout), _) => Err(CountNotReached {
                seen: printed,
                wanted,
                timeout,
            }
            .into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_timeout_message_says_how_far_it_got() {
        let e = CountNotReached {
            seen: 2,
            wanted: 5,
            timeout: Duration::from_secs(3),
        };
        assert_eq!(
            e.to_string(),
            "timed out after 3s: 2 of 5 notifications arrived"
        );
    }
}
