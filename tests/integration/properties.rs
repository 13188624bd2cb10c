//! Property tests: the parsers take any input without panicking, and any notification
//! survives encoding and decoding in both formats.

use oslo_notify::envelope::{decode, Body, Format, Message, Notification, Priority, Series};
use oslo_notify::pyjson::PythonJson;
use oslo_notify::transport_url::{redact, TransportUrl};
use oslo_notify::versioned;
use proptest::prelude::*;
use serde_json::{Map, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// JSON values with versioned objects in them, nested and in lists, some of them odd (a
/// name that is not a string, data that is not an object, an `@object` of its own).
fn versioned_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-z@ ]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z@]{0,6}|\\PC{0,4}", inner.clone()), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
            (inner.clone(), inner, "nova|ironic|x", any::<bool>()).prop_map(
                |(name, data, prefix, string_name)| {
                    let name = if string_name {
                        Value::from(format!("{name}"))
                    } else {
                        name
                    };
                    let mut object = Map::new();
                    object.insert(format!("{prefix}_object.name"), name);
                    object.insert(
                        format!("{prefix}_object.namespace"),
                        Value::from(prefix.as_str()),
                    );
                    object.insert(format!("{prefix}_object.version"), Value::from("1.2"));
                    object.insert(format!("{prefix}_object.data"), data);
                    Value::Object(object)
                }
            ),
        ]
    })
}

/// JSON text through a `Value`: what `PythonJson::parse` must give, errors included.
fn through_a_value(text: &str) -> Result<String, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let json = PythonJson::from_value(&value).map_err(|e| e.to_string())?;
    Ok(json.as_str().to_owned())
}

fn rewritten(text: &str) -> Result<String, String> {
    PythonJson::parse(text)
        .map(|json| json.as_str().to_owned())
        .map_err(|e| e.to_string())
}

/// A `--lines` series' message body for the payload `text`, in format 1.0 and 2.0, or its
/// refusal.
fn series_bodies(text: &str) -> Result<(String, String), String> {
    let mut series =
        Series::new(Priority::Info, "e.t", None, &Map::new()).map_err(|e| e.to_string())?;
    series.next(text).map_err(|e| e.to_string())?;
    let body = |format| {
        let body = series.body(format, "0123456789abcdef0123456789abcdef");
        String::from_utf8(body.unwrap()).unwrap()
    };
    Ok((body(Format::V1), body(Format::V2)))
}

/// Text made of JSON's pieces, often valid, often not.
fn json_like_text() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        " ",
        "\n",
        "\"a\"",
        "\"b\"",
        "\"a\\u0062\"",
        "\"\\u0061\"",
        "\"é\"",
        "\"\\/\"",
        "\"tab\\t\"",
        "\"\u{1}\"",
        "0",
        "-0",
        "12",
        "01",
        "1.",
        "1.50",
        "1e5",
        "1E+5",
        "-2.5e-3",
        "-",
        "true",
        "false",
        "null",
        "nul",
        "\"",
        "\\",
    ]);
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

fn priority() -> impl Strategy<Value = Priority> {
    prop::sample::select(Priority::ALL.to_vec())
}

