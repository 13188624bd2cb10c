//! `oslo-listen`'s arguments, and the configuration they make.

mod values;

use super::args::{
    parse_seconds, topics_from, ArgumentError, ConnectionArgs, InstallArgs, VerbosityArgs,
    CONFIG_FILES, PRIORITIES, TRANSPORT_URL_ENV,
};
use super::man::{HasManual, Manual};
use crate::cli::exit::LISTEN_EXIT_CODES;
use crate::engine::receive::stored::Stored;
use crate::engine::receive::Source;
use crate::listen::filter::Filter;
use crate::listen::metrics::{MetricsOptions, DEFAULT_MAX_SERIES};
use crate::listen::output::{OutputFormat, Printer};
use crate::listen::predicate::Predicate;
use crate::listen::{FromOptions, ListenConfig, TopOptions};
use crate::oslo::topology::Mode;
use crate::wire::envelope::Priority;
use anyhow::Result;
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;
pub use values::ByArg;
use values::{parse_predicate, parse_source, FORMATS};

const LISTEN_EXAMPLES: &str = "\
Examples:
  oslo-listen --topic notifications
  oslo-listen --json --event-type 'compute.instance.*' | jq .payload.instance_id
  oslo-listen --exchange nova --priority error,critical --format payload
  oslo-listen --shared --count 1 --timeout 60    # take one from the shared queues
  oslo-listen --pool audit-log --json >> audit.jsonl
  oslo-listen --top --exchange nova --exchange neutron    # live traffic view
  oslo-listen --top --by publisher_id --timeout 60 | tail -n 1 | jq .rows
  oslo-listen --source east=rabbit://u:p@east:5672/ --source west=rabbit://u:p@west:5672/ --json
  oslo-listen --shared --pool metrics --format none --metrics 127.0.0.1:9571    # exporter

Waiting for an event in CI, in one command (the command after -- starts once listening):
  oslo-listen --exchange nova --topic versioned_notifications --unwrap --json \\
      --where '.event_type == \"instance.create.end\" and .payload.display_name == \"vm1\"' \\
      --fail-on '.event_type == \"instance.create.error\"' --count 1 --timeout 300 \\
      -- openstack server create --flavor m1.tiny --image cirros vm1 > event.json";

/// Print OpenStack notifications as they arrive.
///
/// By default it reads through a private queue of its own (tap), bound like the shared
/// queues, so it takes nothing from other consumers and leaves nothing behind.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "oslo-listen",
    version,
    after_help = LISTEN_EXAMPLES,
    after_long_help = format!("{LISTEN_EXAMPLES}\n\n{LISTEN_EXIT_CODES}")
)]
pub struct ListenArgs {
    /// Topic to listen to; repeat for several [default: the config file's topics, or
    /// notifications]
    #[arg(short = 't', long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,

