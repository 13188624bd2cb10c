//! Operations: an event type ending in `.start` opens one, named by what precedes it
//! (`compute.instance.create`); `.end` closes it, `.error` closes it as failed. Start and end
//! are paired by the id of what they are about ([`operation_id`]), and durations come from
//! the notifications' own timestamps. Pure: the caller says what time it is.

pub use crate::wire::envelope::parse_timestamp;
use crate::wire::envelope::{Message, Notification, Priority};
use crate::wire::versioned;
use chrono::NaiveDateTime;
use foldhash::HashMap;
use hdrhistogram::Histogram;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

/// How many operations in flight are tracked; beyond that, the oldest are dropped and count
/// as stale from then on.
pub const MAX_OPEN: usize = 10_000;
/// How many operation names are kept apart; further ones count under `(other)`.
pub const MAX_OPERATIONS: usize = 1_000;
/// The name further operations count under.
pub const OTHER: &str = "(other)";
/// The payload members that name what an operation is about, in the order they are looked
/// for (in a versioned object's data too); then the context's `request_id`.
pub const ID_MEMBERS: [&str; 4] = ["instance_id", "uuid", "resource_id", "id"];

/// Where a notification stands in an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase<'a> {
    /// `NAME.start`.
    Start(&'a str),
    /// `NAME.end`.
    End(&'a str),
    /// `NAME.error`.
    Error(&'a str),
}

impl<'a> Phase<'a> {
    /// The phase of `event_type`, if it is one.
    pub fn of(event_type: &'a str) -> Option<Phase<'a>> {
        // The end of the text compared, not a search for its last dot: every notification
        // is asked.
        let (name, phase) = if let Some(name) = event_type.strip_suffix(".start") {
            (name, Phase::Start(name))
        } else if let Some(name) = event_type.strip_suffix(".end") {
            (name, Phase::End(name))
        } else {
            let name = event_type.strip_suffix(".error")?;
            (name, Phase::Error(name))
        };
        (!name.is_empty()).then_some(phase)
    }
}

/// The objects of a payload where what it is about is named, in the order they are looked
/// in: the payload, the data of a versioned object that is the payload, and the object of a
/// payload that holds nothing else (Neutron's `{"port": {...}}`).
pub fn subject_members(payload: &Value) -> impl Iterator<Item = &Map<String, Value>> {
    let sole = payload
        .as_object()
        .filter(|members| members.len() == 1)
        .and_then(|members| members.values().next())
        .filter(|value| versioned::data(value).is_none());
    [Some(payload), versioned::data(payload), sole]
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

/// A member that names something, as text: a string that is not empty, or a number.
pub fn as_id(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) if !s.is_empty() => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// What a payload is about: the first of [`ID_MEMBERS`] found in one of its
/// [`subject_members`], as text.
pub fn subject_id(payload: &Value) -> Option<Cow<'_, str>> {
    subject_members(payload).find_map(|members| {
        ID_MEMBERS
            .iter()
            .find_map(|member| members.get(*member).and_then(as_id))
    })
}

/// The id a start and its end are paired by: what the payload is about ([`subject_id`]),
/// else the context's `request_id`.
pub fn operation_id(notification: &Notification) -> Option<Cow<'_, str>> {
    subject_id(&notification.payload)
        .or_else(|| notification.context.get("request_id").and_then(as_id))
}

/// The figures of one operation name.
#[derive(Debug)]
pub struct Operation {
    /// Starts seen.
    pub started: u64,
    /// Ends seen (paired with a start or not).
    pub ended: u64,
    /// Errors seen.
    pub failed: u64,
    /// Tracked ones in flight, by id.
    open: HashMap<String, Open>,
    /// In flight, but dropped from tracking to keep within [`MAX_OPEN`]: counted as stale.
    dropped: u64,
    /// Durations of paired ends, in milliseconds.
    durations: Option<Histogram<u32>>,
    /// The longest duration, exact.
    max: Option<Duration>,
    /// Operations found stale (in flight past the stale time, or dropped from tracking)
    /// since the start: each counted once, at [`Operations::mark_stale`] or when dropped.
    stale_total: u64,
}

impl Operation {
    fn new() -> Self {
        Operation {
            started: 0,
            ended: 0,
            failed: 0,
            open: HashMap::default(),
            dropped: 0,
            durations: None,
            max: None,
            stale_total: 0,
        }
    }

    /// Operations found stale since the start (see [`Operations::mark_stale`]).
    pub fn stale_total(&self) -> u64 {
        self.stale_total
    }

    /// Operations started and not yet ended.
    pub fn in_flight(&self) -> u64 {
        self.open.len() as u64 + self.dropped
    }

    /// Durations of paired ends: how many were measured.
    #[cfg(test)]
    fn measured(&self) -> u64 {
        self.durations.as_ref().map_or(0, Histogram::len)
    }

    /// The duration `quantile` (0..=1) of the ends paired with their start, to within 1%;
    /// `None` while none was measured.
    pub fn duration_at(&self, quantile: f64) -> Option<Duration> {
        let histogram = self.durations.as_ref().filter(|h| !h.is_empty())?;
        let ms = histogram.lowest_equivalent(histogram.value_at_quantile(quantile));
        // The exact longest is known: no quantile is longer.
        let at = Duration::from_millis(ms);
        Some(self.max.map_or(at, |max| at.min(max)))
    }

    /// The longest duration measured.
    pub fn max(&self) -> Option<Duration> {
        self.max
    }

    fn record_duration(&mut self, duration: Duration) {
        let histogram = self.durations.get_or_insert_with(|| {
            // Two significant figures; grows with the longest value recorded.
            Histogram::new(2).expect("2 significant figures is a valid precision")
        });
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        // A year bounds the histogram's size whatever clocks publishers have.
        let _ = histogram.record(ms.min(365 * 24 * 3600 * 1000));
        self.max = Some(self.max.map_or(duration, |max| max.max(duration)));
    }
}

/// One operation in flight.
#[derive(Debug)]
struct Open {
    started: Option<NaiveDateTime>,
    order: u64,
    /// Counted in [`Operation::stale_total`] already.
    counted_stale: bool,
}

/// What [`Operations::record`] reads of a notification: its event type, and only for an
/// operation's start or end its timestamp and [`operation_id`]. A [`Message`] reads the id
/// from its text where the text settles it ([`operation_id_json`]), and builds the values of
/// its payload and context only where it does not; `--top` counts its rows from the same head.
pub trait Counted {
    /// Its event type.
    fn event_type(&self) -> &str;
    /// Who sent it.
    fn publisher_id(&self) -> Option<&str>;
    /// Its priority.
    fn priority(&self) -> Priority;
    /// Its timestamp, in Python's `str(datetime)` form.
    fn timestamp(&self) -> &str;
    /// The id its start and end are paired by: [`operation_id`].
    fn operation_id(&self) -> Option<Cow<'_, str>>;
}

impl Counted for Notification {
    fn event_type(&self) -> &str {
        &self.event_type
    }

    fn publisher_id(&self) -> Option<&str> {
        self.publisher_id.as_deref()
    }

    fn priority(&self) -> Priority {
        self.priority
    }

    fn timestamp(&self) -> &str {
        &self.timestamp
    }

    fn operation_id(&self) -> Option<Cow<'_, str>> {
        operation_id(self)
    }
}

impl Counted for Message {
    fn event_type(&self) -> &str {
        &self.event_type
    }

    fn publisher_id(&self) -> Option<&str> {
        self.publisher_id.as_deref()
    }

    fn priority(&self) -> Priority {
        self.priority
    }

    fn timestamp(&self) -> &str {
        &self.timestamp
    }

    fn operation_id(&self) -> Option<Cow<'_, str>> {
        match operation_id_json(self) {
            Some(id) => id.map(Cow::Borrowed),
            None => operation_id(self.notification()),
        }
    }
}

