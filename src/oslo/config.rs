//! A service's own configuration (`nova.conf`, `neutron.conf`, ...): the subset of
//! oslo.config's INI syntax and options that says where and how notifications are sent.
//!
//! Read: `[DEFAULT] transport_url, control_exchange`; `[oslo_messaging_notifications] driver,
//! topics, transport_url`; `[oslo_messaging_rabbit] ssl, ssl_ca_file, ssl_cert_file,
//! ssl_key_file, amqp_durable_queues, rabbit_quorum_queue, heartbeat_timeout_threshold`.
//! Several files may be given; a later file's value wins, as with oslo.config. Pure: the
//! caller reads the files.

use crate::wire::envelope::Format;
use std::fmt;

/// A file that cannot be used, naming the file, and the section and key when there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// Where in it, such as `line 7` or `[oslo_messaging_rabbit] ssl`.
    pub place: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Some(place) => write!(f, "config file {}: {place}: {}", self.file, self.reason),
            None => write!(f, "config file {}: {}", self.file, self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A value and where it was set, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    /// The value.
    pub value: T,
    /// `FILE [SECTION] KEY`.
    pub origin: String,
}

/// What the notification settings of a service's configuration files say. `None` is "not
/// set in any file".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsloConfig {
    /// `[DEFAULT] transport_url`.
    pub transport_url: Option<Setting<String>>,
    /// `[DEFAULT] control_exchange`.
    pub control_exchange: Option<Setting<String>>,
    /// `[oslo_messaging_notifications] driver` (a multi-valued option: every line counts).
    pub drivers: Option<Setting<Vec<String>>>,
    /// `[oslo_messaging_notifications] topics`.
    pub topics: Option<Setting<Vec<String>>>,
    /// `[oslo_messaging_notifications] transport_url`, which wins over `[DEFAULT]`'s.
    pub notifications_transport_url: Option<Setting<String>>,
    /// `[oslo_messaging_rabbit] ssl`.
    pub ssl: Option<Setting<bool>>,
    /// `[oslo_messaging_rabbit] ssl_ca_file`.
    pub ssl_ca_file: Option<Setting<String>>,
    /// `[oslo_messaging_rabbit] ssl_cert_file`.
    pub ssl_cert_file: Option<Setting<String>>,
    /// `[oslo_messaging_rabbit] ssl_key_file`.
    pub ssl_key_file: Option<Setting<String>>,
    /// `[oslo_messaging_rabbit] amqp_durable_queues`.
    pub amqp_durable_queues: Option<Setting<bool>>,
    /// `[oslo_messaging_rabbit] rabbit_quorum_queue`.
    pub rabbit_quorum_queue: Option<Setting<bool>>,
    /// `[oslo_messaging_rabbit] heartbeat_timeout_threshold`, in seconds.
    pub heartbeat_timeout_threshold: Option<Setting<u16>>,
    /// What was in the files and not read, one line each for `-v`: options of the messaging
    /// sections the tools do not use, and names one or two letters away from one they do
    /// (a typo silently leaves the default in place, as oslo.config ignores unknown names).
    pub unread: Vec<String>,
}

/// The sections the tools read, and the options of each.
const READ: [(&str, &[&str]); 3] = [
    ("DEFAULT", &["transport_url", "control_exchange"]),
    (
        "oslo_messaging_notifications",
        &["transport_url", "topics", "driver"],
    ),
    (
        "oslo_messaging_rabbit",
        &[
            "ssl",
            "ssl_ca_file",
            "ssl_cert_file",
            "ssl_key_file",
            "amqp_durable_queues",
            "rabbit_quorum_queue",
            "heartbeat_timeout_threshold",
        ],
    ),
];

/// How many single-letter edits turn `a` into `b` (Levenshtein).
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The name among `known` that `name` is one or two edits from, if any.
fn near<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .find(|k| (1..=2).contains(&edits(&name.to_ascii_lowercase(), k)))
}

/// Why `section`/`key` (not read) deserves a line, if it does.
fn unread_note(section: &str, key: &str) -> Option<String> {
    match READ.iter().find(|(s, _)| *s == section) {
        Some((_, keys)) => match near(key, keys.iter().copied()) {
            Some(meant) => Some(format!(
                "[{section}] {key} is not read: did you mean {meant}?"
            )),
            // The other options of [DEFAULT] are the service's own.
            None if section == "DEFAULT" => None,
            None => Some(format!("[{section}] {key} is not read by these tools")),
        },
        None => near(section, READ.iter().map(|(s, _)| *s))
            .map(|meant| format!("[{section}] is not read: did you mean [{meant}]?")),
    }
}

