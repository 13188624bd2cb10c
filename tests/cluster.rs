//! Both tools on a three-node RabbitMQ cluster with quorum queues, riding through the loss of
//! the node they are connected to.
//!
//! The cluster is the test's own (three extra nodes on this machine, clustered with
//! `rabbitmqctl join_cluster`, all removed at the end), so this test is `#[ignore]`d by a
//! plain `cargo test`: `scripts/test.sh` runs it with `--ignored --nocapture`, which shows the
//! failover times it measures.

mod common;

use common::cluster::Cluster;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// A line a tool wrote, and when the test read it.
type Line = (Instant, String);

/// A running tool whose stdout and stderr lines are read as they come.
struct Tool {
    child: Child,
    stdout: Receiver<Line>,
    stderr: Receiver<Line>,
}

/// Sends every line of `pipe`, with the moment it was read, until it ends.
fn read_lines(pipe: impl Read + Send + 'static) -> Receiver<Line> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    rx
}

impl Tool {
    fn spawn(program: &str, url: &str, args: &[&str], stdin: Stdio) -> Tool {
        let mut child = Command::new(program)
            .args(args)
            .env("OSLO_TRANSPORT_URL", url)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        Tool {
            stdout: read_lines(child.stdout.take().unwrap()),
            stderr: read_lines(child.stderr.take().unwrap()),
            child,
        }
    }

    /// Waits (up to `limit`) for the process to end; kills it after that. Its exit code.
    fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().unwrap().code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tool {
    /// A tool a failed test leaves running is stopped.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Takes the lines that have arrived on `rx` into `into`.
fn gather(rx: &Receiver<Line>, into: &mut Vec<Line>) {
    into.extend(rx.try_iter());
}

/// Waits (up to 60 s) for a line on `rx` that contains `text`; lines read go to `into`.
fn wait_for(rx: &Receiver<Line>, into: &mut Vec<Line>, text: &str) -> Line {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                into.push(line.clone());
                if line.1.contains(text) {
                    return line;
                }
            }
            Err(_) => panic!("never saw {text:?}; so far: {into:#?}"),
        }
    }
}

/// The first of `lines` read after `after`, and how long after `from` it was read.
fn first_after(lines: &[Line], after: Instant, from: Instant) -> Option<(Duration, &str)> {
    lines
        .iter()
        .find(|(at, _)| *at >= after)
        .map(|(at, text)| (at.duration_since(from), text.as_str()))
}

fn texts(lines: &[Line]) -> String {
    let texts: Vec<&str> = lines.iter().map(|(_, t)| t.as_str()).collect();
    texts.join("\n")
}

const TOTAL: usize = 50_000;
/// Lines written before the node stops at the latest; the rest only after it stopped.
const BEFORE_STOP: usize = 40_000;
/// The node is stopped once oslo-notify has confirmed this many.
const STOP_AT: usize = 10_000;

/// How the node both tools are connected to goes away.
#[derive(Debug, Clone, Copy)]
enum Loss {
    /// `rabbitmqctl stop`: a clean shutdown, as for maintenance.
    Stop,
    /// SIGKILL: a crash.
    Kill,
}

#[test]
#[ignore = "starts a three-node cluster: scripts/test.sh runs it with --nocapture"]
fn both_tools_fail_over_when_their_node_stops_and_nothing_is_lost() {
    fail_over(Loss::Stop);
}

#[test]
#[ignore = "starts a three-node cluster: scripts/test.sh runs it with --nocapture"]
fn both_tools_fail_over_when_their_node_crashes_and_nothing_is_lost() {
    fail_over(Loss::Kill);
}

