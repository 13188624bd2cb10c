//! oslo-notify and oslo-listen side by side with the raw AMQP client and the Python tools,
//! on the same broker in one run.
//!
//! ```text
//! cargo bench --bench compare -- [--quick] [--runs N] [--count N] [--python-count N]
//!                                [--json PATH] [--url URL]
//! ```
//! scripts/bench.sh brings up what it needs (RabbitMQ, amqp-tools, the oslo.messaging
//! virtualenv) and runs it. It measures, and fails only when something could not be run:
//! whether a target is met is in the table, not in the exit code.

mod filters;
mod measure;
mod metrics;
mod raw;
mod report;
mod saved;
mod sources;
mod top;

use amiquip::{ExchangeDeclareOptions, ExchangeType, FieldTable, QueueDeclareOptions};
use oslo_notify::envelope::{Format, Notification, Priority};
use oslo_notify::transport_url::TransportUrl;
use report::{Machine, Report, Row, Target};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const NOTIFY: &str = env!("CARGO_BIN_EXE_oslo-notify");
const LISTEN: &str = env!("CARGO_BIN_EXE_oslo-listen");
const ONE_SHOT_PAYLOAD: &str = r#"{"heavy":"payload"}"#;
/// The confirm window of `oslo-notify --lines`.
const WINDOW: usize = oslo_notify::Notifier::CONFIRM_WINDOW;
/// oslo-listen's default prefetch and its ack batch.
const PREFETCH: u16 = 1000;
const ACK_BATCH: usize = 64;
const MIB: f64 = 1024.0 * 1024.0;

struct Options {
    quick: bool,
    runs: usize,
    /// How many times the rows that compare two long runs alternate them (the median taken).
    rounds: usize,
    count: usize,
    python_count: usize,
    json: PathBuf,
    url: String,
    /// Only these groups of rows (one_shot, bulk, listen, filters, top, saved, sources,
    /// metrics); empty for all.
    only: Vec<String>,
}

impl Options {
    fn parse() -> Result<Options, String> {
        let mut options = Options {
            quick: false,
            runs: 20,
            rounds: 5,
            count: 100_000,
            python_count: 0,
            json: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench/compare.json"),
            url: std::env::var("OSLO_TRANSPORT_URL")
                .unwrap_or_else(|_| "rabbit://guest:guest@127.0.0.1:5672/".to_owned()),
            only: Vec::new(),
        };
        let mut python_count = None;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            let number = |text: String, name: &str| {
                text.parse::<usize>().ok().filter(|n| *n > 0).ok_or(format!(
                    "{name} takes a positive whole number, not {text:?}"
                ))
            };
            match arg.as_str() {
                // Passed by `cargo bench` to every bench target.
                "--bench" => {}
                "--quick" => {
                    options.quick = true;
                    options.runs = 3;
                    options.rounds = 1;
                    options.count = 2_000;
                }
                "--runs" => options.runs = number(value("--runs")?, "--runs")?,
                "--rounds" => options.rounds = number(value("--rounds")?, "--rounds")?,
                "--count" => options.count = number(value("--count")?, "--count")?,
                "--python-count" => {
                    python_count = Some(number(value("--python-count")?, "--python-count")?)
                }
                "--json" => options.json = PathBuf::from(value("--json")?),
                "--url" => options.url = value("--url")?,
                "--only" => options.only.push(value("--only")?),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        options.python_count = python_count.unwrap_or(options.count);
        Ok(options)
    }
}

/// Names of our own for this run, and what they leave on the broker, removed at the end.
struct Scratch {
    url: TransportUrl,
    exchange: String,
    tag: String,
    queues: Vec<String>,
    dir: PathBuf,
}

impl Scratch {
    fn new(url: TransportUrl) -> Result<Scratch, String> {
        let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        let dir = std::env::temp_dir().join(format!("oslo-notify-bench-{tag}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        Ok(Scratch {
            url,
            exchange: format!("oslo-bench-{tag}"),
            tag,
            queues: Vec::new(),
            dir,
        })
    }