/// What the configured notification drivers amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drivers {
    /// No driver is configured: the caller's default applies.
    Unset,
    /// Notifications go on the bus in this format.
    Messaging(Format),
    /// No driver puts notifications on the bus (`noop`, or only `log`, `routing`, `test`).
    Disabled(Setting<Vec<String>>),
}

/// One `key = value` of an INI file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    section: String,
    key: String,
    value: String,
    line: usize,
}

fn error(file: &str, place: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_owned(),
        place: Some(place.into()),
        reason: reason.into(),
    }
}

/// Parses oslo.config's INI syntax: `[section]` headers, `key = value` or `key: value`
/// lines, `#` and `;` comment lines, values continued on indented lines, surrounding quotes
/// stripped.
fn parse_ini(file: &str, text: &str) -> Result<Vec<Entry>, ConfigError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut section: Option<String> = None;
    // Whether an indented line continues the last entry (as oslo.config's parser: only
    // right after a value of the same section).
    let mut continuable = false;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match entries.last_mut() {
                Some(last) if continuable => {
                    last.value.push('\n');
                    last.value.push_str(trimmed);
                    continue;
                }
                _ => {
                    return Err(error(
                        file,
                        format!("line {number}"),
                        "an indented line continues no value",
                    ))
                }
            }
        }
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        continuable = !trimmed.starts_with('[');
        if let Some(rest) = trimmed.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| {
                    error(
                        file,
                        format!("line {number}"),
                        "a section header lacks its ']'",
                    )
                })?
                .trim();
            if name.is_empty() {
                return Err(error(
                    file,
                    format!("line {number}"),
                    "a section has no name",
                ));
            }
            section = Some(name.to_owned());
            continue;
        }
        let split = trimmed.find(['=', ':']).ok_or_else(|| {
            error(
                file,
                format!("line {number}"),
                format!("expected 'key = value', found {trimmed:?}"),
            )
        })?;
        let (key, value) = (trimmed[..split].trim(), trimmed[split + 1..].trim());
        if key.is_empty() {
            return Err(error(file, format!("line {number}"), "a value has no key"));
        }
        let section = section.clone().ok_or_else(|| {
            error(
                file,
                format!("line {number}"),
                "a value comes before any [section]",
            )
        })?;
        let value = match value.as_bytes() {
            [q, .., e] if q == e && (*q == b'"' || *q == b'\'') => &value[1..value.len() - 1],
            _ => value,
        };
        entries.push(Entry {
            section,
            key: key.to_owned(),
            value: value.to_owned(),
            line: number,
        });
    }
    Ok(entries)
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "yes" => Some(true),
        "false" | "0" | "off" | "no" => Some(false),
        _ => None,
    }
}

