//! Command-line arguments of both tools (clap derive), and their conversion into the plain
//! configuration structs the library runs on.

use crate::broker::{ConnectOptions, Durability, TlsFiles};
use crate::config::{ConfigError, Drivers, OsloConfig, Setting};
use crate::envelope::{Format, Priority};
use crate::exit::EXIT_CODES_HELP;
use crate::filter::Filter;
use crate::input::{parse_context, InputError};
use crate::listen::{ListenConfig, Mode};
use crate::notifier::{DEFAULT_EXCHANGE, DEFAULT_TOPIC};
use crate::output::{OutputFormat, Printer};
use crate::send::{read_payload, Input, SendConfig};
use crate::transport_url::{TransportUrl, DEFAULT_URL};
use anyhow::{Context, Result};
use clap::{Args, Parser, ValueEnum};
use serde_json::Map;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

/// Where the broker is and how to talk to it; shared by both tools.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// The oslo.messaging transport URL of the broker (flag, then env, then config file,
    /// then default).
    #[arg(
        long,
        help = "oslo.messaging transport URL: \
                rabbit://USER:PASS@HOST:PORT[,USER:PASS@HOST2:PORT]/VHOST[?ssl=1] \
                [env: OSLO_TRANSPORT_URL] [default: the config file's, or \
                rabbit://guest:***@localhost:5672/]",
        value_name = "URL",
        env = "OSLO_TRANSPORT_URL",
        hide_env_values = true
    )]
    pub transport_url: Option<String>,

    /// Read the service's oslo.config file (nova.conf, ...) for the transport URL,
    /// control_exchange, notification driver and topics, and RabbitMQ options; repeat for
    /// several (later files win; command-line flags and env win over them)
    #[arg(long = "config-file", value_name = "FILE")]
    pub config_files: Vec<PathBuf>,

    /// AMQP heartbeat interval in seconds, 0 for none [default: the config file's
    /// heartbeat_timeout_threshold, or 60]
    #[arg(long, value_name = "SECONDS")]
    pub heartbeat: Option<u16>,

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

/// The connection settings once flags, env, config files and defaults are weighed.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Where to connect.
    pub url: TransportUrl,
    /// How.
    pub options: ConnectOptions,
    /// How to create what is missing.
    pub durability: Durability,
}

impl ConnectionArgs {
    /// Reads the `--config-file`s, in order.
    pub fn read_config(&self) -> Result<OsloConfig> {
        let mut config = OsloConfig::default();
        for path in &self.config_files {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                file: name.clone(),
                place: None,
                reason: format!("cannot be read: {e}"),
            })?;
            config.read(&name, &text)?;
        }
        Ok(config)
    }

    /// Weighs the flags and env against `config` and the defaults; each wait for one host
    /// lasts at most `timeout`.
    pub fn resolve(&self, config: &OsloConfig, timeout: Duration) -> Result<Connection> {
        let mut url = match (&self.transport_url, config.notification_transport_url()) {
            (Some(text), _) => TransportUrl::parse(text)?,
            (None, Some(setting)) => TransportUrl::parse(&setting.value)
                .with_context(|| format!("in {}", setting.origin))?,
            (None, None) => TransportUrl::parse(DEFAULT_URL)?,
        };
        if config.ssl.as_ref().is_some_and(|s| s.value) && !url.tls {
            url.enable_tls();
        }
        let file = |from_url: Option<&str>, from_config: &Option<Setting<String>>| {
            from_url
                .map(PathBuf::from)
                .or_else(|| from_config.as_ref().map(|s| PathBuf::from(&s.value)))
        };
        let tls = TlsFiles {
            ca_file: file(url.query_value("ssl_ca_file"), &config.ssl_ca_file),
            cert_file: file(url.query_value("ssl_cert_file"), &config.ssl_cert_file),
            key_file: file(url.query_value("ssl_key_file"), &config.ssl_key_file),
        };
        let heartbeat = self
            .heartbeat
            .or(config.heartbeat_timeout_threshold.as_ref().map(|s| s.value))
            .unwrap_or(60);
        let from_config =
            |setting: &Option<Setting<bool>>| setting.as_ref().is_some_and(|s| s.value);
        let durability =
            if self.quorum || (!self.durable && from_config(&config.rabbit_quorum_queue)) {
                Durability::Quorum
            } else if self.durable || from_config(&config.amqp_durable_queues) {
                Durability::Durable
            } else {
                Durability::Transient
            };
        Ok(Connection {
            url,
            options: ConnectOptions {
                timeout,
                heartbeat,
                tls,
            },
            durability,
        })
    }
}

