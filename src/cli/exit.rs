//! Exit codes, and the one place where an error becomes a message and a code.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | any other runtime failure |
//! | 2 | usage or invalid input (bad arguments, JSON, priority, transport URL, a `--metrics` address that cannot be served) |
//! | 3 | cannot connect or authenticate (refused, DNS, TLS, credentials, virtual host) |
//! | 4 | not confirmed in time, refused (nacked) by the broker, or `--count` not reached before `--timeout` (or the end of `--from`'s input) |
//! | 5 | `oslo-listen --fail-on`: a failure notification arrived |
//! | 6 | `oslo-listen -- COMMAND`: the command could not start or failed |
//! | 130, 143 | `oslo-listen -- COMMAND`: stopped by SIGINT or SIGTERM (passed on to the command) |

use super::args::ArgumentError;
use crate::broker::{BrokerError, BrokerErrorKind};
use crate::engine::Error;
use crate::listen::filter::BadPattern;
use crate::listen::metrics::serve::CannotServe;
use crate::listen::predicate::BadPredicate;
use crate::listen::template::TemplateError;
use crate::listen::trigger::CommandFailed;
use crate::listen::{CommandTimedOut, CountNotReached, FailureNotification};
use crate::notify::input::InputError;
use crate::oslo::config::ConfigError;
use crate::oslo::transport_url::UrlError;
use crate::tool::Signalled;
use crate::wire::envelope::{EnvelopeError, UnknownPriority};
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
    /// Exit 5: a `--fail-on` notification arrived.
    FailureNotification,
    /// Exit 6: the command run once listening could not start or failed.
    Command,
    /// Exit 128 + N: stopped by signal N while a command ran.
    Signal(u8),
}

impl Failure {
    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            Failure::Runtime => 1,
            Failure::Usage => 2,
            Failure::Connect => 3,
            Failure::Timeout => 4,
            Failure::FailureNotification => 5,
            Failure::Command => 6,
            Failure::Signal(number) => 128u8.saturating_add(number),
        }
    }
}

/// oslo-notify's exit codes, for its `--help`.
pub const NOTIFY_EXIT_CODES: &str = "\
Exit codes:
  0  every notification confirmed by the broker
  1  other runtime failure
  2  usage or invalid input (arguments, JSON, priority, transport URL, config file)
  3  cannot connect or authenticate (refused, DNS, TLS, credentials, vhost, not a broker)
  4  not confirmed in time, or refused (nacked) by the broker
  130/143  stopped by SIGINT/SIGTERM during --lines or --replay (what was confirmed is
           printed and said)";

/// oslo-listen's exit codes, for its `--help`.
pub const LISTEN_EXIT_CODES: &str = "\
Exit codes:
  0  success (--count reached, --timeout without --count, a signal without a command)
  1  other runtime failure
  2  usage or invalid input (arguments, --where program, template, transport URL, config,
     a --metrics address that cannot be served)
  3  cannot connect or authenticate (refused, DNS, TLS, credentials, vhost, not a broker)
  4  --count not reached before --timeout (also with a command still running), or
     before the end of --from's input
  5  --fail-on: a failure notification arrived
  6  -- COMMAND: the command could not start or failed
  130/143  -- COMMAND: stopped by SIGINT/SIGTERM (passed on to it)";

/// Parses the command line of `program` into `C`. Help and version are printed as clap
/// prints them (exit 0, quietly into a closed pipe); any other argument error becomes one
/// line, `PROGRAM: error: ...`, and exit 2, like every other error.
pub fn parse_args<C: clap::Parser>(program: &str) -> Result<C, ExitCode> {
    C::try_parse().map_err(|error| {
        use clap::error::ErrorKind;
        match error.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                // A closed stdout is no failure here either.
                let _ = error.print();
                ExitCode::SUCCESS
            }
            _ => {
                let line = one_line(&error.render().to_string());
                let _ = writeln!(io::stderr().lock(), "{program}: error: {line}");
                ExitCode::from(Failure::Usage.code())
            }
        }
    })
}

