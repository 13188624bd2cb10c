//! Interop with the reference Python oslo.messaging, in both directions, against the real
//! broker: `tests/integration/peer.py` run by the python of the virtualenv that
//! `scripts/ensure-oslo-venv.sh` makes (its path in `OSLO_PEER_PYTHON`).
//!
//! These tests are `#[ignore]`d so that a plain `cargo test` needs no Python;
//! `scripts/test.sh` runs them with `cargo test --test interop -- --ignored`.

use crate::common;
use crate::common::{listen, notify, Broker};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn python() -> String {
    std::env::var("OSLO_PEER_PYTHON").expect(
        "OSLO_PEER_PYTHON names the virtualenv's python (scripts/ensure-oslo-venv.sh prints it)",
    )
}

fn peer_script() -> String {
    format!("{}/tests/integration/peer.py", env!("CARGO_MANIFEST_DIR"))
}

/// The notifier methods oslo has, and the priority each sends.
const METHODS: [(&str, &str); 8] = [
    ("audit", "audit"),
    ("debug", "debug"),
    ("info", "info"),
    ("warn", "warn"),
    ("warning", "warn"),
    ("error", "error"),
    ("critical", "critical"),
    ("sample", "sample"),
];

/// A request context as `oslo_context.RequestContext` takes it, with a secret beside.
fn request_context() -> Value {
    json!({
        "user_id": "d93941d832cd40aca0ed01795d9418cb",
        "project_id": "140d9f9ff9674c7fa93bd02ac9e9fda8",
        "request_id": "req-3f2a1f5e-1111-2222-3333-444455556666",
        "roles": ["member", "reader"],
        "auth_token": "gAAAAABsecret-token",
        "service_password": "hunter2",
    })
}

/// One notification to send: (method, event_type, payload, with a context?).
fn notifications(driver: &str) -> Vec<(&'static str, String, Value, bool)> {
    let mut all: Vec<_> = METHODS
        .iter()
        .map(|(method, _)| {
            (
                *method,
                format!("{driver}.{method}"),
                json!({"priority_was": method}),
                true,
            )
        })
        .collect();
    let payloads = [
        (
            "unicode",
            json!({"name": "vm-\u{e9}-\u{65e5}\u{672c}-\u{1f680}", "quote": "he said \"hi\"\n"}),
        ),
        ("big", json!({"blob": "x".repeat(1_000_000)})),
        ("string", json!("{\"heavy\": \"payload\"}")),
        ("list", json!([1, 2.5, null, true, "four"])),
        ("number", json!(123456789012345678_u64)),
        ("null", Value::Null),
        ("versioned", versioned_payload()),
    ];
    for (name, payload) in payloads {
        all.push((
            "info",
            format!("{driver}.payload.{name}"),
            payload,
            name == "unicode",
        ));
    }
    all
}

/// A Nova versioned notification payload (an oslo.versionedobjects primitive).
fn versioned_payload() -> Value {
    json!({
        "nova_object.name": "InstanceActionPayload",
        "nova_object.namespace": "nova",
        "nova_object.version": "1.8",
        "nova_object.data": {
            "uuid": "8415760e-1ce1-405f-96e8-4180c08112d0",
            "state": "active",
            "flavor": {
                "nova_object.name": "FlavorPayload",
                "nova_object.namespace": "nova",
                "nova_object.version": "1.4",
                "nova_object.data": {"flavorid": "42", "memory_mb": 64, "vcpus": 1}
            },
            "fault": null
        }
    })
}

fn priority_of(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, p)| *p)
        .unwrap()
}

/// A running `peer.py listen`.
struct PeerListener {
    child: Child,
}