    /// Priorities to listen to, comma-separated [default: all seven]
    #[arg(
        long = "priority",
        value_name = "LIST",
        value_delimiter = ',',
        value_parser = PRIORITIES,
        hide_possible_values = true
    )]
    pub priorities: Vec<Priority>,

    /// Read this broker too, naming what comes from it NAME (letters, digits, -, _, .): a
    /// full transport URL each; repeat for several, read at once (--transport-url, the
    /// environment's and the config file's URL are then not used)
    #[arg(long = "source", value_name = "NAME=URL", conflicts_with = "from")]
    pub sources: Vec<String>,

    /// With --source: a source that cannot be reached at the start is tried again, while the
    /// others are read, instead of ending the run (exit 3)
    #[arg(long, requires = "sources")]
    pub partial: bool,

    /// Exchange to listen on; repeat for several [default: the config file's
    /// control_exchange, or openstack and the OpenStack service exchanges that exist]
    #[arg(short, long = "exchange", value_name = "NAME")]
    pub exchanges: Vec<String>,

    /// Consume the shared TOPIC.PRIORITY queues, as an oslo listener does (competes with
    /// other consumers; sees what was sent before it started)
    #[arg(long, conflicts_with = "pool")]
    pub shared: bool,

    /// Consume the queue of this oslo listener pool (every pool gets a copy)
    #[arg(long, value_name = "NAME")]
    pub pool: Option<String>,

    /// Show a live view of the traffic instead of each notification: rows per event type
    /// (or --by), operations (.start/.end pairs with their durations) and the depth of the
    /// shared queues. Full-screen on a terminal (q quits, s sorts, b groups, p pauses, Enter
    /// shows a row's last notification); elsewhere a JSON object per --interval
    #[arg(long, conflicts_with_all = ["format", "json", "save", "fail_on", "command"])]
    pub top: bool,

    /// With --top: what rows are grouped by
    #[arg(
        long,
        value_name = "FIELD",
        default_value = "event_type",
        requires = "top"
    )]
    pub by: ByArg,

    /// With --top: seconds between two updates
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = parse_seconds, requires = "top", allow_negative_numbers = true)]
    pub interval: f64,

    /// With --top or --metrics: seconds in flight after which an operation is stale
    /// [default: 600]
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, allow_negative_numbers = true)]
    pub stale: Option<f64>,

    /// Serve running figures as Prometheus metrics on http://ADDR/metrics (e.g.
    /// 127.0.0.1:9571; port 0 picks one, said on stderr): notifications per event type, operation
    /// durations, operations in flight and stale, queue depths, connections. With
    /// --format none, an exporter that prints nothing
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["from", "timeline"])]
    pub metrics: Option<String>,

    /// With --metrics: at most this many label sets; updates that would create more are
    /// counted in oslo_listen_series_dropped_total
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_SERIES, requires = "metrics")]
    pub metrics_max_series: usize,

    /// Read notifications saved by oslo-listen instead of a broker: a --save directory, a
    /// file of --format json lines, or - for stdin. Ends at the end of the input; what is not
    /// a notification is said (with its file and line) and skipped
    #[arg(long, value_name = "PATH", conflicts_with_all = ["shared", "pool", "prefetch", "command"])]
    pub from: Option<PathBuf>,

    /// Show only the notifications of this request id, global request id, or instance (or
    /// resource) id, as a timeline: a row each, in time order, with the time since the first,
    /// the service, the state and each step's duration, then a summary; repeat for several
    #[arg(long = "timeline", value_name = "ID", conflicts_with_all = ["top", "save", "command"])]
    pub timeline: Vec<String>,

    /// Output format: pretty, json, payload, raw, none, or a template such as
    /// '{timestamp} {priority} {event_type} {payload.instance_id}' (fields: timestamp,
    /// priority, PRIORITY, event_type, publisher_id, message_id, exchange, routing_key,
    /// source, payload and context, with dotted paths into the last two)
    #[arg(
        short,
        long,
        value_name = "FORMAT",
        default_value = "pretty",
        value_parser = FORMATS,
        hide_possible_values = true
    )]
    pub format: OutputFormat,

    /// Same as --format json
    #[arg(short, long, conflicts_with = "format")]
    pub json: bool,

    /// Also write each notification to a file of its own in DIR (created when missing),
    /// as a --format json object, for oslo-notify --replay DIR
    #[arg(long, value_name = "DIR")]
    pub save: Option<std::path::PathBuf>,

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

    /// Only notifications for which this jq program's first output is neither false nor
    /// null, run on the object --format json prints (priority, event_type, publisher_id,
    /// payload, metadata, context, exchange, routing_key); repeat for several, all must hold
    #[arg(long = "where", value_name = "FILTER", value_parser = parse_predicate)]
    pub wheres: Vec<Predicate>,

    /// Exit 5 at once, after printing it, on a notification for which this jq program holds
    /// (checked before every other filter); repeat for several
    #[arg(long = "fail-on", value_name = "FILTER", value_parser = parse_predicate)]
    pub fail_on: Vec<Predicate>,

    /// Replace every versioned object in payloads (nova_object.name/.data, ...) by its data
    /// and an "@object" member naming it, for printing, --save, --where and --fail-on
    #[arg(long)]
    pub unwrap: bool,

    /// Exit 0 after this many matching notifications
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Stop after this many seconds: exit 4 if --count was not reached, 0 without --count
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, allow_negative_numbers = true)]
    pub timeout: Option<f64>,

    /// How many unacknowledged messages to take at once per queue
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..))]
    pub prefetch: u16,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub verbosity: VerbosityArgs,

    #[command(flatten)]
    pub install: InstallArgs,

    /// A command to run once listening (so that nothing it causes is missed): its stdout
    /// goes to stderr; oslo-listen exits 6 if it fails, and waits for it after --count
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

