//! oslo.versionedobjects primitives, as Nova, Ironic and others send them in versioned
//! notifications: an object of `<namespace>_object.name`, `.version`, `.namespace` and
//! `.data` members. [`unwrap`] turns every one of them, however deep, into its data with an
//! `"@object": "InstanceActionPayload v1.8 (nova)"` member: what a person or a jq program
//! wants to read. Pure.

use serde_json::{Map, Value};

/// The prefix of the keys of a versioned object primitive (`nova_object`), the one whose
/// `.name` and `.data` both are there, with the data. Allocates nothing: `--top` looks into
/// every payload with it.
fn prefix_and_data(map: &Map<String, Value>) -> Option<(&str, &Value)> {
    let name_key = map.keys().find(|k| k.ends_with("_object.name"))?;
    let prefix = name_key.strip_suffix(".name")?;
    let (_, data) = map
        .iter()
        .find(|(key, _)| key.strip_prefix(prefix) == Some(".data"))?;
    Some((prefix, data))
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
    let (_, data) = prefix_and_data(value.as_object()?)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