fn parse_list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl OsloConfig {
    /// Reads one file's settings over what earlier files set.
    ///
    /// ```
    /// use oslo_notify::config::{Drivers, OsloConfig};
    /// use oslo_notify::envelope::Format;
    ///
    /// let mut config = OsloConfig::default();
    /// config.read("nova.conf", "[DEFAULT]\ncontrol_exchange = nova\n\
    ///     [oslo_messaging_notifications]\ndriver = messagingv2\n").unwrap();
    /// assert_eq!(config.control_exchange.unwrap().value, "nova");
    /// ```
    pub fn read(&mut self, file: &str, text: &str) -> Result<(), ConfigError> {
        let mut drivers: Option<Setting<Vec<String>>> = None;
        for entry in parse_ini(file, text)? {
            let origin = format!("{file} [{}] {}", entry.section, entry.key);
            let place = format!("[{}] {} (line {})", entry.section, entry.key, entry.line);
            let string = || {
                Some(Setting {
                    value: entry.value.clone(),
                    origin: origin.clone(),
                })
            };
            let boolean = || -> Result<Option<Setting<bool>>, ConfigError> {
                let value = parse_bool(&entry.value).ok_or_else(|| {
                    error(
                        file,
                        place.clone(),
                        format!("{:?} is not a boolean (true or false)", entry.value),
                    )
                })?;
                Ok(Some(Setting {
                    value,
                    origin: origin.clone(),
                }))
            };
            match (entry.section.as_str(), entry.key.as_str()) {
                ("DEFAULT", "transport_url") => self.transport_url = string(),
                ("DEFAULT", "control_exchange") => self.control_exchange = string(),
                ("oslo_messaging_notifications", "transport_url") => {
                    self.notifications_transport_url = string()
                }
                ("oslo_messaging_notifications", "topics") => {
                    self.topics = Some(Setting {
                        value: parse_list(&entry.value),
                        origin,
                    })
                }
                ("oslo_messaging_notifications", "driver") => {
                    // A multi-valued option: every line adds a driver; a file replaces the
                    // drivers of earlier files.
                    let drivers = drivers.get_or_insert_with(|| Setting {
                        value: Vec::new(),
                        origin: origin.clone(),
                    });
                    drivers.value.extend(parse_list(&entry.value));
                }
                ("oslo_messaging_rabbit", "ssl") => self.ssl = boolean()?,
                ("oslo_messaging_rabbit", "ssl_ca_file") => self.ssl_ca_file = string(),
                ("oslo_messaging_rabbit", "ssl_cert_file") => self.ssl_cert_file = string(),
                ("oslo_messaging_rabbit", "ssl_key_file") => self.ssl_key_file = string(),
                ("oslo_messaging_rabbit", "amqp_durable_queues") => {
                    self.amqp_durable_queues = boolean()?
                }
                ("oslo_messaging_rabbit", "rabbit_quorum_queue") => {
                    self.rabbit_quorum_queue = boolean()?
                }
                ("oslo_messaging_rabbit", "heartbeat_timeout_threshold") => {
                    let value = entry.value.parse::<u16>().map_err(|_| {
                        error(
                            file,
                            place.clone(),
                            format!(
                                "{:?} is not a whole number of seconds (0 to 65535)",
                                entry.value
                            ),
                        )
                    })?;
                    self.heartbeat_timeout_threshold = Some(Setting { value, origin });
                }
                (section, key) => {
                    if let Some(note) = unread_note(section, key) {
                        let note = format!("{file} line {}: {note}", entry.line);
                        // A misspelt section is said once, not for each of its options.
                        let said = note.contains("is not read: did you mean [")
                            && self.unread.iter().any(|n| {
                                n.starts_with(&format!("{file} "))
                                    && n.contains(&format!("[{section}] is"))
                            });
                        if !said {
                            self.unread.push(note);
                        }
                    }
                }
            }
        }
        if drivers.is_some() {
            self.drivers = drivers;
        }
        Ok(())
    }

    /// The transport URL for notifications: `[oslo_messaging_notifications]`'s, else
    /// `[DEFAULT]`'s.
    pub fn notification_transport_url(&self) -> Option<&Setting<String>> {
        self.notifications_transport_url
            .as_ref()
            .or(self.transport_url.as_ref())
    }

    /// What the configured drivers amount to.
    pub fn drivers(&self) -> Drivers {
        let Some(drivers) = &self.drivers else {
            return Drivers::Unset;
        };
        let has = |name: &str| drivers.value.iter().any(|d| d == name);
        if has("messagingv2") {
            Drivers::Messaging(Format::V2)
        } else if has("messaging") {
            Drivers::Messaging(Format::V1)
        } else if drivers.value.is_empty() {
            Drivers::Unset
        } else {
            Drivers::Disabled(drivers.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOVA_CONF: &str = r#"
[DEFAULT]
# Where RPC goes
transport_url = rabbit://nova:s3cret@ctl1:5672,nova:s3cret@ctl2:5672,nova:s3cret@ctl3:5672/nova
control_exchange = nova
debug = True

[oslo_messaging_notifications]
driver = messagingv2
topics = notifications,versioned_notifications

[oslo_messaging_rabbit]
amqp_durable_queues = true
rabbit_quorum_queue: False
heartbeat_timeout_threshold = 30
ssl = "false"

[database]
connection = mysql+pymysql://nova:pw@db/nova
"#;

    fn read(files: &[(&str, &str)]) -> Result<OsloConfig, ConfigError> {
        let mut config = OsloConfig::default();
        for (name, text) in files {
            config.read(name, text)?;
        }
        Ok(config)
    }

    #[test]
    fn a_nova_conf() {
        let config = read(&[("nova.conf", NOVA_CONF)]).unwrap();
        let url = config.notification_transport_url().unwrap();
        assert!(url.value.starts_with("rabbit://nova:s3cret@ctl1:5672,"));
        assert_eq!(url.origin, "nova.conf [DEFAULT] transport_url");
        assert_eq!(config.control_exchange.unwrap().value, "nova");
        assert_eq!(
            config.topics.unwrap().value,
            ["notifications", "versioned_notifications"]
        );
        assert!(config.amqp_durable_queues.unwrap().value);
        assert!(!config.rabbit_quorum_queue.unwrap().value);
        assert_eq!(config.heartbeat_timeout_threshold.unwrap().value, 30);
        assert!(!config.ssl.unwrap().value);
        assert_eq!(
            read(&[("nova.conf", NOVA_CONF)]).unwrap().drivers(),
            Drivers::Messaging(Format::V2)
        );
    }

    #[test]
    fn later_files_win_and_notifications_url_beats_default() {
        let config = read(&[
            ("nova.conf", NOVA_CONF),
            (
                "override.conf",
                "[DEFAULT]\ncontrol_exchange = nova-cell1\n[oslo_messaging_notifications]\n\
                 transport_url = rabbit://notify:pw@mq/\ndriver = messaging\n",
            ),
        ])
        .unwrap();
        assert_eq!(
            config.control_exchange.as_ref().unwrap().value,
            "nova-cell1"
        );
        let url = config.notification_transport_url().unwrap();
        assert_eq!(url.value, "rabbit://notify:pw@mq/");
        assert_eq!(
            url.origin,
            "override.conf [oslo_messaging_notifications] transport_url"
        );
        assert_eq!(config.drivers(), Drivers::Messaging(Format::V1));
        assert_eq!(
            config.topics.unwrap().value.len(),
            2,
            "kept from the first file"
        );
    }

    #[test]
    fn drivers_are_multi_valued_and_noop_disables() {
        let config = read(&[(
            "a.conf",
            "[oslo_messaging_notifications]\ndriver = log\ndriver = messagingv2\n",
        )])
        .unwrap();
        assert_eq!(config.drivers(), Drivers::Messaging(Format::V2));
        let config =
            read(&[("a.conf", "[oslo_messaging_notifications]\ndriver = noop\n")]).unwrap();
        assert!(
            matches!(config.drivers(), Drivers::Disabled(s) if s.origin == "a.conf [oslo_messaging_notifications] driver")
        );
        let config = read(&[("a.conf", "[oslo_messaging_notifications]\ndriver = log\n")]).unwrap();
        assert!(matches!(config.drivers(), Drivers::Disabled(_)));
        let config = read(&[("a.conf", "[DEFAULT]\ndebug = true\n")]).unwrap();
        assert_eq!(config.drivers(), Drivers::Unset);
        let config = read(&[
            ("a.conf", "[oslo_messaging_notifications]\ndriver = noop\n"),
            (
                "b.conf",
                "[oslo_messaging_notifications]\ndriver = messaging\n",
            ),
        ])
        .unwrap();
        assert_eq!(
            config.drivers(),
            Drivers::Messaging(Format::V1),
            "a later file replaces the drivers"
        );
    }

    #[test]
    fn continuation_lines_and_comments() {
        let text = "; comment\n[oslo_messaging_notifications]\ntopics = a,\n    b\n  # not a comment inside\n";
        let config = read(&[("c.conf", text)]);
        // An indented line continues the value, even one that starts with '#'.
        assert_eq!(
            config.unwrap().topics.unwrap().value,
            ["a", "b", "# not a comment inside"]
        );
    }

    #[test]
    fn typos_and_unread_messaging_options_are_noted() {
        let config = read(&[(
            "nova.conf",
            "[DEFAULT]\ntransport_ur = rabbit://x\ndebug = true\n\
             [oslo_messaging_notification]\ndriver = messaging\ntopics = t\n\
             [oslo_messaging_rabbit]\nrabbit_retry_interval = 1\nssl_ca_fil = ca.pem\n\
             [database]\nconnection = mysql://\n",
        )])
        .unwrap();
        assert_eq!(
            config.unread,
            [
                "nova.conf line 2: [DEFAULT] transport_ur is not read: did you mean transport_url?",
                "nova.conf line 5: [oslo_messaging_notification] is not read: did you mean \
                 [oslo_messaging_notifications]?",
                "nova.conf line 8: [oslo_messaging_rabbit] rabbit_retry_interval is not read by \
                 these tools",
                "nova.conf line 9: [oslo_messaging_rabbit] ssl_ca_fil is not read: did you mean \
                 ssl_ca_file?",
            ]
        );
        assert_eq!(edits("kitten", "sitting"), 3);
    }

    #[test]
    fn errors_name_the_file_section_and_key() {
        let cases = [
            ("[oslo_messaging_rabbit]\nssl = maybe\n", "config file x.conf: [oslo_messaging_rabbit] ssl (line 2): \"maybe\" is not a boolean (true or false)"),
            ("[oslo_messaging_rabbit]\nheartbeat_timeout_threshold = soon\n", "config file x.conf: [oslo_messaging_rabbit] heartbeat_timeout_threshold (line 2): \"soon\" is not a whole number"),
            ("transport_url = x\n", "config file x.conf: line 1: a value comes before any [section]"),
            ("[DEFAULT\n", "config file x.conf: line 1: a section header lacks its ']'"),
            ("[DEFAULT]\njust words\n", "config file x.conf: line 2: expected 'key = value'"),
            ("  indented = first\n", "config file x.conf: line 1: an indented line continues no value"),
        ];
        for (text, message) in cases {
            let err = read(&[("x.conf", text)]).unwrap_err().to_string();
            assert!(err.starts_with(message), "{text:?}: {err}");
        }
    }
}
