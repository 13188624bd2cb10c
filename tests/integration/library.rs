//! The library on its own, through its API alone: a [`Notifier`] and a
//! [`NotificationListener`] keep the tools' guarantees with no code of the caller's, through
//! a broker restart on a node of the test's own, and (run with the cluster tests) through the
//! loss of the listener's node in a three-node cluster.

use crate::common;
use crate::common::cluster::Cluster;
use crate::common::node::Node;
use oslo_notify::broker::{ConnectOptions, Durability};
use oslo_notify::envelope::Priority;
use oslo_notify::events::{Event, Observer};
use oslo_notify::transport_url::TransportUrl;
use oslo_notify::{Endpoint, Handled, Metadata, NotificationListener, Target};
use oslo_notify::{Notifier, NotifierOptions};
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Every event's line, kept for the assertions.
fn recorded(into: &Arc<Mutex<Vec<String>>>) -> Box<dyn Observer> {
    let into = Arc::clone(into);
    Box::new(move |event: Event| into.lock().unwrap().push(event.to_string()))
}

#[test]
fn a_notifier_loses_nothing_it_returned_across_a_broker_restart() {
    let node = Node::start();
    let url = TransportUrl::parse(&node.transport_url()).unwrap();
    let options = NotifierOptions {
        connect: ConnectOptions {
            timeout: Duration::from_secs(60),
            ..ConnectOptions::default()
        },
        durability: Durability::Durable,
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut notifier = Notifier::connect_with(&url, "library.test", &options, recorded(&events))
        .unwrap()
        .exchange("library")
        .topics(["survive"]);
    notifier.prepare(Priority::Info).unwrap();

    let (crash, crashing) = mpsc::channel::<()>();
    let killer = std::thread::spawn(move || {
        crashing.recv().unwrap();
        node.kill();
        node.restart();
        node
    });
    let total = 20_000;
    let mut sent = BTreeSet::new();
    let context = Map::new();
    for n in 0..total {
        if n == 4_000 {
            crash.send(()).unwrap();
        }
        if n % 1_000 == 0 {
            // Spread the stream over the restart.
            std::thread::sleep(Duration::from_millis(100));
        }
        let id = notifier
            .info(&context, "library.bulk", json!({"n": n}))
            .unwrap_or_else(|e| panic!("send {n}: {e:#}"));
        sent.insert(id);
    }
    notifier.close().unwrap();
    let node = killer.join().unwrap();

    let events = events.lock().unwrap().clone();
    assert!(
        events.iter().any(|e| e.ends_with("; reconnecting")),
        "the broker died under the notifier: {events:?}"
    );
    let broker = common::Broker::at(&node.amqp_url());
    common::assert_none_missing(&sent, &broker.drain_ids("survive.info"));
    eprintln!("{}", events.join("\n"));
}

/// Counts how many times each message_id reaches it.
struct Counter(Arc<Mutex<HashMap<String, u32>>>);

impl Endpoint for Counter {
    fn info(
        &mut self,
        _ctxt: &Map<String, Value>,
        _publisher_id: Option<&str>,
        _event_type: &str,
        _payload: &Value,
        metadata: &Metadata,
    ) -> Handled {
        *self
            .0
            .lock()
            .unwrap()
            .entry(metadata.message_id.clone())
            .or_default() += 1;
        Handled::Done
    }
}

#[test]
#[ignore = "starts a three-node cluster: scripts/test.sh runs it with the cluster tests"]
fn a_library_listener_pool_rides_through_a_crash_of_its_node() {
    let cluster = Cluster::start(3);
    let url = TransportUrl::parse(&cluster.transport_url()).unwrap();
    let (exchange, topic) = (common::unique("library"), common::unique("pool"));
    let pool = common::unique("library-pool");
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let events = Arc::new(Mutex::new(Vec::new()));
    let running = NotificationListener::new(
        url,
        vec![Target::new(exchange.clone(), topic.clone())],
        vec![Box::new(Counter(Arc::clone(&seen)))],
    )
    .pool(pool)
    .durability(Durability::Quorum)
    .connect_options(ConnectOptions {
        heartbeat: 2,
        ..ConnectOptions::default()
    })
    .observer(recorded(&events))
    .start()
    .unwrap();
    let connected = events
        .lock()
        .unwrap()
        .iter()
        .find_map(|e| e.strip_prefix("connected to 127.0.0.1:").map(str::to_owned))
        .expect("a connected event");
    let victim = cluster
        .nodes
        .iter()
        .position(|n| n.port().to_string() == connected)
        .expect("the listener's node is one of the cluster's");
    // The sender talks to the other two nodes only, so that only the listener fails over.
    let others: Vec<String> = (0..3)
        .filter(|i| *i != victim)
        .map(|i| format!("guest:guest@127.0.0.1:{}", cluster.nodes[i].port()))
        .collect();
    let sender_url = format!("rabbit://{}/", others.join(","));

    let total = 5_000;
    let lines: String = (0..total).map(|n| format!("{{\"n\": {n}}}\n")).collect();
    let middle = lines[..lines.len() / 2].rfind('\n').map_or(0, |i| i + 1);
    let (half, rest) = lines.split_at(middle);
    let send = |part: &str| {
        let run = common::notify_with_url(
            &sender_url,
            &common::route_args(
                &exchange,
                &topic,
                &[
                    "--quorum",
                    "--timeout",
                    "60",
                    "--lines",
                    "info",
                    "library.pool",
                ],
            ),
            part.as_bytes(),
        );
        assert_eq!(run.code, 0, "{run:?}");
        run.stdout
            .lines()
            .map(str::to_owned)
            .collect::<BTreeSet<_>>()
    };
    let mut sent = send(half);
    let killed = Instant::now();
    cluster.nodes[victim].kill();
    sent.extend(send(rest));
    assert_eq!(sent.len(), total, "every line confirmed");

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = seen.lock().unwrap().len();
        if got >= total || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let recovered = killed.elapsed();
    running.stop();
    running.wait().unwrap();
    let seen = seen.lock().unwrap();
    let missing: Vec<_> = sent.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {total} never reached the endpoint: {:?}; events: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)],
        events.lock().unwrap()
    );
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "handed over more than once: {twice:?}");
    let events = events.lock().unwrap();
    assert!(
        events.iter().any(|e| e.ends_with("; reconnecting")),
        "the listener lost its node: {events:?}"
    );
    eprintln!(
        "library pool: all {total} reached the endpoint once, {recovered:.1?} after the crash"
    );
}