impl HasManual for ListenArgs {
    const MANUAL: Manual = Manual {
        examples: LISTEN_EXAMPLES,
        exit_codes: LISTEN_EXIT_CODES,
        environment: &[
            TRANSPORT_URL_ENV,
            (
                "NO_COLOR",
                "When set and not empty, no colours (pretty output and --top).",
            ),
        ],
        files: &[
            CONFIG_FILES,
            (
                "DIR given to --save",
                "One --format json object per file, named by time, for oslo-notify --replay DIR.",
            ),
        ],
    };
}

/// Seconds in flight after which an operation is stale, unless --stale says.
const DEFAULT_STALE: f64 = 600.0;

/// How long to wait for one host when no --timeout bounds it.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

impl ListenArgs {
    /// Turns the arguments into a [`ListenConfig`]. `terminal` says whether stdout is a
    /// terminal, and `no_color` whether NO_COLOR asks for no colour.
    pub fn into_config(mut self, terminal: bool, no_color: bool) -> Result<ListenConfig> {
        self.check_from()?;
        if !self.timeline.is_empty() && !matches!(self.format, OutputFormat::Pretty) {
            return Err(ArgumentError(
                "--timeline writes a table, or JSON with --json; it takes no other --format".into(),
            )
            .into());
        }
        if self.stale.is_some() && !self.top && self.metrics.is_none() {
            return Err(ArgumentError("--stale goes with --top or --metrics".into()).into());
        }
        let stale = Duration::from_secs_f64(self.stale.unwrap_or(DEFAULT_STALE));
        let config = self.connection.read_config()?;
        if self.verbosity.verbose {
            for note in &config.unread {
                eprintln!("oslo-listen: {note}");
            }
        }
        let sources = self.named_sources(self.connection.wants_tls(&config))?;
        if !sources.is_empty() || self.from.is_some() {
            // Not used: the environment's URL is not even read (the rest of the connection
            // settings are).
            self.connection.transport_url = None;
        }
        let connection = self.connection.resolve(&config, DEFAULT_CONNECT_TIMEOUT)?;
        let sources = match sources.is_empty() {
            true => vec![Source::unnamed(connection.url)],
            false => sources,
        };
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
            OutputFormat::Json
        } else {
            self.format
        };
        let timeout = self.timeout.map(Duration::from_secs_f64);
        let from = self.from.as_deref().map(|path| FromOptions {
            input: Stored::at(path),
            exchanges: self.exchanges.clone(),
            topics: self.topics.clone(),
        });
        let exchanges = match (self.exchanges.is_empty(), config.control_exchange.clone()) {
            (true, Some(setting)) => vec![setting.value],
            _ => self.exchanges,
        };
        Ok(ListenConfig {
            connect: connection.options,
            durability: connection.durability,
            sources,
            partial: self.partial,
            mode,
            exchanges,
            topics: topics_from(self.topics, &config),
            priorities,
            printer: Printer {
                format,
                color: terminal && !no_color,
                escape_controls: terminal,
                show_secrets: self.show_secrets,
            },
            filter,
            count: self.count,
            timeout,
            prefetch: self.prefetch,
            save: self.save,
            verbosity: self.verbosity.level(),
            wheres: self.wheres,
            fail_on: self.fail_on,
            unwrap: self.unwrap,
            command: self.command,
            top: self.top.then(|| TopOptions {
                by: self.by.into(),
                interval: Duration::from_secs_f64(self.interval),
                stale,
            }),
            from,
            timeline: self.timeline,
            metrics: self.metrics.map(|address| MetricsOptions {
                address,
                max_series: self.metrics_max_series,
                stale,
            }),
        })
    }

    /// The `--source NAME=URL`s: names of the allowed characters, each once; each URL an
    /// oslo transport URL (with TLS when `tls` asks for it). Nothing when none is given.
    fn named_sources(&self, tls: bool) -> Result<Vec<Source>> {
        if !self.sources.is_empty() && self.transport_url_given() {
            return Err(ArgumentError(
                "--source names every broker to read: --transport-url cannot be used with it"
                    .into(),
            )
            .into());
        }
        let mut sources: Vec<Source> = Vec::with_capacity(self.sources.len());
        for text in &self.sources {
            let mut source = parse_source(text)?;
            if sources.iter().any(|s| s.name == source.name) {
                return Err(ArgumentError(format!(
                    "--source {}: the name is given twice; each source needs a name of its own",
                    source.name
                ))
                .into());
            }
            if tls && !source.url.tls {
                source.url.enable_tls();
            }
            sources.push(source);
        }
        Ok(sources)
    }

    /// Whether `--transport-url` was given on the command line (not only in the
    /// environment).
    fn transport_url_given(&self) -> bool {
        let from_environment = std::env::var(TRANSPORT_URL_ENV.0).ok();
        self.connection.transport_url.is_some() && self.connection.transport_url != from_environment
    }

    /// `--from`: the path must be there, and no transport URL may be given on the command
    /// line (one from the environment is left unused).
    fn check_from(&self) -> Result<(), ArgumentError> {
        let Some(path) = &self.from else {
            return Ok(());
        };
        if self.transport_url_given() {
            return Err(ArgumentError(
                "--from reads saved notifications and connects to no broker: \
                 --transport-url cannot be used with it"
                    .into(),
            ));
        }
        if path.as_os_str() != "-" && !path.exists() {
            return Err(ArgumentError(format!(
                "--from {}: no such file or directory",
                path.display()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn argument_definitions_are_consistent() {
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
            crate::cli::exit::failure_of(&bad_glob),
            crate::cli::exit::Failure::Usage
        );
    }

    #[test]
    fn metrics_take_an_address_a_cap_and_the_stale_time() {
        let config = listen(&["--metrics", "127.0.0.1:9571", "--format", "none"]).unwrap();
        let want = MetricsOptions {
            address: "127.0.0.1:9571".into(),
            max_series: 10_000,
            stale: Duration::from_secs(600),
        };
        assert_eq!(config.metrics, Some(want));
        assert_eq!(config.printer.format, OutputFormat::None);
        let config = listen(&[
            "--metrics",
            "[::1]:0",
            "--metrics-max-series",
            "50",
            "--stale",
            "30",
        ])
        .unwrap();
        let metrics = config.metrics.unwrap();
        assert_eq!(
            (metrics.max_series, metrics.stale),
            (50, Duration::from_secs(30))
        );
        // --stale goes with --top or --metrics; the cap with --metrics.
        assert_eq!(
            listen(&["--top", "--stale", "5"])
                .unwrap()
                .top
                .unwrap()
                .stale,
            Duration::from_secs(5)
        );
        let alone = listen(&["--stale", "5"]).unwrap_err();
        assert_eq!(
            crate::cli::exit::failure_of(&alone),
            crate::cli::exit::Failure::Usage
        );
        assert!(listen(&["--metrics-max-series", "5"]).is_err());
        assert!(listen(&["--metrics", "127.0.0.1:0", "--from", "x.jsonl"]).is_err());
        assert!(listen(&["--metrics", "127.0.0.1:0", "--timeline", "req-1"]).is_err());
        assert_eq!(listen(&[]).unwrap().metrics, None);
    }

    #[test]
    fn sources_are_named_urls_each_name_once() {
        let config = listen(&[
            "--source",
            "east=rabbit://u:secret@east-a:5672,u:secret@east-b:5672/nova",
            "--source",
            "west.2=rabbit://guest:guest@west:5673/?ssl=1",
        ])
        .unwrap();
        let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["east", "west.2"]);
        assert_eq!(config.sources[0].url.hosts.len(), 2);
        assert!(config.sources[1].url.tls);
        assert!(!config.partial);
        let unnamed = listen(&[]).unwrap();
        assert_eq!(unnamed.sources.len(), 1);
        assert_eq!(unnamed.sources[0].name, "");
        let partial = listen(&["--source", "a=rabbit://h/", "--partial"]).unwrap();
        assert!(partial.partial);
        assert!(listen(&["--partial"]).is_err());
        assert!(listen(&["--source", "east=rabbit://h/", "--from", "."]).is_err());
        let both = listen(&[
            "--transport-url",
            "rabbit://h/",
            "--source",
            "a=rabbit://h/",
        ]);
        assert!(format!("{:#}", both.unwrap_err()).contains("--transport-url cannot be used"));
        for bad in [
            &[
                "--source",
                "east=rabbit://u:hunter2@h/",
                "--source",
                "east=rabbit://h2/",
            ][..],
            &["--source", "ea st=rabbit://u:hunter2@h/"],
            &["--source", "=rabbit://u:hunter2@h/"],
            &["--source", "rabbit://u:hunter2@h/"],
            &["--source", "east=http://u:hunter2@h/"],
        ] {
            let error = listen(bad).unwrap_err();
            let text = format!("{error:#}");
            assert!(!text.contains("hunter2"), "{bad:?}: {text}");
            assert_eq!(
                crate::cli::exit::failure_of(&error),
                crate::cli::exit::Failure::Usage,
                "{bad:?}: {text}"
            );
        }
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
}