/// clap's rendering of an argument error, in one line: its first line (without `error: `),
/// and the usage pointer.
fn one_line(rendered: &str) -> String {
    let mut lines = rendered.lines();
    let first = lines.next().unwrap_or_default();
    let mut line = first
        .strip_prefix("error: ")
        .unwrap_or(first)
        .trim_end()
        .to_owned();
    // A first line that ends with a colon lists what it means on the indented lines after.
    if line.ends_with(':') {
        let listed: Vec<&str> = lines
            .take_while(|l| l.starts_with("  "))
            .map(str::trim)
            .collect();
        line = format!("{} {}", line, listed.join(", "));
    }
    format!("{line} (see --help)")
}

/// The exit class of one error of a chain: every error type the library returns, and the
/// foreign ones it passes on, each named here; `None` for an error of no known type (a
/// context message, or a type this table misses).
fn class_of(cause: &(dyn std::error::Error + 'static)) -> Option<Failure> {
    if let Some(Signalled(number)) = cause.downcast_ref::<Signalled>() {
        return Some(Failure::Signal(u8::try_from(*number).unwrap_or(127)));
    }
    if let Some(broker) = cause.downcast_ref::<BrokerError>() {
        return Some(broker_class(broker.kind()));
    }
    if let Some(mut engine) = cause.downcast_ref::<Error>() {
        // One of several sources failed: the class is that of its error.
        while let Error::Source { error, .. } = engine {
            engine = error;
        }
        return match engine {
            Error::Broker(broker) => Some(broker_class(broker.kind())),
            Error::Encode(_) | Error::Read(_) | Error::StoppedBeforeListening | Error::Panicked => {
                Some(Failure::Runtime)
            }
            // The handler's own error, and its chain, say what failed.
            Error::Handler(handler) => chain_of(handler.as_ref()).find_map(class_of),
            Error::Source { .. } => None,
        };
    }
    macro_rules! classes {
        ($($error:ty => $failure:ident,)*) => {
            $(
                if cause.is::<$error>() {
                    return Some(Failure::$failure);
                }
            )*
        };
    }
    classes! {
        UrlError => Usage,
        ArgumentError => Usage,
        InputError => Usage,
        UnknownPriority => Usage,
        BadPattern => Usage,
        ConfigError => Usage,
        TemplateError => Usage,
        EnvelopeError => Usage,
        BadPredicate => Usage,
        CannotServe => Usage,
        CountNotReached => Timeout,
        CommandTimedOut => Timeout,
        FailureNotification => FailureNotification,
        CommandFailed => Command,
        io::Error => Runtime,
        serde_json::Error => Runtime,
    }
    None
}

/// The exit class of a failure talking to the broker.
fn broker_class(kind: BrokerErrorKind) -> Failure {
    match kind {
        BrokerErrorKind::Unreachable
        | BrokerErrorKind::Credentials
        | BrokerErrorKind::VirtualHost
        | BrokerErrorKind::Tls
        | BrokerErrorKind::NotABroker => Failure::Connect,
        BrokerErrorKind::TimedOut | BrokerErrorKind::Blocked | BrokerErrorKind::Nacked => {
            Failure::Timeout
        }
        BrokerErrorKind::Disconnected | BrokerErrorKind::Other => Failure::Runtime,
    }
}

/// `error` and its sources, one after another.
fn chain_of<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |cause| cause.source())
}

