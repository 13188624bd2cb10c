//! `oslo-listen --source NAME=URL`: several brokers read at once, in one stream, every
//! notification labelled with the broker it came from. Each test brings up RabbitMQ nodes of
//! its own (separate brokers, not a cluster) beside the shared one.

use crate::common::node::{free_port, Node};
use crate::common::tmux::Tmux;
use crate::common::{self, read_lines, wait_for_line, wait_or_kill, Broker, Line};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// Starts `count` nodes at once.
fn nodes(count: usize) -> Vec<Node> {
    let starting: Vec<_> = (0..count)
        .map(|_| std::thread::spawn(Node::start))
        .collect();
    starting
        .into_iter()
        .map(|node| node.join().expect("a node starts"))
        .collect()
}

/// A running `oslo-listen` whose stdout and stderr lines are read as they come.
struct Listener {
    child: Child,
    stdout: Receiver<Line>,
    stderr: Receiver<Line>,
    out: Vec<Line>,
    err: Vec<Line>,
}

impl Listener {
    /// Starts `oslo-listen` with `args` (no OSLO_TRANSPORT_URL: the sources name the brokers).
    fn start(args: &[&str]) -> Listener {
        let mut child = Command::new(env!("CARGO_BIN_EXE_oslo-listen"))
            .args(args)
            .env_remove("OSLO_TRANSPORT_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("oslo-listen runs");
        Listener {
            stdout: read_lines(child.stdout.take().unwrap()),
            stderr: read_lines(child.stderr.take().unwrap()),
            child,
            out: Vec::new(),
            err: Vec::new(),
        }
    }

    /// Waits (up to 60 s) for a stderr line holding `text` (one said already counts).
    fn said(&mut self, text: &str) -> Line {
        if let Some(line) = self.err.iter().find(|(_, line)| line.contains(text)) {
            return line.clone();
        }
        self.said_next(text)
    }

    /// Waits (up to 60 s) for a stderr line holding `text` among those not read yet.
    fn said_next(&mut self, text: &str) -> Line {
        wait_for_line(&self.stderr, &mut self.err, text, Duration::from_secs(60))
    }

    /// Waits until each of `names` says it is listening.
    fn listening(&mut self, names: &[&str]) {
        for name in names {
            self.said(&format!("{name}: listening on"));
        }
    }

    /// Waits (up to 60 s) until `count` lines were printed; the lines so far.
    fn printed(&mut self, count: usize) -> &[Line] {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.out.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => self.out.push(line),
                Err(_) => panic!("{} of {count} lines printed", self.out.len()),
            }
        }
        &self.out
    }

    /// Waits (up to 120 s) for it to end: its exit code, every stdout line, and stderr.
    fn finish(mut self) -> (i32, Vec<String>, String) {
        let status = wait_or_kill(&mut self.child, Duration::from_secs(120));
        self.out.extend(self.stdout.iter());
        self.err.extend(self.stderr.iter());
        let out = self.out.drain(..).map(|(_, line)| line).collect();
        let err: Vec<String> = self.err.drain(..).map(|(_, line)| line).collect();
        (status.code().unwrap_or(-1), out, err.join("\n"))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends `count` notifications to the broker of `url` with `oslo-notify --lines`, each
/// payload naming `to` and its number; returns their message_ids.
fn send(url: &str, route: &[&str], to: &str, count: usize) -> BTreeSet<String> {
    let lines: String = (0..count)
        .map(|n| format!("{{\"to\": \"{to}\", \"n\": {n}}}\n"))
        .collect();
    let args = [route, &["--lines", "info", "test.sources"]].concat();
    let run = common::notify_with_url(url, &args, lines.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    let ids: BTreeSet<String> = run.stdout.lines().map(str::to_owned).collect();
    assert_eq!(ids.len(), count);
    ids
}

/// The message_ids printed per source, and how many lines each source printed (a line
/// printed twice counts twice). Every line's payload says which broker it was sent to,
/// which must be its source.
fn by_source(lines: &[String]) -> (BTreeMap<String, BTreeSet<String>>, BTreeMap<String, usize>) {
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in lines {
        let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let source = value["source"].as_str().expect("a source").to_owned();
        assert_eq!(value["payload"]["to"], source.as_str(), "{line}");
        let id = value["metadata"]["message_id"].as_str().unwrap().to_owned();
        ids.entry(source.clone()).or_default().insert(id);
        *counts.entry(source).or_default() += 1;
    }
    (ids, counts)
}

/// `--source NAME=URL` for each name and node.
fn source_args(names: &[&str], nodes: &[Node]) -> Vec<String> {
    names
        .iter()
        .zip(nodes)
        .flat_map(|(name, node)| {
            [
                "--source".to_owned(),
                format!("{name}={}", node.transport_url()),
            ]
        })
        .collect()
}

#[test]
fn three_brokers_read_as_one_stream_in_tap_shared_and_pool_modes() {
    let nodes = nodes(3);
    let names = ["east", "west", "north"];
    let sources = source_args(&names, &nodes);
    let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
    let topic = common::unique("sources");
    let route = ["--topic", topic.as_str()];
    let with = |rest: &[&str]| -> Vec<String> {
        [&sources[..], &route[..], rest]
            .concat()
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    let start = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Listener::start(&args)
    };

    // Tap: a private queue on each broker; three listeners at once, each seeing all of it.
    let saved = std::env::temp_dir().join(common::unique("sources-save"));
    let saved_dir = saved.to_str().unwrap();
    let mut json = start(with(&[
        "--json",
        "--save",
        saved_dir,
        "--count",
        "30",
        "--timeout",
        "120",
    ]));
    let mut only_west = start(with(&[
        "--where",
        ".source == \"west\"",
        "--format",
        "{source} {payload.to} {payload.n}",
        "--count",
        "10",
        "--timeout",
        "120",
    ]));
    let mut top = start(with(&[
        "--top",
        "--by",
        "source",
        "--count",
        "30",
        "--timeout",
        "120",
    ]));
    for listener in [&mut json, &mut only_west, &mut top] {
        listener.listening(&names);
    }
    // Poison on one broker is reported with its source, and the others go on.
    Broker::at(&nodes[2].amqp_url()).publish_raw(
        "openstack",
        &format!("{topic}.info"),
        b"not a notification",
    );
    let mut sent = BTreeMap::new();
    for (name, node) in names.iter().zip(&nodes) {
        sent.insert(
            name.to_string(),
            send(&node.transport_url(), &route, name, 10),
        );
    }
    let (_, poison) = json.said("is not a notification");
    assert!(
        poison.starts_with("oslo-listen: north: message on exchange \"openstack\""),
        "{poison}"
    );
    let (code, lines, err) = json.finish();
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines.len(), 30, "{lines:#?}");
    let (ids, counts) = by_source(&lines);
    assert_eq!(ids, sent, "each source's notifications, labelled with it");
    assert!(counts.values().all(|n| *n == 10), "{counts:?}");

    // Saved with their source, read back with it; sent again without it.
    let from = common::listen_with_url(&common::transport_url(), &["--from", saved_dir, "--json"]);
    assert_eq!(from.code, 0, "{from:?}");
    let lines: Vec<String> = from.lines().into_iter().map(str::to_owned).collect();
    assert_eq!(by_source(&lines).0, sent, "--from keeps the labels");
    let (scratch, exchange, topic_again) = common::scratch();
    let replay = common::notify(
        &common::route_args(&exchange, &topic_again, &["--replay", saved_dir]),
        b"",
    );
    assert_eq!(replay.code, 0, "{replay:?}");
    let replayed = scratch.drain(&format!("{topic_again}.info"));
    assert_eq!(replayed.len(), 30);
    assert!(replayed
        .iter()
        .all(|got| !got.text().contains("\"source\"")));
    std::fs::remove_dir_all(&saved).unwrap();

    let (code, lines, err) = only_west.finish();
    assert_eq!(code, 0, "{err}");
    let expected: Vec<String> = (0..10).map(|n| format!("west west {n}")).collect();
    assert_eq!(lines, expected);

    let (code, lines, err) = top.finish();
    assert_eq!(code, 0, "{err}");
    let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["by"], "source");
    let states: Vec<String> = last["sources"]
        .as_array()
        .expect("each source's state")
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["source"].as_str().unwrap(),
                s["state"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        states,
        ["east listening", "west listening", "north listening"]
    );
    let mut rows: Vec<(String, u64)> = last["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("east".into(), 10),
            ("north".into(), 10),
            ("west".into(), 10)
        ]
    );

    // Shared: what waits in each broker's shared queue is read, from all three. (A topic
    // of its own: the shared queues of the first one hold what was sent above.)
    let shared_topic = common::unique("sources-shared");
    let shared_route = ["--topic", shared_topic.as_str()];
    let mut sent = BTreeMap::new();
    for (name, node) in names.iter().zip(&nodes) {
        sent.insert(
            name.to_string(),
            send(&node.transport_url(), &shared_route, name, 5),
        );
    }
    let mut args: Vec<&str> = sources.clone();
    args.extend_from_slice(&shared_route);
    args.extend_from_slice(&["--shared", "--json", "--count", "15", "--timeout", "120"]);
    let shared = Listener::start(&args);
    let (code, lines, err) = shared.finish();
    assert_eq!(code, 0, "{err}");
    let (ids, counts) = by_source(&lines);
    assert_eq!(ids, sent);
    assert!(counts.values().all(|n| *n == 5), "{counts:?}");
    let queue = format!("{shared_topic}.info");
    for node in &nodes {
        let broker = Broker::at(&node.amqp_url());
        assert!(broker.drain_ids(&queue).is_empty(), "every one was taken");
    }

    // Pool: the pool's queue on each broker.
    let mut pool = start(with(&[
        "--pool",
        "p1",
        "--json",
        "--count",
        "9",
        "--timeout",
        "120",
    ]));
    pool.listening(&names);
    let mut sent = BTreeMap::new();
    for (name, node) in names.iter().zip(&nodes) {
        sent.insert(
            name.to_string(),
            send(&node.transport_url(), &route, name, 3),
        );
    }
    let (code, lines, err) = pool.finish();
    assert_eq!(code, 0, "{err}");
    let (ids, counts) = by_source(&lines);
    assert_eq!(ids, sent);
    assert!(counts.values().all(|n| *n == 3), "{counts:?}");
}

