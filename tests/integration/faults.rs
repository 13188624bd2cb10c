//! Faults: a broker that is down, restarts or is killed, and a listener killed mid-stream.
//! Each test that stops its broker runs a RabbitMQ node of its own (tests/common/node.rs).

use crate::common;
use crate::common::node::Node;
use crate::common::{Listening, Run};

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn oslo_notify(url: &str, args: &[&str], stdin: &[u8]) -> Run {
    common::notify_with_url(url, args, stdin)
}

fn message_ids(stdout: &str) -> BTreeSet<String> {
    common::json_message_ids(stdout).into_iter().collect()
}

/// Sends one notification on `topic` and finishes `listener` (on `--count 1`): it printed
/// that one alone.
fn one_sent_is_the_one_received(url: &str, listener: Listening, topic: &str, event: &str) {
    let sent = oslo_notify(url, &["--topic", topic, "info", event, "{}"], b"");
    assert_eq!(sent.code, 0, "{sent:?}");
    let got = listener.finish();
    assert_eq!(got.code, 0, "{got:?}");
    assert_eq!(
        message_ids(&got.stdout),
        BTreeSet::from([sent.stdout.trim().to_owned()])
    );
}

fn lines_of_payloads(count: usize) -> String {
    (0..count).map(|i| format!("{{\"n\": {i}}}\n")).collect()
}

#[test]
fn oslo_notify_waits_for_a_broker_that_comes_back_and_gives_up_after_its_timeout() {
    let node = Node::start();
    let url = node.transport_url();
    node.stop_app();

    let started = Instant::now();
    let run = oslo_notify(&url, &["--timeout", "2", "info", "e", "{}"], b"");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "it retried for its timeout"
    );
    assert!(run.stderr.contains("trying again in"), "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap();
    assert!(
        last.starts_with("oslo-notify: error: cannot connect to"),
        "{last}"
    );

    let url_for_thread = url.clone();
    let sender = std::thread::spawn(move || {
        oslo_notify(
            &url_for_thread,
            &[
                "--timeout",
                "60",
                "--topic",
                "back",
                "info",
                "came.back",
                "{}",
            ],
            b"",
        )
    });
    std::thread::sleep(Duration::from_secs(2));
    node.start_app();
    let run = sender.join().unwrap();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines().len(), 1);
}

/// Starts oslo-listen on `url` without waiting for it to listen.
fn spawn_listener(url: &str, args: &[&str]) -> Listening {
    common::listen_on(url, args, false)
}

#[test]
fn oslo_listen_started_before_its_broker_waits_for_it() {
    let node = Node::start();
    let url = node.transport_url();
    node.stop_app();
    let mut listener = spawn_listener(
        &url,
        &[
            "--topic",
            "early",
            "--json",
            "--count",
            "1",
            "--timeout",
            "60",
        ],
    );
    listener.wait_for_stderr("trying again in");
    node.start_app();
    listener.wait_for_stderr("listening on");
    one_sent_is_the_one_received(&url, listener, "early", "e");
}

/// A listener in --shared mode with durable queues reads every notification published
/// before and after the broker goes away, whichever way it goes.
fn shared_listener_survives(break_broker: impl Fn(&Node)) {
    let node = Node::start();
    let url = node.transport_url();
    let common_args = ["--durable", "--topic", "restart"];
    // The durable queue exists before anything is sent.
    let mut listener = common::listen_on(
        &url,
        &[
            &common_args[..],
            &[
                "--priority",
                "info",
                "--shared",
                "--json",
                "--count",
                "20",
                "--timeout",
                "120",
            ],
        ]
        .concat(),
        true,
    );
    let before = oslo_notify(
        &url,
        &[&common_args[..], &["--lines", "info", "before"]].concat(),
        lines_of_payloads(10).as_bytes(),
    );
    assert_eq!(before.code, 0, "{before:?}");

    break_broker(&node);
    listener.wait_for_stderr("reconnecting");
    let after = oslo_notify(
        &url,
        &[
            &common_args[..],
            &["--timeout", "60", "--lines", "info", "after"],
        ]
        .concat(),
        lines_of_payloads(10).as_bytes(),
    );
    assert_eq!(after.code, 0, "{after:?}");

    let got = listener.finish();
    assert_eq!(got.code, 0, "{got:?}");
    let printed = message_ids(&got.stdout);
    let sent: BTreeSet<String> = before
        .stdout
        .lines()
        .chain(after.stdout.lines())
        .map(str::to_owned)
        .collect();
    assert_eq!(sent.len(), 20);
    assert!(
        sent.is_subset(&printed),
        "missing: {:?}",
        sent.difference(&printed).collect::<Vec<_>>()
    );
    assert!(got.stderr.contains("reconnecting"), "{}", got.stderr);
}

#[test]
fn oslo_listen_rides_through_stop_app_and_start_app() {
    shared_listener_survives(|node| {
        node.stop_app();
        std::thread::sleep(Duration::from_secs(1));
        node.start_app();
    });
}

#[test]
fn oslo_listen_rides_through_a_hard_kill_of_the_broker() {
    shared_listener_survives(|node| {
        node.kill();
        std::thread::sleep(Duration::from_millis(500));
        node.restart();
    });
}

