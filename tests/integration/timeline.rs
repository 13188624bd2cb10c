//! `oslo-listen --from` and `--timeline`: a Nova boot traced through nova-api,
//! nova-conductor, nova-scheduler and nova-compute (legacy and versioned notifications
//! mixed, a Neutron port update tied to it by its global request id, a second boot
//! interleaved that ends in `compute.instance.create.error`), read live, from a `--save`
//! directory and from a file of JSON lines; the exit codes with `--from`; the table in a
//! real terminal, wide and 80 columns.

use crate::common::tmux::Tmux;
use crate::common::{listen, unique, Broker, Run};
use oslo_notify::envelope::{new_unique_id, Format, Notification, Priority};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const REQUEST_A: &str = "req-5b6c791d-5709-4f36-8fbe-c3e02869e35d";
const REQUEST_B: &str = "req-9e1d0c4a-27b3-4c55-a0f1-6d2e8b7c3a10";
const NEUTRON_REQUEST: &str = "req-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const INSTANCE_A: &str = "3f2a1c0e-9d5b-4b1e-8f6a-2c7d1e0b9a41";
const INSTANCE_B: &str = "7c0e5a2b-1f3d-4e8a-9b6c-5d4e3f2a1b0c";
const PROJECT: &str = "6f70656e737461636b20697320636f6f";
const USER: &str = "fd8a1c3e2b7f4c5d9e0a6b1c2d3e4f50";

/// Nova's request context, as `_context_*` members: ids, names, roles, a token and a
/// service catalog of five endpoints.
fn context(request_id: &str, global_request_id: Option<&str>) -> Map<String, Value> {
    let endpoint = |kind: &str, name: &str, port: u16| {
        json!({"type": kind, "name": name, "endpoints": [{
            "region": "RegionOne", "interface": "internal",
            "url": format!("http://controller:{port}/")}]})
    };
    json!({
        "user_id": USER, "project_id": PROJECT, "user_name": "demo", "project_name": "demo",
        "domain": null, "user_domain": "default", "project_domain": "default",
        "is_admin": false, "read_only": false, "show_deleted": false,
        "roles": ["reader", "member"], "remote_address": "10.0.0.15",
        "timestamp": "2026-12-05T08:41:44.981234",
        "request_id": request_id, "global_request_id": global_request_id,
        "auth_token": "gAAAAABnUm9vdCB0b2tlbiBmb3IgdGVzdHM",
        "service_catalog": [
            endpoint("volumev3", "cinderv3", 8776), endpoint("network", "neutron", 9696),
            endpoint("placement", "placement", 8778), endpoint("image", "glance", 9292),
            endpoint("compute", "nova", 8774)
        ],
        "instance_lock_checked": false, "user_identity": format!("{USER} {PROJECT} - default default")
    })
    .as_object()
    .unwrap()
    .clone()
}

/// A versioned object primitive of Nova's.
fn nova_object(name: &str, version: &str, data: Value) -> Value {
    json!({"nova_object.name": name, "nova_object.namespace": "nova",
           "nova_object.version": version, "nova_object.data": data})
}

/// A versioned instance payload: flavor and addresses as objects of their own.
fn instance_payload(name: &str, uuid: &str, request: &str, state: &str, task: Value) -> Value {
    nova_object(
        name,
        "1.8",
        json!({
            "uuid": uuid, "display_name": format!("vm-{}", &uuid[..4]), "host": "cmp-1",
            "tenant_id": PROJECT, "user_id": USER, "request_id": request,
            "state": state, "task_state": task, "power_state": "pending",
            "flavor": nova_object("FlavorPayload", "1.4", json!({
                "flavorid": "a1", "name": "m1.small", "memory_mb": 2048, "vcpus": 1,
                "root_gb": 20, "extra_specs": {"hw:cpu_policy": "shared"}})),
            "ip_addresses": [nova_object("IpPayload", "1.0", json!({
                "address": "192.168.1.12", "version": 4, "label": "private",
                "mac": "fa:16:3e:4c:2c:30", "port_uuid": "ce531f90-199f-48c0-816c-13e38010b442",
                "device_name": "tapce531f90-19", "meta": {}}))],
            "metadata": {}, "locked": false, "auto_disk_config": "MANUAL"
        }),
    )
}

