//! Network faults between the tools and a broker node of the test's own, made by the fault
//! proxy (`common/proxy.rs`): silent partitions, resets in the middle of a frame, latency,
//! refused connections; peers that are not brokers; and poison interleaved with good
//! messages. Nothing may be lost.

use crate::common::node::Node;
use crate::common::proxy::Proxy;
use crate::common::{self, listen_on, scratch, Broker, Line};
use oslo_notify::envelope::{new_unique_id, Format, Notification, Priority};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// A transport URL naming these proxies in order.
fn url_of(proxies: &[&Proxy]) -> String {
    let hosts: Vec<String> = proxies
        .iter()
        .map(|p| format!("guest:guest@127.0.0.1:{}", p.port()))
        .collect();
    format!("rabbit://{}/", hosts.join(","))
}

/// The proxy of the two that holds a connection now.
fn in_use<'a>(a: &'a Proxy, b: &'a Proxy) -> (&'a Proxy, &'a Proxy) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        match (a.open(), b.open()) {
            (0, 0) => {}
            (_, 0) => return (a, b),
            (0, _) => return (b, a),
            (x, y) => panic!("connections on both proxies: {x} and {y}"),
        }
        assert!(Instant::now() < until, "no connection through either proxy");
        std::thread::sleep(Duration::from_millis(20));
    }
}

use common::json_message_ids as ids_of;

/// Every id once, or the ids printed more than once.
fn assert_each_once(ids: &[String]) {
    let mut seen = BTreeMap::<&str, usize>::new();
    for id in ids {
        *seen.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "printed more than once: {twice:?}");
}

