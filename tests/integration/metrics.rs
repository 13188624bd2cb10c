//! `oslo-listen --metrics`: scraped by a real Prometheus (a test's own, every second) after
//! known traffic, asked through its HTTP API; the scraped text linted by promtool; every
//! query of the Grafana dashboard answered; the cap on label sets under 20,000 event types;
//! a broker restart in `up` and `connections_total`.

use crate::common::node::Node;
use crate::common::prometheus::{get, Prometheus, Sample};
use crate::common::{listen, listen_on, scratch, Broker, Listening};
use chrono::{Duration as Span, NaiveDateTime, Utc};
use oslo_notify::envelope::{new_unique_id, Format, Notification, Priority};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// A Nova versioned payload as Nova documents it: an InstanceActionPayload with its flavor,
/// and a list of IP addresses, each an object of its own.
fn instance_payload(uuid: &str, state: &str) -> Value {
    let object = |name: &str, version: &str, data: Value| {
        json!({
            "nova_object.name": name,
            "nova_object.namespace": "nova",
            "nova_object.version": version,
            "nova_object.data": data,
        })
    };
    object(
        "InstanceActionPayload",
        "1.8",
        json!({
            "uuid": uuid,
            "display_name": "vm-metrics",
            "host": "compute-1",
            "node": "compute-1.example.org",
            "state": state,
            "task_state": null,
            "power_state": "running",
            "tenant_id": "6f70656e737461636b20342065766572",
            "user_id": "fake",
            "flavor": object("FlavorPayload", "1.4", json!({
                "flavorid": "a22d5517-147c-4147-a0d1-e698df5cd4e3",
                "name": "test_flavor", "memory_mb": 512, "vcpus": 1, "root_gb": 1,
                "extra_specs": {"hw:watchdog_action": "disabled"}
            })),
            "ip_addresses": [object("IpPayload", "1.0", json!({
                "address": "192.168.1.3", "version": 4, "label": "private",
                "mac": "fa:16:3e:4c:2c:30", "port_uuid": "ce531f90-199f-48c0-816c-13e38010b442",
                "meta": {}, "device_name": "tapce531f90-19"
            }))],
            "fault": null,
        }),
    )
}

/// An oslo message body with every field chosen, and a Nova request context.
fn body(
    priority: Priority,
    event_type: &str,
    publisher: &str,
    payload: Value,
    at: NaiveDateTime,
) -> Vec<u8> {
    let mut n = Notification::new(priority, event_type, payload);
    n.publisher_id = Some(publisher.to_owned());
    n.timestamp = at.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    n.context.insert(
        "request_id".into(),
        json!(format!("req-{}", uuid::Uuid::new_v4())),
    );
    n.context
        .insert("auth_token".into(), json!("gAAAAABlsecret"));
    n.context
        .insert("roles".into(), json!(["member", "reader"]));
    n.encode(Format::V2, &new_unique_id()).unwrap()
}

/// The exporter's address, from the line it says at the start.
fn served_at(listener: &mut Listening) -> String {
    let line = listener.wait_for_stderr("serving metrics on http://");
    let start = line.find("http://").unwrap() + "http://".len();
    line[start..].trim_end_matches("/metrics").to_owned()
}

/// The value of the one series `promql` answers with.
fn one(samples: &[Sample]) -> f64 {
    assert_eq!(samples.len(), 1, "{samples:?}");
    samples[0].1
}

/// Each answer's value by the value of one of its labels.
fn by(samples: &[Sample], label: &str) -> BTreeMap<String, f64> {
    samples
        .iter()
        .map(|(labels, value)| (labels[label].clone(), *value))
        .collect()
}

