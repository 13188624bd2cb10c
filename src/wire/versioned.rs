//! oslo.versionedobjects primitives, as Nova, Ironic and others send them in versioned
//! notifications: an object of `<namespace>_object.name`, `.version`, `.namespace` and
//! `.data` members. [`unwrap`] turns every one of them, however deep, into its data with an
//! `"@object": "InstanceActionPayload v1.8 (nova)"` member: what a person or a jq program
//! wants to read. Pure.

use super::words;
use serde_json::{Map, Value};
use std::ops::Range;
use std::sync::OnceLock;

/// The prefix of the keys of a versioned object primitive (`nova_object`), the one whose
/// `.name` and `.data` both are there, with the data. Allocates nothing: `--top` looks into
/// every payload with it.
fn prefix_and_data(map: &Map<String, Value>) -> Option<(&str, &Value)> {
    let (prefix, _, data) = prefix_and_data_among(keyed_by_bytes(map))?;
    // A key's text cut before an ASCII `.`: text still.
    Some((std::str::from_utf8(prefix).ok()?, data))
}

/// The members of `map` with their keys as bytes, for [`prefix_and_data_among`].
fn keyed_by_bytes(map: &Map<String, Value>) -> impl Iterator<Item = (&[u8], &Value)> + Clone {
    map.iter().map(|(key, value)| (key.as_bytes(), value))
}

/// [`prefix_and_data`] among `members` (key, value) in order, whatever the values are (the
/// values of a map, the texts of an object's members, where they are): the first key ending
/// in `_object.name` gives the prefix and the name, the member `<prefix>.data` the data.
fn prefix_and_data_among<'k, V>(
    mut members: impl Iterator<Item = (&'k [u8], V)> + Clone,
) -> Option<(&'k [u8], V, V)> {
    let (name_key, name) = members
        .clone()
        .find(|(key, _)| key.ends_with(b"_object.name"))?;
    let prefix = name_key.strip_suffix(b".name")?;
    let (_, data) = members.find(|(key, _)| key.strip_prefix(prefix) == Some(b".data"))?;
    Some((prefix, name, data))
}

/// The title (`Name vVERSION (namespace)`) of a versioned object primitive, and the prefix
/// of its keys (`nova_object`).
fn describe(map: &Map<String, Value>) -> Option<(String, &str)> {
    let (prefix, _) = prefix_and_data(map)?;
    Some((title(map, prefix)?, prefix))
}

/// The title (`Name vVERSION (namespace)`) of the object whose keys start with `prefix`.
fn title(map: &Map<String, Value>, prefix: &str) -> Option<String> {
    let mut title = map.get(&format!("{prefix}.name"))?.as_str()?.to_owned();
    if let Some(version) = map
        .get(&format!("{prefix}.version"))
        .and_then(Value::as_str)
    {
        title.push_str(" v");
        title.push_str(version);
    }
    if let Some(namespace) = map
        .get(&format!("{prefix}.namespace"))
        .and_then(Value::as_str)
    {
        title.push_str(" (");
        title.push_str(namespace);
        title.push(')');
    }
    Some(title)
}

/// The title (`Name vVERSION (namespace)`) and the data of a versioned object primitive.
pub fn object(value: &Value) -> Option<(String, &Value)> {
    let map = value.as_object()?;
    let (prefix, data) = prefix_and_data(map)?;
    Some((title(map, prefix)?, data))
}

/// The data of a versioned object primitive, without building its title: for a quick look
/// inside.
pub fn data(value: &Value) -> Option<&Value> {
    let (_, _, data) = prefix_and_data_among(keyed_by_bytes(value.as_object()?))?;
    Some(data)
}

/// `value` with every versioned object in it (nested ones and ones in lists too) replaced
/// by its data and an `@object` member naming it (data that is not an object goes under
/// `@data`).
pub fn unwrap(value: &Value) -> Value {
    let mut copy = value.clone();
    unwrap_in_place(&mut copy);
    copy
}

