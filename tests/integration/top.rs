//! `oslo-listen --top`: the JSON face against the real broker (rows for each grouping,
//! operations paired from chosen timestamps, shared queue depths), and the full-screen face
//! in a real terminal (tmux).

use crate::common::tmux::Tmux;
use crate::common::{listen, route_args, scratch, send, Run};
use chrono::{Duration as Span, NaiveDateTime, Utc};
use oslo_notify::envelope::{new_unique_id, Format, Notification, Priority};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// An oslo message body with every field chosen.
fn body(
    priority: Priority,
    event_type: &str,
    publisher: Option<&str>,
    payload: Value,
    timestamp: NaiveDateTime,
) -> Vec<u8> {
    let mut n = Notification::new(priority, event_type, payload);
    n.publisher_id = publisher.map(str::to_owned);
    n.timestamp = timestamp.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    n.encode(Format::V2, &new_unique_id()).unwrap()
}

/// The JSON lines of a finished `--top` run; the last one is marked final.
fn figures(run: &Run) -> Vec<Value> {
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<Value> = run
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let last = lines.last().expect("a final line");
    assert_eq!(last["final"], true, "{last}");
    lines
}

/// `key -> (count, errors)` of a line's rows.
fn rows(line: &Value) -> BTreeMap<String, (u64, u64)> {
    line["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let key = r["key"].as_str().unwrap().to_owned();
            (
                key,
                (r["count"].as_u64().unwrap(), r["errors"].as_u64().unwrap()),
            )
        })
        .collect()
}

fn counts<const N: usize>(rows: [(&str, u64, u64); N]) -> BTreeMap<String, (u64, u64)> {
    rows.into_iter()
        .map(|(k, c, e)| (k.to_owned(), (c, e)))
        .collect()
}

#[test]
fn rows_count_and_errors_for_each_grouping() {
    let (mut broker, ex1, topic) = scratch();
    let ex2 = broker.exchange_name();
    let now = Utc::now().naive_utc();
    let mix: [(&str, Priority, &str, Option<&str>, usize); 6] = [
        (
            &ex1,
            Priority::Info,
            "compute.instance.create.end",
            Some("compute.h1"),
            3,
        ),
        (
            &ex1,
            Priority::Error,
            "compute.instance.create.error",
            Some("compute.h1"),
            1,
        ),
        (
            &ex2,
            Priority::Info,
            "port.create.end",
            Some("network.h2"),
            2,
        ),
        (
            &ex1,
            Priority::Critical,
            "volume.delete.end",
            Some("volume.h3"),
            1,
        ),
        (&ex1, Priority::Warn, "image.update", None, 2),
        (
            &ex2,
            Priority::Sample,
            "port.delete.end",
            Some("network.h2"),
            1,
        ),
    ];
    let listeners: Vec<_> = ["event_type", "publisher_id", "priority", "exchange"]
        .into_iter()
        .map(|by| {
            let args = [
                "--exchange",
                &ex1,
                "--exchange",
                &ex2,
                "--topic",
                &topic,
                "--top",
                "--by",
                by,
                "--count",
                "10",
                "--timeout",
                "60",
                "--interval",
                "0.2",
            ];
            listen(&args)
        })
        .collect();
    for (exchange, priority, event_type, publisher, times) in mix {
        for _ in 0..times {
            let routing_key = format!("{topic}.{}", priority.name());
            broker.publish_raw(
                exchange,
                &routing_key,
                &body(priority, event_type, publisher, json!({}), now),
            );
        }
    }
    let lines: Vec<Vec<Value>> = listeners
        .into_iter()
        .map(|l| figures(&l.finish()))
        .collect();
    for line in &lines {
        let last = line.last().unwrap();
        assert_eq!(
            (last["total"].as_u64(), last["errors"].as_u64()),
            (Some(10), Some(2))
        );
    }
    assert_eq!(
        rows(lines[0].last().unwrap()),
        counts([
            ("compute.instance.create.end", 3, 0),
            ("compute.instance.create.error", 1, 1),
            ("port.create.end", 2, 0),
            ("volume.delete.end", 1, 1),
            ("image.update", 2, 0),
            ("port.delete.end", 1, 0),
        ])
    );
    assert_eq!(
        rows(lines[1].last().unwrap()),
        counts([
            ("compute.h1", 4, 1),
            ("network.h2", 3, 0),
            ("volume.h3", 1, 1),
            ("(none)", 2, 0)
        ])
    );
    assert_eq!(
        rows(lines[2].last().unwrap()),
        counts([
            ("info", 5, 0),
            ("error", 1, 1),
            ("critical", 1, 1),
            ("warn", 2, 0),
            ("sample", 1, 0)
        ])
    );
    assert_eq!(
        rows(lines[3].last().unwrap()),
        counts([(&ex1, 7, 2), (&ex2, 3, 0)])
    );
    // Sorted by count, most first.
    let first = &lines[0].last().unwrap()["rows"][0];
    assert_eq!(first["key"], "compute.instance.create.end");
    assert!(first["rate"].as_f64().unwrap() > 0.0);
}

