//! Messages captured from oslo.messaging 18.3.1 (tests/fixtures, copied from the shared
//! oslo-wire captures): each decodes to the fields Python sent, and encoding those fields
//! again gives the captured body byte for byte.

use oslo_notify::envelope::{decode, Decoded, Format, Priority};
use serde_json::{json, Value};

struct Captured {
    routing_key: String,
    properties: Value,
    body: String,
}

fn load(case: &str) -> Vec<Captured> {
    let path = format!(
        "{}/tests/integration/fixtures/{case}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let fixture: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(fixture["oslo.messaging"], "18.3.1");
    fixture["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["exchange"], "openstack");
            Captured {
                routing_key: m["routing_key"].as_str().unwrap().to_owned(),
                properties: m["properties"].clone(),
                body: m["body"].as_str().unwrap().to_owned(),
            }
        })
        .collect()
}

/// Decodes a captured body and checks that re-encoding reproduces it exactly.
fn decode_and_reencode(message: &Captured) -> Decoded {
    let decoded = decode(message.body.as_bytes()).unwrap();
    let unique_id = decoded
        .unique_id
        .clone()
        .expect("oslo always sends _unique_id");
    let again = decoded
        .notification
        .encode(decoded.format, &unique_id)
        .unwrap();
    assert_eq!(String::from_utf8(again).unwrap(), message.body);
    // The routing key is <topic>.<lower-case priority>.
    let priority = decoded.notification.priority;
    assert_eq!(
        message.routing_key,
        format!("fixturecap.{}", priority.name())
    );
    decoded
}

#[test]
fn every_capture_has_oslo_properties() {
    let cases = [
        "v1_info_seed",
        "v2_all_priorities",
        "v2_big_payload_1mb",
        "v2_info_seed",
        "v2_prepare_publisher",
        "v2_request_context_nova_payload",
        "v2_string_payload",
        "v2_unicode",
    ];
    for case in cases {
        for message in load(case) {
            assert_eq!(
                message.properties,
                json!({"content_type": "application/json", "content_encoding": "utf-8",
                       "application_headers": {}, "delivery_mode": 2, "priority": 0}),
                "{case}"
            );
        }
    }
}

#[test]
fn seed_in_envelope_2_0() {
    let [message] = &load("v2_info_seed")[..] else {
        panic!("one message")
    };
    let decoded = decode_and_reencode(message);
    assert_eq!(decoded.format, Format::V2);
    let n = decoded.notification;
    assert_eq!(n.message_id, "12dd0aee-b23f-4b4d-a66c-f7c276dd8d71");
    assert_eq!(n.publisher_id.as_deref(), Some("testing"));
    assert_eq!(n.event_type, "just.testing");
    assert_eq!(n.priority, Priority::Info);
    assert_eq!(n.payload, json!({"heavy": "payload"}));
    assert_eq!(n.timestamp, "2026-11-25 08:41:45.295368");
    assert!(
        n.context.is_empty(),
        "a plain dict context is dropped by oslo"
    );
    assert_eq!(
        decoded.unique_id.as_deref(),
        Some("35d06edced1e437e8b6efb02ecfd982f")
    );
}

#[test]
fn seed_bare_1_0() {
    let [message] = &load("v1_info_seed")[..] else {
        panic!("one message")
    };
    let decoded = decode_and_reencode(message);
    assert_eq!(decoded.format, Format::V1);
    assert_eq!(
        decoded.notification.message_id,
        "7eb0d502-36b6-449e-a3f9-09bc3b4ac41d"
    );
    assert_eq!(decoded.notification.payload, json!({"heavy": "payload"}));
}

#[test]
fn all_seven_priorities() {
    let messages = load("v2_all_priorities");
    let got: Vec<Priority> = messages
        .iter()
        .map(|m| {
            let n = decode_and_reencode(m).notification;
            assert_eq!(n.event_type, format!("probe.{}", n.priority.name()));
            assert_eq!(n.payload, json!({"priority_was": n.priority.name()}));
            n.priority
        })
        .collect();
    assert_eq!(got, Priority::ALL);
}

#[test]
fn request_context_is_unpacked() {
    let [message] = &load("v2_request_context_nova_payload")[..] else {
        panic!()
    };
    let n = decode_and_reencode(message).notification;
    assert_eq!(n.event_type, "compute.instance.create.end");
    assert_eq!(
        n.payload["instance_id"],
        "8415760e-1ce1-405f-96e8-4180c08112d0"
    );
    assert_eq!(n.payload["fixed_ips"][0]["address"], "10.0.0.4");
    assert_eq!(
        n.context["request_id"],
        "req-3f2a1f5e-1111-2222-3333-444455556666"
    );
    assert_eq!(n.context["roles"], json!(["member", "reader"]));
    assert_eq!(n.context["auth_token"], Value::Null);
    assert_eq!(n.context["is_admin_project"], true);
    assert_eq!(n.context.len(), 17);
    // Context keys keep the order oslo packed them in.
    assert_eq!(n.context.keys().next().map(String::as_str), Some("user"));
}

#[test]
fn unicode_with_astral_characters() {
    let [message] = &load("v2_unicode")[..] else {
        panic!()
    };
    let n = decode_and_reencode(message).notification;
    assert_eq!(n.priority, Priority::Error);
    assert_eq!(n.payload["name"], "vm-\u{e9}-\u{65e5}\u{672c}-\u{1f680}");
    assert_eq!(n.payload["quote"], "he said \"hi\"\n");
    assert_eq!(n.payload["nested"], json!({"a": [1, 2.5, null, true]}));
}

#[test]
fn a_payload_that_is_a_string() {
    let [message] = &load("v2_string_payload")[..] else {
        panic!()
    };
    let n = decode_and_reencode(message).notification;
    assert_eq!(n.payload, json!("{\"heavy\": \"payload\"}"));
}

#[test]
fn prepared_publisher_id() {
    let [message] = &load("v2_prepare_publisher")[..] else {
        panic!()
    };
    let n = decode_and_reencode(message).notification;
    assert_eq!(n.publisher_id.as_deref(), Some("compute.herschel"));
    assert_eq!(n.priority, Priority::Warn);
    assert_eq!(n.event_type, "compute.instance.delete.start");
}

#[test]
fn a_one_megabyte_payload() {
    let [message] = &load("v2_big_payload_1mb")[..] else {
        panic!()
    };
    let n = decode_and_reencode(message).notification;
    let blob = n.payload["blob"].as_str().unwrap();
    assert!(blob.len() >= 1_000_000 - 1000, "{}", blob.len());
    assert!(blob.bytes().all(|b| b == b'x'));
}
