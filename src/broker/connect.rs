//! Opening a connection to one host of a transport URL: TCP, TLS, the AMQP handshake, and
//! what each way of failing means.

use super::connection::{ConnectOptions, Connection};
use super::error::{BrokerError, BrokerErrorKind};
use super::peer::{refused, Guarded};
use crate::oslo::transport_url::{Host, TransportUrl};
use amiquip::{Auth, ConnectionOptions, ConnectionTuning};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant;

/// Where the hosts of a transport URL are tried from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start<'a> {
    /// A random host: a first connection.
    Anywhere,
    /// The host after the one at this `host:port`: the connection to it was lost.
    After(&'a str),
}

impl Start<'_> {
    pub(super) fn index(self, url: &TransportUrl) -> usize {
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

/// Connects to a host of `url`, trying each in turn from a random one, as oslo does (it
/// shuffles the URL's hosts, then goes round them): clients of a cluster spread over its nodes.
pub fn connect(url: &TransportUrl, options: &ConnectOptions) -> Result<Connection, BrokerError> {
    connect_from(url, options, Handoff::Few, random_index(url.hosts.len()))
}

/// Tries every host of `url` once, in order from `hosts[first]` round to the one before it.
pub(super) fn connect_from(
    url: &TransportUrl,
    options: &ConnectOptions,
    handoff: Handoff,
    first: usize,
) -> Result<Connection, BrokerError> {
    let mut failures = Vec::with_capacity(url.hosts.len());
    let mut retriable = false;
    // The most telling way a host failed: a refused password says more than a closed port.
    let mut kind = BrokerErrorKind::Unreachable;
    let (before, from) = url.hosts.split_at(first.min(url.hosts.len()));
    for host in from.iter().chain(before) {
        let started = std::time::Instant::now();
        match connect_host(url, host, options, handoff) {
            Ok(inner) => {
                let mut connection = Connection::new(inner, host.address());
                connection.handshake = started.elapsed();
                return Ok(connection);
            }
            Err(failure) => {
                retriable |= failure.retriable;
                if telling(failure.kind) > telling(kind) {
                    kind = failure.kind;
                }
                failures.push(format!("{}: {}", host.address(), failure.reason));
            }
        }
    }
    Err(BrokerError::new(
        kind,
        format!("cannot connect to {url}: {}", failures.join("; ")),
    )
    .retriable(retriable))
}

/// How much a kind of failure to connect says: the higher, the more it is worth reporting
/// as the failure of every host.
fn telling(kind: BrokerErrorKind) -> u8 {
    match kind {
        BrokerErrorKind::Credentials => 5,
        BrokerErrorKind::VirtualHost => 4,
        BrokerErrorKind::Tls => 3,
        BrokerErrorKind::NotABroker => 2,
        BrokerErrorKind::Unreachable => 1,
        BrokerErrorKind::TimedOut
        | BrokerErrorKind::Blocked
        | BrokerErrorKind::Nacked
        | BrokerErrorKind::Disconnected
        | BrokerErrorKind::Other => 0,
    }
}

/// Why one host could not be used.
struct HostFailure {
    kind: BrokerErrorKind,
    reason: String,
    retriable: bool,
}

impl HostFailure {
    /// A failure of `kind` that will not pass by waiting.
    fn lasting(kind: BrokerErrorKind, reason: String) -> Self {
        HostFailure {
            kind,
            reason,
            retriable: false,
        }
    }
}

fn connect_host(
    url: &TransportUrl,
    host: &Host,
    options: &ConnectOptions,
    handoff: Handoff,
) -> Result<amiquip::Connection, HostFailure> {
    let addresses = (host.hostname.as_str(), host.port)
        .to_socket_addrs()
        .map_err(|e| {
            HostFailure::lasting(
                BrokerErrorKind::Unreachable,
                format!("cannot resolve host name: {e}"),
            )
        })?;
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
        kind: BrokerErrorKind::Unreachable,
        reason: last_error,
        retriable: true,
    })?;
    // Without TCP_NODELAY every publisher confirm waits on Nagle's algorithm (~40 ms).
    let socket = |doing: &str, e: std::io::Error| {
        HostFailure::lasting(BrokerErrorKind::Other, format!("{doing}: {e}"))
    };
    stream
        .set_nodelay(true)
        .map_err(|e| socket("cannot set TCP_NODELAY", e))?;
    let stream = mio::net::TcpStream::from_stream(stream)
        .map_err(|e| socket("cannot set up the socket", e))?;
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
        let connector = options
            .tls
            .connector()
            .map_err(|reason| HostFailure::lasting(BrokerErrorKind::Tls, reason))?;
        amiquip::Connection::open_tls_stream(
            connector,
            &host.hostname,
            stream,
            amqp_options,
            handoff.tuning(),
        )
    } else {
        amiquip::Connection::insecure_open_stream(stream, amqp_options, handoff.tuning())
    };
    // Without a client certificate, a reset right after the TLS handshake may be a broker's
    // turning the session down.
    let without_certificate = url.tls && options.tls.cert_file.is_none();
    opened.map_err(|e| describe_connect_error(e, host, &url.virtual_host, without_certificate))
}

