//! Opening a connection to one host of a transport URL: TCP, TLS, the AMQP handshake, and
//! what each way of failing means.

use super::peer::{refused, Guarded};
use super::reconnect::random_index;
use super::{BrokerError, BrokerErrorKind, ConnectOptions, Connection};
use crate::transport_url::{Host, TransportUrl};
use amiquip::{Auth, ConnectionOptions, ConnectionTuning};
use std::net::{TcpStream, ToSocketAddrs};

/// Connects to a host of `url`, trying each in turn from a random one, as oslo does (it
/// shuffles the URL's hosts, then goes round them): clients of a cluster spread over its nodes.
pub fn connect(url: &TransportUrl, options: &ConnectOptions) -> Result<Connection, BrokerError> {
    connect_from(url, options, random_index(url.hosts.len()))
}

/// Tries every host of `url` once, in order from `hosts[first]` round to the one before it.
pub(super) fn connect_from(
    url: &TransportUrl,
    options: &ConnectOptions,
    first: usize,
) -> Result<Connection, BrokerError> {
    let mut failures = Vec::with_capacity(url.hosts.len());
    let mut retriable = false;
    let (before, from) = url.hosts.split_at(first.min(url.hosts.len()));
    for host in from.iter().chain(before) {
        let started = std::time::Instant::now();
        match connect_host(url, host, options) {
            Ok(inner) => {
                let mut connection = Connection::new(inner, host.address());
                connection.handshake = started.elapsed();
                return Ok(connection);
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
    // The peer's first bytes are judged before the client takes them as a frame.
    let stream = Guarded::new(stream, url.tls);
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
    // Not a broker on that port: waiting will not make it one.
    if let Some(answered) = refused(&error) {
        return HostFailure::from(answered.to_string());
    }
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
