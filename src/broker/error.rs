//! How talking to the broker fails: a [`BrokerError`], whose [`BrokerErrorKind`] a caller
//! matches. No message holds a password.

use std::fmt;
use std::sync::Arc;

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
    /// The AMQP client's own error, when this failure is one of its.
    source: Option<Arc<ClientError>>,
}

/// The AMQP client's own error, kept as it came: its text is the client's, which already
/// says what caused it, so the chain of sources ends here.
#[derive(Debug)]
pub struct ClientError(amiquip::Error);

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ClientError {}

impl BrokerError {
    pub(crate) fn new(kind: BrokerErrorKind, message: impl Into<String>) -> Self {
        BrokerError {
            kind,
            message: message.into(),
            retriable: false,
            source: None,
        }
    }

    /// Whether trying again may succeed.
    pub(crate) fn is_retriable(&self) -> bool {
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
            source: Some(Arc::new(ClientError(error))),
            ..BrokerError::new(kind, doing.to_string())
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

/// What was being done; with `{:#}`, also the AMQP client's error ("doing: why"), as `anyhow`
/// prints the chain.
impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match &self.source {
            Some(source) if f.alternate() => write!(f, ": {source}"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for BrokerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn the_clients_error_is_kept_as_the_source_and_said_once() {
        let error = BrokerError::amqp(
            "consuming from 127.0.0.1:5672",
            amiquip::Error::MissedServerHeartbeats,
        );
        assert_eq!(error.kind(), BrokerErrorKind::Disconnected);
        let client = error.source().expect("the client's error is kept");
        assert!(client.is::<ClientError>());
        assert!(
            client.source().is_none(),
            "the chain ends with the client's text"
        );
        assert_eq!(error.to_string(), "consuming from 127.0.0.1:5672");
        let whole = format!("{error:#}");
        assert_eq!(whole, format!("consuming from 127.0.0.1:5672: {client}"));
        assert_eq!(
            format!("{:#}", anyhow::Error::new(error)),
            whole,
            "as anyhow prints it"
        );
    }
}
