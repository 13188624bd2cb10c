//! `oslo-listen --format` templates: a line of text with `{field}` placeholders, such as
//! `{timestamp} {priority} {event_type} {payload.instance_id}`.
//!
//! Fields: `timestamp`, `priority` (lower case), `PRIORITY` (upper case, as on the wire),
//! `event_type`, `publisher_id`, `message_id`, `exchange`, `routing_key`, `source` (the
//! broker's name given with `--source`, empty without), `payload` and `context` (compact
//! JSON), and dotted paths into them: `payload.instance.flavor`,
//! `payload.tags.0` (a number indexes a list), `context.request_id`. A string is written as
//! it is, anything else as compact JSON, and what is missing as nothing. `{{` and `}}` are
//! literal braces. Secret context keys are masked unless the printer shows secrets.
//!
//! Pure: parsing and rendering, no I/O beyond the writer given.

use serde_json::Value;
use std::fmt;
use std::io::{self, Write};

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Field),
}

/// What a placeholder names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Timestamp,
    Priority,
    PriorityUpper,
    EventType,
    PublisherId,
    MessageId,
    Exchange,
    RoutingKey,
    /// The broker's name (`--source`).
    Source,
    /// A path into the payload (empty: the whole payload).
    Payload(Vec<Segment>),
    /// A path into the context (empty: the whole context).
    Context(Vec<Segment>),
}

/// One segment of a path: a key (or a list index).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    key: String,
    /// Written in double quotes: one key, dots and all.
    quoted: bool,
}

/// Splits a path (`a.b`, `"nova_object.data".uuid`) into its segments.
fn segments(path: &str, name: &str) -> Result<Vec<Segment>, TemplateError> {
    let mut segments = Vec::new();
    let mut rest = path;
    loop {
        let segment = if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').ok_or_else(|| {
                TemplateError(format!("{{{name}}} has an unclosed \" in its path"))
            })?;
            rest = &quoted[end + 1..];
            Segment {
                key: quoted[..end].to_owned(),
                quoted: true,
            }
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            let key = &rest[..end];
            if key.is_empty() {
                return Err(TemplateError(format!(
                    "{{{name}}} has an empty path segment"
                )));
            }
            if key.contains('"') {
                return Err(TemplateError(format!(
                    "{{{name}}} has a half-quoted path segment"
                )));
            }
            rest = &rest[end..];
            Segment {
                key: key.to_owned(),
                quoted: false,
            }
        };
        segments.push(segment);
        match rest.strip_prefix('.') {
            Some(next) => rest = next,
            None if rest.is_empty() => return Ok(segments),
            None => {
                return Err(TemplateError(format!(
                    "{{{name}}}: a quoted segment must be followed by . or the end"
                )))
            }
        }
    }
}

/// A template that cannot be used; exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid --format template: {}", self.0)
    }
}

impl std::error::Error for TemplateError {}

const FIELDS: &str = "timestamp, priority, PRIORITY, event_type, publisher_id, message_id, \
                      exchange, routing_key, source, payload[.path], context[.path]";

fn field(name: &str) -> Result<Field, TemplateError> {
    let (head, path) = match name.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (name, None),
    };
    let path_of = |rest: Option<&str>| -> Result<Vec<Segment>, TemplateError> {
        match rest {
            None => Ok(Vec::new()),
            Some(rest) => segments(rest, name),
        }
    };
    let simple = |field: Field| match path {
        None => Ok(field),
        Some(_) => Err(TemplateError(format!(
            "{{{name}}}: only payload and context take a path"
        ))),
    };
    match head {
        "timestamp" => simple(Field::Timestamp),
        "priority" => simple(Field::Priority),
        "PRIORITY" => simple(Field::PriorityUpper),
        "event_type" => simple(Field::EventType),
        "publisher_id" => simple(Field::PublisherId),
        "message_id" => simple(Field::MessageId),
        "exchange" => simple(Field::Exchange),
        "routing_key" => simple(Field::RoutingKey),
        "source" => simple(Field::Source),
        "payload" => Ok(Field::Payload(path_of(path)?)),
        "context" => Ok(Field::Context(path_of(path)?)),
        _ => Err(TemplateError(format!(
            "unknown field {{{name}}} (fields: {FIELDS})"
        ))),
    }
}

