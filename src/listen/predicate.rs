//! `oslo-listen --where` and `--fail-on`: jq programs (run by jaq, a jq implementation in
//! Rust) that decide whether a notification counts. A program holds for a notification when
//! its first output is neither `false` nor `null`. Pure: compiling and running, no I/O.

use super::document::Document;
use super::shortcut::Shortcut;
use crate::engine::receive::Received;
use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{data, unwrap_valr, Compiler, Ctx, Vars};
use jaq_json::Val;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;

type Program = jaq_core::Filter<data::JustLut<Val>>;

/// A compiled jq program.
#[derive(Clone)]
pub struct Predicate {
    code: String,
    program: Arc<Program>,
    /// The program judged straight from a message, when it is of the usual shape.
    shortcut: Option<Arc<Shortcut>>,
    /// Its `.a.b.c` paths, each as its names.
    paths: Arc<Vec<Vec<String>>>,
    /// What advice was given (each once): [`NOT_BOOLEAN`], [`DOTTED_KEY`].
    advised: Arc<AtomicU8>,
    /// How many notifications were looked at for a dotted key so far.
    looked: Arc<AtomicU32>,
}

/// Advice given: the program's output was neither a boolean nor null.
const NOT_BOOLEAN: u8 = 1;
/// Advice given: a path read null where a key with dots in it would match.
const DOTTED_KEY: u8 = 2;
/// How many notifications a program's paths are looked up in for a dotted key: the hint is
/// for someone trying a program, and costs a walk.
const LOOKED_AT_MOST: u32 = 100;

/// What running a program on one notification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// Whether the program holds (its first output neither false nor null).
    pub holds: bool,
    /// Advice about the program, each kind given once in the program's life: its output was
    /// not a boolean, or a path read null through a key with dots in it.
    pub advice: Option<String>,
}

impl fmt::Debug for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Predicate").field(&self.code).finish()
    }
}

impl PartialEq for Predicate {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
    }
}

/// A program that does not compile: jaq's message, with the column where it went wrong.
/// Exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPredicate(String);

impl fmt::Display for BadPredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadPredicate {}

/// Where in `code` the slice `part` of it starts, as a 1-based column of characters.
fn column(code: &str, part: &str) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(code.as_ptr() as usize)?;
    code.get(..start).map(|before| before.chars().count() + 1)
}