/// `--topic` values, else the config file's topics, else `notifications`.
fn topics_from(given: Vec<String>, config: &OsloConfig) -> Vec<String> {
    if !given.is_empty() {
        return given;
    }
    match &config.topics {
        Some(setting) if !setting.value.is_empty() => setting.value.clone(),
        _ => vec![DEFAULT_TOPIC.to_owned()],
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
  oslo-listen --json --count 10 > events.jsonl; oslo-notify --replay < events.jsonl
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
    #[arg(value_name = "PRIORITY", required_unless_present = "replay")]
    pub priority: Option<Priority>,

    /// The event type, such as compute.instance.create.end
    #[arg(value_name = "EVENT_TYPE", required_unless_present = "replay")]
    pub event_type: Option<String>,

    /// JSON payload; @FILE reads a file; - or nothing reads stdin
    #[arg(value_name = "PAYLOAD", conflicts_with_all = ["lines", "replay"])]
    pub payload: Option<String>,

    /// Read one JSON payload per line from stdin and send each (confirms are pipelined)
    #[arg(long)]
    pub lines: bool,

    /// Read `oslo-listen --format json` lines from stdin and publish each again, with a new
    /// message_id (priority, event_type, publisher_id, payload and context from the line)
    #[arg(long, conflicts_with_all = ["lines", "priority", "event_type", "publisher_id", "context"])]
    pub replay: bool,

    /// With --replay: publish to each line's exchange and routing key
    #[arg(long)]
    pub keep_routing: bool,

    /// Exchange to publish to (oslo's control_exchange) [default: the config file's
    /// control_exchange, or openstack]
    #[arg(long, value_name = "NAME")]
    pub exchange: Option<String>,

    /// Topic to publish to; repeat for several (one publish per topic, like oslo)
    /// [default: the config file's topics, or notifications]
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,

    /// publisher_id of the notifications [default: this host's name]
    #[arg(long, value_name = "ID")]
    pub publisher_id: Option<String>,

    /// oslo.messaging notification driver, which chooses the message format [default: the
    /// config file's driver, or messagingv2]
    #[arg(long, value_enum)]
    pub driver: Option<Driver>,

    /// Request context as a JSON object, sent as `_context_KEY` members
    #[arg(
        long,
        value_name = "JSON",
        help = "Request context as a JSON object, sent as _context_<key> members"
    )]
    pub context: Option<String>,

    /// Seconds to wait for the broker: to connect to a host, and for each publisher confirm
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = parse_seconds)]
    pub timeout: f64,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

impl NotifyArgs {
    /// Turns the arguments into a [`SendConfig`]. A single payload from stdin or a file is
    /// read here, so that bad input is refused before any connection is made.
    pub fn into_config(self, stdin: impl Read) -> Result<SendConfig> {
        if self.keep_routing && !self.replay {
            return Err(InputError("--keep-routing goes with --replay".into()).into());
        }
        let config = self.connection.read_config()?;
        let connection = self
            .connection
            .resolve(&config, Duration::from_secs_f64(self.timeout))?;
        let format = match (self.driver, config.drivers()) {
            (Some(driver), _) => driver.into(),
            (None, Drivers::Messaging(format)) => format,
            (None, Drivers::Unset) => Format::V2,
            (None, Drivers::Disabled(setting)) => {
                return Err(InputError(format!(
                    "notifications are off: {} = {} puts nothing on the message bus \
                     (give --driver to send anyway)",
                    setting.origin,
                    setting.value.join(", ")
                ))
                .into())
            }
        };
        let exchange = self
            .exchange
            .or_else(|| config.control_exchange.as_ref().map(|s| s.value.clone()))
            .unwrap_or_else(|| DEFAULT_EXCHANGE.to_owned());
        let context = match &self.context {
            Some(text) => parse_context(text)?,
            None => Map::new(),
        };
        let input = match (self.priority, self.event_type) {
            (Some(priority), Some(event_type)) if self.lines => Input::Lines {
                priority,
                event_type,
            },
            (Some(priority), Some(event_type)) => Input::One {
                priority,
                event_type,
                payload: read_payload(self.payload.as_deref(), stdin)?,
            },
            _ => Input::Replay {
                keep_routing: self.keep_routing,
            },
        };
        let publisher_id = match self.publisher_id {
            Some(id) => id,
            None => gethostname::gethostname()
                .into_string()
                .ok()
                .context("this host's name is not UTF-8: give --publisher-id")?,
        };
        Ok(SendConfig {
            connect: connection.options,
            durability: connection.durability,
            url: connection.url,
            exchange,
            topics: topics_from(self.topics, &config),
            format,
            publisher_id,
            context,
            input,
        })
    }
}

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// A header line (timestamp, PRIORITY, event_type, publisher_id) and the indented payload
    Pretty,
    /// One JSON object per line: priority, event_type, publisher_id, payload, metadata,
    /// context, exchange, routing_key
    Json,
    /// The payload alone, one JSON value per line
    Payload,
    /// The message body exactly as received, one per line
    Raw,
}

