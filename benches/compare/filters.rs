//! oslo-listen's `--where` and `--unwrap` beside its plain `--shared --json`, on the same
//! preloaded queue: what a jq predicate and unwrapping versioned payloads cost.

use super::measure;
use super::report::{Row, Target};
use super::{preload_bodies, run_listen, Options, Scratch, MIB};
use oslo_notify::envelope::{Format, Notification, Priority};
use serde_json::json;

/// A body whose payload's `n` is even, so that `--where '.payload.n % 2 == 0'` keeps every
/// one: each is evaluated, none is given back.
fn numbered(n: usize) -> Result<Vec<u8>, String> {
    let payload = json!({"n": n * 2, "instance_id": uuid::Uuid::new_v4().to_string(),
                         "state": "active", "host": "compute-01.example.org"});
    encode("compute.instance.bench", payload)
}

/// A Nova versioned notification of about 3 KB: an instance with its flavor, keypair, IP
/// addresses and block devices, each a `nova_object`.
fn versioned(n: usize) -> Result<Vec<u8>, String> {
    let object = |name: &str, data: serde_json::Value| {
        json!({"nova_object.name": name, "nova_object.namespace": "nova",
               "nova_object.version": "1.0", "nova_object.data": data})
    };
    let flavor = object(
        "FlavorPayload",
        json!({"flavorid": "a6ba3d4b", "name": "m1.small", "memory_mb": 2048, "vcpus": 1,
               "root_gb": 20, "ephemeral_gb": 0, "swap": 0, "rxtx_factor": 1.0,
               "is_public": true, "description": null,
               "extra_specs": {"hw:watchdog_action": "disabled", "hw:cpu_policy": "shared"},
               "projects": null}),
    );
    let ips: Vec<_> = (0..3)
        .map(|i| {
            object(
                "IpPayload",
                json!({"address": format!("192.168.{i}.{}", n % 250), "version": 4,
                       "label": "private-network", "mac": "fa:16:3e:4c:2c:30",
                       "port_uuid": uuid::Uuid::new_v4().to_string(),
                       "device_name": "tapce531f90-19", "meta": {}}),
            )
        })
        .collect();
    let disks: Vec<_> = (0..3)
        .map(|i| {
            object(
                "BlockDevicePayload",
                json!({"device_name": format!("/dev/vd{}", (b'a' + i) as char),
                       "boot_index": i, "delete_on_termination": true,
                       "volume_id": uuid::Uuid::new_v4().to_string(), "tag": null}),
            )
        })
        .collect();
    let payload = object(
        "InstanceActionPayload",
        json!({
            "uuid": uuid::Uuid::new_v4().to_string(), "display_name": format!("bench-{n}"),
            "display_description": "an instance of the benchmark",
            "host": "compute-01.example.org", "node": "compute-01.example.org",
            "host_name": format!("bench-{n}"), "state": "active", "power_state": "running",
            "task_state": null, "architecture": "x86_64", "availability_zone": "nova",
            "image_uuid": "155d900f-4e14-4e4c-a73d-069cbf4541e6",
            "kernel_id": "", "ramdisk_id": "", "os_type": null, "locked": false,
            "tenant_id": "6f70656e737461636b20342065766572",
            "user_id": "fake", "reservation_id": "r-npxv0e40",
            "created_at": "2012-10-29T13:42:11Z", "launched_at": "2012-10-29T13:42:11Z",
            "terminated_at": null, "deleted_at": null, "updated_at": "2012-10-29T13:42:11Z",
            "metadata": {}, "tags": [], "key_name": "my-key",
            "action_initiator_user": "admin", "action_initiator_project": "6f70656e",
            "flavor": flavor, "ip_addresses": ips, "block_devices": disks, "fault": null,
            "auto_disk_config": "MANUAL", "progress": 0, "request_id": "req-5b6c791d"
        }),
    );
    encode("instance.power_off.end", payload)
}

fn encode(event_type: &str, payload: serde_json::Value) -> Result<Vec<u8>, String> {
    encode_with(event_type, payload, serde_json::Map::new())
}