/// [`unwrap`], done in place: what needs no change is not copied.
pub fn unwrap_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => match describe(map).map(|(title, prefix)| {
            let data_key = format!("{prefix}.data");
            (title, data_key)
        }) {
            Some((title, data_key)) => {
                let mut data = map.remove(&data_key).unwrap_or(Value::Null);
                unwrap_in_place(&mut data);
                *map = match data {
                    Value::Object(mut fields) => {
                        fields.shift_insert(0, "@object".to_owned(), Value::String(title));
                        fields
                    }
                    other => {
                        let mut shown = Map::with_capacity(2);
                        shown.insert("@object".to_owned(), Value::String(title));
                        shown.insert("@data".to_owned(), other);
                        shown
                    }
                };
            }
            None => map.values_mut().for_each(unwrap_in_place),
        },
        Value::Array(items) => items.iter_mut().for_each(unwrap_in_place),
        _ => {}
    }
}

/// [`unwrap`] done on compact JSON text (as `serde_json` writes it) without building values:
/// the compact text of the value `unwrap` gives. `None` for a text it leaves to `unwrap`:
/// one with an escape in a key of an object that may be versioned (the key's text is then
/// not the key), or one that is not compact JSON. A text, or a part of one, in which no key
/// can name a versioned object is copied as it is, unread.
pub fn unwrap_json(json: &str) -> Option<String> {
    let mut out = Vec::with_capacity(json.len() + 64);
    let end = match name_suffix().find(json.as_bytes()) {
        Some(_) => unwrap_value(json.as_bytes(), 0, &mut out, 0)?,
        None => return Some(json.to_owned()),
    };
    if end != json.len() {
        return None;
    }
    String::from_utf8(out).ok()
}

/// The members of the compact JSON object `json` (as `serde_json` writes it), in order: each
/// key's text between its quotes and its value's text. `None` where `json` is not one such
/// object, or a key has an escape (its text is then not the key).
pub fn members_json(json: &str) -> Option<Vec<(&str, &str)>> {
    let text = json.as_bytes();
    if text.first() != Some(&b'{') {
        return None;
    }
    let (members, end) = object_members(text, 0)?;
    if end != text.len() {
        return None;
    }
    members
        .into_iter()
        .map(|(key, value)| {
            let key = json.get(key)?;
            (!key.contains('\\')).then_some((key, json.get(value)?))
        })
        .collect()
}

/// The text of the data of the versioned object primitive whose members are `members` (as
/// [`members_json`] gives them), as [`data`] finds it in its value.
pub fn data_json<'j>(members: &[(&str, &'j str)]) -> Option<&'j str> {
    let members = members.iter().map(|&(key, value)| (key.as_bytes(), value));
    prefix_and_data_among(members).map(|(_, _, data)| data)
}

/// Deeper than `serde_json` reads: not a text of its.
const MAX_DEPTH: usize = 128;

/// Writes the value at `at` in `text` unwrapped; where it ends.
fn unwrap_value(text: &[u8], at: usize, out: &mut Vec<u8>, depth: usize) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    match *text.get(at)? {
        b'{' => unwrap_object(text, at, out, depth),
        b'[' => {
            out.push(b'[');
            let mut at = at + 1;
            if text.get(at) == Some(&b']') {
                out.push(b']');
                return Some(at + 1);
            }
            loop {
                at = unwrap_range(text, at, skip_value(text, at)?, out, depth + 1)?;
                let byte = *text.get(at)?;
                out.push(byte);
                match byte {
                    b',' => at += 1,
                    b']' => return Some(at + 1),
                    _ => return None,
                }
            }
        }
        _ => {
            let end = skip_value(text, at)?;
            out.extend_from_slice(&text[at..end]);
            Some(end)
        }
    }
}

