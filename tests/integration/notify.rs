//! `oslo-notify` against the real broker: what lands on it, read back with a plain AMQP
//! `basic_get`, and how every kind of failure is reported.

use crate::common;
use crate::common::{notify, notify_with_url, quorum, scratch, Broker, Got};
use amiquip::{AmqpValue, FieldTable};
use oslo_notify::envelope::{Format, Priority};
use serde_json::{json, Value};

/// `--exchange EX --topic T --publisher-id testing` plus `rest`.
fn args<'a>(exchange: &'a str, topic: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut all = common::route_args(exchange, topic, &["--publisher-id", "testing"]);
    all.extend_from_slice(rest);
    all
}

fn is_python_timestamp(text: &str) -> bool {
    // 2026-11-25 08:41:45.339791, or without the fraction when it is 0
    let shape = |t: &str| {
        t.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b' ',
            13 | 16 => b == b':',
            19 => b == b'.',
            _ => b.is_ascii_digit(),
        })
    };
    (text.len() == 26 || text.len() == 19) && shape(text)
}

fn assert_oslo_message(got: &Got, exchange: &str, routing_key: &str) {
    assert_eq!(got.exchange, exchange);
    assert_eq!(got.routing_key, routing_key);
    let p = &got.properties;
    assert_eq!(p.content_type().as_deref(), Some("application/json"));
    assert_eq!(p.content_encoding().as_deref(), Some("utf-8"));
    assert_eq!(*p.delivery_mode(), Some(2));
    assert_eq!(*p.priority(), Some(0));
    assert_eq!(p.headers().as_ref().map(|h| h.len()), Some(0));
    assert!(got.body.is_ascii(), "oslo escapes everything outside ASCII");
}