/// A versioned instance.update payload: the state before and after.
fn update_payload(uuid: &str, request: &str, state: &str, old_task: Value, task: Value) -> Value {
    let mut payload = instance_payload("InstanceUpdatePayload", uuid, request, state, task.clone());
    payload["nova_object.data"]["state_update"] = nova_object(
        "InstanceStateUpdatePayload",
        "1.0",
        json!({"old_state": state, "state": state, "old_task_state": old_task, "new_task_state": task}),
    );
    payload
}

/// A legacy compute.instance.* payload.
fn legacy_payload(uuid: &str, state: &str, extra: Value) -> Value {
    let mut payload = json!({
        "tenant_id": PROJECT, "user_id": USER, "instance_id": uuid,
        "display_name": format!("vm-{}", &uuid[..4]), "instance_type": "m1.small",
        "memory_mb": 2048, "vcpus": 1, "root_gb": 20, "state": state,
        "image_ref_url": "http://controller:9292/images/9c1f"
    });
    for (key, value) in extra.as_object().unwrap() {
        payload[key] = value.clone();
    }
    payload
}

/// One notification of the trace: where it goes, and its body.
struct Sent {
    versioned: bool,
    priority: Priority,
    neutron: bool,
    body: Vec<u8>,
    timestamp: String,
}

/// The notification at `at` (seconds after 08:41:45) as a message body.
#[allow(clippy::too_many_arguments)]
fn sent(
    at: f64,
    priority: Priority,
    event_type: &str,
    publisher: &str,
    payload: Value,
    context: Map<String, Value>,
    format: Format,
) -> Sent {
    let mut n = Notification::new(priority, event_type, payload).with_context(context);
    n.publisher_id = Some(publisher.to_owned());
    let micros = (at * 1e6).round() as u32;
    n.timestamp = format!(
        "2026-12-05 08:41:{:02}.{:06}",
        45 + micros / 1_000_000,
        micros % 1_000_000
    );
    Sent {
        versioned: publisher.contains(':'),
        priority,
        neutron: event_type.starts_with("port."),
        body: n.encode(format, &new_unique_id()).unwrap(),
        timestamp: n.timestamp,
    }
}

