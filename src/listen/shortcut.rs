//! `--where` and `--fail-on` programs of the usual shape judged straight from the message:
//! `.event_type == "compute.instance.create.end"`, `.payload.n % 2 == 0 and (.publisher_id |
//! startswith("nova"))`. Such a program reads a few scalars at known paths; they are found in
//! the message's head and JSON text ([`super::lookup`]) and compared as jq compares them,
//! without making jaq's value of the whole notification or running jaq. Pure: no I/O.
//!
//! The shape: paths from the input (`.a.b`, `."a.b"`, `.["a"]`), integer, string, `true`,
//! `false` and `null` literals, `==` `!=` `<` `<=` `>` `>=`, `and`, `or`, `//`, `+` `-` `*`
//! `%` of integers, unary minus, `| not`, `| startswith(S)` and `| endswith(S)`. Anything
//! else is left to jaq, and so is every notification where the shortcut meets what it does
//! not read the same as jaq for certain: an object or array where a scalar is read, a number
//! that is not a plain integer, a string with escapes in a key, what jq would fail on, an
//! answer that is neither a boolean nor null.

use super::document::plain_integer;
use super::lookup::{self, Found};
use crate::engine::receive::Received;
use crate::oslo::mask::mask_member_json;
use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Term};
use jaq_core::ops::{Cmp, Math};
use jaq_core::path::{Opt, Part};
use std::borrow::Cow;

/// A program of the shape this module reads, compiled to be judged on a message.
#[derive(Debug, Clone)]
pub struct Shortcut(Expr);

#[derive(Debug, Clone)]
enum Expr {
    /// A path from the input: the member of `--format json`'s object it starts at, and the
    /// names after it.
    Path(Member, Vec<String>),
    Literal(Scalar<'static>),
    Neg(Box<Expr>),
    Math(Box<Expr>, Arith, Box<Expr>),
    Cmp(Box<Expr>, Cmp, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Alt(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    StartsWith(Box<Expr>, String),
    EndsWith(Box<Expr>, String),
}

/// The members of `--format json`'s object (any other name reads null).
#[derive(Debug, Clone, Copy)]
enum Member {
    Priority,
    EventType,
    PublisherId,
    Payload,
    Metadata,
    Context,
    Exchange,
    RoutingKey,
    Source,
    Other,
}

impl Member {
    fn of(name: &str) -> Member {
        match name {
            "priority" => Member::Priority,
            "event_type" => Member::EventType,
            "publisher_id" => Member::PublisherId,
            "payload" => Member::Payload,
            "metadata" => Member::Metadata,
            "context" => Member::Context,
            "exchange" => Member::Exchange,
            "routing_key" => Member::RoutingKey,
            "source" => Member::Source,
            _ => Member::Other,
        }
    }
}

/// The arithmetic read: of two integers, as jaq computes it while the result fits.
#[derive(Debug, Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
    Rem,
}

/// A JSON scalar, ordered as jq orders values: null, false, true, numbers, strings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(isize),
    Str(Cow<'a, str>),
}

impl Scalar<'_> {
    fn truthy(&self) -> bool {
        !matches!(self, Scalar::Null | Scalar::Bool(false))
    }

    /// The same scalar, its string borrowed.
    fn borrowed(&self) -> Scalar<'_> {
        match self {
            Scalar::Str(s) => Scalar::Str(Cow::Borrowed(s)),
            Scalar::Null => Scalar::Null,
            Scalar::Bool(b) => Scalar::Bool(*b),
            Scalar::Int(n) => Scalar::Int(*n),
        }
    }

    fn into_owned(self) -> Scalar<'static> {
        match self {
            Scalar::Null => Scalar::Null,
            Scalar::Bool(b) => Scalar::Bool(b),
            Scalar::Int(n) => Scalar::Int(n),
            Scalar::Str(s) => Scalar::Str(Cow::Owned(s.into_owned())),
        }
    }
}

