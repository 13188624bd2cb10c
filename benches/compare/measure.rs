//! Running a program and measuring it from outside: wall time and peak resident memory.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run of a program took.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub wall: Duration,
    /// The process's maximum resident set size.
    pub max_rss_bytes: u64,
    /// User and system CPU time, its threads together.
    pub cpu: Duration,
}

/// The argument that makes the benchmark binary the [`child_main`] helper.
pub const HELPER: &str = "--measure-child";

/// Runs `program` with stdin from `stdin` (or nothing) and stdout thrown away, and fails,
/// with what it wrote on stderr, unless it exits 0.
///
/// A process's peak memory counts that of the process it was spawned from: Linux carries
/// the spawner's high-water mark over into the child at exec (ru_maxrss). The benchmark
/// holds many megabytes at times, so it starts a copy of itself, small, that starts
/// `program` and reports what it took.
pub fn run(program: &str, args: &[&str], stdin: Option<&Path>) -> Result<Run, String> {
    run_to(program, args, stdin, None)
}

/// The environment variable that tells the helper to write `program`'s stdout to a file.
const STDOUT_FILE: &str = "OSLO_BENCH_STDOUT_FILE";

/// [`run`], with stdout written to `stdout` (a file) rather than thrown away.
pub fn run_to(
    program: &str,
    args: &[&str],
    stdin: Option<&Path>,
    stdout: Option<&Path>,
) -> Result<Run, String> {
    let stdin = match stdin {
        Some(path) => {
            Stdio::from(File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?)
        }
        None => Stdio::null(),
    };
    let helper = std::env::current_exe().map_err(|e| format!("finding the bench binary: {e}"))?;
    let stderr_file = tempfile_for_stderr()?;
    let mut helper = Command::new(helper);
    if let Some(path) = stdout {
        helper.env(STDOUT_FILE, path);
    }
    let output = helper
        .arg(HELPER)
        .arg(program)
        .args(args)
        .stdin(stdin)
        .stderr(
            stderr_file
                .try_clone()
                .map_err(|e| format!("duplicating a file handle: {e}"))?,
        )
        .output()
        .map_err(|e| format!("starting the measuring helper: {e}"))?;
    let report = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<u64> = report
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    match fields[..] {
        [wall_ns, rss_kib, cpu_ns, 0] => Ok(Run {
            wall: Duration::from_nanos(wall_ns),
            max_rss_bytes: rss_kib * 1024,
            cpu: Duration::from_nanos(cpu_ns),
        }),
        _ => Err(format!(
            "{program} {} failed: {}",
            args.join(" "),
            read_back(stderr_file).trim()
        )),
    }
}

