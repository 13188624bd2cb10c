//! What `oslo-listen`'s arguments parse into: the `--format`s and `--by`s, `--where`
//! programs, and `--source NAME=URL`s.

use super::super::args::{ArgumentError, NamedValues};
use crate::engine::receive::Source;
use crate::listen::output::OutputFormat;
use crate::listen::predicate::Predicate;
use crate::listen::template::Template;
use crate::listen::top::tally::GroupBy;
use crate::oslo::transport_url::TransportUrl;
use anyhow::Result;
use clap::ValueEnum;

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// A header line (timestamp, PRIORITY, event_type, publisher_id) and the indented payload
    Pretty,
    /// One JSON object per line: priority, event_type, publisher_id, payload, metadata,
    /// context, exchange, routing_key (and source, with --source)
    Json,
    /// The payload alone, one JSON value per line
    Payload,
    /// The message body exactly as received, one per line (with --from, the saved line)
    Raw,
    /// Nothing per notification: for --metrics, --save, --count or a command after --
    None,
}

/// `--by` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ByArg {
    /// One row per event type
    #[value(name = "event_type", alias = "event-type")]
    EventType,
    /// One row per publisher_id
    #[value(name = "publisher_id", alias = "publisher-id")]
    PublisherId,
    /// One row per priority
    Priority,
    /// One row per exchange
    Exchange,
    /// One row per broker (--source)
    Source,
}

impl From<ByArg> for GroupBy {
    fn from(by: ByArg) -> GroupBy {
        match by {
            ByArg::EventType => GroupBy::EventType,
            ByArg::PublisherId => GroupBy::PublisherId,
            ByArg::Priority => GroupBy::Priority,
            ByArg::Exchange => GroupBy::Exchange,
            ByArg::Source => GroupBy::Source,
        }
    }
}

/// `--format`: a named format, or a template (anything with a `{`).
pub(super) fn parse_format(text: &str) -> Result<OutputFormat, String> {
    if text.contains('{') || text.contains('}') {
        return Template::parse(text)
            .map(OutputFormat::Template)
            .map_err(|e| e.to_string());
    }
    FormatArg::from_str(text, true)
        .map(OutputFormat::from)
        .map_err(|_| {
            format!(
                "{text:?} is not pretty, json, payload, raw, none or a template with {{fields}}"
            )
        })
}

/// `--format`: [`parse_format`], the named formats offered (those of [`FormatArg`]).
pub(super) const FORMATS: NamedValues<OutputFormat> = NamedValues::new(parse_format, || {
    vec!["pretty", "json", "payload", "raw", "none"]
});

impl From<FormatArg> for OutputFormat {
    fn from(format: FormatArg) -> OutputFormat {
        match format {
            FormatArg::Pretty => OutputFormat::Pretty,
            FormatArg::Json => OutputFormat::Json,
            FormatArg::Payload => OutputFormat::Payload,
            FormatArg::Raw => OutputFormat::Raw,
            FormatArg::None => OutputFormat::None,
        }
    }
}

pub(super) fn parse_predicate(code: &str) -> Result<Predicate, String> {
    Predicate::compile(code).map_err(|e| e.to_string())
}

/// Whether `name` may name a source: letters, digits, `-`, `_` and `.`, at most 64.
pub(super) fn is_source_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// One `--source NAME=URL`; an error never shows the URL's password.
pub(super) fn parse_source(text: &str) -> Result<Source> {
    let Some((name, url)) = text
        .split_once('=')
        .filter(|(name, _)| is_source_name(name))
    else {
        // What was given, short of anything that may hold a password.
        let shown = match text.split_once('=') {
            Some((name, _)) => format!(" {name:?}"),
            None if text.contains("://") => String::new(),
            None => format!(" {text:?}"),
        };
        return Err(ArgumentError(format!(
            "--source{shown}: expected NAME=URL, NAME of letters, digits, -, _ and . \
             (e.g. --source east=rabbit://user:pass@east-host:5672/)"
        ))
        .into());
    };
    let url =
        TransportUrl::parse(url).map_err(|e| ArgumentError(format!("--source {name}: {e}")))?;
    Ok(Source::named(name, url))
}
