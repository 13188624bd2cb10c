//! Talking to RabbitMQ: connect, declare as oslo.messaging does, publish with confirms.
//!
//! This is the only module that uses the AMQP client. Everything it returns on failure is a
//! [`BrokerError`] whose [`BrokerErrorKind`] says whether the broker could not be reached,
//! did not answer in time, refused a message, or failed otherwise.

use crate::transport_url::{Host, TransportUrl};
use amiquip::{
    AmqpProperties, AmqpValue, Auth, Channel, Confirm, ConnectionOptions, ConnectionTuning,
    ExchangeDeclareOptions, ExchangeType, FieldTable, Publish, QueueDeclareOptions,
};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::net::{TcpStream, ToSocketAddrs};
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
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            timeout: Duration::from_secs(30),
            heartbeat: 60,
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
        let connector =
            native_tls::TlsConnector::new().map_err(|e| format!("cannot set up TLS: {e}"))?;
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

/// Publishes notifications with publisher confirms, declaring what each needs first.
pub struct Publisher {
    connection: Connection,
    /// Publishes, in confirm mode.
    channel: Channel,
    /// Declarations; a 404 from a passive declare closes it, and it is opened again.
    control: Option<Channel>,
    confirms: Receiver<Confirm>,
    durability: Durability,
    timeout: Duration,
    window: usize,
    next_tag: u64,
    unconfirmed: BTreeSet<u64>,
    nacked: usize,
    first_nacked: Option<u64>,
    /// Exchange -> routing keys already declared and bound on it.
    routes: HashMap<String, HashSet<String>>,
}

/// The AMQP properties oslo.messaging (through kombu) sets on a notification.
fn notification_properties() -> AmqpProperties {
    AmqpProperties::default()
        .with_content_type("application/json".to_owned())
        .with_content_encoding("utf-8".to_owned())
        .with_headers(FieldTable::default())
        .with_delivery_mode(2)
        .with_priority(0)
}

fn is_channel_error(error: &amiquip::Error, wanted: u16) -> bool {
    matches!(error, amiquip::Error::ServerClosedChannel { code, .. } if *code == wanted)
}

impl Publisher {
    /// The number of unconfirmed messages [`Publisher::publish`] lets be in flight.
    pub const DEFAULT_WINDOW: usize = 1000;

    /// Opens the channels on `connection` and turns publisher confirms on. `timeout` bounds
    /// every wait for the broker's confirms.
    pub fn new(
        mut connection: Connection,
        durability: Durability,
        timeout: Duration,
    ) -> Result<Self, BrokerError> {
        let channel = connection
            .inner
            .open_channel(None)
            .map_err(|e| BrokerError::amqp("opening a channel", e))?;
        let confirms = channel
            .listen_for_publisher_confirms()
            .map_err(|e| BrokerError::amqp("listening for publisher confirms", e))?;
        channel
            .enable_publisher_confirms()
            .map_err(|e| BrokerError::amqp("enabling publisher confirms", e))?;
        Ok(Publisher {
            connection,
            channel,
            control: None,
            confirms,
            durability,
            timeout,
            window: Self::DEFAULT_WINDOW,
            next_tag: 1,
            unconfirmed: BTreeSet::new(),
            nacked: 0,
            first_nacked: None,
            routes: HashMap::new(),
        })
    }

    /// The broker this publisher is connected to.
    pub fn address(&self) -> &str {
        self.connection.address()
    }

    fn control(&mut self) -> Result<&Channel, BrokerError> {
        if self.control.is_none() {
            let channel = self
                .connection
                .inner
                .open_channel(None)
                .map_err(|e| BrokerError::amqp("opening a channel", e))?;
            self.control = Some(channel);
        }
        self.control
            .as_ref()
            .ok_or_else(|| BrokerError::new(BrokerErrorKind::Other, "no control channel"))
    }

    /// Runs a declaration on the control channel. `Ok(false)` when the broker answered with
    /// the `tolerated` code (which closes the channel, so the next call opens a new one).
    fn declare_step(
        &mut self,
        doing: impl fmt::Display,
        tolerated: Option<u16>,
        step: impl FnOnce(&Channel) -> amiquip::Result<()>,
    ) -> Result<bool, BrokerError> {
        let result = step(self.control()?);
        match result {
            Ok(()) => Ok(true),
            Err(e) if tolerated.is_some_and(|code| is_channel_error(&e, code)) => {
                self.control = None;
                Ok(false)
            }
            Err(e) => {
                self.control = None;
                Err(BrokerError::amqp(doing, e))
            }
        }
    }