#[test]
fn prometheus_reads_exact_counts_durations_operations_queues_and_the_dashboard() {
    let (mut broker, exchange, topic) = scratch();
    // The shared queues, as a notifier declares them: nobody reads them in this run.
    let (info, error) = (format!("{topic}.info"), format!("{topic}.error"));
    broker.declare_exchange(&exchange, false);
    for queue in [&info, &error] {
        broker.declare_bound_queue(&exchange, queue, false, Default::default());
    }
    let pool = crate::common::unique("metrics-pool");
    broker.forget_queue(&pool);
    let mut listener = listen(&[
        "--exchange",
        &exchange,
        "--topic",
        &topic,
        "--pool",
        &pool,
        "--format",
        "none",
        "--metrics",
        "127.0.0.1:0",
        "--stale",
        "4",
    ]);
    let address = served_at(&mut listener);
    let prometheus = Prometheus::scraping(&[&address]);
    let on = |name: &str| format!("{name}{{exchange=\"{exchange}\"}}");
    prometheus.wait_for_value("oslo_listen_up", 1.0);

    let now = Utc::now().naive_utc();
    let publisher = "nova-compute:compute-1";
    let mut infos = Vec::new();
    let mut errors = Vec::new();
    // Six boots that end, in two halves (so that rates are seen), durations 0.5 s to 45 s.
    let ends = [0.5, 1.2, 3.0, 7.5, 20.0, 45.0];
    let boot = |i: usize, took: f64, infos: &mut Vec<Vec<u8>>| {
        let uuid = format!("00000000-0000-0000-0000-00000000000{i}");
        let start = now - Span::seconds(60);
        let end = start + Span::milliseconds((took * 1000.0) as i64);
        infos.push(body(
            Priority::Info,
            "instance.create.start",
            publisher,
            instance_payload(&uuid, "building"),
            start,
        ));
        infos.push(body(
            Priority::Info,
            "instance.create.end",
            publisher,
            instance_payload(&uuid, "active"),
            end,
        ));
    };
    for (i, took) in ends.iter().enumerate().take(3) {
        boot(i, *took, &mut infos);
    }
    broker.publish_many(&exchange, &info, &infos);
    let ended = format!(
        "oslo_listen_notifications_total{{exchange=\"{exchange}\",event_type=\"instance.create.end\"}}"
    );
    prometheus.wait_for_value(&ended, 3.0);
    infos.clear();
    for (i, took) in ends.iter().enumerate().skip(3) {
        boot(i, *took, &mut infos);
    }
    // Two that fail after 2 s and 4 s.
    for (i, took) in [2, 4].iter().enumerate() {
        let uuid = format!("10000000-0000-0000-0000-00000000000{i}");
        let start = now - Span::seconds(30);
        infos.push(body(
            Priority::Info,
            "instance.create.start",
            publisher,
            instance_payload(&uuid, "building"),
            start,
        ));
        errors.push(body(
            Priority::Error,
            "instance.create.error",
            publisher,
            instance_payload(&uuid, "error"),
            start + Span::seconds(*took),
        ));
    }
    // Three deletes that never end: two started an hour ago, one now (stale in 4 s).
    for (i, age) in [3600, 3600, 0].iter().enumerate() {
        let uuid = format!("20000000-0000-0000-0000-00000000000{i}");
        infos.push(body(
            Priority::Info,
            "instance.delete.start",
            publisher,
            instance_payload(&uuid, "active"),
            now - Span::seconds(*age),
        ));
    }
    // Four audits from the legacy notifier; one of them delivered twice.
    for i in 0..4 {
        let payload = json!({"instance_id": format!("30000000-{i}"), "audit_period_beginning": "2026-12-05 00:00:00"});
        infos.push(body(
            Priority::Info,
            "compute.instance.exists",
            "compute.compute-1",
            payload,
            now,
        ));
    }
    let twice = infos.last().unwrap().clone();
    infos.push(twice);
    infos.push(b"this is not a notification".to_vec());
    broker.publish_many(&exchange, &info, &infos);
    broker.publish_many(&exchange, &error, &errors);

    let counts = prometheus.wait_for(&on("oslo_listen_notifications_total"), WAIT, |answer| {
        answer.iter().map(|(_, v)| v).sum::<f64>() == 23.0
    });
    let mut want = BTreeMap::new();
    for (event, priority, service, count) in [
        ("instance.create.start", "info", "nova-compute", 8.0),
        ("instance.create.end", "info", "nova-compute", 6.0),
        ("instance.create.error", "error", "nova-compute", 2.0),
        ("instance.delete.start", "info", "nova-compute", 3.0),
        ("compute.instance.exists", "info", "compute", 4.0),
    ] {
        want.insert(
            (event.to_owned(), priority.to_owned(), service.to_owned()),
            count,
        );
    }
    let got: BTreeMap<(String, String, String), f64> = counts
        .iter()
        .map(|(l, v)| {
            assert_eq!(l["source"], "default");
            (
                (
                    l["event_type"].clone(),
                    l["priority"].clone(),
                    l["service"].clone(),
                ),
                *v,
            )
        })
        .collect();
    assert_eq!(got, want);

    let histogram = |part: &str, outcome: &str| {
        one(&prometheus.query(&format!(
            "oslo_listen_operation_duration_seconds_{part}{{operation=\"instance.create\",outcome=\"{outcome}\"}}"
        )))
    };
    assert_eq!(histogram("count", "end"), 6.0);
    assert!((histogram("sum", "end") - 77.2).abs() < 1e-6);
    assert_eq!(histogram("count", "error"), 2.0);
    assert!((histogram("sum", "error") - 6.0).abs() < 1e-6);
    let buckets: Vec<(f64, f64)> = by(
        &prometheus.query("oslo_listen_operation_duration_seconds_bucket{operation=\"instance.create\",outcome=\"end\"}"),
        "le",
    )
    .into_iter()
    .map(|(le, n)| (le.parse::<f64>().unwrap(), n))
    .collect();
    for (le, n) in [
        (0.25, 0.0),
        (0.5, 1.0),
        (1.0, 1.0),
        (2.5, 2.0),
        (5.0, 3.0),
        (10.0, 4.0),
        (30.0, 5.0),
        (60.0, 6.0),
        (1800.0, 6.0),
        (f64::INFINITY, 6.0),
    ] {
        let got = buckets.iter().find(|(l, _)| *l == le).map(|(_, n)| *n);
        assert_eq!(got, Some(n), "le={le}: {buckets:?}");
    }
    assert_eq!(buckets.len(), 17, "sixteen bounds and +Inf: {buckets:?}");

    let in_flight = by(
        &prometheus.query("oslo_listen_operations_in_flight"),
        "operation",
    );
    assert_eq!(
        in_flight.get("instance.delete"),
        Some(&3.0),
        "{in_flight:?}"
    );
    assert_eq!(
        in_flight.get("instance.create"),
        Some(&0.0),
        "{in_flight:?}"
    );
    // The two of an hour ago at once; the third once it is four seconds old.
    prometheus.wait_for_value(
        "oslo_listen_operations_stale_total{operation=\"instance.delete\"}",
        3.0,
    );
    prometheus.wait_for_value(
        "oslo_listen_operations_stale_total{operation=\"instance.create\"}",
        0.0,
    );

    // Read every five seconds: what waits in the shared queues nobody reads.
    prometheus.wait_for_value(
        &format!("oslo_listen_queue_messages{{queue=\"{info}\"}}"),
        23.0,
    );
    prometheus.wait_for_value(
        &format!("oslo_listen_queue_messages{{queue=\"{error}\"}}"),
        2.0,
    );
    prometheus.wait_for_value(
        &format!("oslo_listen_queue_consumers{{queue=\"{info}\"}}"),
        0.0,
    );

    for (name, want) in [
        ("up", 1.0),
        ("connections_total", 1.0),
        ("poison_total", 1.0),
        ("duplicates_total", 1.0),
        ("series_dropped_total", 0.0),
    ] {
        let answer = prometheus.query(&format!("oslo_listen_{name}"));
        assert_eq!(one(&answer), want, "oslo_listen_{name}");
    }
    let last = one(&prometheus.query("time() - oslo_listen_last_notification_timestamp_seconds"));
    assert!((0.0..120.0).contains(&last), "{last}");
    let build = prometheus.query("oslo_listen_build_info");
    assert_eq!(build[0].0["version"], env!("CARGO_PKG_VERSION"));

    // What Prometheus read, in both formats, is what promtool finds nothing wrong with.
    let (status, text) = get(&address, "/metrics", None);
    assert_eq!(status, 200);
    promtool_finds_nothing(&text);
    let (status, openmetrics) = get(
        &address,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0"),
    );
    assert_eq!(status, 200);
    assert!(openmetrics.ends_with("# EOF\n"));
    let (status, page) = get(&address, "/", None);
    assert_eq!((status, page.contains("/metrics")), (200, true));
    assert_eq!(get(&address, "/nothing", None).0, 404);

    every_dashboard_query_answers(&prometheus);
    drop(listener);
}