fn encode_with(
    event_type: &str,
    payload: serde_json::Value,
    context: serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<u8>, String> {
    let mut notification = Notification::new(Priority::Info, event_type, payload)
        .with_publisher_id("nova-compute:compute-01");
    notification.context = context;
    notification
        .encode(Format::V2, &oslo_notify::envelope::new_unique_id())
        .map_err(|e| format!("encoding: {e}"))
}

/// A Nova request context as `RequestContext.to_dict()` sends it (about 4 KB): ids and names,
/// roles, a Fernet token, request ids, and a service catalog of five services with their
/// public, internal and admin endpoints.
fn nova_context(n: usize) -> serde_json::Map<String, serde_json::Value> {
    let services = [
        ("compute", "nova", "/v2.1"),
        ("image", "glance", ""),
        ("network", "neutron", ""),
        (
            "volumev3",
            "cinderv3",
            "/v3/6f70656e737461636b20342065766572",
        ),
        ("placement", "placement", "/placement"),
    ];
    let catalog: Vec<_> = services
        .iter()
        .map(|(kind, name, path)| {
            let endpoints: Vec<_> = ["public", "internal", "admin"]
                .iter()
                .map(|interface| {
                    json!({"id": uuid::Uuid::new_v4().simple().to_string(),
                           "interface": interface, "region": "RegionOne",
                           "region_id": "RegionOne",
                           "url": format!("https://{name}.{interface}.example.org:443{path}")})
                })
                .collect();
            json!({"type": kind, "name": name, "endpoints": endpoints})
        })
        .collect();
    let user = "4b2ed3bd5c5f4e4c9f5e6f0e0d1c2b3a";
    let project = "6f70656e737461636b20342065766572";
    let context = json!({
        "user_id": user, "project_id": project, "system_scope": null,
        "project_name": "demo", "user_name": "demo", "domain_id": null,
        "user_domain_id": "default", "project_domain_id": "default", "is_admin": false,
        "read_only": false, "show_deleted": false,
        "auth_token": format!("gAAAAABnUBx4{}", "x".repeat(171)),
        "request_id": format!("req-{}", uuid::Uuid::new_v4()),
        "global_request_id": format!("req-{}", uuid::Uuid::new_v4()),
        "resource_uuid": null, "roles": ["reader", "member"],
        "user_identity": format!("{user} {project} - default default"),
        "is_admin_project": true, "user": user, "tenant": project, "read_deleted": "no",
        "remote_address": format!("10.0.{}.{}", n / 250 % 250, n % 250),
        "timestamp": "2026-12-04T10:00:00.123456", "quota_class": null,
        "service_catalog": catalog, "instance_lock_checked": false
    });
    match context {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// [`versioned`]'s notification with [`nova_context`]'s context.
pub(super) fn versioned_in_context(n: usize) -> Result<Vec<u8>, String> {
    let empty = versioned(n)?;
    let decoded = oslo_notify::envelope::decode(&empty).map_err(|e| e.to_string())?;
    encode_with(
        "instance.power_off.end",
        decoded.notification.payload,
        nova_context(n),
    )
}

/// Runs `oslo-listen --shared --json --count N` plus `extra` over `count` bodies made by
/// `make`, preloaded on a queue of its own.
fn listen_over(
    options: &Options,
    scratch: &mut Scratch,
    make: fn(usize) -> Result<Vec<u8>, String>,
    extra: &[&str],
) -> Result<measure::Run, String> {
    listen_count(options, scratch, options.count, make, extra)
}

/// [`listen_over`] with `count` bodies.
pub(super) fn listen_count(
    options: &Options,
    scratch: &mut Scratch,
    count: usize,
    make: fn(usize) -> Result<Vec<u8>, String>,
    extra: &[&str],
) -> Result<measure::Run, String> {
    let topic = scratch.topic("filters");
    let queue = format!("{topic}.info");
    scratch.declare(&queue)?;
    let bodies = (0..count).map(make).collect::<Result<Vec<_>, _>>()?;
    preload_bodies(scratch, &queue, &bodies)?;
    run_listen(options, scratch, &topic, count, extra)
}

/// The raw consumer (it decodes nothing) over `options.count` bodies made by `make`: what
/// the broker and the client cost for them.
fn raw_over(
    options: &Options,
    scratch: &mut Scratch,
    make: fn(usize) -> Result<Vec<u8>, String>,
) -> Result<measure::Run, String> {
    let topic = scratch.topic("filters");
    let queue = format!("{topic}.info");
    scratch.declare(&queue)?;
    let bodies = (0..options.count)
        .map(make)
        .collect::<Result<Vec<_>, _>>()?;
    preload_bodies(scratch, &queue, &bodies)?;
    let (count, prefetch, ack_batch) = (
        options.count.to_string(),
        super::PREFETCH.to_string(),
        super::ACK_BATCH.to_string(),
    );
    let args = [
        super::raw::CONSUMER,
        &options.url,
        &queue,
        &count,
        &prefetch,
        &ack_batch,
    ];
    measure::run(&super::myself()?, &args, None)
}

/// The `--where` and `--unwrap` rows.
pub fn filters(
    options: &Options,
    scratch: &mut Scratch,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    eprintln!(
        "bench: --where and --unwrap, {} notifications",
        options.count
    );
    let rate = |run: &measure::Run| options.count as f64 / run.wall.as_secs_f64();
    let scratch = std::cell::RefCell::new(scratch);
    let over = |make: fn(usize) -> Result<Vec<u8>, String>, extra: &[&str]| {
        listen_over(options, &mut scratch.borrow_mut(), make, extra)
    };
    let (with_where, plain) = measure::alternate(
        options.rounds,
        || over(numbered, &["--where", ".payload.n % 2 == 0"]),
        || over(numbered, &[]),
    )?;
    rows.push(Row::new(
        "listen --where '.payload.n % 2 == 0', rate",
        "/s",
        rate(&with_where),
        "itself without --where",
        Some(rate(&plain)),
        Some(Target::RatioAtLeast { bound: 0.95 }),
    ));
    rows.push(Row::new(
        "listen --where, peak RSS",
        "MiB",
        with_where.max_rss_bytes as f64 / MIB,
        "itself without --where",
        Some(plain.max_rss_bytes as f64 / MIB),
        Some(Target::ValueAtMost { bound: 12.0 }),
    ));
    let (in_context, nova) = measure::alternate(
        options.rounds,
        || over(versioned_in_context, &[]),
        || over(versioned, &[]),
    )?;
    rows.push(Row::new(
        "listen, 3 KB Nova payloads with a 4 KB Nova request context, rate",
        "/s",
        rate(&in_context),
        "itself with empty contexts",
        Some(rate(&nova)),
        Some(Target::RatioAtLeast { bound: 0.85 }),
    ));
    // The same bodies through the raw consumer: how much of that is the broker's and the
    // client's.
    let (raw_in_context, raw_nova) = measure::alternate(
        options.rounds,
        || raw_over(options, &mut scratch.borrow_mut(), versioned_in_context),
        || raw_over(options, &mut scratch.borrow_mut(), versioned),
    )?;
    rows.push(Row::new(
        "raw amiquip consumer, the same Nova bodies with contexts, rate",
        "/s",
        rate(&raw_in_context),
        "itself with empty contexts",
        Some(rate(&raw_nova)),
        None,
    ));
    rows.push(Row::new(
        "listen, 3 KB Nova payloads with a 4 KB Nova request context, rate",
        "/s",
        rate(&in_context),
        "raw amiquip consumer, the same bodies",
        Some(rate(&raw_in_context)),
        None,
    ));
    let unwrapped = over(versioned, &["--unwrap"])?;
    rows.push(Row::new(
        "listen --unwrap (3 KB Nova payloads), rate",
        "/s",
        rate(&unwrapped),
        "itself without --unwrap",
        Some(rate(&nova)),
        Some(Target::RatioAtLeast { bound: 0.7 }),
    ));
    // --save: a file per notification, synced to disk before its message is acknowledged.
    let count = (options.count / 5).max(1);
    let dir = std::env::temp_dir().join(format!("oslo-bench-save-{}", std::process::id()));
    let dir_arg = dir.to_string_lossy().into_owned();
    let scratch = &mut *scratch.borrow_mut();
    let json = listen_count(options, scratch, count, numbered, &[])?;
    let saved = listen_count(options, scratch, count, numbered, &["--save", &dir_arg]);
    let _ = std::fs::remove_dir_all(&dir);
    let saved = saved?;
    let rate_of = |run: &measure::Run| count as f64 / run.wall.as_secs_f64();
    rows.push(Row::new(
        format!("listen --save ({count}), rate"),
        "/s",
        rate_of(&saved),
        "itself with --json > /dev/null only",
        Some(rate_of(&json)),
        Some(Target::RatioAtLeast { bound: 0.1 }),
    ));
    rows.push(Row::new(
        "listen --save, rate",
        "/s",
        rate_of(&saved),
        "at least 2,000/s",
        Some(2000.0),
        Some(Target::RatioAtLeast { bound: 1.0 }),
    ));
    Ok(())
}