impl From<FormatArg> for OutputFormat {
    fn from(format: FormatArg) -> OutputFormat {
        match format {
            FormatArg::Pretty => OutputFormat::Pretty,
            FormatArg::Json => OutputFormat::Json,
            FormatArg::Payload => OutputFormat::Payload,
            FormatArg::Raw => OutputFormat::Raw,
        }
    }
}

const LISTEN_EXAMPLES: &str = "\
Examples:
  oslo-listen --topic notifications
  oslo-listen --json --event-type 'compute.instance.*' | jq .payload.instance_id
  oslo-listen --exchange nova --priority error,critical --format payload
  oslo-listen --shared --count 1 --timeout 60    # take one from the shared queues
  oslo-listen --pool audit-log --json >> audit.jsonl

Waiting for an event in CI:
  oslo-listen --json --event-type compute.instance.create.end --count 1 --timeout 300 \\
      > event.json 2> listen.log &
  until grep -q 'listening on' listen.log; do sleep 0.1; done
  openstack server create ...
  wait $! && jq .payload event.json";

/// Print OpenStack notifications as they arrive.
///
/// By default it reads through a private queue of its own (tap), bound like the shared
/// queues, so it takes nothing from other consumers and leaves nothing behind.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "oslo-listen",
    version,
    after_help = LISTEN_EXAMPLES,
    after_long_help = format!("{LISTEN_EXAMPLES}\n\n{EXIT_CODES_HELP}")
)]
pub struct ListenArgs {
    /// Topic to listen to; repeat for several [default: the config file's topics, or
    /// notifications]
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,

    /// Priorities to listen to, comma-separated [default: all seven]
    #[arg(long = "priority", value_name = "LIST", value_delimiter = ',')]
    pub priorities: Vec<Priority>,

    /// Exchange to listen on; repeat for several [default: the config file's
    /// control_exchange, or openstack and the OpenStack service exchanges that exist]
    #[arg(long = "exchange", value_name = "NAME")]
    pub exchanges: Vec<String>,

    /// Consume the shared TOPIC.PRIORITY queues, as an oslo listener does (competes with
    /// other consumers; sees what was sent before it started)
    #[arg(long, conflicts_with = "pool")]
    pub shared: bool,

    /// Consume the queue of this oslo listener pool (every pool gets a copy)
    #[arg(long, value_name = "NAME")]
    pub pool: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = FormatArg::Pretty)]
    pub format: FormatArg,

    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Show the values of context keys that carry secrets (auth_token, *password*, ...)
    #[arg(long)]
    pub show_secrets: bool,

    /// Only event types matching this shell glob; repeat for several
    #[arg(long = "event-type", value_name = "PATTERN")]
    pub event_types: Vec<String>,

    /// Only publisher ids matching this shell glob; repeat for several
    #[arg(long = "publisher-id", value_name = "PATTERN")]
    pub publisher_ids: Vec<String>,

    /// Only the notification with this message_id; repeat for several
    #[arg(long = "message-id", value_name = "ID")]
    pub message_ids: Vec<String>,

    /// Exit 0 after this many matching notifications
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Stop after this many seconds: exit 4 if --count was not reached, 0 without --count
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<f64>,

    /// How many unacknowledged messages to take at once per queue
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..))]
    pub prefetch: u16,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// How long to wait for one host when no --timeout bounds it.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