/// [`operation_id`] read from a message's text, without building values: `Some` with the
/// answer where the text settles it, `None` where only the values can tell (an id with an
/// escape or one that is a number, a payload of one member, text that is not compact JSON).
pub fn operation_id_json(message: &Message) -> Option<Option<&str>> {
    if let Some(id) = subject_id_json(message.payload_json())? {
        return Some(Some(id));
    }
    match message
        .context_json()
        .find(|(name, _)| *name == "request_id")
    {
        Some((_, value)) => id_json(value),
        None => Some(None),
    }
}

/// [`subject_id`] read from a payload's compact JSON text, as [`operation_id_json`] reads it.
fn subject_id_json(payload: &str) -> Option<Option<&str>> {
    if !payload.starts_with('{') {
        // Not an object: nothing in it names a subject.
        return Some(None);
    }
    let members = versioned::members_json(payload)?;
    if let Some(id) = id_among_json(&members)? {
        return Some(Some(id));
    }
    if let Some(data) = versioned::data_json(&members) {
        if data.starts_with('{') {
            return id_among_json(&versioned::members_json(data)?);
        }
        return Some(None);
    }
    match members.as_slice() {
        // What `subject_members` calls the sole object: left to the values.
        [(_, value)] if value.starts_with('{') => None,
        _ => Some(None),
    }
}

