//! How talking to the broker fails: a [`BrokerError`], whose [`BrokerErrorKind`] a caller
//! matches. No message holds a password.

use std::fmt;

/// What kind of failure a [`BrokerError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerErrorKind {
    /// No broker of the URL could be reached: connection refused, no answer, a name that
    /// does not resolve, a handshake cut short.
    Unreachable,
    /// A broker turned the user name or password down.
    Credentials,
    /// A broker gave the user no access to the virtual host (does it exist?).
    VirtualHost,
    /// The TLS session could not be set up (handshake, certificates, the broker's alert).
    Tls,
    /// Something other than an AMQP broker answered on the port.
    NotABroker,
    /// The broker did not answer or confirm in time.
    TimedOut,
    /// The broker did not confirm in time while it was blocking publishes (a resource alarm:
    /// memory or disk).
    Blocked,
    /// The broker refused (nacked) a message again and again.
    Nacked,
    /// The connection was lost (the broker stopped, crashed or stopped answering).
    Disconnected,
    /// Anything else, such as a channel error.
    Other,
}

/// A failure talking to the broker. Its message never holds a password.
#[derive(Debug, Clone)]
pub struct BrokerError {
    kind: BrokerErrorKind,
    message: String,
    /// Whether trying again may succeed: a broker that refused or dropped the connection,
    /// or did not answer, may be back soon; wrong credentials or a missing virtual host
    /// will not mend themselves.
    retriable: bool,
}

impl BrokerError {
    pub(crate) fn new(kind: BrokerErrorKind, message: impl Into<String>) -> Self {
        BrokerError {
            kind,
            message: message.into(),
            retriable: false,
        }
    }

    /// Whether trying again may succeed.
    pub(super) fn is_retriable(&self) -> bool {
        self.retriable
    }

    /// The same failure, with whether trying again may succeed.
    pub(super) fn retriable(self, retriable: bool) -> Self {
        BrokerError { retriable, ..self }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> BrokerErrorKind {
        self.kind
    }

    /// The same failure, said as happening while doing `doing`.
    pub(crate) fn context(self, doing: impl fmt::Display) -> Self {
        BrokerError {
            message: format!("{doing}: {}", self.message),
            ..self
        }
    }

    /// `error` from the AMQP client, while doing `doing`.
    pub(super) fn amqp(doing: impl fmt::Display, error: amiquip::Error) -> Self {
        use amiquip::Error as E;
        let kind = match &error {
            E::UnexpectedSocketClose
            | E::IoErrorReadingSocket { .. }
            | E::IoErrorWritingSocket { .. }
            | E::MissedServerHeartbeats
            | E::ServerClosedConnection { .. }
            | E::EventLoopDropped
            | E::ClientClosedConnection => BrokerErrorKind::Disconnected,
            _ => BrokerErrorKind::Other,
        };
        BrokerError {
            retriable: kind == BrokerErrorKind::Disconnected,
            ..BrokerError::new(kind, format!("{doing}: {error}"))
        }
    }

    /// The connection was lost while doing `doing`.
    pub(super) fn disconnected(message: impl Into<String>) -> Self {
        BrokerError {
            retriable: true,
            ..BrokerError::new(BrokerErrorKind::Disconnected, message)
        }
    }
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BrokerError {}