impl Template {
    /// Parses a template.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some('{') | None => {
                                return Err(TemplateError(format!(
                                    "unclosed {{ in {text:?} (write {{{{ for a brace)"
                                )))
                            }
                            Some(c) => name.push(c),
                        }
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(field(name.trim())?));
                }
                '}' => {
                    return Err(TemplateError(format!(
                        "unmatched }} in {text:?} (write }}}} for a brace)"
                    )))
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// Whether any placeholder names the context.
    pub fn uses_context(&self) -> bool {
        self.parts
            .iter()
            .any(|part| matches!(part, Part::Field(Field::Context(_))))
    }

    /// Writes one line for `values` (with its line end).
    pub fn render(&self, out: &mut impl Write, values: &Values) -> io::Result<()> {
        let escape = values.escape_controls;
        for part in &self.parts {
            match part {
                Part::Text(text) => out.write_all(text.as_bytes())?,
                Part::Field(field) => match field {
                    Field::Timestamp => write_text(out, values.timestamp, escape)?,
                    Field::Priority => write_text(out, values.priority, escape)?,
                    Field::PriorityUpper => write_text(out, values.priority_upper, escape)?,
                    Field::EventType => write_text(out, values.event_type, escape)?,
                    Field::PublisherId => {
                        write_text(out, values.publisher_id.unwrap_or_default(), escape)?
                    }
                    Field::MessageId => write_text(out, values.message_id, escape)?,
                    Field::Exchange => write_text(out, values.exchange, escape)?,
                    Field::RoutingKey => write_text(out, values.routing_key, escape)?,
                    Field::Source => write_text(out, values.source, escape)?,
                    Field::Payload(path) => write_value(out, lookup(values.payload, path), escape)?,
                    Field::Context(path) => write_value(out, lookup(values.context, path), escape)?,
                },
            }
        }
        out.write_all(b"\n")
    }
}

/// What a template can name, for one notification (the context already masked as it
/// should be shown).
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    pub timestamp: &'a str,
    pub priority: &'a str,
    pub priority_upper: &'a str,
    pub event_type: &'a str,
    pub publisher_id: Option<&'a str>,
    pub message_id: &'a str,
    pub exchange: &'a str,
    pub routing_key: &'a str,
    /// The broker it came from (`--source`), empty for a run's only one.
    pub source: &'a str,
    pub payload: &'a Value,
    pub context: &'a Value,
    /// Write control characters in values as escapes (`\u{1b}`), as on a terminal.
    pub escape_controls: bool,
}

/// The value at `path` in `value`: segment by segment, or else, where keys hold dots (as
/// every key of a versioned object does), with runs of unquoted segments joined into the
/// longest keys that exist, left to right.
fn lookup<'v>(value: &'v Value, path: &[Segment]) -> Option<&'v Value> {
    step_by_step(value, path).or_else(|| longest_keys(value, path))
}

fn child<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    }
}

fn step_by_step<'v>(value: &'v Value, path: &[Segment]) -> Option<&'v Value> {
    path.iter()
        .try_fold(value, |value, segment| child(value, &segment.key))
}

fn longest_keys<'v>(value: &'v Value, path: &[Segment]) -> Option<&'v Value> {
    let Some(first) = path.first() else {
        return Some(value);
    };
    // How many segments from here may be joined: a run of unquoted ones, or a quoted one.
    let run = if first.quoted {
        1
    } else {
        path.iter().take_while(|s| !s.quoted).count()
    };
    (1..=run).rev().find_map(|len| {
        let key = if len == 1 {
            first.key.clone()
        } else {
            let keys: Vec<&str> = path[..len].iter().map(|s| s.key.as_str()).collect();
            keys.join(".")
        };
        child(value, &key).and_then(|found| longest_keys(found, &path[len..]))
    })
}

fn write_value(out: &mut impl Write, value: Option<&Value>, escape: bool) -> io::Result<()> {
    match value {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(text)) => write_text(out, text, escape),
        Some(other) => serde_json::to_writer(out, other).map_err(io::Error::from),
    }
}

