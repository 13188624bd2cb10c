//! The soak (`scripts/soak.sh [MINUTES]`, which runs this ignored test): `oslo-notify
//! --lines` and `oslo-listen --shared` run continuously through the fault proxy to a node of
//! the test's own, while the link breaks every few seconds in turn (a silent partition, a
//! reset, connections refused for a while). A line a minute: sent, printed, lost,
//! duplicates, and each tool's RSS and open files. It fails on any loss, and on open files
//! or RSS (beyond 2 MiB) that grew after the first minute.

use crate::common::node::Node;
use crate::common::proxy::Proxy;
use crate::common::{footprint, route_args, unique, wait_or_kill, Line};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Notifications sent per second.
const RATE: u64 = 200;
/// A notification not printed this long after oslo-notify printed its id is lost.
const GRACE: Duration = Duration::from_secs(60);

fn spawn(program: &str, url: &str, args: &[&str]) -> (Child, Receiver<Line>) {
    crate::common::spawn_piped(program, url, args, Stdio::inherit())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

/// Breaks the link every few seconds, in turn, until `stop`.
fn faults(proxy: &Proxy, stop: &AtomicBool) {
    let pause = |d: Duration| {
        let until = Instant::now() + d;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut turn = 0;
    while !stop.load(Ordering::Relaxed) {
        pause(Duration::from_secs(6));
        match turn % 3 {
            0 => {
                proxy.blackhole();
                pause(Duration::from_secs(6));
                proxy.forward();
            }
            1 => proxy.reset_all(),
            _ => {
                proxy.refuse(true);
                proxy.reset_all();
                pause(Duration::from_secs(3));
                proxy.refuse(false);
            }
        }
        turn += 1;
    }
    proxy.forward();
    proxy.refuse(false);
}

#[test]
#[ignore = "long: scripts/soak.sh runs it"]
fn soak() {
    let minutes: f64 = std::env::var("OSLO_SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(2.0);
    let node = Node::start();
    let proxy = Proxy::start(node.port());
    let url = format!("rabbit://guest:guest@127.0.0.1:{}/", proxy.port());
    let (exchange, topic) = (unique("soak-ex"), unique("soak"));
    let common = route_args(&exchange, &topic, &["--heartbeat", "2", "-q"]);
    let mut route_args = common.to_vec();
    route_args.extend_from_slice(&["--shared", "--format", "{message_id}"]);
    let (mut listener, printed_lines) = spawn(env!("CARGO_BIN_EXE_oslo-listen"), &url, &route_args);
    let mut notify_args = common.to_vec();
    notify_args.extend_from_slice(&["--timeout", "600", "--lines", "info", "soak.tick"]);
    let (mut notifier, sent_lines) = spawn(env!("CARGO_BIN_EXE_oslo-notify"), &url, &notify_args);
    let (listen_pid, notify_pid) = (listener.id(), notifier.id());

    let stop = Arc::new(AtomicBool::new(false));
    let mut stdin = notifier.stdin.take().unwrap();
    let writing = Arc::clone(&stop);
    let writer = std::thread::spawn(move || {
        let started = Instant::now();
        let mut n: u64 = 0;
        while !writing.load(Ordering::Relaxed) {
            let due = started + Duration::from_micros(n * 1_000_000 / RATE);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let line = format!("{{\"n\": {n}, \"host\": \"compute-{}\"}}", n % 7);
            if writeln!(stdin, "{line}").is_err() {
                return;
            }
            n += 1;
        }
    });
    let breaking = AtomicBool::new(false);
    let started = Instant::now();
    let run_for = Duration::from_secs_f64(minutes * 60.0);
    let mut sent: BTreeMap<String, Instant> = BTreeMap::new();
    let mut printed: BTreeSet<String> = BTreeSet::new();
    let mut duplicates = 0;
    let mut first_minute: Option<[(usize, u64); 2]> = None;
    let mut last_minute: Option<[(usize, u64); 2]> = None;
    let mut worst: Vec<String> = Vec::new();
    std::thread::scope(|scope| {
        scope.spawn(|| faults(&proxy, &breaking));
        let mut next_report = started + Duration::from_secs(60);
        // From the first connections on: before them a tool holds fewer files than it ever
        // will again.
        let mut next_sample = started + Duration::from_secs(10);
        // Each tool's footprint sampled every second of the minute: a socket being replaced
        // at one instant is not a leak, a floor that rises is.
        let mut samples: Vec<[(usize, u64); 2]> = Vec::new();
        loop {
            while let Ok((at, id)) = sent_lines.try_recv() {
                sent.insert(id.trim().to_owned(), at);
            }
            while let Ok((_, id)) = printed_lines.try_recv() {
                if !printed.insert(id.trim().to_owned()) {
                    duplicates += 1;
                }
            }
            let now = Instant::now();
            if now >= next_sample {
                samples.push([footprint(notify_pid), footprint(listen_pid)]);
                next_sample += Duration::from_secs(1);
            }
            if now >= next_report {
                let lost = sent
                    .iter()
                    .filter(|(id, at)| now.duration_since(**at) > GRACE && !printed.contains(*id))
                    .count();
                let floor = |tool: usize| {
                    let fds = samples.iter().map(|s| s[tool].0).min().unwrap_or(0);
                    let rss = samples.iter().map(|s| s[tool].1).max().unwrap_or(0);
                    (fds, rss)
                };
                let tools = [floor(0), floor(1)];
                samples.clear();
                let minute = (now - started).as_secs() / 60;
                let line = format!(
                    "soak minute {minute}: sent {} printed {} lost {lost} duplicates {duplicates}; \
                     oslo-notify {:.1} MiB (peak) {} fds (least), oslo-listen {:.1} MiB {} fds",
                    sent.len(),
                    printed.len(),
                    mib(tools[0].1),
                    tools[0].0,
                    mib(tools[1].1),
                    tools[1].0
                );
                eprintln!("{line}");
                if lost > 0 {
                    worst.push(line);
                }
                first_minute.get_or_insert(tools);
                last_minute = Some(tools);
                next_report += Duration::from_secs(60);
            }
            if now - started >= run_for {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        breaking.store(true, Ordering::Relaxed);
    });
    // Faults over: the input ends, oslo-notify sends what is left and exits 0.
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let status = wait_or_kill(&mut notifier, Duration::from_secs(120));
    assert_eq!(status.code(), Some(0), "oslo-notify");
    while let Ok((at, id)) = sent_lines.recv_timeout(Duration::from_secs(1)) {
        sent.insert(id.trim().to_owned(), at);
    }
    // Everything sent arrives.
    let until = Instant::now() + GRACE;
    while Instant::now() < until && sent.keys().any(|id| !printed.contains(id)) {
        if let Ok((_, id)) = printed_lines.recv_timeout(Duration::from_millis(200)) {
            if !printed.insert(id.trim().to_owned()) {
                duplicates += 1;
            }
        }
    }
    let settled = [footprint(notify_pid), footprint(listen_pid)];
    let _ = Command::new("kill")
        .args(["-TERM", &listen_pid.to_string()])
        .status();
    let _ = wait_or_kill(&mut listener, Duration::from_secs(60));
    let missing: Vec<&String> = sent.keys().filter(|id| !printed.contains(*id)).collect();
    eprintln!(
        "soak end after {minutes} min: sent {} printed {} lost {} duplicates {duplicates}; \
         {} connections through the proxy, {} reset by it",
        sent.len(),
        printed.len(),
        missing.len(),
        proxy.accepted(),
        proxy.resets()
    );
    assert!(
        missing.is_empty(),
        "{} lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(worst.is_empty(), "lost for more than a minute: {worst:?}");
    assert!(
        sent.len() as f64 >= minutes * 60.0 * RATE as f64 * 0.5,
        "{} sent",
        sent.len()
    );
    // Each minute's fewest open files (between connections, a tool holds only what it keeps)
    // and peak RSS, the last minute against the first.
    let first = first_minute.expect("at least a minute");
    let last = last_minute.expect("at least a minute");
    for (tool, name) in ["oslo-notify", "oslo-listen"].into_iter().enumerate() {
        let ((fds, rss), (last_fds, last_rss)) = (first[tool], last[tool]);
        assert!(
            last_fds <= fds,
            "{name}'s open files grew: {fds} -> {last_fds}"
        );
        assert!(
            last_rss <= rss + 2 * 1024 * 1024,
            "{name}'s RSS grew: {:.1} -> {:.1} MiB",
            mib(rss),
            mib(last_rss)
        );
    }
    // And the listener once everything arrived and the link is quiet.
    let end_rss = settled[1].1;
    assert!(
        end_rss <= first[1].1 + 2 * 1024 * 1024,
        "oslo-listen's RSS grew: {:.1} -> {:.1} MiB",
        mib(first[1].1),
        mib(end_rss)
    );
}