/// Sends `count` notifications straight to the node; returns their message_ids.
fn send_direct(node: &Node, exchange: &str, topic: &str, count: usize) -> BTreeSet<String> {
    let lines: String = (0..count).map(|i| format!("{{\"n\": {i}}}\n")).collect();
    let args = common::route_args(exchange, topic, &["--lines", "info", "net.test"]);
    let run = common::notify_with_url(&node.transport_url(), &args, lines.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    run.stdout.lines().map(str::to_owned).collect()
}

/// A node of the test's own with two proxies in front of it, a scratch area on it with an
/// exchange and a topic, and a URL naming both proxies.
struct TwoWays {
    node: Node,
    broker: Broker,
    exchange: String,
    topic: String,
    a: Proxy,
    b: Proxy,
    url: String,
}

fn two_ways() -> TwoWays {
    let node = Node::start();
    let mut broker = Broker::at(&node.amqp_url());
    let (exchange, topic) = (broker.exchange_name(), broker.topic_name());
    let (a, b) = (Proxy::start(node.port()), Proxy::start(node.port()));
    let url = url_of(&[&a, &b]);
    TwoWays {
        node,
        broker,
        exchange,
        topic,
        a,
        b,
        url,
    }
}

#[test]
fn a_silent_partition_under_a_shared_listener_moves_it_to_the_other_host() {
    let TwoWays {
        node,
        broker: _broker,
        exchange,
        topic,
        a,
        b,
        url,
    } = two_ways();
    let args = common::route_args(
        &exchange,
        &topic,
        &[
            "--shared",
            "--json",
            "--heartbeat",
            "2",
            "--count",
            "1500",
            "--timeout",
            "120",
        ],
    );
    let mut listener = listen_on(&url, &args, true);
    let (partitioned, other) = in_use(&a, &b);
    let mut sent = send_direct(&node, &exchange, &topic, 500);
    partitioned.blackhole();
    let cut = Instant::now();
    sent.extend(send_direct(&node, &exchange, &topic, 500));
    listener.wait_for_new_stderr("lost");
    let detected = cut.elapsed();
    listener.wait_for_new_stderr("listening on");
    let listening = cut.elapsed();
    assert!(other.open() > 0, "it moved to the other host");
    sent.extend(send_direct(&node, &exchange, &topic, 500));
    // Everything arrives (what the lost connection held comes back once the broker gives
    // up on it), none twice.
    let run = listener.finish();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let printed = ids_of(&run.stdout);
    assert_each_once(&printed);
    let printed: BTreeSet<String> = printed.into_iter().collect();
    let missing: Vec<_> = sent.difference(&printed).collect();
    assert!(
        missing.is_empty(),
        "{} not printed: {missing:?}",
        missing.len()
    );
    eprintln!(
        "silent partition under oslo-listen --heartbeat 2: lost after {:.1} s, listening through the other host after {:.1} s",
        detected.as_secs_f64(),
        listening.as_secs_f64()
    );
}

/// Starts `oslo-notify` on `url` with `args`, stdin piped; its stdout lines come on the
/// receiver.
fn notify_piped(url: &str, args: &[&str]) -> (Child, Receiver<Line>) {
    common::spawn_piped(env!("CARGO_BIN_EXE_oslo-notify"), url, args, Stdio::piped())
}

/// The message_ids on `queue`, taken off it.
fn drained(broker: &Broker, queue: &str) -> BTreeSet<String> {
    broker.drain_ids(queue)
}

#[test]
fn a_silent_partition_under_a_publisher_sends_everything_through_the_other_host() {
    let TwoWays {
        node: _node,
        broker,
        exchange,
        topic,
        a,
        b,
        url,
    } = two_ways();
    let args = common::route_args(
        &exchange,
        &topic,
        &["--heartbeat", "2", "--lines", "info", "net.partition"],
    );
    let (mut child, lines) = notify_piped(&url, &args);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for i in 0..20_000 {
            if writeln!(stdin, "{{\"n\": {i}, \"pad\": \"{}\"}}", "x".repeat(200)).is_err() {
                return;
            }
        }
    });
    let mut printed = BTreeSet::new();
    let mut cut = None;
    let mut resumed = None;
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(90)) {
        printed.insert(line.1.trim().to_owned());
        if let (Some(cut), None) = (cut, resumed) {
            // The lines printed before the partition was noticed were confirmed before it.
            if line.0.duration_since(cut) > Duration::from_millis(500) {
                resumed = Some(line.0.duration_since(cut));
            }
        }
        if cut.is_none() && printed.len() == 5_000 {
            in_use(&a, &b).0.blackhole();
            cut = Some(Instant::now());
        }
    }
    writer.join().unwrap();
    let status = common::wait_or_kill(&mut child, Duration::from_secs(60));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(cut.is_some(), "{} printed: {stderr}", printed.len());
    assert_eq!(printed.len(), 20_000, "{stderr}");
    assert!(stderr.contains("lost"), "{stderr}");
    let queued = drained(&broker, &format!("{topic}.info"));
    let missing: Vec<_> = printed.difference(&queued).collect();
    assert!(missing.is_empty(), "{} printed, not queued", missing.len());
    eprintln!(
        "silent partition under oslo-notify --lines --heartbeat 2: confirms again after {:.1} s; {stderr}",
        resumed.unwrap_or_default().as_secs_f64()
    );
}

use common::footprint;

/// Waits until the proxy has reset `resets` connections and accepted the one after;
/// returns the process's least footprint over the next 300 ms.
///
/// The least, because a single look can land while a connection is being replaced, with
/// the one before not yet closed and the next one open: a leak raises the floor, a
/// replacement in flight does not.
fn after_resets(proxy: &Proxy, resets: usize, pid: u32) -> (usize, u64) {
    let until = Instant::now() + Duration::from_secs(120);
    while proxy.resets() < resets || proxy.accepted() <= resets || proxy.open() == 0 {
        assert!(
            Instant::now() < until,
            "{} resets, {} accepted",
            proxy.resets(),
            proxy.accepted()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut least = footprint(pid);
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(10));
        let now = footprint(pid);
        assert!(now.0 > 0, "process {pid} ended while measured");
        least = (least.0.min(now.0), least.1.min(now.1));
    }
    least
}