/// A library user tells the broker's answers apart by matching the error, for the notifier
/// and the listener alike: a refused password, a missing virtual host, a closed port.
#[test]
fn the_library_fails_with_errors_a_caller_can_match() {
    use oslo_notify::broker::BrokerErrorKind;
    use oslo_notify::Error;
    let good = TransportUrl::parse(&common::transport_url()).unwrap();
    let host = &good.hosts[0];
    let (user, address) = (&host.username, host.address());
    let closed = crate::common::node::free_port();
    let cases = [
        (
            format!("rabbit://{user}:not-the-password@{address}/"),
            BrokerErrorKind::Credentials,
        ),
        (
            format!(
                "rabbit://{user}:{}@{address}/{}",
                host.password,
                common::unique("no-such-vhost")
            ),
            BrokerErrorKind::VirtualHost,
        ),
        (
            format!("rabbit://{user}:{}@127.0.0.1:{closed}/", host.password),
            BrokerErrorKind::Unreachable,
        ),
    ];
    let options = NotifierOptions {
        connect: ConnectOptions {
            timeout: Duration::from_secs(2),
            ..ConnectOptions::default()
        },
        ..NotifierOptions::default()
    };
    for (raw, kind) in cases {
        let url = TransportUrl::parse(&raw).unwrap();
        let quiet = || -> Box<dyn Observer> { Box::new(|_: Event| {}) };
        match Notifier::connect_with(&url, "library.test", &options, quiet()) {
            Err(Error::Broker(error)) => assert_eq!(error.kind(), kind, "{error}"),
            Err(other) => panic!("not a broker error: {other}"),
            Ok(_) => panic!("connected with {url}"),
        }
        let listener = NotificationListener::new(url.clone(), vec![Target::new("x", "y")], vec![])
            .connect_options(options.connect.clone())
            .observer(quiet());
        match listener.start() {
            Err(error) => {
                assert_eq!(error.broker_kind(), Some(kind), "{error}");
                assert!(!error.to_string().contains("not-the-password"), "{error}");
            }
            Ok(_) => panic!("listening with {url}"),
        }
    }
}
