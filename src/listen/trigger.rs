//! `oslo-listen -- COMMAND [ARG...]`: the command a CI script runs once oslo-listen is
//! consuming, so that nothing it causes can be missed. Its stdout goes to our stderr (our
//! stdout holds only notifications), its stderr to our stderr, its stdin is ours. It runs in
//! a process group of its own, which signals reach as a whole (a shell script's children
//! too), and it is never left behind: dropped while running, the group gets SIGTERM, then
//! SIGKILL.

use std::fmt;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a command has between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// The command could not start, or failed. Exit code 6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFailed(pub String);

impl fmt::Display for CommandFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CommandFailed {}

/// A started command.
#[derive(Debug)]
pub struct Trigger {
    child: Child,
    name: String,
    status: Option<ExitStatus>,
}

impl Trigger {
    /// Starts `argv` (program and arguments).
    pub fn start(argv: &[String]) -> Result<Trigger, CommandFailed> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| CommandFailed("no command given after --".to_owned()))?;
        let cannot = |e: std::io::Error| CommandFailed(format!("cannot start {program}: {e}"));
        let stderr = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map_err(cannot)?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::inherit())
            .stdout(Stdio::from(stderr))
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .map_err(cannot)?;
        Ok(Trigger {
            child,
            name: program.clone(),
            status: None,
        })
    }

    /// How it ended, if it has.
    pub fn status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits until it ends or `deadline` passes (for ever without one); how it ended.
    pub fn wait_until(&mut self, deadline: Option<Instant>) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.status() {
                return Some(status);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` to its process group (while any of it runs).
    pub fn signal(&mut self, signal: i32) {
        if self.group_alive() {
            self.signal_group(signal);
        }
    }

    /// Whether any process of its group still runs (the command itself once reaped is not
    /// counted, nor are its children that left the group).
    fn group_alive(&mut self) -> bool {
        // Reaps the command if it ended, so that it does not count as a zombie.
        self.status();
        let Ok(group) = libc::pid_t::try_from(self.child.id()) else {
            return false;
        };
        // SAFETY: kill(2) with signal 0 only checks that the group has a process.
        unsafe { libc::kill(-group, 0) == 0 }
    }

    fn signal_group(&self, signal: i32) {
        if let Ok(group) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) takes any process group and signal; the group is the one our
            // child leads (made at spawn), so it names no process of anyone else's.
            unsafe {
                libc::kill(-group, signal);
            }
        }
    }

    /// Ends it: SIGTERM to its group, then [`settle`](Self::settle); how it ended.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.signal(libc::SIGTERM);
        self.settle(GRACE)
    }

    /// Waits up to `grace` for every process of its group to end (a signal was passed on),
    /// then kills what is left of the group: a child that ignores the signal, or that the
    /// command left running, is not left behind. How the command ended.
    pub fn settle(&mut self, grace: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + grace;
        while self.group_alive() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.group_alive() {
            self.signal_group(libc::SIGKILL);
        }
        if self.status.is_none() {
            self.status = self.child.wait().ok();
        }
        self.status
    }

    /// `Ok` if it exited 0, else what went wrong, naming it.
    pub fn outcome(&self, status: ExitStatus) -> Result<(), CommandFailed> {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(0), _) => Ok(()),
            (Some(code), _) => Err(CommandFailed(format!(
                "{} exited with status {code}",
                self.name
            ))),
            (None, Some(signal)) => Err(CommandFailed(format!(
                "{} was killed by signal {signal}",
                self.name
            ))),
            (None, None) => Err(CommandFailed(format!("{} ended abnormally", self.name))),
        }
    }
}

impl Drop for Trigger {
    /// Whatever of its group still runs is stopped: the command, and what it started.
    fn drop(&mut self) {
        if self.group_alive() {
            self.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn exit_statuses_are_told_apart() {
        let mut ok = Trigger::start(&argv(&["true"])).unwrap();
        let status = ok.wait_until(None).unwrap();
        assert_eq!(ok.outcome(status), Ok(()));
        let mut three = Trigger::start(&argv(&["sh", "-c", "exit 3"])).unwrap();
        let status = three.wait_until(None).unwrap();
        assert_eq!(
            three.outcome(status).unwrap_err().to_string(),
            "sh exited with status 3"
        );
        let missing = Trigger::start(&argv(&["no-such-command-here"])).unwrap_err();
        assert!(
            missing.0.starts_with("cannot start no-such-command-here"),
            "{missing}"
        );
    }

    #[test]
    fn a_running_command_is_stopped_and_never_left_behind() {
        let mut sleeper = Trigger::start(&argv(&["sleep", "30"])).unwrap();
        assert!(sleeper.wait_until(Some(Instant::now())).is_none());
        let status = sleeper.stop().unwrap();
        assert_eq!(
            sleeper.outcome(status).unwrap_err().to_string(),
            "sleep was killed by signal 15"
        );
        let pid = {
            let dropped = Trigger::start(&argv(&["sleep", "30"])).unwrap();
            dropped.child.id()
        };
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "dropped and reaped"
        );
    }

    /// The pid a command wrote to `file`, once it has.
    fn pid_in(file: &std::path::Path) -> String {
        for _ in 0..500 {
            if let Ok(pid) = std::fs::read_to_string(file) {
                if pid.ends_with('\n') {
                    return pid.trim().to_owned();
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no pid in {}", file.display());
    }

    /// Whether `pid` still runs a second after it was killed (a kill takes effect soon, not
    /// at once).
    fn running(pid: &str) -> bool {
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
        };
        (0..100).all(|_| {
            let up = alive();
            if up {
                std::thread::sleep(Duration::from_millis(10));
            }
            up
        })
    }

    #[test]
    fn a_child_that_ignores_the_signal_is_killed_after_the_grace() {
        let file = std::env::temp_dir().join(format!("trigger-{}", uuid::Uuid::new_v4()));
        let script = format!(
            "(trap '' TERM INT; exec sleep 102) & echo $! > {}; wait",
            file.display()
        );
        let mut trigger = Trigger::start(&argv(&["bash", "-c", &script])).unwrap();
        let sleeper = pid_in(&file);
        std::fs::remove_file(&file).unwrap();
        // The shell ends on SIGINT; its child ignores it.
        trigger.signal(libc::SIGINT);
        let started = Instant::now();
        trigger.settle(Duration::from_millis(300));
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "waited the grace"
        );
        assert!(!running(&sleeper), "sleep {sleeper} was left behind");
        // What a command that exited left running is stopped when it is dropped.
        let script = format!("sleep 103 & echo $! > {}", file.display());
        let mut quick = Trigger::start(&argv(&["sh", "-c", &script])).unwrap();
        let sleeper = pid_in(&file);
        std::fs::remove_file(&file).unwrap();
        assert!(quick.wait_until(None).unwrap().success());
        assert!(running(&sleeper));
        drop(quick);
        assert!(!running(&sleeper), "sleep {sleeper} was left behind");
    }
}