/// Two boots, interleaved: A through every service to `create.end`, with a Neutron port
/// update of its own request id tied to A by its global request id; B to `create.error`.
fn boot_trace() -> Vec<Sent> {
    use Format::{V1, V2};
    use Priority::{Error, Info};
    let (a, b) = (context(REQUEST_A, None), context(REQUEST_B, None));
    let neutron = context(NEUTRON_REQUEST, Some(REQUEST_A));
    let none = Value::Null;
    let s = |t: &str| json!(t);
    vec![
        sent(
            0.120,
            Info,
            "instance.update",
            "nova-api:api-1",
            update_payload(
                INSTANCE_A,
                REQUEST_A,
                "building",
                none.clone(),
                s("scheduling"),
            ),
            a.clone(),
            V2,
        ),
        sent(
            0.340,
            Info,
            "scheduler.select_destinations.start",
            "scheduler.sched-1",
            json!({"request_spec": {"instance_uuids": [INSTANCE_A], "num_instances": 1}}),
            a.clone(),
            V2,
        ),
        sent(
            0.420,
            Info,
            "instance.update",
            "nova-api:api-1",
            update_payload(
                INSTANCE_B,
                REQUEST_B,
                "building",
                none.clone(),
                s("scheduling"),
            ),
            b.clone(),
            V2,
        ),
        sent(
            0.610,
            Info,
            "scheduler.select_destinations.end",
            "scheduler.sched-1",
            json!({"request_spec": {"instance_uuids": [INSTANCE_A], "num_instances": 1}}),
            a.clone(),
            V2,
        ),
        sent(
            0.650,
            Info,
            "scheduler.select_destinations.start",
            "scheduler.sched-1",
            json!({"request_spec": {"instance_uuids": [INSTANCE_B], "num_instances": 1}}),
            b.clone(),
            V2,
        ),
        sent(
            0.700,
            Info,
            "instance.update",
            "nova-conductor:cond-1",
            update_payload(
                INSTANCE_A,
                REQUEST_A,
                "building",
                s("scheduling"),
                none.clone(),
            ),
            a.clone(),
            V2,
        ),
        sent(
            0.880,
            Info,
            "scheduler.select_destinations.end",
            "scheduler.sched-1",
            json!({"request_spec": {"instance_uuids": [INSTANCE_B], "num_instances": 1}}),
            b.clone(),
            V2,
        ),
        sent(
            0.900,
            Info,
            "compute.instance.create.start",
            "compute.cmp-1",
            legacy_payload(INSTANCE_A, "building", json!({})),
            a.clone(),
            V1,
        ),
        sent(
            0.905,
            Info,
            "instance.create.start",
            "nova-compute:cmp-1",
            instance_payload(
                "InstanceCreatePayload",
                INSTANCE_A,
                REQUEST_A,
                "building",
                none.clone(),
            ),
            a.clone(),
            V2,
        ),
        sent(
            1.210,
            Info,
            "instance.update",
            "nova-compute:cmp-1",
            update_payload(
                INSTANCE_A,
                REQUEST_A,
                "building",
                none.clone(),
                s("networking"),
            ),
            a.clone(),
            V2,
        ),
        sent(
            1.300,
            Info,
            "compute.instance.create.start",
            "compute.cmp-2",
            legacy_payload(INSTANCE_B, "building", json!({})),
            b.clone(),
            V1,
        ),
        sent(
            1.420,
            Info,
            "port.update.start",
            "network.net-1",
            json!({"port": {"device_id": INSTANCE_A, "binding:host_id": "cmp-1"}, "id": "ce531f90-199f-48c0-816c-13e38010b442"}),
            neutron.clone(),
            V2,
        ),
        sent(
            1.655,
            Info,
            "port.update.end",
            "network.net-1",
            json!({"port": {"id": "ce531f90-199f-48c0-816c-13e38010b442", "device_id": INSTANCE_A, "status": "DOWN"}}),
            neutron,
            V2,
        ),
        sent(
            2.105,
            Info,
            "instance.update",
            "nova-compute:cmp-1",
            update_payload(
                INSTANCE_A,
                REQUEST_A,
                "building",
                s("networking"),
                s("spawning"),
            ),
            a.clone(),
            V2,
        ),
        sent(
            3.025,
            Error,
            "compute.instance.create.error",
            "compute.cmp-2",
            legacy_payload(
                INSTANCE_B,
                "error",
                json!({"message": "No valid host was found. ", "code": 500}),
            ),
            b.clone(),
            V1,
        ),
        sent(
            3.030,
            Error,
            "instance.create.error",
            "nova-compute:cmp-2",
            instance_payload(
                "InstanceCreatePayload",
                INSTANCE_B,
                REQUEST_B,
                "error",
                none.clone(),
            ),
            b,
            V2,
        ),
        sent(
            8.650,
            Info,
            "compute.instance.create.end",
            "compute.cmp-1",
            legacy_payload(
                INSTANCE_A,
                "active",
                json!({"old_state": "building", "old_task_state": "spawning", "new_task_state": null}),
            ),
            a.clone(),
            V1,
        ),
        sent(
            8.655,
            Info,
            "instance.create.end",
            "nova-compute:cmp-1",
            instance_payload(
                "InstanceCreatePayload",
                INSTANCE_A,
                REQUEST_A,
                "active",
                none,
            ),
            a,
            V2,
        ),
    ]
}

/// A broker with the trace's routes: Nova's legacy and versioned topics and Neutron's
/// exchange, each of the test's own.
struct Routes {
    broker: Broker,
    nova: String,
    neutron: String,
    legacy: String,
    versioned: String,
}

impl Routes {
    fn new() -> Routes {
        let mut broker = Broker::new();
        let (nova, neutron) = (broker.exchange_name(), broker.exchange_name());
        let (legacy, versioned) = (broker.topic_name(), broker.topic_name());
        Routes {
            broker,
            nova,
            neutron,
            legacy,
            versioned,
        }
    }

