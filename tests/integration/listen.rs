//! `oslo-listen` against the real broker: the seed scenario, every mode, format and filter,
//! acknowledgement and requeueing, exit codes, poison messages, and replay.

use crate::common;
use crate::common::{listen, notify, route_args, scratch, send, Broker};
use serde_json::{json, Value};

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn the_seed_scenario() {
    // The seed's commands on oslo's default exchange, with a topic of the test's own in place
    // of `notifications` (whose shared queue belongs to whoever runs the broker).
    let mut broker = Broker::new();
    let topic = broker.topic_name();
    let listener = listen(&[
        "--topic",
        &topic,
        "--event-type",
        "just.testing",
        "--count",
        "1",
        "--timeout",
        "60",
    ]);
    let run = notify(
        &[
            "--topic",
            &topic,
            "info",
            "just.testing",
            r#"{"heavy":"payload"}"#,
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{run:?}");
    let got = listener.finish();
    assert_eq!(got.code, 0, "{got:?}");
    let (header, payload) = got.stdout.split_once('\n').unwrap();
    assert!(
        header.contains(" INFO ") && header.contains(" just.testing "),
        "{header}"
    );
    assert!(
        header.contains(&format!("[openstack {topic}.info]")),
        "{header}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(payload).unwrap(),
        json!({"heavy": "payload"})
    );
    got.assert_said("bound a private queue to exchange");
    // oslo-notify left the notification in the shared queue, as oslo does.
    let left = broker.drain(&format!("{topic}.info"));
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].decoded().notification.event_type, "just.testing");
}

#[test]
fn json_lines_carry_what_an_endpoint_receives() {
    let (_broker, exchange, topic) = scratch();
    let listener = listen(&route_args(&exchange, &topic, &["--json", "--count", "1"]));
    let context = r#"{"user": "u1", "auth_token": "gAAAA-secret", "roles": ["admin"]}"#;
    let id = send(
        &exchange,
        &topic,
        &[
            "--context",
            context,
            "error",
            "compute.instance.create.error",
            r#"{"code": 500, "name": "vm-🚀"}"#,
        ],
    );
    let got = listener.finish();
    assert_eq!(got.code, 0, "{got:?}");
    let lines = json_lines(&got.stdout);
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    assert_eq!(line["priority"], "error");
    assert_eq!(line["event_type"], "compute.instance.create.error");
    assert_eq!(line["publisher_id"], "compute.h1");
    assert_eq!(line["payload"], json!({"code": 500, "name": "vm-🚀"}));
    assert_eq!(line["metadata"]["message_id"], id.as_str());
    assert!(line["metadata"]["timestamp"]
        .as_str()
        .unwrap()
        .starts_with("20"));
    assert_eq!(
        line["context"],
        json!({"user": "u1", "auth_token": "***", "roles": ["admin"]})
    );
    assert_eq!(line["exchange"], exchange.as_str());
    assert_eq!(line["routing_key"], format!("{topic}.error"));
    assert!(!got.stdout.contains("gAAAA-secret"));
}

