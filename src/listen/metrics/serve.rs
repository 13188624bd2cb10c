//! The HTTP server of `--metrics`: `/metrics` in the text format the scraper asks for, a
//! landing page on `/`, on a thread of its own, so that a scrape waits on nothing of the
//! engine's and the engine on no scrape.

use super::Metrics;
use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use tiny_http::{Header, Method, Request, Response, Server};

/// The address given to `--metrics` cannot be served (in use, not an address of this host,
/// not allowed). Exit code 2.
#[derive(Debug)]
pub struct CannotServe {
    /// The address, as given.
    pub address: String,
    /// Why.
    pub reason: String,
}

impl fmt::Display for CannotServe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot serve metrics on {}: {}",
            self.address, self.reason
        )
    }
}

impl std::error::Error for CannotServe {}

/// The server, running until dropped.
pub struct Exporter {
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporter")
            .field("address", &self.server.server_addr().to_string())
            .finish()
    }
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

const LANDING: &str = "<!DOCTYPE html>
<html><head><meta charset=\"utf-8\"><title>oslo-listen</title></head>
<body><h1>oslo-listen</h1>
<p>OpenStack notifications, counted as they arrive: <a href=\"/metrics\">metrics</a>.</p>
</body></html>
";

impl Exporter {
    /// Serves `metrics` on `address` (`HOST:PORT`), from now on.
    pub fn start(address: &str, metrics: Arc<Metrics>) -> Result<Exporter, CannotServe> {
        let server = Server::http(address).map_err(|e| CannotServe {
            address: address.to_owned(),
            reason: e.to_string(),
        })?;
        let server = Arc::new(server);
        let serving = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                // Ends when the server is unblocked.
                while let Ok(request) = serving.recv() {
                    answer(request, &metrics);
                }
            })
            .map_err(|e| CannotServe {
                address: address.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Exporter {
            server,
            thread: Some(thread),
        })
    }

    /// The address it listens on (with the port chosen, when `:0` was given).
    pub fn address(&self) -> String {
        self.server.server_addr().to_string()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether the scraper asked for OpenMetrics.
fn wants_openmetrics(request: &Request) -> bool {
    request.headers().iter().any(|h| {
        h.field.equiv("Accept") && h.value.as_str().contains("application/openmetrics-text")
    })
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

/// Answers one request. A client that goes away is no error of ours.
fn answer(request: Request, metrics: &Metrics) {
    let path = request.url().split('?').next().unwrap_or_default();
    if !matches!(request.method(), Method::Get | Method::Head) {
        let response = Response::from_string("only GET and HEAD\n")
            .with_status_code(405)
            .with_header(header("Allow", "GET, HEAD"));
        let _ = request.respond(response);
        return;
    }
    let response = match path {
        "/metrics" => {
            let openmetrics = wants_openmetrics(&request);
            let content_type = match openmetrics {
                true => OPENMETRICS,
                false => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            };
            Response::from_string(metrics.write(openmetrics))
                .with_header(header("Content-Type", content_type))
        }
        "/" => Response::from_string(LANDING)
            .with_header(header("Content-Type", "text/html; charset=utf-8")),
        _ => {
            Response::from_string("not found: the metrics are on /metrics\n").with_status_code(404)
        }
    };
    let _ = request.respond(response);
}