/// The helper: runs argv[0] with argv[1..] (stdin and stderr its own, stdout thrown away),
/// and prints its wall time in nanoseconds, peak RSS in KiB, CPU time in nanoseconds and
/// exit status on stdout.
pub fn child_main(argv: &[String]) -> std::process::ExitCode {
    let Some((program, args)) = argv.split_first() else {
        eprintln!("{HELPER}: no program given");
        return std::process::ExitCode::from(2);
    };
    let stdout = match std::env::var_os(STDOUT_FILE) {
        Some(path) => match File::create(&path) {
            Ok(file) => Stdio::from(file),
            Err(e) => {
                eprintln!("creating {}: {e}", Path::new(&path).display());
                return std::process::ExitCode::FAILURE;
            }
        },
        None => Stdio::null(),
    };
    let started = Instant::now();
    let child = match Command::new(program)
        .args(args)
        .env_remove(STDOUT_FILE)
        .stdout(stdout)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("starting {program}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, not yet reaped (the Child handle is never waited on).
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    drop(child);
    if reaped != pid {
        eprintln!("waiting for {program}: {}", std::io::Error::last_os_error());
        return std::process::ExitCode::FAILURE;
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let time = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    let cpu = time(usage.ru_utime) + time(usage.ru_stime);
    // ru_maxrss is in KiB on Linux.
    println!("{} {} {cpu} {code}", wall.as_nanos(), usage.ru_maxrss);
    std::process::ExitCode::SUCCESS
}

fn tempfile_for_stderr() -> Result<File, String> {
    let path = std::env::temp_dir().join(format!(
        "oslo-notify-bench-stderr-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let file = File::options()
        .create_new(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    // The open handle is all that is needed; the name goes at once.
    let _ = std::fs::remove_file(&path);
    Ok(file)
}

fn read_back(mut file: File) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.read_to_string(&mut text);
    text
}

/// The median of `values` (the mean of the middle two for an even count); zero when empty.
pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    let n = values.len();
    match n {
        0 => Duration::ZERO,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2,
    }
}

/// The median of several runs of one thing: the median wall time, the median CPU time and
/// the largest peak memory.
pub fn median_run(runs: &[Run]) -> Run {
    Run {
        wall: median(runs.iter().map(|r| r.wall).collect()),
        cpu: median(runs.iter().map(|r| r.cpu).collect()),
        max_rss_bytes: runs.iter().map(|r| r.max_rss_bytes).max().unwrap_or(0),
    }
}

/// Runs `a` and `b` in turn, `rounds` times each, so that both see the same moments of a
/// noisy machine; the median run of each ([`median_run`]). Which goes first changes from
/// round to round (a b, b a, a b, ...), so that neither is always the one that follows the
/// other's work on the broker. Each round's figures go to stderr.
pub fn alternate(
    rounds: usize,
    mut a: impl FnMut() -> Result<Run, String>,
    mut b: impl FnMut() -> Result<Run, String>,
) -> Result<(Run, Run), String> {
    let (mut runs_a, mut runs_b) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (run_a, run_b) = match round % 2 {
            0 => {
                let run_a = a()?;
                (run_a, b()?)
            }
            _ => {
                let run_b = b()?;
                (a()?, run_b)
            }
        };
        eprintln!(
            "bench:   round {}: {:.3} s (CPU {:.3} s) against {:.3} s (CPU {:.3} s)",
            round + 1,
            run_a.wall.as_secs_f64(),
            run_a.cpu.as_secs_f64(),
            run_b.wall.as_secs_f64(),
            run_b.cpu.as_secs_f64()
        );
        runs_a.push(run_a);
        runs_b.push(run_b);
    }
    Ok((median_run(&runs_a), median_run(&runs_b)))
}

/// The median wall time of a program's runs, and the largest peak memory (bytes).
pub type Repeated = (Duration, u64);

/// Runs two programs in turn, `runs` times each (A, B, A, B, ...): the median wall time and
/// the largest peak memory of each. Taken in turn, a machine that slows down for a while
/// slows both alike.
pub fn repeat_in_turn(
    a: (&str, &[&str]),
    b: (&str, &[&str]),
    runs: usize,
) -> Result<(Repeated, Repeated), String> {
    let (mut walls_a, mut walls_b) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    let (mut rss_a, mut rss_b) = (0, 0);
    for _ in 0..runs {
        let run_a = run(a.0, a.1, None)?;
        walls_a.push(run_a.wall);
        rss_a = rss_a.max(run_a.max_rss_bytes);
        let run_b = run(b.0, b.1, None)?;
        walls_b.push(run_b.wall);
        rss_b = rss_b.max(run_b.max_rss_bytes);
    }
    Ok(((median(walls_a), rss_a), (median(walls_b), rss_b)))
}

/// Runs a program `runs` times; the median wall time and the largest peak memory.
pub fn repeat(program: &str, args: &[&str], runs: usize) -> Result<Repeated, String> {
    let mut walls = Vec::with_capacity(runs);
    let mut rss = 0;
    for _ in 0..runs {
        let run = run(program, args, None)?;
        walls.push(run.wall);
        rss = rss.max(run.max_rss_bytes);
    }
    Ok((median(walls), rss))
}
