//! oslo-listen `--from`: the same Nova notifications read from a `--save` directory and
//! from a file of JSON lines, beside listening to them live.

use super::filters::{listen_count, versioned_in_context};
use super::measure;
use super::report::{Row, Target};
use super::{run_listen_to, Options, Scratch, LISTEN, MIB};
use std::path::{Path, PathBuf};

/// A `--save` directory of `count` notifications, and the same as JSON lines, made by a
/// live run.
struct Saved {
    dir: PathBuf,
    lines: PathBuf,
}

impl Drop for Saved {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.lines);
    }
}

fn save(options: &Options, scratch: &mut Scratch, count: usize) -> Result<Saved, String> {
    let name = format!("oslo-bench-from-{count}-{}", std::process::id());
    let saved = Saved {
        dir: std::env::temp_dir().join(&name),
        lines: std::env::temp_dir().join(format!("{name}.jsonl")),
    };
    let topic = scratch.topic("saved");
    let queue = format!("{topic}.info");
    scratch.declare(&queue)?;
    let bodies = (0..count)
        .map(versioned_in_context)
        .collect::<Result<Vec<_>, _>>()?;
    super::preload_bodies(scratch, &queue, &bodies)?;
    let dir = saved.dir.to_string_lossy().into_owned();
    let args = ["--json", "--save", &dir];
    run_listen_to(options, scratch, &topic, count, &args, Some(&saved.lines))?;
    Ok(saved)
}

/// `oslo-listen --from PATH --json`, stdout thrown away.
fn read(path: &Path) -> Result<measure::Run, String> {
    let path = path.to_string_lossy().into_owned();
    measure::run(LISTEN, &["--from", &path, "--json", "-q"], None)
}

/// The `--from` rows.
pub fn saved(options: &Options, scratch: &mut Scratch, rows: &mut Vec<Row>) -> Result<(), String> {
    let count = options.count;
    eprintln!("bench: --from, {count} saved Nova notifications");
    let saved = save(options, scratch, count)?;
    let small = save(options, scratch, (count / 10).max(1))?;
    let rate = |run: &measure::Run| count as f64 / run.wall.as_secs_f64();
    let scratch = std::cell::RefCell::new(scratch);
    let live = || {
        listen_count(
            options,
            &mut scratch.borrow_mut(),
            count,
            versioned_in_context,
            &[],
        )
    };
    let (from_dir, live_run) = measure::alternate(options.rounds, || read(&saved.dir), live)?;
    let mut from_lines = Vec::new();
    for _ in 0..options.rounds {
        from_lines.push(read(&saved.lines)?);
    }
    let from_lines = measure::median_run(&from_lines);
    let reference = "listen live (--shared --json), the same notifications";
    rows.push(Row::new(
        "listen --from DIR --json (a --save directory), rate",
        "/s",
        rate(&from_dir),
        reference,
        Some(rate(&live_run)),
        Some(Target::RatioAtLeast { bound: 1.0 }),
    ));
    rows.push(Row::new(
        "listen --from FILE --json (JSON lines), rate",
        "/s",
        rate(&from_lines),
        reference,
        Some(rate(&live_run)),
        Some(Target::RatioAtLeast { bound: 1.0 }),
    ));
    let small_run = read(&small.dir)?;
    rows.push(Row::new(
        "listen --from DIR, peak RSS",
        "MiB",
        from_dir.max_rss_bytes as f64 / MIB,
        format!("itself with a tenth of the files ({})", (count / 10).max(1)),
        Some(small_run.max_rss_bytes as f64 / MIB),
        Some(Target::ValueAtMost { bound: 12.0 }),
    ));
    Ok(())
}
