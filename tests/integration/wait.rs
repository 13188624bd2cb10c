//! CI waits in one command: `oslo-listen --where/--fail-on ... -- COMMAND`, against the real
//! broker, with Nova-shaped versioned notifications (nested `nova_object`s and lists of
//! them). The trigger command is most often `oslo-notify --replay` itself, reading the
//! notifications to send from oslo-listen's stdin: whatever it sends must be seen, since it
//! starts only once oslo-listen consumes.

use crate::common::{self, route_args, scratch, Run};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NOTIFY: &str = env!("CARGO_BIN_EXE_oslo-notify");
const LISTEN: &str = env!("CARGO_BIN_EXE_oslo-listen");

/// A Nova versioned object primitive.
fn object(name: &str, version: &str, data: Value) -> Value {
    json!({
        "nova_object.name": name,
        "nova_object.namespace": "nova",
        "nova_object.version": version,
        "nova_object.data": data
    })
}

/// The payload of an `instance.create.*` versioned notification, as Nova documents it.
fn instance_payload(uuid: &str, display_name: &str, state: &str) -> Value {
    let flavor = object(
        "FlavorPayload",
        "1.4",
        json!({"flavorid": "a6ba3d4b", "name": "m1.tiny", "memory_mb": 512, "vcpus": 1,
               "root_gb": 1, "ephemeral_gb": 0, "swap": 0, "is_public": true,
               "extra_specs": {"hw:watchdog_action": "disabled"}}),
    );
    let keypair = object(
        "KeypairPayload",
        "1.0",
        json!({"name": "my-key", "type": "ssh", "user_id": "fake",
               "fingerprint": "1e:2c:9b:56:79:4b:45:77:f9:ca:7a:98:2c:b0:d5:3c"}),
    );
    let ip = object(
        "IpPayload",
        "1.0",
        json!({"address": "192.168.1.3", "version": 4, "label": "private-network",
               "mac": "fa:16:3e:4c:2c:30", "port_uuid": "ce531f90"}),
    );
    object(
        "InstanceCreatePayload",
        "1.12",
        json!({
            "uuid": uuid, "display_name": display_name, "host": "compute",
            "state": state, "power_state": "running", "task_state": null,
            "tenant_id": "6f70656e737461636b20342065766572",
            "flavor": flavor, "keypairs": [keypair], "ip_addresses": [ip],
            "tags": ["tag"], "fault": null
        }),
    )
}

/// An `oslo-notify --replay` line.
fn replay_line(priority: &str, event_type: &str, payload: Value, request_id: &str) -> String {
    json!({
        "priority": priority,
        "event_type": event_type,
        "publisher_id": "nova-compute:compute",
        "payload": payload,
        "context": {"request_id": request_id, "user": "admin", "auth_token": "gAAAA-secret"}
    })
    .to_string()
}

/// Runs oslo-listen with `args` on the test broker, with `stdin` as its standard input
/// (which its command inherits), to its end (at most 90 s).
fn listen_fed(args: &[&str], stdin: &str) -> Run {
    let file = std::env::temp_dir().join(format!("{}.jsonl", common::unique("replay")));
    std::fs::write(&file, stdin).unwrap();
    let mut child = Command::new(LISTEN)
        .args(args)
        .env("OSLO_TRANSPORT_URL", common::transport_url())
        .stdin(std::fs::File::open(&file).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = common::read_all(child.stdout.take().unwrap());
    let stderr = common::read_all(child.stderr.take().unwrap());
    let status = common::wait_or_kill(&mut child, Duration::from_secs(90));
    std::fs::remove_file(&file).unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap()).into_owned(),
    }
}

/// `oslo-listen ARGS -- oslo-notify --replay` to `exchange` and `topic`, fed `lines`.
fn wait_for(exchange: &str, topic: &str, args: &[&str], lines: &[String]) -> Run {
    let mut all = route_args(exchange, topic, args);
    // The command's own arguments, after `--`.
    all.extend(["--", NOTIFY]);
    all.extend(route_args(exchange, topic, &["--replay"]));
    listen_fed(&all, &(lines.join("\n") + "\n"))
}

/// [`wait_for`] on an exchange and topic of its own.
fn waited(args: &[&str], lines: &[String]) -> Run {
    let (_broker, exchange, topic) = scratch();
    wait_for(&exchange, &topic, args, lines)
}

/// Fails unless the process whose pid a command wrote to `pid_file` is gone (reaped).
fn assert_gone(pid_file: &std::path::Path) {
    let pid = std::fs::read_to_string(pid_file).unwrap();
    std::fs::remove_file(pid_file).unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the command {} is gone",
        pid.trim()
    );
}