/// Writes the value at `at`, whose text ends at `end`, unwrapped: copied as it is when no
/// key in it can name a versioned object; where it ends.
fn unwrap_range(
    text: &[u8],
    at: usize,
    end: usize,
    out: &mut Vec<u8>,
    depth: usize,
) -> Option<usize> {
    // The key of an object's name ends in `_object.name`, which no escape can hide (it has
    // nothing `serde_json` escapes), and is followed by its quote.
    if !matches!(text[at], b'{' | b'[') || name_suffix().find(&text[at..end]).is_none() {
        out.extend_from_slice(&text[at..end]);
        return Some(end);
    }
    unwrap_value(text, at, out, depth)
}

/// How the key of a versioned object's name ends in compact text, with its closing quote:
/// its finder, made once.
fn name_suffix() -> &'static memchr::memmem::Finder<'static> {
    static FINDER: OnceLock<memchr::memmem::Finder<'static>> = OnceLock::new();
    FINDER.get_or_init(|| memchr::memmem::Finder::new(b"_object.name\""))
}

/// A member of an object in compact text: where its key (inside the quotes) and its value are.
type Member = (Range<usize>, Range<usize>);

/// Writes the object at `at` unwrapped: a versioned object as its data with `@object` first,
/// any other with its values unwrapped; where it ends.
fn unwrap_object(text: &[u8], at: usize, out: &mut Vec<u8>, depth: usize) -> Option<usize> {
    let (members, end) = object_members(text, at)?;
    let unwrapped = Values::Unwrapped { depth: depth + 1 };
    match versioned_members(text, &members)? {
        Some((title, data)) => {
            out.extend_from_slice(b"{\"@object\":");
            // Writing a string into memory cannot fail.
            let _ = serde_json::to_writer(&mut *out, &title);
            if text[data.start] == b'{' {
                let (fields, _) = object_members(text, data.start)?;
                if versioned_members(text, &fields)?.is_some() {
                    // Data that is a versioned object itself: unwrapped whole, then taken
                    // over member by member as the rest is.
                    let mut inner = Vec::new();
                    unwrap_object(text, data.start, &mut inner, depth + 1)?;
                    let (fields, _) = object_members(&inner, 0)?;
                    write_members(&inner, &fields, true, Values::AsTheyAre, out)?;
                } else {
                    write_members(text, &fields, true, unwrapped, out)?;
                }
            } else {
                out.extend_from_slice(b",\"@data\":");
                unwrap_range(text, data.start, data.end, out, depth + 1)?;
            }
        }
        None => {
            out.push(b'{');
            write_members(text, &members, false, unwrapped, out)?;
        }
    }
    out.push(b'}');
    Some(end)
}

/// How [`write_members`] writes the members' values.
#[derive(Clone, Copy)]
enum Values {
    /// Unwrapped, at this depth of nesting.
    Unwrapped { depth: usize },
    /// Copied as they are (already unwrapped).
    AsTheyAre,
}

/// Writes `members` of `text` inside an object being written. `after_object`: they follow
/// the `@object` member just written, so each comes after a comma and one named `@object`
/// is left out (the title written stands).
#[inline(always)]
fn write_members(
    text: &[u8],
    members: &[Member],
    after_object: bool,
    values: Values,
    out: &mut Vec<u8>,
) -> Option<()> {
    let mut comma = after_object;
    for member in members {
        if after_object && &text[member.0.clone()] == b"@object" {
            continue;
        }
        if comma {
            out.push(b',');
        }
        comma = true;
        // The key with its quotes and the colon after it.
        out.extend_from_slice(&text[member.0.start - 1..member.0.end + 2]);
        match values {
            Values::Unwrapped { depth } => {
                unwrap_range(text, member.1.start, member.1.end, out, depth)?;
            }
            Values::AsTheyAre => out.extend_from_slice(&text[member.1.clone()]),
        }
    }
    Some(())
}

