//! Writing received notifications: pretty for people, JSON lines, payloads or raw bodies for
//! scripts. Writes to any `impl Write`; no broker here.

use crate::engine::receive::Received;
use crate::listen::template::{Template, Values};
use crate::oslo::mask::{mask_member, mask_member_json};
use crate::wire::envelope::Priority;
use crate::wire::versioned;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use std::io::{self, Write};

/// How each notification is written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// A header line (timestamp, PRIORITY, event_type, publisher_id), then the payload as
    /// indented JSON.
    #[default]
    Pretty,
    /// One compact JSON object per line: what an oslo endpoint receives, and where from.
    Json,
    /// The payload alone, one compact JSON value per line.
    Payload,
    /// The message body exactly as received, one per line.
    Raw,
    /// One line per notification from a template (see [`crate::listen::template`]).
    Template(Template),
    /// Nothing: the notifications are counted, saved or served as metrics, not printed.
    None,
}

/// The context with its secrets masked as OpenStack masks them ([`crate::oslo::mask`]).
struct MaskedContext<'a> {
    context: &'a Map<String, Value>,
    show_secrets: bool,
}

impl Serialize for MaskedContext<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.context.len()))?;
        for (key, value) in self.context {
            if self.show_secrets {
                map.serialize_entry(key, value)?;
            } else {
                map.serialize_entry(key, &mask_member(key, value))?;
            }
        }
        map.end()
    }
}

/// Writes `text` as a JSON string.
fn json_string(out: &mut impl Write, text: &str) -> io::Result<()> {
    serde_json::to_writer(out, text).map_err(io::Error::from)
}

/// Writes a context member, `"key":value`, from the value's compact JSON text, masked as
/// [`mask_member`] masks the value itself (unless `show_secrets`).
fn write_member(out: &mut impl Write, key: &str, json: &str, show_secrets: bool) -> io::Result<()> {
    json_string(out, key)?;
    out.write_all(b":")?;
    if show_secrets {
        out.write_all(json.as_bytes())
    } else {
        out.write_all(mask_member_json(key, json)?.as_bytes())
    }
}

/// Writes notifications in one [`OutputFormat`].
#[derive(Debug, Clone, Default)]
pub struct Printer {
    /// The format.
    pub format: OutputFormat,
    /// Colour the pretty header (for a terminal, when NO_COLOR is unset).
    pub color: bool,
    /// Escape control characters in the pretty header (for a terminal).
    pub escape_controls: bool,
    /// Show the values of secret context keys instead of masking them.
    pub show_secrets: bool,
}

fn priority_color(priority: Priority) -> &'static str {
    match priority {
        Priority::Error | Priority::Critical => "\x1b[1;31m",
        Priority::Warn => "\x1b[33m",
        Priority::Info => "\x1b[32m",
        Priority::Audit | Priority::Debug | Priority::Sample => "\x1b[36m",
    }
}

