//! Talking to RabbitMQ: connect, declare as oslo.messaging does, publish with confirms.
//!
//! This is the only module that uses the AMQP client. Everything it returns on failure is a
//! [`BrokerError`] whose [`BrokerErrorKind`] says whether the broker could not be reached,
//! turned the credentials, the virtual host or the TLS session down, did not answer in time,
//! refused a message, dropped the connection, or failed otherwise.
//!
//! A library user meets [`ConnectOptions`], [`Durability`], [`TlsFiles`] and the errors;
//! the rest serves the engine.

mod confirms;
mod connect;
mod consume;
mod declare;
mod gauge;
mod link;
mod peer;
mod publish;
mod reconnect;
pub(crate) mod settlement;
mod tls;

pub(crate) use connect::{connect, Start};
pub(crate) use consume::{Acks, Consumed, DeliveryToken, Flow, Subscriber};
pub(crate) use gauge::{exchanges_exist, QueueGauge};
pub(crate) use publish::{Publisher, Reconnect};
pub(crate) use reconnect::{connect_retrying, connect_retrying_unless};
pub use tls::TlsFiles;

use std::fmt;
use std::time::Duration;

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
    fn amqp(doing: impl fmt::Display, error: amiquip::Error) -> Self {
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
    fn disconnected(message: impl Into<String>) -> Self {
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

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// How long to wait for one host to accept the TCP connection and finish the AMQP
    /// handshake.
    pub timeout: Duration,
    /// The AMQP heartbeat interval asked for, in seconds (0 turns heartbeats off).
    pub heartbeat: u16,
    /// Certificates for TLS connections.
    pub tls: TlsFiles,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            timeout: Duration::from_secs(30),
            heartbeat: 60,
            tls: TlsFiles::default(),
        }
    }
}

/// How the queues and exchanges we create are declared, as oslo's `amqp_durable_queues` and
/// `rabbit_quorum_queue` options choose. Ones that already exist are used as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Transient exchange and classic queue (oslo's default).
    #[default]
    Transient,
    /// Durable exchange and classic queue (`amqp_durable_queues = true`).
    Durable,
    /// Durable exchange and quorum queue (`rabbit_quorum_queue = true`).
    Quorum,
}

/// An open connection to one broker of a transport URL, and the owner of the handles of the
/// channels opened on it once they are no longer used.
///
/// amiquip fails a connection whose closed channels' handles are dropped before it is
/// closed, and closing the connection closes its channels in one round trip. So a channel
/// that is done with, or that the broker closed, is [`Connection::retire`]d here; closing
/// (or dropping) the connection closes it first and drops those handles after.
pub(crate) struct Connection {
    inner: Option<amiquip::Connection>,
    address: String,
    retired: Vec<amiquip::Channel>,
    /// Set when the broker may never answer a close (it blocks us): the connection is then
    /// left to the end of the process rather than closed and waited on.
    abandoned: bool,
    /// How long connecting took (TCP, TLS and the AMQP handshake): four round trips or so.
    handshake: Duration,
}

impl Connection {
    fn new(inner: amiquip::Connection, address: String) -> Self {
        Connection {
            inner: Some(inner),
            address,
            retired: Vec::new(),
            abandoned: false,
            handshake: Duration::ZERO,
        }
    }

    /// How long connecting took: about four round trips to the broker.
    pub fn handshake(&self) -> Duration {
        self.handshake
    }

    /// `host:port` of the broker this connection reached.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The AMQP connection.
    fn amqp(&mut self) -> Result<&mut amiquip::Connection, BrokerError> {
        self.inner.as_mut().ok_or_else(|| {
            BrokerError::disconnected(format!("the connection to {} is closed", self.address))
        })
    }

    /// Opens a channel.
    fn open_channel(&mut self) -> Result<amiquip::Channel, BrokerError> {
        self.amqp()?
            .open_channel(None)
            .map_err(|e| BrokerError::amqp("opening a channel", e))
    }

    /// Keeps the handle of a channel done with (or closed by the broker) until the
    /// connection is closed.
    fn retire(&mut self, channel: amiquip::Channel) {
        self.retired.push(channel);
    }

    /// Leaves the connection open to the end of the process: closing it would wait on a
    /// broker that reads nothing from us.
    fn abandon(&mut self) {
        self.abandoned = true;
    }

    /// Closes the connection (and with it every channel), then drops the retired handles.
    pub fn close(mut self) -> Result<(), BrokerError> {
        self.shut()
    }

    fn shut(&mut self) -> Result<(), BrokerError> {
        let Some(inner) = self.inner.take() else {
            return Ok(());
        };
        if self.abandoned {
            std::mem::forget(inner);
            std::mem::forget(std::mem::take(&mut self.retired));
            return Ok(());
        }
        let closed = inner
            .close()
            .map_err(|e| BrokerError::amqp("closing the connection", e));
        self.retired.clear();
        closed
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // A connection that is lost or failed closes as well as it can.
        let _ = self.shut();
    }
}
