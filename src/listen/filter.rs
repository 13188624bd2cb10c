//! Which notifications to keep: shell-glob patterns on event_type and publisher_id, exact
//! message ids. Pure; no I/O.

use crate::wire::envelope::Message;
use glob::{MatchOptions, Pattern, PatternError};

/// Keeps a notification when every kind of criterion given matches it (any one pattern of
/// a kind is enough). No criteria keeps everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    event_types: Vec<Pattern>,
    publisher_ids: Vec<Pattern>,
    message_ids: Vec<String>,
}

/// A pattern that is not a valid shell glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPattern {
    pattern: String,
    reason: String,
}

impl std::fmt::Display for BadPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid pattern {:?}: {}", self.pattern, self.reason)
    }
}

impl std::error::Error for BadPattern {}

fn compile(patterns: &[String]) -> Result<Vec<Pattern>, BadPattern> {
    patterns
        .iter()
        .map(|p| {
            Pattern::new(p).map_err(|e: PatternError| BadPattern {
                pattern: p.clone(),
                reason: e.msg.to_owned(),
            })
        })
        .collect()
}

const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

impl Filter {
    /// A filter from shell globs (`*`, `?`, `[abc]`) and exact message ids.
    pub fn new(
        event_types: &[String],
        publisher_ids: &[String],
        message_ids: &[String],
    ) -> Result<Self, BadPattern> {
        Ok(Filter {
            event_types: compile(event_types)?,
            publisher_ids: compile(publisher_ids)?,
            message_ids: message_ids.to_vec(),
        })
    }

    /// Whether it keeps everything.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.event_types.is_empty() && self.publisher_ids.is_empty() && self.message_ids.is_empty()
    }

    /// Whether `notification` passes.
    pub fn matches(&self, notification: &Message) -> bool {
        let any = |patterns: &[Pattern], text: &str| {
            patterns.is_empty() || patterns.iter().any(|p| p.matches_with(text, OPTIONS))
        };
        any(&self.event_types, &notification.event_type)
            && (self.publisher_ids.is_empty()
                || notification
                    .publisher_id
                    .as_deref()
                    .is_some_and(|id| any(&self.publisher_ids, id)))
            && (self.message_ids.is_empty() || self.message_ids.contains(&notification.message_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::envelope::{Decoded, Format, Notification, Priority};

    fn notification(event_type: &str, publisher_id: Option<&str>) -> Message {
        let mut n = Notification::new(Priority::Info, event_type, serde_json::Value::Null);
        n.publisher_id = publisher_id.map(str::to_owned);
        Message::from(Decoded {
            notification: n,
            unique_id: None,
            format: Format::V2,
        })
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_criteria_keeps_everything() {
        let filter = Filter::default();
        assert!(filter.is_empty());
        assert!(filter.matches(&notification("any", None)));
    }

    #[test]
    fn event_type_globs() {
        let filter = Filter::new(
            &strings(&["compute.instance.*", "volume.create.?nd"]),
            &[],
            &[],
        )
        .unwrap();
        assert!(filter.matches(&notification("compute.instance.create.end", None)));
        assert!(filter.matches(&notification("volume.create.end", None)));
        assert!(!filter.matches(&notification("compute.instances", None)));
        assert!(!filter.matches(&notification("Compute.instance.x", None)));
        let classes = Filter::new(&strings(&["port.[cu]*"]), &[], &[]).unwrap();
        assert!(classes.matches(&notification("port.update.end", None)));
        assert!(!classes.matches(&notification("port.delete.end", None)));
    }

    #[test]
    fn publisher_patterns_need_a_publisher() {
        let filter = Filter::new(&[], &strings(&["compute.*"]), &[]).unwrap();
        assert!(filter.matches(&notification("e", Some("compute.host1"))));
        assert!(!filter.matches(&notification("e", Some("network.host1"))));
        assert!(!filter.matches(&notification("e", None)));
    }

    #[test]
    fn every_kind_must_match() {
        let n = notification("compute.instance.exists", Some("compute.h1"));
        let both = Filter::new(&strings(&["compute.*"]), &strings(&["compute.h1"]), &[]).unwrap();
        assert!(both.matches(&n));
        let wrong_id = Filter::new(&strings(&["compute.*"]), &[], &strings(&["nope"])).unwrap();
        assert!(!wrong_id.matches(&n));
        let right_id = Filter::new(&[], &[], std::slice::from_ref(&n.message_id)).unwrap();
        assert!(right_id.matches(&n));
    }

    #[test]
    fn bad_patterns_are_errors() {
        let err = Filter::new(&strings(&["a[b"]), &[], &[]).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid pattern \"a[b\""),
            "{err}"
        );
    }
}