    /// oslo-listen's arguments for every route, then `rest`.
    fn args<'a>(&'a self, rest: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "--exchange",
            &self.nova,
            "--exchange",
            &self.neutron,
            "--topic",
            &self.legacy,
            "--topic",
            &self.versioned,
        ];
        args.extend_from_slice(rest);
        args
    }

    /// Publishes the trace, in its order.
    fn publish(&mut self, trace: &[Sent]) {
        for sent in trace {
            let exchange = if sent.neutron {
                &self.neutron
            } else {
                &self.nova
            };
            let topic = if sent.versioned && !sent.neutron {
                &self.versioned
            } else {
                &self.legacy
            };
            let key = format!("{topic}.{}", sent.priority.name());
            self.broker.publish_raw(exchange, &key, &sent.body);
        }
    }
}

/// `oslo-listen` with `args` on no broker, stdin from `stdin`, to its end.
fn read_saved(args: &[&str], stdin: &[u8]) -> Run {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_oslo-listen"))
        .args(args)
        .env_remove("OSLO_TRANSPORT_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("oslo-listen runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The trace captured live, as `oslo-listen --save DIR --json` writes it: the directory
/// and the JSON lines.
struct Captured {
    dir: PathBuf,
    lines: String,
}

impl Drop for Captured {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn capture(routes: &mut Routes, trace: &[Sent]) -> Captured {
    let dir = std::env::temp_dir().join(unique("timeline-save"));
    let count = trace.len().to_string();
    let dir_text = dir.display().to_string();
    let listening = listen(&routes.args(&["--json", "--save", &dir_text, "--count", &count]));
    routes.publish(trace);
    let run = listening.finish();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines().len(), trace.len());
    Captured {
        dir,
        lines: run.stdout,
    }
}

/// The timeline of request A as every way of reading it shows it (content-sized, when the
/// rows are known beforehand), line by line.
const TIMELINE_A: &[&str] = &[
    " #   TIME              +S  SERVICE         HOST     EVENT                                INSTANCE  STATE                                TOOK",
    " 1   08:41:45.120  +0.000  nova-api        api-1    instance.update                      3f2a1c0e  building [scheduling]",
    " 2   08:41:45.340  +0.220  scheduler       sched-1  scheduler.select_destinations.start  -",
    " 3   08:41:45.610  +0.490  scheduler       sched-1  scheduler.select_destinations.end    -                                             0.27s",
    " 4   08:41:45.700  +0.580  nova-conductor  cond-1   instance.update                      3f2a1c0e  building [scheduling -> -]",
    " 5   08:41:45.900  +0.780  compute         cmp-1    compute.instance.create.start        3f2a1c0e  building",
    " 6   08:41:45.905  +0.785  nova-compute    cmp-1    instance.create.start                3f2a1c0e  building",
    " 7   08:41:46.210  +1.090  nova-compute    cmp-1    instance.update                      3f2a1c0e  building [networking]",
    " 8   08:41:46.420  +1.300  network         net-1    port.update.start                    ce531f90",
    " 9   08:41:46.655  +1.535  network         net-1    port.update.end                      ce531f90                                      0.23s",
    "10   08:41:47.105  +1.985  nova-compute    cmp-1    instance.update                      3f2a1c0e  building [networking -> spawning]",
    "11   08:41:53.650  +8.530  compute         cmp-1    compute.instance.create.end          3f2a1c0e  building -> active [spawning -> -]  7.75s",
    "12   08:41:53.655  +8.535  nova-compute    cmp-1    instance.create.end                  3f2a1c0e  active                              7.75s",
    "",
    "12 rows from 2026-12-05 08:41:45.120000 over 8.54s; 6 services: nova-api, scheduler, nova-conductor, compute, nova-compute, network; 0 failures; slowest step: compute.instance.create 7.75s",
];

#[test]
fn a_boot_reads_the_same_live_from_a_save_directory_and_from_json_lines() {
    let trace = boot_trace();
    let mut routes = Routes::new();
    // Live: rows as they arrive, in the usual widths; the summary once --count is reached.
    let live = listen(&routes.args(&["--timeline", REQUEST_A, "--count", "12"]));
    let captured = capture(&mut routes, &trace);
    routes.publish(&[]);
    let live = live.finish();
    assert_eq!(live.code, 0, "{live:?}");
    let cells = |text: &str| -> Vec<Vec<String>> {
        text.lines()
            .map(|l| {
                l.split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .collect()
    };
    let timeline_a = TIMELINE_A.join("\n") + "\n";
    assert_eq!(cells(&live.stdout), cells(&timeline_a), "{}", live.stdout);
    // From the directory and from the lines (shuffled: the rows follow the timestamps).
    let dir = captured.dir.display().to_string();
    let from_dir = read_saved(&["--from", &dir, "--timeline", REQUEST_A], b"");
    assert_eq!(
        (from_dir.code, from_dir.stdout.as_str()),
        (0, timeline_a.as_str()),
        "{}",
        from_dir.stderr
    );
    let mut lines: Vec<&str> = captured.lines.lines().collect();
    lines.reverse();
    let shuffled = lines.join("\n");
    let from_stdin = read_saved(
        &["--from", "-", "--timeline", REQUEST_A],
        shuffled.as_bytes(),
    );
    assert_eq!(from_stdin.stdout, timeline_a, "{}", from_stdin.stderr);
    let file = captured.dir.with_extension("jsonl");
    std::fs::write(&file, &captured.lines).unwrap();
    let from_file = read_saved(
        &[
            "--from",
            &file.display().to_string(),
            "--timeline",
            REQUEST_A,
            "--unwrap",
        ],
        b"",
    );
    let _ = std::fs::remove_file(&file);
    assert_eq!(from_file.stdout, timeline_a, "{}", from_file.stderr);
}

#[test]
fn an_instance_timeline_shows_its_requests_and_its_failure() {
    let trace = boot_trace();
    let mut routes = Routes::new();
    let captured = capture(&mut routes, &trace);
    let dir = captured.dir.display().to_string();
    let run = read_saved(&["--from", &dir, "--timeline", INSTANCE_B], b"");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "\
#    TIME              +S  SERVICE       HOST   EVENT                          INSTANCE  STATE                   TOOK  REQUEST
1    08:41:45.420  +0.000  nova-api      api-1  instance.update                7c0e5a2b  building [scheduling]         req-9e1d0c4a
2    08:41:46.300  +0.880  compute       cmp-2  compute.instance.create.start  7c0e5a2b  building                      req-9e1d0c4a
3 E  08:41:48.025  +2.605  compute       cmp-2  compute.instance.create.error  7c0e5a2b  error                  1.73s  req-9e1d0c4a
4 E  08:41:48.030  +2.610  nova-compute  cmp-2  instance.create.error          7c0e5a2b  error                         req-9e1d0c4a

4 rows from 2026-12-05 08:41:45.420000 over 2.61s; 3 services: nova-api, compute, nova-compute; 2 failures; slowest step: compute.instance.create 1.73s
"
    );
    // An id nothing belongs to: the summary alone says so.
    let none = read_saved(&["--from", &dir, "--timeline", "req-nothing"], b"");
    assert_eq!(
        (none.code, none.stdout.as_str()),
        (0, "no notification of the timeline\n")
    );
    // As JSON: a row object each, with the whole notification, then the summary.
    let run = read_saved(&["--from", &dir, "--timeline", INSTANCE_B, "--json"], b"");
    let objects: Vec<Value> = run
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 5);
    let error = &objects[2];
    assert_eq!(error["row"], 3);
    assert_eq!(error["failed"], true);
    assert_eq!(error["offset_s"], 2.605);
    assert_eq!(error["duration_s"], 1.725);
    assert_eq!(error["request_id"], REQUEST_B);
    assert_eq!(error["instance"], INSTANCE_B);
    assert_eq!(
        error["notification"]["event_type"],
        "compute.instance.create.error"
    );
    assert_eq!(error["notification"]["context"]["auth_token"], "***");
    assert_eq!(
        objects[4]["summary"],
        json!({"rows": 4, "first": "2026-12-05 08:41:45.420000", "span_s": 2.61,
               "services": ["nova-api", "compute", "nova-compute"], "failures": 2,
               "slowest": {"operation": "compute.instance.create", "duration_s": 1.725}})
    );
}

/// Writes `lines` into a file of the test's own.
fn jsonl(lines: &[String]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("{}.jsonl", unique("from")));
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

/// The trace as `--format json` lines, without a broker: each body read by the library.
fn trace_lines() -> Vec<String> {
    boot_trace()
        .iter()
        .map(|sent| {
            let n = oslo_notify::envelope::decode(&sent.body).unwrap().notification;
            json!({"priority": n.priority.name(), "event_type": n.event_type,
                   "publisher_id": n.publisher_id, "payload": n.payload,
                   "metadata": {"message_id": n.message_id, "timestamp": sent.timestamp},
                   "context": n.context, "exchange": "nova", "routing_key": format!("notifications.{}", n.priority.name())})
            .to_string()
        })
        .collect()
}

#[test]
fn reading_saved_notifications_ends_with_the_input_and_keeps_the_exit_codes() {
    let mut lines = trace_lines();
    lines.insert(3, "{\"not\": \"a notification\"}".into());
    lines.insert(7, "not even JSON".into());
    let path = jsonl(&lines);
    let file = path.display().to_string();
    // Every notification is read; what is not one is said with its line, and counted.
    let run = read_saved(&["--from", &file, "--json"], b"");
    assert_eq!((run.code, run.lines().len()), (0, 18), "{run:?}");
    run.assert_said(&format!("{file} line 4 has no \"priority\" (skipped)"));
    run.assert_said(&format!("{file} line 8 is not valid JSON"));
    run.assert_said(&format!(
        "read 18 notification(s) from {file}; skipped 2 that were not"
    ));
    // Filters, --where, templates and --count.
    let run = read_saved(
        &[
            "--from",
            &file,
            "--event-type",
            "compute.*",
            "--format",
            "{event_type} {publisher_id}",
            "-q",
        ],
        b"",
    );
    assert_eq!(
        run.lines(),
        [
            "compute.instance.create.start compute.cmp-1",
            "compute.instance.create.start compute.cmp-2",
            "compute.instance.create.error compute.cmp-2",
            "compute.instance.create.end compute.cmp-1"
        ]
    );
    let run = read_saved(
        &[
            "--from",
            &file,
            "--where",
            ".payload.state == \"error\"",
            "--format",
            "payload",
            "-q",
            "--unwrap",
            "--count",
            "2",
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines().len(), 2);
    assert!(
        run.lines()[1].contains("\"@object\":\"InstanceCreatePayload v1.8 (nova)\""),
        "{run:?}"
    );
    let run = read_saved(
        &["--from", &file, "--count", "19", "-q", "--format", "raw"],
        b"",
    );
    assert_eq!(run.code, 4, "{run:?}");
    run.assert_said("the input ended: 18 of 19 notifications arrived");
    // Raw: the saved line, as read.
    assert_eq!(run.lines()[0], lines[0]);
    let run = read_saved(
        &[
            "--from",
            &file,
            "--fail-on",
            ".event_type | endswith(\".error\")",
            "--json",
            "-q",
        ],
        b"",
    );
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(run.lines().len(), 15);
    run.assert_said("failure notification compute.instance.create.error from compute.cmp-2");
    // --priority as a broker would route.
    let run = read_saved(
        &["--from", &file, "--priority", "error", "--json", "-q"],
        b"",
    );
    assert_eq!(run.lines().len(), 2);
    // Broker flags cannot apply: exit 2, one line.
    for flag in [
        &["--shared"][..],
        &["--pool", "p"],
        &["--prefetch", "5"],
        &["--transport-url", "rabbit://u:s3cret@h:5672/"],
    ] {
        let mut args = vec!["--from", &file];
        args.extend_from_slice(flag);
        let run = read_saved(&args, b"");
        assert_eq!(run.code, 2, "{flag:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
        assert!(!run.stderr.contains("s3cret"), "{run:?}");
    }
    let run = read_saved(&["--from", "/nonexistent/saved"], b"");
    assert_eq!(run.code, 2, "{run:?}");
    run.assert_said("--from /nonexistent/saved: no such file or directory");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn top_from_saved_notifications_takes_its_rates_over_their_own_time() {
    let path = jsonl(&trace_lines());
    let run = read_saved(&["--from", &path.display().to_string(), "--top", "-q"], b"");
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines().len(), 1, "one final snapshot: {run:?}");
    let last: Value = serde_json::from_str(run.lines()[0]).unwrap();
    assert_eq!(last["final"], true);
    assert_eq!(last["total"], 18);
    assert_eq!(last["errors"], 2);
    assert_eq!(last["elapsed_s"], 8.535);
    assert_eq!(last["at"], "2026-12-05T08:41:53.655000Z");
    // 18 in the ten seconds up to the last one, 8.535 s after the first.
    assert_eq!(last["rate"], 2.109);
    let create = last["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["operation"] == "compute.instance.create")
        .unwrap()
        .clone();
    assert_eq!(
        create,
        json!({"operation": "compute.instance.create", "started": 2, "ended": 1, "failed": 1,
               "in_flight": 0, "stale": 0, "p50_s": 7.744, "p95_s": 7.744, "max_s": 7.75})
    );
}

#[test]
fn the_timeline_reads_in_a_wide_terminal_and_in_80_columns() {
    let path = jsonl(&trace_lines());
    // The pane stays after the run (and says so), however soon it ends.
    let command = format!(
        "sh -c '{} --from {} --timeline {REQUEST_A} --timeline {INSTANCE_B}; echo RUN ENDED; sleep 60'",
        env!("CARGO_BIN_EXE_oslo-listen"),
        path.display()
    );
    for width in [200u16, 80] {
        let tmux = Tmux::start_sized(&command, width, 60);
        tmux.wait_for(&["RUN ENDED"]);
        // The pane's end notice may push the first line off the screen.
        let screen = tmux.history();
        for line in screen.lines() {
            assert!(
                line.chars().count() <= usize::from(width),
                "{width}: {line}\n{screen}"
            );
        }
        let header = screen.lines().next().unwrap();
        assert_eq!(header.contains("HOST"), width == 200, "{screen}");
        assert_eq!(header.contains("REQUEST"), width == 200, "{screen}");
        let shown: &[&str] = match width {
            200 => &[
                "13 E  08:41:48.025  +2.905",
                "scheduler.select_destinations.start",
                "building -> active [spawning -> -]",
            ],
            _ => &[
                "13 E  +2.905",
                "…create.error",
                "…tinations.start",
                "building -> ac…",
                "nova-conductor",
            ],
        };
        for shown in
            shown
                .iter()
                .chain(&["+8.530", "7.75s", "3f2a1c0e", "7c0e5a2b", "16 rows from"])
        {
            assert!(screen.contains(shown), "{width}: {shown}\n{screen}");
        }
    }
    // --top --from on a terminal: the final tables, once.
    let command = format!(
        "sh -c '{} --from {} --top; echo RUN ENDED; sleep 60'",
        env!("CARGO_BIN_EXE_oslo-listen"),
        path.display()
    );
    let tmux = Tmux::start_sized(&command, 120, 60);
    tmux.wait_for(&["RUN ENDED"]);
    let screen = tmux.history();
    assert!(screen.contains("18 notifications in 00:00:08"), "{screen}");
    assert!(screen.contains("OPERATION"), "{screen}");
    assert!(screen.contains("compute.instance.create"), "{screen}");
    assert_eq!(screen.matches("EVENT_TYPE").count(), 1, "{screen}");
    let _ = std::fs::remove_file(&path);
}

/// A saved directory's `.partial` files are skipped.
#[test]
fn partial_files_of_a_save_directory_are_not_read() {
    let dir = std::env::temp_dir().join(unique("partial"));
    std::fs::create_dir(&dir).unwrap();
    let lines = trace_lines();
    std::fs::write(dir.join("20261205T084145.120000-a.json"), &lines[0]).unwrap();
    std::fs::write(
        dir.join(".20261205T084145.340000-b.json.partial"),
        &lines[1],
    )
    .unwrap();
    let run = read_saved(&["--from", &dir.display().to_string(), "--json", "-v"], b"");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(run.lines().len(), 1, "{run:?}");
    run.assert_said(&format!(
        "read 1 notification(s) from {}",
        Path::new(&dir).display()
    ));
}