/// The first of [`ID_MEMBERS`] among `members` that names something, as [`as_id`] reads it.
fn id_among_json<'j>(members: &[(&str, &'j str)]) -> Option<Option<&'j str>> {
    for name in ID_MEMBERS {
        if let Some((_, value)) = members.iter().find(|(key, _)| *key == name) {
            if let Some(id) = id_json(value)? {
                return Some(Some(id));
            }
        }
    }
    Some(None)
}

/// [`as_id`] of a value's compact JSON text: a string's text where it has no escape; `None`
/// for a number or an escaped string (their text is not their id).
fn id_json(value: &str) -> Option<Option<&str>> {
    match value.as_bytes().first()? {
        b'"' => {
            let text = value.get(1..value.len().checked_sub(1)?)?;
            if text.contains('\\') {
                return None;
            }
            Some((!text.is_empty()).then_some(text))
        }
        b'n' | b't' | b'f' | b'{' | b'[' => Some(None),
        _ => None,
    }
}

/// An operation that a notification closed (`.end` or `.error`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Closed<'a> {
    /// The operation's name (or [`OTHER`]).
    pub name: &'a str,
    /// Closed by `.error`.
    pub failed: bool,
    /// From its start's timestamp to this one's, when it was paired with its start and
    /// both have one.
    pub duration: Option<Duration>,
}

/// Every operation seen, and those in flight.
#[derive(Debug)]
pub struct Operations {
    names: HashMap<String, Operation>,
    /// (name, id) of each operation in flight, oldest first, to drop the oldest beyond
    /// [`MAX_OPEN`].
    order: BTreeMap<u64, (String, String)>,
    next: u64,
    stale: Duration,
}

impl Operations {
    /// No operations yet; in flight longer than `stale` is stale.
    pub fn new(stale: Duration) -> Self {
        Operations {
            names: HashMap::default(),
            order: BTreeMap::new(),
            next: 0,
            stale,
        }
    }

