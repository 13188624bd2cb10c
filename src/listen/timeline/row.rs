//! Which notifications belong to an id, and what a timeline shows of each: its service and
//! host, the instance it is about, the state it moved between, its request. Pure.

use crate::listen::top::operations::{
    as_id, parse_timestamp, subject_id, subject_members, ID_MEMBERS,
};
use crate::wire::envelope::{Message, Notification, Priority};
use crate::wire::versioned;
use chrono::NaiveDateTime;
use serde_json::{Map, Value};

/// The context members that hold a request's ids.
const REQUEST_MEMBERS: [&str; 2] = ["global_request_id", "request_id"];

/// What a timeline shows of one notification, before its place in the timeline is known.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Its timestamp as sent.
    pub timestamp: String,
    /// Its timestamp read, when it could be.
    pub at: Option<NaiveDateTime>,
    /// Error or critical priority, or an `.error` event.
    pub failed: bool,
    /// The broker it came from (`--source`); empty for a run's only one.
    pub source: String,
    /// publisher_id's service part (before `:`, or else the first `.`).
    pub service: String,
    /// publisher_id's host part (after it); empty when there is none.
    pub host: String,
    /// The event type.
    pub event_type: String,
    /// The instance (or resource) it is about, when the payload names one.
    pub instance: Option<String>,
    /// The state it moved between (`building -> active`), or is in, when the payload says.
    pub state: Option<String>,
    /// The request it belongs to: the context's `request_id`, or the payload's.
    pub request_id: Option<String>,
    /// The `.start` it may be paired with (`compute.instance.create` and the instance), for
    /// a `.end` or `.error`; what a `.start` opens, for one.
    pub operation: Option<(String, String)>,
}

/// A member that names something, as text.
fn text(value: &Value) -> Option<String> {
    as_id(value).map(|id| id.into_owned())
}

/// The members of a payload to look in: a versioned object's data, or the payload itself.
fn members(payload: &Value) -> Option<&Map<String, Value>> {
    versioned::data(payload).unwrap_or(payload).as_object()
}

/// Whether `notification` belongs to one of `ids`: its context's `global_request_id` or
/// `request_id`, its payload's `request_id`, or one of the ids `--top` pairs operations by
/// (`instance_id`, `uuid`, `resource_id`, `id`, in the payload, a versioned object's data
/// or the payload's sole object).
pub fn belongs(notification: &Notification, ids: &[String]) -> bool {
    let is_one = |value: &Value| text(value).is_some_and(|id| ids.contains(&id));
    if REQUEST_MEMBERS
        .iter()
        .filter_map(|member| notification.context.get(*member))
        .any(is_one)
    {
        return true;
    }
    subject_members(&notification.payload).any(|payload| {
        std::iter::once("request_id")
            .chain(ID_MEMBERS)
            .filter_map(|member| payload.get(member))
            .any(is_one)
    })
}

/// What `ids` look like in a notification's compact JSON text, for [`may_belong`]: each as
/// `serde_json` writes it inside a string (a number id is written the same way as a number).
pub fn id_texts(ids: &[String]) -> Vec<String> {
    ids.iter()
        .map(|id| {
            let quoted = serde_json::Value::from(id.as_str()).to_string();
            quoted[1..quoted.len() - 1].to_owned()
        })
        .collect()
}

/// Whether `message` may belong to the ids whose texts are `id_texts` ([`id_texts`]): one of
/// them is in its payload's or context's text. When not, [`belongs`] is false, and the
/// notification's values need not be built to ask it.
pub fn may_belong(message: &Message, id_texts: &[String]) -> bool {
    let payload = message.payload_json();
    id_texts.iter().any(|id| {
        payload.contains(id.as_str())
            || message.context_json().any(|(_, v)| v.contains(id.as_str()))
    })
}

/// `publisher_id` as service and host: `nova-compute:compute1` (versioned) or
/// `compute.compute1` (legacy; the host may hold dots).
pub fn service_and_host(publisher_id: Option<&str>) -> (String, String) {
    let Some(id) = publisher_id else {
        return ("-".to_owned(), String::new());
    };
    let split = id.split_once(':').or_else(|| id.split_once('.'));
    match split {
        Some((service, host)) => (service.to_owned(), host.to_owned()),
        None => (id.to_owned(), String::new()),
    }
}