impl Predicate {
    /// Compiles `code`.
    pub fn compile(code: &str) -> Result<Predicate, BadPredicate> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let bad = |why: String| BadPredicate(format!("cannot compile {code:?}: {why}"));
        let modules = loader
            .load(&arena, File { code, path: () })
            .map_err(|errors| {
                let why: Vec<String> = errors
                    .into_iter()
                    .flat_map(|(_, error)| describe_load_error(code, error))
                    .collect();
                bad(why.join("; "))
            })?;
        let program = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                let why: Vec<String> = errors
                    .into_iter()
                    .flat_map(|(_, undefined)| undefined)
                    .map(|(name, what)| {
                        let at = column(code, name)
                            .map(|c| format!(" at column {c}"))
                            .unwrap_or_default();
                        format!("undefined {} {name}{at}", what.as_str())
                    })
                    .collect();
                bad(why.join("; "))
            })?;
        Ok(Predicate {
            code: code.to_owned(),
            program: Arc::new(program),
            shortcut: Shortcut::compile(code).map(Arc::new),
            paths: Arc::new(paths(code)),
            advised: Arc::new(AtomicU8::new(0)),
            looked: Arc::new(AtomicU32::new(0)),
        })
    }

    /// The program as written.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Whether the program's first output for `input` is neither `false` nor `null` (no
    /// output at all counts as not holding). An error while running is returned as text.
    #[cfg(test)]
    fn holds(&self, input: &Document) -> Result<bool, String> {
        self.first_output(input)
            .map(|value| !matches!(value, None | Some(Val::Null | Val::Bool(false))))
    }

    /// As [`holds`](Self::holds), with advice the first time the program looks mistaken: its
    /// first output is neither a boolean nor null (`.event_type = "x"` is an assignment, so
    /// it holds for everything), or it does not hold and one of its paths reads null through
    /// an object with a key that has dots in it (`.payload.nova_object.data.uuid`, where the
    /// key is `nova_object.data`).
    pub fn judge(&self, input: &Document) -> Result<Judged, String> {
        let first = self.first_output(input)?;
        let holds = !matches!(first, None | Some(Val::Null | Val::Bool(false)));
        let mut advice = None;
        if let Some(value) = &first {
            if !matches!(value, Val::Null | Val::Bool(_)) && self.first_time(NOT_BOOLEAN) {
                advice = Some(self.not_boolean(value));
            }
        }
        if advice.is_none()
            && !holds
            && self.looks_for_dotted_keys()
            && self.looked.fetch_add(1, Ordering::Relaxed) < LOOKED_AT_MOST
        {
            if let Some(hint) = self.paths.iter().find_map(|p| dotted_key(&input.value, p)) {
                if self.first_time(DOTTED_KEY) {
                    advice = Some(format!("{:?} reads null: {hint}", self.code));
                }
            }
        }
        Ok(Judged { holds, advice })
    }

    /// Whether the program holds for `received`, decided without building its [`Document`]
    /// when the program is of the usual shape ([`Shortcut`]) and no advice can be due (it
    /// holds, or the dotted-key hint is no longer looked for): `None` says to ask
    /// [`judge`](Self::judge).
    pub fn judge_quickly(&self, received: &Received, show_secrets: bool) -> Option<bool> {
        let holds = self.shortcut.as_ref()?.holds(received, show_secrets)?;
        (holds || !self.looks_for_dotted_keys()).then_some(holds)
    }

    /// Whether a program that does not hold is still looked at for the dotted-key hint.
    fn looks_for_dotted_keys(&self) -> bool {
        self.advised.load(Ordering::Relaxed) & DOTTED_KEY == 0
            && self.looked.load(Ordering::Relaxed) < LOOKED_AT_MOST
    }

    fn first_output(&self, input: &Document) -> Result<Option<Val>, String> {
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.program.lut, Vars::new([]));
        let mut outputs = self
            .program
            .id
            .run((ctx, input.value.clone()))
            .map(unwrap_valr);
        outputs
            .next()
            .transpose()
            .map_err(|error| error.to_string())
    }

    /// Whether the advice `kind` is given now (it was not before).
    fn first_time(&self, kind: u8) -> bool {
        self.advised.fetch_or(kind, Ordering::Relaxed) & kind == 0
    }

    fn not_boolean(&self, value: &Val) -> String {
        let kind = match value {
            Val::Num(_) => "a number",
            Val::BStr(_) | Val::TStr(_) => "a string",
            Val::Arr(_) => "an array",
            Val::Obj(_) => "an object",
            Val::Null | Val::Bool(_) => "a boolean",
        };
        let mut text = format!(
            "{:?} gives {kind}, not true or false, so it holds for every notification",
            self.code
        );
        if lone_equals(&self.code) {
            text.push_str(": to compare, write == (a single = assigns)");
        }
        text
    }
}

/// Whether `code` has an `=` that is not part of `==`, `!=`, `<=`, `>=`, `|=`, `+=`, ... (outside
/// string literals).
fn lone_equals(code: &str) -> bool {
    let bytes = code.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'=' if !in_string => {
                let before = i.checked_sub(1).map(|j| bytes[j]);
                let after = bytes.get(i + 1).copied();
                let joined = matches!(
                    before,
                    Some(b'=' | b'!' | b'<' | b'>' | b'|' | b'+' | b'-' | b'*' | b'/' | b'%')
                ) || after == Some(b'=');
                if !joined {
                    return true;
                }
                if after == Some(b'=') {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// The `.a.b.c` paths written in `code` (outside string literals), each as its names.
fn paths(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found = Vec::new();
    let mut in_string = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            match c {
                '\\' => i += 1,
                '"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if c == '"' {
            in_string = true;
            i += 1;
            continue;
        }
        let starts = c == '.'
            && chars
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_')
            && !i
                .checked_sub(1)
                .is_some_and(|j| is_name(chars[j]) || chars[j] == ']');
        if !starts {
            i += 1;
            continue;
        }
        let mut names = Vec::new();
        while chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(|n| is_name(*n)) {
            let start = i + 1;
            i = start;
            while chars.get(i).is_some_and(|n| is_name(*n)) {
                i += 1;
            }
            names.push(chars[start..i].iter().collect());
        }
        if names.len() > 1 {
            found.push(names);
        }
    }
    found
}

/// The member `name` of `value`, if it is an object that has it.
fn member<'a>(value: &'a Val, name: &str) -> Option<&'a Val> {
    match value {
        Val::Obj(map) => map.iter().find_map(|(key, member)| match key {
            Val::TStr(text) if &text[..] == name.as_bytes() => Some(member),
            _ => None,
        }),
        _ => None,
    }
}