impl ListenArgs {
    /// Turns the arguments into a [`ListenConfig`]. `terminal` says whether stdout is a
    /// terminal, and `no_color` whether NO_COLOR asks for no colour.
    pub fn into_config(self, terminal: bool, no_color: bool) -> Result<ListenConfig> {
        let config = self.connection.read_config()?;
        let connection = self.connection.resolve(&config, DEFAULT_CONNECT_TIMEOUT)?;
        let filter = Filter::new(&self.event_types, &self.publisher_ids, &self.message_ids)?;
        let mode = match (self.shared, self.pool) {
            (_, Some(name)) => Mode::Pool(name),
            (true, None) => Mode::Shared,
            (false, None) => Mode::Tap,
        };
        let priorities = if self.priorities.is_empty() {
            Priority::ALL.to_vec()
        } else {
            let mut unique = self.priorities.clone();
            unique.sort();
            unique.dedup();
            unique
        };
        let format = if self.json {
            FormatArg::Json
        } else {
            self.format
        };
        let timeout = self.timeout.map(Duration::from_secs_f64);
        let exchanges = match (self.exchanges.is_empty(), config.control_exchange.clone()) {
            (true, Some(setting)) => vec![setting.value],
            _ => self.exchanges,
        };
        Ok(ListenConfig {
            connect: connection.options,
            durability: connection.durability,
            url: connection.url,
            mode,
            exchanges,
            topics: topics_from(self.topics, &config),
            priorities,
            printer: Printer {
                format: format.into(),
                color: terminal && !no_color,
                escape_controls: terminal,
                show_secrets: self.show_secrets,
            },
            filter,
            count: self.count,
            timeout,
            prefetch: self.prefetch,
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
        ListenArgs::command().debug_assert();
    }

    fn listen(args: &[&str]) -> Result<ListenConfig> {
        let args =
            ListenArgs::try_parse_from(std::iter::once("oslo-listen").chain(args.iter().copied()))?;
        args.into_config(false, false)
    }

    #[test]
    fn listen_defaults_tap_every_priority_of_notifications() {
        let config = listen(&[]).unwrap();
        assert_eq!(config.mode, Mode::Tap);
        assert_eq!(config.topics, ["notifications"]);
        assert_eq!(config.priorities, Priority::ALL);
        assert!(config.exchanges.is_empty());
        assert_eq!(config.printer.format, OutputFormat::Pretty);
        assert!(config.filter.is_empty());
        assert_eq!((config.count, config.timeout), (None, None));
    }

    #[test]
    fn listen_options() {
        let config = listen(&[
            "--pool",
            "p1",
            "--exchange",
            "nova",
            "--exchange",
            "neutron",
            "--priority",
            "error,WARNING,error",
            "--json",
            "--count",
            "3",
            "--timeout",
            "1.5",
            "--event-type",
            "compute.*",
        ])
        .unwrap();
        assert_eq!(config.mode, Mode::Pool("p1".into()));
        assert_eq!(config.exchanges, ["nova", "neutron"]);
        assert_eq!(config.priorities, [Priority::Warn, Priority::Error]);
        assert_eq!(config.printer.format, OutputFormat::Json);
        assert_eq!(config.count, Some(3));
        assert_eq!(config.timeout, Some(Duration::from_millis(1500)));
        assert!(!config.filter.is_empty());
        assert_eq!(listen(&["--shared"]).unwrap().mode, Mode::Shared);
        assert!(listen(&["--shared", "--pool", "x"]).is_err());
        assert!(listen(&["--count", "0"]).is_err());
        assert!(listen(&["--json", "--format", "raw"]).is_err());
        let bad_glob = listen(&["--event-type", "a[b"]).unwrap_err();
        assert_eq!(
            crate::exit::failure_of(&bad_glob),
            crate::exit::Failure::Usage
        );
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        let args = || ListenArgs::try_parse_from(["oslo-listen"]).unwrap();
        assert!(args().into_config(true, false).unwrap().printer.color);
        assert!(!args().into_config(true, true).unwrap().printer.color);
        assert!(!args().into_config(false, false).unwrap().printer.color);
        assert!(
            args()
                .into_config(true, true)
                .unwrap()
                .printer
                .escape_controls
        );
    }

    #[test]
    fn replay_takes_no_priority_or_event_type() {
        let config = parse(&["--replay", "--keep-routing"])
            .unwrap()
            .into_config(&b""[..])
            .unwrap();
        assert_eq!(config.input, Input::Replay { keep_routing: true });
        let lone = parse(&["--keep-routing", "info", "e", "{}"])
            .unwrap()
            .into_config(&b""[..]);
        assert!(lone
            .unwrap_err()
            .to_string()
            .contains("--keep-routing goes with --replay"));
        assert!(parse(&["--replay", "info", "e"]).is_err());
        assert!(parse(&["info"]).is_err());
    }

    fn parse(args: &[&str]) -> Result<NotifyArgs, clap::Error> {
        NotifyArgs::try_parse_from(std::iter::once("oslo-notify").chain(args.iter().copied()))
    }

    #[test]
    fn the_seed_command_line() {
        let args = parse(&["info", "just.testing", r#"{"heavy":"payload"}"#]).unwrap();
        let config = args.into_config(&b""[..]).unwrap();
        assert_eq!(
            config.input,
            Input::One {
                priority: Priority::Info,
                event_type: "just.testing".into(),
                payload: serde_json::json!({"heavy": "payload"})
            }
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

        assert_eq!(config.durability, Durability::Quorum);
        assert_eq!(config.connect.timeout, Duration::from_millis(2500));
        assert_eq!(config.url.hosts[0].port, 1234);
        assert_eq!(
            config.input,
            Input::One {
                priority: Priority::Warn,
                event_type: "e.t".into(),
                payload: serde_json::json!([1])
            }
        );
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
