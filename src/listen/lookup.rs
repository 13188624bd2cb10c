//! One value found in JSON text by the names of the members that lead to it, the rest of the
//! text only stepped over: what a `--where` program's `.payload.a.b` reads, without making
//! a value of the whole payload. Pure: no I/O.

/// What a path of names finds in JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found<'j> {
    /// The value's JSON text.
    Text(&'j str),
    /// Null: the value is null, a member is missing, or a null is met on the way (`.a.b` of
    /// `{"a":null}` is null, as in jq).
    Null,
}

/// The value at `names` in the JSON text `json`, as jq's `.name1.name2...` finds it.
///
/// `json` has no object with a key twice, as `serde_json` writes JSON and as every
/// [`Message`](crate::wire::envelope::Message)'s text is: the first member of a name is the
/// only one, and the rest of its object is not read.
///
/// `None` where jq fails (a name looked up in something that is not an object or null) and
/// where the text is not what this reads: a key with an escape in an object passed through,
/// or text that is not JSON.
pub fn find<'j>(json: &'j str, names: &[impl AsRef<str>]) -> Option<Found<'j>> {
    let mut at = json.trim_matches(is_space);
    for name in names {
        match at.as_bytes().first()? {
            b'{' => match member(at, name.as_ref())? {
                Some(value) => at = value,
                None => return Some(Found::Null),
            },
            b'n' if at == "null" => return Some(Found::Null),
            _ => return None,
        }
    }
    Some(match at {
        "null" => Found::Null,
        _ => Found::Text(at),
    })
}

/// JSON's white space.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// The text of the member `name` of the object `object` (its text, from `{` to `}`):
/// `Some(None)` when it has none.
fn member<'j>(object: &'j str, name: &str) -> Option<Option<&'j str>> {
    let mut scan = Scan {
        bytes: object.as_bytes(),
        at: 1,
    };
    scan.space();
    if scan.peek()? == b'}' {
        return Some(None);
    }
    loop {
        scan.space();
        if scan.peek()? != b'"' {
            return None;
        }
        let (key, escaped) = scan.string()?;
        if escaped {
            return None;
        }
        scan.space();
        if scan.next()? != b':' {
            return None;
        }
        scan.space();
        let start = scan.at;
        scan.value()?;
        if scan.bytes.get(key)? == name.as_bytes() {
            return object.get(start..scan.at).map(Some);
        }
        scan.space();
        match scan.next()? {
            b',' => continue,
            b'}' => return Some(None),
            _ => return None,
        }
    }
}

/// A reading place in JSON text.
struct Scan<'j> {
    bytes: &'j [u8],
    at: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Passes the string that starts here: where its text is (without the quotes), and
    /// whether it has an escape. Byte by byte: most strings are names and ids, shorter than
    /// what a vector search gains on.
    fn string(&mut self) -> Option<(std::ops::Range<usize>, bool)> {
        let start = self.at + 1;
        let mut escaped = false;
        let mut at = start;
        loop {
            match *self.bytes.get(at)? {
                b'"' => {
                    self.at = at + 1;
                    return Some((start..at, escaped));
                }
                b'\\' => {
                    escaped = true;
                    at += 2;
                }
                _ => at += 1,
            }
        }
    }

    /// Passes the value that starts here.
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' => self.nested(),
            _ => {
                let rest = self.bytes.get(self.at..)?;
                let len = rest
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                    .unwrap_or(rest.len());
                (len > 0).then(|| self.at += len)
            }
        }
    }

    /// Passes the object or array that starts here, with all it holds.
    fn nested(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.at += 1;
                        return Some(());
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at<'j>(json: &'j str, path: &str) -> Option<Found<'j>> {
        let names: Vec<&str> = path.split('.').filter(|n| !n.is_empty()).collect();
        find(json, &names)
    }

    const NOVA: &str = r#"{"nova_object.name":"InstanceActionPayload","nova_object.data":{"uuid":"u-1","flavor":{"nova_object.data":{"memory_mb":2048,"name":"m1.small","extra_specs":{"a":"}]\"["}}},"ip_addresses":[{"a":[1,{"b":"]"}]}],"host":"compute-01","fault":null,"n":-12}}"#;

    #[test]
    fn names_lead_through_objects_to_a_value_text() {
        // A key with dots in it is one name.
        assert_eq!(at(NOVA, "nova_object.name"), Some(Found::Null));
        assert_eq!(
            find(NOVA, &["nova_object.name"]),
            Some(Found::Text(r#""InstanceActionPayload""#))
        );
        let data = |rest: &str| {
            let names: Vec<&str> = ["nova_object.data"]
                .into_iter()
                .chain(rest.split('.'))
                .collect();
            find(NOVA, &names).unwrap()
        };
        assert_eq!(data("uuid"), Found::Text(r#""u-1""#));
        assert_eq!(data("host"), Found::Text(r#""compute-01""#));
        assert_eq!(data("n"), Found::Text("-12"));
        assert_eq!(data("fault"), Found::Null);
        assert_eq!(data("missing"), Found::Null);
        assert_eq!(data("fault.anything.below"), Found::Null);
        let flavor = |rest: &str| data(&format!("flavor.nova_object.data.{rest}"));
        assert_eq!(
            flavor("memory_mb"),
            Found::Null,
            "\"nova_object.data\" is one name"
        );
        let flavor = |rest: &[&str]| {
            let names = [
                &["nova_object.data", "flavor", "nova_object.data"][..],
                rest,
            ]
            .concat();
            find(NOVA, &names).unwrap()
        };
        assert_eq!(flavor(&["memory_mb"]), Found::Text("2048"));
        assert_eq!(flavor(&["extra_specs", "a"]), Found::Text(r#""}]\"[""#));
        assert_eq!(
            find(NOVA, &["nova_object.data", "ip_addresses"]),
            Some(Found::Text(r#"[{"a":[1,{"b":"]"}]}]"#))
        );
        assert_eq!(at(NOVA, ""), Some(Found::Text(NOVA)));
    }

    #[test]
    fn what_jq_fails_on_is_not_found() {
        assert_eq!(at(r#"{"a":"text"}"#, "a.b"), None);
        assert_eq!(at(r#"{"a":[1]}"#, "a.b"), None);
        assert_eq!(at(r#"{"a":7}"#, "a.b"), None);
        assert_eq!(at(r#""text""#, "a"), None);
        assert_eq!(at("null", "a.b"), Some(Found::Null));
    }

    #[test]
    fn white_space_between_tokens_is_read() {
        let json = " { \"a\" :\n{ \"b\" : [ 1 , 2 ] , \"c\" : true } , \"d\":{} }\t";
        assert_eq!(at(json, "a.c"), Some(Found::Text("true")));
        assert_eq!(at(json, "a.b"), Some(Found::Text("[ 1 , 2 ]")));
        assert_eq!(at(json, "d.e"), Some(Found::Null));
    }

    #[test]
    fn keys_with_escapes_and_broken_text_are_left_unread() {
        assert_eq!(at(r#"{"\u0061":1}"#, "a"), None);
        assert_eq!(at(r#"{"x\"y":1,"a":2}"#, "a"), None);
        // Text that is not JSON before the member looked for (the rest is not read).
        for broken in [
            r#"{"b":1 "a":2}"#,
            r#"{"a" 1}"#,
            r#"{"a":}"#,
            "{",
            r#"{"a"#,
            r#"{"b":"open"#,
        ] {
            assert_eq!(at(broken, "a"), None, "{broken}");
        }
    }
}
