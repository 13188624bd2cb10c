//! Talking to RabbitMQ: connect, declare as oslo.messaging does, publish with confirms.
//!
//! This is the only module that uses the AMQP client. Everything it returns on failure is a
//! [`BrokerError`] whose [`BrokerErrorKind`] says whether the broker could not be reached,
//! did not answer in time, refused a message, or failed otherwise.

mod consume;
mod declare;
mod publish;

pub use consume::{Acks, Delivery, DeliveryToken, Event, Flow, Listener};
pub use declare::QueueSpec;
pub use publish::Publisher;

use crate::transport_url::{Host, TransportUrl};
use amiquip::{Auth, ConnectionOptions, ConnectionTuning};
use std::fmt;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// What kind of failure a [`BrokerError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerErrorKind {
    /// No broker of the URL could be reached, or none accepted the credentials or virtual host.
    Connect,
    /// The broker did not confirm in time.
    Timeout,
    /// The broker refused (nacked) a message.
    Refused,
    /// Anything else: a channel error, a lost connection.
    Other,
}

/// A failure talking to the broker. Its message never holds a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerError {
    kind: BrokerErrorKind,
    message: String,
}

impl BrokerError {
    fn new(kind: BrokerErrorKind, message: impl Into<String>) -> Self {
        BrokerError {
            kind,
            message: message.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> BrokerErrorKind {
        self.kind
    }

    /// `error` from the AMQP client, while doing `doing`.
    fn amqp(doing: impl fmt::Display, error: amiquip::Error) -> Self {
        BrokerError::new(BrokerErrorKind::Other, format!("{doing}: {error}"))
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

/// PEM files for TLS: a CA to trust besides the system's, and a client certificate with
/// its PKCS#8 key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificate(s) to trust.
    pub ca_file: Option<PathBuf>,
    /// Client certificate.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key.
    pub key_file: Option<PathBuf>,
}

impl TlsFiles {
    fn connector(&self) -> Result<native_tls::TlsConnector, String> {
        let read = |path: &PathBuf, what: &str| {
            std::fs::read(path)
                .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
        };
        let mut builder = native_tls::TlsConnector::builder();
        if let Some(ca) = &self.ca_file {
            let pem = read(ca, "CA file")?;
            let certificate = native_tls::Certificate::from_pem(&pem).map_err(|e| {
                format!("the CA file {} holds no PEM certificate: {e}", ca.display())
            })?;
            builder.add_root_certificate(certificate);
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                let identity = native_tls::Identity::from_pkcs8(
                    &read(cert, "certificate file")?,
                    &read(key, "key file")?,
                )
                .map_err(|e| {
                    format!(
                        "cannot use the client certificate {} with key {}: {e}",
                        cert.display(),
                        key.display()
                    )
                })?;
                builder.identity(identity);
            }
            (None, None) => {}
            _ => {
                return Err(
                    "a client certificate needs both a certificate file and a key file".to_owned(),
                )
            }
        }
        builder
            .build()
            .map_err(|e| format!("cannot set up TLS: {e}"))
    }
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

/// An open connection to one broker of a transport URL.
pub struct Connection {
    inner: amiquip::Connection,
    address: String,
}

impl Connection {
    /// `host:port` of the broker this connection reached.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Closes the connection cleanly.
    pub fn close(self) -> Result<(), BrokerError> {
        self.inner
            .close()
            .map_err(|e| BrokerError::amqp("closing the connection", e))
    }
}

/// Connects to the first host of `url` that accepts, trying them in the URL's order (as
/// oslo's default `kombu_failover_strategy = round-robin` does).
pub fn connect(url: &TransportUrl, options: &ConnectOptions) -> Result<Connection, BrokerError> {
    let mut failures = Vec::with_capacity(url.hosts.len());
    for host in &url.hosts {
        match connect_host(url, host, options) {
            Ok(inner) => {
                return Ok(Connection {
                    inner,
                    address: host.address(),
                })
            }
            Err(reason) => failures.push(format!("{}: {reason}", host.address())),
        }
    }
    Err(BrokerError::new(
        BrokerErrorKind::Connect,
        format!("cannot connect to {url}: {}", failures.join("; ")),
    ))
}

fn connect_host(
    url: &TransportUrl,
    host: &Host,
    options: &ConnectOptions,
) -> Result<amiquip::Connection, String> {
    let addresses = (host.hostname.as_str(), host.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve host name: {e}"))?;
    let mut last_error = String::from("host name resolves to no address");
    let mut stream = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, options.timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last_error = format!("no answer within {:?}", options.timeout)
            }
            Err(e) => last_error = e.to_string(),
        }
    }
    let stream = stream.ok_or(last_error)?;
    // Without TCP_NODELAY every publisher confirm waits on Nagle's algorithm (~40 ms).
    stream
        .set_nodelay(true)
        .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
    let stream = mio::net::TcpStream::from_stream(stream)
        .map_err(|e| format!("cannot set up the socket: {e}"))?;
    let amqp_options = ConnectionOptions::<Auth>::default()
        .auth(Auth::Plain {
            username: host.username.clone(),
            password: host.password.clone(),
        })
        .virtual_host(url.virtual_host.clone())
        .heartbeat(options.heartbeat)
        .connection_timeout(Some(options.timeout))
        .information(Some(format!(
            "{} {}",
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION")
        )));
    let opened = if url.tls {
        let connector = options.tls.connector()?;
        amiquip::Connection::open_tls_stream(
            connector,
            &host.hostname,
            stream,
            amqp_options,
            ConnectionTuning::default(),
        )
    } else {
        amiquip::Connection::insecure_open_stream(stream, amqp_options, ConnectionTuning::default())
    };
    opened.map_err(|e| describe_connect_error(e, host, &url.virtual_host))
}

fn describe_connect_error(error: amiquip::Error, host: &Host, vhost: &str) -> String {
    match error {
        amiquip::Error::InvalidCredentials => format!(
            "the broker refused user {:?} (wrong user name or password)",
            host.username
        ),
        amiquip::Error::ServerClosedConnection { code: 403, .. } => format!(
            "the broker refused user {:?} (wrong user name or password, or no access)",
            host.username
        ),
        amiquip::Error::ServerClosedConnection { code: 530, message } => format!(
            "no access to virtual host {vhost:?} for user {:?} (does it exist?): {message}",
            host.username
        ),
        amiquip::Error::ConnectionTimeout => "the AMQP handshake timed out".to_owned(),
        amiquip::Error::UnexpectedSocketClose => {
            "the broker closed the connection during the handshake".to_owned()
        }
        other => other.to_string(),
    }
}
