//! `--replay --rewrite-ids`: every id that ties notifications together (request ids, global
//! request ids, instance and volume ids, versioned objects' uuids: any string that is a UUID,
//! or `req-` and a UUID) replaced by a fresh one, the same old id by the same new one within a
//! pass, so that what paired before pairs again and two passes share none. Pure.

use serde_json::{Map, Value};
use std::collections::HashMap;

/// The ids of one pass and their replacements.
#[derive(Debug, Default)]
pub struct Rewriter {
    fresh: HashMap<String, String>,
}

/// Whether `text` is a UUID in its usual form (`8-4-4-4-12` hex digits), or 32 hex digits.
fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    match bytes.len() {
        36 => bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        }),
        32 => bytes.iter().all(u8::is_ascii_hexdigit),
        _ => false,
    }
}

/// A fresh id of the same form as `old`: its prefix (`req-`), dashes and case kept.
fn fresh_like(old: &str) -> String {
    let (prefix, id) = match old.strip_prefix("req-") {
        Some(id) => ("req-", id),
        None => ("", old),
    };
    let new = uuid::Uuid::new_v4();
    let mut text = match id.len() {
        32 => new.simple().to_string(),
        _ => new.hyphenated().to_string(),
    };
    if id.bytes().any(|b| b.is_ascii_uppercase()) {
        text.make_ascii_uppercase();
    }
    format!("{prefix}{text}")
}

/// Whether `text` is an id to replace.
fn is_id(text: &str) -> bool {
    is_uuid(text.strip_prefix("req-").unwrap_or(text))
}

impl Rewriter {
    /// No ids seen yet.
    pub fn new() -> Rewriter {
        Rewriter::default()
    }

    /// A new pass: ids are given new replacements from now on.
    pub fn new_pass(&mut self) {
        self.fresh.clear();
    }

    /// Replaces every id in `value`, at any depth, by its replacement in this pass.
    pub fn rewrite(&mut self, value: &mut Value) {
        match value {
            Value::String(text) if is_id(text) => {
                let new = self
                    .fresh
                    .entry(std::mem::take(text))
                    .or_insert_with_key(|old| fresh_like(old));
                text.clone_from(new);
            }
            Value::Array(values) => values.iter_mut().for_each(|v| self.rewrite(v)),
            Value::Object(members) => self.rewrite_members(members),
            _ => {}
        }
    }

    /// [`Rewriter::rewrite`] on each member of an object (a context).
    pub fn rewrite_members(&mut self, members: &mut Map<String, Value>) {
        members.values_mut().for_each(|v| self.rewrite(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_replaced_the_same_way_within_a_pass_and_anew_in_the_next() {
        let instance = "178b0921-8f85-4257-88b6-2e743b5a975c";
        let request = "req-5f3e4b8e-6a0e-4a7c-9a59-0c2f0b3f1d2e";
        let payload = json!({
            "nova_object.data": {"uuid": instance, "host": "compute-1", "flavor": {"nova_object.data": {"flavorid": "a22d5517-147c-4147-a0d1-e698df5cd4e3", "memory_mb": 512}}},
            "ids": [instance, "not-an-id", 42],
            "unique": "0123456789abcdef0123456789ABCDEF",
        });
        let mut rewriter = Rewriter::new();
        let mut start = payload.clone();
        let mut end = payload.clone();
        let mut context =
            json!({"request_id": request, "global_request_id": request, "user": "admin"});
        rewriter.rewrite(&mut start);
        rewriter.rewrite(&mut end);
        rewriter.rewrite(&mut context);
        assert_eq!(start, end, "the same ids in a pass");
        let new_instance = start["nova_object.data"]["uuid"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_ne!(new_instance, instance);
        assert!(is_uuid(&new_instance));
        assert_eq!(start["ids"], json!([new_instance, "not-an-id", 42]));
        assert_eq!(start["nova_object.data"]["host"], "compute-1");
        assert_ne!(
            start["nova_object.data"]["flavor"]["nova_object.data"]["flavorid"],
            payload["nova_object.data"]["flavor"]["nova_object.data"]["flavorid"]
        );
        let unique = start["unique"].as_str().unwrap();
        assert!(
            unique.len() == 32 && unique.bytes().all(|b| !b.is_ascii_lowercase()),
            "{unique}"
        );
        let new_request = context["request_id"].as_str().unwrap();
        assert!(new_request.starts_with("req-") && new_request != request);
        assert_eq!(context["global_request_id"], context["request_id"]);
        assert_eq!(context["user"], "admin");

        rewriter.new_pass();
        let mut again = payload.clone();
        rewriter.rewrite(&mut again);
        assert_ne!(
            again["nova_object.data"]["uuid"],
            start["nova_object.data"]["uuid"]
        );
        assert_ne!(again["nova_object.data"]["uuid"], instance);
    }

    #[test]
    fn only_whole_ids_are_ids() {
        for id in [
            "178b0921-8f85-4257-88b6-2e743b5a975c",
            "req-178b0921-8f85-4257-88b6-2e743b5a975c",
            "178b09218f85425788b62e743b5a975c",
        ] {
            assert!(is_id(id), "{id}");
        }
        for not in [
            "178b0921-8f85-4257-88b6-2e743b5a975",
            "178b0921x8f85-4257-88b6-2e743b5a975c",
            "instance-178b0921",
            "",
            "req-",
            "g78b0921-8f85-4257-88b6-2e743b5a975c",
        ] {
            assert!(!is_id(not), "{not}");
        }
    }
}
