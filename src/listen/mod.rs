//! The `oslo-listen` command: its configuration ([`ListenConfig`]) and the ways its runs
//! end, shared by its two faces: [`print`] writes each notification as it arrives, [`top`]
//! keeps running figures of the traffic. Both run the receiving engine with one handler
//! pipeline ([`pipeline`]): `--fail-on`, the filters, `--where`, the count.
//!
//! Around them: how notifications are written ([`output`], [`template`]) and saved
//! ([`save`]), which ones count ([`filter`], [`predicate`]), and the command run once
//! listening ([`trigger`]).

pub mod document;
pub mod filter;
pub mod lookup;
pub mod metrics;
pub mod output;
pub mod pipeline;
pub mod predicate;
pub mod print;
pub mod queues;
pub mod save;
pub mod shortcut;
pub mod table;
pub mod template;
pub mod timeline;
pub mod top;
pub mod trigger;

use crate::broker::{ConnectOptions, Durability};
use crate::engine::receive::stored::{self, Stored};
use crate::engine::receive::{
    self, Ended, Exchanges, Handler, HandlerError, Received, Settings, Source, Verdict,
};
use crate::events::{Observer, Weight};
use crate::oslo::topology::{Mode, Target};
use crate::tool::talk::{Talk, Verbosity};
use crate::wire::envelope::Priority;
use filter::Filter;
use output::Printer;
use predicate::Predicate;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use top::tally::GroupBy;

/// Everything `oslo-listen` needs, with no command-line types in it.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    /// The brokers to read: one, unnamed, unless `--source` names several.
    pub sources: Vec<Source>,
    /// `--partial`: a source that cannot be reached at the start is tried again while the
    /// others are read.
    pub partial: bool,
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
    /// Show running figures instead of each notification ([`top`]).
    pub top: Option<TopOptions>,
    /// Read saved notifications instead of a broker.
    pub from: Option<FromOptions>,
    /// Show only the notifications that belong to one of these ids, as a timeline
    /// ([`timeline`]); empty for none.
    pub timeline: Vec<String>,
    /// Serve running figures as Prometheus metrics ([`metrics`]).
    pub metrics: Option<metrics::MetricsOptions>,
}

/// What `--from` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromOptions {
    /// Where the saved notifications are.
    pub input: Stored,
    /// Only those read from these exchanges; empty for all.
    pub exchanges: Vec<String>,
    /// Only those whose routing key is one of these topics and a priority; empty for all.
    pub topics: Vec<String>,
}

impl FromOptions {
    /// Whether `received` is one that listening for `priorities` (and these exchanges and
    /// topics) would have received.
    fn routes(&self, priorities: &[Priority], received: &Received) -> bool {
        let exchange = received.exchange;
        let key = received.routing_key;
        priorities.contains(&received.message.priority)
            && (self.exchanges.is_empty() || self.exchanges.iter().any(|e| e == exchange))
            && (self.topics.is_empty()
                || self.topics.iter().any(|topic| {
                    key.strip_prefix(topic.as_str())
                        .and_then(|rest| rest.strip_prefix('.'))
                        .is_some_and(|rest| !rest.contains('.'))
                }))
    }
}

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

/// `--count` was not reached before `--timeout`, or before the end of `--from`'s input.
/// Exit code 4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountNotReached {
    /// How many matching notifications arrived.
    pub seen: u64,
    /// How many were wanted.
    pub wanted: u64,
    /// The timeout; `None` when the input ended first.
    pub timeout: Option<Duration>,
}

impl fmt::Display for CountNotReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.timeout {
            Some(timeout) => write!(f, "timed out after {timeout:?}: "),
            None => write!(f, "the input ended: "),
        }?;
        write!(f, "{} of {} notifications arrived", self.seen, self.wanted)
    }
}

impl std::error::Error for CountNotReached {}

impl CountNotReached {
    /// `seen` of `config`'s `--count` arrived before its `--timeout` (or the end of its
    /// input, reading saved notifications).
    pub(crate) fn of(config: &ListenConfig, seen: u64, ended: Ended) -> Self {
        CountNotReached {
            seen,
            wanted: config.count.unwrap_or_default(),
            timeout: match ended {
                Ended::EndOfInput => None,
                _ => Some(config.timeout.unwrap_or_default()),
            },
        }
    }
}

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