#[test]
fn show_secrets_payload_and_raw_formats() {
    let (_broker, exchange, topic) = scratch();
    let context = r#"{"auth_token": "gAAAA-secret"}"#;
    for (format, check) in [
        ("--show-secrets", "json"),
        ("--format=payload", "payload"),
        ("--format=raw", "raw"),
    ] {
        let mut args = route_args(exchange.as_str(), topic.as_str(), &["--count", "1", format]);
        if check == "json" {
            args.push("--json");
        }
        let listener = listen(&args);
        send(
            &exchange,
            &topic,
            &["--context", context, "info", "e", r#"{"k": [1, 2]}"#],
        );
        let got = listener.finish();
        assert_eq!(got.code, 0, "{got:?}");
        match check {
            "json" => assert_eq!(
                json_lines(&got.stdout)[0]["context"]["auth_token"],
                "gAAAA-secret"
            ),
            "payload" => assert_eq!(got.stdout, "{\"k\":[1,2]}\n"),
            _ => {
                let body = got.stdout.strip_suffix('\n').unwrap();
                assert!(
                    body.starts_with(
                        r#"{"oslo.version": "2.0", "oslo.message": "{\"message_id\": "#
                    ),
                    "{body}"
                );
                assert!(
                    body.contains("_context_auth_token"),
                    "raw is the body exactly"
                );
            }
        }
    }
}

#[test]
fn tap_takes_nothing_from_the_shared_queues_and_leaves_nothing_behind() {
    let (mut broker, exchange, topic) = scratch();
    let shared = format!("{topic}.info");
    send(&exchange, &topic, &["info", "before", "{}"]);
    let mut listener = listen(&route_args(&exchange, &topic, &["--json", "--count", "2"]));
    let tap = listener.tap_queue();
    assert!(broker.queue_exists(&tap));
    send(&exchange, &topic, &["info", "after.1", "{}"]);
    send(&exchange, &topic, &["info", "after.2", "{}"]);
    let got = listener.finish();
    assert_eq!(got.code, 0, "{got:?}");
    let events: Vec<_> = json_lines(&got.stdout)
        .iter()
        .map(|l| l["event_type"].clone())
        .collect();
    assert_eq!(
        events,
        ["after.1", "after.2"],
        "sees what is sent after it starts"
    );
    assert_eq!(
        broker.depth(&shared),
        3,
        "the shared queue keeps everything"
    );
    assert!(!broker.queue_exists(&tap), "the tap queue is gone");
}

#[test]
fn shared_reads_what_was_sent_before_and_requeues_what_it_does_not_print() {
    let (mut broker, exchange, topic) = scratch();
    let queue = format!("{topic}.warn");
    for i in 0..5 {
        send(&exchange, &topic, &["warn", &format!("e.{i}"), "{}"]);
    }
    let listener = listen(&route_args(
        &exchange,
        &topic,
        &["--shared", "--priority", "warn", "--json", "--count", "2"],
    ));
    let got = listener.finish();
    assert_eq!(got.code, 0, "{got:?}");
    let events: Vec<_> = json_lines(&got.stdout)
        .iter()
        .map(|l| l["event_type"].clone())
        .collect();
    assert_eq!(events, ["e.0", "e.1"]);
    assert_eq!(
        broker.depth(&queue),
        3,
        "what it did not print went back to the queue"
    );
    let left: Vec<_> = broker
        .drain(&queue)
        .iter()
        .map(|m| m.decoded().notification.event_type)
        .collect();
    assert_eq!(left, ["e.2", "e.3", "e.4"]);
}

#[test]
fn shared_with_a_filter_returns_the_rest_to_the_queue() {
    let (mut broker, exchange, topic) = scratch();
    let queue = format!("{topic}.info");
    for event in [
        "volume.create",
        "compute.instance.create.end",
        "network.update",
    ] {
        send(&exchange, &topic, &["info", event, "{}"]);
    }
    let listener = listen(&route_args(
        &exchange,
        &topic,
        &[
            "--shared",
            "--json",
            "--count",
            "1",
            "--event-type",
            "compute.instance.*",
        ],
    ));
    let got = listener.finish();
    assert_eq!(got.code, 0, "{got:?}");
    assert_eq!(
        json_lines(&got.stdout)[0]["event_type"],
        "compute.instance.create.end"
    );
    assert_eq!(broker.depth(&queue), 2);
    let mut left: Vec<_> = broker
        .drain(&queue)
        .iter()
        .map(|m| m.decoded().notification.event_type)
        .collect();
    left.sort();
    assert_eq!(left, ["network.update", "volume.create"]);
}

#[test]
fn every_pool_gets_every_notification() {
    let (mut broker, exchange, topic) = scratch();
    let (pool_a, pool_b) = (common::unique("pool-a"), common::unique("pool-b"));
    broker.forget_queue(&pool_a);
    broker.forget_queue(&pool_b);
    let a = listen(&route_args(
        &exchange,
        &topic,
        &["--pool", &pool_a, "--json", "--count", "2"],
    ));
    let b = listen(&route_args(
        &exchange,
        &topic,
        &["--pool", &pool_b, "--json", "--count", "2"],
    ));
    let first = send(&exchange, &topic, &["info", "one", "{}"]);
    let second = send(&exchange, &topic, &["critical", "two", "{}"]);
    for got in [a.finish(), b.finish()] {
        assert_eq!(got.code, 0, "{got:?}");
        let ids: Vec<_> = json_lines(&got.stdout)
            .iter()
            .map(|l| l["metadata"]["message_id"].clone())
            .collect();
        assert_eq!(ids, [first.as_str(), second.as_str()]);
    }
    assert!(
        broker.queue_exists(&pool_a) && broker.queue_exists(&pool_b),
        "pool queues stay, as oslo's do"
    );
}

#[test]
fn filters_pick_event_types_publishers_and_message_ids() {
    let (_broker, exchange, topic) = scratch();
    let base = route_args(
        exchange.as_str(),
        topic.as_str(),
        &["--format", "payload", "--count", "1"],
    );
    let cases: [(&[&str], &str); 3] = [
        (
            &["--event-type", "compute.*.end"],
            "compute.instance.create.end",
        ),
        (&["--publisher-id", "network.*"], "from.network"),
        (&["--event-type", "x", "--event-type", "y.?"], "y.1"),
    ];
    for (filter, wanted) in cases {
        let args: Vec<&str> = base.iter().chain(filter).copied().collect();
        let listener = listen(&args);
        for event in ["compute.instance.create.start", "other", "y.12", wanted] {
            let publisher = if event == "from.network" {
                "network.h2"
            } else {
                "compute.h1"
            };
            let payload = format!(r#"{{"event": "{event}"}}"#);
            let run = notify(
                &route_args(
                    &exchange,
                    &topic,
                    &["--publisher-id", publisher, "info", event, &payload],
                ),
                b"",
            );
            assert_eq!(run.code, 0);
        }
        let got = listener.finish();
        assert_eq!(got.code, 0, "{filter:?}: {got:?}");
        assert_eq!(
            got.stdout,
            format!("{{\"event\":\"{wanted}\"}}\n"),
            "{filter:?}"
        );
    }
    let listener = listen(&route_args(
        &exchange,
        &topic,
        &["--json", "--timeout", "2", "--message-id", "will-not-match"],
    ));
    let id = send(&exchange, &topic, &["info", "e", "{}"]);
    let got = listener.finish();
    assert_eq!((got.code, got.stdout.as_str()), (0, ""), "{got:?}");
    let listener = listen(&route_args(
        &exchange,
        &topic,
        &["--shared", "--json", "--count", "1", "--message-id", &id],
    ));
    let got = listener.finish();
    assert_eq!(
        json_lines(&got.stdout)[0]["metadata"]["message_id"],
        id.as_str()
    );
}

#[test]
fn count_and_timeout_exit_codes() {
    let (_broker, exchange, topic) = scratch();
    let listener = listen(&route_args(
        &exchange,
        &topic,
        &["--count", "2", "--timeout", "1.5", "--format", "payload"],
    ));
    send(&exchange, &topic, &["info", "e", "1"]);
    let got = listener.finish();
    assert_eq!(got.code, 4, "{got:?}");
    assert_eq!(got.stdout, "1\n", "what arrived is printed");
    assert!(
        got.stderr
            .contains("oslo-listen: error: timed out after 1.5s: 1 of 2 notifications arrived"),
        "{}",
        got.stderr
    );

    let listener = listen(&route_args(&exchange, &topic, &["--timeout", "1"]));
    let got = listener.finish();
    assert_eq!(
        got.code, 0,
        "without --count a timeout is just the end: {got:?}"
    );
}

#[test]
fn a_closed_pipe_ends_it_quietly() {
    let (_broker, exchange, topic) = scratch();
    let (mut child, stderr) = common::spawn_watched(
        env!("CARGO_BIN_EXE_oslo-listen"),
        Some(&common::transport_url()),
        &route_args(&exchange, &topic, &["--format", "payload"]),
    );
    common::await_line(&stderr, "listening on");
    // Like `| head -1`: read one line, then close the pipe.
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        line
    });
    let mut first = None;
    for i in 0..100 {
        send(&exchange, &topic, &["info", "e", &i.to_string()]);
        if reader.is_finished() {
            first = Some(reader.join().unwrap());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(first.as_deref(), Some("0\n"));
    for i in 100..103 {
        send(&exchange, &topic, &["info", "e", &i.to_string()]);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = stderr.iter().map(|(_, line)| line).collect();
    assert!(
        !rest.iter().any(|l| l.contains("oslo-listen: error")),
        "{rest:?}"
    );
}

#[test]
fn captured_oslo_messages_are_decoded_right() {
    let (mut broker, exchange, topic) = scratch();
    let listener = listen(&route_args(
        &exchange,
        &topic,
        &["--json", "--count", "10", "--show-secrets"],
    ));
    let mut expected = Vec::new();
    for case in [
        "v2_info_seed",
        "v1_info_seed",
        "v2_all_priorities",
        "v2_request_context_nova_payload",
    ] {
        let path = format!(
            "{}/tests/integration/fixtures/{case}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for message in fixture["messages"].as_array().unwrap() {
            let body = message["body"].as_str().unwrap();
            let key = message["routing_key"]
                .as_str()
                .unwrap()
                .replace("fixturecap", &topic);
            broker.publish_raw(&exchange, &key, body.as_bytes());
            expected.push((key, common::inner_json(body.as_bytes())));
        }
    }
    let got = listener.finish();
    assert_eq!(got.code, 0, "{got:?}");
    let lines = json_lines(&got.stdout);
    assert_eq!(lines.len(), 10);
    for (line, (key, inner)) in lines.iter().zip(&expected) {
        assert_eq!(line["routing_key"], key.as_str());
        assert_eq!(line["metadata"]["message_id"], inner["message_id"]);
        assert_eq!(line["metadata"]["timestamp"], inner["timestamp"]);
        assert_eq!(line["event_type"], inner["event_type"]);
        assert_eq!(line["publisher_id"], inner["publisher_id"]);
        assert_eq!(line["payload"], inner["payload"]);
        assert_eq!(
            line["priority"],
            inner["priority"].as_str().unwrap().to_lowercase()
        );
    }
    let nova = &lines[9];
    assert_eq!(
        nova["context"]["request_id"],
        "req-3f2a1f5e-1111-2222-3333-444455556666"
    );
    assert_eq!(nova["context"]["roles"], json!(["member", "reader"]));
}

#[test]
fn poison_messages_are_reported_and_skipped() {
    let (mut broker, exchange, topic) = scratch();
    let key = format!("{topic}.info");
    let listener = listen(&route_args(
        &exchange,
        &topic,
        &[
            "--shared",
            "--priority",
            "info",
            "--format",
            "payload",
            "--count",
            "1",
        ],
    ));
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    let poisons: [(&[u8], &str); 10] = [
        (b"not json at all", "body is not JSON"),
        (br#"{"oslo.version": "3.0", "oslo.message": "{}"}"#, "unsupported envelope version"),
        (b"\xff\xfe\x00binary", "body is not UTF-8"),
        (b"", "body is not JSON"),
        (br#"{"message_id": "m", "event_type": "e", "priority": "LOUD", "payload": 1, "timestamp": "t"}"#, "unknown priority"),
        (br#"{"oslo.version": "2.0", "oslo.message": {"payload": 1}}"#, "oslo.message is a JSON object, not a string"),
        (br#"{"oslo.version": "2.0", "oslo.message": "[1, 2]"}"#, "oslo.message holds a JSON array, not an object"),
        (br#"{"message_id": "m", "priority": "info", "payload": 1, "timestamp": "t"}"#, "no \"event_type\" key"),
        (br#"{"priority": "info", "event_type": "e"}"#, "no \"payload\" key"),
        (deep.as_bytes(), "recursion limit exceeded"),
    ];
    for (body, _) in &poisons {
        broker.publish_raw(&exchange, &key, body);
    }
    send(
        &exchange,
        &topic,
        &["info", "good", r#""after the poison""#],
    );
    let got = listener.finish();
    assert_eq!(got.code, 0, "{got:?}");
    assert_eq!(got.stdout, "\"after the poison\"\n");
    let reports: Vec<&str> = got
        .stderr
        .lines()
        .filter(|l| l.contains("is not a notification"))
        .collect();
    assert_eq!(reports.len(), poisons.len(), "{}", got.stderr);
    for (report, (_, reason)) in reports.iter().zip(&poisons) {
        assert!(report.contains(&format!("routing key {key:?}")), "{report}");
        assert!(report.contains(reason), "{report}");
    }
    assert!(
        reports[0].ends_with(r#"body (15 bytes): "not json at all""#),
        "{}",
        reports[0]
    );
    assert!(
        reports[2].ends_with("body (9 bytes, base64): //4AYmluYXJ5"),
        "{}",
        reports[2]
    );
    assert_eq!(
        broker.drain(&key).len(),
        0,
        "poison is acknowledged, not left to loop"
    );
}

#[test]
fn sigterm_acknowledges_what_was_printed_and_returns_the_rest() {
    let (mut broker, exchange, topic) = scratch();
    let queue = format!("{topic}.info");
    send(&exchange, &topic, &["info", "one", "{}"]);
    send(&exchange, &topic, &["info", "two", "{}"]);
    let listener = listen(&route_args(
        &exchange,
        &topic,
        &[
            "--shared",
            "--priority",
            "info",
            "--json",
            "--event-type",
            "one",
        ],
    ));
    std::thread::sleep(std::time::Duration::from_millis(500));
    listener.terminate();
    let got = listener.finish();
    assert_eq!(got.code, 0, "{got:?}");
    assert_eq!(json_lines(&got.stdout)[0]["event_type"], "one");
    assert_eq!(broker.depth(&queue), 1, "the printed one is acknowledged");
    assert_eq!(
        broker.drain(&queue)[0].decoded().notification.event_type,
        "two"
    );
}

#[test]
fn a_capture_replays_into_another_topic_or_its_own_routing() {
    let (broker, exchange, topic) = scratch();
    let listener = listen(&route_args(
        &exchange,
        &topic,
        &["--json", "--count", "3", "--show-secrets"],
    ));
    send(
        &exchange,
        &topic,
        &[
            "--context",
            r#"{"request_id": "req-7"}"#,
            "info",
            "a",
            r#"{"n": 1}"#,
        ],
    );
    send(&exchange, &topic, &["sample", "b", "[2]"]);
    send(&exchange, &topic, &["critical", "c", r#""three""#]);
    let capture = listener.finish();
    assert_eq!(capture.code, 0, "{capture:?}");

    let mut broker = broker;
    let (other_exchange, other_topic) = (broker.exchange_name(), broker.topic_name());
    let run = notify(
        &route_args(&other_exchange, &other_topic, &["--replay"]),
        capture.stdout.as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines().len(), 3);
    let originals = json_lines(&capture.stdout);
    for (original, new_id) in originals.iter().zip(run.lines()) {
        let key = format!("{other_topic}.{}", original["priority"].as_str().unwrap());
        let got = broker.drain(&key);
        assert_eq!(got.len(), 1, "{key}");
        assert_eq!(got[0].exchange, other_exchange);
        let n = got[0].decoded().notification;
        assert_eq!(n.message_id, new_id);
        assert_ne!(
            n.message_id,
            original["metadata"]["message_id"].as_str().unwrap()
        );
        assert_eq!(n.event_type, original["event_type"].as_str().unwrap());
        assert_eq!(n.publisher_id.as_deref(), Some("compute.h1"));
        assert_eq!(n.payload, original["payload"]);
        assert_eq!(Value::Object(n.context), original["context"]);
    }

    // The shared queues of the first topic got a copy from oslo-notify; --keep-routing adds one.
    let run = notify(&["--replay", "--keep-routing"], capture.stdout.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    for (priority, event) in [("info", "a"), ("sample", "b"), ("critical", "c")] {
        let got = broker.drain(&format!("{topic}.{priority}"));
        let events: Vec<_> = got
            .iter()
            .map(|m| m.decoded().notification.event_type)
            .collect();
        assert_eq!(events, [event, event], "{priority}");
        assert_eq!(got[1].exchange, exchange);
    }
}

#[test]
fn failures_have_their_exit_codes_and_hide_passwords() {
    let good = common::transport_url();
    let host = good
        .rsplit_once('@')
        .map(|(_, h)| h.trim_end_matches('/'))
        .unwrap()
        .to_owned();
    let cases: [(String, &[&str], i32, &str); 5] = [
        (
            format!("rabbit://guest:hunter2@{host}/"),
            &[],
            3,
            "wrong user name or password",
        ),
        (
            "rabbit://guest:hunter2@127.0.0.1:1/".into(),
            &[],
            3,
            "Connection refused",
        ),
        (
            "rabbit://guest:hunter2@127.0.0.1:x/".into(),
            &[],
            2,
            "invalid port",
        ),
        (good.clone(), &["--event-type", "a[b"], 2, "invalid pattern"),
        (good.clone(), &["--priority", "loud"], 2, "unknown priority"),
    ];
    for (url, args, code, reason) in cases {
        let args = [args, &["--timeout", "1"]].concat();
        let run = common::listen_with_url(&url, &args);
        assert_eq!(run.code, code, "{url} {args:?}: {run:?}");
        assert!(run.stderr.contains(reason), "{}", run.stderr);
        assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn versioned_notifications_are_shown_readably() {
    let (_broker, exchange, topic) = scratch();
    let payload = json!({
        "nova_object.name": "InstanceActionPayload",
        "nova_object.namespace": "nova",
        "nova_object.version": "1.8",
        "nova_object.data": {
            "uuid": "8415760e",
            "flavor": {"nova_object.name": "FlavorPayload", "nova_object.namespace": "nova",
                       "nova_object.version": "1.4", "nova_object.data": {"vcpus": 1}}
        }
    });
    let listener = listen(&route_args(&exchange, &topic, &["--count", "1"]));
    send(
        &exchange,
        &topic,
        &["info", "instance.create.end", &payload.to_string()],
    );
    let got = listener.finish();
    assert_eq!(got.code, 0, "{got:?}");
    let mut lines = got.stdout.lines();
    assert!(lines.next().unwrap().contains(" instance.create.end "));
    assert_eq!(lines.next(), Some("InstanceActionPayload v1.8 (nova)"));
    let rest: Vec<&str> = lines.collect();
    let data: Value = serde_json::from_str(&rest.join("\n")).unwrap();
    assert_eq!(
        data,
        json!({"uuid": "8415760e", "flavor": {"@object": "FlavorPayload v1.4 (nova)", "vcpus": 1}})
    );
}

#[test]
fn a_template_format_writes_fields_and_paths_with_secrets_masked() {
    let (_broker, exchange, topic) = scratch();
    let template = "{PRIORITY} {event_type} {publisher_id} {payload.instance.id} \
                    {payload.tags.1} {context.request_id} {context.auth_token} [{payload.nope}]";
    let listener = listen(&route_args(
        &exchange,
        &topic,
        &["--count", "1", "--format", template],
    ));
    let id = send(
        &exchange,
        &topic,
        &[
            "--context",
            r#"{"request_id": "req-7", "auth_token": "gAAAA-secret"}"#,
            "warn",
            "compute.instance.update",
            r#"{"instance": {"id": "8415760e"}, "tags": ["a", "b"]}"#,
        ],
    );
    let got = listener.finish();
    assert_eq!(got.code, 0, "{got:?}");
    assert_eq!(
        got.stdout,
        "WARN compute.instance.update compute.h1 8415760e b req-7 *** []\n"
    );
    assert!(!id.is_empty());

    let bad = common::listen_with_url(&common::transport_url(), &["--format", "{nope}"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("unknown field {nope}"), "{bad:?}");
}

#[test]
fn a_saved_directory_holds_a_file_per_notification_and_replays() {
    let (mut broker, exchange, topic) = scratch();
    let dir = std::env::temp_dir().join(common::unique("saved"));
    let dir_arg = dir.to_str().unwrap().to_owned();
    let listener = listen(&route_args(
        &exchange,
        &topic,
        &["--count", "3", "--save", &dir_arg],
    ));
    let context = r#"{"request_id": "req-9", "auth_token": "gAAAA-secret"}"#;
    send(
        &exchange,
        &topic,
        &["--context", context, "info", "a", r#"{"n": 1}"#],
    );
    send(&exchange, &topic, &["sample", "b", "[2]"]);
    send(&exchange, &topic, &["critical", "c", r#""three""#]);
    let saved = listener.finish();
    assert_eq!(saved.code, 0, "{saved:?}");

    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    let files: Vec<Value> = names
        .iter()
        .map(|name| serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap())
        .collect();
    for (name, file) in names.iter().zip(&files) {
        let id = file["metadata"]["message_id"].as_str().unwrap();
        assert!(name.ends_with(&format!("-{id}.json")), "{name}");
    }
    let events: Vec<&str> = files
        .iter()
        .map(|f| f["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["a", "b", "c"], "names sort in time order");
    assert_eq!(
        files[0]["context"]["auth_token"], "***",
        "secrets stay masked"
    );

    let (other_exchange, other_topic) = (broker.exchange_name(), broker.topic_name());
    let run = notify(
        &route_args(&other_exchange, &other_topic, &["--replay", &dir_arg]),
        b"",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines().len(), 3, "{run:?}");
    for file in &files {
        let key = format!("{other_topic}.{}", file["priority"].as_str().unwrap());
        let got = broker.drain(&key);
        assert_eq!(got.len(), 1, "{key}");
        let n = got[0].decoded().notification;
        assert_eq!(n.event_type, file["event_type"].as_str().unwrap());
        assert_eq!(n.payload, file["payload"]);
        assert_eq!(Value::Object(n.context), file["context"]);
    }
    std::fs::remove_dir_all(&dir).unwrap();

    let missing = notify(&["--replay", &dir_arg], b"");
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains(&format!("--replay {dir_arg}: no such directory or file")),
        "{missing:?}"
    );
}

#[test]
fn quiet_says_nothing_and_verbose_tells_connection_and_acknowledgements() {
    let (_broker, exchange, topic) = scratch();
    send(&exchange, &topic, &["info", "quiet.one", "{}"]);
    send(&exchange, &topic, &["info", "verbose.one", "{}"]);
    let base = route_args(
        exchange.as_str(),
        topic.as_str(),
        &[
            "--priority",
            "info",
            "--shared",
            "--count",
            "1",
            "--format",
            "{event_type}",
        ],
    );
    let quiet = common::listen_with_url(&common::transport_url(), &[&base[..], &["-q"]].concat());
    assert_eq!(quiet.code, 0, "{quiet:?}");
    assert_eq!(quiet.stdout, "quiet.one\n");
    assert_eq!(quiet.stderr, "", "{quiet:?}");

    let verbose = common::listen_with_url(&common::transport_url(), &[&base[..], &["-v"]].concat());
    assert_eq!(verbose.code, 0, "{verbose:?}");
    assert_eq!(verbose.stdout, "verbose.one\n");
    for said in [
        "connected to",
        "bound the shared queues",
        "listening on",
        "1 acknowledgement(s)",
    ] {
        assert!(verbose.stderr.contains(said), "{said}: {verbose:?}");
    }
}

#[test]
fn quorum_makes_the_shared_and_pool_queues_quorum_queues_and_the_tap_stays_private() {
    let (mut broker, exchange, topic) = scratch();
    let pool = common::unique("pool-q");
    broker.forget_queue(&pool);
    let common_args = route_args(
        &exchange,
        &topic,
        &[
            "--quorum",
            "--priority",
            "info",
            "--format",
            "{message_id}",
            "--count",
            "1",
        ],
    );
    let shared = listen(&[&["--shared"], &common_args[..]].concat());
    let pooled = listen(&[&["--pool", &pool], &common_args[..]].concat());
    let mut tap = listen(&common_args);
    let tap_queue = tap.tap_queue();
    let sent = send(&exchange, &topic, &["info", "quorum.test", "{}"]);
    for got in [shared.finish(), pooled.finish(), tap.finish()] {
        assert_eq!(got.code, 0, "{got:?}");
        assert_eq!(got.stdout.trim(), sent);
    }
    assert!(broker.exchange_is(&exchange, true), "a durable exchange");
    for queue in [format!("{topic}.info"), pool] {
        assert!(
            broker.queue_is(&queue, true, common::quorum()),
            "{queue} is a quorum queue"
        );
    }
    // A quorum queue cannot be exclusive: the tap queue was a classic one, and it went with
    // its connection.
    assert!(!broker.queue_exists(&tap_queue), "{tap_queue} left behind");
}

#[test]
fn a_second_copy_of_a_printed_notification_is_dropped() {
    use oslo_notify::envelope::{Format, Notification, Priority};
    let (mut broker, exchange, topic) = scratch();
    let key = format!("{topic}.info");
    let listener = listen(&route_args(
        &exchange,
        &topic,
        &[
            "--shared",
            "--priority",
            "info",
            "--format",
            "{event_type} {message_id}",
            "--count",
            "2",
        ],
    ));
    let first = Notification::new(Priority::Info, "first", json!({}));
    let second = Notification::new(Priority::Info, "second", json!({}));
    let first_body = first.encode(Format::V2, "1f0e").unwrap();
    // As a sender that lost its connection before the confirm publishes it again.
    broker.publish_raw(&exchange, &key, &first_body);
    broker.publish_raw(&exchange, &key, &first_body);
    broker.publish_raw(&exchange, &key, &second.encode(Format::V2, "2a9c").unwrap());
    let got = listener.finish();
    assert_eq!(got.code, 0, "{got:?}");
    assert_eq!(
        got.stdout,
        format!("first {}\nsecond {}\n", first.message_id, second.message_id)
    );
    assert_eq!(broker.depth(&key), 0, "the copy was acknowledged too");
}

#[test]
fn a_message_killed_mid_save_is_on_its_queue_or_whole_in_its_file() {
    let (broker, exchange, topic) = scratch();
    let queue = format!("{topic}.info");
    let dir = std::env::temp_dir().join(common::unique("saved-kill"));
    let dir_arg = dir.to_str().unwrap().to_owned();
    let total = 10_000;
    let lines: String = (0..total).map(|n| format!("{{\"n\": {n}}}\n")).collect();
    let run = notify(
        &route_args(&exchange, &topic, &["--lines", "info", "saved.kill"]),
        lines.as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let sent: std::collections::BTreeSet<String> = run.stdout.lines().map(str::to_owned).collect();
    let mut listener = listen(&route_args(
        &exchange,
        &topic,
        &[
            "-v",
            "--shared",
            "--priority",
            "info",
            "--format",
            "payload",
            "--prefetch",
            "50",
            "--save",
            &dir_arg,
        ],
    ));
    // Some batches acknowledged (and their acks on the wire), then a crash mid-stream.
    listener.wait_for_stderr("acknowledgement(s)");
    listener.wait_for_new_stderr("acknowledgement(s)");
    std::thread::sleep(std::time::Duration::from_millis(300));
    listener.kill();
    let _ = listener.finish();

    // What is gone from the queue was saved first: every such file is in place and whole.
    let left = broker.drain_ids(&queue);
    let mut saved = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".partial") {
            continue; // written, never acknowledged: its message is still on the queue
        }
        let file: Value = serde_json::from_slice(&std::fs::read(dir.join(&name)).unwrap())
            .unwrap_or_else(|e| panic!("{name} is not whole: {e}"));
        saved.insert(file["metadata"]["message_id"].as_str().unwrap().to_owned());
    }
    let gone: std::collections::BTreeSet<String> = sent.difference(&left).cloned().collect();
    assert!(
        !gone.is_empty() && !left.is_empty(),
        "killed mid-stream: {} left",
        left.len()
    );
    let unsaved: Vec<_> = gone.difference(&saved).collect();
    assert!(
        unsaved.is_empty(),
        "acknowledged without a file: {unsaved:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `oslo-listen --json | head -1`: once the reader has its line and goes away, oslo-listen
/// ends at once (exit 0), without waiting for another notification to fail to write.
#[test]
fn a_reader_that_goes_away_ends_an_idle_listener() {
    use std::io::BufRead;
    let (_broker, exchange, topic) = crate::common::scratch();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oslo-listen"))
        .args(["-e", &exchange, "-t", &topic, "-j"])
        .env("OSLO_TRANSPORT_URL", crate::common::transport_url())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = crate::common::read_lines(child.stderr.take().unwrap());
    crate::common::await_line(&stderr, "listening on");
    crate::common::send(&exchange, &topic, &["info", "one.only", "{}"]);
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("one.only"), "{first}");
    // The reader is gone (dropped), and nothing more arrives.
    let status = crate::common::wait_or_kill(&mut child, std::time::Duration::from_secs(20));
    assert_eq!(status.code(), Some(0));
}

/// `oslo-listen -v` says where it connects, as oslo-notify does, the password hidden.
#[test]
fn verbose_says_where_it_connects() {
    let url = crate::common::transport_url();
    // An exchange of its own, deleted at the end.
    let mut broker = crate::common::Broker::new();
    let exchange = broker.exchange_name();
    let run = crate::common::listen_with_url(
        &url,
        &[
            "-v",
            "--timeout",
            "1",
            "-e",
            &exchange,
            "-t",
            "verbose-connect",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("oslo-listen: connecting to rabbit://"),
        "{first}"
    );
    if let Some(password) = url.split(':').nth(2).and_then(|p| p.split('@').next()) {
        assert!(!first.contains(&format!(":{password}@")), "{first}");
    }
    assert!(first.contains(":***@"), "{first}");
}