/// The state the payload says the instance moved between, or is in: `old -> new` where it
/// carries both (Nova's `old_state`/`state`, in a versioned `state_update` too), else the
/// state; then the task state in brackets, `[old -> new]` where both are there and differ.
pub fn state(payload: &Value) -> Option<String> {
    let payload = members(payload)?;
    // Versioned instance.update: the states are in a state_update object.
    let update = payload
        .get("state_update")
        .and_then(members)
        .unwrap_or(payload);
    let get = |key: &str| update.get(key).or_else(|| payload.get(key)).and_then(text);
    let (old, new) = (get("old_state"), get("state"));
    let mut shown = match (&old, &new) {
        (Some(old), Some(new)) if old != new => format!("{old} -> {new}"),
        (_, Some(state)) | (Some(state), None) => state.clone(),
        (None, None) => String::new(),
    };
    let old_task = get("old_task_state");
    let new_task = get("new_task_state").or_else(|| get("task_state"));
    let task = match (&old_task, &new_task) {
        (None, None) => None,
        (old, new) if old != new && old.is_some() => Some(format!(
            "{} -> {}",
            old.as_deref().unwrap_or("-"),
            new.as_deref().unwrap_or("-")
        )),
        (_, new) => new.clone(),
    };
    if let Some(task) = task {
        if !shown.is_empty() {
            shown.push(' ');
        }
        shown.push_str(&format!("[{task}]"));
    }
    (!shown.is_empty()).then_some(shown)
}

/// The request a notification belongs to: its context's `request_id`, else its payload's.
fn request_id(notification: &Notification) -> Option<String> {
    notification
        .context
        .get("request_id")
        .and_then(text)
        .or_else(|| {
            members(&notification.payload)
                .and_then(|payload| payload.get("request_id"))
                .and_then(text)
        })
}

impl Step {
    /// What the timeline shows of `notification`.
    pub fn of(notification: &Notification) -> Step {
        let (service, host) = service_and_host(notification.publisher_id.as_deref());
        let event_type = notification.event_type.clone();
        let failed = matches!(notification.priority, Priority::Error | Priority::Critical)
            || event_type.ends_with(".error");
        let instance = subject_id(&notification.payload).map(|id| id.into_owned());
        let operation = event_type
            .rsplit_once('.')
            .filter(|(_, phase)| matches!(*phase, "start" | "end" | "error"))
            .map(|(name, _)| {
                let about = instance.clone().or_else(|| request_id(notification));
                (name.to_owned(), about.unwrap_or_default())
            });
        Step {
            timestamp: notification.timestamp.clone(),
            at: parse_timestamp(&notification.timestamp),
            failed,
            source: String::new(),
            service,
            host,
            event_type,
            instance,
            state: state(&notification.payload),
            request_id: request_id(notification),
            operation,
        }
    }

