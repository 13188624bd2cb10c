//! What the engine returns when it fails: one enum a caller can `match`, whose variants keep
//! the error they stand for.

use crate::broker::{BrokerError, BrokerErrorKind};
use std::fmt;

/// A failure of the [`Notifier`](super::notifier::Notifier), the receiving engine or a
/// [`NotificationListener`](super::endpoint::NotificationListener).
///
/// Its text is that of the error it keeps, and [`std::error::Error::source`] goes on from
/// there, so that `{:#}` (as `anyhow` prints a chain) reads the same as the error kept.
///
/// ```
/// use oslo_notify::broker::BrokerErrorKind;
/// use oslo_notify::Error;
///
/// fn advice(error: &Error) -> &'static str {
///     match error.broker_kind() {
///         Some(BrokerErrorKind::Credentials) => "check the user name and password",
///         Some(BrokerErrorKind::VirtualHost) => "create the virtual host, or grant access",
///         Some(BrokerErrorKind::Unreachable) => "is the broker running?",
///         _ => "see the message",
///     }
/// }
/// # let _ = advice;
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Talking to the broker failed; [`BrokerError::kind`] says how: unreachable, refused
    /// credentials, a missing virtual host, TLS, not a broker, not confirmed in time, blocked
    /// too long, refused (nacked), the connection lost.
    Broker(BrokerError),
    /// Reading saved notifications (`oslo-listen --from`) failed: what, and why.
    Read(std::io::Error),
    /// A notification could not be encoded as JSON.
    Encode(serde_json::Error),
    /// The handler failed on a notification: the engine stopped, and what it had not
    /// acknowledged went back to its queue.
    Handler(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// One of several brokers read at once failed (see [`Error::Source`]'s error); the others
    /// were stopped.
    Source {
        /// The source's name (`--source NAME=URL`).
        name: String,
        /// How it failed.
        error: Box<Error>,
    },
    /// A [`NotificationListener`](super::endpoint::NotificationListener)'s thread ended before
    /// it listened.
    StoppedBeforeListening,
    /// An endpoint of a [`NotificationListener`](super::endpoint::NotificationListener)
    /// panicked.
    Panicked,
}

impl Error {
    /// How talking to the broker failed, for a [`Error::Broker`].
    pub fn broker_kind(&self) -> Option<BrokerErrorKind> {
        match self {
            Error::Broker(broker) => Some(broker.kind()),
            Error::Source { error, .. } => error.broker_kind(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Broker(broker) => broker.fmt(f),
            Error::Encode(_) => f.write_str("encoding the notification"),
            Error::Read(error) => error.fmt(f),
            Error::Handler(handler) => handler.fmt(f),
            Error::Source { name, error } => write!(f, "source {name}: {error}"),
            Error::StoppedBeforeListening => f.write_str("the listener stopped before it listened"),
            Error::Panicked => f.write_str("the listener thread panicked (in an endpoint)"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Broker(broker) => broker.source(),
            Error::Encode(encode) => Some(encode),
            Error::Handler(handler) => handler.source(),
            Error::Read(error) => error.source(),
            Error::Source { error, .. } => error.source(),
            Error::StoppedBeforeListening | Error::Panicked => None,
        }
    }
}

impl From<BrokerError> for Error {
    fn from(error: BrokerError) -> Self {
        Error::Broker(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn the_text_and_the_chain_are_those_of_the_error_kept() {
        let handler: Box<dyn std::error::Error + Send + Sync> =
            anyhow::Error::new(std::io::Error::other("disk full"))
                .context("writing to stdout")
                .into();
        let error = Error::Handler(handler);
        assert_eq!(
            format!("{:#}", anyhow::Error::new(error)),
            "writing to stdout: disk full"
        );
        let encode = serde_json::from_str::<u8>("x").unwrap_err();
        let error = Error::Encode(encode);
        assert!(error.source().is_some());
        assert_eq!(
            format!("{:#}", anyhow::Error::new(error)),
            "encoding the notification: expected value at line 1 column 1"
        );
    }
}