/// Whether the object of `members` is a versioned object, as [`prefix_and_data`] and
/// [`title`] tell it from values: its title and where its data is. `None` for a key with an
/// escape.
fn versioned_members(text: &[u8], members: &[Member]) -> Option<Option<(String, Range<usize>)>> {
    let key = |member: &Member| &text[member.0.clone()];
    if members.iter().any(|member| key(member).contains(&b'\\')) {
        return None;
    }
    let members_by_key = members.iter().map(|m| (key(m), m));
    let Some((prefix, name, data)) = prefix_and_data_among(members_by_key) else {
        return Some(None);
    };
    let member = |suffix: &[u8]| {
        members
            .iter()
            .find(|m| key(m).strip_prefix(prefix) == Some(suffix))
    };
    // A string's text is its JSON: read as `serde_json` reads it.
    let string = |member: Option<&Member>| -> Option<String> {
        let value = &text[member?.1.clone()];
        (value.first() == Some(&b'"'))
            .then(|| serde_json::from_slice(value).ok())
            .flatten()
    };
    // The first key ending in `_object.name` is the one: a name that is not a string means
    // no versioned object.
    let Some(mut title) = string(Some(name)) else {
        return Some(None);
    };
    if let Some(version) = string(member(b".version")) {
        title.push_str(" v");
        title.push_str(&version);
    }
    if let Some(namespace) = string(member(b".namespace")) {
        title.push_str(" (");
        title.push_str(&namespace);
        title.push(')');
    }
    Some(Some((title, data.1.clone())))
}

/// The members of the object at `at` (keys without their quotes), and where it ends.
fn object_members(text: &[u8], at: usize) -> Option<(Vec<Member>, usize)> {
    let mut members = Vec::new();
    let mut at = at + 1;
    if text.get(at) == Some(&b'}') {
        return Some((members, at + 1));
    }
    loop {
        let key_end = skip_value(text, at)?;
        if text.get(at) != Some(&b'"') || text.get(key_end) != Some(&b':') {
            return None;
        }
        let value_end = skip_value(text, key_end + 1)?;
        members.push((at + 1..key_end - 1, key_end + 1..value_end));
        at = value_end;
        match text.get(at)? {
            b',' => at += 1,
            b'}' => return Some((members, at + 1)),
            _ => return None,
        }
    }
}

