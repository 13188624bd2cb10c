//! The `oslo-notify` command: its configuration ([`SendConfig`]) and what it sends
//! ([`Given`]); [`send`] runs it, reading the payloads and contexts a user gives ([`input`])
//! or `oslo-listen --format json` lines and files to publish again ([`replay`]), from a
//! stdin that a signal can interrupt ([`stdin`]).

pub mod input;
pub mod pace;
mod paced;
mod pending;
pub mod replay;
pub mod rewrite;
pub mod send;
mod stdin;

use crate::broker::{ConnectOptions, Durability};
use crate::oslo::transport_url::TransportUrl;
use crate::tool::talk::Verbosity;
use crate::wire::envelope::{Format, Notification, Priority};
use crate::wire::pyjson::PythonJson;
use anyhow::{Context, Result};
use input::{parse_payload, InputError};
use serde_json::{Map, Value};
use std::io::Read;

/// Everything `oslo-notify` needs, with no command-line types in it.
#[derive(Debug, Clone)]
pub struct SendConfig {
    /// Where to connect.
    pub url: TransportUrl,
    /// How to connect and how long to wait for the broker.
    pub connect: ConnectOptions,
    /// How to declare what does not exist yet.
    pub durability: Durability,
    /// The exchange (oslo's control_exchange).
    pub exchange: String,
    /// The topics; each notification is sent to every one.
    pub topics: Vec<String>,
    /// Envelope 2.0 or bare 1.0.
    pub format: Format,
    /// The publisher_id of every notification.
    pub publisher_id: String,
    /// The request context of every notification.
    pub context: Map<String, Value>,
    /// What to send.
    pub given: Given,
    /// How much to say on stderr.
    pub verbosity: Verbosity,
}

/// What to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Given {
    /// One notification.
    One {
        /// Its priority.
        priority: Priority,
        /// Its event_type.
        event_type: String,
        /// Its payload.
        payload: Value,
    },
    /// One notification per non-blank line of stdin, each line a JSON payload.
    Lines {
        /// The priority of each.
        priority: Priority,
        /// The event_type of each.
        event_type: String,
    },
    /// One notification per non-blank line of stdin, each line an `oslo-listen --format
    /// json` object: priority, event_type, publisher_id, payload and context come from it.
    Replay {
        /// Read the files of this `oslo-listen --save` directory, or the lines of this file,
        /// instead of stdin.
        dir: Option<std::path::PathBuf>,
        /// The routing, pace, passes and ends.
        options: pace::ReplayOptions,
    },
}

impl SendConfig {
    /// A notification of this configuration's publisher_id and context.
    pub(crate) fn notification<P>(
        &self,
        priority: Priority,
        event_type: &str,
        payload: P,
    ) -> Notification<P> {
        Notification::new(priority, event_type, payload)
            .with_publisher_id(self.publisher_id.clone())
            .with_context(self.context.clone())
    }
}

/// A notification to send, and where to when not to the configured exchange and topics.
struct Outgoing {
    pub(crate) notification: Notification<PythonJson>,
    pub(crate) route: Option<(String, String)>,
    /// When it was recorded, for a replay at the recorded pace.
    pub(crate) recorded: Option<chrono::NaiveDateTime>,
}

/// Reads the PAYLOAD argument: JSON text, `@FILE` for a file's content, or `-` (or nothing)
/// for all of `stdin`.
pub fn read_payload(argument: Option<&str>, stdin: impl Read) -> Result<Value> {
    let (text, what) = match argument {
        None | Some("-") => (
            read_text(stdin).context("reading the payload from stdin")?,
            "payload from stdin".to_owned(),
        ),
        Some(arg) => match arg.strip_prefix('@') {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| InputError(format!("cannot read the payload file {path}: {e}")))?;
                (
                    utf8(bytes, &format!("payload file {path}"))?,
                    format!("payload in {path}"),
                )
            }
            None => (arg.to_owned(), "payload".to_owned()),
        },
    };
    Ok(parse_payload(&text, &what)?)
}

fn read_text(mut input: impl Read) -> Result<String> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    utf8(bytes, "stdin")
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        InputError(format!(
            "{what} is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_arguments() {
        assert_eq!(
            read_payload(Some(r#"{"a":1}"#), &b""[..]).unwrap(),
            serde_json::json!({"a": 1})
        );
        assert_eq!(
            read_payload(Some("-"), &b"[1]"[..]).unwrap(),
            serde_json::json!([1])
        );
        assert_eq!(
            read_payload(None, &b" \"s\"\n"[..]).unwrap(),
            serde_json::json!("s")
        );
        let dir = std::env::temp_dir().join(format!("oslo-notify-test-{}", uuid::Uuid::new_v4()));
        std::fs::write(&dir, br#"{"from": "file"}"#).unwrap();
        let arg = format!("@{}", dir.display());
        assert_eq!(
            read_payload(Some(&arg), &b""[..]).unwrap(),
            serde_json::json!({"from": "file"})
        );
        std::fs::remove_file(&dir).unwrap();
        let missing = read_payload(Some("@/nonexistent/payload.json"), &b""[..]).unwrap_err();
        assert!(missing.is::<InputError>());
        assert!(
            format!("{missing}").contains("cannot read the payload file /nonexistent/payload.json")
        );
        let bad = read_payload(None, &b"\xff"[..]).unwrap_err();
        assert!(bad.is::<InputError>(), "{bad:#}");
    }
}
