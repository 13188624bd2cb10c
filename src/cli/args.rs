//! What both tools take: where the broker is and how to reach it, how much to say, the
//! install helpers (completions, man page), and the parsers of values they share.

use super::man::{self, HasManual};
use crate::broker::{ConnectOptions, Durability, TlsFiles};
use crate::oslo::config::{ConfigError, OsloConfig, Setting};
use crate::oslo::topology::DEFAULT_TOPIC;
use crate::oslo::transport_url::{TransportUrl, DEFAULT_URL};
use crate::tool::talk::Verbosity;
use crate::wire::envelope::Priority;
use anyhow::{Context, Result};
use clap::{Args, CommandFactory};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments that cannot be used together, found after clap parsed them. Exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgumentError(pub String);

impl std::fmt::Display for ArgumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgumentError {}

/// Where the broker is and how to talk to it; shared by both tools.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// The oslo.messaging transport URL of the broker (flag, then env, then config file,
    /// then default).
    #[arg(
        long,
        help = "oslo.messaging transport URL: \
                rabbit://USER:PASS@HOST:PORT[,USER:PASS@HOST2:PORT]/VHOST[?ssl=1] \
                [default: the config file's, or rabbit://guest:***@localhost:5672/]",
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

    /// Trust this CA certificate (PEM) for the broker's TLS certificate, besides the
    /// system's; turns TLS on [default: the URL's ssl_ca_file, or the config file's]
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub ssl_ca_file: Option<PathBuf>,

    /// Client certificate (PEM) to present to the broker; turns TLS on [default: the URL's
    /// ssl_cert_file, or the config file's]
    #[arg(
        long,
        value_name = "FILE",
        requires = "ssl_key_file",
        help_heading = "TLS"
    )]
    pub ssl_cert_file: Option<PathBuf>,

    /// The client certificate's private key (PEM, PKCS#8); turns TLS on [default: the
    /// URL's ssl_key_file, or the config file's]
    #[arg(
        long,
        value_name = "FILE",
        requires = "ssl_cert_file",
        help_heading = "TLS"
    )]
    pub ssl_key_file: Option<PathBuf>,

    /// Do not verify the broker's certificate or host name (says so on stderr); turns TLS on
    #[arg(long, help_heading = "TLS")]
    pub insecure: bool,
}

/// How much to say on stderr; shared by both tools.
#[derive(Debug, Clone, Args)]
pub struct VerbosityArgs {
    /// Say nothing on stderr but errors and warnings
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Also say on stderr which broker was reached, what was declared, and what the
    /// broker confirmed or was acknowledged
    #[arg(short, long)]
    pub verbose: bool,
}

impl VerbosityArgs {
    /// The level asked for.
    pub fn level(&self) -> Verbosity {
        match (self.quiet, self.verbose) {
            (true, _) => Verbosity::Quiet,
            (_, true) => Verbosity::Verbose,
            _ => Verbosity::Normal,
        }
    }
}

/// What installing the tools needs, printed on request: shell completions and a man page.
#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// Print the completion script for this shell and exit
    #[arg(long, value_name = "SHELL", help_heading = "Installation")]
    pub completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) and exit
    #[arg(long, help_heading = "Installation")]
    pub man: bool,
}

impl InstallArgs {
    /// Writes what was asked for, for the tool whose arguments are `C`, to `out`; `None`
    /// when nothing was asked for.
    pub fn write<C: CommandFactory + HasManual>(&self, out: &mut impl Write) -> Option<Result<()>> {
        let mut command = C::command();
        let name = command.get_name().to_owned();
        if let Some(shell) = self.completions {
            // Into memory first: clap_complete panics when its writer fails (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, name.clone(), &mut script);
            let written = out.write_all(&script).and_then(|()| out.flush());
            return Some(written.with_context(|| format!("writing {name}'s completions")));
        }
        if self.man {
            let written = man::render(command, &C::MANUAL, out).and_then(|()| out.flush());
            return Some(written.with_context(|| format!("writing {name}'s man page")));
        }
        None
    }
}

/// The config files a service has, which `--config-file` reads (for a man page's FILES).
pub(super) const CONFIG_FILES: (&str, &str) = (
    "/etc/nova/nova.conf, /etc/neutron/neutron.conf, ...",
    "A service's oslo.config file, read when given with --config-file: its transport_url, \
     control_exchange, notification driver and topics, and RabbitMQ TLS and queue options.",
);

