//! A tmux server of a test's own, to run a tool in a real terminal: keys typed, the screen
//! read back.

use super::unique;
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of the test's own, with one 80x24 window.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(command: &str) -> Tmux {
        Tmux::start_sized(command, 80, 24)
    }

    /// A window of `width` x `height`.
    pub fn start_sized(command: &str, width: u16, height: u16) -> Tmux {
        let tmux = Tmux {
            socket: unique("oslo-tmux"),
        };
        let (width, height) = (width.to_string(), height.to_string());
        tmux.run(&[
            "new-session",
            "-d",
            "-x",
            &width,
            "-y",
            &height,
            "-s",
            "top",
            command,
        ]);
        tmux.run(&["set-option", "-t", "top", "remain-on-exit", "on"]);
        tmux
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }

    /// The screen and the lines scrolled off it above.
    pub fn history(&self) -> String {
        self.run(&["capture-pane", "-p", "-S", "-", "-t", "top"])
    }

    /// Waits (up to 30 s) for the screen to show every one of `texts`; returns it.
    pub fn wait_for(&self, texts: &[&str]) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if texts.iter().all(|t| screen.contains(t)) {
                return screen;
            }
            assert!(
                Instant::now() < until,
                "waiting for {texts:?}, the screen shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn show(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", "top", format])
            .trim()
            .to_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
        crate::common::remove_tmux_socket(&self.socket);
    }
}
