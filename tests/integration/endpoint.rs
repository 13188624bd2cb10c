//! The library's `NotificationListener` against the real broker: endpoints get every
//! notification of their priority, with what an oslo endpoint gets, and pools each get all.

use crate::common;
use crate::common::node::Node;
use crate::common::{send, Broker};
use oslo_notify::transport_url::TransportUrl;
use oslo_notify::{Endpoint, Handled, Metadata, NotificationListener, Source, Target};
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Seen = Arc<Mutex<Vec<Value>>>;

/// What the endpoint got, and each one's source.
struct Recorder(Seen, Arc<Mutex<Vec<String>>>);

impl Recorder {
    fn new(seen: &Seen) -> Recorder {
        Recorder(seen.clone(), Arc::default())
    }
}

impl Recorder {
    fn record(
        &self,
        priority: &str,
        ctxt: &Map<String, Value>,
        publisher_id: Option<&str>,
        event_type: &str,
        payload: &Value,
        metadata: &Metadata,
    ) {
        self.0.lock().unwrap().push(json!({
            "priority": priority, "ctxt": ctxt, "publisher_id": publisher_id, "event_type": event_type,
            "payload": payload, "message_id": metadata.message_id,
        }));
        self.1.lock().unwrap().push(metadata.source.clone());
    }
}

impl Endpoint for Recorder {
    fn info(
        &mut self,
        c: &Map<String, Value>,
        p: Option<&str>,
        e: &str,
        x: &Value,
        m: &Metadata,
    ) -> Handled {
        self.record("info", c, p, e, x, m);
        Handled::Done
    }
    fn critical(
        &mut self,
        c: &Map<String, Value>,
        p: Option<&str>,
        e: &str,
        x: &Value,
        m: &Metadata,
    ) -> Handled {
        self.record("critical", c, p, e, x, m);
        Handled::Done
    }
}

fn wait_for(seen: &Seen, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().len() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    seen.lock().unwrap().clone()
}

#[test]
fn endpoints_get_what_oslo_endpoints_get_and_each_pool_gets_everything() {
    let mut broker = Broker::new();
    let (exchange, topic) = (broker.exchange_name(), broker.topic_name());
    let (pool_a, pool_b) = (common::unique("pool-a"), common::unique("pool-b"));
    broker.forget_queue(&pool_a);
    broker.forget_queue(&pool_b);
    let url = TransportUrl::parse(&common::transport_url()).unwrap();
    let target = || vec![Target::new(exchange.clone(), topic.clone())];
    let (seen_a, seen_b): (Seen, Seen) = Default::default();
    let a = NotificationListener::new(
        url.clone(),
        target(),
        vec![Box::new(Recorder::new(&seen_a))],
    )
    .pool(pool_a)
    .start()
    .unwrap();
    let b = NotificationListener::new(url, target(), vec![Box::new(Recorder::new(&seen_b))])
        .pool(pool_b)
        .start()
        .unwrap();

    let first = send(
        &exchange,
        &topic,
        &[
            "--context",
            r#"{"user": "u1"}"#,
            "info",
            "compute.instance.exists",
            r#"{"id": 1}"#,
        ],
    );
    send(
        &exchange,
        &topic,
        &["debug", "ignored.by.the.endpoint", "{}"],
    );
    let second = send(
        &exchange,
        &topic,
        &["critical", "compute.instance.crashed", "[1, 2]"],
    );

    for seen in [&seen_a, &seen_b] {
        let got = wait_for(seen, 2);
        assert_eq!(
            got,
            [
                json!({"priority": "info", "ctxt": {"user": "u1"}, "publisher_id": "compute.h1",
                       "event_type": "compute.instance.exists", "payload": {"id": 1}, "message_id": first}),
                json!({"priority": "critical", "ctxt": {}, "publisher_id": "compute.h1",
                       "event_type": "compute.instance.crashed", "payload": [1, 2], "message_id": second}),
            ]
        );
    }
    a.stop();
    b.stop();
    a.wait().unwrap();
    b.wait().unwrap();
}

#[test]
fn a_listener_of_several_brokers_says_which_each_notification_came_from() {
    let node = Node::start();
    let mut broker = Broker::new();
    let (exchange, topic) = (broker.exchange_name(), broker.topic_name());
    let sources = vec![
        Source::named(
            "main",
            TransportUrl::parse(&common::transport_url()).unwrap(),
        ),
        Source::named("side", TransportUrl::parse(&node.transport_url()).unwrap()),
    ];
    let seen: Seen = Seen::default();
    let recorder = Recorder::new(&seen);
    let labels = Arc::clone(&recorder.1);
    let target = vec![Target::new(exchange.clone(), topic.clone())];
    let running = NotificationListener::with_sources(sources, target, vec![Box::new(recorder)])
        .start()
        .unwrap();
    let on = |url: &str, event_type: &str| {
        let args = common::route_args(&exchange, &topic, &["info", event_type, "{}"]);
        let run = common::notify_with_url(url, &args, b"");
        assert_eq!(run.code, 0, "{run:?}");
    };
    on(&common::transport_url(), "from.main");
    on(&node.transport_url(), "from.side");
    let got = wait_for(&seen, 2);
    let mut pairs: Vec<(String, String)> = got
        .iter()
        .map(|v| v["event_type"].as_str().unwrap().to_owned())
        .zip(labels.lock().unwrap().iter().cloned())
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("from.main".to_owned(), "main".to_owned()),
            ("from.side".to_owned(), "side".to_owned())
        ]
    );
    running.stop();
    running.wait().unwrap();
}