/// Sends 50,000 notifications through oslo-notify to oslo-listen on a three-node cluster
/// with quorum queues, loses the node both are connected to mid-stream, and checks that both
/// carry on with another node and that every confirmed notification is printed.
fn fail_over(loss: Loss) {
    let cluster = Cluster::start(3);
    let url = cluster.transport_url();
    let exchange = common::unique("cluster");
    let topic = common::unique("failover");
    let queue = format!("{topic}.info");

    let mut listener = Tool::spawn(
        env!("CARGO_BIN_EXE_oslo-listen"),
        &url,
        &[
            "--shared",
            "--quorum",
            "--exchange",
            &exchange,
            "--topic",
            &topic,
            "--priority",
            "info",
            "--format",
            "{message_id}",
        ],
        Stdio::null(),
    );
    let mut listen_err = Vec::new();
    let (_, listening) = wait_for(&listener.stderr, &mut listen_err, "listening on");
    // Each tool starts at a random host of the URL; the node to stop is the listener's.
    let home = cluster
        .nodes
        .iter()
        .position(|n| listening.contains(&format!("127.0.0.1:{} ", n.port())))
        .unwrap_or_else(|| panic!("oslo-listen is on a node of the cluster: {listening}"));
    let home_address = format!("127.0.0.1:{}", cluster.nodes[home].port());

    // oslo-notify is started until it lands on the same node too.
    let mut notify_err = Vec::new();
    let mut notifier = (0..50)
        .find_map(|_| {
            let notifier = Tool::spawn(
                env!("CARGO_BIN_EXE_oslo-notify"),
                &url,
                &[
                    "-v",
                    "--quorum",
                    "--exchange",
                    &exchange,
                    "--topic",
                    &topic,
                    "--timeout",
                    "60",
                    "--lines",
                    "info",
                    "cluster.failover",
                ],
                Stdio::piped(),
            );
            notify_err.clear();
            let (_, connected) = wait_for(&notifier.stderr, &mut notify_err, "connected to");
            connected.ends_with(&home_address).then_some(notifier)
        })
        .expect("oslo-notify lands on each node now and then");
    // The lines go at about 5,000 a second, so that the node stops mid-stream; the last ones
    // wait until it has stopped, so that some are sent only to the nodes left.
    let mut stdin = notifier.child.stdin.take().unwrap();
    let (stopped_tx, stopped) = mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let chunk = 500;
        for start in (0..TOTAL).step_by(chunk) {
            if start == BEFORE_STOP {
                let _ = stopped.recv_timeout(Duration::from_secs(120));
            }
            let lines: String = (start..start + chunk)
                .map(|n| format!("{{\"n\": {n}, \"text\": \"fail over \\u00e9\"}}\n"))
                .collect();
            if stdin.write_all(lines.as_bytes()).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });

    let mut confirmed: Vec<Line> = Vec::with_capacity(TOTAL);
    while confirmed.len() < STOP_AT {
        match notifier.stdout.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => confirmed.push(line),
            Err(_) => panic!(
                "oslo-notify confirmed {} of {STOP_AT}: {}",
                confirmed.len(),
                texts(&notify_err)
            ),
        }
    }
    let stop_started = Instant::now();
    match loss {
        Loss::Stop => cluster.nodes[home].stop(),
        Loss::Kill => cluster.nodes[home].kill(),
    }
    let stop_took = stop_started.elapsed();
    stopped_tx.send(()).unwrap();

    let notify_code = notifier.wait(Duration::from_secs(180));
    writer.join().unwrap();
    confirmed.extend(notifier.stdout.iter());
    gather(&notifier.stderr, &mut notify_err);
    assert_eq!(notify_code, Some(0), "{}", texts(&notify_err));
    let sent: HashSet<&str> = confirmed.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(sent.len(), TOTAL, "a message_id for each line");

    // oslo-listen is done once it has printed every one (or after two minutes).
    let mut printed: Vec<Line> = Vec::with_capacity(TOTAL);
    let mut unseen = sent.clone();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !unseen.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match listener.stdout.recv_timeout(left) {
            Ok(line) => {
                unseen.remove(line.1.as_str());
                printed.push(line);
            }
            Err(_) => break,
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &listener.child.id().to_string()])
        .status();
    let listen_code = listener.wait(Duration::from_secs(60));
    printed.extend(listener.stdout.iter());
    gather(&listener.stderr, &mut listen_err);
    assert_eq!(listen_code, Some(0), "{}", texts(&listen_err));
    let mut missing: Vec<&&str> = unseen.iter().collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "{} confirmed by oslo-notify but never printed by oslo-listen, such as {:?}; \
         oslo-listen said: {}",
        missing.len(),
        &missing[..missing.len().min(3)],
        texts(&listen_err)
    );
    let twice = printed.len() - sent.len();

    // Both lost the node, said so, and went on with another one.
    let (reconnected_at, reconnected) = notify_err
        .iter()
        .find(|(_, l)| l.contains("reconnected to"))
        .unwrap_or_else(|| panic!("oslo-notify never reconnected: {}", texts(&notify_err)));
    assert!(!reconnected.contains(&home_address), "{reconnected}");
    let (relistening_at, relistening) = listen_err
        .iter()
        .filter(|(_, l)| l.contains("listening on"))
        .nth(1)
        .unwrap_or_else(|| panic!("oslo-listen never listened again: {}", texts(&listen_err)));
    assert!(!relistening.contains(&home_address), "{relistening}");
    assert!(
        listen_err.iter().any(|(_, l)| l.contains("reconnecting")),
        "{}",
        texts(&listen_err)
    );

    // The queue the tools created is a quorum queue; it outlived its first node.
    let mut survivor = common::Broker::at(&cluster.nodes[(home + 1) % 3].amqp_url());
    assert!(
        survivor.queue_is(&queue, true, common::quorum()),
        "{queue} is a quorum queue"
    );
    assert_eq!(
        survivor.depth(&queue),
        0,
        "everything printed was acknowledged"
    );

    let (notify_after, _) = first_after(&confirmed, *reconnected_at, stop_started)
        .expect("a notification confirmed after reconnecting");
    let (listen_after, _) = first_after(&printed, *relistening_at, stop_started)
        .expect("a notification printed after listening again");
    let lost_after = |lines: &[Line]| {
        lines
            .iter()
            .find(|(_, l)| l.contains("reconnecting"))
            .map_or(0.0, |(at, _)| {
                at.saturating_duration_since(stop_started).as_secs_f64()
            })
    };
    let refused = notify_err
        .iter()
        .filter(|(_, l)| l.contains("sending them again"))
        .count();
    eprintln!(
        "failover, node {}: oslo-notify lost its connection {:.1} s after the stop began and \
         had a notification confirmed again after {:.1} s; oslo-listen lost its connection \
         after {:.1} s and printed again after {:.1} s ({TOTAL} sent, all printed, {twice} \
         printed twice, {refused} batches refused by the broker and sent again)",
        match loss {
            Loss::Stop => format!(
                "stopped (rabbitmqctl stop took {:.1} s)",
                stop_took.as_secs_f64()
            ),
            Loss::Kill => "killed (SIGKILL)".to_owned(),
        },
        lost_after(&notify_err),
        notify_after.as_secs_f64(),
        lost_after(&listen_err),
        listen_after.as_secs_f64(),
    );
}