/// Where the value at `at` ends, its text taken as it is (compact JSON).
fn skip_value(text: &[u8], at: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut at = at;
    loop {
        match *text.get(at)? {
            b'"' => {
                at += 1;
                loop {
                    at += words::find_quote_or_backslash(text.get(at..)?)?;
                    match text[at] {
                        b'"' => break,
                        _ => at += 2,
                    }
                }
                at += 1;
            }
            b'{' | b'[' => {
                depth += 1;
                at += 1;
                continue;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                at += 1;
            }
            _ => {
                let scalar = text[at..]
                    .iter()
                    .position(|b| matches!(b, b',' | b']' | b'}' | b':'))
                    .unwrap_or(text.len() - at);
                if scalar == 0 {
                    return None;
                }
                at += scalar;
            }
        }
        if depth == 0 {
            return Some(at);
        }
        // Inside a container: its separators are passed over.
        while matches!(text.get(at), Some(b',' | b':')) {
            at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_objects_text_is_read_member_by_member() {
        let text = r#"{"a":1,"nova_object.data":{"x":[1,"]"]},"b":"s,\"t","nova_object.name":"N"}"#;
        let members = members_json(text).unwrap();
        assert_eq!(
            members,
            [
                ("a", "1"),
                ("nova_object.data", r#"{"x":[1,"]"]}"#),
                ("b", r#""s,\"t""#),
                ("nova_object.name", r#""N""#),
            ]
        );
        assert_eq!(data_json(&members), Some(r#"{"x":[1,"]"]}"#));
        assert_eq!(data_json(&members[..3]), None);
        assert_eq!(members_json("{}"), Some(vec![]));
        // Left to the values: a key with an escape, more than one object, not an object.
        assert_eq!(members_json(r#"{"a\"b":1}"#), None);
        assert_eq!(members_json(r#"{"a":1}{"#), None);
        assert_eq!(members_json(r#"[{"a":1}]"#), None);
        assert_eq!(members_json(r#"{"a":1"#), None);
    }

    #[test]
    fn nested_objects_and_lists_of_objects_are_unwrapped() {
        let flavor = json!({
            "nova_object.name": "FlavorPayload",
            "nova_object.namespace": "nova",
            "nova_object.version": "1.4",
            "nova_object.data": {"flavorid": "a1", "vcpus": 1}
        });
        let payload = json!({
            "nova_object.name": "InstanceActionPayload",
            "nova_object.namespace": "nova",
            "nova_object.version": "1.8",
            "nova_object.data": {
                "uuid": "178b0921",
                "flavor": flavor,
                "block_devices": [{
                    "nova_object.name": "BlockDevicePayload",
                    "nova_object.namespace": "nova",
                    "nova_object.version": "1.0",
                    "nova_object.data": {"device_name": "/dev/vda"}
                }],
                "fault": null
            }
        });
        assert_eq!(
            unwrap(&payload),
            json!({
                "@object": "InstanceActionPayload v1.8 (nova)",
                "uuid": "178b0921",
                "flavor": {"@object": "FlavorPayload v1.4 (nova)", "flavorid": "a1", "vcpus": 1},
                "block_devices": [
                    {"@object": "BlockDevicePayload v1.0 (nova)", "device_name": "/dev/vda"}
                ],
                "fault": null
            })
        );
        let ironic = json!({"ironic_object.name": "NodePayload", "ironic_object.data": 3});
        assert_eq!(
            unwrap(&ironic),
            json!({"@object": "NodePayload", "@data": 3})
        );
        let plain = json!({"a": [1, {"b": "c"}]});
        assert_eq!(unwrap(&plain), plain);
    }

    #[test]
    fn unwrapping_the_text_gives_the_text_of_the_unwrapped_value() {
        let object = |name: &str, data: Value| {
            json!({"nova_object.name": name, "nova_object.namespace": "nova",
                   "nova_object.version": "1.0", "nova_object.data": data})
        };
        let samples = [
            object(
                "InstanceActionPayload",
                json!({"uuid": "178b0921", "s": "a \"{[\\\" ,:}] é \u{1}",
                       "flavor": object("FlavorPayload", json!({"extra_specs": {}, "n": -1.5e-7})),
                       "ips": [object("IpPayload", json!({"address": "10.0.0.1"})), [], {}],
                       "fault": null, "@object": "taken over", "t": [true, false]}),
            ),
            object("Scalar", json!(3)),
            object("List", json!([object("Inner", json!({})), 1])),
            json!({"x_object.data": {"a": 1}, "x_object.name": "Late", "b": {"y_object.name": 1, "y_object.data": 2}}),
            json!({"x_object.name": "NoData", "x_object.version": 2}),
            json!({"a_object.name": "First", "b_object.name": "Second", "b_object.data": 1, "a_object.data": {"k": "v"}}),
            json!([[], {}, "", 0, null]),
            json!("just a string"),
            json!({}),
        ];
        for value in samples {
            let text = value.to_string();
            assert_eq!(
                unwrap_json(&text),
                Some(unwrap(&value).to_string()),
                "{text}"
            );
        }
        // A key with an escape is left to the values.
        assert_eq!(
            unwrap_json(r#"{"a\"_object.name":"N","a\"_object.data":1}"#),
            None
        );
        // What is not compact JSON is given back as it is when nothing in it can be a
        // versioned object (there is nothing to unwrap), else left to the values.
        let named = r#"{"n_object.name":"N","n_object.data":"#;
        for broken in ["{", "[1,", r#"{"a":}"#, r#"{"a" :1}"#, "1}", "{1:2}", "]"] {
            assert_eq!(unwrap_json(broken).as_deref(), Some(broken));
            let text = format!("{named}{broken}}}");
            assert_eq!(unwrap_json(&text), None, "{text}");
        }
        let object = r#"{"n_object.name":"N","n_object.data":1}"#;
        let deep = format!("{}{object}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(unwrap_json(&deep), None);
        let shallow = format!("{}{object}{}", "[".repeat(100), "]".repeat(100));
        assert!(unwrap_json(&shallow).is_some_and(|text| text.contains("@object")));
    }
}