/// Writes `text`, with its control characters escaped when `escape` is set: a value must
/// not move the cursor or recolour a terminal.
fn write_text(out: &mut impl Write, text: &str, escape: bool) -> io::Result<()> {
    if !escape || !text.chars().any(char::is_control) {
        return out.write_all(text.as_bytes());
    }
    for c in text.chars() {
        if c.is_control() {
            write!(out, "{}", c.escape_default())?;
        } else {
            write!(out, "{c}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, payload: &Value, context: &Value) -> String {
        render_for(template, payload, context, false)
    }

    fn render_for(template: &str, payload: &Value, context: &Value, terminal: bool) -> String {
        let values = Values {
            timestamp: "2026-11-25 08:41:45.339791",
            priority: "info",
            priority_upper: "INFO",
            event_type: "compute.instance.create.end",
            publisher_id: Some("compute.host1"),
            message_id: "e1d4f970",
            exchange: "nova",
            routing_key: "notifications.info",
            source: "east",
            payload,
            context,
            escape_controls: terminal,
        };
        let mut out = Vec::new();
        Template::parse(template)
            .unwrap()
            .render(&mut out, &values)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn control_characters_in_values_are_escaped_on_a_terminal() {
        let payload = json!({"name": "evil\u{1b}[2Jvm", "n": "tab\there"});
        let template = "{payload.name}\t{payload.n}";
        assert_eq!(
            render_for(template, &payload, &Value::Null, true),
            "evil\\u{1b}[2Jvm\ttab\\there\n",
            "the template's own tab stays"
        );
        assert_eq!(
            render_for(template, &payload, &Value::Null, false),
            "evil\u{1b}[2Jvm\ttab\there\n",
            "a pipe gets the values as they are"
        );
    }

    #[test]
    fn keys_with_dots_are_reached_quoted_or_by_the_longest_keys() {
        let payload = json!({
            "nova_object.name": "InstanceActionPayload",
            "nova_object.data": {
                "uuid": "178b0921",
                "flavor": {"nova_object.name": "FlavorPayload",
                           "nova_object.data": {"name": "m1.tiny"}},
                "ip_addresses": [{"nova_object.data": {"address": "10.0.0.3"}}]
            },
            "a": {"b": "segment by segment"},
            "a.b": "one key"
        });
        let none = Value::Null;
        for (template, line) in [
            ("{payload.nova_object.name}", "InstanceActionPayload"),
            ("{payload.\"nova_object.name\"}", "InstanceActionPayload"),
            ("{payload.\"nova_object.data\".uuid}", "178b0921"),
            ("{payload.nova_object.data.uuid}", "178b0921"),
            (
                "{payload.nova_object.data.flavor.nova_object.data.name}",
                "m1.tiny",
            ),
            (
                "{payload.nova_object.data.ip_addresses.0.nova_object.data.address}",
                "10.0.0.3",
            ),
            ("{payload.a.b}", "segment by segment"),
            ("{payload.\"a.b\"}", "one key"),
            ("[{payload.\"nova_object\".name}]", "[]"),
        ] {
            assert_eq!(
                render(template, &payload, &none),
                format!("{line}\n"),
                "{template}"
            );
        }
        for bad in ["{payload.\"open}", "{payload.\"a\"b}", "{payload.a..b}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fields_and_paths_are_filled_in() {
        let payload = json!({"instance_id": "8415760e", "flavor": {"vcpus": 2},
                             "tags": ["a", "b"], "none": null});
        let context = json!({"request_id": "req-1"});
        assert_eq!(
            render(
                "{timestamp} {priority} {event_type} {payload.instance_id}",
                &payload,
                &context
            ),
            "2026-11-25 08:41:45.339791 info compute.instance.create.end 8415760e\n"
        );
        assert_eq!(
            render(
                "{PRIORITY}|{publisher_id}|{message_id}|{exchange}|{routing_key}|{source}",
                &payload,
                &context
            ),
            "INFO|compute.host1|e1d4f970|nova|notifications.info|east\n"
        );
        assert_eq!(
            render(
                "{payload.flavor} {payload.flavor.vcpus} {payload.tags.1} {context.request_id}",
                &payload,
                &context
            ),
            "{\"vcpus\":2} 2 b req-1\n"
        );
        assert_eq!(
            render(
                "[{payload.missing}][{payload.tags.9}][{payload.none}][{context.x.y}]",
                &payload,
                &context
            ),
            "[][][][]\n"
        );
        assert_eq!(
            render("{{literal}} {payload}", &json!([1]), &context),
            "{literal} [1]\n"
        );
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        for (text, says) in [
            ("{nope}", "unknown field {nope}"),
            ("{payload", "unclosed {"),
            ("a } b", "unmatched }"),
            ("{event_type.x}", "only payload and context take a path"),
            ("{payload..x}", "empty path segment"),
        ] {
            let error = Template::parse(text).unwrap_err().to_string();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn templates_name_known_fields_only() {
        assert!(Template::parse("{timestamp} {priority} {payload.instance_id}").is_ok());
        assert!(Template::parse("{nope}").is_err());
    }
}