fn assert_flat(first: (usize, u64), last: (usize, u64), what: &str) {
    // Either look may fall between two connections (none open), on one, or on one closing
    // while the next opens: the floors may differ by two connections' files (a socket, a
    // poll and its waker's pipe each), where a file kept by each reset would add a hundred.
    const CONNECTION_FILES: usize = 4;
    assert!(
        last.0 <= first.0 + 2 * CONNECTION_FILES,
        "{what}: open files grew from {} after the first reset to {} after the 100th",
        first.0,
        last.0
    );
    assert!(
        last.1 <= first.1 + 2 * 1024 * 1024,
        "{what}: RSS grew from {} to {} bytes",
        first.1,
        last.1
    );
    eprintln!(
        "{what}: after the 1st reset {} fds, {:.1} MiB; after the 100th {} fds, {:.1} MiB",
        first.0,
        first.1 as f64 / 1048576.0,
        last.0,
        last.1 as f64 / 1048576.0
    );
}

/// A body of about 400 bytes.
fn body(n: usize) -> Vec<u8> {
    Notification::new(
        Priority::Info,
        "net.reset",
        json!({"n": n, "pad": "y".repeat(300)}),
    )
    .encode(Format::V2, &new_unique_id())
    .unwrap()
}

#[test]
fn a_hundred_resets_in_the_middle_of_a_frame_under_a_listener() {
    let node = Node::start();
    let mut broker = Broker::at(&node.amqp_url());
    let (exchange, topic) = (broker.exchange_name(), broker.topic_name());
    broker.declare_exchange(&exchange, false);
    let queue = format!("{topic}.info");
    broker.declare_bound_queue(&exchange, &queue, false, Default::default());
    let count = 30_000;
    let bodies: Vec<Vec<u8>> = (0..count).map(body).collect();
    broker.publish_many(&exchange, &queue, &bodies);
    let proxy = Proxy::start(node.port());
    // Each connection is reset after about 40 deliveries, in the middle of one.
    proxy.cut_after(Some(20_011));
    let total = count.to_string();
    let args = common::route_args(
        &exchange,
        &topic,
        &["--shared", "--json", "--prefetch", "100", "--count", &total],
    );
    let listener = listen_on(&url_of(&[&proxy]), &args, false);
    let pid = listener.pid();
    let first = after_resets(&proxy, 1, pid);
    let last = after_resets(&proxy, 100, pid);
    proxy.cut_after(None);
    let run = listener.finish();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(broker.depth(&queue), 0);
    let printed = ids_of(&run.stdout);
    assert_each_once(&printed);
    assert_eq!(printed.len(), count, "every one printed once");
    assert_flat(first, last, "oslo-listen --shared");
}

#[test]
fn a_hundred_resets_in_the_middle_of_a_frame_under_a_publisher() {
    let node = Node::start();
    let mut broker = Broker::at(&node.amqp_url());
    let (exchange, topic) = (broker.exchange_name(), broker.topic_name());
    let proxy = Proxy::start(node.port());
    // Confirms are small: each connection gets a few hundred before the reset.
    proxy.cut_after(Some(1_503));
    let args = common::route_args(&exchange, &topic, &["--lines", "info", "net.reset"]);
    let (mut child, lines) = notify_piped(&url_of(&[&proxy]), &args);
    let stderr = common::read_all(child.stderr.take().unwrap());
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writing = std::sync::Arc::clone(&stop);
    let writer = std::thread::spawn(move || {
        let mut n = 0;
        while !writing.load(std::sync::atomic::Ordering::Relaxed)
            && writeln!(stdin, "{{\"n\": {n}}}").is_ok()
        {
            n += 1;
        }
        // stdin closes here: oslo-notify sends what it read and exits.
    });
    let first = after_resets(&proxy, 1, pid);
    let last = after_resets(&proxy, 100, pid);
    proxy.cut_after(None);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    let mut printed = BTreeSet::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(30)) {
        printed.insert(line.1.trim().to_owned());
    }
    let status = common::wait_or_kill(&mut child, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let queued = drained(&broker, &format!("{topic}.info"));
    let missing: Vec<_> = printed.difference(&queued).collect();
    assert!(missing.is_empty(), "{} printed, not queued", missing.len());
    assert!(printed.len() > 1000, "{} printed", printed.len());
    assert_flat(first, last, "oslo-notify --lines");
}