/// The transport URL's variable (for a man page's ENVIRONMENT).
pub(super) const TRANSPORT_URL_ENV: (&str, &str) = (
    "OSLO_TRANSPORT_URL",
    "The transport URL when --transport-url is not given; wins over a config file's.",
);

/// A value parser from a parse function, offering a fixed list of names to help and shell
/// completions (the parse function may take more than those names).
#[derive(Clone, Copy)]
pub(crate) struct NamedValues<T> {
    parse: fn(&str) -> Result<T, String>,
    names: fn() -> Vec<&'static str>,
}

impl<T> NamedValues<T> {
    pub(crate) const fn new(
        parse: fn(&str) -> Result<T, String>,
        names: fn() -> Vec<&'static str>,
    ) -> Self {
        NamedValues { parse, names }
    }
}

impl<T: Clone + Send + Sync + 'static> clap::builder::TypedValueParser for NamedValues<T> {
    type Value = T;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let text = clap::builder::StringValueParser::new().parse_ref(command, arg, value)?;
        (self.parse)(&text).map_err(|e| {
            clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{e}\n"))
                .with_cmd(command)
        })
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            (self.names)()
                .into_iter()
                .map(clap::builder::PossibleValue::new),
        ))
    }
}

/// Priorities, as [`Priority`]'s `FromStr` reads them; the seven names offered.
pub(crate) const PRIORITIES: NamedValues<Priority> = NamedValues::new(
    |text| text.parse::<Priority>().map_err(|e| e.to_string()),
    || Priority::ALL.iter().map(|p| p.name()).collect(),
);

pub(super) fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 && seconds <= 1e9 => Ok(seconds),
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

/// A positive finite number (`--speed`, `--rate`).
pub(super) fn parse_positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 && value <= 1e9 => Ok(value),
        _ => Err(format!("{text:?} is not a positive number")),
    }
}

/// The connection settings once flags, env, config files and defaults are weighed.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
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

    /// Whether the TLS flags (or `config`'s `ssl`) ask for TLS whatever the URL says.
    pub fn wants_tls(&self, config: &OsloConfig) -> bool {
        let tls_flags = self.ssl_ca_file.is_some() || self.ssl_cert_file.is_some() || self.insecure;
        tls_flags || config.ssl.as_ref().is_some_and(|s| s.value)
    }

    /// Weighs the flags and env against `config` and the defaults; each wait for one host
    /// lasts at most `timeout`.
    pub fn resolve(&self, config: &OsloConfig, timeout: Duration) -> Result<ConnectionSettings> {
        let mut url = match (&self.transport_url, config.notification_transport_url()) {
            (Some(text), _) => TransportUrl::parse(text)?,
            (None, Some(setting)) => TransportUrl::parse(&setting.value)
                .with_context(|| format!("in {}", setting.origin))?,
            (None, None) => TransportUrl::parse(DEFAULT_URL)?,
        };
        if self.wants_tls(config) && !url.tls {
            url.enable_tls();
        }
        let file = |flag: &Option<PathBuf>,
                    from_url: Option<&str>,
                    from_config: &Option<Setting<String>>| {
            flag.clone()
                .or_else(|| from_url.map(PathBuf::from))
                .or_else(|| from_config.as_ref().map(|s| PathBuf::from(&s.value)))
        };
        let tls = TlsFiles {
            ca_file: file(
                &self.ssl_ca_file,
                url.query_value("ssl_ca_file"),
                &config.ssl_ca_file,
            ),
            cert_file: file(
                &self.ssl_cert_file,
                url.query_value("ssl_cert_file"),
                &config.ssl_cert_file,
            ),
            key_file: file(
                &self.ssl_key_file,
                url.query_value("ssl_key_file"),
                &config.ssl_key_file,
            ),
            insecure: self.insecure,
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
        Ok(ConnectionSettings {
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
pub(super) fn topics_from(given: Vec<String>, config: &OsloConfig) -> Vec<String> {
    if !given.is_empty() {
        return given;
    }
    match &config.topics {
        Some(setting) if !setting.value.is_empty() => setting.value.clone(),
        _ => vec![DEFAULT_TOPIC.to_owned()],
    }
}
