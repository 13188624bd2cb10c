//! A RabbitMQ node of a test's own, for tests that stop, kill or block the broker: its own
//! node name, AMQP and distribution ports, data and log directories under a temporary
//! directory. It is stopped and its directory removed when dropped, also when the test fails.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A running RabbitMQ node of our own.
pub struct Node {
    name: String,
    port: u16,
    dist_port: u16,
    dir: PathBuf,
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Node {
    /// Starts a node and waits until it accepts AMQP connections.
    pub fn start() -> Node {
        Node::start_with(|_| String::new())
    }

    /// Starts a node whose rabbitmq.conf also holds what `extra` returns; `extra` gets the
    /// node's directory (readable by the broker) to put files in first.
    pub fn start_with(extra: impl FnOnce(&std::path::Path) -> String) -> Node {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("oslo-notify-node-{id}"));
        // Debian's rabbitmq-server runs the node as the rabbitmq user: it must write here.
        for sub in ["", "mnesia", "log"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777))
                .unwrap();
        }
        let port = free_port();
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
        let extra = extra(&dir);
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.default = 127.0.0.1:{port}\n{extra}"),
        )
        .unwrap();
        let node = Node {
            name: format!("oslotest{}@localhost", &id[..12]),
            port,
            dist_port: free_port(),
            dir,
        };
        let status = node
            .command("rabbitmq-server")
            .arg("-detached")
            .status()
            .expect("rabbitmq-server runs");
        assert!(status.success(), "rabbitmq-server -detached failed");
        node.wait_until_up();
        node
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env("RABBITMQ_PID_FILE", self.dir.join("pid"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq.conf"))
            .env("ERL_CRASH_DUMP", self.dir.join("erl_crash.dump"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    /// Runs `rabbitmqctl -n NODE args`; whether it succeeded.
    fn try_ctl(&self, args: &[&str]) -> bool {
        self.command("rabbitmqctl")
            .args(["-n", &self.name])
            .args(args)
            .status()
            .expect("rabbitmqctl runs")
            .success()
    }

    /// Runs `rabbitmqctl -n NODE args`, which must succeed.
    pub fn ctl(&self, args: &[&str]) {
        assert!(self.try_ctl(args), "rabbitmqctl {args:?} failed");
    }

    /// Waits (up to 120 s: a 2-core machine running the whole suite boots nodes slowly)
    /// until the node accepts AMQP connections.
    pub fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            // On a loaded machine the CLI can fail to reach a node that is still booting.
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.try_ctl(&["await_startup", "--timeout", "30"])
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the test node did not come up on port {}", self.port);
    }

    /// Its Erlang node name, `NAME@localhost`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Joins the cluster `seed` belongs to: stops the RabbitMQ application, wipes this
    /// node's data, `rabbitmqctl join_cluster`, and starts the application again.
    pub fn join_cluster(&self, seed: &Node) {
        self.ctl(&["stop_app"]);
        self.ctl(&["reset"]);
        self.ctl(&["join_cluster", &seed.name]);
        self.start_app();
    }

    /// Stops the whole node (`rabbitmqctl stop`) and waits until it is gone.
    pub fn stop(&self) {
        self.ctl(&["stop"]);
    }

    /// Runs `rabbitmqctl -n NODE args` and returns what it printed.
    pub fn ctl_output(&self, args: &[&str]) -> String {
        let output = self
            .command("rabbitmqctl")
            .args(["-n", &self.name])
            .args(args)
            .stdout(Stdio::piped())
            .output()
            .expect("rabbitmqctl runs");
        assert!(output.status.success(), "rabbitmqctl {args:?} failed");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Its directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Its AMQP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// An oslo transport URL for it.
    pub fn transport_url(&self) -> String {
        format!("rabbit://guest:guest@127.0.0.1:{}/", self.port)
    }

    /// An amqp URL for it, for the independent client.
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Stops the RabbitMQ application (connections are closed; the Erlang node stays).
    pub fn stop_app(&self) {
        self.ctl(&["stop_app"]);
    }

    /// Starts the RabbitMQ application again and waits until it accepts connections.
    pub fn start_app(&self) {
        self.ctl(&["start_app"]);
        self.wait_until_up();
    }

    /// The Erlang node's process id.
    fn pid(&self) -> i32 {
        let text = std::fs::read_to_string(self.dir.join("pid")).expect("the node's pid file");
        text.trim().parse().expect("a pid")
    }

    /// Kills the node hard (SIGKILL), as a crash would.
    pub fn kill(&self) {
        let status = Command::new("kill")
            .args(["-KILL", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Freezes the node (SIGSTOP): it keeps its sockets but answers nothing, like a dead peer.
    pub fn pause(&self) {
        let status = Command::new("kill")
            .args(["-STOP", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Lets a paused node go on (SIGCONT).
    pub fn resume(&self) {
        let status = Command::new("kill")
            .args(["-CONT", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Starts the node again after [`Node::kill`] (its data directory is kept).
    pub fn restart(&self) {
        let status = self
            .command("rabbitmq-server")
            .arg("-detached")
            .status()
            .unwrap();
        assert!(status.success());
        self.wait_until_up();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A paused node could not stop.
        if let Ok(text) = std::fs::read_to_string(self.dir.join("pid")) {
            let _ = Command::new("kill")
                .args(["-CONT", text.trim()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self
            .command("rabbitmqctl")
            .args(["-n", &self.name, "stop"])
            .status();
        if let Ok(text) = std::fs::read_to_string(self.dir.join("pid")) {
            if let Ok(pid) = text.trim().parse::<i32>() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
