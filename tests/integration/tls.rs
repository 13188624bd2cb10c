//! TLS for real: RabbitMQ nodes of these tests' own with a TLS listener, and a CA, server
//! and client certificates made at test time. The broker's certificate is verified, host
//! name included; a wrong CA or host name fails with exit 3 naming the problem; `--insecure`
//! connects anyway and says so; client certificates work; no password is ever printed.

use crate::common;
use crate::common::node::{free_port, Node};
use crate::common::tls::Certs;
use crate::common::{listen_on, notify_with_url, Broker, Run};

const USER: &str = "tlsuser";
const PASSWORD: &str = "s3cr3t-tls-Passw0rd";

/// A node with a TLS listener, and a user with a password to look for in every output.
struct TlsNode {
    node: Node,
    certs: Certs,
    tls_port: u16,
}

impl TlsNode {
    fn start(require_client_cert: bool) -> TlsNode {
        let tls_port = free_port();
        let mut certs = None;
        let node = Node::start_with(|dir| {
            let made = Certs::make(dir);
            let config = made.listener_config(tls_port, require_client_cert);
            certs = Some(made);
            config
        });
        node.ctl(&["add_user", USER, PASSWORD]);
        node.ctl(&["set_permissions", "-p", "/", USER, ".*", ".*", ".*"]);
        TlsNode {
            node,
            certs: certs.expect("certificates made"),
            tls_port,
        }
    }

    /// `amqps://` to `host` on the TLS port, with the user's password in it.
    fn url(&self, host: &str) -> String {
        format!("amqps://{USER}:{PASSWORD}@{host}:{}/", self.tls_port)
    }
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

/// Nothing a tool printed holds the password.
fn assert_no_password(run: &Run) {
    assert!(
        !run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD),
        "the password was printed: {run:?}"
    );
}

/// A scratch exchange and topic on a TLS node (cleaned up through its plain port).
struct Scratch {
    broker: Broker,
    exchange: String,
    topic: String,
}

impl Scratch {
    fn on(tls: &TlsNode) -> Scratch {
        let mut broker = Broker::at(&tls.node.amqp_url());
        let (exchange, topic) = (broker.exchange_name(), broker.topic_name());
        Scratch {
            broker,
            exchange,
            topic,
        }
    }

    /// `oslo-notify` with `url` and `extra` arguments: one INFO `event` to the scratch
    /// topic. Its output must not hold the password, whatever happened.
    fn send(&self, url: &str, extra: &[&str], event: &str) -> Run {
        let mut args = extra.to_vec();
        args.extend(["--exchange", &self.exchange, "--topic", &self.topic]);
        args.extend(["--timeout", "10", "info", event, "{}"]);
        let run = notify_with_url(url, &args, b"");
        assert_no_password(&run);
        run
    }

    /// The event types that landed on the scratch topic's info queue, in order.
    fn landed(&self) -> Vec<String> {
        self.broker
            .drain(&format!("{}.info", self.topic))
            .iter()
            .map(|got| common::inner_json(&got.body)["event_type"].to_string())
            .collect()
    }
}

#[test]
fn the_broker_certificate_is_verified_host_name_included() {
    let tls = TlsNode::start(false);
    let scratch = Scratch::on(&tls);
    let send = |url: &str, extra: &[&str], event: &str| scratch.send(url, extra, event);
    let ca = path(&tls.certs.ca);
    let localhost = tls.url("localhost");

    let verified = send(&localhost, &["--ssl-ca-file", ca], "tls.verified");
    assert_eq!(verified.code, 0, "{verified:?}");

    let query = format!("{localhost}?ssl_ca_file={ca}");
    let from_query = send(&query, &[], "tls.query");
    assert_eq!(from_query.code, 0, "{from_query:?}");

    let other_ca = path(&tls.certs.other_ca);
    let wrong_ca = send(&localhost, &["--ssl-ca-file", other_ca], "tls.wrong-ca");
    assert_eq!(wrong_ca.code, 3, "{wrong_ca:?}");
    assert!(
        wrong_ca.stderr.contains("certificate verify failed"),
        "{wrong_ca:?}"
    );
    assert_eq!(wrong_ca.stderr.trim().lines().count(), 1, "{wrong_ca:?}");

    // The certificate names localhost, not 127.0.0.1.
    let wrong_host = send(
        &tls.url("127.0.0.1"),
        &["--ssl-ca-file", ca],
        "tls.wrong-host",
    );
    assert_eq!(wrong_host.code, 3, "{wrong_host:?}");
    assert!(
        wrong_host.stderr.contains("certificate verify failed")
            && wrong_host.stderr.contains("mismatch"),
        "{wrong_host:?}"
    );

    let insecure = send(&localhost, &["--insecure"], "tls.insecure");
    assert_eq!(insecure.code, 0, "{insecure:?}");
    assert!(
        insecure.stderr.contains("--insecure") && insecure.stderr.contains("not verified"),
        "{insecure:?}"
    );

    assert_eq!(
        scratch.landed(),
        ["\"tls.verified\"", "\"tls.query\"", "\"tls.insecure\""],
        "exactly the verified and the insecure ones landed"
    );
}

