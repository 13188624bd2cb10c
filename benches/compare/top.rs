//! `oslo-listen --top` beside `oslo-listen --json > /dev/null`, on the same kind of preloaded
//! queue: traffic spread over 1,000 event types, a fifth of it the starts and ends of
//! operations (in flight up to 100 at a time), each paired by its instance_id.

use super::measure;
use super::report::{Row, Target};
use super::{preload_bodies, run_listen, run_listen_to, Options, Scratch, MIB};
use oslo_notify::envelope::{Format, Notification, Priority};
use serde_json::json;

/// Operations end this many starts after their own: up to this many are in flight.
const LAG: usize = 100;

/// The `n`th notification of the mix: of every five, one starts operation `n / 5`, one ends
/// operation `n / 5 - LAG`, three are other events of 600 types (400 more are the 200
/// operations' starts and ends).
pub fn mixed(n: usize) -> Result<Vec<u8>, String> {
    let op = n / 5;
    let base = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
        .and_then(|d| d.and_hms_opt(11, 0, 0))
        .ok_or("a fixed date")?;
    let (event_type, id, at) = match n % 5 {
        0 => (
            format!("compute.op{}.start", op % 200),
            op,
            base + chrono::Duration::seconds(op as i64),
        ),
        1 if op >= LAG => {
            let started = op - LAG;
            let took = chrono::Duration::milliseconds(500 + (started % 1000) as i64 * 30);
            (
                format!("compute.op{}.end", started % 200),
                started,
                base + chrono::Duration::seconds(started as i64) + took,
            )
        }
        _ => (format!("svc{}.resource.updated", n % 600), n, base),
    };
    let payload = json!({"instance_id": format!("inst-{id}"), "host": "compute-01.example.org",
                         "state": "active", "n": n});
    let mut notification = Notification::new(Priority::Info, event_type, payload)
        .with_publisher_id(format!("compute.host{}", n % 20));
    notification.timestamp = at.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    notification
        .encode(Format::V2, &oslo_notify::envelope::new_unique_id())
        .map_err(|e| format!("encoding: {e}"))
}

/// The `--top` rows.
pub fn top(options: &Options, scratch: &mut Scratch, rows: &mut Vec<Row>) -> Result<(), String> {
    let count = options.count;
    eprintln!(
        "bench: listen --top, {count} notifications, {} rounds",
        options.rounds
    );
    let bodies = (0..count).map(mixed).collect::<Result<Vec<_>, _>>()?;
    let topic = scratch.topic("top");
    let queue = format!("{topic}.info");
    scratch.declare(&queue)?;
    let lines = std::env::temp_dir().join(format!("oslo-bench-top-{}", std::process::id()));
    let extra = ["--top", "--interval", "1"];
    // Each round reads the same bodies both ways, which goes first changing from round to
    // round; every round's last `--top` line must have counted them all.
    let top_round = || -> Result<measure::Run, String> {
        preload_bodies(scratch, &queue, &bodies)?;
        let top = run_listen_to(options, scratch, &topic, count, &extra, Some(&lines));
        let written = std::fs::read_to_string(&lines).unwrap_or_default();
        let _ = std::fs::remove_file(&lines);
        let top = top?;
        check_final(&written, count)?;
        Ok(top)
    };
    let json_round = || -> Result<measure::Run, String> {
        preload_bodies(scratch, &queue, &bodies)?;
        run_listen(options, scratch, &topic, count, &[])
    };
    let (top, json) = measure::alternate(options.rounds, top_round, json_round)?;
    let rate = |run: &measure::Run| count as f64 / run.wall.as_secs_f64();
    rows.push(Row::new(
        format!("listen --shared --top ({count}), rate"),
        "/s",
        rate(&top),
        "--shared --json > /dev/null",
        Some(rate(&json)),
        Some(Target::RatioAtLeast { bound: 0.95 }),
    ));
    rows.push(Row::new(
        "listen --top (1,000 event types, 20,000 operations per 100,000), peak RSS",
        "MiB",
        top.max_rss_bytes as f64 / MIB,
        "--shared --json",
        Some(json.max_rss_bytes as f64 / MIB),
        Some(Target::ValueAtMost { bound: 16.0 }),
    ));
    Ok(())
}

/// The run's last line counted every notification, and the operations paired.
fn check_final(written: &str, count: usize) -> Result<(), String> {
    let last = written.lines().last().ok_or("--top wrote nothing")?;
    let last: serde_json::Value =
        serde_json::from_str(last).map_err(|e| format!("--top's last line: {e}"))?;
    let ended: u64 = last["operations"]
        .as_array()
        .map(|ops| ops.iter().filter_map(|o| o["ended"].as_u64()).sum())
        .unwrap_or(0);
    let want_ended = (count / 5).saturating_sub(LAG) as u64;
    if last["total"].as_u64() != Some(count as u64) || ended < want_ended {
        return Err(format!(
            "--top's last line counted {} notifications and {ended} ends, not {count} and {want_ended}",
            last["total"]
        ));
    }
    Ok(())
}
