//! Command-line arguments of both tools (clap derive), and their conversion into the plain
//! configuration structs the library runs on.

use crate::broker::{ConnectOptions, Durability};
use crate::envelope::{Format, Priority};
use crate::exit::EXIT_CODES_HELP;
use crate::input::parse_context;
use crate::notifier::{DEFAULT_EXCHANGE, DEFAULT_TOPIC};
use crate::send::{read_payload, Payloads, SendConfig};
use crate::transport_url::{TransportUrl, DEFAULT_URL};
use anyhow::{Context, Result};
use clap::{Args, Parser, ValueEnum};
use serde_json::Map;
use std::io::Read;
use std::time::Duration;

/// Where the broker is and how to talk to it; shared by both tools.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// oslo.messaging transport URL: rabbit://USER:PASS@HOST:PORT[,USER:PASS@HOST2:PORT]/VHOST[?ssl=1]
    /// [default: rabbit://guest:***@localhost:5672/]
    #[arg(
        long,
        value_name = "URL",
        env = "OSLO_TRANSPORT_URL",
        hide_env_values = true,
        default_value = DEFAULT_URL,
        hide_default_value = true
    )]
    pub transport_url: String,

    /// Seconds to wait for the broker: to connect to a host, and for each publisher confirm
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = parse_seconds)]
    pub timeout: f64,

    /// AMQP heartbeat interval in seconds (0 turns heartbeats off)
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub heartbeat: u16,

    /// Create missing exchanges and queues durable (oslo's amqp_durable_queues = true)
    #[arg(long)]
    pub durable: bool,

    /// Create missing queues as quorum queues, durable (oslo's rabbit_quorum_queue = true)
    #[arg(long, conflicts_with = "durable")]
    pub quorum: bool,
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 && seconds <= 1e9 => Ok(seconds),
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

impl ConnectionArgs {
    /// The parsed transport URL (exit 2 when it is malformed; the message hides passwords).
    pub fn url(&self) -> Result<TransportUrl> {
        Ok(TransportUrl::parse(&self.transport_url)?)
    }

    /// Connection options.
    pub fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            timeout: Duration::from_secs_f64(self.timeout),
            heartbeat: self.heartbeat,
        }
    }

    /// How to declare what is missing.
    pub fn durability(&self) -> Durability {
        match (self.durable, self.quorum) {
            (_, true) => Durability::Quorum,
            (true, false) => Durability::Durable,
            (false, false) => Durability::Transient,
        }
    }
}

/// oslo.messaging notification drivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Driver {
    /// Message format 2.0: the notification inside an `oslo.message` envelope
    Messagingv2,
    /// Message format 1.0: the bare notification
    Messaging,
}

impl From<Driver> for Format {
    fn from(driver: Driver) -> Format {
        match driver {
            Driver::Messagingv2 => Format::V2,
            Driver::Messaging => Format::V1,
        }
    }
}

const NOTIFY_EXAMPLES: &str = "\
Examples:
  oslo-notify info just.testing '{\"heavy\":\"payload\"}'
  oslo-notify error compute.instance.create.error @payload.json --publisher-id compute.host1
  echo '{\"instance_id\": \"8415760e\"}' | oslo-notify warn compute.instance.delete.start -
  oslo-notify --lines info load.test < payloads.jsonl
  oslo-notify --exchange nova --topic notifications --topic versioned_notifications \\
      --context '{\"request_id\": \"req-1\", \"user\": \"admin\"}' info compute.instance.exists '{}'
  OSLO_TRANSPORT_URL=rabbit://nova:secret@ctl1,nova:secret@ctl2/nova oslo-notify info x.y '{}'

On success the message_id of each notification is printed, one per line, once the broker
has confirmed it.";

/// Publish OpenStack notifications exactly as oslo.messaging's Notifier does.
///
/// Each notification goes to the exchange with routing key TOPIC.PRIORITY, and a queue of
/// that name is declared so that it waits there until someone reads it.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "oslo-notify",
    version,
    after_help = NOTIFY_EXAMPLES,
    after_long_help = format!("{NOTIFY_EXAMPLES}\n\n{EXIT_CODES_HELP}")
)]
pub struct NotifyArgs {
    /// audit, debug, info, warn (or warning), error, critical or sample; any case
    #[arg(value_name = "PRIORITY")]
    pub priority: Priority,

    /// The event type, such as compute.instance.create.end
    #[arg(value_name = "EVENT_TYPE")]
    pub event_type: String,

    /// JSON payload; @FILE reads a file; - or nothing reads stdin
    #[arg(value_name = "PAYLOAD", conflicts_with = "lines")]
    pub payload: Option<String>,

    /// Read one JSON payload per line from stdin and send each (confirms are pipelined)
    #[arg(long)]
    pub lines: bool,

    /// Exchange to publish to (oslo's control_exchange)
    #[arg(long, value_name = "NAME", default_value = DEFAULT_EXCHANGE)]
    pub exchange: String,