fn json_lines(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The traffic of a small cloud: two builds, one of them failing, and unrelated noise.
fn traffic() -> Vec<String> {
    vec![
        replay_line(
            "info",
            "instance.create.start",
            instance_payload("u-1", "vm1", "building"),
            "req-1",
        ),
        replay_line(
            "info",
            "volume.attach",
            json!({"volume_id": "v-9"}),
            "req-9",
        ),
        replay_line(
            "info",
            "instance.create.start",
            instance_payload("u-2", "vm2", "building"),
            "req-2",
        ),
        replay_line(
            "error",
            "instance.create.error",
            instance_payload("u-2", "vm2", "error"),
            "req-2",
        ),
        replay_line(
            "info",
            "instance.create.end",
            instance_payload("u-1", "vm1", "active"),
            "req-1",
        ),
    ]
}

#[test]
fn where_picks_by_payload_context_priority_and_exchange() {
    let (_broker, exchange, topic) = scratch();
    let exchange_test = format!(".exchange == \"{exchange}\"");
    for (wheres, expected) in [
        (
            vec![
                ".event_type == \"instance.create.end\"",
                ".payload.\"nova_object.data\".display_name == \"vm1\"",
            ],
            vec!["instance.create.end"],
        ),
        (
            vec![".context.request_id == \"req-2\""],
            vec!["instance.create.start", "instance.create.error"],
        ),
        (
            vec![".priority == \"error\" or .priority == \"critical\""],
            vec!["instance.create.error"],
        ),
        (
            vec![exchange_test.as_str(), ".payload.volume_id == \"v-9\""],
            vec!["volume.attach"],
        ),
        (
            vec![
                ".payload.\"nova_object.data\".flavor.\"nova_object.data\".vcpus == 1",
                ".payload.\"nova_object.data\".state == \"building\"",
            ],
            vec!["instance.create.start", "instance.create.start"],
        ),
    ] {
        let mut args = vec!["--json", "--count", "", "--timeout", "60"];
        let count = expected.len().to_string();
        args[2] = &count;
        for w in &wheres {
            args.extend(["--where", w]);
        }
        let run = wait_for(&exchange, &topic, &args, &traffic());
        assert_eq!(run.code, 0, "{wheres:?}: {run:?}");
        let events: Vec<Value> = json_lines(&run)
            .iter()
            .map(|l| l["event_type"].clone())
            .collect();
        assert_eq!(events, expected, "{wheres:?}");
    }
}

#[test]
fn unwrap_makes_versioned_payloads_plain_for_where_and_output() {
    let run = waited(
        &[
            "--unwrap",
            "--json",
            "--where",
            ".event_type == \"instance.create.end\" and .payload.display_name == \"vm1\"",
            "--where",
            ".payload.\"@object\" | startswith(\"InstanceCreatePayload v1.\")",
            "--where",
            ".payload.keypairs[0].name == \"my-key\"",
            "--count",
            "1",
            "--timeout",
            "60",
        ],
        &traffic(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let line = &json_lines(&run)[0];
    let payload = &line["payload"];
    assert_eq!(payload["@object"], "InstanceCreatePayload v1.12 (nova)");
    assert_eq!(payload["flavor"]["@object"], "FlavorPayload v1.4 (nova)");
    assert_eq!(payload["flavor"]["name"], "m1.tiny");
    assert_eq!(
        payload["keypairs"][0]["@object"],
        "KeypairPayload v1.0 (nova)"
    );
    assert_eq!(payload["ip_addresses"][0]["address"], "192.168.1.3");
    assert_eq!(line["context"]["auth_token"], "***", "secrets stay masked");

    // Without --unwrap the payload is what was sent, and the same program finds nothing.
    let run = waited(
        &[
            "--json",
            "--where",
            ".payload.display_name == \"vm1\"",
            "--count",
            "1",
            "--timeout",
            "3",
        ],
        &traffic(),
    );
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(run.stdout, "");
}

#[test]
fn fail_on_prints_the_failure_ends_the_command_and_exits_5() {
    let (_broker, exchange, topic) = scratch();
    let pid_file = std::env::temp_dir().join(common::unique("pid"));
    let sender = format!(
        "echo $$ > {}; {NOTIFY} --exchange {exchange} --topic {topic} --replay; sleep 60",
        pid_file.display()
    );
    let mut args = route_args(
        &exchange,
        &topic,
        &[
            "--json",
            "--fail-on",
            ".event_type == \"instance.create.error\"",
            "--where",
            ".event_type == \"instance.create.end\"",
            "--count",
            "1",
            "--timeout",
            "60",
        ],
    );
    args.extend(["--", "sh", "-c", &sender]);
    let mut lines = traffic();
    lines.truncate(4); // the error comes before the end
    let started = Instant::now();
    let run = listen_fed(&args, &(lines.join("\n") + "\n"));
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "it did not sit out the sleep"
    );
    let printed = json_lines(&run);
    assert_eq!(printed.len(), 1);
    assert_eq!(printed[0]["event_type"], "instance.create.error");
    let message_id = printed[0]["metadata"]["message_id"].as_str().unwrap();
    assert!(
        run.stderr.contains(&format!(
            "oslo-listen: error: failure notification instance.create.error from nova-compute:compute ({message_id})"
        )),
        "{}",
        run.stderr
    );
    assert_gone(&pid_file);
}

#[test]
fn a_failing_or_missing_command_exits_6() {
    let (_broker, exchange, topic) = scratch();
    let mut args = route_args(&exchange, &topic, &["--count", "1", "--timeout", "60"]);
    args.extend(["--", "sh", "-c", "echo to-stdout; exit 3"]);
    let run = listen_fed(&args, "");
    assert_eq!(run.code, 6, "{run:?}");
    assert!(
        run.stderr
            .contains("oslo-listen: error: sh exited with status 3"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("to-stdout"),
        "the command's stdout goes to stderr"
    );
    assert_eq!(run.stdout, "", "stdout holds only notifications");

    let mut args = route_args(&exchange, &topic, &["--count", "1", "--timeout", "60"]);
    args.extend(["--", "no-such-command-anywhere"]);
    let run = listen_fed(&args, "");
    assert_eq!(run.code, 6, "{run:?}");
    run.assert_said("cannot start no-such-command-anywhere");
}

#[test]
fn the_timeout_ends_a_command_still_running_with_exit_4() {
    let (_broker, exchange, topic) = scratch();
    let pid_file = std::env::temp_dir().join(common::unique("pid"));
    let script = format!("echo $$ > {}; exec sleep 60", pid_file.display());
    let mut args = route_args(&exchange, &topic, &["--count", "1", "--timeout", "2"]);
    args.extend(["--", "sh", "-c", &script]);
    let run = listen_fed(&args, "");
    assert_eq!(run.code, 4, "{run:?}");
    assert_gone(&pid_file);
}

#[test]
fn the_count_reached_first_waits_for_the_command_then_exits_0() {
    let (_broker, exchange, topic) = scratch();
    let sender =
        format!("{NOTIFY} --exchange {exchange} --topic {topic} --replay && sleep 1 && echo done");
    let mut args = route_args(
        &exchange,
        &topic,
        &["--json", "--count", "2", "--timeout", "60"],
    );
    args.extend(["--", "sh", "-c", &sender]);
    let run = listen_fed(&args, &(traffic().join("\n") + "\n"));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(json_lines(&run).len(), 2);
    assert!(
        run.stderr.contains("done"),
        "it waited for the command: {}",
        run.stderr
    );
}

/// Starts oslo-listen with `args` (a command after `--`), once it says it is listening; with
/// its stderr lines, to be kept as long as it runs (a dropped reader would close the pipe).
fn listening_with_command(
    args: &[&str],
) -> (std::process::Child, std::sync::mpsc::Receiver<common::Line>) {
    let mut child = Command::new(LISTEN)
        .args(args)
        .env("OSLO_TRANSPORT_URL", common::transport_url())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = common::read_lines(child.stderr.take().unwrap());
    common::await_line(&stderr, "listening on");
    (child, stderr)
}

/// `oslo-listen --count 1 --timeout 60 -- bash -c '(trap "" TERM INT; exec sleep 102) & wait'`
/// then SIGINT or SIGTERM: the shell ends, its child ignores the signal, and after the grace
/// the group is killed: exit 130 or 143, nothing left behind.
#[test]
fn a_child_that_ignores_the_passed_on_signal_is_not_left_behind() {
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let (_broker, exchange, topic) = scratch();
        let pid_file = std::env::temp_dir().join(common::unique("ignoring"));
        let script = format!(
            "(trap '' TERM INT; exec sleep 102) & echo $! > {}; wait",
            pid_file.display()
        );
        let mut args = route_args(&exchange, &topic, &["--count", "1", "--timeout", "60"]);
        args.extend(["--", "bash", "-c", &script]);
        let (mut child, _stderr) = listening_with_command(&args);
        while std::fs::read_to_string(&pid_file).map_or(true, |p| !p.ends_with('\n')) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = common::wait_or_kill(&mut child, Duration::from_secs(30));
        assert_eq!(status.code(), Some(code), "{signal}");
        // Killed before oslo-listen exits; its parent (init, or whoever reaps orphans) may
        // take a moment to reap it.
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .is_ok_and(|stat| !stat.contains(") Z "))
        {
            assert!(
                std::time::Instant::now() < until,
                "{signal}: sleep {} left behind",
                pid.trim()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(&pid_file);
    }
}

#[test]
fn sigint_is_passed_on_to_the_command() {
    let (_broker, exchange, topic) = scratch();
    let marker = std::env::temp_dir().join(common::unique("sigint"));
    let script = format!(
        "trap 'echo got-int > {}; exit 0' INT; while true; do sleep 0.1; done",
        marker.display()
    );
    let mut args = route_args(&exchange, &topic, &["--timeout", "60"]);
    args.extend(["--", "sh", "-c", &script]);
    let (mut child, _stderr) = listening_with_command(&args);
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = common::wait_or_kill(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(130));
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap_or_default().trim(),
        "got-int",
        "the command got SIGINT"
    );
    let _ = std::fs::remove_file(&marker);
}

#[test]
fn programs_that_do_not_compile_are_usage_errors_and_runtime_errors_skip() {
    let run = common::listen_with_url(&common::transport_url(), &["--where", ".payload.n =="]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("cannot compile"), "{}", run.stderr);
    assert!(run.stderr.contains("column"), "{}", run.stderr);

    let (_broker, exchange, topic) = scratch();
    let lines = vec![
        replay_line("info", "a.number", json!({"n": 1}), "req-a"),
        replay_line("info", "a.string", json!({"n": "one"}), "req-b"),
    ];
    let run = wait_for(
        &exchange,
        &topic,
        &[
            "-v",
            "--json",
            "--where",
            ".payload.n | test(\"o\")",
            "--count",
            "1",
            "--timeout",
            "60",
        ],
        &lines,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(json_lines(&run)[0]["event_type"], "a.string");
    run.assert_said("failed on notification");
}

#[test]
fn templates_reach_keys_with_dots_quoted_or_not() {
    let run = waited(
        &[
            "--format",
            "{event_type} {payload.nova_object.name} {payload.\"nova_object.data\".uuid} {payload.nova_object.data.flavor.nova_object.data.name}",
            "--where",
            ".event_type == \"instance.create.end\"",
            "--count",
            "1",
            "--timeout",
            "60",
        ],
        &traffic(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "instance.create.end InstanceCreatePayload u-1 m1.tiny\n"
    );
}

/// The two programs that look right and are not: a path through a key with dots in it reads
/// null (a hint, once), and `=` assigns, so everything counts (a warning naming `==`, once).
#[test]
fn mistaken_programs_are_named_once() {
    // Nothing matches, so the run lasts to --timeout; the command (the replay) must be done
    // by then, even on a slow machine, or the exit is 4.
    let run = waited(
        &[
            "--where",
            ".payload.nova_object.data.uuid == \"u-1\"",
            "--timeout",
            "20",
        ],
        &traffic(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "", "the path reads null: nothing matches");
    let hints: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("reads null"))
        .collect();
    assert_eq!(hints.len(), 1, "{}", run.stderr);
    assert!(
        hints[0].contains(r#"write .payload["nova_object.data"].uuid, or give --unwrap"#),
        "{}",
        hints[0]
    );
    let run = waited(
        &[
            "--where",
            ".event_type = \"instance.create.end\"",
            "--count",
            "2",
            "--timeout",
            "60",
            "--format",
            "{event_type}",
        ],
        &traffic(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.lines().count(), 2, "every notification counted");
    let warnings: Vec<&str> = run.stderr.lines().filter(|l| l.contains("==")).collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0].starts_with("oslo-listen: warning: ")
            && warnings[0].contains("holds for every notification"),
        "{}",
        warnings[0]
    );
}

#[test]
fn fail_on_in_shared_mode_acknowledges_the_failure_and_gives_the_rest_back() {
    let (mut broker, exchange, topic) = scratch();
    let queue = format!("{topic}.info");
    for event in ["noise.one", "noise.two"] {
        common::send(&exchange, &topic, &["info", event, "{}"]);
    }
    let failure = common::send(&exchange, &topic, &["info", "instance.create.error", "{}"]);
    common::send(&exchange, &topic, &["info", "noise.three", "{}"]);
    let run = common::listen_with_url(
        &common::transport_url(),
        &route_args(
            &exchange,
            &topic,
            &[
                "--shared",
                "--priority",
                "info",
                "--json",
                "--where",
                ".event_type == \"instance.create.end\"",
                "--fail-on",
                ".event_type | endswith(\".error\")",
                "--timeout",
                "60",
            ],
        ),
    );
    assert_eq!(run.code, 5, "{run:?}");
    let printed = json_lines(&run);
    assert_eq!(printed.len(), 1);
    assert_eq!(printed[0]["metadata"]["message_id"], failure.as_str());
    let left: Vec<String> = broker
        .drain(&queue)
        .iter()
        .map(|m| m.decoded().notification.event_type)
        .collect();
    assert_eq!(
        left.len(),
        3,
        "the failure is taken, the rest given back: {left:?}"
    );
    assert!(!left.contains(&"instance.create.error".to_owned()));
    broker.forget_queue(&queue);
}
