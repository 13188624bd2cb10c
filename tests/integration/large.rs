//! A 50 MB payload goes both ways, and each tool's peak memory stays within a small
//! multiple of it (measured as the process's maximum resident set size).

use crate::common;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const PAYLOAD_BYTES: usize = 50 * 1024 * 1024;

/// A child whose resource use is read when it is reaped.
struct Measured {
    pid: libc::pid_t,
    stdout: std::thread::JoinHandle<Vec<u8>>,
    stderr: mpsc::Receiver<common::Line>,
}

struct Finished {
    code: i32,
    stdout: Vec<u8>,
    max_rss_bytes: u64,
}

/// What writes a child's stdin, on a thread of its own.
type Feed = Box<dyn FnOnce(std::process::ChildStdin) + Send>;

/// Starts `program`. A process's peak RSS counts that of the process it was started from
/// (Linux carries the high-water mark over at exec), so children are started before this
/// test holds anything large, and their input is streamed.
fn spawn(program: &str, args: &[&str], stdin: Option<Feed>) -> Measured {
    let mut child = Command::new(program)
        .args(args)
        .env("OSLO_TRANSPORT_URL", common::transport_url())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(feed) = stdin {
        let pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || feed(pipe));
    }
    let stdout = common::read_all(child.stdout.take().unwrap());
    let stderr = common::read_lines(child.stderr.take().unwrap());
    let pid = child.id() as libc::pid_t;
    // Reaped with wait4 below, for its rusage; the Child handle is not waited on.
    std::mem::forget(child);
    Measured {
        pid,
        stdout,
        stderr,
    }
}

impl Measured {
    fn wait_for_stderr(&self, text: &str) {
        loop {
            match self.stderr.recv_timeout(Duration::from_secs(60)) {
                Ok((_, line)) if line.contains(text) => return,
                Ok(_) => {}
                Err(_) => panic!("never said {text:?}"),
            }
        }
    }

    fn finish(self) -> Finished {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own unreaped child; status and usage are valid for writes.
        let reaped = unsafe { libc::wait4(self.pid, &mut status, 0, &mut usage) };
        assert_eq!(reaped, self.pid);
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        };
        let stderr: Vec<String> = self.stderr.try_iter().map(|(_, line)| line).collect();
        assert_eq!(code, 0, "{stderr:?}");
        Finished {
            code,
            stdout: self.stdout.join().unwrap(),
            // Linux reports ru_maxrss in KiB.
            max_rss_bytes: usage.ru_maxrss as u64 * 1024,
        }
    }
}

#[test]
fn fifty_megabytes_go_both_ways_in_a_small_multiple_of_their_size() {
    let (_broker, exchange, topic) = common::scratch();
    let (head, tail) = (b"{\"blob\":\"", b"\"}");
    let payload_len = head.len() + PAYLOAD_BYTES + tail.len();

    let route_args = common::route_args(
        &exchange,
        &topic,
        &["--format", "payload", "--count", "1", "--timeout", "300"],
    );
    let listener = spawn(env!("CARGO_BIN_EXE_oslo-listen"), &route_args, None);
    listener.wait_for_stderr("listening on");
    let notify_args =
        common::route_args(&exchange, &topic, &["--timeout", "120", "info", "big", "-"]);
    let feed: Feed = Box::new(move |mut pipe| {
        let chunk = vec![b'x'; 1 << 20];
        let _ = pipe.write_all(head);
        for _ in 0..PAYLOAD_BYTES >> 20 {
            let _ = pipe.write_all(&chunk);
        }
        let _ = pipe.write_all(tail);
    });
    let sent = spawn(env!("CARGO_BIN_EXE_oslo-notify"), &notify_args, Some(feed)).finish();
    let got = listener.finish();

    assert_eq!(sent.code, 0);
    assert_eq!(got.stdout.len(), payload_len + 1);
    let blob = &got.stdout[head.len()..head.len() + PAYLOAD_BYTES];
    assert!(
        got.stdout.starts_with(head)
            && blob.iter().all(|b| *b == b'x')
            && got.stdout[head.len() + PAYLOAD_BYTES..] == [&tail[..], b"\n"].concat(),
        "the payload arrives whole"
    );
    let (notify_mib, listen_mib) = (sent.max_rss_bytes >> 20, got.max_rss_bytes >> 20);
    eprintln!("50 MiB payload: oslo-notify peak RSS {notify_mib} MiB, oslo-listen peak RSS {listen_mib} MiB");
    for (tool, rss) in [
        ("oslo-notify", sent.max_rss_bytes),
        ("oslo-listen", got.max_rss_bytes),
    ] {
        assert!(
            rss < 6 * PAYLOAD_BYTES as u64,
            "{tool} peaked at {} MiB",
            rss >> 20
        );
    }
}