/// Where the path `names` fails to go on in `root` because a key holds several of its names
/// joined by dots: how to write it instead.
fn dotted_key(root: &Val, names: &[String]) -> Option<String> {
    let mut at = root;
    for (i, name) in names.iter().enumerate() {
        if let Some(next) = member(at, name) {
            at = next;
            continue;
        }
        let (key, end) = (i + 2..=names.len())
            .rev()
            .map(|end| (names[i..end].join("."), end))
            .find(|(key, _)| member(at, key).is_some())?;
        let before: String = names[..i].iter().map(|n| format!(".{n}")).collect();
        let after: String = names[end..].iter().map(|n| format!(".{n}")).collect();
        return Some(format!(
            "the key is \"{key}\", with dots in it: write {before}[\"{key}\"]{after}, or give \
             --unwrap"
        ));
    }
    None
}

/// One line per problem jaq found while reading the program, each with its column.
fn describe_load_error(code: &str, error: load::Error<&str>) -> Vec<String> {
    let at = |part: &str| {
        column(code, part)
            .map(|c| format!(" at column {c}"))
            .unwrap_or_default()
    };
    match error {
        load::Error::Io(errors) => errors
            .into_iter()
            .map(|(path, why)| format!("cannot load {path}: {why}"))
            .collect(),
        load::Error::Lex(errors) => errors
            .into_iter()
            .map(|(expected, found)| format!("expected {}{}", expected.as_str(), at(found)))
            .collect(),
        load::Error::Parse(errors) => errors
            .into_iter()
            .map(|(expected, found)| {
                let found_text = if found.is_empty() {
                    "the end".to_owned()
                } else {
                    format!("{found:?}")
                };
                format!(
                    "expected {} but found {found_text}{}",
                    expected.as_str(),
                    at(found)
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::receive::Received;

    fn input(json: &str) -> Document {
        Document::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn the_document_built_from_a_message_is_the_json_line_read_back() {
        use crate::listen::output::{OutputFormat, Printer};
        use crate::wire::envelope::{Format, Message, Notification, Priority};
        use serde_json::json;
        let mut n = Notification::new(
            Priority::Warn,
            "compute.instance.create.end",
            json!({"nova_object.data": {"uuid": "u-1", "n": 1.5, "e": 1e300, "i": -7,
                   "big": 123456789012345678901234567890u128, "list": [1, {"a": null}],
                   "name": "caf\u{e9} \u{1f680} \"q\" \\ \u{1}"}}),
        );
        n.publisher_id = Some("nova-compute:host\u{e9}".to_owned());
        for (key, value) in [
            ("auth_token", json!("gAAAA-token")),
            ("roles", json!(["admin", "member"])),
            ("credentials", json!({"password": "p", "user": "u"})),
            ("note", json!("connect with password=hunter2 now")),
            ("secret_uuid", json!(null)),
            ("project_id", json!(7)),
        ] {
            n.context.insert(key.to_owned(), value);
        }
        for (format, source) in [(Format::V2, ""), (Format::V1, ""), (Format::V2, "east")] {
            let body = n.encode(format, "u").unwrap();
            let message = Message::read(&body).unwrap();
            let received = Received {
                message: &message,
                exchange: "nova",
                routing_key: "notifications.warn",
                source,
                body: &body,
            };
            for show_secrets in [false, true] {
                let printer = Printer {
                    format: OutputFormat::Json,
                    show_secrets,
                    ..Printer::default()
                };
                let mut line = Vec::new();
                printer.write_json_object(&mut line, &received).unwrap();
                let built = Document::of(&received, show_secrets).unwrap();
                let read = Document::from_json(&line).unwrap();
                assert_eq!(built.value, read.value, "{format:?} {show_secrets}");
                // In the same order, member by member.
                assert_eq!(built.value.to_string(), read.value.to_string());
            }
            let masked = Document::of(&received, false).unwrap();
            let p = Predicate::compile(
                r#".context.auth_token == "***" and .context.credentials.password == "***"
                   and .context.note == "connect with password=*** now""#,
            )
            .unwrap();
            assert_eq!(p.holds(&masked), Ok(true));
            let shown = Document::of(&received, true).unwrap();
            assert_eq!(p.holds(&shown), Ok(false));
        }
    }

    #[test]
    fn an_assignment_holds_for_everything_and_is_named_once() {
        let p = Predicate::compile(r#".event_type = "x""#).unwrap();
        let n = input(r#"{"event_type": "y"}"#);
        let first = p.judge(&n).unwrap();
        assert!(first.holds);
        assert_eq!(
            first.advice.as_deref(),
            Some(
                r#"".event_type = \"x\"" gives an object, not true or false, so it holds for every notification: to compare, write == (a single = assigns)"#
            )
        );
        assert_eq!(p.judge(&n).unwrap().advice, None, "once");
        // Comparisons and updates are not lone equals; a number is still not a boolean.
        for code in [".a == 1", ".a != 1", ".a <= 1", ".a |= 1", r#".a == "=""#] {
            assert!(!lone_equals(code), "{code}");
        }
        let count = Predicate::compile(".payload | length").unwrap();
        let advice = count.judge(&input(r#"{"payload": [1]}"#)).unwrap().advice;
        assert!(advice.unwrap().contains("gives a number"));
        // A boolean or null gives none.
        let fine = Predicate::compile(r#".event_type == "y""#).unwrap();
        assert_eq!(
            fine.judge(&n).unwrap(),
            Judged {
                holds: true,
                advice: None
            }
        );
    }

    #[test]
    fn a_path_through_a_dotted_key_is_hinted_once() {
        let p = Predicate::compile(r#".payload.nova_object.data.uuid == "u-1""#).unwrap();
        let n = input(r#"{"payload": {"nova_object.data": {"uuid": "u-1"}}}"#);
        let judged = p.judge(&n).unwrap();
        assert!(!judged.holds);
        assert_eq!(
            judged.advice.as_deref(),
            Some(
                r#"".payload.nova_object.data.uuid == \"u-1\"" reads null: the key is "nova_object.data", with dots in it: write .payload["nova_object.data"].uuid, or give --unwrap"#
            )
        );
        assert_eq!(p.judge(&n).unwrap().advice, None, "once");
        // Written as the hint says, it holds.
        let fixed = Predicate::compile(r#".payload["nova_object.data"].uuid == "u-1""#).unwrap();
        assert_eq!(
            fixed.judge(&n).unwrap(),
            Judged {
                holds: true,
                advice: None
            }
        );
        // No such key: no hint.
        let other = Predicate::compile(".payload.a.b == 1").unwrap();
        assert_eq!(other.judge(&n).unwrap().advice, None);
    }

    #[test]
    fn paths_are_read_from_the_program_outside_strings() {
        assert_eq!(
            paths(r#".a.b == ".c.d" and (.e.f | .g) and .h"#),
            [vec!["a", "b"], vec!["e", "f"]]
        );
    }

    #[test]
    fn first_output_neither_false_nor_null_holds() {
        let n = input(
            r#"{"event_type": "compute.instance.create.end", "priority": "info",
                         "payload": {"n": 3, "tags": ["a"]}, "context": {"request_id": "req-1"}}"#,
        );
        for (code, holds) in [
            (r#".event_type == "compute.instance.create.end""#, true),
            (r#".event_type | startswith("compute.")"#, true),
            (r#".priority == "error""#, false),
            (r#"any(.priority == ("warn", "info"); .)"#, true),
            (".payload.n", true),
            (".payload.missing", false),
            (".payload.tags[]", true),
            ("empty", false),
            (r#".context.request_id == "req-1" and .payload.n > 2"#, true),
            ("false, true", false),
        ] {
            let p = Predicate::compile(code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(p.holds(&n), Ok(holds), "{code}");
        }
    }

    #[test]
    fn runtime_errors_are_reported_not_panicked() {
        let n = input(r#"{"payload": {"n": 3}}"#);
        let p = Predicate::compile(r#".payload.n | test("x")"#).unwrap();
        assert!(p.holds(&n).is_err());
    }

    #[test]
    fn compile_errors_say_what_and_where() {
        let e = Predicate::compile(".payload.n ==").unwrap_err().to_string();
        assert!(e.contains("cannot compile"), "{e}");
        assert!(e.contains("column"), "{e}");
        let e = Predicate::compile(".a | nosuchfilter")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("undefined filter nosuchfilter at column 6"),
            "{e}"
        );
    }

    #[test]
    fn a_program_holds_when_its_output_is_true_and_bad_code_is_refused() {
        let p = Predicate::compile(r#".payload.n % 2 == 0"#).unwrap();
        let even = Document::from_json(br#"{"payload": {"n": 4}}"#).unwrap();
        assert_eq!(p.holds(&even), Ok(true));
        assert!(Predicate::compile(".payload.n ==").is_err());
    }
}