#[test]
fn a_broker_stopped_mid_stream_is_reconnected_while_the_others_go_on() {
    let nodes = nodes(2);
    let names = ["east", "west"];
    let sources = source_args(&names, &nodes);
    let topic = common::unique("sources-restart");
    // Durable queues live through the restart of their broker.
    let route = ["--durable", "--topic", topic.as_str()];
    let mut args: Vec<&str> = sources.iter().map(String::as_str).collect();
    args.extend_from_slice(&route);
    args.extend_from_slice(&[
        "--shared",
        "--priority",
        "info",
        "--json",
        "--count",
        "50",
        "--timeout",
        "180",
    ]);
    let mut listener = Listener::start(&args);
    listener.listening(&names);
    let (east, west) = (nodes[0].transport_url(), nodes[1].transport_url());
    let mut sent: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    sent.insert("east".into(), send(&east, &route, "east", 10));
    sent.insert("west".into(), send(&west, &route, "west", 10));
    listener.printed(20);

    nodes[0].stop_app();
    let (_, lost) = listener.said_next("reconnecting");
    assert!(lost.starts_with("oslo-listen: east: "), "{lost}");
    // West goes on while east is away.
    sent.get_mut("west")
        .unwrap()
        .extend(send(&west, &route, "west", 15));
    // (East is still away: this much is printed only if west went on.)
    listener.printed(35);
    nodes[0].start_app();
    listener.said_next("east: listening on");
    sent.get_mut("east")
        .unwrap()
        .extend(send(&east, &route, "east", 15));
    let (code, lines, err) = listener.finish();
    assert_eq!(code, 0, "{err}");
    let (ids, counts) = by_source(&lines);
    assert_eq!(ids, sent, "nothing lost, per source");
    assert_eq!(counts["east"], 25, "nothing printed twice: {counts:?}");
    assert_eq!(counts["west"], 25, "nothing printed twice: {counts:?}");
    assert!(
        err.lines()
            .any(|l| l.contains("east: ") && l.contains("reconnecting")),
        "{err}"
    );
    assert!(
        !err.lines()
            .any(|l| l.contains("west: ") && l.contains("reconnecting")),
        "west was not touched: {err}"
    );
}

