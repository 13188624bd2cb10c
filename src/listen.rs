//! The `oslo-listen` command: its configuration in, the listening engine ([`crate::receive`])
//! run with a handler that filters, prints and saves, and the engine's events said on stderr.

use crate::broker::{ConnectOptions, Durability};
use crate::envelope::Priority;
use crate::filter::Filter;
use crate::output::{Printer, Received};
use crate::receive::{self, Ended, Settings, Sources, Verdict};
use crate::save::SaveDir;
use crate::talk::Talk;
pub use crate::topology::Mode;
use crate::topology::Target;
use crate::transport_url::TransportUrl;
use crate::verbosity::Verbosity;
use anyhow::{Context, Result};
use std::fmt;
use std::io::Write;
use std::sync::atomic::AtomicBool;
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

/// Connects, binds, and prints notifications to `out` until `count` is reached, `timeout`
/// passes, `stop` is set (by a signal), or an error. Notices and diagnostics go to `err`.
pub fn run(
    config: &ListenConfig,
    out: &mut impl Write,
    err: impl Write + Send + 'static,
    stop: &AtomicBool,
) -> Result<()> {
    let mut talk = Talk::new("oslo-listen", config.verbosity, err);
    if let Some(warning) = config.connect.tls.insecure_warning() {
        talk.warn(warning)?;
    }
    let save = match &config.save {
        Some(dir) => Some(SaveDir::create(dir, config.printer.show_secrets)?),
        None => None,
    };
    let settings = Settings {
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
        deadline: config.timeout.map(|t| Instant::now() + t),
    };
    let mut printed = 0;
    let mut print = |received: &Received| -> Result<Verdict> {
        if !config.filter.matches(received.notification) {
            return Ok(Verdict::Skip);
        }
        config
            .printer
            .write(out, received)
            .context("writing to stdout")?;
        out.flush().context("writing to stdout")?;
        if let Some(save) = &save {
            save.save(received)?;
        }
        printed += 1;
        Ok(match config.count {
            Some(count) if printed >= count => Verdict::DoneAndStop,
            _ => Verdict::Done,
        })
    };
    let ended = receive::run(&settings, &mut print, &mut talk, stop)?;
    match (ended, config.count, config.timeout) {
        (Ended::TimedOut, Some(wanted), Some(timeout)) => Err(CountNotReached {
            seen: printed,
            wanted,
            timeout,
        }
        .into()),
        _ => Ok(()),
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