fn notification() -> impl Strategy<Value = Notification> {
    (
        priority(),
        any::<String>(),
        proptest::option::of(any::<String>()),
        json_value(),
        prop::collection::vec((any::<String>(), json_value()), 0..5),
    )
        .prop_map(|(priority, event_type, publisher_id, payload, context)| {
            let mut n = Notification::new(priority, event_type, payload)
                .with_context(context.into_iter().collect::<Map<String, Value>>());
            n.publisher_id = publisher_id;
            n
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn decoding_any_bytes_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&body);
    }

    #[test]
    fn decoding_any_json_never_panics(value in json_value()) {
        let body = value.to_string();
        let _ = decode(body.as_bytes());
        // The same value as an envelope's message, as text and as JSON.
        let envelope = serde_json::json!({"oslo.version": "2.0", "oslo.message": body});
        let _ = decode(envelope.to_string().as_bytes());
        let envelope = serde_json::json!({"oslo.version": "2.0", "oslo.message": value});
        let _ = decode(envelope.to_string().as_bytes());
    }

    #[test]
    fn reading_a_message_agrees_with_decoding_whatever_the_payload(text in json_like_text()) {
        let body = format!(
            r#"{{"message_id": "m", "event_type": "e", "priority": "info", "timestamp": "t", "payload": {text}, "_context_x": {text}}}"#
        );
        let envelope = serde_json::json!({"oslo.version": "2.0", "oslo.message": body}).to_string();
        // The envelope's string escaped otherwise than serde_json escapes it: `\/` for every
        // slash, and `\uXXXX` for every character past ASCII, as Python writes it.
        let slashed = envelope.replace('/', "\\/");
        let ascii: String = envelope
            .chars()
            .map(|c| match c {
                c if c.is_ascii() => c.to_string(),
                c => c.encode_utf16(&mut [0; 2]).iter().map(|u| format!("\\u{u:04x}")).collect(),
            })
            .collect();
        for body in [body, envelope, slashed, ascii] {
            let decoded = decode(body.as_bytes());
            let read = Message::read(body.as_bytes());
            match (decoded, read) {
                (Ok(decoded), Ok(read)) => {
                    prop_assert_eq!(read.payload_json(), decoded.notification.payload.to_string());
                    prop_assert_eq!(read.notification(), &decoded.notification);
                    prop_assert_eq!(read.format, decoded.format);
                }
                (Err(decoded), Err(read)) => prop_assert_eq!(read, decoded),
                (decoded, read) => prop_assert!(false, "{body}: {decoded:?} but {read:?}"),
            }
        }
    }

    #[test]
    fn reading_any_bytes_in_an_envelope_agrees_with_decoding(
        bytes in prop::collection::vec(
            prop::sample::select(b"{}[]\":,\\/ nrtbfu0aA1e-.\xc3\xa9".to_vec()),
            0..48,
        ),
        headed in any::<bool>(),
    ) {
        // The bytes as (part of) the escaped text of `oslo.message`, read through its
        // escapes or not: whatever they are, the reading is decode's.
        let head: &[u8] = if headed {
            br#"{\"message_id\": \"m\", \"event_type\": \"e\", \"priority\": \"info\", \"timestamp\": \"t\", \"payload\": "#
        } else {
            b""
        };
        let mut body = br#"{"oslo.version": "2.0", "oslo.message": ""#.to_vec();
        body.extend_from_slice(head);
        body.extend_from_slice(&bytes);
        body.extend_from_slice(if headed { b"}\"}" } else { b"\"}" });
        match (decode(&body), Message::read(&body)) {
            (Ok(decoded), Ok(read)) => {
                prop_assert_eq!(read.payload_json(), decoded.notification.payload.to_string());
                prop_assert_eq!(read.notification(), &decoded.notification);
            }
            (Err(decoded), Err(read)) => prop_assert_eq!(read, decoded),
            (decoded, read) => prop_assert!(
                false,
                "{}: {decoded:?} but {read:?}",
                String::from_utf8_lossy(&body)
            ),
        }
    }

    #[test]
    fn unwrapping_text_gives_the_text_of_the_unwrapped_value(value in versioned_value()) {
        let text = value.to_string();
        match versioned::unwrap_json(&text) {
            Some(unwrapped) => prop_assert_eq!(unwrapped, versioned::unwrap(&value).to_string()),
            // Left to the values only for a key with an escape in its text.
            None => prop_assert!(text.contains("\\"), "{text}"),
        }
    }

    #[test]
    fn any_notification_read_as_a_message_is_the_same_notification(
        n in notification(),
        unique in "[0-9a-f]{32}",
    ) {
        for format in [Format::V1, Format::V2] {
            let body = n.encode(format, &unique).unwrap();
            let read = Message::read(&body).unwrap();
            prop_assert_eq!(read.payload_json(), n.payload.to_string());
            let context: Vec<(String, String)> = n
                .context
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect();
            let read_context: Vec<(String, String)> = read
                .context_json()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            prop_assert_eq!(read_context, context);
            prop_assert_eq!(read.unique_id.as_deref(), Some(unique.as_str()));
            prop_assert_eq!(read.into_notification(), n.clone());
        }
    }

    #[test]
    fn any_notification_round_trips_in_both_formats(n in notification(), unique in "[0-9a-f]{32}") {
        for format in [Format::V1, Format::V2] {
            let body = n.encode(format, &unique).unwrap();
            prop_assert!(body.is_ascii());
            let got = decode(&body).unwrap();
            prop_assert_eq!(&got.notification, &n);
            prop_assert_eq!(got.unique_id.as_deref(), Some(unique.as_str()));
            prop_assert_eq!(got.format, format);
        }
    }

    #[test]
    fn parsing_any_url_never_panics(text in any::<String>()) {
        let _ = TransportUrl::parse(&text);
        let _ = redact(&text);
    }

    #[test]
    fn parsed_urls_never_show_their_passwords(
        user in "[a-z]{1,8}",
        password in "[A-Za-z0-9]{12,20}",
        host in "[a-z]{1,10}(\\.[a-z]{1,5})?",
        vhost in "[a-z%/]{0,10}",
        tls in any::<bool>(),
    ) {
        let text = format!("rabbit://{user}:{password}@{host}:5672,{user}:{password}@{host}2/{vhost}{}",
            if tls { "?ssl=1" } else { "" });
        match TransportUrl::parse(&text) {
            Ok(url) => {
                prop_assert!(!url.to_string().contains(&password));
                let debug = format!("{:?}", url);
                prop_assert!(!debug.contains(&password));
                prop_assert_eq!(&url.hosts[0].password, &password);
            }
            Err(e) => prop_assert!(!e.to_string().contains(&password)),
        }
        prop_assert!(!redact(&text).contains(&password));
    }

    #[test]
    fn python_json_rewrites_any_value_as_the_general_way_does(
        value in json_value(),
        pretty in any::<bool>(),
    ) {
        let text = if pretty {
            serde_json::to_string_pretty(&value).unwrap()
        } else {
            value.to_string()
        };
        prop_assert_eq!(rewritten(&text), through_a_value(&text));
    }

    #[test]
    fn python_json_rewrites_any_text_as_the_general_way_does(text in json_like_text()) {
        prop_assert_eq!(rewritten(&text), through_a_value(&text));
    }

    #[test]
    fn python_json_takes_any_bytes_as_the_general_way_does(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let text = String::from_utf8_lossy(&bytes);
        prop_assert_eq!(rewritten(&text), through_a_value(&text));
    }

    #[test]
    fn a_series_writes_any_payload_as_the_general_way_does_in_both_formats(
        text in prop_oneof![
            json_like_text(),
            json_value().prop_map(|value| value.to_string()),
            prop::collection::vec(any::<u8>(), 0..128)
                .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        ],
    ) {
        match (series_bodies(&text), through_a_value(&text)) {
            (Ok((v1, v2)), Ok(python)) => {
                let payload = format!("\"payload\": {python}, \"timestamp\": ");
                prop_assert!(v1.contains(&payload), "{} has no {}", v1, payload);
                let escaped = v1.replace('\\', "\\\\").replace('"', "\\\"");
                let enveloped = format!("{{\"oslo.version\": \"2.0\", \"oslo.message\": \"{escaped}\"}}");
                prop_assert_eq!(v2, enveloped);
            }
            (Err(refused), Err(general)) => prop_assert_eq!(refused, general),
            (series, general) => prop_assert!(false, "{:?} against {:?}", series, general),
        }
    }
}