    /// The same names on another broker (or virtual host) at `url`, which must answer; what
    /// is made there is removed at the end too.
    fn alongside(&self, url: TransportUrl) -> Result<Scratch, String> {
        let (connection, channel) = raw::open(&url)?;
        raw::close(connection, channel)?;
        let dir = self.dir.with_extension("b");
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        Ok(Scratch {
            url,
            exchange: self.exchange.clone(),
            tag: self.tag.clone(),
            queues: Vec::new(),
            dir,
        })
    }

    /// A topic of this run's; its `<topic>.info` queue is deleted at the end.
    fn topic(&mut self, what: &str) -> String {
        let topic = format!("bench-{}-{what}", self.tag);
        self.queues.push(format!("{topic}.info"));
        topic
    }

    /// Declares the exchange and `queue` bound to it with its own name, as oslo would.
    fn declare(&self, queue: &str) -> Result<(), String> {
        self.on_channel(|channel| {
            channel.exchange_declare(
                ExchangeType::Topic,
                self.exchange.as_str(),
                ExchangeDeclareOptions::default(),
            )?;
            channel.queue_declare(queue, QueueDeclareOptions::default())?;
            channel.queue_bind(queue, self.exchange.as_str(), queue, FieldTable::default())
        })
    }

    fn purge(&self, queue: &str) -> Result<(), String> {
        self.on_channel(|channel| channel.queue_purge(queue).map(drop))
    }