    /// Makes sure `exchange` exists and a queue named `routing_key` is bound to it with that
    /// key, as oslo's `_publish_and_creates_default_queue` does, so that a notification sent
    /// before any listener exists waits in that queue.
    ///
    /// What exists already is used as it is: a passive declare finds it, and nothing is
    /// declared again with settings that could clash (406 PRECONDITION_FAILED) with those of
    /// the deployment. What is missing is created with this publisher's [`Durability`].
    pub fn declare(&mut self, exchange: &str, routing_key: &str) -> Result<(), BrokerError> {
        let known_keys = self.routes.get(exchange);
        if known_keys.is_some_and(|keys| keys.contains(routing_key)) {
            return Ok(());
        }
        let durable = self.durability != Durability::Transient;
        if known_keys.is_none() {
            let doing = format!("checking exchange {exchange:?}");
            let exists = self.declare_step(doing, Some(404), |c| {
                c.exchange_declare_passive(exchange).map(drop)
            })?;
            if !exists {
                let options = ExchangeDeclareOptions {
                    durable,
                    ..ExchangeDeclareOptions::default()
                };
                // 406: someone created it a moment ago with other settings; use theirs.
                let doing = format!("declaring exchange {exchange:?}");
                self.declare_step(doing, Some(406), |c| {
                    c.exchange_declare(ExchangeType::Topic, exchange, options)
                        .map(drop)
                })?;
            }
            self.routes.insert(exchange.to_owned(), HashSet::new());
        }
        let doing = format!("checking queue {routing_key:?}");
        let exists = self.declare_step(doing, Some(404), |c| {
            c.queue_declare_passive(routing_key).map(drop)
        })?;
        if !exists {
            let mut arguments = FieldTable::default();
            if self.durability == Durability::Quorum {
                arguments.insert(
                    "x-queue-type".to_owned(),
                    AmqpValue::LongString("quorum".to_owned()),
                );
            }
            let options = QueueDeclareOptions {
                durable,
                arguments,
                ..QueueDeclareOptions::default()
            };
            let doing = format!("declaring queue {routing_key:?}");
            self.declare_step(doing, Some(406), |c| {
                c.queue_declare(routing_key, options).map(drop)
            })?;
        }
        let doing = format!("binding queue {routing_key:?} to exchange {exchange:?}");
        self.declare_step(doing, None, |c| {
            c.queue_bind(routing_key, exchange, routing_key, FieldTable::default())
        })?;
        self.routes
            .entry(exchange.to_owned())
            .or_default()
            .insert(routing_key.to_owned());
        Ok(())
    }

    /// Publishes one message body to `exchange` with `routing_key` and returns its delivery
    /// tag (1, 2, 3, ... in publish order). Waits for confirms first when the window of
    /// unconfirmed messages is full. Call [`Publisher::declare`] for the route beforehand.
    pub fn publish(
        &mut self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
    ) -> Result<u64, BrokerError> {
        while self.unconfirmed.len() >= self.window {
            self.wait_for_confirm()?;
        }
        self.drain_confirms();
        self.check_nacks()?;
        self.channel
            .basic_publish(
                exchange,
                Publish::with_properties(body, routing_key, notification_properties()),
            )
            .map_err(|e| {
                BrokerError::amqp(
                    format_args!("publishing to exchange {exchange:?} with key {routing_key:?}"),
                    e,
                )
            })?;
        let tag = self.next_tag;
        self.next_tag += 1;
        self.unconfirmed.insert(tag);
        Ok(tag)
    }

    /// Every delivery tag up to and including this one has been confirmed (acked).
    pub fn confirmed_through(&self) -> u64 {
        let oldest_open = self.unconfirmed.first().copied().unwrap_or(self.next_tag);
        oldest_open.min(self.first_nacked.unwrap_or(u64::MAX)) - 1
    }

    /// Waits until every message published so far is confirmed; fails if any was nacked.
    pub fn wait_for_all_confirms(&mut self) -> Result<(), BrokerError> {
        while !self.unconfirmed.is_empty() {
            self.wait_for_confirm()?;
        }
        self.check_nacks()
    }

    /// Takes the confirms that have arrived, without waiting.
    pub fn drain_confirms(&mut self) {
        while let Ok(confirm) = self.confirms.try_recv() {
            self.apply(confirm);
        }
    }

    fn wait_for_confirm(&mut self) -> Result<(), BrokerError> {
        let started = Instant::now();
        match self.confirms.recv_timeout(self.timeout) {
            Ok(confirm) => {
                self.apply(confirm);
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => Err(BrokerError::new(
                BrokerErrorKind::Timeout,
                format!(
                    "the broker at {} confirmed none of {} notifications within {:.1?}",
                    self.address(),
                    self.unconfirmed.len(),
                    started.elapsed()
                ),
            )),
            Err(RecvTimeoutError::Disconnected) => Err(BrokerError::new(
                BrokerErrorKind::Other,
                format!(
                    "lost the connection to {} with {} notifications unconfirmed",
                    self.address(),
                    self.unconfirmed.len()
                ),
            )),
        }
    }

    fn apply(&mut self, confirm: Confirm) {
        let (payload, acked) = match confirm {
            Confirm::Ack(payload) => (payload, true),
            Confirm::Nack(payload) => (payload, false),
        };
        let settled = if payload.multiple {
            let open = self.unconfirmed.split_off(&(payload.delivery_tag + 1));
            std::mem::replace(&mut self.unconfirmed, open)
        } else if self.unconfirmed.remove(&payload.delivery_tag) {
            BTreeSet::from([payload.delivery_tag])
        } else {
            BTreeSet::new()
        };
        if !acked {
            if let Some(&first) = settled.first() {
                self.nacked += settled.len();
                self.first_nacked = Some(self.first_nacked.map_or(first, |f| f.min(first)));
            }
        }
    }

    fn check_nacks(&self) -> Result<(), BrokerError> {
        if self.nacked == 0 {
            return Ok(());
        }
        Err(BrokerError::new(
            BrokerErrorKind::Refused,
            format!(
                "the broker at {} refused (nacked) {} notification(s): is a queue full (x-max-length with reject-publish)?",
                self.address(),
                self.nacked
            ),
        ))
    }

    /// Waits for every confirm, then closes the channels and the connection.
    pub fn finish(mut self) -> Result<(), BrokerError> {
        self.wait_for_all_confirms()?;
        drop(self.control.take());
        self.channel
            .close()
            .map_err(|e| BrokerError::amqp("closing the channel", e))?;
        self.connection.close()
    }
}
