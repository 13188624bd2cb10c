//! Reading what a user gives on the command line: JSON payloads and contexts.
//!
//! Pure functions: the caller reads files and stdin, this module judges the text.

use crate::wire::envelope::Series;
#[cfg(doc)]
use crate::wire::pyjson::PythonJson;
use serde_json::{Map, Value};
use std::fmt;

/// Input that cannot be used: bad JSON, a context that is not an object. Exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Parses a notification payload: any JSON value. `what` names it in the error, such as
/// `payload` or `payload on line 3`.
pub fn parse_payload(text: &str, what: impl fmt::Display) -> Result<Value, InputError> {
    serde_json::from_str(text).map_err(|e| payload_error(text, what, e))
}

/// Makes the notification payload `text` the next of `series`, straight in the form it is
/// sent in (see [`PythonJson::parse`]); errors as [`parse_payload`]'s.
pub fn next_payload(
    series: &mut Series,
    text: &str,
    what: impl fmt::Display,
) -> Result<(), InputError> {
    series.next(text).map_err(|e| payload_error(text, what, e))
}

fn payload_error(text: &str, what: impl fmt::Display, error: serde_json::Error) -> InputError {
    if text.trim().is_empty() {
        return InputError(format!(
            "{what} is empty: give a JSON payload ('{{}}' for an empty one)"
        ));
    }
    let mut message = format!("{what} is not valid JSON: {error}");
    if let Some(hint) = hint(text) {
        message.push_str(&format!(" ({hint})"));
    }
    InputError(message)
}

/// What probably happened to text that should have been JSON, with the JSON meant where it
/// can be made.
fn hint(text: &str) -> Option<String> {
    if text.starts_with('\u{feff}') {
        return Some(
            "it starts with a UTF-8 byte-order mark: save it as UTF-8 without one".to_owned(),
        );
    }
    if text.len() > 64 * 1024 {
        return None;
    }
    if let Some(fixed) = angle_brackets_to_braces(text) {
        return Some(format!(
            "it looks like JSON with its braces written as angle brackets: did you mean '{fixed}'?"
        ));
    }
    if let Some(fixed) = python_to_json(text) {
        return Some(format!(
            "it looks like a Python dict: JSON wants double quotes, did you mean '{fixed}'?"
        ));
    }
    if let Some(fixed) = quote_bare_words(text) {
        return Some(format!(
            "the shell took its double quotes: put the whole payload in single quotes, \
             '{fixed}'"
        ));
    }
    None
}

/// `{'a': 'b', 'c': True}` -> `{"a": "b", "c": true}` when that makes valid JSON.
fn python_to_json(text: &str) -> Option<String> {
    let trimmed = text.trim();
    if !trimmed.contains('\'') || trimmed.contains('"') {
        return None;
    }
    let fixed = trimmed
        .replace('\'', "\"")
        .replace("True", "true")
        .replace("False", "false")
        .replace("None", "null");
    serde_json::from_str::<Value>(&fixed).ok().map(|_| fixed)
}

/// `{heavy:payload}` (what the shell leaves of `{"heavy":"payload"}` unquoted) ->
/// `{"heavy":"payload"}`: every bare word quoted but for true, false, null and numbers, when
/// that makes valid JSON.
fn quote_bare_words(text: &str) -> Option<String> {
    let trimmed = text.trim();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) || trimmed.contains('"') {
        return None;
    }
    let mut fixed = String::with_capacity(trimmed.len() + 16);
    let mut word = String::new();
    let flush = |word: &mut String, fixed: &mut String| {
        if word.is_empty() {
            return;
        }
        let keep = matches!(word.as_str(), "true" | "false" | "null")
            || serde_json::from_str::<serde_json::Number>(word).is_ok();
        if keep {
            fixed.push_str(word);
        } else {
            fixed.push('"');
            fixed.push_str(word);
            fixed.push('"');
        }
        word.clear();
    };
    for c in trimmed.chars() {
        if matches!(c, '{' | '}' | '[' | ']' | ':' | ',') || c.is_whitespace() {
            flush(&mut word, &mut fixed);
            fixed.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut fixed);
    serde_json::from_str::<Value>(&fixed).ok().map(|_| fixed)
}

/// `<"a": 1>` -> `{"a": 1}` when that makes valid JSON, as when a shell or a document turned
/// the braces of `{"heavy":"payload"}` into angle brackets.
fn angle_brackets_to_braces(text: &str) -> Option<String> {
    let trimmed = text.trim();
    if !trimmed.starts_with('<') || !trimmed.ends_with('>') {
        return None;
    }
    let fixed: String = trimmed
        .chars()
        .map(|c| match c {
            '<' => '{',
            '>' => '}',
            other => other,
        })
        .collect();
    serde_json::from_str::<Value>(&fixed).ok().map(|_| fixed)
}

