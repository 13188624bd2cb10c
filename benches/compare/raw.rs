//! The client library's own limit: amiquip used directly, with nothing of ours on top. The
//! publisher sends ready-made bodies with the same confirm window as `oslo-notify --lines`;
//! the consumer takes deliveries with the same prefetch and batched acks as `oslo-listen`,
//! and decodes nothing; the one-shot holds the conversation a one-shot `oslo-notify` holds
//! with the broker. Each runs as a process of its own (the benchmark binary started with
//! `--raw-publish`, `--raw-consume` or `--raw-once`), measured like the tools.

use amiquip::{
    AmqpProperties, Auth, Channel, Confirm, Connection, ConnectionOptions, ConnectionTuning,
    ConsumerMessage, ConsumerOptions, FieldTable, Publish,
};
use crossbeam_channel::Receiver;
use oslo_notify::transport_url::TransportUrl;
use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The argument that makes the benchmark binary the raw publisher: URL EXCHANGE ROUTING_KEY
/// WINDOW FILE, one message body per line of FILE.
pub const PUBLISHER: &str = "--raw-publish";
/// The argument that makes the benchmark binary the raw consumer: URL QUEUE COUNT PREFETCH
/// ACK_BATCH.
pub const CONSUMER: &str = "--raw-consume";
/// The argument that makes the benchmark binary send one message as a one-shot `oslo-notify`
/// does, with amiquip directly: URL EXCHANGE ROUTING_KEY BODY.
pub const ONCE: &str = "--raw-once";

fn exit(result: Result<Duration, String>) -> ExitCode {
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("not a number: {text:?}"))
}

/// The raw publisher's process.
pub fn publisher_main(argv: &[String]) -> ExitCode {
    exit((|| {
        let [url, exchange, routing_key, window, file] = argv else {
            return Err(format!("{PUBLISHER} URL EXCHANGE ROUTING_KEY WINDOW FILE"));
        };
        let url = TransportUrl::parse(url).map_err(|e| e.to_string())?;
        let text = std::fs::read(file).map_err(|e| format!("reading {file}: {e}"))?;
        let bodies: Vec<&[u8]> = text
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .collect();
        publish(&url, exchange, routing_key, &bodies, number(window)?)
    })())
}

/// The raw consumer's process.
pub fn consumer_main(argv: &[String]) -> ExitCode {
    exit((|| {
        let [url, queue, count, prefetch, ack_batch] = argv else {
            return Err(format!("{CONSUMER} URL QUEUE COUNT PREFETCH ACK_BATCH"));
        };
        let url = TransportUrl::parse(url).map_err(|e| e.to_string())?;
        consume(
            &url,
            queue,
            number(count)?,
            number(prefetch)?,
            number(ack_batch)?,
        )
    })())
}

/// The raw one-shot's process.
pub fn once_main(argv: &[String]) -> ExitCode {
    exit((|| {
        let [url, exchange, routing_key, body] = argv else {
            return Err(format!("{ONCE} URL EXCHANGE ROUTING_KEY BODY"));
        };
        let url = TransportUrl::parse(url).map_err(|e| e.to_string())?;
        once(&url, exchange, routing_key, body.as_bytes())
    })())
}

/// Opens a connection the way a careful amiquip user would: TCP_NODELAY on, so that no
/// confirm waits on Nagle's algorithm.
pub fn connect(url: &TransportUrl) -> Result<Connection, String> {
    let host = url.hosts.first().ok_or("the URL names no host")?;
    let stream = std::net::TcpStream::connect((host.hostname.as_str(), host.port))
        .map_err(|e| format!("connecting to {}:{}: {e}", host.hostname, host.port))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("setting TCP_NODELAY: {e}"))?;
    let stream =
        mio::net::TcpStream::from_stream(stream).map_err(|e| format!("setting up: {e}"))?;
    let options = ConnectionOptions::<Auth>::default()
        .auth(Auth::Plain {
            username: host.username.clone(),
            password: host.password.clone(),
        })
        .virtual_host(url.virtual_host.clone());
    Connection::insecure_open_stream(stream, options, ConnectionTuning::default())
        .map_err(|e| format!("opening an AMQP connection: {e}"))
}

/// A connection and a channel on it.
pub fn open(url: &TransportUrl) -> Result<(Connection, Channel), String> {
    let mut connection = connect(url)?;
    let channel = connection
        .open_channel(None)
        .map_err(|e| format!("opening a channel: {e}"))?;
    Ok((connection, channel))
}

/// Whether to wait for the broker's answer to confirm.select.
#[derive(Clone, Copy)]
enum Select {
    Wait,
    NoWait,
}

/// A connection and a channel on it in confirm mode, with the receiver of its confirms.
fn open_confirming(
    url: &TransportUrl,
    select: Select,
) -> Result<(Connection, Channel, Receiver<Confirm>), String> {
    let (connection, channel) = open(url)?;
    let confirms = channel
        .listen_for_publisher_confirms()
        .map_err(|e| format!("listening for confirms: {e}"))?;
    match select {
        Select::Wait => channel.enable_publisher_confirms(),
        Select::NoWait => channel.enable_publisher_confirms_nowait(),
    }
    .map_err(|e| format!("enabling confirms: {e}"))?;
    Ok((connection, channel, confirms))
}

fn properties() -> AmqpProperties {
    AmqpProperties::default()
        .with_content_type("application/json".to_owned())
        .with_content_encoding("utf-8".to_owned())
        .with_delivery_mode(2)
}

