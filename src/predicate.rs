//! `oslo-listen --where` and `--fail-on`: jq programs (run by jaq, a jq implementation in
//! Rust) that decide whether a notification counts. A program holds for a notification when
//! its first output is neither `false` nor `null`. Pure: compiling and running, no I/O.

use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{data, unwrap_valr, Compiler, Ctx, Vars};
use jaq_json::Val;
use std::fmt;
use std::sync::Arc;

type Program = jaq_core::Filter<data::JustLut<Val>>;

/// A compiled jq program.
#[derive(Clone)]
pub struct Predicate {
    code: String,
    program: Arc<Program>,
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

/// The input a program runs on, made once per notification and shared by every program.
pub struct Input(Val);

impl Input {
    /// The JSON text of the object the programs see (`--format json`'s object).
    pub fn from_json(json: &[u8]) -> Result<Input, String> {
        jaq_json::read::parse_single(json)
            .map(Input)
            .map_err(|e| e.to_string())
    }
}

/// Where in `code` the slice `part` of it starts, as a 1-based column of characters.
fn column(code: &str, part: &str) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(code.as_ptr() as usize)?;
    code.get(..start).map(|before| before.chars().count() + 1)
}

impl Predicate {
    /// Compiles `code`.
    ///
    /// ```
    /// use oslo_notify::predicate::{Input, Predicate};
    ///
    /// let p = Predicate::compile(r#".payload.n % 2 == 0"#).unwrap();
    /// let even = Input::from_json(br#"{"payload": {"n": 4}}"#).unwrap();
    /// assert_eq!(p.holds(&even), Ok(true));
    /// assert!(Predicate::compile(".payload.n ==").is_err());
    /// ```
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
        })
    }

    /// The program as written.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Whether the program's first output for `input` is neither `false` nor `null` (no
    /// output at all counts as not holding). An error while running is returned as text.
    pub fn holds(&self, input: &Input) -> Result<bool, String> {
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.program.lut, Vars::new([]));
        let mut outputs = self.program.id.run((ctx, input.0.clone())).map(unwrap_valr);
        match outputs.next() {
            None => Ok(false),
            Some(Ok(value)) => Ok(!matches!(value, Val::Null | Val::Bool(false))),
            Some(Err(error)) => Err(error.to_string()),
        }
    }
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

    fn input(json: &str) -> Input {
        Input::from_json(json.as_bytes()).unwrap()
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
}