#[test]
fn the_seed_notification_lands_as_oslo_sends_it() {
    let (broker, exchange, topic) = scratch();
    let run = notify(
        &args(
            &exchange,
            &topic,
            &["info", "just.testing", r#"{"heavy":"payload"}"#],
        ),
        b"",
    );
    assert_eq!(run.code, 0, "{run:?}");
    let ids = run.lines();
    assert_eq!(ids.len(), 1, "{run:?}");

    let got = broker.drain(&format!("{topic}.info"));
    assert_eq!(got.len(), 1);
    let message = &got[0];
    assert_oslo_message(message, &exchange, &format!("{topic}.info"));
    assert!(message
        .text()
        .starts_with(r#"{"oslo.version": "2.0", "oslo.message": "{\"message_id\": "#));
    let inner = message.inner_json();
    let keys: Vec<&str> = inner
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "message_id",
            "publisher_id",
            "event_type",
            "priority",
            "payload",
            "timestamp",
            "_unique_id"
        ]
    );
    assert_eq!(inner["message_id"], ids[0]);
    assert_eq!(uuid::Uuid::parse_str(ids[0]).unwrap().get_version_num(), 4);
    assert_eq!(inner["publisher_id"], "testing");
    assert_eq!(inner["event_type"], "just.testing");
    assert_eq!(inner["priority"], "INFO");
    assert_eq!(inner["payload"], json!({"heavy": "payload"}));
    assert!(
        is_python_timestamp(inner["timestamp"].as_str().unwrap()),
        "{inner}"
    );
    let unique = inner["_unique_id"].as_str().unwrap();
    assert!(unique.len() == 32 && unique.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn driver_messaging_sends_the_bare_1_0_message() {
    let (broker, exchange, topic) = scratch();
    let run = notify(
        &args(
            &exchange,
            &topic,
            &["--driver", "messaging", "error", "x.failed", r#"{"n": 1}"#],
        ),
        b"",
    );
    assert_eq!(run.code, 0, "{run:?}");
    let got = broker.drain(&format!("{topic}.error"));
    assert_eq!(got.len(), 1);
    assert_oslo_message(&got[0], &exchange, &format!("{topic}.error"));
    assert!(
        got[0].text().starts_with(r#"{"message_id": ""#),
        "{}",
        got[0].text()
    );
    let decoded = got[0].decoded();
    assert_eq!(decoded.format, Format::V1);
    assert_eq!(decoded.notification.priority, Priority::Error);
    assert_eq!(decoded.notification.message_id, run.lines()[0]);
}

#[test]
fn every_priority_goes_to_its_own_routing_key() {
    let (broker, exchange, topic) = scratch();
    let names = [
        "audit", "DEBUG", "info", "warn", "warning", "Error", "critical", "sample",
    ];
    for name in names {
        let run = notify(
            &args(&exchange, &topic, &[name, "probe", r#"{"p": 1}"#]),
            b"",
        );
        assert_eq!(run.code, 0, "{name}: {run:?}");
    }
    for priority in Priority::ALL {
        let queue = format!("{topic}.{}", priority.name());
        let got = broker.drain(&queue);
        let expected = if priority == Priority::Warn { 2 } else { 1 };
        assert_eq!(got.len(), expected, "{queue}");
        for message in &got {
            assert_oslo_message(message, &exchange, &queue);
            assert_eq!(message.inner_json()["priority"], priority.wire_name());
        }
    }
}

#[test]
fn several_topics_get_one_message_id_and_their_own_unique_ids() {
    let mut broker = Broker::new();
    let exchange = broker.exchange_name();
    let (a, b) = (broker.topic_name(), broker.topic_name());
    let run = notify(
        &[
            "--exchange",
            &exchange,
            "--topic",
            &a,
            "--topic",
            &b,
            "sample",
            "meter",
            "[1, 2]",
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines().len(), 1, "one notification, one id");
    let from_a = broker.drain(&format!("{a}.sample"));
    let from_b = broker.drain(&format!("{b}.sample"));
    assert_eq!((from_a.len(), from_b.len()), (1, 1));
    let (a, b) = (from_a[0].inner_json(), from_b[0].inner_json());
    assert_eq!(a["message_id"], run.lines()[0]);
    assert_eq!(a["message_id"], b["message_id"]);
    assert_ne!(a["_unique_id"], b["_unique_id"]);
    assert_eq!(a["payload"], json!([1, 2]));
}

#[test]
fn context_is_packed_as_context_keys_after_the_rest() {
    let (broker, exchange, topic) = scratch();
    let context = r#"{"user": "u1", "roles": ["admin", "member"], "auth_token": null}"#;
    let run = notify(
        &args(
            &exchange,
            &topic,
            &["--context", context, "info", "e", "{}"],
        ),
        b"",
    );
    assert_eq!(run.code, 0, "{run:?}");
    let got = broker.drain(&format!("{topic}.info"));
    let inner = got[0].inner_json();
    let keys: Vec<&str> = inner
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        &keys[6..],
        [
            "_unique_id",
            "_context_user",
            "_context_roles",
            "_context_auth_token"
        ]
    );
    assert_eq!(inner["_context_roles"], json!(["admin", "member"]));
    let decoded = got[0].decoded();
    assert_eq!(decoded.notification.context["user"], "u1");
}

#[test]
fn payloads_from_stdin_and_files_keep_unicode_and_size() {
    let (broker, exchange, topic) = scratch();
    let big =
        json!({"name": "vm-\u{e9}-\u{65e5}\u{672c}-\u{1f680}", "blob": "x".repeat(3_000_000)});
    let run = notify(
        &args(&exchange, &topic, &["info", "big.one", "-"]),
        big.to_string().as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");

    let file = std::env::temp_dir().join(common::unique("payload"));
    std::fs::write(&file, r#""a string payload""#).unwrap();
    let at_file = format!("@{}", file.display());
    let run = notify(
        &args(&exchange, &topic, &["info", "from.file", &at_file]),
        b"",
    );
    std::fs::remove_file(&file).unwrap();
    assert_eq!(run.code, 0, "{run:?}");

    let got = broker.drain(&format!("{topic}.info"));
    assert_eq!(got.len(), 2);
    assert!(got[0]
        .text()
        .contains(r#"vm-\\u00e9-\\u65e5\\u672c-\\ud83d\\ude80"#));
    assert_eq!(got[0].decoded().notification.payload, big);
    assert_eq!(
        got[1].decoded().notification.payload,
        json!("a string payload")
    );
}

#[test]
fn lines_sends_one_notification_per_line_and_prints_every_id() {
    let (broker, exchange, topic) = scratch();
    let mut input = String::new();
    for i in 0..2500 {
        input.push_str(&format!(
            "{{\"seq\": {i}, \"pad\": \"{}\"}}\n",
            "p".repeat(200)
        ));
        if i % 1000 == 0 {
            input.push_str("   \n");
        }
    }
    let run = notify(
        &args(&exchange, &topic, &["--lines", "debug", "load.test"]),
        input.as_bytes(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ids = run.lines();
    assert_eq!(ids.len(), 2500);
    let got = broker.drain(&format!("{topic}.debug"));
    assert_eq!(got.len(), 2500);
    for (i, (message, id)) in got.iter().zip(&ids).enumerate() {
        let n = message.decoded().notification;
        assert_eq!(n.payload["seq"], i, "order kept");
        assert_eq!(n.message_id, *id);
    }
}

/// `oslo-notify --lines` on the test broker with every pipe ours.
fn lines_child(exchange: &str, topic: &str) -> std::process::Child {
    use std::process::{Command, Stdio};
    Command::new(env!("CARGO_BIN_EXE_oslo-notify"))
        .args(args(exchange, topic, &["--lines", "info", "pipe.test"]))
        .env("OSLO_TRANSPORT_URL", common::transport_url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stderr_of(child: &mut std::process::Child) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut text).unwrap();
    text
}

/// `... | oslo-notify --lines ... | head -1`: the reader goes away after the first id; every
/// line is still sent and confirmed, and the exit is 0 only then.
#[test]
fn a_reader_that_goes_away_stops_the_ids_not_the_sending() {
    use std::io::{BufRead, BufReader, Write};
    let (broker, exchange, topic) = scratch();
    let mut child = lines_child(&exchange, &topic);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{{\"n\": 0}}").unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim().len(), 36, "{first:?}");
    // The reader is gone (dropped with the BufReader): what follows has nowhere to go.
    for n in 1..2000 {
        writeln!(stdin, "{{\"n\": {n}}}").unwrap();
    }
    drop(stdin);
    let status = child.wait().unwrap();
    let err = stderr_of(&mut child);
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err, "", "a reader that went away is not an error");
    let got = broker.drain(&format!("{topic}.info"));
    let sent: Vec<u64> = got
        .iter()
        .map(|m| m.decoded().notification.payload["n"].as_u64().unwrap())
        .collect();
    assert_eq!(sent, (0..2000).collect::<Vec<u64>>());
}

/// Ctrl-C or SIGTERM while lines stream in: nothing more is sent, what was sent is confirmed,
/// and the ids printed are exactly what is on the queue; exit 130 or 143 with one line
/// saying so.
#[test]
fn an_interrupt_reports_exactly_what_the_broker_confirmed() {
    use std::io::{BufRead, BufReader, Write};
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let (broker, exchange, topic) = scratch();
        let mut child = lines_child(&exchange, &topic);
        let mut stdin = child.stdin.take().unwrap();
        // Lines keep coming until the tool stops reading.
        let writer = std::thread::spawn(move || {
            for n in 0.. {
                if writeln!(stdin, "{{\"n\": {n}}}").is_err() {
                    return;
                }
                if n % 50 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        });
        let mut ids = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed: Vec<String> = (0..300).map(|_| ids.next().unwrap().unwrap()).collect();
        let pid = child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        printed.extend(ids.map(Result::unwrap));
        let status = child.wait().unwrap();
        let err = stderr_of(&mut child);
        assert_eq!(status.code(), Some(code), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!(
                "interrupted: the broker confirmed {} notification(s)",
                printed.len()
            )),
            "{err}"
        );
        let got = broker.drain(&format!("{topic}.info"));
        let on_queue: Vec<String> = got
            .iter()
            .map(|m| m.decoded().notification.message_id)
            .collect();
        assert_eq!(on_queue, printed, "{signal}: printed ids are what landed");
        drop(writer);
    }
}

#[test]
fn a_bad_line_stops_with_exit_2_after_confirming_the_lines_before_it() {
    let (broker, exchange, topic) = scratch();
    let input = "{\"n\": 1}\n{\"n\": 2}\n\n{\"n\": 3,}\n{\"n\": 4}\n";
    let run = notify(
        &args(&exchange, &topic, &["--lines", "info", "e"]),
        input.as_bytes(),
    );
    assert_eq!(run.code, 2, "{run:?}");
    run.assert_said("payload on line 4 is not valid JSON");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert_eq!(run.lines().len(), 2, "the two sent are reported");
    let got = broker.drain(&format!("{topic}.info"));
    let sent: Vec<Value> = got
        .iter()
        .map(|m| m.decoded().notification.payload)
        .collect();
    assert_eq!(sent, [json!({"n": 1}), json!({"n": 2})]);
}

#[test]
fn an_existing_durable_deployment_is_used_as_it_is() {
    let (mut broker, exchange, topic) = scratch();
    let queue = format!("{topic}.info");
    // As oslo with amqp_durable_queues = True declares them.
    broker.declare_exchange(&exchange, true);
    broker.declare_bound_queue(&exchange, &queue, true, FieldTable::default());
    let run = notify(&args(&exchange, &topic, &["info", "e", "{}"]), b"");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(broker.drain(&queue).len(), 1);
    assert!(
        broker.exchange_is(&exchange, true),
        "exchange still durable"
    );
    assert!(
        broker.queue_is(&queue, true, FieldTable::default()),
        "queue still durable"
    );
}

#[test]
fn an_existing_quorum_deployment_is_used_as_it_is() {
    let (mut broker, exchange, topic) = scratch();
    let queue = format!("{topic}.warn");
    // As oslo with rabbit_quorum_queue = True declares them.
    broker.declare_exchange(&exchange, true);
    broker.declare_bound_queue(&exchange, &queue, true, quorum());
    let run = notify(&args(&exchange, &topic, &["warning", "e", "{}"]), b"");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(broker.drain(&queue).len(), 1);
    assert!(
        broker.queue_is(&queue, true, quorum()),
        "queue still a quorum queue"
    );
}

#[test]
fn durable_and_quorum_flags_create_what_is_missing_that_way() {
    let (mut broker, exchange, topic) = scratch();
    let run = notify(
        &args(&exchange, &topic, &["--durable", "info", "e", "{}"]),
        b"",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(broker.exchange_is(&exchange, true));
    assert!(!broker.exchange_is(&exchange, false));
    assert!(broker.queue_is(&format!("{topic}.info"), true, FieldTable::default()));

    let (exchange, topic) = (broker.exchange_name(), broker.topic_name());
    let run = notify(
        &args(&exchange, &topic, &["--quorum", "error", "e", "{}"]),
        b"",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(broker.exchange_is(&exchange, true));
    assert!(broker.queue_is(&format!("{topic}.error"), true, quorum()));
    assert_eq!(broker.drain(&format!("{topic}.error")).len(), 1);

    let (exchange, topic) = (broker.exchange_name(), broker.topic_name());
    let run = notify(&args(&exchange, &topic, &["info", "e", "{}"]), b"");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        broker.exchange_is(&exchange, false),
        "transient by default, as oslo"
    );
    assert!(broker.queue_is(&format!("{topic}.info"), false, FieldTable::default()));
}

/// Makes the `TOPIC.info` queue one that holds at most `length` messages and refuses (nacks)
/// publishes beyond that; returns its name.
fn declare_bounded_queue(broker: &Broker, exchange: &str, topic: &str, length: i64) -> String {
    let queue = format!("{topic}.info");
    let mut arguments = FieldTable::default();
    arguments.insert("x-max-length".into(), AmqpValue::LongLongInt(length));
    arguments.insert(
        "x-overflow".into(),
        AmqpValue::LongString("reject-publish".into()),
    );
    broker.declare_exchange(exchange, false);
    broker.declare_bound_queue(exchange, &queue, false, arguments);
    queue
}

#[test]
fn a_message_the_broker_refuses_exits_4() {
    let (broker, exchange, topic) = scratch();
    declare_bounded_queue(&broker, &exchange, &topic, 0);
    let run = notify(
        &args(&exchange, &topic, &["--timeout", "2", "info", "e", "{}"]),
        b"",
    );
    assert_eq!(run.code, 4, "{run:?}");
    // After 0.2, 0.4 and 0.8 s; the next would be due after the timeout.
    let again = run.stderr.matches("sending them again").count();
    assert!((3..=4).contains(&again), "published again: {}", run.stderr);
    assert!(
        run.stderr
            .lines()
            .last()
            .unwrap()
            .contains("refused (nacked)"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "nothing is reported sent");
}

#[test]
fn a_refused_message_is_sent_again_and_lands_once_there_is_room() {
    let (mut broker, exchange, topic) = scratch();
    let queue = declare_bounded_queue(&broker, &exchange, &topic, 1);
    let first = notify(&args(&exchange, &topic, &["info", "first", "{}"]), b"");
    assert_eq!(first.code, 0, "{first:?}");
    let (child, stderr) = common::spawn_watched(
        env!("CARGO_BIN_EXE_oslo-notify"),
        Some(&common::transport_url()),
        &args(&exchange, &topic, &["info", "second", "{}"]),
    );
    common::await_line(&stderr, "sending them again");
    // The queue is full until the first one is taken off it.
    let channel = broker.channel();
    let taken = channel.basic_get(&queue, true).unwrap().expect("the first");
    assert!(String::from_utf8_lossy(&taken.delivery.body).contains(r#"\"event_type\": \"first\""#));
    drop(channel);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let second_id = String::from_utf8(output.stdout).unwrap();
    let landed = broker.drain(&queue);
    assert_eq!(landed.len(), 1);
    assert_eq!(landed[0].decoded().notification.event_type, "second");
    assert_eq!(
        landed[0].decoded().notification.message_id,
        second_id.trim()
    );
}

#[test]
fn bad_input_exits_2_before_connecting() {
    // An unreachable broker: exit 2, not 3, shows the input was judged first.
    let url = "rabbit://guest:guest@127.0.0.1:1/";
    let cases: &[(&[&str], &str)] = &[
        (
            &["info", "e", r#"{"heavy": }"#],
            "payload is not valid JSON: expected value at line 1 column 11",
        ),
        (
            &["info", "e", r#"<"heavy":"payload">"#],
            r#"did you mean '{"heavy":"payload"}'?"#,
        ),
        (&["loud", "e", "{}"], "unknown priority \"loud\""),
        (
            &["--context", "[1]", "info", "e", "{}"],
            "context must be a JSON object",
        ),
        (
            &["info", "e", "@/nonexistent/file.json"],
            "cannot read the payload file /nonexistent/file.json",
        ),
        (
            &[
                "info",
                "e",
                "{}",
                "--transport-url",
                "rabbit://u:hunter2@h:port/",
            ],
            "invalid port \"port\"",
        ),
        (
            &["info", "e", "{}", "--transport-url", "kafka://u:hunter2@h/"],
            "unsupported scheme",
        ),
    ];
    for (arguments, message) in cases {
        let run = notify_with_url(url, arguments, b"");
        assert_eq!(run.code, 2, "{arguments:?}: {run:?}");
        assert!(
            run.stderr.contains(message),
            "{arguments:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("hunter2"));
        assert!(run.stdout.is_empty());
    }
    let run = notify_with_url(url, &["info", "e", "-"], b"{not json");
    assert_eq!(run.code, 2, "{run:?}");
    run.assert_said("payload from stdin is not valid JSON");
}

#[test]
fn connection_failures_exit_3_without_showing_the_password() {
    let broker = Broker::new();
    drop(broker);
    let base = common::transport_url();
    let host = base
        .rsplit_once('@')
        .map(|(_, h)| h.trim_end_matches('/'))
        .unwrap()
        .to_owned();
    let cases = [
        (
            format!("rabbit://guest:hunter2@{host}/"),
            "wrong user name or password",
        ),
        (
            format!(
                "rabbit://guest:guest@{host}/{}",
                common::unique("no-such-vhost")
            ),
            "no access to virtual host",
        ),
        (
            "rabbit://guest:hunter2@127.0.0.1:1/".to_owned(),
            "Connection refused",
        ),
        (
            "rabbit://guest:hunter2@no-such-host.invalid/".to_owned(),
            "cannot resolve host name",
        ),
        (
            format!(
                "rabbit://guest:hunter2@127.0.0.1:1,guest:guest@{host}/{}",
                common::unique("vh")
            ),
            "127.0.0.1:1: Connection refused",
        ),
    ];
    for (url, reason) in cases {
        let run = notify_with_url(&url, &["--timeout", "1", "info", "e", "{}"], b"");
        assert_eq!(run.code, 3, "{url}: {run:?}");
        // Notices of retries may come first; the error is the last line, and one line.
        let last = run.stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("oslo-notify: error: cannot connect to rabbit://guest:***@"),
            "{}",
            run.stderr
        );
        assert!(last.contains(reason), "{url}: {}", run.stderr);
        assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
        let retriable = reason.contains("refused");
        let notices = run
            .stderr
            .lines()
            .filter(|l| l.contains("trying again in"))
            .count();
        assert_eq!(
            notices > 0,
            retriable,
            "only a refused connection is tried again: {}",
            run.stderr
        );
    }
}

#[test]
fn the_second_host_is_used_when_the_first_does_not_answer() {
    let (broker, exchange, topic) = scratch();
    let base = common::transport_url();
    let good = base.trim_start_matches("rabbit://");
    let url = format!("rabbit://guest:guest@127.0.0.1:1,{good}");
    let run = notify_with_url(
        &url,
        &args(&exchange, &topic, &["info", "failover", "{}"]),
        b"",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(broker.drain(&format!("{topic}.info")).len(), 1);
}

#[test]
fn a_queue_that_exists_without_its_exchange_gets_both_and_the_notification() {
    let mut broker = Broker::new();
    let exchange = broker.exchange_name();
    let topic = broker.topic_name();
    let queue = format!("{topic}.error");
    // The queue alone, as a consumer of another exchange may leave it.
    broker
        .channel()
        .queue_declare(queue.as_str(), amiquip::QueueDeclareOptions::default())
        .unwrap();
    let run = notify(
        &args(&exchange, &topic, &["error", "just.testing", "[1, 2]"]),
        b"",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(broker.exchange_is(&exchange, false));
    let got = broker.drain(&queue);
    assert_eq!(got.len(), 1, "{run:?}");
    assert_oslo_message(&got[0], &exchange, &queue);
}

/// A bind the broker refuses for a reason other than something missing (the queue is another
/// connection's exclusive queue: 405) fails the send in one line that names the bind, with
/// no id printed and nothing delivered; a route that is missing (a fresh topic, above) is
/// made instead.
#[test]
fn a_refused_bind_is_said_as_the_bind_and_nothing_is_sent() {
    let (mut broker, exchange, topic) = scratch();
    broker.declare_exchange(&exchange, false);
    let queue = format!("{topic}.info");
    let channel = broker.channel();
    channel
        .queue_declare(
            queue.as_str(),
            amiquip::QueueDeclareOptions {
                exclusive: true,
                ..amiquip::QueueDeclareOptions::default()
            },
        )
        .unwrap();
    for input in [&["info", "e", "{}"][..], &["--lines", "info", "e"]] {
        let run = notify(&args(&exchange, &topic, input), b"{}\n{}\n");
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.lines().is_empty(), "no id: {run:?}");
        let said = format!("binding queue {queue:?} to exchange {exchange:?}");
        assert!(run.stderr.contains(&said), "{run:?}");
        assert!(run.stderr.contains("RESOURCE_LOCKED"), "{run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{input:?}: {run:?}");
    }
    let depth = channel.queue_declare_passive(queue.as_str()).unwrap();
    assert_eq!(depth.declared_message_count(), Some(0));
}

#[test]
fn verbose_tells_what_happened_and_quiet_only_the_error() {
    let (broker, exchange, topic) = scratch();
    let run = notify(&args(&exchange, &topic, &["-v", "info", "e", "{}"]), b"");
    assert_eq!(run.code, 0, "{run:?}");
    for said in [
        "connecting to rabbit://guest:***@",
        "connected to",
        &format!("queues {topic}.info bound"),
        "confirmed 1 notification(s)",
    ] {
        assert!(run.stderr.contains(said), "{said}: {run:?}");
    }
    assert_eq!(broker.drain(&format!("{topic}.info")).len(), 1);

    let refused = notify_with_url(
        "rabbit://guest:hunter2@127.0.0.1:1/",
        &["-q", "--timeout", "1", "info", "e", "{}"],
        b"",
    );
    assert_eq!(refused.code, 3, "{refused:?}");
    assert_eq!(
        refused.stderr.lines().count(),
        1,
        "no retry notices: {refused:?}"
    );
    assert!(refused.stderr.contains("Connection refused"), "{refused:?}");
}

/// `--replay FILE` reads a capture file as stdin would be; masked secrets are sent as masked,
/// with one warning; an empty directory or stdin says there was nothing to replay.
#[test]
fn replay_reads_a_file_warns_of_masked_secrets_and_says_when_there_is_nothing() {
    let (broker, exchange, topic) = scratch();
    let dir = std::env::temp_dir().join(common::unique("replay"));
    std::fs::create_dir(&dir).unwrap();
    let line = r#"{"priority":"info","event_type":"e.x","publisher_id":"p","payload":{"n":1},"metadata":{"message_id":"m","timestamp":"t"},"context":{"auth_token":"***","user":"u"}}"#;
    let file = dir.join("capture.jsonl");
    std::fs::write(&file, format!("{line}\n{line}\n")).unwrap();
    let path = file.display().to_string();
    let run = notify(
        &common::route_args(&exchange, &topic, &["--replay", &path]),
        b"",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines().len(), 2);
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("masked"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(warnings[0].contains(r#"context "auth_token" masked as "***""#));
    let got = broker.drain(&format!("{topic}.info"));
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].decoded().notification.context["auth_token"], "***");
    std::fs::remove_file(&file).unwrap();
    let empty = dir.display().to_string();
    for (arguments, stdin, from) in [
        (vec!["--replay", empty.as_str()], &b""[..], empty.as_str()),
        (vec!["--replay"], &b"\n\n"[..], "stdin"),
    ] {
        let mut all = vec!["--exchange", &exchange, "--topic", &topic];
        all.extend(arguments);
        let run = notify(&all, stdin);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            run.stderr.trim(),
            format!("oslo-notify: nothing to replay: no notification found in {from}")
        );
    }
    std::fs::remove_dir(&dir).unwrap();
}

/// `oslo-notify info x.y` on a terminal with no payload says it reads stdin, rather than
/// waiting in silence (tmux gives it a terminal).
#[test]
fn a_payload_awaited_from_a_terminal_is_announced() {
    let socket = common::unique("notify-tty");
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap()
    };
    let command = format!(
        "env OSLO_TRANSPORT_URL=rabbit://guest:guest@127.0.0.1:1/ {} info x.y",
        env!("CARGO_BIN_EXE_oslo-notify")
    );
    assert!(
        tmux(&["new-session", "-d", "-x", "100", "-y", "10", &command])
            .status
            .success()
    );
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut screen = String::new();
    while std::time::Instant::now() < until {
        screen = String::from_utf8_lossy(&tmux(&["capture-pane", "-p"]).stdout).into_owned();
        if screen.contains("reading") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    tmux(&["kill-server"]);
    common::remove_tmux_socket(&socket);
    assert!(
        screen.contains("oslo-notify: reading the JSON payload from stdin (end with Ctrl-D)"),
        "{screen}"
    );
}
