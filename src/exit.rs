//! Exit codes, and the one place where an error becomes a message and a code.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | any other runtime failure |
//! | 2 | usage or invalid input (bad arguments, JSON, priority, transport URL) |
//! | 3 | cannot connect or authenticate (refused, DNS, TLS, credentials, virtual host) |
//! | 4 | not confirmed in time, refused (nacked) by the broker, or `--count` not reached before `--timeout` |

use crate::broker::{BrokerError, BrokerErrorKind};
use crate::config::ConfigError;
use crate::envelope::UnknownPriority;
use crate::filter::BadPattern;
use crate::input::InputError;
use crate::listen::CountNotReached;
use crate::transport_url::UrlError;
use std::io::{self, Write};
use std::process::ExitCode;

/// The outcome classes a script can tell apart by exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Exit 1: any other runtime failure.
    Runtime,
    /// Exit 2: usage or invalid input.
    Usage,
    /// Exit 3: cannot connect or authenticate.
    Connect,
    /// Exit 4: not confirmed or not done in time, or refused by the broker.
    Timeout,
}

impl Failure {
    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            Failure::Runtime => 1,
            Failure::Usage => 2,
            Failure::Connect => 3,
            Failure::Timeout => 4,
        }
    }
}

/// The exit-code table, for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  other runtime failure
  2  usage or invalid input (arguments, JSON, priority, transport URL, config file)
  3  cannot connect or authenticate (refused, DNS, TLS, credentials, vhost)
  4  not confirmed in time, refused (nacked) by the broker, or --count not reached
     before --timeout";

/// Which failure `error` is: the first error in its chain that says.
pub fn failure_of(error: &anyhow::Error) -> Failure {
    for cause in error.chain() {
        if cause.is::<UrlError>()
            || cause.is::<InputError>()
            || cause.is::<UnknownPriority>()
            || cause.is::<BadPattern>()
            || cause.is::<ConfigError>()
        {
            return Failure::Usage;
        }
        if cause.is::<CountNotReached>() {
            return Failure::Timeout;
        }
        if let Some(broker) = cause.downcast_ref::<BrokerError>() {
            return match broker.kind() {
                BrokerErrorKind::Connect => Failure::Connect,
                BrokerErrorKind::Timeout | BrokerErrorKind::Refused => Failure::Timeout,
                BrokerErrorKind::Disconnected | BrokerErrorKind::Other => Failure::Runtime,
            };
        }
    }
    Failure::Runtime
}

/// Whether `error` comes from writing to a closed pipe (`oslo-listen | head -1`).
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Ends a program: prints `program: error: ...` on one line for a failure and returns its
/// exit code. A closed output pipe is success.
pub fn finish(program: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            let message = format!("{error:#}").replace('\n', " ");
            // Nothing more can be done if stderr is gone too.
            let _ = writeln!(io::stderr().lock(), "{program}: error: {message}");
            ExitCode::from(failure_of(&error).code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn codes_are_distinct_and_documented() {
        let all = [
            Failure::Runtime,
            Failure::Usage,
            Failure::Connect,
            Failure::Timeout,
        ];
        for failure in all {
            let line = format!("  {}  ", failure.code());
            assert!(EXIT_CODES_HELP.contains(&line), "{failure:?}");
        }
        let mut codes: Vec<u8> = all.iter().map(|f| f.code()).collect();
        codes.dedup();
        assert_eq!(codes, [1, 2, 3, 4]);
    }

    #[test]
    fn errors_are_classified_through_their_context() {
        let usage = anyhow::Error::new(InputError("bad".into())).context("reading the payload");
        assert_eq!(failure_of(&usage), Failure::Usage);
        let url = crate::transport_url::TransportUrl::parse("nope").unwrap_err();
        assert_eq!(failure_of(&anyhow::Error::new(url)), Failure::Usage);
        let plain: anyhow::Result<()> = Err(anyhow::anyhow!("disk full")).context("writing");
        assert_eq!(failure_of(&plain.unwrap_err()), Failure::Runtime);
    }

    #[test]
    fn broken_pipes_are_recognised_under_context() {
        let err = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