/// An operation's figures from a line.
fn operation(line: &Value, name: &str) -> Value {
    line["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["operation"] == name)
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        .clone()
}

fn close_to(value: &Value, want: f64) {
    let got = value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is not a number"));
    assert!(
        (got - want).abs() <= want * 0.01 + 0.001,
        "{got} is not {want}"
    );
}

#[test]
fn operations_pair_by_every_id_kind_with_durations_from_timestamps() {
    let (mut broker, exchange, topic) = scratch();
    let now = Utc::now().naive_utc();
    let t0 = now - Span::seconds(60);
    let at = |seconds: f64| t0 + Span::milliseconds((seconds * 1000.0) as i64);
    let versioned = |uuid: &str| {
        json!({
            "nova_object.name": "InstanceActionPayload",
            "nova_object.namespace": "nova",
            "nova_object.version": "1.8",
            "nova_object.data": {
                "uuid": uuid,
                "host": "compute-1",
                "flavor": {
                    "nova_object.name": "FlavorPayload",
                    "nova_object.namespace": "nova",
                    "nova_object.version": "1.4",
                    "nova_object.data": {"flavorid": "a1", "memory_mb": 512, "vcpus": 1}
                },
                "ip_addresses": [{
                    "nova_object.name": "IpPayload",
                    "nova_object.namespace": "nova",
                    "nova_object.version": "1.0",
                    "nova_object.data": {"address": "10.0.0.5", "version": 4}
                }]
            }
        })
    };
    let request = |id: &str| {
        let mut n = Notification::new(Priority::Info, "", json!({"name": "net1"}));
        n.context.insert("request_id".into(), json!(id));
        n
    };
    let create = "compute.instance.create";
    let sends: Vec<(String, Value, NaiveDateTime, Option<&str>)> = vec![
        (
            format!("{create}.start"),
            json!({"instance_id": "a", "id": "x"}),
            at(0.0),
            None,
        ),
        (
            format!("{create}.start"),
            json!({"instance_id": "b"}),
            at(0.0),
            None,
        ),
        (
            format!("{create}.start"),
            json!({"instance_id": "c"}),
            now - Span::seconds(120),
            None,
        ),
        (
            format!("{create}.start"),
            json!({"instance_id": "d"}),
            now,
            None,
        ),
        (
            format!("{create}.start"),
            json!({"instance_id": "e"}),
            at(0.0),
            None,
        ),
        (
            format!("{create}.end"),
            json!({"instance_id": "a", "id": "y"}),
            at(4.0),
            None,
        ),
        (
            format!("{create}.end"),
            json!({"instance_id": "b"}),
            at(2.0),
            None,
        ),
        (
            format!("{create}.error"),
            json!({"instance_id": "e"}),
            at(1.0),
            None,
        ),
        (
            "volume.attach.start".into(),
            json!({"resource_id": "r1"}),
            at(0.0),
            None,
        ),
        (
            "volume.attach.end".into(),
            json!({"resource_id": "r1"}),
            at(1.5),
            None,
        ),
        ("image.upload.start".into(), json!({"id": 7}), at(0.0), None),
        ("image.upload.end".into(), json!({"id": 7}), at(0.25), None),
        (
            "network.create.start".into(),
            Value::Null,
            at(0.0),
            Some("req-1"),
        ),
        (
            "network.create.end".into(),
            Value::Null,
            at(3.0),
            Some("req-1"),
        ),
        (
            "instance.resize.start".into(),
            versioned("u1"),
            at(0.0),
            None,
        ),
        (
            "instance.resize.end".into(),
            versioned("u1"),
            at(10.0),
            None,
        ),
    ];
    let total = sends.len().to_string();
    let runs: Vec<_> = [&[][..], &["--unwrap"][..]]
        .into_iter()
        .map(|extra| {
            let mut args = route_args(&exchange, &topic, &["--top", "--stale", "30"]);
            args.extend_from_slice(&["--count", &total, "--timeout", "60"]);
            args.extend_from_slice(extra);
            listen(&args)
        })
        .collect();
    for (event_type, payload, timestamp, request_id) in &sends {
        let mut n = match request_id {
            Some(id) => {
                let mut n = request(id);
                n.event_type = event_type.clone();
                n
            }
            None => Notification::new(Priority::Info, event_type.as_str(), payload.clone()),
        };
        n.publisher_id = Some("compute.h1".into());
        n.timestamp = timestamp.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
        let body = n.encode(Format::V2, &new_unique_id()).unwrap();
        broker.publish_raw(&exchange, &format!("{topic}.info"), &body);
    }
    for run in runs {
        let lines = figures(&run.finish());
        let last = lines.last().unwrap();
        let ops = operation(last, create);
        let fields =
            ["started", "ended", "failed", "in_flight", "stale"].map(|k| ops[k].as_u64().unwrap());
        assert_eq!(fields, [5, 2, 1, 2, 1], "{ops}");
        close_to(&ops["p50_s"], 2.0);
        close_to(&ops["p95_s"], 4.0);
        assert_eq!(ops["max_s"], 4.0);
        for (name, seconds) in [
            ("volume.attach", 1.5),
            ("image.upload", 0.25),
            ("network.create", 3.0),
            ("instance.resize", 10.0),
        ] {
            let op = operation(last, name);
            let fields = ["started", "ended", "failed", "in_flight", "stale"]
                .map(|k| op[k].as_u64().unwrap());
            assert_eq!(fields, [1, 1, 0, 0, 0], "{op}");
            assert_eq!(op["max_s"], seconds, "{op}");
            close_to(&op["p50_s"], seconds);
        }
    }
}

#[test]
fn an_operation_with_nothing_ended_has_null_durations() {
    let (mut broker, exchange, topic) = scratch();
    let args = route_args(
        &exchange,
        &topic,
        &["--top", "--count", "1", "--timeout", "60"],
    );
    let listener = listen(&args);
    let start = body(
        Priority::Info,
        "snapshot.create.start",
        Some("volume.h1"),
        json!({"id": "s1"}),
        Utc::now().naive_utc(),
    );
    broker.publish_raw(&exchange, &format!("{topic}.info"), &start);
    let lines = figures(&listener.finish());
    let op = operation(lines.last().unwrap(), "snapshot.create");
    assert_eq!(
        op,
        json!({"operation": "snapshot.create", "started": 1, "ended": 0, "failed": 0,
               "in_flight": 1, "stale": 0, "p50_s": null, "p95_s": null, "max_s": null})
    );
}

#[test]
fn a_queue_filling_with_nobody_reading_shows_and_a_missing_one_is_not_created() {
    let (mut broker, exchange, topic) = scratch();
    for _ in 0..5 {
        send(
            &exchange,
            &topic,
            &["info", "compute.instance.exists", "{}"],
        );
    }
    let info = format!("{topic}.info");
    let error = format!("{topic}.error");
    assert!(!broker.queue_exists(&error));
    let args = route_args(
        &exchange,
        &topic,
        &["--top", "--timeout", "2", "--interval", "0.5"],
    );
    let run = crate::common::listen_with_url(&crate::common::transport_url(), &args);
    let lines = figures(&run);
    let queues = &lines.last().unwrap()["queues"];
    assert_eq!(
        queues,
        &json!([{"queue": info, "exchange": exchange, "messages": 5, "consumers": 0}])
    );
    // A line every half second, before the final one.
    assert!(lines.len() >= 3, "{lines:?}");
    assert!(!broker.queue_exists(&error), "a passive declare created it");
    assert_eq!(broker.depth(&info), 5, "reading the depth took nothing");
}

/// The final figures read the queue depths once more: what arrived since the last read (every
/// 5 s) is in them.
#[test]
fn the_final_figures_have_the_queue_depths_of_the_end() {
    let (_broker, exchange, topic) = scratch();
    send(
        &exchange,
        &topic,
        &["info", "compute.instance.exists", "{}"],
    );
    let info = format!("{topic}.info");
    let args = route_args(
        &exchange,
        &topic,
        &["--top", "--timeout", "3", "--interval", "0.5"],
    );
    let listener = listen(&args);
    // Well after the first read (as soon as bound), well before the next (5 s later).
    std::thread::sleep(Duration::from_millis(1500));
    for _ in 0..4 {
        send(
            &exchange,
            &topic,
            &["info", "compute.instance.exists", "{}"],
        );
    }
    let lines = figures(&listener.finish());
    // Without a read at the end, the last figures would be those of the read at the start.
    let last = lines.last().unwrap();
    assert_eq!(
        last["queues"],
        json!([{"queue": info, "exchange": exchange, "messages": 5, "consumers": 0}])
    );
}

#[test]
fn the_terminal_view_follows_its_keys_and_gives_the_terminal_back() {
    let (_broker, exchange, topic) = scratch();
    let command = format!(
        "env OSLO_TRANSPORT_URL={} {} --top --exchange {exchange} --topic {topic} --interval 0.3; echo EXIT=$?; sleep 60",
        crate::common::transport_url(),
        env!("CARGO_BIN_EXE_oslo-listen"),
    );
    let tmux = Tmux::start(&format!("sh -c '{command}'"));
    let screen = tmux.wait_for(&["q quit", "0 notifications"]);
    assert_eq!(tmux.show("#{alternate_on}"), "1", "{screen}");
    // Wait for the tap queue to be bound (its binding shows in the queues table's topic).
    tmux.wait_for(&["listening on"]);
    for (event_type, publisher, priority) in [
        ("compute.instance.create.start", "compute.h1", "info"),
        ("compute.instance.create.end", "compute.h1", "info"),
        ("compute.instance.create.end", "compute.h2", "info"),
        ("compute.instance.delete.error", "compute.h2", "error"),
    ] {
        let payload = r#"{"instance_id": "9a3b", "display_name": "vm1"}"#;
        let args = route_args(
            &exchange,
            &topic,
            &["--publisher-id", publisher, priority, event_type, payload],
        );
        let run = crate::common::notify(&args, b"");
        assert_eq!(run.code, 0, "{run:?}");
    }
    let screen = tmux.wait_for(&["4 notifications", "compute.instance.create.end"]);
    let row = screen
        .lines()
        .find(|l| l.contains("compute.instance.create.end"))
        .unwrap();
    assert!(row.split_whitespace().nth(1) == Some("2"), "{screen}");
    assert!(screen.contains("compute.instance.create"), "{screen}");
    // Both shared queues oslo-notify created, waiting with nobody to read them (names shortened
    // in the middle to fit 80 columns).
    let screen = tmux.wait_for(&["MESSAGES", "CONSUMERS"]);
    let unread: Vec<&str> = screen
        .lines()
        .filter(|l| l.ends_with("NO CONSUMER"))
        .collect();
    assert_eq!(unread.len(), 2, "{screen}");
    assert!(
        unread[0].contains(".error ") && unread[1].contains(".info "),
        "{screen}"
    );
    tmux.keys(&["s"]);
    tmux.wait_for(&["sorted by rate"]);
    tmux.keys(&["b"]);
    let screen = tmux.wait_for(&["by publisher_id"]);
    assert!(screen.contains("compute.h2"), "{screen}");
    tmux.keys(&["p"]);
    tmux.wait_for(&["PAUSED"]);
    let exists = r#"{"instance_id": "9a3b", "audit_period_beginning": "2026-11-26 00:00:00"}"#;
    send(
        &exchange,
        &topic,
        &["info", "compute.instance.exists", exists],
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        tmux.screen().contains("4 notifications"),
        "paused, the count stays"
    );
    tmux.keys(&["p"]);
    tmux.wait_for(&["5 notifications"]);
    // The first row by publisher, sorted by rate then count: compute.h1 or compute.h2.
    tmux.keys(&["Home", "Enter"]);
    let screen = tmux.wait_for(&["last of compute.h", "Esc back"]);
    assert!(screen.contains("\"instance_id\""), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_for(&["q quit"]);
    tmux.keys(&["q"]);
    let screen = tmux.wait_for(&["EXIT=0"]);
    assert_eq!(tmux.show("#{alternate_on}"), "0", "{screen}");
    assert_eq!(tmux.show("#{cursor_flag}"), "1", "{screen}");
    // The final tables, as plain text, after the screen is given back.
    assert!(
        screen.contains("5 notifications in"),
        "the summary line is printed: {screen}"
    );
    assert!(screen.contains("PUBLISHER_ID"), "{screen}");
    assert!(screen.contains("OPERATION"), "{screen}");
}

#[test]
fn the_terminal_view_ends_when_its_terminal_hangs_up() {
    let (_broker, exchange, topic) = scratch();
    let command = format!(
        "env OSLO_TRANSPORT_URL={} {} --top --exchange {exchange} --topic {topic}",
        crate::common::transport_url(),
        env!("CARGO_BIN_EXE_oslo-listen"),
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for(&["q quit", "listening on"]);
    let pid = tmux.show("#{pane_pid}");
    // env has become the listener.
    let program = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(program.contains("oslo-listen\0--top"), "{program:?}");
    // The window closes: the terminal hangs up under the listener.
    tmux.run(&["kill-server"]);
    let until = Instant::now() + Duration::from_secs(20);
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.contains(") Z "))
    };
    while alive() {
        assert!(
            Instant::now() < until,
            "oslo-listen {pid} still runs after its terminal hung up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One thing a person does to the view: a key (tmux's name for it) or a resize.
#[derive(Debug, Clone, Copy)]
enum Step {
    Key(&'static str),
    Size(u16, u16),
}

/// How a run of the view ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Quit,
    Sigterm,
    Sigint,
    HangUp,
}

/// The CPU time (user + system) a process has used so far.
fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses and may hold blanks.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf reads a configuration value and has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

/// Runs `--top` in a 120x40 terminal over notifications of three event types, does `steps`
/// (a short pause after each), measures the CPU over an idle period, then ends the view as
/// `end` says; the view must end, give the terminal back and leave no process behind.
fn sequence_then(name: &str, steps: &[Step], end: End) {
    let (_broker, exchange, topic) = scratch();
    let command = format!(
        "env OSLO_TRANSPORT_URL={} {} --top --exchange {exchange} --topic {topic} --interval 0.3",
        crate::common::transport_url(),
        env!("CARGO_BIN_EXE_oslo-listen"),
    );
    // After the view: its exit code, then the shell waits so that the screen can be read.
    let tmux = Tmux::start_sized(
        &format!("sh -c '{command}; echo EXIT=$?; sleep 60'"),
        120,
        40,
    );
    tmux.wait_for(&["q quit", "listening on"]);
    for event_type in [
        "compute.instance.create.start",
        "compute.instance.create.end",
        "port.update.end",
    ] {
        send(
            &exchange,
            &topic,
            &["info", event_type, r#"{"instance_id": "9a3b"}"#],
        );
    }
    tmux.wait_for(&["3 notifications", "port.update.end"]);
    let pid = crate::common::pid_of_child(&tmux.show("#{pane_pid}"), "oslo-listen");
    for step in steps {
        match step {
            Step::Key(key) => tmux.keys(&[key]),
            Step::Size(width, height) => {
                tmux.run(&[
                    "resize-window",
                    "-t",
                    "top",
                    "-x",
                    &width.to_string(),
                    "-y",
                    &height.to_string(),
                ]);
            }
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    // Idle: nothing arrives and nothing is typed.
    let idle = Duration::from_secs(2);
    let before = cpu_time(&pid);
    std::thread::sleep(idle);
    let used = cpu_time(&pid) - before;
    assert!(
        used < idle / 10,
        "{name}: {used:?} of CPU in {idle:?} of idling after {steps:?}:\n{}",
        tmux.screen()
    );
    assert!(
        alive(&pid),
        "{name}: the view ended by itself:\n{}",
        tmux.screen()
    );
    match end {
        End::Quit => tmux.keys(&["q"]),
        End::Sigterm | End::Sigint => {
            let signal = if end == End::Sigterm { "-TERM" } else { "-INT" };
            let killed = Command::new("kill").args([signal, &pid]).status().unwrap();
            assert!(killed.success());
        }
        End::HangUp => drop(tmux.run(&["kill-server"])),
    }
    let until = Instant::now() + Duration::from_secs(10);
    while alive(&pid) {
        assert!(
            Instant::now() < until,
            "{name}: oslo-listen {pid} still runs 10 s after {end:?} (steps {steps:?})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    if end != End::HangUp {
        // The terminal given back, and the final tables printed on it (above the screen of a
        // small window).
        let screen = tmux.wait_for(&["EXIT=0"]);
        let history = tmux.run(&["capture-pane", "-p", "-J", "-S", "-200", "-t", "top"]);
        assert!(
            history.contains("3 notifications in") && history.contains("OPERATION"),
            "{name}: no final tables:\n{history}"
        );
        assert_eq!(tmux.show("#{alternate_on}"), "0", "{name}: {screen}");
        assert_eq!(tmux.show("#{cursor_flag}"), "1", "{name}: {screen}");
    }
}

/// Sequences of keys and resizes people make, each followed by idling and one way of ending:
/// in every state the view stays idle when nothing happens and ends when asked.
#[test]
fn sequences_of_keys_and_resizes_leave_the_view_idle_and_answering() {
    use End::*;
    use Step::{Key as K, Size as S};
    let cases: Vec<(&str, Vec<Step>, End)> = vec![
        (
            "detail, back, resize",
            vec![K("Enter"), K("Escape"), S(100, 30), S(120, 40)],
            Quit,
        ),
        (
            "detail, back, tiny",
            vec![K("Enter"), K("Escape"), S(20, 5), S(120, 40)],
            Quit,
        ),
        (
            "sort, group, pause, tiny, detail",
            vec![
                K("s"),
                K("b"),
                K("p"),
                S(20, 5),
                K("p"),
                K("Enter"),
                K("Escape"),
            ],
            Sigterm,
        ),
        (
            "detail, resize while shown, scroll",
            vec![
                K("Enter"),
                S(100, 30),
                K("Down"),
                K("PgDn"),
                K("PgUp"),
                S(120, 40),
                K("Escape"),
            ],
            HangUp,
        ),
        (
            "moving around the table, resized",
            vec![
                K("Down"),
                K("End"),
                K("Up"),
                K("Home"),
                S(60, 16),
                K("PgDn"),
                S(120, 40),
                K("PgUp"),
            ],
            Sigint,
        ),
        (
            "left in the detail view",
            vec![S(100, 30), K("Enter"), S(20, 5), S(80, 24), K("End")],
            Quit,
        ),
        ("left too small and paused", vec![K("p"), S(20, 5)], Sigterm),
        (
            "left paused in the detail view",
            vec![K("p"), K("Enter"), S(90, 20)],
            HangUp,
        ),
    ];
    // Four at a time: each runs a listener and a terminal, on a 2-core machine.
    let mut failed: Vec<String> = Vec::new();
    let mut cases = cases.into_iter().peekable();
    while cases.peek().is_some() {
        let runs: Vec<_> = cases
            .by_ref()
            .take(4)
            .map(|(name, steps, end)| std::thread::spawn(move || sequence_then(name, &steps, end)))
            .collect();
        failed.extend(
            runs.into_iter()
                .filter_map(|run| run.join().err())
                .map(|panic| {
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_else(|| "a case panicked".to_owned())
                }),
        );
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}