#[test]
fn a_source_out_of_reach_ends_the_run_unless_partial_and_a_wrong_password_always_does() {
    let good = format!("good={}", common::transport_url());
    let dead_url = format!("rabbit://guest:hunter2@127.0.0.1:{}/", free_port());
    let dead = format!("dead={dead_url}");
    let topic = common::unique("sources-partial");
    // The shared queue the notification sent to "good" waits in, deleted at the end.
    let mut scratch = Broker::new();
    scratch.forget_queue(&format!("{topic}.info"));

    // Out of reach, without --partial: exit 3 naming it, once the wait for it is over.
    let run = Listener::start(&[
        "--source",
        &good,
        "--source",
        &dead,
        "--topic",
        &topic,
        "--timeout",
        "3",
    ]);
    let (code, _, err) = run.finish();
    assert_eq!(code, 3, "{err}");
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("oslo-listen: error: source dead: cannot connect to"),
        "{last}"
    );
    assert!(!err.contains("hunter2"), "{err}");

    // A wrong password: exit 3 naming the source, the password not shown.
    let wrong = format!(
        "bad={}",
        common::transport_url().replacen(":guest@", ":hunter2@", 1)
    );
    let run = Listener::start(&[
        "--source",
        &good,
        "--source",
        &wrong,
        "--topic",
        &topic,
        "--partial",
    ]);
    let (code, _, err) = run.finish();
    assert_eq!(code, 3, "{err}");
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("oslo-listen: error: source bad: "),
        "{last}"
    );
    assert!(last.contains("refused"), "{last}");
    assert!(!err.contains("hunter2"), "{err}");

    // With --partial, the others are read while it is tried again, and it says so.
    let node = Node::start();
    node.stop_app();
    let late = format!("late={}", node.transport_url());
    let mut run = Listener::start(&[
        "--source",
        &good,
        "--source",
        &late,
        "--source",
        &dead,
        "--partial",
        "--topic",
        &topic,
        "--json",
        "--count",
        "2",
        "--timeout",
        "120",
    ]);
    run.listening(&["good"]);
    run.said("late: cannot connect to");
    run.said("dead: cannot connect to");
    send(&common::transport_url(), &["--topic", &topic], "good", 1);
    run.printed(1);
    node.start_app();
    run.said_next("late: listening on");
    send(&node.transport_url(), &["--topic", &topic], "late", 1);
    let (code, lines, err) = run.finish();
    assert_eq!(code, 0, "{err}");
    let (_, counts) = by_source(&lines);
    assert_eq!(counts.get("good"), Some(&1), "{lines:?}");
    assert_eq!(counts.get("late"), Some(&1), "{lines:?}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_signal_stops_every_source_each_acknowledging_what_it_printed_and_nothing_else() {
    let nodes = nodes(2);
    let names = ["east", "west"];
    let sources = source_args(&names, &nodes);
    let topic = common::unique("sources-signal");
    let route = ["--topic", topic.as_str()];
    let total = 30_000;
    let mut sent = BTreeMap::new();
    for (name, node) in names.iter().zip(&nodes) {
        sent.insert(
            name.to_string(),
            send(&node.transport_url(), &route, name, total),
        );
    }
    let mut args: Vec<&str> = sources.iter().map(String::as_str).collect();
    args.extend_from_slice(&route);
    args.extend_from_slice(&["--shared", "--priority", "info", "--json"]);
    let mut listener = Listener::start(&args);
    // Stopped in the middle of the stream.
    listener.printed(2_000);
    let pid = listener.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let (code, lines, err) = listener.finish();
    assert_eq!(code, 0, "{err}");
    let (printed, counts) = by_source(&lines);
    let queue = format!("{topic}.info");
    for (name, node) in names.iter().zip(&nodes) {
        let left = Broker::at(&node.amqp_url()).drain_ids(&queue);
        let printed = printed.get(*name).cloned().unwrap_or_default();
        assert_eq!(
            counts.get(*name).copied().unwrap_or(0),
            printed.len(),
            "{name}: none printed twice"
        );
        assert!(
            printed.is_disjoint(&left),
            "{name}: what was printed was acknowledged"
        );
        let all: BTreeSet<String> = printed.union(&left).cloned().collect();
        assert_eq!(
            all, sent[*name],
            "{name}: what was not printed is still queued"
        );
        assert!(left.len() < total, "{name}: stopped mid-stream");
    }
}