/// The scalar whose JSON text is `json`, as jaq's reader of a listener's document makes it:
/// `None` for an object, an array, a number that is not an integer of at most 18 digits,
/// and a string whose escapes cannot be read.
fn scalar(json: &str) -> Option<Scalar<'_>> {
    match json.as_bytes().first()? {
        b'"' => {
            let inner = json.get(1..json.len().checked_sub(1)?)?;
            if inner.contains('\\') {
                return serde_json::from_str::<String>(json)
                    .ok()
                    .map(|s| Scalar::Str(Cow::Owned(s)));
            }
            Some(Scalar::Str(Cow::Borrowed(inner)))
        }
        b'-' | b'0'..=b'9' => plain_integer(json.as_bytes()).map(Scalar::Int),
        _ => match json {
            "null" => Some(Scalar::Null),
            "true" => Some(Scalar::Bool(true)),
            "false" => Some(Scalar::Bool(false)),
            _ => None,
        },
    }
}

impl Shortcut {
    /// The shortcut for the jq program `code`, if it is of the shape this module reads.
    pub fn compile(code: &str) -> Option<Shortcut> {
        let term = jaq_core::load::parse(code, |p| p.term())?;
        expr(&term).map(Shortcut)
    }

    /// Whether the program holds for `received` (as [`--format json`'s
    /// object](crate::listen::document) shows it, its context masked unless `show_secrets`):
    /// `None` where jaq is to be asked (see the module's text).
    pub fn holds(&self, received: &Received, show_secrets: bool) -> Option<bool> {
        let input = Input {
            received,
            show_secrets,
        };
        match input.eval(&self.0)? {
            Scalar::Bool(holds) => Some(holds),
            Scalar::Null => Some(false),
            _ => None,
        }
    }
}

/// The expression `term` is, if this module reads it.
fn expr(term: &Term<&str>) -> Option<Expr> {
    let boxed = |term: &Term<&str>| expr(term).map(Box::new);
    Some(match term {
        Term::Path(head, path) if matches!(**head, Term::Id) => {
            let names: Vec<String> = path
                .0
                .iter()
                .map(|(part, opt)| match (part, opt) {
                    (Part::Index(key), Opt::Essential) => string(key),
                    _ => None,
                })
                .collect::<Option<_>>()?;
            let (first, rest) = names.split_first()?;
            Expr::Path(Member::of(first), rest.to_vec())
        }
        Term::Num(n) => Expr::Literal(Scalar::Int(n.parse().ok()?)),
        Term::Str(..) => Expr::Literal(Scalar::Str(Cow::Owned(string(term)?))),
        Term::Call(name, args) if args.is_empty() => Expr::Literal(match *name {
            "null" => Scalar::Null,
            "true" => Scalar::Bool(true),
            "false" => Scalar::Bool(false),
            _ => return None,
        }),
        Term::Neg(inner) => Expr::Neg(boxed(inner)?),
        Term::BinOp(l, op, r) => match op {
            BinaryOp::Math(math) => {
                let arith = match math {
                    Math::Add => Arith::Add,
                    Math::Sub => Arith::Sub,
                    Math::Mul => Arith::Mul,
                    Math::Rem => Arith::Rem,
                    _ => return None,
                };
                Expr::Math(boxed(l)?, arith, boxed(r)?)
            }
            BinaryOp::Cmp(cmp) => Expr::Cmp(boxed(l)?, *cmp, boxed(r)?),
            BinaryOp::And => Expr::And(boxed(l)?, boxed(r)?),
            BinaryOp::Or => Expr::Or(boxed(l)?, boxed(r)?),
            BinaryOp::Alt => Expr::Alt(boxed(l)?, boxed(r)?),
            BinaryOp::Pipe(None) => match &**r {
                Term::Call("not", args) if args.is_empty() => Expr::Not(boxed(l)?),
                Term::Call("startswith", args) if args.len() == 1 => {
                    Expr::StartsWith(boxed(l)?, string(&args[0])?)
                }
                Term::Call("endswith", args) if args.len() == 1 => {
                    Expr::EndsWith(boxed(l)?, string(&args[0])?)
                }
                _ => return None,
            },
            _ => return None,
        },
        _ => return None,
    })
}

/// The text of a string literal without interpolation or format.
fn string(term: &Term<&str>) -> Option<String> {
    match term {
        Term::Str(None, parts) => parts
            .iter()
            .map(|part| match part {
                StrPart::Str(s) => Some(Cow::Borrowed(*s)),
                StrPart::Char(c) => Some(Cow::Owned(c.to_string())),
                StrPart::Term(_) => None,
            })
            .collect(),
        _ => None,
    }
}

/// What a program reads: one notification as `--format json`'s object shows it.
struct Input<'r> {
    received: &'r Received<'r>,
    show_secrets: bool,
}