    /// Topic to publish to; repeat for several (one publish per topic, like oslo)
    #[arg(long = "topic", value_name = "TOPIC", default_value = DEFAULT_TOPIC)]
    pub topics: Vec<String>,

    /// publisher_id of the notifications [default: this host's name]
    #[arg(long, value_name = "ID")]
    pub publisher_id: Option<String>,

    /// oslo.messaging notification driver, which chooses the message format
    #[arg(long, value_enum, default_value_t = Driver::Messagingv2)]
    pub driver: Driver,

    /// Request context as a JSON object, sent as _context_<key> members
    #[arg(long, value_name = "JSON")]
    pub context: Option<String>,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

impl NotifyArgs {
    /// Turns the arguments into a [`SendConfig`]. A single payload from stdin or a file is
    /// read here, so that bad input is refused before any connection is made.
    pub fn into_config(self, stdin: impl Read) -> Result<SendConfig> {
        let url = self.connection.url()?;
        let context = match &self.context {
            Some(text) => parse_context(text)?,
            None => Map::new(),
        };
        let payloads = if self.lines {
            Payloads::Lines
        } else {
            Payloads::One(read_payload(self.payload.as_deref(), stdin)?)
        };
        let publisher_id = match self.publisher_id {
            Some(id) => id,
            None => gethostname::gethostname()
                .into_string()
                .ok()
                .context("this host's name is not UTF-8: give --publisher-id")?,
        };
        Ok(SendConfig {
            connect: self.connection.connect_options(),
            durability: self.connection.durability(),
            url,
            exchange: self.exchange,
            topics: self.topics,
            format: self.driver.into(),
            publisher_id,
            context,
            priority: self.priority,
            event_type: self.event_type,
            payloads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn argument_definitions_are_consistent() {
        NotifyArgs::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<NotifyArgs, clap::Error> {
        NotifyArgs::try_parse_from(std::iter::once("oslo-notify").chain(args.iter().copied()))
    }

    #[test]
    fn the_seed_command_line() {
        let args = parse(&["info", "just.testing", r#"{"heavy":"payload"}"#]).unwrap();
        let config = args.into_config(&b""[..]).unwrap();
        assert_eq!(config.priority, Priority::Info);
        assert_eq!(config.event_type, "just.testing");
        assert_eq!(
            config.payloads,
            Payloads::One(serde_json::json!({"heavy": "payload"}))
        );
        assert_eq!(config.exchange, "openstack");
        assert_eq!(config.topics, ["notifications"]);
        assert_eq!(config.format, Format::V2);
        assert!(!config.publisher_id.is_empty());
        assert_eq!(config.durability, Durability::Transient);
    }

    #[test]
    fn options() {
        let args = parse(&[
            "--topic",
            "a",
            "--topic",
            "b",
            "--driver",
            "messaging",
            "--exchange",
            "nova",
            "--publisher-id",
            "compute.h1",
            "--context",
            r#"{"user": "u"}"#,
            "--quorum",
            "--timeout",
            "2.5",
            "--transport-url",
            "rabbit://u:p@h:1234/v",
            "WARNING",
            "e.t",
            "-",
        ])
        .unwrap();
        let config = args.into_config(&b"[1]"[..]).unwrap();
        assert_eq!(config.topics, ["a", "b"]);
        assert_eq!(config.format, Format::V1);
        assert_eq!(config.exchange, "nova");
        assert_eq!(config.publisher_id, "compute.h1");
        assert_eq!(config.context["user"], "u");
        assert_eq!(config.priority, Priority::Warn);
        assert_eq!(config.durability, Durability::Quorum);
        assert_eq!(config.connect.timeout, Duration::from_millis(2500));
        assert_eq!(config.url.hosts[0].port, 1234);
        assert_eq!(config.payloads, Payloads::One(serde_json::json!([1])));
    }

    #[test]
    fn usage_errors() {
        assert!(parse(&["loud", "e", "{}"]).is_err());
        assert!(parse(&["info", "e", "{}", "--lines"]).is_err());
        assert!(parse(&["info", "e", "--durable", "--quorum"]).is_err());
        assert!(parse(&["info", "e", "--timeout", "0"]).is_err());
        let bad_url = parse(&[
            "info",
            "e",
            "{}",
            "--transport-url",
            "rabbit://u:hunter2@h:x/",
        ])
        .unwrap()
        .into_config(&b""[..])
        .unwrap_err();
        assert_eq!(
            crate::exit::failure_of(&bad_url),
            crate::exit::Failure::Usage
        );
        assert!(!format!("{bad_url:#}").contains("hunter2"));
    }

    #[test]
    fn help_hides_passwords_and_lists_exit_codes() {
        let help = NotifyArgs::command().render_long_help().to_string();
        assert!(!help.contains("guest:guest"), "{help}");
        assert!(help.contains("oslo-notify info just.testing '{\"heavy\":\"payload\"}'"));
        assert!(help.contains("3  cannot connect or authenticate"));
    }
}
