//! A connection to one broker, the options it is opened with, and how what it creates is
//! declared.

use super::error::BrokerError;
use super::tls::TlsFiles;
use std::time::Duration;

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
    pub(super) handshake: Duration,
}

impl Connection {
    pub(super) fn new(inner: amiquip::Connection, address: String) -> Self {
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
    pub(super) fn amqp(&mut self) -> Result<&mut amiquip::Connection, BrokerError> {
        self.inner.as_mut().ok_or_else(|| {
            BrokerError::disconnected(format!("the connection to {} is closed", self.address))
        })
    }

    /// Opens a channel.
    pub(super) fn open_channel(&mut self) -> Result<amiquip::Channel, BrokerError> {
        self.amqp()?
            .open_channel(None)
            .map_err(|e| BrokerError::amqp("opening a channel", e))
    }

    /// Keeps the handle of a channel done with (or closed by the broker) until the
    /// connection is closed.
    pub(super) fn retire(&mut self, channel: amiquip::Channel) {
        self.retired.push(channel);
    }

    /// Leaves the connection open to the end of the process: closing it would wait on a
    /// broker that reads nothing from us.
    pub(super) fn abandon(&mut self) {
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