impl<'r> Input<'r> {
    fn eval<'s>(&self, expr: &'s Expr) -> Option<Scalar<'s>>
    where
        'r: 's,
    {
        Some(match expr {
            Expr::Path(member, names) => self.path(*member, names)?,
            Expr::Literal(scalar) => scalar.borrowed(),
            Expr::Neg(inner) => match self.eval(inner)? {
                Scalar::Int(n) => Scalar::Int(n.checked_neg()?),
                _ => return None,
            },
            Expr::Math(l, arith, r) => match (self.eval(l)?, self.eval(r)?) {
                (Scalar::Int(x), Scalar::Int(y)) => Scalar::Int(match arith {
                    Arith::Add => x.checked_add(y)?,
                    Arith::Sub => x.checked_sub(y)?,
                    Arith::Mul => x.checked_mul(y)?,
                    Arith::Rem if y == 0 => return None,
                    Arith::Rem => x.checked_rem(y).unwrap_or(0),
                }),
                _ => return None,
            },
            Expr::Cmp(l, cmp, r) => Scalar::Bool(cmp.run(&self.eval(l)?, &self.eval(r)?)),
            Expr::And(l, r) => Scalar::Bool(self.eval(l)?.truthy() && self.eval(r)?.truthy()),
            Expr::Or(l, r) => Scalar::Bool(self.eval(l)?.truthy() || self.eval(r)?.truthy()),
            Expr::Alt(l, r) => match self.eval(l)? {
                first if first.truthy() => first,
                _ => self.eval(r)?,
            },
            Expr::Not(inner) => Scalar::Bool(!self.eval(inner)?.truthy()),
            Expr::StartsWith(inner, fix) => match self.eval(inner)? {
                Scalar::Str(s) => Scalar::Bool(s.starts_with(fix.as_str())),
                _ => return None,
            },
            Expr::EndsWith(inner, fix) => match self.eval(inner)? {
                Scalar::Str(s) => Scalar::Bool(s.ends_with(fix.as_str())),
                _ => return None,
            },
        })
    }

    /// The scalar at `rest` under `member` in `--format json`'s object.
    fn path(&self, member: Member, rest: &[String]) -> Option<Scalar<'r>> {
        let received = self.received;
        let m = received.message;
        let head = |text: &'r str| match rest.is_empty() {
            true => Some(Scalar::Str(Cow::Borrowed(text))),
            false => None,
        };
        match member {
            Member::Priority => head(m.priority.name()),
            Member::EventType => head(&m.event_type),
            Member::PublisherId => match &m.publisher_id {
                Some(publisher) => head(publisher),
                None => Some(Scalar::Null),
            },
            Member::Exchange => head(received.exchange),
            Member::RoutingKey => head(received.routing_key),
            Member::Source if !received.source.is_empty() => head(received.source),
            Member::Metadata => match rest {
                [name] if name == "message_id" => Some(Scalar::Str(Cow::Borrowed(&m.message_id))),
                [name] if name == "timestamp" => Some(Scalar::Str(Cow::Borrowed(&m.timestamp))),
                [name, ..] if name == "message_id" || name == "timestamp" => None,
                [] => None,
                [_, ..] => Some(Scalar::Null),
            },
            Member::Payload => found(lookup::find(m.payload_json(), rest)?),
            Member::Context => {
                let (key, below) = rest.split_first()?;
                let Some((key, json)) = m.context_json().filter(|(k, _)| k == key).last() else {
                    return Some(Scalar::Null);
                };
                match self.show_secrets {
                    true => found(lookup::find(json, below)?),
                    false => {
                        let masked = mask_member_json(key, json).ok()?;
                        found(lookup::find(&masked, below)?).map(Scalar::into_owned)
                    }
                }
            }
            Member::Source | Member::Other => Some(Scalar::Null),
        }
    }
}