#[test]
fn oslo_listen_reads_over_verified_tls() {
    let tls = TlsNode::start(false);
    let scratch = Scratch::on(&tls);
    let url = tls.url("localhost");
    let common_args = common::route_args(
        &scratch.exchange,
        &scratch.topic,
        &["--ssl-ca-file", path(&tls.certs.ca)],
    );
    let mut route_args = common_args.to_vec();
    route_args.extend(["--json", "--count", "1", "--timeout", "60"]);
    let listening = listen_on(&url, &route_args, true);
    let mut notify_args = common_args.to_vec();
    notify_args.extend(["error", "tls.listened", r#"{"over": "tls"}"#]);
    let sent = notify_with_url(&url, &notify_args, b"");
    assert_eq!(sent.code, 0, "{sent:?}");
    let got = listening.finish();
    assert_eq!(got.code, 0, "{got:?}");
    assert_no_password(&got);
    let line: serde_json::Value = serde_json::from_str(got.stdout.trim()).unwrap();
    assert_eq!(line["event_type"], "tls.listened");
    assert_eq!(line["payload"]["over"], "tls");
}

#[test]
fn client_certificates_are_presented_from_flags_or_the_config_file() {
    let tls = TlsNode::start(true);
    let scratch = Scratch::on(&tls);
    let certs = &tls.certs;
    let url = tls.url("localhost");
    let send = |extra: &[&str], event: &str| scratch.send(&url, extra, event);

    let without = send(&["--ssl-ca-file", path(&certs.ca)], "tls.no-client-cert");
    // The broker's alert may come after a reset that reads like a broker going down, so
    // there may be an attempt or two more before the error; the error names the reason.
    assert_eq!(without.code, 3, "{without:?}");
    let error = without.stderr.trim().lines().last().unwrap_or_default();
    // (When the reset wins the race, the alert is lost with it: the error says what to
    // look at instead.)
    assert!(
        error.contains("error:")
            && (error.contains("certificate required")
                || error.contains("does the broker require a client certificate?")),
        "{without:?}"
    );

    let with_flags = send(
        &[
            "--ssl-ca-file",
            path(&certs.ca),
            "--ssl-cert-file",
            path(&certs.client_cert),
            "--ssl-key-file",
            path(&certs.client_key),
        ],
        "tls.client-cert",
    );
    assert_eq!(with_flags.code, 0, "{with_flags:?}");

    let config = tls.node.dir().join("client.conf");
    std::fs::write(
        &config,
        format!(
            "[oslo_messaging_rabbit]\nssl = true\nssl_ca_file = {}\nssl_cert_file = {}\n\
             ssl_key_file = {}\n",
            certs.ca.display(),
            certs.client_cert.display(),
            certs.client_key.display()
        ),
    )
    .unwrap();
    let plain_scheme = format!("rabbit://{USER}:{PASSWORD}@localhost:{}/", tls.tls_port);
    let from_config = scratch.send(
        &plain_scheme,
        &["--config-file", path(&config)],
        "tls.config-file",
    );
    assert_eq!(from_config.code, 0, "{from_config:?}");

    assert_eq!(scratch.landed().len(), 2);
}