#[test]
fn oslo_listen_killed_mid_stream_loses_nothing() {
    // The shared broker: only the listener is harmed here.
    let (mut broker, exchange, topic) = common::scratch();
    let total = 100_000;
    let run = common::notify(
        &common::route_args(&exchange, &topic, &["--lines", "info", "bulk"]),
        lines_of_payloads(total).as_bytes(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let sent: BTreeSet<String> = run.stdout.lines().map(str::to_owned).collect();
    assert_eq!(sent.len(), total);

    let args = common::route_args(
        &exchange,
        &topic,
        &["--shared", "--priority", "info", "--json"],
    );
    let mut first = Command::new(env!("CARGO_BIN_EXE_oslo-listen"))
        .args(&args)
        .env("OSLO_TRANSPORT_URL", common::transport_url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reader = common::read_all(first.stdout.take().unwrap());
    // Kill it once it is well into the stream.
    let queue = format!("{topic}.info");
    let deadline = Instant::now() + Duration::from_secs(120);
    while broker.depth(&queue) > (total as u32) / 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let first_output = String::from_utf8(reader.join().unwrap()).unwrap();
    let first_ids = message_ids(&first_output);
    assert!(
        !first_ids.is_empty() && first_ids.len() < total,
        "killed mid-stream: {}",
        first_ids.len()
    );

    // The broker returns what the killed listener had not acknowledged once it notices.
    while broker.consumers(&queue) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = broker.depth(&queue) as usize;
    let second = common::listen(
        &[
            &args[..],
            &["--count", &left.to_string(), "--timeout", "120"],
        ]
        .concat(),
    );
    let second = second.finish();
    assert_eq!(second.code, 0, "{}", second.stderr);
    let union: BTreeSet<String> = first_ids
        .union(&message_ids(&second.stdout))
        .cloned()
        .collect();
    assert_eq!(union, sent, "every message_id is in one run or the other");
    eprintln!(
        "killed after {} printed; {} left for the second run; {} printed twice",
        first_ids.len(),
        left,
        first_ids.len() + message_ids(&second.stdout).len() - total
    );
}

#[test]
fn a_broker_that_stops_answering_is_noticed_through_heartbeats() {
    let node = Node::start();
    let url = node.transport_url();
    let mut listener = common::listen_on(
        &url,
        &[
            "--heartbeat",
            "2",
            "--topic",
            "heartbeat",
            "--json",
            "--count",
            "1",
            "--timeout",
            "120",
        ],
        true,
    );
    node.pause();
    let paused = Instant::now();
    let line = listener.wait_for_stderr("reconnecting");
    let noticed = paused.elapsed();
    node.resume();
    // Heartbeats every 2 s: noticed after about two missed ones, not after TCP's minutes.
    assert!(
        noticed < Duration::from_secs(20),
        "noticed after {noticed:?}: {line}"
    );
    listener.wait_for_new_stderr("listening on");
    one_sent_is_the_one_received(&url, listener, "heartbeat", "alive");
    eprintln!("a paused broker was noticed after {noticed:?}: {line}");
}

#[test]
fn oslo_notify_lines_republishes_what_a_killed_broker_did_not_confirm() {
    let node = Node::start();
    let url = node.transport_url();
    let total = 10_000;
    let mut child = Command::new(env!("CARGO_BIN_EXE_oslo-notify"))
        .args([
            "--durable",
            "--topic",
            "survive",
            "--timeout",
            "60",
            "--lines",
            "info",
            "bulk",
        ])
        .env("OSLO_TRANSPORT_URL", &url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Feed the lines slowly, so that the broker dies in the middle of the stream.
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        for chunk in 0..20 {
            let lines: String = (0..total / 20)
                .map(|i| format!("{{\"n\": {}}}\n", chunk * (total / 20) + i))
                .collect();
            if stdin.write_all(lines.as_bytes()).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    // Its output is read meanwhile, so that it never waits on a full pipe.
    let stdout = common::read_all(child.stdout.take().unwrap());
    let stderr = common::read_all(child.stderr.take().unwrap());
    std::thread::sleep(Duration::from_millis(700));
    node.kill();
    node.restart();
    writer.join().unwrap();
    let status = child.wait().unwrap();
    let output = std::process::Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("reconnecting"),
        "the broker died mid-stream: {stderr}"
    );
    let printed: BTreeSet<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(printed.len(), total, "every line confirmed and reported");

    let broker = common::Broker::at(&node.amqp_url());
    common::assert_none_missing(&printed, &broker.drain_ids("survive.info"));
    eprintln!("{stderr}");
}

#[test]
fn a_broker_that_blocks_publishers_is_waited_for_until_the_timeout() {
    let node = Node::start();
    let url = node.transport_url();
    // A memory alarm: the broker blocks every publishing connection.
    node.ctl(&["set_vm_memory_high_watermark", "0.0000001"]);

    let run = oslo_notify(&url, &["--timeout", "3", "info", "blocked", "{}"], b"");
    assert_eq!(run.code, 4, "{run:?}");
    run.assert_said("is blocking publishes");
    let last = run.stderr.lines().last().unwrap();
    assert!(last.contains("(it is blocking publishes:"), "{last}");
    assert!(run.stdout.is_empty(), "nothing reported sent");

    let url_for_thread = url.clone();
    let sender = std::thread::spawn(move || {
        oslo_notify(
            &url_for_thread,
            &["--timeout", "60", "info", "unblocked", "{}"],
            b"",
        )
    });
    std::thread::sleep(Duration::from_secs(2));
    node.ctl(&["set_vm_memory_high_watermark", "0.4"]);
    let run = sender.join().unwrap();
    assert_eq!(run.code, 0, "{run:?}");
    run.assert_said("takes publishes again");
    assert_eq!(run.lines().len(), 1);
}