/// How many frames each channel of a connection may hand the client's I/O thread before it
/// waits for the thread to take them (amiquip's `mem_channel_bound`): what the connection
/// is for decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handoff {
    /// amiquip's 16: a consumer's channel carries little more than its acknowledgements.
    Few,
    /// 256, for a publisher with a window of publishes in flight. A publish is three frames:
    /// with 16 it waits on the I/O thread, and wakes it, every few publishes; with 256 bulk
    /// notify measured a sixth less CPU and half the context switches (docs/performance.md).
    /// Each channel's slots are made with it, a few dozen bytes each.
    Window,
}

impl Handoff {
    /// The client's tuning for a connection.
    fn tuning(self) -> ConnectionTuning {
        let frames = match self {
            Handoff::Few => 16,
            Handoff::Window => 256,
        };
        ConnectionTuning::default().mem_channel_bound(frames)
    }
}

fn describe_connect_error(
    error: amiquip::Error,
    host: &Host,
    vhost: &str,
    without_certificate: bool,
) -> HostFailure {
    // Not a broker on that port: waiting will not make it one.
    if let Some(answered) = refused(&error) {
        return HostFailure::lasting(BrokerErrorKind::NotABroker, answered.to_string());
    }
    use BrokerErrorKind::{Credentials, Tls, Unreachable, VirtualHost};
    let (kind, reason, retriable) = match error {
        amiquip::Error::InvalidCredentials => (
            Credentials,
            format!(
                "the broker refused user {:?} (wrong user name or password)",
                host.username
            ),
            false,
        ),
        amiquip::Error::ServerClosedConnection { code: 403, .. } => (
            Credentials,
            format!(
                "the broker refused user {:?} (wrong user name or password, or no access)",
                host.username
            ),
            false,
        ),
        amiquip::Error::ServerClosedConnection { code: 530, message } => (
            VirtualHost,
            format!(
                "no access to virtual host {vhost:?} for user {:?} (does it exist?): {message}",
                host.username
            ),
            false,
        ),
        amiquip::Error::TlsHandshake { source } => {
            (Tls, format!("TLS handshake failed: {source}"), false)
        }
        // A broker that is starting or stopping closes or stalls the handshake.
        amiquip::Error::ConnectionTimeout => {
            (Unreachable, "the AMQP handshake timed out".to_owned(), true)
        }
        amiquip::Error::UnexpectedSocketClose => (
            Unreachable,
            "the broker closed the connection during the handshake".to_owned(),
            true,
        ),
        // With TLS 1.3 the broker checks a client certificate after the handshake, and
        // turns it down with an alert that reads as an I/O error: that is its answer.
        other if other.to_string().contains("SSL alert") => (
            Tls,
            format!("the broker turned the TLS session down: {other}"),
            false,
        ),
        // With TLS 1.3 a broker that wants a client certificate says so in an alert after the
        // handshake; when our first bytes cross it, the connection is reset and the alert lost.
        other if without_certificate && other.to_string().contains("Connection reset by peer") => (
            Unreachable,
            format!(
                "{other} (after the TLS handshake: does the broker require a client \
                 certificate? give --ssl-cert-file and --ssl-key-file)"
            ),
            true,
        ),
        other => (Unreachable, other.to_string(), true),
    };
    HostFailure {
        kind,
        reason,
        retriable,
    }
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