    /// Whether it opens an operation (`.start`).
    pub fn starts(&self) -> bool {
        self.event_type.ends_with(".start")
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    /// A step of nova-compute on cmp1 at `at` (the other tests of the timeline use it too).
    pub(in crate::listen::timeline) fn step(event_type: &str, at: &str, payload: Value) -> Step {
        let mut n = Notification::new(Priority::Info, event_type, payload);
        n.timestamp = at.to_owned();
        n.publisher_id = Some("nova-compute:cmp1".into());
        Step::of(&n)
    }

    #[test]
    fn a_notification_that_belongs_may_belong_by_its_text() {
        let ids: Vec<String> = ["req-1", "caf\u{e9} \"x\"", "42", "u-9"]
            .map(String::from)
            .to_vec();
        let texts = id_texts(&ids);
        let cases = [
            (
                json!({"instance_id": "other"}),
                json!({"request_id": "req-1"}),
                true,
            ),
            (
                json!({"nova_object.data": {"uuid": "caf\u{e9} \"x\""}}),
                json!({}),
                true,
            ),
            (json!({"port": {"id": 42}}), json!({}), true),
            (
                json!({"uuid": "u-9"}),
                json!({"global_request_id": "g"}),
                true,
            ),
            (
                json!({"uuid": "u-8"}),
                json!({"request_id": "req-2"}),
                false,
            ),
            (
                json!({"note": "mentions req-1 in a longer text"}),
                json!({}),
                false,
            ),
        ];
        for (payload, context, member) in cases {
            let n = notification("compute.instance.update", payload, context);
            let message = Message::from(crate::wire::envelope::Decoded {
                notification: n.clone(),
                unique_id: None,
                format: crate::wire::envelope::Format::V2,
            });
            assert_eq!(belongs(&n, &ids), member, "{n:?}");
            // Never false where it belongs; true for the mention too (only a first look).
            assert!(may_belong(&message, &texts) || !member, "{n:?}");
        }
        let unrelated = notification("x", json!({"uuid": "u-8"}), json!({}));
        let message = Message::from(crate::wire::envelope::Decoded {
            notification: unrelated,
            unique_id: None,
            format: crate::wire::envelope::Format::V2,
        });
        assert!(!may_belong(&message, &texts));
    }

    fn notification(event_type: &str, payload: Value, context: Value) -> Notification {
        let mut n = Notification::new(Priority::Info, event_type, payload);
        n.context = context.as_object().cloned().unwrap_or_default();
        n
    }

    #[test]
    fn a_notification_belongs_by_its_request_or_what_it_is_about() {
        let ids = ["req-g".to_owned(), "inst-1".to_owned()];
        let belongs =
            |payload: Value, context: Value| belongs(&notification("e", payload, context), &ids);
        assert!(belongs(json!({}), json!({"global_request_id": "req-g"})));
        assert!(belongs(json!({}), json!({"request_id": "req-g"})));
        assert!(belongs(json!({"instance_id": "inst-1"}), json!({})));
        assert!(belongs(
            json!({"nova_object.name": "P", "nova_object.data": {"uuid": "inst-1"}}),
            json!({})
        ));
        assert!(belongs(
            json!({"nova_object.name": "P", "nova_object.data": {"request_id": "req-g"}}),
            json!({})
        ));
        assert!(belongs(json!({"@object": "P", "id": "inst-1"}), json!({})));
        assert!(!belongs(
            json!({"port": {"device_id": "inst-1"}}),
            json!({"request_id": "req-other", "user": "req-g"})
        ));
    }

    #[test]
    fn publisher_ids_in_both_forms() {
        let split = |id| service_and_host(Some(id));
        assert_eq!(
            split("nova-compute:cmp1.example.org"),
            ("nova-compute".into(), "cmp1.example.org".into())
        );
        assert_eq!(
            split("compute.cmp1.example.org"),
            ("compute".into(), "cmp1.example.org".into())
        );
        assert_eq!(split("nova-api"), ("nova-api".into(), String::new()));
        assert_eq!(service_and_host(None), ("-".into(), String::new()));
    }

    #[test]
    fn states_old_and_new_with_the_task() {
        assert_eq!(
            state(
                &json!({"state": "active", "old_state": "building", "old_task_state": "spawning", "new_task_state": null})
            ),
            Some("building -> active [spawning -> -]".into())
        );
        assert_eq!(state(&json!({"state": "active"})), Some("active".into()));
        assert_eq!(
            state(&json!({"state": "building", "task_state": "scheduling"})),
            Some("building [scheduling]".into())
        );
        let versioned = json!({"nova_object.name": "InstanceUpdatePayload", "nova_object.data": {
            "state": "building", "task_state": "networking",
            "state_update": {"nova_object.name": "InstanceStateUpdatePayload", "nova_object.data": {
                "old_state": "building", "state": "building",
                "old_task_state": "scheduling", "new_task_state": "networking"}}}});
        assert_eq!(
            state(&versioned),
            Some("building [scheduling -> networking]".into())
        );
        assert_eq!(state(&json!({"port": {}})), None);
        assert_eq!(state(&json!([1])), None);
    }

    #[test]
    fn a_step_says_what_it_is_about() {
        let mut n = notification(
            "compute.instance.create.error",
            json!({"instance_id": "inst-1", "state": "error", "old_state": "building"}),
            json!({"request_id": "req-1", "global_request_id": "req-g"}),
        );
        n.publisher_id = Some("compute.cmp1".into());
        n.timestamp = "2026-12-05 08:00:01.5".into();
        let step = Step::of(&n);
        assert!(step.failed);
        assert_eq!(
            (step.service.as_str(), step.host.as_str()),
            ("compute", "cmp1")
        );
        assert_eq!(step.instance.as_deref(), Some("inst-1"));
        assert_eq!(step.state.as_deref(), Some("building -> error"));
        assert_eq!(step.request_id.as_deref(), Some("req-1"));
        assert_eq!(
            step.operation,
            Some(("compute.instance.create".into(), "inst-1".into()))
        );
        assert!(step.at.is_some() && !step.starts());
        let plain = Step::of(&notification("port.update", json!({}), json!({})));
        assert!(!plain.failed && plain.operation.is_none() && plain.instance.is_none());
    }
}
