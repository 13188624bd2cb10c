//! Helpers for tests against the real RabbitMQ broker: unique names, an independent AMQP
//! client to check what landed, clean-up, and running the built binaries.
//!
//! The broker is `OSLO_TEST_TRANSPORT_URL`'s (amqp URL syntax, default the local broker that
//! `scripts/ensure-rabbitmq.sh` brings up).

pub mod cluster;
pub mod node;
pub mod prometheus;
pub mod proxy;
pub mod tls;
pub mod tmux;

use amiquip::{
    AmqpProperties, Channel, Connection, ExchangeDeclareOptions, ExchangeType, FieldTable,
    QueueDeclareOptions, QueueDeleteOptions,
};
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The broker tests use, as an amqp:// URL for the independent client.
pub fn amqp_url() -> String {
    std::env::var("OSLO_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// The same broker as an oslo transport URL, for our binaries.
pub fn transport_url() -> String {
    std::env::var("OSLO_TEST_TRANSPORT_URL")
        .unwrap_or_else(|_| "rabbit://guest:guest@127.0.0.1:5672/".into())
}

/// A name no other test uses: `prefix-<uuid>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A message read back from a queue.
#[derive(Debug)]
pub struct Got {
    pub exchange: String,
    pub routing_key: String,
    pub properties: AmqpProperties,
    pub body: Vec<u8>,
}

impl Got {
    /// The body as text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("body is UTF-8")
    }

    /// The notification in the body, decoded by our envelope module.
    pub fn decoded(&self) -> oslo_notify::envelope::Decoded {
        oslo_notify::envelope::decode(&self.body).expect("body decodes")
    }

    /// The inner notification object, read with plain serde_json (not our decoder).
    pub fn inner_json(&self) -> serde_json::Value {
        inner_json(&self.body)
    }
}

/// The notification object in a body of either format, read with plain serde_json.
pub fn inner_json(body: &[u8]) -> serde_json::Value {
    let outer: serde_json::Value = serde_json::from_slice(body).unwrap();
    match outer.get("oslo.message") {
        Some(serde_json::Value::String(inner)) => serde_json::from_str(inner).unwrap(),
        _ => outer,
    }
}

/// The message_ids of `oslo-listen --json` lines, in the order printed.
pub fn json_message_ids(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["metadata"]["message_id"].as_str().map(str::to_owned))
        .collect()
}

/// Open files and resident memory (bytes) of a process, from /proc.
pub fn footprint(pid: u32) -> (usize, u64) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    (fds, kib * 1024)
}

/// Removes the socket file of the tmux server named `name` (`tmux -L NAME`), which tmux
/// leaves behind when its server is killed.
pub fn remove_tmux_socket(name: &str) {
    let dir = std::env::var_os("TMUX_TMPDIR").unwrap_or_else(|| "/tmp".into());
    // SAFETY: getuid(2) has no preconditions.
    let uid = unsafe { libc::getuid() };
    let _ = std::fs::remove_file(
        std::path::Path::new(&dir)
            .join(format!("tmux-{uid}"))
            .join(name),
    );
}