#[test]
fn poison_interleaved_with_good_notifications_is_reported_and_the_rest_printed() {
    let (mut broker, exchange, topic) = scratch();
    broker.declare_exchange(&exchange, false);
    let queue = format!("{topic}.info");
    broker.declare_bound_queue(&exchange, &queue, false, Default::default());
    let mut bodies = Vec::new();
    let mut good = BTreeSet::new();
    for n in 0..10_000 {
        bodies.push(format!("poison {n} \u{1}{{not json").into_bytes());
        let body = body(n);
        good.insert(
            common::inner_json(&body)["message_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        bodies.push(body);
    }
    broker.publish_many(&exchange, &queue, &bodies);
    let args = common::route_args(
        &exchange,
        &topic,
        &["--shared", "--json", "--count", "10000", "--timeout", "120"],
    );
    let run = common::listen_with_url(&common::transport_url(), &args);
    assert_eq!(run.code, 0, "{}", &run.stderr[..run.stderr.len().min(2000)]);
    let printed = ids_of(&run.stdout);
    assert_each_once(&printed);
    let printed: BTreeSet<String> = printed.into_iter().collect();
    assert_eq!(printed, good);
    let reports = run
        .stderr
        .lines()
        .filter(|l| l.contains("is not a notification"))
        .count();
    assert_eq!(reports, 10_000);
    for n in [0, 4_999, 9_999] {
        assert!(
            run.stderr
                .contains(&format!("poison {n} \\u0001{{not json")),
            "{n}"
        );
    }
    assert_eq!(broker.depth(&queue), 0);
}

/// A server on the port that answers `answer` to whatever it is sent, then closes.
fn answering(answer: &'static [u8]) -> u16 {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in server.incoming().flatten() {
            let mut header = [0; 8];
            let _ = std::io::Read::read(&mut stream, &mut header);
            let _ = stream.write_all(answer);
        }
    });
    port
}

#[test]
fn a_peer_that_is_not_a_broker_is_refused_at_once_and_named() {
    let peers: [(&[u8], &str); 4] = [
        (
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
            "an HTTP server answered",
        ),
        (b"SSH-2.0-OpenSSH_9.2p1\r\n", "an SSH server answered"),
        (b"\x16\x03\x03\x00\x2a\x02\x00", "a TLS server answered"),
        (b"-ERR unknown command\r\n", "something that is not AMQP"),
    ];
    for (answer, named) in peers {
        let port = answering(answer);
        let url = format!("rabbit://guest:s3cret@127.0.0.1:{port}/");
        let address = format!("127.0.0.1:{port}");
        let notify = ["--timeout", "30", "info", "e", "{}"];
        let listen = ["--timeout", "30", "--exchange", "x", "--topic", "t"];
        for (program, args) in [
            (env!("CARGO_BIN_EXE_oslo-notify"), &notify[..]),
            (env!("CARGO_BIN_EXE_oslo-listen"), &listen[..]),
        ] {
            let started = Instant::now();
            let (run, peak_kib) = common::run_measured(program, &url, args);
            assert_eq!(run.code, 3, "{named}: {run:?}");
            let last = run.stderr.lines().last().unwrap();
            assert!(
                last.contains("cannot connect") && last.contains(&address) && last.contains(named),
                "{last}"
            );
            assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
            // Refused on its first bytes: not retried until --timeout, and no frame buffer
            // sized by them (an HTTP status line reads as 1.3 GB).
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{named}: retried for {:?}",
                started.elapsed()
            );
            assert!(peak_kib < 64 * 1024, "{named}: peak RSS {peak_kib} KiB");
        }
    }
}