    /// The figures of `name` (or of [`OTHER`] beyond [`MAX_OPERATIONS`] names), and the
    /// name they are kept under.
    fn operation<'a>(&mut self, name: &'a str) -> (&'a str, &mut Operation) {
        let name = if self.names.len() < MAX_OPERATIONS || self.names.contains_key(name) {
            name
        } else {
            OTHER
        };
        if !self.names.contains_key(name) {
            self.names.insert(name.to_owned(), Operation::new());
        }
        let operation = self.names.get_mut(name).expect("inserted above");
        (name, operation)
    }

    /// Counts `notification` if its event type opens or closes an operation; says which
    /// operation it closed, if it closed one.
    pub fn record<'a>(&mut self, counted: &'a impl Counted) -> Option<Closed<'a>> {
        let phase = Phase::of(counted.event_type())?;
        let id = counted.operation_id();
        let at = parse_timestamp(counted.timestamp());
        match phase {
            Phase::Start(name) => {
                let order = self.next;
                let (name, operation) = self.operation(name);
                operation.started += 1;
                // Without an id, nothing pairs its end with it: it cannot be followed. Started
                // again before it ended: the first start stands.
                let id = id.filter(|id| !operation.open.contains_key(id.as_ref()))?;
                let id = id.into_owned();
                let open = Open {
                    started: at,
                    order,
                    counted_stale: false,
                };
                operation.open.insert(id.clone(), open);
                let name = name.to_owned();
                self.next += 1;
                self.order.insert(order, (name, id));
                if self.order.len() > MAX_OPEN {
                    self.drop_oldest();
                }
                None
            }
            Phase::End(name) | Phase::Error(name) => {
                let failed = matches!(phase, Phase::Error(_));
                let (name, operation) = self.operation(name);
                if failed {
                    operation.failed += 1;
                } else {
                    operation.ended += 1;
                }
                let mut duration = None;
                match id.and_then(|id| operation.open.remove(id.as_ref())) {
                    Some(open) => {
                        if let (Some(start), Some(end)) = (open.started, at) {
                            let took = (end - start).to_std().unwrap_or(Duration::ZERO);
                            if !failed {
                                operation.record_duration(took);
                            }
                            duration = Some(took);
                        }
                        self.order.remove(&open.order);
                    }
                    // Most likely the end of one dropped from tracking.
                    None => operation.dropped = operation.dropped.saturating_sub(1),
                }
                Some(Closed {
                    name,
                    failed,
                    duration,
                })
            }
        }
    }

    fn drop_oldest(&mut self) {
        let Some((_, (name, id))) = self.order.pop_first() else {
            return;
        };
        if let Some(operation) = self.names.get_mut(&name) {
            if let Some(open) = operation.open.remove(&id) {
                operation.dropped += 1;
                // Counted as stale from now on.
                operation.stale_total += u64::from(!open.counted_stale);
            }
        }
    }

    /// Counts in [`Operation::stale_total`] the operations in flight for longer than the
    /// stale time at `now` (UTC) by their start's timestamp, each once.
    pub fn mark_stale(&mut self, now: NaiveDateTime) {
        let stale = self.stale;
        for operation in self.names.values_mut() {
            for open in operation.open.values_mut() {
                let old = open
                    .started
                    .is_some_and(|started| (now - started).to_std().is_ok_and(|age| age > stale));
                if old && !open.counted_stale {
                    open.counted_stale = true;
                    operation.stale_total += 1;
                }
            }
        }
    }

    /// Every operation name with its figures.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Operation)> {
        self.names.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many operations of each name are stale at `now` (UTC): in flight for longer than
    /// the stale time by their start's timestamp, or dropped from tracking.
    pub fn stale(&self, now: NaiveDateTime) -> HashMap<&str, u64> {
        let mut stale = HashMap::default();
        for (name, operation) in &self.names {
            let old = operation
                .open
                .values()
                .filter_map(|open| open.started)
                .filter(|started| (now - *started).to_std().is_ok_and(|age| age > self.stale))
                .count() as u64;
            if old + operation.dropped > 0 {
                stale.insert(name.as_str(), old + operation.dropped);
            }
        }
        stale
    }

    /// How many operations are tracked in flight.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::envelope::{Format, Priority};
    use serde_json::json;

    fn at(text: &str) -> NaiveDateTime {
        parse_timestamp(text).unwrap()
    }

    fn event(event_type: &str, payload: Value, timestamp: &str) -> Notification {
        let mut n = Notification::new(Priority::Info, event_type, payload);
        n.timestamp = timestamp.to_owned();
        n
    }

    #[test]
    fn phases_come_from_the_last_word() {
        assert_eq!(
            Phase::of("compute.instance.create.start"),
            Some(Phase::Start("compute.instance.create"))
        );
        assert_eq!(
            Phase::of("instance.create.end"),
            Some(Phase::End("instance.create"))
        );
        assert_eq!(
            Phase::of("volume.attach.error"),
            Some(Phase::Error("volume.attach"))
        );
        assert_eq!(Phase::of("compute.instance.exists"), None);
        assert_eq!(Phase::of("start"), None);
        assert_eq!(Phase::of(".start"), None);
        assert_eq!(Phase::of("image.restart"), None);
        assert_eq!(Phase::of("a.end.later"), None);
        assert_eq!(Phase::of("a.start.end"), Some(Phase::End("a.start")));
        assert_eq!(Phase::of("a..error"), Some(Phase::Error("a.")));
    }

    #[test]
    fn ids_are_looked_for_in_order() {
        let with = |payload: Value| event("x.start", payload, "");
        let id = |n: &Notification| operation_id(n).map(Cow::into_owned);
        assert_eq!(
            id(&with(
                json!({"id": "4", "resource_id": "3", "uuid": "2", "instance_id": "1"})
            )),
            Some("1".into())
        );
        assert_eq!(
            id(&with(json!({"id": "4", "resource_id": "3", "uuid": "2"}))),
            Some("2".into())
        );
        assert_eq!(
            id(&with(json!({"id": "4", "resource_id": "3"}))),
            Some("3".into())
        );
        assert_eq!(id(&with(json!({"id": 42}))), Some("42".into()));
        let versioned = json!({
            "nova_object.name": "InstanceActionPayload",
            "nova_object.namespace": "nova",
            "nova_object.version": "1.8",
            "nova_object.data": {"uuid": "178b0921-8f85-4257-88b6-2e743b5a975c", "host": "c1"}
        });
        assert_eq!(
            id(&with(versioned)),
            Some("178b0921-8f85-4257-88b6-2e743b5a975c".into())
        );
        let mut by_request = with(json!({"name": "x"}));
        by_request
            .context
            .insert("request_id".into(), json!("req-1"));
        assert_eq!(id(&by_request), Some("req-1".into()));
        assert_eq!(id(&with(json!(["not", "an", "object"]))), None);
        // Neutron's end: the resource alone, in an object of its own.
        let port = json!({"port": {"id": "p1", "device_id": "i1", "status": "DOWN"}});
        assert_eq!(id(&with(port)), Some("p1".into()));
        let two = json!({"port": {"id": "p1"}, "network": {"id": "n1"}});
        assert_eq!(id(&with(two)), None);
    }

    /// The message `notification` arrives as, in either format.
    fn message(notification: &Notification, format: Format) -> Message {
        Message::read(&notification.encode(format, "0123").unwrap()).unwrap()
    }

    /// Both ways of reading the id agree on `notification`; whether the text settled it.
    fn read_both_ways(notification: &Notification) -> bool {
        let want = operation_id(notification);
        let mut settled = Vec::new();
        for format in [Format::V1, Format::V2] {
            let message = message(notification, format);
            assert_eq!(Counted::operation_id(&message), want, "{notification:?}");
            let json = operation_id_json(&message);
            if let Some(id) = json {
                assert_eq!(id.map(Cow::Borrowed), want, "{notification:?}");
            }
            settled.push(json.is_some());
        }
        assert_eq!(settled[0], settled[1]);
        settled[0]
    }

    #[test]
    fn ids_read_from_text_are_the_ids_read_from_values() {
        let versioned = |data: Value| {
            json!({"nova_object.name": "InstanceActionPayload", "nova_object.namespace": "nova",
                   "nova_object.version": "1.8", "nova_object.data": data})
        };
        // (payload, the text settles it)
        let cases = [
            (json!({"instance_id": "i-1", "host": "c1"}), true),
            (json!({"host": "c1", "id": "4", "uuid": "2"}), true),
            (
                json!({"instance_id": "", "uuid": null, "resource_id": {}, "id": "4"}),
                true,
            ),
            (json!({"instance_id": [1], "uuid": true, "id": "ok"}), true),
            (json!({"instance_id": "caf\u{e9} \u{1F600}"}), true),
            (json!({"instance_id": "a\"b"}), false),
            (json!({"instance_id": 42}), false),
            (json!({"uuid": 4.5, "instance_id": null}), false),
            (json!({"inst\"ance_id": "x", "uuid": "u"}), false),
            (json!({"host": "c1"}), true),
            (json!("just text"), true),
            (json!([{"instance_id": "i-1"}]), true),
            (json!(null), true),
            (versioned(json!({"uuid": "178b0921", "host": "c1"})), true),
            (versioned(json!({"host": "c1"})), true),
            (versioned(json!("not an object")), true),
            (versioned(json!({"id": 7})), false),
            (versioned(versioned(json!({"uuid": "deeper"}))), true),
            (
                json!({"uuid": "top", "nova_object.name": "X", "nova_object.data": {"uuid": "in"}}),
                true,
            ),
            (json!({"port": {"id": "p1"}}), false),
            (json!({"port": "p1"}), true),
            (json!({"port": {"id": "p1"}, "network": {"id": "n1"}}), true),
        ];
        for (payload, settled) in cases {
            let mut n = event("compute.instance.create.start", payload.clone(), "");
            assert_eq!(read_both_ways(&n), settled, "{payload}");
            // Where the payload names nothing, the context's request_id.
            for request_id in [
                json!("req-1"),
                json!(""),
                json!(null),
                json!(3),
                json!("r\\1"),
            ] {
                n.context.insert("request_id".into(), request_id.clone());
                let text_can =
                    !matches!(request_id, Value::Number(_)) && request_id.as_str() != Some("r\\1");
                let named = operation_id(&event("x", payload.clone(), "")).is_some();
                assert_eq!(
                    read_both_ways(&n),
                    settled && (named || text_can),
                    "{payload} {request_id}"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn ids_read_from_any_text_are_the_ids_read_from_values(
            payload in payloads(),
            request_id in proptest::option::of(id_values()),
        ) {
            let mut n = event("a.start", payload, "");
            if let Some(request_id) = request_id {
                n.context.insert("request_id".into(), request_id);
            }
            read_both_ways(&n);
        }
    }

    /// Values an id member may hold.
    fn id_values() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[a-z0-9-]{0,6}".prop_map(Value::String),
            any::<String>().prop_map(Value::String),
        ]
    }

    /// Payloads of the members ids are read from, versioned objects, and others.
    fn payloads() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop_oneof![
            proptest::sample::select(&ID_MEMBERS[..]).prop_map(str::to_owned),
            proptest::sample::select(
                &[
                    "nova_object.name",
                    "nova_object.data",
                    "ovo_object.name",
                    "ovo_object.data",
                    "host",
                    "id\"",
                ][..]
            )
            .prop_map(str::to_owned),
            any::<String>(),
        ];
        id_values().prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((key.clone(), inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn timestamps_in_both_forms() {
        let want = at("2026-11-26 11:00:00.250000");
        assert_eq!(parse_timestamp("2026-11-26T11:00:00.25"), Some(want));
        assert_eq!(parse_timestamp("2026-11-26T11:00:00.25Z"), Some(want));
        assert_eq!(parse_timestamp("2026-11-26T12:00:00.25+01:00"), Some(want));
        assert_eq!(
            parse_timestamp("2026-11-26 11:00:00"),
            Some(at("2026-11-26 11:00:00.0"))
        );
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(
            parse_timestamp("2026-11-26 11:00:00.2"),
            Some(want - chrono::Duration::milliseconds(50))
        );
        assert_eq!(parse_timestamp("2026-13-26 11:00:00"), None);
        assert_eq!(parse_timestamp("2026-11-26 11:0a:00"), None);
    }

    #[test]
    fn starts_and_ends_pair_into_durations() {
        let mut ops = Operations::new(Duration::from_secs(600));
        let op = "compute.instance.create";
        let start =
            |id: &str, t: &str| event(&format!("{op}.start"), json!({"instance_id": id}), t);
        let end = |id: &str, t: &str| event(&format!("{op}.end"), json!({"instance_id": id}), t);
        let error =
            |id: &str, t: &str| event(&format!("{op}.error"), json!({"instance_id": id}), t);
        ops.record(&start("a", "2026-11-26 11:00:00.000000"));
        ops.record(&start("b", "2026-11-26 11:00:01.000000"));
        ops.record(&start("c", "2026-11-26 11:00:02.000000"));
        ops.record(&start("d", "2026-11-26 11:00:03.000000"));
        ops.record(&end("b", "2026-11-26 11:00:03.000000")); // 2 s
        ops.record(&end("a", "2026-11-26 11:00:01.500000")); // 1.5 s
        ops.record(&error("c", "2026-11-26 11:00:09.000000"));
        let (name, figures) = ops.iter().next().unwrap();
        assert_eq!(name, op);
        assert_eq!(
            (
                figures.started,
                figures.ended,
                figures.failed,
                figures.in_flight()
            ),
            (4, 2, 1, 1)
        );
        assert_eq!(figures.measured(), 2);
        assert_eq!(figures.max(), Some(Duration::from_secs(2)));
        let p50 = figures.duration_at(0.5).unwrap().as_secs_f64();
        assert!((p50 - 1.5).abs() <= 0.015, "{p50}");
        let p95 = figures.duration_at(0.95).unwrap().as_secs_f64();
        assert!((p95 - 2.0).abs() <= 0.02, "{p95}");
        // d started at 11:00:03: stale ten minutes and a second later, not before.
        assert!(ops.stale(at("2026-11-26 11:10:03.000000")).is_empty());
        assert_eq!(ops.stale(at("2026-11-26 11:10:04.000000"))[op], 1);
    }

    #[test]
    fn what_an_end_or_error_closed_is_said_with_its_duration() {
        let mut ops = Operations::new(Duration::from_secs(60));
        let n = |event_type: &str, id: &str, t: &str| event(event_type, json!({"id": id}), t);
        let (a, b) = (
            n("vol.attach.start", "a", "2026-11-26 11:00:00"),
            n("vol.attach.start", "b", "2026-11-26 11:00:00"),
        );
        assert_eq!(ops.record(&a), None);
        assert_eq!(ops.record(&b), None);
        let end = n("vol.attach.end", "a", "2026-11-26 11:00:02.5");
        let closed = ops.record(&end);
        let want = Closed {
            name: "vol.attach",
            failed: false,
            duration: Some(Duration::from_millis(2500)),
        };
        assert_eq!(closed, Some(want));
        // An error's duration is said too, though --top measures only ends.
        let error = n("vol.attach.error", "b", "2026-11-26 11:00:04");
        let closed = ops.record(&error);
        let failed = Closed {
            failed: true,
            duration: Some(Duration::from_secs(4)),
            ..want
        };
        assert_eq!(closed, Some(failed));
        assert_eq!(ops.iter().next().unwrap().1.measured(), 1);
        // Unpaired: closed, nothing measured.
        let unpaired = n("vol.attach.end", "z", "2026-11-26 11:00:04");
        assert_eq!(ops.record(&unpaired).map(|c| c.duration), Some(None));
        assert_eq!(ops.record(&n("vol.exists", "z", "")), None);
    }

    #[test]
    fn stale_operations_are_counted_once_each() {
        let mut ops = Operations::new(Duration::from_secs(60));
        for (id, t) in [("a", "11:00:00"), ("b", "11:00:30"), ("c", "11:00:50")] {
            ops.record(&event(
                "x.start",
                json!({"id": id}),
                &format!("2026-11-26 {t}"),
            ));
        }
        let total = |ops: &Operations| ops.iter().next().unwrap().1.stale_total();
        ops.mark_stale(at("2026-11-26 11:01:00"));
        assert_eq!(total(&ops), 0);
        ops.mark_stale(at("2026-11-26 11:01:01"));
        assert_eq!(total(&ops), 1);
        ops.mark_stale(at("2026-11-26 11:01:01"));
        assert_eq!(total(&ops), 1, "a is counted once");
        // a ends late: still counted; b goes stale.
        ops.record(&event("x.end", json!({"id": "a"}), "2026-11-26 11:01:05"));
        ops.mark_stale(at("2026-11-26 11:01:31"));
        assert_eq!(total(&ops), 2);
        assert_eq!(ops.iter().next().unwrap().1.in_flight(), 2);
    }

    #[test]
    fn those_dropped_from_tracking_count_as_stale_once() {
        let mut ops = Operations::new(Duration::from_secs(600));
        let now = "2026-11-26 11:00:00";
        ops.record(&event(
            "x.start",
            json!({"id": "old"}),
            "2026-11-26 10:00:00",
        ));
        ops.mark_stale(at(now));
        for i in 0..MAX_OPEN + 2 {
            ops.record(&event("x.start", json!({"id": i}), now));
        }
        // "old" (counted already) and two more dropped.
        assert_eq!(ops.iter().next().unwrap().1.stale_total(), 3);
    }

    #[test]
    fn an_end_without_its_start_counts_but_measures_nothing() {
        let mut ops = Operations::new(Duration::from_secs(600));
        ops.record(&event(
            "vol.attach.end",
            json!({"id": "v"}),
            "2026-11-26 11:00:00",
        ));
        let (_, figures) = ops.iter().next().unwrap();
        assert_eq!(
            (figures.ended, figures.in_flight(), figures.measured()),
            (1, 0, 0)
        );
        assert_eq!(figures.duration_at(0.5), None);
    }

    #[test]
    fn beyond_the_limit_the_oldest_in_flight_count_as_stale() {
        let mut ops = Operations::new(Duration::from_secs(600));
        let now = "2026-11-26 11:00:00";
        for i in 0..MAX_OPEN + 3 {
            ops.record(&event("x.start", json!({"id": i}), now));
        }
        assert_eq!(ops.tracked(), MAX_OPEN);
        let (_, figures) = ops.iter().next().unwrap();
        assert_eq!(figures.in_flight(), (MAX_OPEN + 3) as u64);
        assert_eq!(ops.stale(at(now))["x"], 3);
        // The end of a dropped one: no longer in flight.
        ops.record(&event("x.end", json!({"id": 0}), now));
        let (_, figures) = ops.iter().next().unwrap();
        assert_eq!(figures.in_flight(), (MAX_OPEN + 2) as u64);
        assert_eq!(ops.stale(at(now))["x"], 2);
        // The end of a tracked one is measured.
        ops.record(&event("x.end", json!({"id": 5}), now));
        assert_eq!(ops.iter().next().unwrap().1.measured(), 1);
    }

    #[test]
    fn names_beyond_the_limit_share_one() {
        let mut ops = Operations::new(Duration::from_secs(600));
        for i in 0..MAX_OPERATIONS + 2 {
            ops.record(&event(&format!("op{i}.start"), json!({"id": i}), ""));
        }
        ops.record(&event(
            &format!("op{}.end", MAX_OPERATIONS + 1),
            json!({"id": MAX_OPERATIONS + 1}),
            "",
        ));
        let other = ops.iter().find(|(name, _)| *name == OTHER).unwrap().1;
        assert_eq!((other.started, other.ended, other.in_flight()), (2, 1, 1));
        assert_eq!(ops.iter().count(), MAX_OPERATIONS + 1);
    }
}