/// The pid of the child of `parent` whose command is `name`, waiting up to 10 s for it.
pub fn pid_of_child(parent: &str, name: &str) -> String {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let found = std::fs::read_dir("/proc").ok().and_then(|entries| {
            entries.flatten().find_map(|entry| {
                let pid = entry.file_name().into_string().ok()?;
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                let (command, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
                let ppid = rest.split(' ').nth(1)?;
                (command == name && ppid == parent).then_some(pid)
            })
        });
        if let Some(pid) = found {
            return pid;
        }
        assert!(
            std::time::Instant::now() < until,
            "no child {name} of {parent}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A scratch area on the broker: exchanges and queues created through it, or named to it,
/// are deleted when it is dropped, also when the test fails.
pub struct Broker {
    connection: Option<Connection>,
    channel: Channel,
    queues: Vec<String>,
    exchanges: Vec<String>,
}

impl Broker {
    pub fn new() -> Broker {
        Broker::at(&amqp_url())
    }

    /// A scratch area on the broker of this amqp URL.
    pub fn at(url: &str) -> Broker {
        let mut connection = Connection::insecure_open(url).expect("test broker reachable");
        let channel = connection.open_channel(None).unwrap();
        Broker {
            connection: Some(connection),
            channel,
            queues: Vec::new(),
            exchanges: Vec::new(),
        }
    }

    /// A fresh exchange name, deleted at the end.
    pub fn exchange_name(&mut self) -> String {
        let name = unique("test-ex");
        self.exchanges.push(name.clone());
        name
    }

    /// A fresh topic; its `<topic>.<priority>` queues are deleted at the end.
    pub fn topic_name(&mut self) -> String {
        let topic = unique("test-topic");
        for p in oslo_notify::envelope::Priority::ALL {
            self.queues.push(format!("{topic}.{}", p.name()));
        }
        topic
    }

    /// Deletes this queue at the end too.
    pub fn forget_queue(&mut self, name: &str) {
        self.queues.push(name.to_owned());
    }

    /// A new channel on the test connection.
    pub fn channel(&mut self) -> Channel {
        self.connection
            .as_mut()
            .unwrap()
            .open_channel(None)
            .unwrap()
    }

    /// Declares an exchange as a deployment would have.
    pub fn declare_exchange(&self, name: &str, durable: bool) {
        self.channel
            .exchange_declare(
                ExchangeType::Topic,
                name,
                ExchangeDeclareOptions {
                    durable,
                    ..Default::default()
                },
            )
            .unwrap();
    }

    /// Declares a queue bound to `exchange` with its own name as key.
    pub fn declare_bound_queue(
        &self,
        exchange: &str,
        name: &str,
        durable: bool,
        arguments: FieldTable,
    ) {
        self.channel
            .queue_declare(
                name,
                QueueDeclareOptions {
                    durable,
                    arguments,
                    ..Default::default()
                },
            )
            .unwrap();
        self.channel
            .queue_bind(name, exchange, name, FieldTable::default())
            .unwrap();
    }

    /// Whether redeclaring `queue` with these settings is accepted, i.e. it was declared so.
    pub fn queue_is(&mut self, queue: &str, durable: bool, arguments: FieldTable) -> bool {
        let channel = self.channel();
        let ok = channel
            .queue_declare(
                queue,
                QueueDeclareOptions {
                    durable,
                    arguments,
                    ..Default::default()
                },
            )
            .is_ok();
        drop(channel);
        ok
    }

    /// Whether redeclaring `exchange` as a topic exchange with `durable` is accepted.
    pub fn exchange_is(&mut self, exchange: &str, durable: bool) -> bool {
        let channel = self.channel();
        channel
            .exchange_declare(
                ExchangeType::Topic,
                exchange,
                ExchangeDeclareOptions {
                    durable,
                    ..Default::default()
                },
            )
            .is_ok()
    }

    /// Whether `queue` exists (an exclusive queue of another connection counts).
    pub fn queue_exists(&mut self, queue: &str) -> bool {
        let channel = self.channel();
        match channel.queue_declare_passive(queue) {
            Ok(_) => true,
            Err(amiquip::Error::ServerClosedChannel { code: 405, .. }) => true,
            Err(_) => false,
        }
    }

    /// The message_id of every message now in `queue`, taken off it.
    pub fn drain_ids(&self, queue: &str) -> std::collections::BTreeSet<String> {
        self.drain(queue)
            .iter()
            .map(|m| m.decoded().notification.message_id)
            .collect()
    }

    /// Every message now in `queue`, taken off it.
    pub fn drain(&self, queue: &str) -> Vec<Got> {
        let mut got = Vec::new();
        while let Some(get) = self.channel.basic_get(queue, true).expect("basic_get") {
            let d = get.delivery;
            got.push(Got {
                exchange: d.exchange,
                routing_key: d.routing_key,
                properties: d.properties,
                body: d.body,
            });
        }
        got
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        for queue in &self.queues {
            let _ = self
                .channel
                .queue_delete(queue.as_str(), QueueDeleteOptions::default());
        }
        for exchange in &self.exchanges {
            let _ = self.channel.exchange_delete(exchange.as_str(), false);
        }
        if let Some(connection) = self.connection.take() {
            let _ = connection.close();
        }
    }
}

/// The result of running one of our binaries.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The non-empty lines of stdout.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().filter(|l| !l.is_empty()).collect()
    }

    /// Asserts that the tool said `text` on stderr.
    #[track_caller]
    pub fn assert_said(&self, text: &str) {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}: {}",
            self.stderr
        );
    }
}

