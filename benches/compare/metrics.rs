//! oslo-listen `--metrics`: the same listen with and without the exporter (the mixed traffic
//! of the `--top` rows: 1,000 event types, operations paired), then a listener holding
//! 10,000 label sets (as many event types, the default cap) scraped again and again: how
//! long a scrape takes, and the listener's peak memory.

use super::measure;
use super::report::{Row, Target};
use super::top::mixed;
use super::{body, preload_bodies, run_listen, Options, Scratch, LISTEN, MIB};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How many label sets the scrape rows hold: the default cap.
const SERIES: usize = 10_000;
/// How many scrapes are timed.
const SCRAPES: usize = 30;

/// The `--metrics` rows.
pub fn metrics(
    options: &Options,
    scratch: &mut Scratch,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    let count = options.count;
    eprintln!(
        "bench: listen --metrics, {count} notifications, {} rounds",
        options.rounds
    );
    let bodies = (0..count).map(mixed).collect::<Result<Vec<_>, _>>()?;
    let topic = scratch.topic("metrics");
    let queue = format!("{topic}.info");
    scratch.declare(&queue)?;
    let (with, without) = measure::alternate(
        options.rounds,
        || {
            preload_bodies(scratch, &queue, &bodies)?;
            run_listen(
                options,
                scratch,
                &topic,
                count,
                &["--metrics", "127.0.0.1:0"],
            )
        },
        || {
            preload_bodies(scratch, &queue, &bodies)?;
            run_listen(options, scratch, &topic, count, &[])
        },
    )?;
    let rate = |run: &measure::Run| count as f64 / run.wall.as_secs_f64();
    rows.push(Row::new(
        format!("listen --shared --json --metrics ({count}, 1,000 event types), rate"),
        "/s",
        rate(&with),
        "itself without --metrics",
        Some(rate(&without)),
        Some(Target::RatioAtLeast { bound: 0.9 }),
    ));
    scrapes(options, scratch, rows)
}

/// A port nothing listens on now.
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// `GET /metrics` on `address`: the body.
fn scrape(address: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(address).map_err(|e| format!("{address}: {e}"))?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let (_, body) = response.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    Ok(body.to_owned())
}

/// How many notifications the scraped text counted.
fn counted(text: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with("oslo_listen_notifications_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// The peak resident memory of process `pid` so far (VmHWM), in bytes.
fn peak_rss(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or("no VmHWM")?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or("a VmHWM in kB")?;
    Ok(kib * 1024)
}

fn scrapes(options: &Options, scratch: &mut Scratch, rows: &mut Vec<Row>) -> Result<(), String> {
    eprintln!("bench: --metrics with {SERIES} label sets, {SCRAPES} scrapes");
    let topic = scratch.topic("scrape");
    let bodies = (0..SERIES)
        .map(|i| body(&format!("compute.bench.event{i}"), r#"{"n":1}"#))
        .collect::<Result<Vec<_>, _>>()?;
    let address = format!("127.0.0.1:{}", free_port()?);
    // A tap: no shared queue, so no queue gauges: the label sets are the event types'.
    let mut child = Command::new(LISTEN)
        .args([
            "--transport-url",
            &options.url,
            "--exchange",
            &scratch.exchange,
            "--topic",
        ])
        .args([topic.as_str(), "--priority", "info", "--format", "none"])
        .args(["--metrics", &address])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{LISTEN}: {e}"))?;
    let result = (|| -> Result<(Duration, Duration, u64, usize), String> {
        // Once it listens, the notifications go to its queue.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !scrape(&address)
            .is_ok_and(|text| text.contains("oslo_listen_up{source=\"default\"} 1"))
        {
            if Instant::now() > deadline {
                return Err("the listener did not listen within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        preload_bodies(scratch, &format!("{topic}.info"), &bodies)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let text = loop {
            if let Ok(text) = scrape(&address) {
                if counted(&text) >= SERIES as f64 {
                    break text;
                }
            }
            if Instant::now() > deadline {
                let counted = scrape(&address)
                    .map(|text| counted(&text))
                    .unwrap_or_default();
                return Err(format!(
                    "the listener counted {counted} of {SERIES} in 120 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let series = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count();
        let mut times = Vec::with_capacity(SCRAPES);
        for _ in 0..SCRAPES {
            let started = Instant::now();
            scrape(&address)?;
            times.push(started.elapsed());
        }
        times.sort();
        let rss = peak_rss(child.id())?;
        Ok((times[SCRAPES / 2], times[SCRAPES - 1], rss, series))
    })();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let (median, slowest, rss, series) = result?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    rows.push(Row::new(
        format!("scrape of {SERIES} label sets ({series} samples), median"),
        "ms",
        ms(median),
        format!("the slowest of {SCRAPES}"),
        Some(ms(slowest)),
        Some(Target::ValueAtMost { bound: 50.0 }),
    ));
    rows.push(Row::new(
        format!("listen --metrics with {SERIES} label sets, peak RSS"),
        "MiB",
        rss as f64 / MIB,
        "-",
        None,
        Some(Target::ValueAtMost { bound: 16.0 }),
    ));
    Ok(())
}