/// Says where the run connects to (at `-v`), and warns of TLS without verification; nothing
/// when it reads saved notifications.
pub(crate) fn say_connecting(talk: &Talk, config: &ListenConfig) -> std::io::Result<()> {
    if config.from.is_some() {
        return Ok(());
    }
    if let Some(warning) = config.connect.tls.insecure_warning() {
        talk.warn(warning)?;
    }
    for source in &config.sources {
        let label = match source.name.as_str() {
            "" => String::new(),
            name => format!("{name}: "),
        };
        talk.say(
            Weight::Detail,
            format_args!("{label}connecting to {}", source.url),
        )?;
    }
    Ok(())
}

/// Why a run was halted from outside the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Halt {
    /// A signal, by its number.
    Signal(i32),
    /// The command after `--` failed, or could not be started.
    CommandFailed,
    /// stdout's reader went away while nothing was being written (`| head -1`, idle).
    OutputClosed,
}

/// How often [`watched`] looks.
const WATCH: Duration = Duration::from_millis(20);

/// Runs `work` with a flag it should stop at, set on a thread of its own when a signal
/// arrives (its number is stored in `signal`) or when `check` names a reason; returns what
/// `work` returned, and why it was halted, if it was.
pub(crate) fn watched<T>(
    signal: &AtomicUsize,
    check: impl Fn() -> Option<Halt> + Sync,
    work: impl FnOnce(&AtomicBool) -> T,
) -> (T, Option<Halt>) {
    let halt = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let halted = Mutex::new(None);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let why = match signal.load(Ordering::Relaxed) {
                    0 => check(),
                    number => Some(Halt::Signal(i32::try_from(number).unwrap_or(libc::SIGTERM))),
                };
                if let Some(why) = why {
                    *halted.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
                    halt.store(true, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(WATCH);
            }
        });
        let result = work(&halt);
        done.store(true, Ordering::Relaxed);
        result
    });
    let halted = halted.into_inner().unwrap_or_else(PoisonError::into_inner);
    (result, halted)
}

/// Runs the receiving engine as `config` says, until `deadline`: on a broker, or on saved
/// notifications (`--from`), those not routed as the broker would have routed them skipped.
pub(crate) fn receive(
    config: &ListenConfig,
    deadline: Option<Instant>,
    handler: &mut (dyn Handler + Send),
    observer: &mut dyn Observer,
    halt: &AtomicBool,
) -> Result<Ended, crate::engine::Error> {
    let Some(from) = &config.from else {
        return receive::run(&settings(config, deadline), handler, observer, halt);
    };
    let mut routed = Routed {
        from,
        priorities: &config.priorities,
        inner: handler,
    };
    stored::run(
        &from.input,
        config.unwrap,
        deadline,
        &mut routed,
        observer,
        halt,
    )
}

/// A handler that hands on only the notifications a broker would have routed to us.
struct Routed<'a> {
    from: &'a FromOptions,
    priorities: &'a [Priority],
    inner: &'a mut dyn Handler,
}

impl Handler for Routed<'_> {
    fn handle(&mut self, received: &Received) -> Result<Verdict, HandlerError> {
        match self.from.routes(self.priorities, received) {
            true => self.inner.handle(received),
            false => Ok(Verdict::Skip),
        }
    }

    fn before_acknowledging(&mut self) -> Result<(), HandlerError> {
        self.inner.before_acknowledging()
    }

    fn caught_up(&mut self) -> Result<(), HandlerError> {
        self.inner.caught_up()
    }
}

/// The engine's settings for `config`, to stop at `deadline`.
pub(crate) fn settings(config: &ListenConfig, deadline: Option<Instant>) -> Settings {
    Settings {
        sources: config.sources.clone(),
        partial: config.partial,
        connect: config.connect.clone(),
        durability: config.durability,
        mode: config.mode.clone(),
        exchanges: if config.exchanges.is_empty() {
            Exchanges::WellKnown(config.topics.clone())
        } else {
            Exchanges::Targets(Target::every(&config.exchanges, &config.topics))
        },
        priorities: config.priorities.clone(),
        prefetch: config.prefetch,
        unwrap: config.unwrap,
        deadline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_timeout_message_says_how_far_it_got() {
        let mut e = CountNotReached {
            seen: 2,
            wanted: 5,
            timeout: Some(Duration::from_secs(3)),
        };
        assert_eq!(
            e.to_string(),
            "timed out after 3s: 2 of 5 notifications arrived"
        );
        e.timeout = None;
        assert_eq!(
            e.to_string(),
            "the input ended: 2 of 5 notifications arrived"
        );
    }
}