/// Publishes `bodies` with at most `window` unconfirmed; returns the time from connecting
/// to the last confirm.
pub fn publish(
    url: &TransportUrl,
    exchange: &str,
    routing_key: &str,
    bodies: &[impl AsRef<[u8]>],
    window: usize,
) -> Result<Duration, String> {
    let started = Instant::now();
    let (connection, channel, confirms) = open_confirming(url, Select::Wait)?;
    // Delivery tags of the messages in flight, oldest first.
    let mut in_flight = VecDeque::with_capacity(window);
    let settle = |in_flight: &mut VecDeque<u64>| -> Result<(), String> {
        let confirm = confirms
            .recv()
            .map_err(|_| "the connection closed while waiting for confirms".to_owned())?;
        let payload = match confirm {
            Confirm::Ack(payload) => payload,
            Confirm::Nack(_) => return Err("the broker nacked a message".to_owned()),
        };
        if payload.multiple {
            while in_flight
                .front()
                .is_some_and(|&tag| tag <= payload.delivery_tag)
            {
                in_flight.pop_front();
            }
        } else if let Some(at) = in_flight.iter().position(|&t| t == payload.delivery_tag) {
            in_flight.remove(at);
        }
        Ok(())
    };
    for (index, body) in bodies.iter().enumerate() {
        while in_flight.len() >= window {
            settle(&mut in_flight)?;
        }
        channel
            .basic_publish(
                exchange,
                Publish::with_properties(body.as_ref(), routing_key, properties()),
            )
            .map_err(|e| format!("publishing: {e}"))?;
        in_flight.push_back(index as u64 + 1);
    }
    while !in_flight.is_empty() {
        settle(&mut in_flight)?;
    }
    let elapsed = started.elapsed();
    close(connection, channel)?;
    Ok(elapsed)
}

/// Sends one message in the conversation a one-shot `oslo-notify` has with the broker: a
/// channel put in confirm mode without waiting, the queue named by the routing key bound to
/// the exchange without waiting and checked behind it, the publish and its confirm, then the
/// connection closed with the channel in it. Returns the time from connecting to the confirm.
pub fn once(
    url: &TransportUrl,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
) -> Result<Duration, String> {
    let started = Instant::now();
    let (connection, channel, confirms) = open_confirming(url, Select::NoWait)?;
    channel
        .queue_bind_nowait(routing_key, exchange, routing_key, FieldTable::default())
        .map_err(|e| format!("binding: {e}"))?;
    channel
        .queue_declare_passive(routing_key)
        .map_err(|e| format!("checking the queue: {e}"))?;
    channel
        .basic_publish(
            exchange,
            Publish::with_properties(body, routing_key, properties()),
        )
        .map_err(|e| format!("publishing: {e}"))?;
    match confirms.recv() {
        Ok(Confirm::Ack(_)) => {}
        Ok(Confirm::Nack(_)) => return Err("the broker nacked the message".to_owned()),
        Err(_) => return Err("the connection closed before the confirm".to_owned()),
    }
    let elapsed = started.elapsed();
    // One round trip, as the tool closes: the channel goes with the connection.
    connection
        .close()
        .map_err(|e| format!("closing the connection: {e}"))?;
    drop(channel);
    Ok(elapsed)
}

/// Consumes `count` messages from `queue` with `prefetch`, acking every `ack_batch`
/// deliveries at once; returns the time from connecting to the last ack.
pub fn consume(
    url: &TransportUrl,
    queue: &str,
    count: usize,
    prefetch: u16,
    ack_batch: usize,
) -> Result<Duration, String> {
    let started = Instant::now();
    let (connection, channel) = open(url)?;
    channel
        .qos(0, prefetch, false)
        .map_err(|e| format!("setting the prefetch: {e}"))?;
    let consumer = channel
        .basic_consume(queue, ConsumerOptions::default())
        .map_err(|e| format!("consuming from {queue}: {e}"))?;
    let mut received = 0;
    let mut unacked = 0;
    let mut bytes = 0usize;
    while received < count {
        let message = consumer
            .receiver()
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| format!("no message for 60 s after {received}"))?;
        let ConsumerMessage::Delivery(delivery) = message else {
            return Err(format!("the consumer ended after {received} messages"));
        };
        bytes += delivery.body.len();
        received += 1;
        unacked += 1;
        if unacked == ack_batch || received == count {
            delivery
                .ack_multiple(&channel)
                .map_err(|e| format!("acknowledging: {e}"))?;
            unacked = 0;
        }
    }
    let elapsed = started.elapsed();
    std::hint::black_box(bytes);
    consumer
        .cancel()
        .map_err(|e| format!("cancelling the consumer: {e}"))?;
    // amiquip tells the consumer it was cancelled after `cancel` returns; dropping it before
    // then makes amiquip's I/O thread find it gone and fail the connection.
    loop {
        match consumer.receiver().recv_timeout(Duration::from_secs(5)) {
            Ok(ConsumerMessage::Delivery(_)) => continue,
            Ok(ConsumerMessage::ClientCancelled) => break,
            Ok(other) => return Err(format!("cancelling the consumer: {other:?}")),
            Err(_) => return Err("cancelling the consumer: no answer in 5 s".to_owned()),
        }
    }
    drop(consumer);
    close(connection, channel)?;
    Ok(elapsed)
}

/// Closes the channel, then the connection.
pub fn close(connection: Connection, channel: Channel) -> Result<(), String> {
    channel
        .close()
        .map_err(|e| format!("closing the channel: {e}"))?;
    connection
        .close()
        .map_err(|e| format!("closing the connection: {e}"))
}
