//! oslo-listen `--source`: two brokers read at once (two virtual hosts of the benchmark's
//! broker, each a connection and a queue of its own), half of the count on each, against one
//! broker holding all of it.

use super::measure;
use super::report::{Row, Target};
use super::{preload, run_listen, Options, Scratch, LISTEN, MIB};
use oslo_notify::transport_url::TransportUrl;

/// The virtual host of the second source; `scripts/bench.sh` creates it.
pub const SECOND_VHOST: &str = "oslo-bench-b";

/// The second source's URL: the benchmark's broker, [`SECOND_VHOST`].
fn second_url(options: &Options) -> Option<String> {
    let base = options.url.strip_suffix('/')?;
    Some(format!("{base}/{SECOND_VHOST}"))
}

/// The `--source` rows; left out, with a word, when the second virtual host cannot be used.
pub fn sources(
    options: &Options,
    scratch: &mut Scratch,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    let Some(second) = second_url(options) else {
        eprintln!("bench: --source rows left out: the --url must end with its host's /");
        return Ok(());
    };
    let mut other = match TransportUrl::parse(&second)
        .map_err(|e| e.to_string())
        .and_then(|url| scratch.alongside(url))
    {
        Ok(other) => other,
        Err(e) => {
            eprintln!("bench: --source rows left out: the virtual host {SECOND_VHOST}: {e}");
            return Ok(());
        }
    };
    let count = options.count;
    let half = count / 2;
    eprintln!("bench: --source, two sources of {half} against one of {count}");
    let topic = scratch.topic("sources");
    let queue = format!("{topic}.info");
    scratch.declare(&queue)?;
    other.queues.push(queue.clone());
    other.declare(&queue)?;
    let (first, second) = (format!("a={}", options.url), format!("b={second}"));
    let total = count.to_string();
    let two = || -> Result<measure::Run, String> {
        preload(scratch, &queue, half)?;
        preload(&other, &queue, count - half)?;
        let args = [
            "--source",
            first.as_str(),
            "--source",
            second.as_str(),
            "--exchange",
            &scratch.exchange,
            "--topic",
            &topic,
            "--priority",
            "info",
            "--shared",
            "--count",
            &total,
            "--json",
        ];
        measure::run(LISTEN, &args, None)
    };
    let one = || -> Result<measure::Run, String> {
        preload(scratch, &queue, count)?;
        run_listen(options, scratch, &topic, count, &[])
    };
    let (two_run, one_run) = measure::alternate(options.rounds, two, one)?;
    let rate = |run: &measure::Run| count as f64 / run.wall.as_secs_f64();
    rows.push(Row::new(
        format!("listen --source a --source b ({half} on each), rate"),
        "/s",
        rate(&two_run),
        format!("one source of {count} (--shared --json)"),
        Some(rate(&one_run)),
        Some(Target::RatioAtLeast { bound: 0.9 }),
    ));
    rows.push(Row::new(
        "listen, two sources, peak RSS",
        "MiB",
        two_run.max_rss_bytes as f64 / MIB,
        "one source",
        Some(one_run.max_rss_bytes as f64 / MIB),
        Some(Target::ValueAtMost { bound: 12.0 }),
    ));
    Ok(())
}