#[test]
fn a_peer_that_accepts_and_stays_silent_is_bounded_by_the_timeout() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let url = format!("rabbit://guest:guest@127.0.0.1:{silent_port}/");
    let address = format!("127.0.0.1:{silent_port}");
    let started = Instant::now();
    let run = common::notify_with_url(&url, &["--timeout", "3", "info", "e", "{}"], b"");
    assert_eq!(run.code, 3, "{run:?}");
    let last = run.stderr.lines().last().unwrap();
    assert!(
        last.contains("cannot connect") && last.contains(&address),
        "{last}"
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "bounded by --timeout"
    );
    let args = ["--timeout", "3", "--exchange", "x", "--topic", "t"];
    let run = common::listen_with_url(&url, &args);
    assert_eq!(run.code, 3, "{run:?}");
    let last = run.stderr.lines().last().unwrap();
    assert!(
        last.contains("cannot connect") && last.contains(&address),
        "{last}"
    );
}

#[test]
fn two_hundred_milliseconds_each_way() {
    let node = Node::start();
    let mut broker = Broker::at(&node.amqp_url());
    let (exchange, topic) = (broker.exchange_name(), broker.topic_name());
    let proxy = Proxy::start(node.port());
    proxy.latency(Duration::from_millis(200), Duration::from_millis(200));
    let url = url_of(&[&proxy]);
    // Listening with the default exchanges: the well-known ones are looked for concurrently.
    let started = Instant::now();
    let mut listener = listen_on(&url, &["--topic", &topic, "--json"], false);
    listener.wait_for_stderr("listening on");
    let listening = started.elapsed();
    listener.terminate();
    assert_eq!(listener.finish().code, 0);
    // One confirm per round trip would take 5,000 x 0.4 s: more than half an hour.
    let lines: String = (0..5_000).map(|i| format!("{{\"n\": {i}}}\n")).collect();
    let started = Instant::now();
    let args = common::route_args(&exchange, &topic, &["--lines", "info", "net.far"]);
    let run = common::notify_with_url(&url, &args, lines.as_bytes());
    let sent = started.elapsed();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        sent < Duration::from_secs(300),
        "confirms are pipelined: {sent:?}"
    );
    let args = common::route_args(
        &exchange,
        &topic,
        &[
            "--shared",
            "--json",
            "--count",
            "5000",
            "--priority",
            "info",
        ],
    );
    // From listening (the queue full) to the last one.
    let listener = listen_on(&url, &args, true);
    let started = Instant::now();
    let run = listener.finish();
    let read = started.elapsed();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(ids_of(&run.stdout).len(), 5_000);
    eprintln!(
        "200 ms each way: oslo-listen (default exchanges) listening after {:.1} s; 5,000 sent in {:.1} s ({:.0}/s), read in {:.1} s ({:.0}/s)",
        listening.as_secs_f64(),
        sent.as_secs_f64(),
        5000.0 / sent.as_secs_f64(),
        read.as_secs_f64(),
        5000.0 / read.as_secs_f64()
    );
}

#[test]
fn sigterm_while_the_broker_is_out_of_reach_ends_the_listener_at_once() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("rabbit://guest:guest@127.0.0.1:{port}/");
    let mut listener = listen_on(&url, &["--exchange", "x", "--topic", "t"], false);
    listener.wait_for_stderr("trying again");
    listener.terminate();
    let run = listener.finish();
    // Not exit 3 after the 30 s it would otherwise go on trying for.
    assert_eq!(run.code, 0, "{run:?}");
}