impl Printer {
    /// Writes the object `--format json` prints for a notification (without a line end):
    /// `priority` (lower case), `event_type`, `publisher_id`, `payload`, `metadata`
    /// (`message_id`, `timestamp`), `context` (masked unless secrets are shown),
    /// `exchange`, `routing_key`, and `source` when it came from a named broker
    /// (`--source`).
    pub fn write_json_object(&self, out: &mut impl Write, received: &Received) -> io::Result<()> {
        // Written member by member from the message's text: no value is built.
        let m = received.message;
        out.write_all(b"{\"priority\":\"")?;
        out.write_all(m.priority.name().as_bytes())?;
        out.write_all(b"\",\"event_type\":")?;
        json_string(out, &m.event_type)?;
        out.write_all(b",\"publisher_id\":")?;
        match &m.publisher_id {
            Some(id) => json_string(out, id)?,
            None => out.write_all(b"null")?,
        }
        out.write_all(b",\"payload\":")?;
        out.write_all(m.payload_json().as_bytes())?;
        out.write_all(b",\"metadata\":{\"message_id\":")?;
        json_string(out, &m.message_id)?;
        out.write_all(b",\"timestamp\":")?;
        json_string(out, &m.timestamp)?;
        out.write_all(b"},\"context\":{")?;
        for (i, (key, json)) in m.context_json().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            write_member(out, key, json, self.show_secrets)?;
        }
        out.write_all(b"},\"exchange\":")?;
        json_string(out, received.exchange)?;
        out.write_all(b",\"routing_key\":")?;
        json_string(out, received.routing_key)?;
        if !received.source.is_empty() {
            out.write_all(b",\"source\":")?;
            json_string(out, received.source)?;
        }
        out.write_all(b"}")
    }

    /// Writes one notification (with its line end).
    pub fn write(&self, out: &mut impl Write, received: &Received) -> io::Result<()> {
        match &self.format {
            OutputFormat::None => Ok(()),
            OutputFormat::Raw => {
                out.write_all(received.body)?;
                out.write_all(b"\n")
            }
            OutputFormat::Payload => {
                out.write_all(received.message.payload_json().as_bytes())?;
                out.write_all(b"\n")
            }
            OutputFormat::Json => {
                self.write_json_object(&mut *out, received)?;
                out.write_all(b"\n")
            }
            OutputFormat::Pretty => self.write_pretty(out, received),
            OutputFormat::Template(template) => {
                let n = received.notification();
                // Masked as in JSON output; built only for templates that show it.
                let context = if template.uses_context() {
                    serde_json::to_value(MaskedContext {
                        context: &n.context,
                        show_secrets: self.show_secrets,
                    })?
                } else {
                    Value::Null
                };
                let values = Values {
                    timestamp: &n.timestamp,
                    priority: n.priority.name(),
                    priority_upper: n.priority.wire_name(),
                    event_type: &n.event_type,
                    publisher_id: n.publisher_id.as_deref(),
                    message_id: &n.message_id,
                    exchange: received.exchange,
                    routing_key: received.routing_key,
                    source: received.source,
                    payload: &n.payload,
                    context: &context,
                    escape_controls: self.escape_controls,
                };
                template.render(out, &values)
            }
        }
    }

    fn field(&self, text: &str) -> String {
        if self.escape_controls && text.chars().any(char::is_control) {
            text.chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        } else {
            text.to_owned()
        }
    }

    fn write_pretty(&self, out: &mut impl Write, received: &Received) -> io::Result<()> {
        let n = received.notification();
        let publisher = n.publisher_id.as_deref().unwrap_or("-");
        let (timestamp, event_type) = (self.field(&n.timestamp), self.field(&n.event_type));
        let (publisher, exchange) = (self.field(publisher), self.field(received.exchange));
        let routing_key = self.field(received.routing_key);
        // The route, after the broker it came by when several are read: `[east: nova ...]`.
        let exchange = match received.source {
            "" => exchange,
            source => format!("{}: {exchange}", self.field(source)),
        };
        if self.color {
            let color = priority_color(n.priority);
            writeln!(
                out,
                "\x1b[2m{timestamp}\x1b[0m {color}{:<8}\x1b[0m \x1b[1m{event_type}\x1b[0m {publisher} \x1b[2m[{exchange} {routing_key}]\x1b[0m",
                n.priority.wire_name()
            )?;
        } else {
            writeln!(
                out,
                "{timestamp} {:<8} {event_type} {publisher} [{exchange} {routing_key}]",
                n.priority.wire_name()
            )?;
        }
        match versioned::object(&n.payload) {
            Some((title, data)) => {
                writeln!(out, "{}", self.field(&title))?;
                serde_json::to_writer_pretty(&mut *out, &versioned::unwrap(data))?;
            }
            None => serde_json::to_writer_pretty(&mut *out, &n.payload)?,
        }
        out.write_all(b"\n\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oslo::mask::mask_dict;
    use crate::wire::envelope::{Decoded, Format, Message, Notification};
    use serde_json::json;

    fn sample() -> Notification {
        let mut context = Map::new();
        context.insert("user".into(), json!("u1"));
        context.insert("auth_token".into(), json!("gAAAA-token"));
        context.insert("db_password".into(), json!("pw"));
        context.insert("SecretThing".into(), json!({"a": 1, "token": "t"}));
        context.insert("api_key".into(), json!("k"));
        context.insert("keystone_endpoint".into(), json!("http://ks"));
        context.insert("token_null".into(), Value::Null);
        Notification {
            message_id: "m-1".into(),
            publisher_id: Some("compute.h1".into()),
            event_type: "compute.instance.create.end".into(),
            priority: Priority::Warn,
            payload: json!({"name": "vm-\u{1f680}", "n": 1}),
            timestamp: "2026-11-25 08:41:45.295368".into(),
            context,
        }
    }

    fn message(notification: Notification) -> Message {
        Message::from(Decoded {
            notification,
            unique_id: None,
            format: Format::V2,
        })
    }

    /// The JSON line as it is written from a message read from `body`.
    fn json_line(body: &[u8], show_secrets: bool) -> String {
        let message = Message::read(body).unwrap();
        let received = Received {
            message: &message,
            exchange: "nova",
            routing_key: "notifications.info",
            source: "",
            body,
        };
        let printer = Printer {
            format: OutputFormat::Json,
            show_secrets,
            ..Printer::default()
        };
        let mut out = Vec::new();
        printer.write(&mut out, &received).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_lines_from_the_text_are_those_of_the_values() {
        let mut context = Map::new();
        for (key, value) in [
            ("auth_token", json!("gAAAA-token")),
            ("roles", json!(["admin", "member"])),
            (
                "service_catalog",
                json!([{"type": "compute", "endpoints": [{"url": "http://x/"}]}]),
            ),
            (
                "credentials",
                json!({"password": "p", "user": "u", "nested": {"token": 1}}),
            ),
            ("note", json!("connect with password=hunter2 now")),
            (
                "name",
                json!("caf\u{e9} \u{1f680} \"quoted\" back\\slash \u{1}"),
            ),
            ("secret_uuid", json!(null)),
            ("project_id", json!(7)),
            ("empty", json!({})),
        ] {
            context.insert(key.to_owned(), value);
        }
        let mut n = Notification::new(
            Priority::Error,
            "compute.instance.create.error",
            json!({"nova_object.data": {"uuid": "u-1", "n": 1.5, "big": 123456789012345678901234567890u128, "list": [1, {"a": null}]}}),
        );
        n.publisher_id = Some("nova-compute:host\u{e9}".to_owned());
        n.context = context;
        for format in [Format::V2, Format::V1] {
            let body = n.encode(format, "u").unwrap();
            for show_secrets in [false, true] {
                let line = json_line(&body, show_secrets);
                let shown = if show_secrets {
                    n.context.clone()
                } else {
                    mask_dict(&n.context)
                };
                let expected = json!({
                    "priority": "error",
                    "event_type": n.event_type,
                    "publisher_id": n.publisher_id,
                    "payload": n.payload,
                    "metadata": {"message_id": n.message_id, "timestamp": n.timestamp},
                    "context": shown,
                    "exchange": "nova",
                    "routing_key": "notifications.info",
                });
                assert_eq!(line, format!("{expected}\n"));
            }
        }
        assert!(json_line(&n.encode(Format::V2, "u").unwrap(), false)
            .contains(r#""note":"connect with password=*** now""#));
    }

    fn render(printer: Printer, body: &[u8]) -> String {
        let n = sample();
        let message = message(n);
        let received = Received {
            message: &message,
            exchange: "nova",
            routing_key: "notifications.warn",
            source: "",
            body,
        };
        let mut out = Vec::new();
        printer.write(&mut out, &received).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_lines_hold_what_an_endpoint_receives_and_mask_secrets() {
        let line = render(
            Printer {
                format: OutputFormat::Json,
                ..Printer::default()
            },
            b"",
        );
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            json!({
                "priority": "warn",
                "event_type": "compute.instance.create.end",
                "publisher_id": "compute.h1",
                "payload": {"name": "vm-\u{1f680}", "n": 1},
                "metadata": {"message_id": "m-1", "timestamp": "2026-11-25 08:41:45.295368"},
                "context": {"user": "u1", "auth_token": "***", "db_password": "***",
                            "SecretThing": {"a": 1, "token": "***"}, "api_key": "k",
                            "keystone_endpoint": "http://ks", "token_null": null},
                "exchange": "nova",
                "routing_key": "notifications.warn"
            })
        );
        let keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys[..3], ["priority", "event_type", "publisher_id"]);
    }

    #[test]
    fn show_secrets_shows_them() {
        let printer = Printer {
            format: OutputFormat::Json,
            show_secrets: true,
            ..Printer::default()
        };
        let value: Value = serde_json::from_str(&render(printer, b"")).unwrap();
        assert_eq!(value["context"]["auth_token"], "gAAAA-token");
        assert_eq!(
            value["context"]["SecretThing"],
            json!({"a": 1, "token": "t"})
        );
    }

    #[test]
    fn payload_and_raw() {
        let payload = render(
            Printer {
                format: OutputFormat::Payload,
                ..Printer::default()
            },
            b"",
        );
        assert_eq!(payload, "{\"name\":\"vm-\u{1f680}\",\"n\":1}\n");
        let raw = render(
            Printer {
                format: OutputFormat::Raw,
                ..Printer::default()
            },
            b"{\"exact\": \"bytes\"}",
        );
        assert_eq!(raw, "{\"exact\": \"bytes\"}\n");
    }

    #[test]
    fn pretty_has_a_header_and_the_indented_payload() {
        let text = render(Printer::default(), b"");
        let expected = "2026-11-25 08:41:45.295368 WARN     compute.instance.create.end compute.h1 [nova notifications.warn]\n{\n  \"name\": \"vm-\u{1f680}\",\n  \"n\": 1\n}\n\n";
        assert_eq!(text, expected);
        assert!(!text.contains('\x1b'));
        let colored = render(
            Printer {
                color: true,
                ..Printer::default()
            },
            b"",
        );
        assert!(colored.starts_with("\x1b[2m2026-11-25"), "{colored:?}");
        assert!(colored.contains("\x1b[33mWARN"), "{colored:?}");
    }

    #[test]
    fn versioned_notifications_show_the_object_and_its_data() {
        let mut n = sample();
        n.payload = json!({
            "nova_object.name": "InstanceActionPayload",
            "nova_object.namespace": "nova",
            "nova_object.version": "1.8",
            "nova_object.data": {
                "uuid": "8415760e",
                "flavor": {
                    "nova_object.name": "FlavorPayload",
                    "nova_object.namespace": "nova",
                    "nova_object.version": "1.4",
                    "nova_object.data": {"memory_mb": 64, "vcpus": 1}
                },
                "fault": null
            }
        });
        let message = message(n);
        let received = Received {
            message: &message,
            exchange: "nova",
            routing_key: "versioned_notifications.info",
            source: "",
            body: b"",
        };
        let mut out = Vec::new();
        Printer::default().write(&mut out, &received).unwrap();
        let text = String::from_utf8(out).unwrap();
        let (header, rest) = text.split_once('\n').unwrap();
        assert!(
            header.ends_with("[nova versioned_notifications.info]"),
            "{header}"
        );
        let (title, data) = rest.split_once('\n').unwrap();
        assert_eq!(title, "InstanceActionPayload v1.8 (nova)");
        let data: Value = serde_json::from_str(data.trim_end()).unwrap();
        assert_eq!(
            data,
            json!({"uuid": "8415760e", "flavor": {"@object": "FlavorPayload v1.4 (nova)", "memory_mb": 64, "vcpus": 1}, "fault": null})
        );
        // Other formats keep the payload exactly.
        let mut out = Vec::new();
        Printer {
            format: OutputFormat::Payload,
            ..Printer::default()
        }
        .write(&mut out, &received)
        .unwrap();
        let payload: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(payload, message.notification().payload);
    }

    #[test]
    fn control_characters_are_escaped_for_terminals() {
        let mut n = sample();
        n.event_type = "evil\x1b[2Jtype".into();
        let message = message(n);
        let received = Received {
            message: &message,
            exchange: "x",
            routing_key: "k",
            source: "east",
            body: b"",
        };
        let mut out = Vec::new();
        Printer {
            escape_controls: true,
            ..Printer::default()
        }
        .write(&mut out, &received)
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("evil\\u{1b}[2Jtype"), "{text}");
        assert!(!text.contains('\x1b'));
        // The broker it came by, before its route.
        assert!(text.contains(" [east: x k]\n"), "{text}");
    }
}