/// Which failure `error` is: the first error in its chain of a known type. Every error the
/// library returns has one; a chain without (a type missing from the table) exits 1, and in
/// a debug build fails loudly so that tests find it.
pub fn failure_of(error: &anyhow::Error) -> Failure {
    match error.chain().find_map(class_of) {
        Some(failure) => failure,
        None => {
            debug_assert!(false, "no exit class for this error: {error:#}");
            Failure::Runtime
        }
    }
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
    use crate::oslo::transport_url::TransportUrl;

    #[test]
    fn codes_are_distinct_and_documented() {
        let all = [
            Failure::Runtime,
            Failure::Usage,
            Failure::Connect,
            Failure::Timeout,
            Failure::FailureNotification,
            Failure::Command,
        ];
        for failure in all {
            let line = format!("  {}  ", failure.code());
            assert!(LISTEN_EXIT_CODES.contains(&line), "{failure:?}");
        }
        // oslo-notify's own: neither --fail-on nor a command.
        for failure in &all[..4] {
            let line = format!("  {}  ", failure.code());
            assert!(NOTIFY_EXIT_CODES.contains(&line), "{failure:?}");
        }
        assert!(!NOTIFY_EXIT_CODES.contains("  5  ") && !NOTIFY_EXIT_CODES.contains("  6  "));
        assert_eq!(Failure::Signal(2).code(), 130);
        assert!(LISTEN_EXIT_CODES.contains("130/143"));
        assert!(NOTIFY_EXIT_CODES.contains("130/143"));
        let codes: std::collections::BTreeSet<u8> = all.iter().map(|f| f.code()).collect();
        assert_eq!(codes.len(), all.len(), "distinct");
    }

    #[test]
    fn argument_errors_are_one_line() {
        let rendered = "error: unexpected argument '--frob' found\n\n  tip: to pass '--frob' \
                        as a value, use '-- --frob'\n\nUsage: oslo-listen [OPTIONS]\n\n\
                        For more information, try '--help'.\n";
        assert_eq!(
            one_line(rendered),
            "unexpected argument '--frob' found (see --help)"
        );
        let missing = "error: the following required arguments were not provided:\n  \
                       <EVENT_TYPE>\n\nUsage: oslo-notify [OPTIONS] PRIORITY EVENT_TYPE\n";
        assert_eq!(
            one_line(missing),
            "the following required arguments were not provided: <EVENT_TYPE> (see --help)"
        );
    }

    #[test]
    fn every_error_type_has_its_exit_class() {
        let broker = |kind| BrokerError::new(kind, "b");
        let errors: Vec<(anyhow::Error, Failure)> = vec![
            (
                TransportUrl::parse("nope").unwrap_err().into(),
                Failure::Usage,
            ),
            (InputError("bad".into()).into(), Failure::Usage),
            (
                "loud"
                    .parse::<crate::wire::envelope::Priority>()
                    .unwrap_err()
                    .into(),
                Failure::Usage,
            ),
            (
                crate::listen::filter::Filter::new(&["a[".into()], &[], &[])
                    .unwrap_err()
                    .into(),
                Failure::Usage,
            ),
            (
                ConfigError {
                    file: "f".into(),
                    place: None,
                    reason: "r".into(),
                }
                .into(),
                Failure::Usage,
            ),
            (
                crate::listen::template::Template::parse("{nope}")
                    .unwrap_err()
                    .into(),
                Failure::Usage,
            ),
            (
                crate::wire::envelope::decode(b"[]").unwrap_err().into(),
                Failure::Usage,
            ),
            (
                CountNotReached {
                    seen: 0,
                    wanted: 1,
                    timeout: Some(std::time::Duration::from_secs(1)),
                }
                .into(),
                Failure::Timeout,
            ),
            (Error::StoppedBeforeListening.into(), Failure::Runtime),
            (
                Error::Broker(broker(BrokerErrorKind::Nacked)).into(),
                Failure::Timeout,
            ),
            (
                Error::Handler(Box::new(InputError("bad".into()))).into(),
                Failure::Usage,
            ),
            (
                broker(BrokerErrorKind::Unreachable).into(),
                Failure::Connect,
            ),
            (
                broker(BrokerErrorKind::Credentials).into(),
                Failure::Connect,
            ),
            (
                broker(BrokerErrorKind::VirtualHost).into(),
                Failure::Connect,
            ),
            (broker(BrokerErrorKind::Tls).into(), Failure::Connect),
            (broker(BrokerErrorKind::NotABroker).into(), Failure::Connect),
            (broker(BrokerErrorKind::TimedOut).into(), Failure::Timeout),
            (broker(BrokerErrorKind::Blocked).into(), Failure::Timeout),
            (broker(BrokerErrorKind::Nacked).into(), Failure::Timeout),
            (
                broker(BrokerErrorKind::Disconnected).into(),
                Failure::Runtime,
            ),
            (broker(BrokerErrorKind::Other).into(), Failure::Runtime),
            (io::Error::other("disk full").into(), Failure::Runtime),
            (
                serde_json::from_str::<u8>("x").unwrap_err().into(),
                Failure::Runtime,
            ),
        ];
        for (error, failure) in errors {
            let error = error.context("doing something");
            assert_eq!(failure_of(&error), failure, "{error:#}");
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "no exit class for this error")]
    fn an_error_of_no_known_type_is_found_in_tests() {
        failure_of(&anyhow::anyhow!("untyped"));
    }

    #[test]
    fn broken_pipes_are_recognised_under_context() {
        let err = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