/// `promtool check metrics` on `text`: exit 0, nothing said.
fn promtool_finds_nothing(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );
}

/// Every query of the Grafana dashboard, its variables given values as Grafana would, has an
/// answer with data on this Prometheus.
fn every_dashboard_query_answers(prometheus: &Prometheus) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/oslo-listen-dashboard.json"
    );
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut asked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let promql = expr
                .replace("$__rate_interval", "1m")
                .replace("$source", ".*");
            prometheus.wait_for(&promql, WAIT, |answer| !answer.is_empty());
            asked += 1;
        }
    }
    let variable = &dashboard["templating"]["list"][1];
    assert_eq!(
        variable["definition"],
        "label_values(oslo_listen_up, source)"
    );
    assert!(asked >= 12, "{asked}");
}

#[test]
fn at_most_the_cap_of_label_sets_under_twenty_thousand_event_types() {
    let (mut broker, exchange, topic) = scratch();
    let mut listener = listen(&[
        "--exchange",
        &exchange,
        "--topic",
        &topic,
        "--format",
        "none",
        "--metrics",
        "127.0.0.1:0",
    ]);
    let address = served_at(&mut listener);
    let prometheus = Prometheus::scraping(&[&address]);
    let now = Utc::now().naive_utc();
    let bodies: Vec<Vec<u8>> = (0..20_000)
        .map(|i| {
            body(
                Priority::Info,
                &format!("test.event.{i}"),
                "svc.h",
                json!({"i": i}),
                now,
            )
        })
        .collect();
    broker.publish_many(&exchange, &format!("{topic}.info"), &bodies);
    prometheus.wait_for_value("oslo_listen_series_dropped_total", 10_000.0);
    prometheus.wait_for_value("count(oslo_listen_notifications_total)", 10_000.0);
    prometheus.wait_for_value("sum(oslo_listen_notifications_total)", 10_000.0);
    // More of those that exist are counted; no new one appears; none goes.
    broker.publish_many(&exchange, &format!("{topic}.info"), &bodies[..10]);
    // (The first ones sent were the first to arrive: they have label sets.)
    prometheus.wait_for_value("sum(oslo_listen_notifications_total)", 10_010.0);
    prometheus.wait_for_value("count(oslo_listen_notifications_total)", 10_000.0);
    // The scrape itself stayed whole.
    prometheus.wait_for_value("up{job=\"oslo-listen\"}", 1.0);
}

