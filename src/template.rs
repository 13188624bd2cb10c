//! `oslo-listen --format` templates: a line of text with `{field}` placeholders, such as
//! `{timestamp} {priority} {event_type} {payload.instance_id}`.
//!
//! Fields: `timestamp`, `priority` (lower case), `PRIORITY` (upper case, as on the wire),
//! `event_type`, `publisher_id`, `message_id`, `exchange`, `routing_key`, `payload` and
//! `context` (compact JSON), and dotted paths into them: `payload.instance.flavor`,
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
    /// A path into the payload (empty: the whole payload).
    Payload(Vec<String>),
    /// A path into the context (empty: the whole context).
    Context(Vec<String>),
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
                      exchange, routing_key, payload[.path], context[.path]";

fn field(name: &str) -> Result<Field, TemplateError> {
    let (head, path) = match name.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (name, None),
    };
    let path_of = |rest: Option<&str>| -> Result<Vec<String>, TemplateError> {
        let Some(rest) = rest else {
            return Ok(Vec::new());
        };
        let segments: Vec<String> = rest.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(TemplateError(format!(
                "{{{name}}} has an empty path segment"
            )));
        }
        Ok(segments)
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
        "payload" => Ok(Field::Payload(path_of(path)?)),
        "context" => Ok(Field::Context(path_of(path)?)),
        _ => Err(TemplateError(format!(
            "unknown field {{{name}}} (fields: {FIELDS})"
        ))),
    }
}

impl Template {
    /// Parses a template.
    ///
    /// ```
    /// use oslo_notify::template::Template;
    ///
    /// assert!(Template::parse("{timestamp} {priority} {payload.instance_id}").is_ok());
    /// assert!(Template::parse("{nope}").is_err());
    /// ```
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
    pub payload: &'a Value,
    pub context: &'a Value,
    /// Write control characters in values as escapes (`\u{1b}`), as on a terminal.
    pub escape_controls: bool,
}

fn lookup<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(value, |value, segment| match value {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
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
                "{PRIORITY}|{publisher_id}|{message_id}|{exchange}|{routing_key}",
                &payload,
                &context
            ),
            "INFO|compute.host1|e1d4f970|nova|notifications.info\n"
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
}