/// The scalar of what a path found.
fn found(found: Found<'_>) -> Option<Scalar<'_>> {
    match found {
        Found::Null => Some(Scalar::Null),
        Found::Text(json) => scalar(json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listen::document::Document;
    use crate::listen::predicate::Predicate;
    use crate::wire::envelope::{Format, Message, Notification, Priority};
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// A message of `payload` with a context holding a secret, as a listener reads it.
    fn message(payload: Value, publisher: Option<&str>, format: Format) -> (Message, Vec<u8>) {
        let mut n = Notification::new(Priority::Warn, "compute.instance.create.end", payload);
        n.publisher_id = publisher.map(str::to_owned);
        n.context.insert("auth_token".into(), json!("gAAAA-secret"));
        n.context.insert("user".into(), json!("admin"));
        n.context
            .insert("note".into(), json!("login password=hunter2 x"));
        n.context.insert("roles".into(), json!(["admin", "member"]));
        n.context.insert("n".into(), json!(4));
        let body = n
            .encode(format, "7f1f2a3c-2d51-4a4a-9d3e-8e0c0f6ab001")
            .unwrap();
        (Message::read(&body).unwrap(), body)
    }

    fn received<'a>(message: &'a Message, body: &'a [u8], source: &'a str) -> Received<'a> {
        Received {
            message,
            exchange: "nova",
            routing_key: "notifications.warn",
            source,
            body,
        }
    }

    /// What jaq says of `code` on `received`: an error counts as not holding, as the
    /// listener counts it.
    fn jaq_holds(code: &str, received: &Received, show_secrets: bool) -> bool {
        let document = Document::of(received, show_secrets).unwrap();
        let predicate = Predicate::compile(code).unwrap();
        predicate.judge(&document).is_ok_and(|judged| judged.holds)
    }

    fn nova_payload() -> Value {
        json!({"nova_object.name": "InstanceActionPayload",
               "nova_object.data": {"uuid": "u-1", "host": "compute-01", "state": "active",
                                    "flavor": {"nova_object.data": {"memory_mb": 2048}},
                                    "fault": null, "locked": false, "n": 6, "rate": 1.5}})
    }

    #[test]
    fn programs_of_the_usual_shape_are_judged_without_jaq() {
        let (m, body) = message(nova_payload(), Some("nova-compute:compute-01"), Format::V2);
        let r = received(&m, &body, "");
        let cases = [
            (r#".event_type == "compute.instance.create.end""#, true),
            (r#".event_type != "compute.instance.create.end""#, false),
            (r#".priority == "warn""#, true),
            (r#".publisher_id | startswith("nova-compute")"#, true),
            (r#".event_type | endswith(".start")"#, false),
            (r#".payload["nova_object.data"].n % 4 == 2"#, true),
            (
                r#".payload."nova_object.data".flavor."nova_object.data".memory_mb >= 2048"#,
                true,
            ),
            (r#".payload["nova_object.data"].fault == null"#, true),
            (r#".payload["nova_object.data"].locked | not"#, true),
            (
                r#".payload["nova_object.data"].missing // "x" == "x""#,
                true,
            ),
            (r#".payload.nova_object.data.uuid == "u-1""#, false),
            (r#".context.auth_token == "***""#, true),
            (
                r#".context.user == "admin" and .context.n * 2 - 1 == 7"#,
                true,
            ),
            (r#".context.note == "login password=*** x""#, true),
            (r#".metadata.timestamp | startswith("20")"#, true),
            (r#".source == null or .exchange == "nova""#, true),
            (".payload.nothing", false),
            ("-(.context.n) < -3", true),
        ];
        for (code, expected) in cases {
            let shortcut = Shortcut::compile(code).unwrap_or_else(|| panic!("{code}"));
            assert_eq!(shortcut.holds(&r, false), Some(expected), "{code}");
            assert_eq!(jaq_holds(code, &r, false), expected, "{code}");
        }
        let id = format!(".metadata.message_id == {:?}", m.message_id);
        assert_eq!(Shortcut::compile(&id).unwrap().holds(&r, false), Some(true));
        let secret = Shortcut::compile(r#".context.auth_token == "gAAAA-secret""#).unwrap();
        assert_eq!(secret.holds(&r, false), Some(false));
        assert_eq!(secret.holds(&r, true), Some(true));
    }

    #[test]
    fn what_the_shortcut_does_not_read_is_left_to_jaq() {
        for code in [
            ".",
            ".payload[0] == 1",
            ".payload.a? == 1",
            r#".payload | .a == 1"#,
            ".payload.n / 2 == 1",
            ".payload.n == 1.5",
            r#".event_type | test("x")"#,
            r#"def f: 1; f == 1"#,
            r#"$__loc__ == 1"#,
            r#".event_type == "a\(.x)""#,
            r#".event_type == @base64 "x""#,
            "[.payload.n] == [1]",
            "not",
        ] {
            assert!(Shortcut::compile(code).is_none(), "{code}");
        }
        let (m, body) = message(nova_payload(), None, Format::V2);
        let r = received(&m, &body, "");
        for code in [
            // An object, an array, a number that is not an integer, a string indexed, a
            // number that does not fit, division by zero, an answer that is no boolean.
            ".payload",
            r#".payload["nova_object.data"].flavor == 1"#,
            ".context.roles == 1",
            r#".payload["nova_object.data"].rate > 1"#,
            ".event_type.x == 1",
            ".context.n * 4611686018427387904 > 0",
            ".context.n % 0 == 1",
            ".context.n",
            ".event_type",
        ] {
            let shortcut = Shortcut::compile(code).unwrap_or_else(|| panic!("{code}"));
            assert_eq!(shortcut.holds(&r, false), None, "{code}");
        }
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-9i64..9).prop_map(|n| json!(n)),
            any::<i64>().prop_map(|n| json!(n)),
            prop::sample::select(vec!["1.5", "2.0", "-0", "1e3", "12345678901234567890", "0"])
                .prop_map(|text| serde_json::from_str(text).unwrap()),
            prop::sample::select(vec![
                "",
                "compute",
                "compute.instance",
                "caf\u{e9}",
                "a\"q",
                "back\\slash",
                "line\nbreak",
                "nova-compute:h1",
                "\u{1f680}",
            ])
            .prop_map(|s| json!(s)),
        ]
    }

    fn payload() -> impl Strategy<Value = Value> {
        let key = prop::sample::select(vec!["n", "s", "o", "x.y", "a\"b"]);
        let tree = leaf().prop_recursive(3, 24, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..5).prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.into(), v)).collect()
                )),
            ]
        });
        prop_oneof![
            tree.clone(),
            prop::collection::vec(("[nsox]", tree), 0..5)
                .prop_map(|m| { Value::Object(m.into_iter().collect()) })
        ]
    }

    fn program() -> impl Strategy<Value = String> {
        let path = prop::sample::select(vec![
            ".payload.n",
            ".payload.s",
            ".payload.o.n",
            ".payload.o.s",
            r#".payload["x.y"]"#,
            ".payload.x.y",
            ".payload.n.o",
            ".event_type",
            ".publisher_id",
            ".priority",
            ".context.auth_token",
            ".context.user",
            ".context.note",
            ".context.n",
            ".metadata.message_id",
            ".metadata.other",
            ".source",
            ".routing_key",
            ".nothing",
        ]);
        let literal = prop::sample::select(vec![
            "0",
            "1",
            "-3",
            r#""compute""#,
            r#""caf\u00e9""#,
            "null",
            "true",
            "false",
            r#""***""#,
            r#""a\"q""#,
            r#""""#,
        ]);
        let form = prop::sample::select(vec![
            "P == L",
            "P != L",
            "P < L",
            "P >= L",
            "P % 2 == 0",
            "P + 1 > L",
            "P * -2 <= L",
            "(P == L) and (Q != M)",
            "P or Q",
            "P // L == M",
            "P | not",
            "-P < 0",
            "P",
            r#"P | startswith("c")"#,
            r#"P | endswith("e")"#,
            "P == Q",
            "P % L == 0",
            "P < Q",
        ]);
        (form, path.clone(), path, literal.clone(), literal).prop_map(|(form, p, q, l, m)| {
            form.replace('P', p)
                .replace('Q', q)
                .replace('L', l)
                .replace('M', m)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Where the shortcut answers, jaq answers the same.
        #[test]
        fn the_shortcut_agrees_with_jaq(
            payload in payload(),
            code in program(),
            publisher in prop::option::of(Just("nova-compute:h1")),
            v1 in any::<bool>(),
            source in prop::sample::select(vec!["", "east"]),
            show_secrets in any::<bool>(),
        ) {
            let format = if v1 { Format::V1 } else { Format::V2 };
            let (m, body) = message(payload, publisher, format);
            let r = received(&m, &body, source);
            if let Some(shortcut) = Shortcut::compile(&code) {
                if let Some(holds) = shortcut.holds(&r, show_secrets) {
                    prop_assert_eq!(holds, jaq_holds(&code, &r, show_secrets), "{}", code);
                }
            }
        }
    }
}
