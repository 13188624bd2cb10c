//! Both tools on a three-node RabbitMQ cluster with quorum queues, riding through the loss of
//! the node they are connected to, or of the node that leads their queue.
//!
//! Each test's cluster is its own (three extra nodes on this machine, clustered with
//! `rabbitmqctl join_cluster`, all removed at the end), so these tests are `#[ignore]`d by a
//! plain `cargo test`: `scripts/test.sh` runs them with `--ignored --nocapture`, which shows
//! the failover times they measure.

use crate::common;
use crate::common::cluster::Cluster;
use crate::common::{read_lines, wait_for_line, wait_or_kill, Line};
use std::collections::HashSet;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// A running tool whose stdout and stderr lines are read as they come.
struct Tool {
    child: Child,
    stdout: Receiver<Line>,
    stderr: Receiver<Line>,
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
        wait_or_kill(&mut self.child, limit).code()
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
    wait_for_line(rx, into, text, Duration::from_secs(60))
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

/// Which node goes away, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loss {
    /// `rabbitmqctl stop` of the node both tools are connected to: a clean shutdown, as for
    /// maintenance.
    StopTheirs,
    /// SIGKILL of the node both tools are connected to: a crash.
    KillTheirs,
    /// SIGKILL of the node that leads the quorum queue, while both tools are connected to
    /// another one.
    KillTheLeaders,
}

#[test]
#[ignore = "starts a three-node cluster: scripts/test.sh runs it with --nocapture"]
fn both_tools_fail_over_when_their_node_stops_and_nothing_is_lost() {
    fail_over(Loss::StopTheirs);
}

#[test]
#[ignore = "starts a three-node cluster: scripts/test.sh runs it with --nocapture"]
fn both_tools_fail_over_when_their_node_crashes_and_nothing_is_lost() {
    fail_over(Loss::KillTheirs);
}

#[test]
#[ignore = "starts a three-node cluster: scripts/test.sh runs it with --nocapture"]
fn both_tools_carry_on_when_the_queue_leaders_node_crashes_and_nothing_is_lost() {
    fail_over(Loss::KillTheLeaders);
}

/// Starts oslo-listen until it is connected to a node other than `avoid`; returns it, the
/// stderr lines read so far, and the node's index.
fn spawn_listener(
    cluster: &Cluster,
    args: &[&str],
    avoid: Option<usize>,
) -> (Tool, Vec<Line>, usize) {
    let url = cluster.transport_url();
    for _ in 0..50 {
        let listener = Tool::spawn(env!("CARGO_BIN_EXE_oslo-listen"), &url, args, Stdio::null());
        let mut said = Vec::new();
        let (_, listening) = wait_for(&listener.stderr, &mut said, "listening on");
        let home = cluster
            .nodes
            .iter()
            .position(|n| listening.contains(&format!("127.0.0.1:{} ", n.port())))
            .unwrap_or_else(|| panic!("oslo-listen is on a node of the cluster: {listening}"));
        if Some(home) != avoid {
            return (listener, said, home);
        }
    }
    panic!("oslo-listen never landed on a node but {avoid:?}");
}