#[test]
fn the_terminal_view_shows_each_source_and_where_it_stands() {
    let (_broker, exchange, topic) = common::scratch();
    let good = format!("good={}", common::transport_url());
    let down = format!("down=rabbit://guest:guest@127.0.0.1:{}/", free_port());
    let command = format!(
        "{} --top --by source --partial --source {good} --source {down} \
         --exchange {exchange} --topic {topic} --interval 0.3; echo EXIT=$?; sleep 60",
        env!("CARGO_BIN_EXE_oslo-listen"),
    );
    let tmux = Tmux::start_sized(&format!("sh -c '{command}'"), 120, 30);
    tmux.wait_for(&["good listening", "down unreachable"]);
    for event_type in [
        "compute.instance.create.start",
        "compute.instance.create.end",
    ] {
        let args = common::route_args(
            &exchange,
            &topic,
            &["info", event_type, r#"{"instance_id": "9a3b"}"#],
        );
        let run = common::notify(&args, b"");
        assert_eq!(run.code, 0, "{run:?}");
    }
    let screen = tmux.wait_for(&["2 notifications", "SOURCE OPERATION"]);
    let row = screen
        .lines()
        .find(|l| l.starts_with("good ") && l.contains("compute.instance.create"))
        .unwrap_or_else(|| panic!("an operation row of good: {screen}"));
    assert!(row.split_whitespace().nth(2) == Some("1"), "{row}");
    tmux.keys(&["q"]);
    let history = tmux.wait_for(&["EXIT=0"]);
    let history = format!("{}\n{history}", tmux.history());
    assert!(
        history.contains("sources: good listening, down unreachable"),
        "{history}"
    );
}

#[test]
fn a_transport_url_in_the_environment_is_not_read_when_the_sources_are_named() {
    let dead = format!("dead=rabbit://guest:guest@127.0.0.1:{}/", free_port());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_oslo-listen"))
            .args(args)
            .env("OSLO_TRANSPORT_URL", "not a url")
            .stdin(Stdio::null())
            .output()
            .expect("oslo-listen runs")
    };
    let named = run(&["--source", &dead, "--timeout", "0.5"]);
    let said = String::from_utf8_lossy(&named.stderr);
    assert_eq!(named.status.code(), Some(3), "{said}");
    assert!(said.contains("source dead: cannot connect"), "{said}");
    let saved = std::env::temp_dir().join(common::unique("sources-none.jsonl"));
    std::fs::write(&saved, "").unwrap();
    let from = run(&["--from", saved.to_str().unwrap()]);
    std::fs::remove_file(&saved).unwrap();
    assert_eq!(
        from.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&from.stderr)
    );
}