#[test]
fn a_broker_restart_shows_in_up_and_connections_and_no_counter_goes_back() {
    let node = Node::start();
    let mut broker = Broker::at(&node.amqp_url());
    let (exchange, topic) = (broker.exchange_name(), broker.topic_name());
    let mut listener = listen_on(
        &node.transport_url(),
        &[
            "--exchange",
            &exchange,
            "--topic",
            &topic,
            "--shared",
            "--durable",
            "--format",
            "none",
            "--metrics",
            "127.0.0.1:0",
        ],
        true,
    );
    let address = served_at(&mut listener);
    let prometheus = Prometheus::scraping(&[&address]);
    let now = Utc::now().naive_utc();
    let send = |broker: &mut Broker, n: usize| {
        let bodies: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                body(
                    Priority::Info,
                    "instance.power_off.end",
                    "nova-compute:c1",
                    instance_payload("i", "stopped"),
                    now,
                )
            })
            .collect();
        broker.publish_many(&exchange, &format!("{topic}.info"), &bodies);
    };
    send(&mut broker, 5);
    prometheus.wait_for_value("sum(oslo_listen_notifications_total)", 5.0);
    prometheus.wait_for_value("oslo_listen_up", 1.0);
    prometheus.wait_for_value("oslo_listen_connections_total", 1.0);

    drop(broker);
    node.stop_app();
    prometheus.wait_for_value("oslo_listen_up", 0.0);
    node.start_app();
    prometheus.wait_for_value("oslo_listen_up", 1.0);
    // Once more at least (a node that is stopping may take one more connection before it
    // goes), and never less.
    prometheus.wait_for("oslo_listen_connections_total", WAIT, |answer| {
        answer.len() == 1 && answer[0].1 >= 2.0
    });
    let mut broker = Broker::at(&node.amqp_url());
    send(&mut broker, 7);
    prometheus.wait_for_value("sum(oslo_listen_notifications_total)", 12.0);
    // Across the whole run, no counter of the exporter went back.
    for counter in [
        "notifications",
        "connections",
        "poison",
        "duplicates",
        "series_dropped",
    ] {
        let promql = format!("resets(oslo_listen_{counter}_total[10m])");
        let answer = prometheus.query(&promql);
        assert!(
            !answer.is_empty() && answer.iter().all(|(_, v)| *v == 0.0),
            "{promql}: {answer:?}"
        );
    }
    drop(listener);
}

#[test]
fn the_readmes_alert_rules_are_rules_promtool_accepts() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("```yaml\ngroups:")
        .expect("the README's alert rules")
        + "```yaml\n".len();
    let rules = &readme[start..start + readme[start..].find("```").unwrap()];
    let path = std::env::temp_dir().join(format!("oslo-notify-rules-{}.yml", uuid::Uuid::new_v4()));
    std::fs::write(&path, rules).unwrap();
    let output = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&path)
        .output()
        .expect("promtool runs");
    let _ = std::fs::remove_file(&path);
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains("SUCCESS: 4 rules found"), "{said}");
}

