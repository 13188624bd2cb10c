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
pub use publish::{Notices, Publisher, Reconnect};

use crate::transport_url::{Host, TransportUrl};
use amiquip::{Auth, ConnectionOptions, ConnectionTuning};
use std::fmt;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What kind of failure a [`BrokerError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerErrorKind {
    /// No broker of the URL could be reached, or none accepted the credentials or virtual host.
    Connect,
    /// The broker did not confirm in time.
    Timeout,
    /// The broker refused (nacked) a message.
    Refused,
    /// The connection was lost (the broker stopped, crashed or stopped answering).
    Disconnected,
    /// Anything else, such as a channel error.
    Other,
}

/// A failure talking to the broker. Its message never holds a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerError {
    kind: BrokerErrorKind,
    message: String,
    retriable: bool,
}

impl BrokerError {
    fn new(kind: BrokerErrorKind, message: impl Into<String>) -> Self {
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

    /// Whether trying again may succeed: a broker that refused or dropped the connection,
    /// or did not answer, may be back soon; wrong credentials or a missing virtual host
    /// will not mend themselves.
    pub fn is_retriable(&self) -> bool {
        self.retriable
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
    /// Accept any certificate for any host name: encrypted, but not authenticated.
    pub insecure: bool,
}

impl TlsFiles {
    /// What to tell the user about certificate checks turned off, if they are.
    pub fn insecure_warning(&self) -> Option<&'static str> {
        self.insecure.then_some(
            "--insecure: the broker's TLS certificate and host name are not verified; \
             the connection is encrypted but anyone in the middle can read it",
        )
    }

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
        if self.insecure {
            builder
                .danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
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

/// Connects to a host of `url`, trying each in turn from a random one, as oslo does (it
/// shuffles the URL's hosts, then goes round them): clients of a cluster spread over its nodes.
pub fn connect(url: &TransportUrl, options: &ConnectOptions) -> Result<Connection, BrokerError> {
    connect_from(url, options, random_index(url.hosts.len()))
}

/// Where the hosts of a transport URL are tried from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start<'a> {
    /// A random host: a first connection.
    Anywhere,
    /// The host after the one at this `host:port`: the connection to it was lost.
    After(&'a str),
}

impl Start<'_> {
    fn index(self, url: &TransportUrl) -> usize {
        match self {
            Start::Anywhere => random_index(url.hosts.len()),
            Start::After(address) => url
                .hosts
                .iter()
                .position(|h| h.address() == address)
                .map_or(0, |lost| (lost + 1) % url.hosts.len()),
        }
    }
}

/// A random number below `len` (0 for 0), from the standard library's random hash keys.
fn random_index(len: usize) -> usize {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    usize::try_from(random % len.max(1) as u64).unwrap_or(0)
}

/// Tries every host of `url` once, in order from `hosts[first]` round to the one before it.
fn connect_from(
    url: &TransportUrl,
    options: &ConnectOptions,
    first: usize,
) -> Result<Connection, BrokerError> {
    let mut failures = Vec::with_capacity(url.hosts.len());
    let mut retriable = false;
    let (before, from) = url.hosts.split_at(first.min(url.hosts.len()));
    for host in from.iter().chain(before) {
        match connect_host(url, host, options) {
            Ok(inner) => {
                return Ok(Connection {
                    inner,
                    address: host.address(),
                })
            }
            Err(failure) => {
                retriable |= failure.retriable;
                failures.push(format!("{}: {}", host.address(), failure.reason));
            }
        }
    }
    Err(BrokerError {
        retriable,
        ..BrokerError::new(
            BrokerErrorKind::Connect,
            format!("cannot connect to {url}: {}", failures.join("; ")),
        )
    })
}

/// The first wait between connection attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Connects like [`connect`], trying the hosts from `start`, and while the failure may pass
/// (a broker that is down, restarting or unreachable) tries again with backoff (0.2 s,
/// doubling up to 5 s) until `deadline`, or for ever without one. `retrying` hears of each
/// failed attempt and the wait before the next. Wrong credentials, a missing virtual host or
/// a bad TLS setup fail at once.
pub fn connect_retrying(
    url: &TransportUrl,
    options: &ConnectOptions,
    start: Start,
    deadline: Option<Instant>,
    mut retrying: impl FnMut(&BrokerError, Duration),
) -> Result<Connection, BrokerError> {
    let first = start.index(url);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let mut attempt = options.clone();
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            attempt.timeout = attempt.timeout.min(left.max(Duration::from_millis(100)));
        }
        let error = match connect_from(url, &attempt, first) {
            Ok(connection) => return Ok(connection),
            Err(error) => error,
        };
        if !error.retriable {
            return Err(error);
        }
        // The last wait is cut to the deadline, for one more attempt right at it.
        let wait = match deadline {
            None => backoff,
            Some(deadline) => match deadline.saturating_duration_since(Instant::now()) {
                left if left.is_zero() => return Err(error),
                left => backoff.min(left),
            },
        };
        retrying(&error, wait);
        std::thread::sleep(wait);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Why one host could not be used.
struct HostFailure {
    reason: String,
    retriable: bool,
}

impl From<String> for HostFailure {
    /// A failure that will not pass by waiting.
    fn from(reason: String) -> Self {
        HostFailure {
            reason,
            retriable: false,
        }
    }
}

fn connect_host(
    url: &TransportUrl,
    host: &Host,
    options: &ConnectOptions,
) -> Result<amiquip::Connection, HostFailure> {
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
    // Refused, unreachable, no answer: the broker may be down for a moment.
    let stream = stream.ok_or(HostFailure {
        reason: last_error,
        retriable: true,
    })?;
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

fn describe_connect_error(error: amiquip::Error, host: &Host, vhost: &str) -> HostFailure {
    let (reason, retriable) = match error {
        amiquip::Error::InvalidCredentials => (
            format!(
                "the broker refused user {:?} (wrong user name or password)",
                host.username
            ),
            false,
        ),
        amiquip::Error::ServerClosedConnection { code: 403, .. } => (
            format!(
                "the broker refused user {:?} (wrong user name or password, or no access)",
                host.username
            ),
            false,
        ),
        amiquip::Error::ServerClosedConnection { code: 530, message } => (
            format!(
                "no access to virtual host {vhost:?} for user {:?} (does it exist?): {message}",
                host.username
            ),
            false,
        ),
        amiquip::Error::TlsHandshake { source } => {
            (format!("TLS handshake failed: {source}"), false)
        }
        // A broker that is starting or stopping closes or stalls the handshake.
        amiquip::Error::ConnectionTimeout => ("the AMQP handshake timed out".to_owned(), true),
        amiquip::Error::UnexpectedSocketClose => (
            "the broker closed the connection during the handshake".to_owned(),
            true,
        ),
        // With TLS 1.3 the broker checks a client certificate after the handshake, and
        // turns it down with an alert that reads as an I/O error: that is its answer.
        other if other.to_string().contains("SSL alert") => (
            format!("the broker turned the TLS session down: {other}"),
            false,
        ),
        other => (other.to_string(), true),
    };
    HostFailure { reason, retriable }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_tried_from_a_random_one_or_after_the_lost_one() {
        let url = TransportUrl::parse("rabbit://u:p@a:1,u:p@b:2,u:p@c:3/").unwrap();
        assert_eq!(Start::After("a:1").index(&url), 1);
        assert_eq!(Start::After("c:3").index(&url), 0, "round the list");
        assert_eq!(Start::After("elsewhere:9").index(&url), 0);
        let mut seen = [false; 3];
        for _ in 0..200 {
            seen[Start::Anywhere.index(&url)] = true;
        }
        assert_eq!(seen, [true; 3], "every host gets first connections");
        let single = TransportUrl::parse("rabbit://u:p@a:1/").unwrap();
        assert_eq!(Start::Anywhere.index(&single), 0);
        assert_eq!(Start::After("a:1").index(&single), 0);
    }
}