fn finish(output: Output) -> Run {
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Starts `program` on `url` with `args`, stdin piped (for the caller to write to) and
/// stderr as given; its stdout lines come on the receiver as they are printed.
pub fn spawn_piped(
    program: &str,
    url: &str,
    args: &[&str],
    stderr: Stdio,
) -> (std::process::Child, std::sync::mpsc::Receiver<Line>) {
    let mut child = Command::new(program)
        .args(args)
        .env("OSLO_TRANSPORT_URL", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let lines = read_lines(child.stdout.take().unwrap());
    (child, lines)
}

/// Starts `program` with `args` on the broker of `url` (with `None`, on none but what its
/// arguments name), stdin empty, stdout piped for the caller, NO_COLOR unset; its stderr
/// lines come on the receiver.
pub fn spawn_watched(
    program: &str,
    url: Option<&str>,
    args: &[&str],
) -> (std::process::Child, std::sync::mpsc::Receiver<Line>) {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match url {
        Some(url) => command.env("OSLO_TRANSPORT_URL", url),
        None => command.env_remove("OSLO_TRANSPORT_URL"),
    };
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let stderr = read_lines(child.stderr.take().unwrap());
    (child, stderr)
}

/// Runs `oslo-notify` against the test broker with `args` and `stdin`.
pub fn notify(args: &[&str], stdin: &[u8]) -> Run {
    notify_with_url(&transport_url(), args, stdin)
}

/// Runs one of our binaries (`program`) on `url` with `args` and no stdin, to its end; with
/// the peak resident memory (KiB) of the process. Measured by a small Python parent (its
/// RUSAGE_CHILDREN): a child spawned by this large test process would be charged the test
/// process's own memory, which it shares until it execs.
pub fn run_measured(program: &str, url: &str, args: &[&str]) -> (Run, u64) {
    const MEASURE: &str = "import resource, subprocess, sys\n\
        code = subprocess.run(sys.argv[1:]).returncode\n\
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n\
        sys.stderr.write('PEAK_KIB=%d\\n' % peak)\n\
        sys.exit(code if code >= 0 else 128 - code)\n";
    let output = Command::new("python3")
        .args(["-c", MEASURE, program])
        .args(args)
        .env("OSLO_TRANSPORT_URL", url)
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs");
    let mut run = finish(output);
    let (stderr, peak) = run
        .stderr
        .rsplit_once("PEAK_KIB=")
        .expect("the measuring parent says the peak");
    let peak = peak.trim().parse().unwrap();
    run.stderr = stderr.to_owned();
    (run, peak)
}

/// Runs `oslo-notify` with a given transport URL.
pub fn notify_with_url(url: &str, args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oslo-notify"))
        .args(args)
        .env("OSLO_TRANSPORT_URL", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("oslo-notify runs");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    finish(output)
}

/// A line a child process wrote, and when the test read it.
pub type Line = (std::time::Instant, String);

/// Reads `pipe` line by line on a thread of its own and sends each line, with the moment it
/// was read, until the pipe ends or nobody listens.
pub fn read_lines(pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<Line> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send((std::time::Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits up to `within` for a line from `rx` that contains `text`, and returns it; every line
/// read on the way is kept in `seen`. Fails the test, showing what was seen, if none comes.
pub fn wait_for_line(
    rx: &std::sync::mpsc::Receiver<Line>,
    seen: &mut Vec<Line>,
    text: &str,
    within: std::time::Duration,
) -> Line {
    let deadline = std::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if line.1.contains(text) {
                    return line;
                }
            }
            Err(_) => {
                let lines: Vec<&str> = seen.iter().map(|(_, l)| l.as_str()).collect();
                panic!("never saw {text:?}; lines so far: {lines:#?}")
            }
        }
    }
}

/// Waits up to 30 s for a line from `rx` that contains `text`.
pub fn await_line(rx: &std::sync::mpsc::Receiver<Line>, text: &str) -> Line {
    wait_for_line(
        rx,
        &mut Vec::new(),
        text,
        std::time::Duration::from_secs(30),
    )
}

/// Fails unless every one of `sent` is in `found`.
pub fn assert_none_missing(
    sent: &std::collections::BTreeSet<String>,
    found: &std::collections::BTreeSet<String>,
) {
    let missing: Vec<_> = sent.difference(found).collect();
    assert!(
        missing.is_empty(),
        "{} of {} sent are missing: {:?}",
        missing.len(),
        sent.len(),
        &missing[..missing.len().min(5)]
    );
}

/// Reads all of `pipe` on a thread of its own, so that the child never waits on a full pipe.
pub fn read_all(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Waits up to `limit` for `child` to exit, and kills it after that; its exit status.
pub fn wait_or_kill(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A running `oslo-listen`, started with [`listen`]: it is consuming once this exists.
pub struct Listening {
    child: std::process::Child,
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
    stderr_lines: std::sync::mpsc::Receiver<Line>,
    stderr: Vec<Line>,
}

/// Arguments of either tool that name `exchange` and `topic`, followed by `rest`.
pub fn route_args<'a>(exchange: &'a str, topic: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--exchange", exchange, "--topic", topic];
    args.extend_from_slice(rest);
    args
}

/// Starts `oslo-listen` on the test broker and waits until it says it is listening.
pub fn listen(args: &[&str]) -> Listening {
    listen_on(&transport_url(), args, true)
}

/// Starts `oslo-listen` on the broker of `url`; with `wait`, until it says it is listening.
pub fn listen_on(url: &str, args: &[&str], wait: bool) -> Listening {
    let (mut child, stderr_lines) =
        spawn_watched(env!("CARGO_BIN_EXE_oslo-listen"), Some(url), args);
    let mut listening = Listening {
        stdout: Some(read_all(child.stdout.take().unwrap())),
        stderr_lines,
        child,
        stderr: Vec::new(),
    };
    if wait {
        listening.wait_for_stderr("listening on");
    }
    listening
}

impl Listening {
    /// Waits (up to 30 s) for a stderr line containing `text`, and returns it.
    pub fn wait_for_stderr(&mut self, text: &str) -> String {
        if let Some((_, line)) = self.stderr.iter().find(|(_, l)| l.contains(text)) {
            return line.clone();
        }
        self.wait_for_new_stderr(text)
    }

    /// Waits (up to 30 s) for a stderr line containing `text` that is not yet seen.
    pub fn wait_for_new_stderr(&mut self, text: &str) -> String {
        let within = std::time::Duration::from_secs(30);
        wait_for_line(&self.stderr_lines, &mut self.stderr, text, within).1
    }

    /// The name of the private tap queue, from the "listening on" line.
    pub fn tap_queue(&mut self) -> String {
        let line = self.wait_for_stderr("listening on");
        let start = line.find("(oslo-listen.").expect("a tap queue") + 1;
        line[start..line.len() - 1].to_owned()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (up to 60 s, then kills it) for the listener to exit.
    pub fn finish(mut self) -> Run {
        let status = wait_or_kill(&mut self.child, std::time::Duration::from_secs(60));
        let stdout = self
            .stdout
            .take()
            .map(|t| t.join().unwrap())
            .unwrap_or_default();
        // The stderr reader ends with the process.
        while let Ok(line) = self
            .stderr_lines
            .recv_timeout(std::time::Duration::from_secs(5))
        {
            self.stderr.push(line);
        }
        let stderr: Vec<String> = self.stderr.drain(..).map(|(_, line)| line).collect();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: stderr.join("\n"),
        }
    }
}

impl Drop for Listening {
    /// A listener a failed test leaves running is stopped.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Broker {
    /// Publishes a body as it is, with oslo's properties, to `exchange` with `routing_key`,
    /// and waits for the broker's confirm (so it is in its queues before anything sent later).
    pub fn publish_raw(&mut self, exchange: &str, routing_key: &str, body: &[u8]) {
        self.publish_many(exchange, routing_key, &[body.to_vec()]);
    }

    /// Publishes `bodies` as they are to `exchange` with `routing_key`, with confirms in
    /// flight, and waits until the broker confirmed every one.
    pub fn publish_many(&mut self, exchange: &str, routing_key: &str, bodies: &[Vec<u8>]) {
        let channel = self.channel();
        let confirms = channel.listen_for_publisher_confirms().unwrap();
        channel.enable_publisher_confirms().unwrap();
        let properties = AmqpProperties::default()
            .with_content_type("application/json".into())
            .with_content_encoding("utf-8".into())
            .with_delivery_mode(2);
        for body in bodies {
            let publish = amiquip::Publish::with_properties(body, routing_key, properties.clone());
            channel.basic_publish(exchange, publish).unwrap();
        }
        let mut confirmed = 0u64;
        while confirmed < bodies.len() as u64 {
            let confirm = confirms
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("a confirm");
            match confirm {
                amiquip::Confirm::Ack(payload) => {
                    confirmed = if payload.multiple {
                        payload.delivery_tag
                    } else {
                        confirmed + 1
                    }
                }
                nack => panic!("{nack:?}"),
            }
        }
    }

    /// How many consumers `queue` has.
    pub fn consumers(&mut self, queue: &str) -> u32 {
        let channel = self.channel();
        let count = channel
            .queue_declare_passive(queue)
            .unwrap()
            .declared_consumer_count()
            .unwrap();
        count
    }

    /// How many messages wait in `queue`.
    pub fn depth(&mut self, queue: &str) -> u32 {
        let channel = self.channel();
        let depth = channel
            .queue_declare_passive(queue)
            .unwrap()
            .declared_message_count()
            .unwrap();
        depth
    }
}

/// Runs `oslo-listen` with a given transport URL to its end (for cases that end at once).
pub fn listen_with_url(url: &str, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_oslo-listen"))
        .args(args)
        .env("OSLO_TRANSPORT_URL", url)
        .stdin(Stdio::null())
        .output()
        .expect("oslo-listen runs");
    finish(output)
}

/// The queue arguments of a quorum queue, as oslo with `rabbit_quorum_queue = True`
/// declares it.
pub fn quorum() -> amiquip::FieldTable {
    let mut arguments = amiquip::FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        amiquip::AmqpValue::LongString("quorum".into()),
    );
    arguments
}

/// A scratch broker area with a fresh exchange and topic.
pub fn scratch() -> (Broker, String, String) {
    let mut broker = Broker::new();
    let (exchange, topic) = (broker.exchange_name(), broker.topic_name());
    (broker, exchange, topic)
}

/// Sends one notification with `oslo-notify --exchange EX --topic T --publisher-id
/// compute.h1` plus `rest`, which must succeed; returns its message_id.
pub fn send(exchange: &str, topic: &str, rest: &[&str]) -> String {
    let mut args = route_args(exchange, topic, &["--publisher-id", "compute.h1"]);
    args.extend_from_slice(rest);
    let run = notify(&args, b"");
    assert_eq!(run.code, 0, "{run:?}");
    run.stdout.trim().to_owned()
}
