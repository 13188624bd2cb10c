//! A Prometheus of a test's own (Debian's `prometheus`, which `scripts/ensure-prometheus.sh`
//! installs): its own port, configuration and storage under a temporary directory, scraping
//! the given targets every second. Stopped and its directory removed when dropped.

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One series of a query's answer: its labels and its value.
pub type Sample = (BTreeMap<String, String>, f64);

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    port: u16,
    dir: PathBuf,
}

/// `GET path` on `address` (`host:port`), with `accept` as the Accept header when given:
/// the status code and the body.
pub fn get(address: &str, path: &str, accept: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap_or_else(|e| panic!("{address}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {address}\r\n{accept}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

impl Prometheus {
    /// Starts one scraping `targets` (`host:port`) every second, and waits until it is ready.
    pub fn scraping(targets: &[&str]) -> Prometheus {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("oslo-notify-prometheus-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        std::fs::write(
            dir.join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: oslo-listen\n    static_configs:\n      \
                 - targets: [{}]\n",
                targets.join(", ")
            ),
        )
        .unwrap();
        let port = super::node::free_port();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus runs (scripts/ensure-prometheus.sh installs it)");
        let prometheus = Prometheus { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let address = prometheus.address();
            if TcpStream::connect(&address).is_ok() && get(&address, "/-/ready", None).0 == 200 {
                return prometheus;
            }
            assert!(Instant::now() < deadline, "Prometheus did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The answer to an instant query: each series' labels (`__name__` among them) and value.
    pub fn query(&self, promql: &str) -> Vec<Sample> {
        let encoded =
            percent_encoding::utf8_percent_encode(promql, percent_encoding::NON_ALPHANUMERIC);
        let (status, body) = get(
            &self.address(),
            &format!("/api/v1/query?query={encoded}"),
            None,
        );
        assert_eq!(status, 200, "{promql}: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["status"], "success", "{promql}: {body}");
        answer["data"]["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{promql}: not a vector: {body}"))
            .iter()
            .map(|series| {
                let labels = series["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect();
                let value = series["value"][1].as_str().unwrap().parse().unwrap();
                (labels, value)
            })
            .collect()
    }

    /// Asks `promql` again (up to `within`) until `done` holds for the answer, and returns
    /// it; fails with the last answer.
    pub fn wait_for(
        &self,
        promql: &str,
        within: Duration,
        done: impl Fn(&[Sample]) -> bool,
    ) -> Vec<Sample> {
        let deadline = Instant::now() + within;
        loop {
            let answer = self.query(promql);
            if done(&answer) {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "{promql}: still {answer:?} after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits until `promql` is one series of value `want`.
    pub fn wait_for_value(&self, promql: &str, want: f64) {
        self.wait_for(promql, Duration::from_secs(30), |answer| {
            answer.len() == 1 && (answer[0].1 - want).abs() < 1e-9
        });
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