impl PeerListener {
    fn start(exchange: &str, topics: &[&str], extra: &[&str]) -> PeerListener {
        let mut command = Command::new(python());
        command.arg(peer_script()).arg("listen").args([
            "--url",
            &common::transport_url(),
            "--exchange",
            exchange,
        ]);
        for topic in topics {
            command.args(["--topic", topic]);
        }
        let mut child = command
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the peer runs");
        let stderr = common::read_lines(child.stderr.take().unwrap());
        let mut said = Vec::new();
        let ready = "peer listener ready";
        common::wait_for_line(&stderr, &mut said, ready, Duration::from_secs(60));
        PeerListener { child }
    }

    /// What its endpoints got, once it has stopped (on its count, idle time or timeout).
    fn finish(self) -> Vec<Value> {
        let output = self.child.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Sends `cases` with the Python Notifier; returns the context each will carry, by event_type.
fn peer_send(exchange: &str, cases: &Value) -> BTreeMap<String, Value> {
    let mut child = Command::new(python())
        .arg(peer_script())
        .args([
            "send",
            "--url",
            &common::transport_url(),
            "--exchange",
            exchange,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the peer runs");
    let input = cases.to_string();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["event_type"].as_str().unwrap().to_owned(),
                v["context"].clone(),
            )
        })
        .collect()
}

fn masked(context: &Value) -> Value {
    match context.as_object() {
        Some(map) => Value::Object(oslo_notify::mask::mask_dict(map)),
        None => context.clone(),
    }
}

#[test]
#[ignore = "needs the Python peer: scripts/test.sh runs it"]
fn python_notifier_to_oslo_listen_in_every_mode() {
    let mut broker = Broker::new();
    let exchange = broker.exchange_name();
    let (t1, t2) = (broker.topic_name(), broker.topic_name());
    let pool = common::unique("pool");
    broker.forget_queue(&pool);
    let mut cases = Vec::new();
    let mut expected = BTreeMap::new();
    for driver in ["messagingv2", "messaging"] {
        for (method, event_type, payload, with_context) in notifications(driver) {
            cases.push(json!({
                "driver": driver, "topics": [t1, t2], "publisher_id": format!("compute.{driver}"),
                "method": method, "event_type": event_type, "payload": payload,
                "context": if with_context { request_context() } else { Value::Null },
            }));
            expected.insert(
                event_type,
                (priority_of(method), format!("compute.{driver}"), payload),
            );
        }
    }
    let total = (expected.len() * 2).to_string();
    let topics = common::route_args(
        exchange.as_str(),
        t1.as_str(),
        &[
            "--topic",
            t2.as_str(),
            "--json",
            "--count",
            &total,
            "--timeout",
            "120",
        ],
    );
    let tap = listen(&topics);
    let pooled = listen(&[&topics[..], &["--pool", &pool]].concat());

    let contexts = peer_send(&exchange, &Value::Array(cases));
    let shared = listen(&[&topics[..], &["--shared"]].concat());

    for (mode, run) in [
        ("tap", tap.finish()),
        ("pool", pooled.finish()),
        ("shared", shared.finish()),
    ] {
        assert_eq!(run.code, 0, "{mode}: {}", run.stderr);
        let mut seen = BTreeSet::new();
        let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in run
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
        {
            let event_type = line["event_type"].as_str().unwrap().to_owned();
            let (priority, publisher_id, payload) = &expected[&event_type];
            assert_eq!(line["priority"], *priority, "{mode} {event_type}");
            assert_eq!(
                line["publisher_id"],
                publisher_id.as_str(),
                "{mode} {event_type}"
            );
            assert_eq!(&line["payload"], payload, "{mode} {event_type}");
            assert_eq!(
                line["context"],
                masked(&contexts[&event_type]),
                "{mode} {event_type}"
            );
            assert_eq!(line["exchange"], exchange.as_str());
            let routing_key = line["routing_key"].as_str().unwrap().to_owned();
            assert!(
                routing_key.ends_with(&format!(".{priority}")),
                "{routing_key}"
            );
            assert!(
                seen.insert((event_type.clone(), routing_key)),
                "{mode}: {event_type} twice"
            );
            ids.entry(event_type)
                .or_default()
                .push(line["metadata"]["message_id"].as_str().unwrap().to_owned());
        }
        assert_eq!(
            seen.len(),
            expected.len() * 2,
            "{mode}: one copy per topic of each"
        );
        for (event_type, ids) in ids {
            assert!(
                ids.len() == 2 && ids[0] == ids[1],
                "{mode} {event_type}: one message_id for both topics"
            );
        }
        assert!(!run.stdout.contains("hunter2"), "{mode}: secrets masked");
    }
}

#[test]
#[ignore = "needs the Python peer: scripts/test.sh runs it"]
fn oslo_notify_to_python_listeners_with_and_without_pools_and_filters() {
    let mut broker = Broker::new();
    let exchange = broker.exchange_name();
    let (t1, t2) = (broker.topic_name(), broker.topic_name());
    let (pool_b, pool_c) = (common::unique("pool-b"), common::unique("pool-c"));
    broker.forget_queue(&pool_b);
    broker.forget_queue(&pool_c);
    let topics = [t1.as_str(), t2.as_str()];
    let mut sent = Vec::new();
    for driver in ["messagingv2", "messaging"] {
        for (method, event_type, payload, with_context) in notifications(driver) {
            sent.push((driver, method, event_type, payload, with_context));
        }
    }
    let total = (sent.len() * 2).to_string();
    let filtered = (sent.iter().filter(|s| s.0 == "messagingv2").count() * 2).to_string();
    let plain = PeerListener::start(&exchange, &topics, &["--count", &total, "--timeout", "120"]);
    let pooled = PeerListener::start(
        &exchange,
        &topics,
        &["--pool", &pool_b, "--count", &total, "--timeout", "120"],
    );
    let filter = PeerListener::start(
        &exchange,
        &topics,
        &[
            "--pool",
            &pool_c,
            "--event-type",
            "^messagingv2\\.",
            "--count",
            &filtered,
            "--timeout",
            "120",
        ],
    );

    // What a Python service's RequestContext puts on the wire, secret included.
    let context = json!({
        "user": "u1", "project_id": "p1", "request_id": "req-1", "roles": ["admin"],
        "auth_token": null, "service_password": "hunter2", "is_admin": false,
    });
    let mut expected = BTreeMap::new();
    for (driver, method, event_type, payload, with_context) in &sent {
        let payload_text = payload.to_string();
        let context_text = context.to_string();
        let mut args = common::route_args(
            exchange.as_str(),
            t1.as_str(),
            &[
                "--topic",
                t2.as_str(),
                "--driver",
                driver,
                "--publisher-id",
                "compute.rust",
                method,
                event_type.as_str(),
                "-",
            ],
        );
        if *with_context {
            args.splice(0..0, ["--context", context_text.as_str()]);
        }
        let run = notify(&args, payload_text.as_bytes());
        assert_eq!(run.code, 0, "{run:?}");
        let ctxt = if *with_context {
            context.clone()
        } else {
            json!({})
        };
        expected.insert(
            event_type.clone(),
            (
                priority_of(method),
                payload.clone(),
                ctxt,
                run.stdout.trim().to_owned(),
            ),
        );
    }

    for (name, got, wanted) in [
        ("no pool", plain.finish(), None),
        ("pool", pooled.finish(), None),
        ("pool with filter", filter.finish(), Some("messagingv2.")),
    ] {
        let mut copies: BTreeMap<String, usize> = BTreeMap::new();
        for line in &got {
            let event_type = line["event_type"].as_str().unwrap();
            if let Some(prefix) = wanted {
                assert!(
                    event_type.starts_with(prefix),
                    "{name}: the filter let {event_type} through"
                );
            }
            let (priority, payload, ctxt, id) = &expected[event_type];
            assert_eq!(line["priority"], *priority, "{name} {event_type}");
            assert_eq!(line["publisher_id"], "compute.rust", "{name} {event_type}");
            assert_eq!(&line["payload"], payload, "{name} {event_type}");
            let mut received = line["ctxt"].clone();
            // oslo's unpack_context adds the RPC timeout, None for notifications.
            assert_eq!(
                received.as_object_mut().unwrap().remove("client_timeout"),
                Some(Value::Null)
            );
            assert_eq!(&received, ctxt, "{name} {event_type}");
            assert_eq!(
                line["metadata"]["message_id"],
                id.as_str(),
                "{name} {event_type}"
            );
            assert_eq!(
                line["metadata"]["timestamp"].as_str().unwrap().len(),
                26,
                "{name} {event_type}"
            );
            *copies.entry(event_type.to_owned()).or_default() += 1;
        }
        let want = expected
            .keys()
            .filter(|e| wanted.is_none_or(|p| e.starts_with(p)))
            .count();
        assert_eq!(copies.len(), want, "{name}: {copies:?}");
        assert!(
            copies.values().all(|&n| n == 2),
            "{name}: one per topic: {copies:?}"
        );
    }
}

#[test]
#[ignore = "needs the Python peer: scripts/test.sh runs it"]
fn a_shared_queue_is_shared_with_python_and_pools_each_get_everything() {
    let mut broker = Broker::new();
    let exchange = broker.exchange_name();
    let topic = broker.topic_name();
    let (ours, theirs) = (common::unique("pool-ours"), common::unique("pool-theirs"));
    broker.forget_queue(&ours);
    broker.forget_queue(&theirs);
    let base = common::route_args(
        exchange.as_str(),
        topic.as_str(),
        &["--priority", "info", "--json"],
    );

    let python_shared = PeerListener::start(
        &exchange,
        &[&topic],
        &["--idle", "3", "--timeout", "60", "--delay", "0.01"],
    );
    let rust_shared = listen(&[&base[..], &["--shared", "--timeout", "8"]].concat());
    let python_pool = PeerListener::start(
        &exchange,
        &[&topic],
        &["--pool", &theirs, "--count", "60", "--timeout", "60"],
    );
    let rust_pool = listen(
        &[
            &base[..],
            &["--pool", &ours, "--count", "60", "--timeout", "60"],
        ]
        .concat(),
    );

    let lines: String = (0..60).map(|i| format!("{{\"n\": {i}}}\n")).collect();
    let run = notify(
        &common::route_args(&exchange, &topic, &["--lines", "info", "shared.test"]),
        lines.as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let sent: BTreeSet<String> = run.lines().iter().map(|s| s.to_string()).collect();
    assert_eq!(sent.len(), 60);

    let ids_of_rust = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["metadata"]["message_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let ids_of_python = |got: &[Value]| -> Vec<String> {
        got.iter()
            .map(|l| l["metadata"]["message_id"].as_str().unwrap().to_owned())
            .collect()
    };

    let (rust, python) = (rust_shared.finish(), python_shared.finish());
    assert_eq!(rust.code, 0, "{rust:?}");
    let mut together = ids_of_rust(&rust.stdout);
    let rust_count = together.len();
    together.extend(ids_of_python(&python));
    eprintln!(
        "shared queue: oslo-listen printed {rust_count}, the Python listener {}",
        together.len() - rust_count
    );
    let unique: BTreeSet<String> = together.iter().cloned().collect();
    assert_eq!(
        together.len(),
        60,
        "each exactly once between them ({rust_count} by oslo-listen)"
    );
    assert_eq!(unique, sent);

    let (rust, python) = (rust_pool.finish(), python_pool.finish());
    assert_eq!(rust.code, 0, "{rust:?}");
    assert_eq!(
        ids_of_rust(&rust.stdout)
            .into_iter()
            .collect::<BTreeSet<_>>(),
        sent,
        "our pool got all"
    );
    assert_eq!(
        ids_of_python(&python).into_iter().collect::<BTreeSet<_>>(),
        sent,
        "their pool got all"
    );
}
