//! A notification's members read in one pass while its JSON is parsed: the members oslo
//! names go to their slots, `_context_*` members into the context, anything else is skipped
//! (parsed all the same: a body is refused for what it holds anywhere, as before). No object
//! is built for the message itself, and keys without escapes are borrowed from the text
//! rather than copied.

use super::{CONTEXT_PREFIX, MESSAGE_KEY, VERSION_KEY};
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// The members of one JSON object that a notification is made of, as found.
#[derive(Debug, Default)]
pub(super) struct Members {
    pub message_id: Option<Value>,
    pub publisher_id: Option<Value>,
    pub event_type: Option<Value>,
    pub priority: Option<Value>,
    pub payload: Option<Value>,
    pub timestamp: Option<Value>,
    pub unique_id: Option<Value>,
    /// `_context_<key>` members, under `<key>`, in their order.
    pub context: Map<String, Value>,
    /// `oslo.version`, when this object is an envelope.
    pub version: Option<Value>,
    /// `oslo.message`, when this object is an envelope.
    pub message: Option<Value>,
}

impl Members {
    /// Where the member called `key` goes; `None` for a context member or one to skip.
    fn slot(&mut self, key: &str) -> Option<&mut Option<Value>> {
        Some(match key {
            "message_id" => &mut self.message_id,
            "publisher_id" => &mut self.publisher_id,
            "event_type" => &mut self.event_type,
            "priority" => &mut self.priority,
            "payload" => &mut self.payload,
            "timestamp" => &mut self.timestamp,
            "_unique_id" => &mut self.unique_id,
            VERSION_KEY => &mut self.version,
            MESSAGE_KEY => &mut self.message,
            _ => return None,
        })
    }

    /// The members of an object already parsed. A key given twice keeps its last value, as
    /// when parsing.
    pub fn of(object: Map<String, Value>) -> Members {
        let mut members = Members::default();
        for (key, value) in object {
            members.put(&key, value);
        }
        members
    }

    fn put(&mut self, key: &str, value: Value) {
        if let Some(slot) = self.slot(key) {
            *slot = Some(value);
        } else if let Some(name) = key.strip_prefix(CONTEXT_PREFIX) {
            self.context.insert(name.to_owned(), value);
        }
    }

    /// Whether the object is oslo's envelope (format 2.0): it holds both of its keys.
    pub fn is_envelope(&self) -> bool {
        self.version.is_some() && self.message.is_some()
    }
}

/// A key, borrowed from the text when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
            fn visit_string<E: de::Error>(self, key: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Members {
    /// Reads an object; anything else is an error (the caller names it by parsing again).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Members::default();
                while let Some(Key(key)) = map.next_key()? {
                    if let Some(slot) = members.slot(&key) {
                        *slot = Some(map.next_value()?);
                    } else if let Some(name) = key.strip_prefix(CONTEXT_PREFIX) {
                        let value = map.next_value()?;
                        members.context.insert(name.to_owned(), value);
                    } else {
                        // Parsed, not skipped: serde_json's skipping lets lone surrogates by.
                        map.next_value::<Value>()?;
                    }
                }
                Ok(members)
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}