/// The samples of a scrape whose names start with `name`, with their labels as written.
fn scraped(address: &str, name: &str) -> BTreeMap<String, f64> {
    let (status, text) = get(address, "/metrics", None);
    assert_eq!(status, 200);
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Waits (up to 30 s) until what `name`'s samples hold satisfies `done`.
fn scraped_until(
    address: &str,
    name: &str,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let samples = scraped(address, name);
        if done(&samples) {
            return samples;
        }
        assert!(std::time::Instant::now() < deadline, "{name}: {samples:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn beside_top_with_two_sources_each_is_counted_under_its_name() {
    let (mut broker, exchange, topic) = scratch();
    let url = crate::common::transport_url();
    // The same broker twice, under two names: each source has a tap queue of its own, so each
    // gets every notification.
    let (east, west) = (format!("east={url}"), format!("west={url}"));
    let mut listener = listen(&[
        "--source",
        &east,
        "--source",
        &west,
        "--exchange",
        &exchange,
        "--topic",
        &topic,
        "--top",
        "--interval",
        "0.5",
        "--metrics",
        "127.0.0.1:0",
    ]);
    listener.wait_for_stderr("west: listening on");
    listener.wait_for_stderr("east: listening on");
    let address = served_at(&mut listener);
    let now = Utc::now().naive_utc();
    let bodies: Vec<Vec<u8>> = (0..7)
        .map(|i| {
            body(
                Priority::Warn,
                "instance.shutdown.end",
                "nova-compute:c1",
                instance_payload(&format!("i{i}"), "stopped"),
                now,
            )
        })
        .collect();
    broker.publish_many(&exchange, &format!("{topic}.warn"), &bodies);
    let counts = scraped_until(&address, "oslo_listen_notifications_total", |s| {
        s.values().sum::<f64>() == 14.0
    });
    let label = |source: &str| {
        format!(
        "oslo_listen_notifications_total{{source=\"{source}\",exchange=\"{exchange}\",priority=\"warn\",event_type=\"instance.shutdown.end\",service=\"nova-compute\"}}"
    )
    };
    assert_eq!(counts.get(&label("east")), Some(&7.0), "{counts:?}");
    assert_eq!(counts.get(&label("west")), Some(&7.0), "{counts:?}");
    let up = scraped(&address, "oslo_listen_up");
    assert_eq!(
        up.get("oslo_listen_up{source=\"east\"}"),
        Some(&1.0),
        "{up:?}"
    );
    assert_eq!(
        up.get("oslo_listen_up{source=\"west\"}"),
        Some(&1.0),
        "{up:?}"
    );
    listener.terminate();
    let run = listener.finish();
    assert_eq!(run.code, 0, "{run:?}");
    // --top counted the same.
    let last: Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["total"], 14, "{last}");
}

#[test]
fn with_save_and_nothing_printed_every_notification_is_saved_and_counted() {
    let (mut broker, exchange, topic) = scratch();
    let dir = std::env::temp_dir().join(crate::common::unique("metrics-save"));
    let dir_arg = dir.to_string_lossy().into_owned();
    let mut listener = listen(&[
        "--exchange",
        &exchange,
        "--topic",
        &topic,
        "--shared",
        "--format",
        "none",
        "--save",
        &dir_arg,
        "--metrics",
        "127.0.0.1:0",
    ]);
    let address = served_at(&mut listener);
    let now = Utc::now().naive_utc();
    let bodies: Vec<Vec<u8>> = (0..5)
        .map(|i| {
            body(
                Priority::Info,
                "instance.create.start",
                "nova-api:a1",
                instance_payload(&format!("s{i}"), "building"),
                now,
            )
        })
        .collect();
    broker.publish_many(&exchange, &format!("{topic}.info"), &bodies);
    scraped_until(&address, "oslo_listen_notifications_total", |s| {
        s.values().sum::<f64>() == 5.0
    });
    listener.terminate();
    let run = listener.finish();
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{run:?}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 5);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_address_that_cannot_be_served_exits_2_in_one_line_before_connecting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    // The broker given cannot be reached: the address is refused first.
    let run = crate::common::listen_with_url(
        "rabbit://guest:secret@127.0.0.1:1/",
        &["--format", "none", "--metrics", &address],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(
        run.stderr.starts_with(&format!(
            "oslo-listen: error: cannot serve metrics on {address}: "
        )),
        "{run:?}"
    );
    assert!(!run.stderr.contains("secret"));
    let run = crate::common::listen_with_url(
        "rabbit://guest:secret@127.0.0.1:1/",
        &["--metrics", "no-such-host.invalid:9571"],
    );
    assert_eq!(run.code, 2, "{run:?}");
}