/// Parses a request context: a JSON object, each member sent as `_context_<key>`.
pub fn parse_context(text: &str) -> Result<Map<String, Value>, InputError> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(InputError(format!(
            "context must be a JSON object, not a JSON {}",
            crate::wire::envelope::json_type(&other)
        ))),
        Err(e) => Err(InputError(format!("context is not valid JSON: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn any_json_value_is_a_payload() {
        for (text, value) in [
            (r#"{"heavy":"payload"}"#, json!({"heavy": "payload"})),
            (r#""just a string""#, json!("just a string")),
            ("[1, 2]", json!([1, 2])),
            ("null", Value::Null),
            (" 42 ", json!(42)),
        ] {
            assert_eq!(parse_payload(text, "payload").unwrap(), value);
        }
    }

    #[test]
    fn invalid_json_names_the_position() {
        let err = parse_payload("{\"a\": 1,\n \"b\": }", "payload on line 7").unwrap_err();
        assert_eq!(
            err.to_string(),
            "payload on line 7 is not valid JSON: expected value at line 2 column 7"
        );
        assert!(!err.to_string().contains("angle"));
    }

    #[test]
    fn swapped_braces_get_a_hint() {
        let err = parse_payload(r#"<"heavy":"payload">"#, "payload").unwrap_err();
        assert!(
            err.to_string()
                .ends_with(r#"did you mean '{"heavy":"payload"}'?)"#),
            "{err}"
        );
        // Angle brackets that would not make JSON either get no hint.
        let err = parse_payload("<html>", "payload").unwrap_err();
        assert!(!err.to_string().contains("angle"), "{err}");
    }

    #[test]
    fn what_the_shell_or_python_did_gets_a_hint() {
        let hint = |text| parse_payload(text, "payload").unwrap_err().to_string();
        assert!(
            hint("{heavy:payload}").ends_with(
                r#"(the shell took its double quotes: put the whole payload in single quotes, '{"heavy":"payload"}')"#
            ),
            "{}",
            hint("{heavy:payload}")
        );
        assert!(
            hint("{n:1,ok:true,tags:[a,b]}").contains(r#"'{"n":1,"ok":true,"tags":["a","b"]}'"#),
            "{}",
            hint("{n:1,ok:true,tags:[a,b]}")
        );
        assert!(
            hint("{'heavy': 'payload', 'ok': True}")
                .ends_with(r#"did you mean '{"heavy": "payload", "ok": true}'?)"#),
            "{}",
            hint("{'heavy': 'payload', 'ok': True}")
        );
        assert!(hint("\u{feff}{\"a\": 1}").contains("byte-order mark"));
        assert_eq!(
            hint(" \n"),
            "payload is empty: give a JSON payload ('{}' for an empty one)"
        );
        // Nothing to suggest: no hint.
        assert_eq!(
            hint("{\"a\": }"),
            "payload is not valid JSON: expected value at line 1 column 7"
        );
    }

    #[test]
    fn contexts_must_be_objects() {
        let ctx = parse_context(r#"{"user": "u", "roles": ["admin"]}"#).unwrap();
        assert_eq!(ctx.keys().collect::<Vec<_>>(), ["user", "roles"]);
        assert!(parse_context("[1]")
            .unwrap_err()
            .to_string()
            .contains("not a JSON array"));
        assert!(parse_context("{")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
    }

    #[test]
    fn a_series_payload_is_refused_as_any_payload() {
        use crate::wire::envelope::Priority;
        let mut series = Series::new(Priority::Info, "a.b", None, &Map::new()).unwrap();
        for text in [r#"<"heavy":"payload">"#, "", "{'a': 1}", r#"{"a": 1"#] {
            let what = "payload on line 3";
            assert_eq!(
                next_payload(&mut series, text, what),
                Err(parse_payload(text, what).unwrap_err()),
                "{text}"
            );
        }
        assert_eq!(next_payload(&mut series, "[1,2]", "payload"), Ok(()));
    }

    #[test]
    fn payloads_are_json_and_angle_brackets_get_a_hint() {
        assert!(parse_payload(r#"{"heavy":"payload"}"#, "payload").is_ok());
        let err = parse_payload(r#"<"heavy":"payload">"#, "payload").unwrap_err();
        assert!(err.to_string().contains("angle brackets"));
    }
}
