//! `oslo-notify`'s arguments.

use super::args::{
    parse_positive, parse_seconds, topics_from, ConnectionArgs, InstallArgs, VerbosityArgs,
    CONFIG_FILES, PRIORITIES, TRANSPORT_URL_ENV,
};
use super::man::{HasManual, Manual};
use crate::cli::exit::NOTIFY_EXIT_CODES;
use crate::notify::input::{parse_context, InputError};
use crate::notify::pace::{Pace, ReplayOptions};
use crate::notify::{read_payload, Given, SendConfig};
use crate::oslo::config::Drivers;
use crate::oslo::topology::DEFAULT_EXCHANGE;
use crate::wire::envelope::{Format, Priority};
use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use serde_json::Map;
use std::io::{IsTerminal, Read};
use std::time::Duration;

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
  oslo-listen --save saved/ --count 10; oslo-notify --replay saved/
  oslo-notify --replay saved/ --speed 1           # as it happened; --speed 10: ten times as fast
  oslo-notify --replay events.jsonl --rate 500 --loop 0 --rewrite-ids    # load until Ctrl-C
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
    override_usage = "oslo-notify [OPTIONS] PRIORITY EVENT_TYPE [PAYLOAD]\n       \
                      oslo-notify [OPTIONS] --lines PRIORITY EVENT_TYPE < payloads.jsonl\n       \
                      oslo-notify [OPTIONS] --replay [DIR|FILE]",
    after_help = NOTIFY_EXAMPLES,
    after_long_help = format!("{NOTIFY_EXAMPLES}\n\n{NOTIFY_EXIT_CODES}")
)]
pub struct NotifyArgs {
    /// audit, debug, info, warn (or warning), error, critical or sample; any case
    #[arg(
        value_name = "PRIORITY",
        required_unless_present_any = ["replay", "completions", "man"],
        value_parser = PRIORITIES,
        hide_possible_values = true
    )]
    pub priority: Option<Priority>,

    /// The event type, such as compute.instance.create.end
    #[arg(
        value_name = "EVENT_TYPE",
        required_unless_present_any = ["replay", "completions", "man"]
    )]
    pub event_type: Option<String>,

    /// JSON payload; @FILE reads a file; - or nothing reads stdin
    #[arg(value_name = "PAYLOAD", conflicts_with_all = ["lines", "replay"])]
    pub payload: Option<String>,

    /// Read one JSON payload per line from stdin and send each (confirms are pipelined)
    #[arg(long)]
    pub lines: bool,

    /// Read `oslo-listen --format json` lines from stdin (or from FILE), or the files of an
    /// `oslo-listen --save` DIR (in name order, which is time order), and publish each again
    /// with a new message_id (priority, event_type, publisher_id, payload and context from it)
    #[arg(
        long,
        value_name = "DIR|FILE",
        num_args = 0..=1,
        conflicts_with_all = ["lines", "priority", "event_type", "publisher_id", "context"]
    )]
    pub replay: Option<Option<std::path::PathBuf>>,

    /// With --replay: publish to each line's exchange and routing key
    #[arg(long)]
    pub keep_routing: bool,

    /// With --replay: at the recorded pace, X times as fast (1: real time, 2: twice as fast,
    /// 0.5: half), each notification scheduled from the start so that a long replay does
    /// not drift
    #[arg(long, value_name = "X", requires = "replay", value_parser = parse_positive)]
    pub speed: Option<f64>,

    /// With --replay: N notifications per second, evenly spaced, whatever their timestamps
    #[arg(long, value_name = "N", requires = "replay", conflicts_with = "speed", value_parser = parse_positive)]
    pub rate: Option<f64>,

    /// With --speed: cut any wait between two notifications to SECONDS
    #[arg(long, value_name = "SECONDS", requires = "speed", value_parser = parse_seconds)]
    pub max_gap: Option<f64>,

    /// With --replay: send the input N times (0: until interrupted)
    #[arg(
        long = "loop",
        value_name = "N",
        requires = "replay",
        default_value_t = 1
    )]
    pub loops: u64,

    /// With --replay: stop after sending N notifications
    #[arg(long, value_name = "N", requires = "replay", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,

    /// With --replay: stop after SECONDS
    #[arg(long, value_name = "SECONDS", requires = "replay", value_parser = parse_seconds)]
    pub duration: Option<f64>,

    /// With --replay: fresh ids in every pass (request ids, global request ids, instance and
    /// other UUIDs in payloads and contexts), the same old id replaced by the same new one
    /// within a pass, so that what paired still pairs and passes share no id
    #[arg(long, requires = "replay")]
    pub rewrite_ids: bool,

    /// Exchange to publish to (oslo's control_exchange) [default: the config file's
    /// control_exchange, or openstack]
    #[arg(short, long, value_name = "NAME")]
    pub exchange: Option<String>,

    /// Topic to publish to; repeat for several (one publish per topic, like oslo)
    /// [default: the config file's topics, or notifications]
    #[arg(short = 't', long = "topic", value_name = "TOPIC")]
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

    /// Seconds to wait for the broker: to connect (or reconnect), for each publisher confirm,
    /// and for it to take a notification it refused (nacked)
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30.0,
        value_parser = parse_seconds,
        allow_negative_numbers = true
    )]
    pub timeout: f64,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub verbosity: VerbosityArgs,

    #[command(flatten)]
    pub install: InstallArgs,
}