/// Sends 50,000 notifications through oslo-notify to oslo-listen on a three-node cluster
/// with quorum queues, loses a node mid-stream as `loss` says, and checks that both carry on
/// and that every confirmed notification is printed.
fn fail_over(loss: Loss) {
    let cluster = Cluster::start(3);
    let url = cluster.transport_url();
    let exchange = common::unique("cluster");
    let topic = common::unique("failover");
    let queue = format!("{topic}.info");

    // A quorum queue is led by the node it was declared on: to lose its leader and not the
    // tools' node, it is declared on the first node beforehand, as oslo would.
    let leader = (loss == Loss::KillTheLeaders).then_some(0);
    if let Some(leader) = leader {
        let broker = common::Broker::at(&cluster.nodes[leader].amqp_url());
        broker.declare_exchange(&exchange, true);
        broker.declare_bound_queue(&exchange, &queue, true, common::quorum());
    }
    // Each tool starts at a random host of the URL: the listener is started until it is off
    // the leader's node (if that matters), then the notifier until it is on the same node.
    let (mut listener, mut listen_err, home) = spawn_listener(
        &cluster,
        &common::route_args(
            &exchange,
            &topic,
            &[
                "--shared",
                "--quorum",
                "--priority",
                "info",
                "--format",
                "{message_id}",
            ],
        ),
        leader,
    );
    let home_address = format!("127.0.0.1:{}", cluster.nodes[home].port());
    let victim = leader.unwrap_or(home);
    let leader_of = |node: usize| {
        let listed = cluster.nodes[node].ctl_output(&["list_queues", "name", "leader"]);
        listed
            .lines()
            .find(|l| l.starts_with(&queue))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    assert!(
        leader_of(home).contains(cluster.nodes[victim].name()),
        "the queue's leader is on node {victim}: {}",
        leader_of(home)
    );

    // oslo-notify is started until it lands on the same node too.
    let mut notify_err = Vec::new();
    let mut notifier = (0..50)
        .find_map(|_| {
            let notifier = Tool::spawn(
                env!("CARGO_BIN_EXE_oslo-notify"),
                &url,
                &common::route_args(
                    &exchange,
                    &topic,
                    &[
                        "-v",
                        "--quorum",
                        "--timeout",
                        "60",
                        "--lines",
                        "info",
                        "cluster.failover",
                    ],
                ),
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
        Loss::StopTheirs => cluster.nodes[victim].stop(),
        Loss::KillTheirs | Loss::KillTheLeaders => cluster.nodes[victim].kill(),
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

    // The queue the tools created (or found) is a quorum queue; it outlived the lost node.
    let mut survivor = common::Broker::at(&cluster.nodes[(victim + 1) % 3].amqp_url());
    assert!(
        survivor.queue_is(&queue, true, common::quorum()),
        "{queue} is a quorum queue"
    );
    assert_eq!(
        survivor.depth(&queue),
        0,
        "everything printed was acknowledged"
    );
    let refused = notify_err
        .iter()
        .filter(|(_, l)| l.contains("sending them again"))
        .count();
    let counts = format!(
        "{TOTAL} sent, all printed, {twice} printed twice, {refused} batches refused by the \
         broker and sent again"
    );

    if loss == Loss::KillTheLeaders {
        // Their connections stayed up: they waited for the queue's new leader.
        for (tool, said) in [("oslo-notify", &notify_err), ("oslo-listen", &listen_err)] {
            assert!(
                !said.iter().any(|(_, l)| l.contains("reconnecting")),
                "{tool} lost its connection: {}",
                texts(said)
            );
        }
        eprintln!(
            "failover, the quorum queue's leader killed (SIGKILL), the tools on another node: \
             oslo-notify's confirms stopped for at most {:.1} s and oslo-listen's printing \
             for at most {:.1} s ({counts})",
            longest_gap(&confirmed, stop_started).as_secs_f64(),
            longest_gap(&printed, stop_started).as_secs_f64(),
        );
        return;
    }

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
    eprintln!(
        "failover, their node {}: oslo-notify lost its connection {:.1} s after the stop \
         began and had a notification confirmed again after {:.1} s; oslo-listen lost its \
         connection after {:.1} s and printed again after {:.1} s ({counts})",
        match loss {
            Loss::StopTheirs => format!(
                "stopped (rabbitmqctl stop took {:.1} s)",
                stop_took.as_secs_f64()
            ),
            _ => "killed (SIGKILL)".to_owned(),
        },
        lost_after(&notify_err),
        notify_after.as_secs_f64(),
        lost_after(&listen_err),
        listen_after.as_secs_f64(),
    );
}

/// The longest time without a line from `from` on: to the first line read after it, or
/// between two lines read after it.
fn longest_gap(lines: &[Line], from: Instant) -> Duration {
    let mut previous = from;
    let mut longest = Duration::ZERO;
    for (at, _) in lines.iter().filter(|(at, _)| *at >= from) {
        longest = longest.max(at.duration_since(previous));
        previous = *at;
    }
    longest
}

#[test]
#[ignore = "starts a three-node cluster: scripts/test.sh runs it with --nocapture"]
fn both_tools_carry_on_through_a_silent_partition_from_their_node() {
    use crate::common::proxy::Proxy;
    let cluster = Cluster::start(3);
    let proxies: Vec<Proxy> = cluster
        .nodes
        .iter()
        .map(|n| Proxy::start(n.port()))
        .collect();
    let hosts: Vec<String> = proxies
        .iter()
        .map(|p| format!("guest:guest@127.0.0.1:{}", p.port()))
        .collect();
    let url = format!("rabbit://{}/", hosts.join(","));
    let exchange = common::unique("partition");
    let topic = common::unique("partition");
    let common_args = common::route_args(&exchange, &topic, &["--quorum", "--heartbeat", "2"]);
    let mut route_args = common_args.to_vec();
    route_args.extend_from_slice(&["--shared", "--priority", "info", "--format", "{message_id}"]);
    let mut listener = Tool::spawn(
        env!("CARGO_BIN_EXE_oslo-listen"),
        &url,
        &route_args,
        Stdio::null(),
    );
    let mut listen_err = Vec::new();
    wait_for(&listener.stderr, &mut listen_err, "listening on");
    let mut notify_args = common_args.to_vec();
    notify_args.extend_from_slice(&["--timeout", "120", "--lines", "info", "cluster.partition"]);
    let mut notifier = Tool::spawn(
        env!("CARGO_BIN_EXE_oslo-notify"),
        &url,
        &notify_args,
        Stdio::piped(),
    );
    let mut stdin = notifier.child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for n in 0..20_000 {
            if writeln!(stdin, "{{\"n\": {n}}}").is_err() {
                return;
            }
            if n % 500 == 0 {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    // After the first 5,000 are confirmed, the listener's node is cut off without a word:
    // its process and its links to the other nodes stay up.
    let mut confirmed = Vec::new();
    while confirmed.len() < 5_000 {
        let line = notifier
            .stdout
            .recv_timeout(Duration::from_secs(60))
            .expect("confirms");
        confirmed.push(line);
    }
    let cut = proxies
        .iter()
        .position(|p| {
            p.open() > 0
                && listen_err
                    .iter()
                    .any(|(_, l)| l.contains(&format!(":{} ", p.port())))
        })
        .or_else(|| proxies.iter().position(|p| p.open() > 0))
        .expect("a proxy in use");
    proxies[cut].blackhole();
    let cut_at = Instant::now();
    writer.join().unwrap();
    assert_eq!(
        notifier.wait(Duration::from_secs(180)),
        Some(0),
        "oslo-notify: {}",
        {
            let mut err = Vec::new();
            gather(&notifier.stderr, &mut err);
            texts(&err)
        }
    );
    confirmed.extend(notifier.stdout.try_iter());
    let sent: HashSet<String> = confirmed.iter().map(|(_, l)| l.trim().to_owned()).collect();
    assert_eq!(sent.len(), 20_000);
    let mut printed = HashSet::new();
    let until = Instant::now() + Duration::from_secs(120);
    while printed.len() < sent.len() && Instant::now() < until {
        if let Ok((_, id)) = listener.stdout.recv_timeout(Duration::from_millis(500)) {
            printed.insert(id.trim().to_owned());
        }
    }
    gather(&listener.stderr, &mut listen_err);
    let missing = sent.difference(&printed).count();
    assert_eq!(
        missing,
        0,
        "not printed; oslo-listen said: {}",
        texts(&listen_err)
    );
    let lost = listen_err
        .iter()
        .find(|(at, l)| *at >= cut_at && l.contains("lost"))
        .map(|(at, _)| at.duration_since(cut_at));
    let _ = Command::new("kill")
        .args(["-TERM", &listener.child.id().to_string()])
        .status();
    listener.wait(Duration::from_secs(30));
    eprintln!(
        "silent partition from node {cut} of three: oslo-listen lost it after {:?}; all 20,000 printed",
        lost
    );
}