    fn on_channel(
        &self,
        work: impl FnOnce(&amiquip::Channel) -> amiquip::Result<()>,
    ) -> Result<(), String> {
        let (connection, channel) = raw::open(&self.url)?;
        work(&channel).map_err(|e| format!("on the broker: {e}"))?;
        raw::close(connection, channel)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let queues = std::mem::take(&mut self.queues);
        let exchange = self.exchange.clone();
        let removed = self.on_channel(|channel| {
            for queue in &queues {
                channel.queue_delete(queue.as_str(), Default::default())?;
            }
            channel.exchange_delete(exchange.as_str(), false)
        });
        if let Err(e) = removed {
            eprintln!("bench: could not remove this run's queues and exchange: {e}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The Python interpreter of the oslo.messaging virtualenv, if there is one.
fn python() -> Option<PathBuf> {
    std::env::var_os("OSLO_PEER_PYTHON")
        .map(PathBuf::from)
        .filter(|p| p.exists())
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// This benchmark's own binary, which is also the raw client and the measuring helper.
fn myself() -> Result<String, String> {
    std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| format!("finding the bench binary: {e}"))
}

fn peer_script() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/benches/compare/peer.py").to_owned()
}

/// `amqp-publish`'s form of the URL's first host: amqp://user:pass@host:port/vhost.
fn amqp_tools_url(url: &TransportUrl) -> Result<String, String> {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let host = url.hosts.first().ok_or("the URL names no host")?;
    let part = |text: &str| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
    Ok(format!(
        "amqp://{}:{}@{}:{}/{}",
        part(&host.username),
        part(&host.password),
        host.hostname,
        host.port,
        part(&url.virtual_host)
    ))
}

fn body(event_type: &str, payload: &str) -> Result<Vec<u8>, String> {
    let payload: serde_json::Value =
        serde_json::from_str(payload).map_err(|e| format!("a bench payload: {e}"))?;
    Notification::new(Priority::Info, event_type, payload)
        .with_publisher_id("bench")
        .encode(Format::V2, &oslo_notify::envelope::new_unique_id())
        .map_err(|e| format!("encoding: {e}"))
}

/// `count` payloads of about 300 bytes, like a small compute.instance notification's.
fn payloads(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            format!(
                r#"{{"instance_id": "{}", "display_name": "bench-{i:08}", "state": "active", "host": "compute-{:02}.example.org", "tenant_id": "6f70656e737461636b20697320636f6f", "memory_mb": 2048, "vcpus": 2, "root_gb": 20, "image_ref_url": "http://glance.example.org:9292/images/cirros"}}"#,
                uuid::Uuid::new_v4(),
                i % 64
            )
        })
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) -> Result<(), String> {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn rate(count: usize, wall: std::time::Duration) -> f64 {
    count as f64 / wall.as_secs_f64()
}

/// Our run of `count` notifications beside the raw client's and Python's: their rates
/// (with the target on the ratio to the raw client) and their CPU per 1000.
struct Versus {
    what: &'static str,
    raw: String,
    python: &'static str,
    target: Target,
    cpu_target: Target,
}

impl Versus {
    fn rows(
        &self,
        options: &Options,
        ours: measure::Run,
        raw: measure::Run,
        python: Option<measure::Run>,
        rows: &mut Vec<Row>,
    ) {
        let (count, python_count) = (options.count, options.python_count);
        let figure = format!("{}, rate", self.what);
        let ours_rate = rate(count, ours.wall);
        let raw_rate = Some(rate(count, raw.wall));
        let python_rate = python.map(|run| rate(python_count, run.wall));
        rows.push(Row::new(
            &figure,
            "/s",
            ours_rate,
            &self.raw,
            raw_rate,
            Some(self.target),
        ));
        rows.push(Row::new(
            &figure,
            "/s",
            ours_rate,
            self.python,
            python_rate,
            None,
        ));
        let figure = format!("{}, CPU per 1000", self.what);
        let ours_cpu = cpu_per_thousand(count, ours);
        let raw_cpu = Some(cpu_per_thousand(count, raw));
        let python_cpu = python.map(|run| cpu_per_thousand(python_count, run));
        rows.push(Row::new(
            &figure,
            "ms",
            ours_cpu,
            &self.raw,
            raw_cpu,
            Some(self.cpu_target),
        ));
        rows.push(Row::new(
            &figure,
            "ms",
            ours_cpu,
            self.python,
            python_cpu,
            None,
        ));
    }
}

/// CPU time (user and system) per 1000 notifications, in milliseconds.
fn cpu_per_thousand(count: usize, run: measure::Run) -> f64 {
    run.cpu.as_secs_f64() * 1e3 * 1000.0 / count as f64
}

fn one_shot(options: &Options, scratch: &mut Scratch, rows: &mut Vec<Row>) -> Result<(), String> {
    let topic = scratch.topic("oneshot");
    eprintln!("bench: one-shot notify, {} runs each", options.runs);
    let args = [
        "--transport-url",
        &options.url,
        "--exchange",
        &scratch.exchange,
        "--topic",
        &topic,
        "info",
        "just.testing",
        ONE_SHOT_PAYLOAD,
    ];
    measure::run(NOTIFY, &args, None)?; // warm-up, and declares the queue
                                        // Ours and amqp-publish in turn, run by run.
    let ((ours_wall, ours_rss), amqp_publish) = match on_path("amqp-publish") {
        Some(program) => {
            let program = program.to_string_lossy().into_owned();
            let url = amqp_tools_url(&scratch.url)?;
            let body = String::from_utf8(body("just.testing", ONE_SHOT_PAYLOAD)?)
                .map_err(|e| e.to_string())?;
            let routing_key = format!("{topic}.info");
            let amqp_args = [
                "-u",
                &url,
                "-e",
                &scratch.exchange,
                "-r",
                &routing_key,
                "-p",
                "-C",
                "application/json",
                "-b",
                &body,
            ];
            measure::run(&program, &amqp_args, None)?;
            let (ours, theirs) =
                measure::repeat_in_turn((NOTIFY, &args), (&program, &amqp_args), options.runs)?;
            (ours, Some(theirs))
        }
        None => {
            eprintln!("bench: amqp-publish not found (Debian's amqp-tools); not measured");
            (measure::repeat(NOTIFY, &args, options.runs)?, None)
        }
    };
    let ours_ms = ours_wall.as_secs_f64() * 1e3;
    // Ours and the same conversation with amiquip alone, in turn: what of the one-shot is the
    // client's and the broker's, and what is ours.
    let raw_program = myself()?;
    let raw_key = format!("{topic}.info");
    let raw_body =
        String::from_utf8(body("just.testing", ONE_SHOT_PAYLOAD)?).map_err(|e| e.to_string())?;
    let raw_args = [
        raw::ONCE,
        &options.url,
        &scratch.exchange,
        &raw_key,
        &raw_body,
    ];
    measure::run(&raw_program, &raw_args, None)?;
    let ((ours_beside_raw, _), (raw_wall, _)) =
        measure::repeat_in_turn((NOTIFY, &args), (&raw_program, &raw_args), options.runs)?;
    let python = match python() {
        Some(python) => {
            let program = python.with_file_name("oslo-messaging-send-notification");
            let program = program.to_string_lossy().into_owned();
            let config = scratch.dir.join("oslo.conf");
            std::fs::write(
                &config,
                format!("[DEFAULT]\ncontrol_exchange = {}\n", scratch.exchange),
            )
            .map_err(|e| format!("writing {}: {e}", config.display()))?;
            let config = config.to_string_lossy().into_owned();
            let args = [
                "--config-file",
                &config,
                "--transport-url",
                &options.url,
                "--topic",
                &topic,
                "--priority",
                "info",
                "--event-type",
                "just.testing",
                ONE_SHOT_PAYLOAD,
            ];
            measure::run(&program, &args, None)?;
            Some(measure::repeat(&program, &args, options.runs)?)
        }
        None => {
            eprintln!("bench: OSLO_PEER_PYTHON not set; the Python tools are not measured");
            None
        }
    };
    let ms = |m: Option<(std::time::Duration, u64)>| m.map(|(wall, _)| wall.as_secs_f64() * 1e3);
    let mib = |m: Option<(std::time::Duration, u64)>| m.map(|(_, rss)| rss as f64 / MIB);
    let (amqp_publish_name, python_name) = (
        "amqp-publish (C, no confirm)",
        "oslo-messaging-send-notification",
    );
    let wall = "one-shot notify, median wall";
    let rss = "one-shot notify, peak RSS";
    let ours_mib = ours_rss as f64 / MIB;
    let ratio_target = Some(Target::RatioAtMost { bound: 1.3 });
    let rss_target = Some(Target::ValueAtMost { bound: 8.0 });
    rows.extend([
        Row::new(
            wall,
            "ms",
            ours_ms,
            amqp_publish_name,
            ms(amqp_publish),
            ratio_target,
        ),
        Row::new(
            wall,
            "ms",
            ours_beside_raw.as_secs_f64() * 1e3,
            "raw amiquip, the same conversation",
            Some(raw_wall.as_secs_f64() * 1e3),
            None,
        ),
        Row::new(wall, "ms", ours_ms, python_name, ms(python), None),
        Row::new(
            rss,
            "MiB",
            ours_mib,
            amqp_publish_name,
            mib(amqp_publish),
            rss_target,
        ),
        Row::new(rss, "MiB", ours_mib, python_name, mib(python), None),
    ]);
    Ok(())
}

fn bulk(options: &Options, scratch: &mut Scratch, rows: &mut Vec<Row>) -> Result<(), String> {
    let topic = scratch.topic("bulk");
    let queue = format!("{topic}.info");
    let event_type = "compute.instance.bench";
    let payloads = payloads(options.count.max(options.python_count));
    let file = scratch.dir.join("payloads.jsonl");
    write_lines(&file, &payloads[..options.count])?;

    eprintln!(
        "bench: bulk notify, {} notifications, {} rounds",
        options.count, options.rounds
    );
    let bodies = payloads[..options.count]
        .iter()
        .map(|p| body(event_type, p).map(|b| String::from_utf8_lossy(&b).into_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    let bodies_file = scratch.dir.join("bodies.jsonl");
    write_lines(&bodies_file, &bodies)?;
    drop(bodies);
    let args = [
        "--transport-url",
        &options.url,
        "--exchange",
        &scratch.exchange,
        "--topic",
        &topic,
        "--publisher-id",
        "bench",
        "--lines",
        "info",
        event_type,
    ];
    let raw_program = myself()?;
    let (window, bodies_path) = (WINDOW.to_string(), bodies_file.to_string_lossy());
    let raw_args = [
        raw::PUBLISHER,
        &options.url,
        &scratch.exchange,
        &queue,
        &window,
        &bodies_path,
    ];
    let (ours, raw) = measure::alternate(
        options.rounds,
        || {
            let run = measure::run(NOTIFY, &args, Some(&file))?;
            scratch.purge(&queue)?;
            Ok(run)
        },
        || {
            let run = measure::run(&raw_program, &raw_args, None)?;
            scratch.purge(&queue)?;
            Ok(run)
        },
    )?;

    let python = match python() {
        Some(python) => {
            let file = scratch.dir.join("python-payloads.jsonl");
            write_lines(&file, &payloads[..options.python_count])?;
            let (python, script) = (python.to_string_lossy().into_owned(), peer_script());
            let file = file.to_string_lossy().into_owned();
            let args = [
                script.as_str(),
                "notify",
                &options.url,
                &scratch.exchange,
                &topic,
                event_type,
                &file,
            ];
            let run = measure::run(&python, &args, None)?;
            scratch.purge(&queue)?;
            Some(run)
        }
        None => None,
    };
    let versus = Versus {
        what: "bulk notify (--lines)",
        raw: format!("raw amiquip, {WINDOW} confirms in flight"),
        python: "Python oslo_messaging.Notifier loop",
        target: Target::RatioAtLeast { bound: 0.95 },
        cpu_target: Target::RatioAtMost { bound: 1.15 },
    };
    versus.rows(options, ours, raw, python, rows);
    Ok(())
}

fn preload(scratch: &Scratch, queue: &str, count: usize) -> Result<(), String> {
    let payloads = payloads(count);
    let bodies = payloads
        .iter()
        .map(|p| body("compute.instance.bench", p))
        .collect::<Result<Vec<_>, _>>()?;
    preload_bodies(scratch, queue, &bodies)
}

/// `oslo-listen --shared --json --count COUNT` plus `extra` on `topic`'s info queue.
fn run_listen(
    options: &Options,
    scratch: &Scratch,
    topic: &str,
    count: usize,
    extra: &[&str],
) -> Result<measure::Run, String> {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    run_listen_to(options, scratch, topic, count, &args, None)
}

/// `oslo-listen --shared --count N` on `topic`'s info queue with `extra`, its stdout to
/// `stdout` (or nowhere).
fn run_listen_to(
    options: &Options,
    scratch: &Scratch,
    topic: &str,
    count: usize,
    extra: &[&str],
    stdout: Option<&std::path::Path>,
) -> Result<measure::Run, String> {
    let count = count.to_string();
    let mut args = vec![
        "--transport-url",
        &options.url,
        "--exchange",
        &scratch.exchange,
        "--topic",
        topic,
        "--priority",
        "info",
        "--shared",
        "--count",
        &count,
    ];
    args.extend_from_slice(extra);
    measure::run_to(LISTEN, &args, None, stdout)
}

/// Puts `bodies` on `queue` (bound to the scratch exchange with its name).
fn preload_bodies(scratch: &Scratch, queue: &str, bodies: &[Vec<u8>]) -> Result<(), String> {
    raw::publish(&scratch.url, &scratch.exchange, queue, bodies, WINDOW).map(drop)
}

fn listen(options: &Options, scratch: &mut Scratch, rows: &mut Vec<Row>) -> Result<(), String> {
    let topic = scratch.topic("listen");
    let queue = format!("{topic}.info");
    scratch.declare(&queue)?;
    let run_ours = |count: usize| -> Result<measure::Run, String> {
        preload(scratch, &queue, count)?;
        run_listen(options, scratch, &topic, count, &[])
    };
    eprintln!(
        "bench: listen, {} notifications, {} rounds",
        options.count, options.rounds
    );
    let small = run_ours((options.count / 10).max(1))?;
    let raw_program = myself()?;
    let (count, prefetch, ack_batch) = (
        options.count.to_string(),
        PREFETCH.to_string(),
        ACK_BATCH.to_string(),
    );
    let raw_args = [
        raw::CONSUMER,
        &options.url,
        &queue,
        &count,
        &prefetch,
        &ack_batch,
    ];
    let (ours, raw) = measure::alternate(
        options.rounds,
        || run_ours(options.count),
        || {
            preload(scratch, &queue, options.count)?;
            measure::run(&raw_program, &raw_args, None)
        },
    )?;

    let python = match python() {
        Some(python) => {
            preload(scratch, &queue, options.python_count)?;
            let (python, script) = (python.to_string_lossy().into_owned(), peer_script());
            let count = options.python_count.to_string();
            let args = [
                script.as_str(),
                "listen",
                &options.url,
                &scratch.exchange,
                &topic,
                &count,
            ];
            Some(measure::run(&python, &args, None)?)
        }
        None => None,
    };
    let versus = Versus {
        what: "listen (--shared --json)",
        raw: format!("raw amiquip, prefetch {PREFETCH}, acks per {ACK_BATCH}"),
        python: "Python notification listener",
        target: Target::RatioAtLeast { bound: 0.95 },
        cpu_target: Target::RatioAtMost { bound: 1.3 },
    };
    versus.rows(options, ours, raw, python, rows);
    let ours_mib = ours.max_rss_bytes as f64 / MIB;
    rows.push(Row::new(
        "listen, peak RSS",
        "MiB",
        ours_mib,
        format!(
            "itself with a tenth of the count ({})",
            (options.count / 10).max(1)
        ),
        Some(small.max_rss_bytes as f64 / MIB),
        Some(Target::ValueAtMost { bound: 10.0 }),
    ));
    Ok(())
}

fn machine(url: &TransportUrl) -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    let rabbitmq = raw::connect(url)
        .ok()
        .and_then(|connection| {
            let version = match connection.server_properties().get("version") {
                Some(amiquip::AmqpValue::LongString(v)) => Some(v.clone()),
                _ => None,
            };
            let _ = connection.close();
            version
        })
        .unwrap_or_else(|| "unknown".to_owned());
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel,
        rabbitmq,
        date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
    }
}

fn run(options: &Options) -> Result<Report, String> {
    let url = TransportUrl::parse(&options.url).map_err(|e| e.to_string())?;
    let mut scratch = Scratch::new(url.clone())?;
    let mut rows = Vec::new();
    type Group = fn(&Options, &mut Scratch, &mut Vec<Row>) -> Result<(), String>;
    let groups: [(&str, Group); 8] = [
        ("one_shot", one_shot),
        ("bulk", bulk),
        ("listen", listen),
        ("filters", filters::filters),
        ("top", top::top),
        ("saved", saved::saved),
        ("sources", sources::sources),
        ("metrics", metrics::metrics),
    ];
    for (name, group) in groups {
        if options.only.is_empty() || options.only.iter().any(|o| o == name) {
            group(options, &mut scratch, &mut rows)?;
        }
    }
    Ok(Report {
        machine: machine(&url),
        one_shot_runs: options.runs,
        count: options.count,
        python_count: options.python_count,
        rows,
    })
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some(measure::HELPER) => return measure::child_main(&argv[1..]),
        Some(raw::PUBLISHER) => return raw::publisher_main(&argv[1..]),
        Some(raw::CONSUMER) => return raw::consumer_main(&argv[1..]),
        Some(raw::ONCE) => return raw::once_main(&argv[1..]),
        _ => {}
    }
    let options = match Options::parse() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match run(&options) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", report.table());
    if options.quick {
        println!("(quick mode: counts too small for the figures to mean much)");
    }
    let written = options
        .json
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            let json = serde_json::to_vec_pretty(&report).map_err(std::io::Error::other)?;
            std::fs::write(&options.json, json)
        });
    match written {
        Ok(()) => {
            println!("written to {}", options.json.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: writing {}: {e}", options.json.display());
            ExitCode::FAILURE
        }
    }
}