impl HasManual for NotifyArgs {
    const MANUAL: Manual = Manual {
        examples: NOTIFY_EXAMPLES,
        exit_codes: NOTIFY_EXIT_CODES,
        environment: &[TRANSPORT_URL_ENV],
        files: &[CONFIG_FILES],
    };
}

impl NotifyArgs {
    /// Turns the arguments into a [`SendConfig`]. A single payload from stdin or a file is
    /// read here, so that bad input is refused before any connection is made.
    pub fn into_config(self, stdin: impl Read) -> Result<SendConfig> {
        let replay_only = [
            ("--keep-routing", self.keep_routing),
            ("--speed", self.speed.is_some()),
            ("--rate", self.rate.is_some()),
            ("--loop", self.loops != 1),
            ("--limit", self.limit.is_some()),
            ("--duration", self.duration.is_some()),
            ("--rewrite-ids", self.rewrite_ids),
        ];
        if let Some((option, _)) = replay_only
            .iter()
            .find(|(_, given)| *given && self.replay.is_none())
        {
            return Err(InputError(format!("{option} goes with --replay")).into());
        }
        if let Some(Some(path)) = &self.replay {
            if !path.is_dir() && !path.is_file() {
                return Err(InputError(format!(
                    "--replay {}: no such directory or file (give an oslo-listen --save \
                     directory, a file of --format json lines, or lines on stdin)",
                    path.display()
                ))
                .into());
            }
        }
        let config = self.connection.read_config()?;
        if self.verbosity.verbose {
            for note in &config.unread {
                eprintln!("oslo-notify: {note}");
            }
        }
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
        if self
            .event_type
            .as_deref()
            .is_some_and(|e| e.trim().is_empty())
        {
            return Err(InputError(
                "the event type is empty (an unset shell variable?): give one such as \
                 compute.instance.create.end"
                    .into(),
            )
            .into());
        }
        // Waiting silently for a person to type looks like a hang: say what is awaited.
        let from_stdin = match self.payload.as_deref() {
            None | Some("-") => self.replay.as_ref().is_none_or(Option::is_none),
            Some(_) => false,
        } && !(self.priority.is_none() && self.replay.is_none());
        if from_stdin && !self.verbosity.quiet && std::io::stdin().is_terminal() {
            let what = if self.lines {
                "one JSON payload per line"
            } else if self.replay.is_some() {
                "oslo-listen --format json lines"
            } else {
                "the JSON payload"
            };
            eprintln!("oslo-notify: reading {what} from stdin (end with Ctrl-D)");
        }
        let input = match (self.priority, self.event_type) {
            (Some(priority), Some(event_type)) if self.lines => Given::Lines {
                priority,
                event_type,
            },
            (Some(priority), Some(event_type)) => Given::One {
                priority,
                event_type,
                payload: read_payload(self.payload.as_deref(), stdin)?,
            },
            _ => Given::Replay {
                dir: self.replay.flatten(),
                options: ReplayOptions {
                    keep_routing: self.keep_routing,
                    pace: match (self.speed, self.rate) {
                        (Some(factor), _) => Pace::Speed {
                            factor,
                            max_gap: self.max_gap.map(Duration::from_secs_f64),
                        },
                        (None, Some(rate)) => Pace::Rate(rate),
                        (None, None) => Pace::AsFast,
                    },
                    loops: self.loops,
                    limit: self.limit,
                    duration: self.duration.map(Duration::from_secs_f64),
                    rewrite_ids: self.rewrite_ids,
                },
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
            given: input,
            verbosity: self.verbosity.level(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::Durability;
    use clap::CommandFactory;

    #[test]
    fn argument_definitions_are_consistent() {
        NotifyArgs::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<NotifyArgs, clap::Error> {
        NotifyArgs::try_parse_from(std::iter::once("oslo-notify").chain(args.iter().copied()))
    }

    /// The configuration of arguments that must parse and make one.
    fn configured(args: &[&str]) -> SendConfig {
        parse(args).unwrap().into_config(&b""[..]).unwrap()
    }

    #[test]
    fn replay_takes_no_priority_or_event_type() {
        let config = configured(&["--replay", "--keep-routing"]);
        assert_eq!(
            config.given,
            Given::Replay {
                dir: None,
                options: ReplayOptions {
                    keep_routing: true,
                    ..ReplayOptions::default()
                }
            }
        );
        let saved = std::env::temp_dir();
        let config = configured(&["--replay", saved.to_str().unwrap()]);
        assert_eq!(
            config.given,
            Given::Replay {
                dir: Some(saved),
                options: ReplayOptions::default()
            }
        );
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

    #[test]
    fn replay_paces_loops_and_ends_as_asked() {
        let options = |args: &[&str]| match configured(args).given {
            Given::Replay { options, .. } => options,
            other => panic!("{other:?}"),
        };
        let paced = options(&[
            "--replay",
            "--speed",
            "10",
            "--max-gap",
            "2.5",
            "--loop",
            "0",
            "--limit",
            "100",
            "--duration",
            "60",
            "--rewrite-ids",
        ]);
        let want = ReplayOptions {
            keep_routing: false,
            pace: Pace::Speed {
                factor: 10.0,
                max_gap: Some(Duration::from_millis(2500)),
            },
            loops: 0,
            limit: Some(100),
            duration: Some(Duration::from_secs(60)),
            rewrite_ids: true,
        };
        assert_eq!(paced, want);
        assert_eq!(
            options(&["--replay", "--rate", "2000"]).pace,
            Pace::Rate(2000.0)
        );
        for bad in [
            &["--replay", "--speed", "2", "--rate", "5"][..],
            &["--replay", "--speed", "0"],
            &["--replay", "--rate", "-1"],
            &["--replay", "--max-gap", "1"],
            &["--replay", "--limit", "0"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        for (alone, option) in [
            (&["--speed", "2", "info", "e", "{}"][..], "--speed"),
            (&["--loop", "2", "info", "e", "{}"], "--loop"),
            (&["--rewrite-ids", "--lines", "info", "e"], "--rewrite-ids"),
        ] {
            let refused = parse(alone).unwrap().into_config(&b""[..]);
            let error = refused.expect_err(option).to_string();
            assert_eq!(error, format!("{option} goes with --replay"));
        }
    }

    #[test]
    fn the_seed_command_line() {
        let args = parse(&["info", "just.testing", r#"{"heavy":"payload"}"#]).unwrap();
        let config = args.into_config(&b""[..]).unwrap();
        assert_eq!(
            config.given,
            Given::One {
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
            config.given,
            Given::One {
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
            crate::cli::exit::failure_of(&bad_url),
            crate::cli::exit::Failure::Usage
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
