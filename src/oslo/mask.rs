//! Secrets masked the way OpenStack masks them (oslo.utils' `strutils.mask_dict_password`
//! and `mask_password`), so that what the tools print hides exactly what an OpenStack
//! service's own logs hide:
//!
//! - a value whose key contains one of [`SANITIZE_KEYS`] (any case) is replaced by `***`,
//!   unless it is an object, which is masked member by member instead;
//! - a string under any other key is searched for `password=...`, `--password ...`,
//!   `"password": "..."`, `<password>...</password>` and the like, and only the secret in it
//!   is replaced.
//!
//! No I/O here.

use regex_lite::Regex;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::OnceLock;

/// What stands in for a masked secret.
pub const MASK: &str = "***";
/// [`MASK`] as a JSON string.
const MASK_JSON: &str = "\"***\"";

/// The key names (lower case) that mark a secret: a key holding one of them, in any case,
/// has its value masked. oslo.utils' `_SANITIZE_KEYS`.
pub const SANITIZE_KEYS: [&str; 34] = [
    "adminpass",
    "admin_pass",
    "password",
    "admin_password",
    "auth_token",
    "new_pass",
    "auth_password",
    "secret_uuid",
    "secret",
    "sys_pswd",
    "token",
    "configdrive",
    "chappassword",
    "encrypted_key",
    "private_key",
    "fernetkey",
    "sslkey",
    "passphrase",
    "cephclusterfsid",
    "octaviaheartbeatkey",
    "rabbitcookie",
    "cephmanilaclientkey",
    "pacemakerremoteauthkey",
    "designaterndckey",
    "cephadminkey",
    "heatauthencryptionkey",
    "cephclientkey",
    "keystonecredential",
    "barbicansimplecryptokek",
    "cephrgwkey",
    "swifthashsuffix",
    "migrationsshkey",
    "cephmdskey",
    "cephmonkey",
];

/// Finds the [`SANITIZE_KEYS`], in any case.
fn finder() -> &'static aho_corasick::AhoCorasick {
    static FINDER: OnceLock<aho_corasick::AhoCorasick> = OnceLock::new();
    FINDER.get_or_init(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(SANITIZE_KEYS)
            .expect("the sanitize keys are plain words")
    })
}

/// The indices of the [`SANITIZE_KEYS`] that `text` holds, in any case: one pass over it.
fn keys_in(text: &str) -> impl Iterator<Item = usize> + '_ {
    let mut seen = [false; SANITIZE_KEYS.len()];
    finder()
        .find_overlapping_iter(text)
        .map(|found| found.pattern().as_usize())
        .filter(move |&index| !std::mem::replace(&mut seen[index], true))
}

/// Whether a key names a secret: it holds one of [`SANITIZE_KEYS`], in any case.
pub fn is_secret_key(key: &str) -> bool {
    if !may_hold_a_key(key) {
        return false;
    }
    // A notification's context has the same few dozen names every time: each is searched
    // once per thread. The names come from the network, so what is remembered is bounded:
    // at most 1,024 names of at most 64 bytes.
    thread_local! {
        static VERDICTS: RefCell<foldhash::HashMap<Box<str>, bool>> = RefCell::default();
    }
    const REMEMBERED: usize = 1024;
    const LONGEST: usize = 64;
    if key.len() > LONGEST {
        return finder().is_match(key);
    }
    VERDICTS.with_borrow_mut(|verdicts| {
        if let Some(&secret) = verdicts.get(key) {
            return secret;
        }
        let secret = finder().is_match(key);
        if verdicts.len() == REMEMBERED {
            verdicts.clear();
        }
        verdicts.insert(key.into(), secret);
        secret
    })
}

/// Letters of which every one of [`SANITIZE_KEYS`] holds one (in any case): a text without
/// any holds none of the keys, which one look at each byte says (ids, UUIDs, most names).
const HINTS: [u8; 4] = *b"kstv";

/// Whether `text` holds one of [`HINTS`], in any case: false for a text that holds none
/// of the [`SANITIZE_KEYS`].
fn may_hold_a_key(text: &str) -> bool {
    /// Which bytes are hints, in either case.
    const IS_HINT: [bool; 256] = {
        let mut table = [false; 256];
        let mut i = 0;
        while i < HINTS.len() {
            table[HINTS[i] as usize] = true;
            table[HINTS[i].to_ascii_uppercase() as usize] = true;
            i += 1;
        }
        table
    };
    text.bytes().any(|b| IS_HINT[usize::from(b)])
}

/// Patterns that keep what surrounds the secret in two groups (the secret between them).
const SURROUNDED: [&str; 10] = [
    r#"(KEY[0-9]*\s*[=]\s*["'])[^"']*(["'])"#,
    r#"(KEY[0-9]*\s*[=]\s*["])[^"]*(["])"#,
    r#"(KEY[0-9]*\s*[=]\s*['])[^']*(['])"#,
    r#"(KEY[0-9]*\s+["'])[^"']*(["'])"#,
    r#"([-]{2}KEY[0-9]*\s+)[^'^"^=^\s]+([\s]*)"#,
    r#"(<KEY[0-9]*>)[^<]*(</KEY[0-9]*>)"#,
    r#"(["']KEY[0-9]*["']\s*:\s*["'])[^"']*(["'])"#,
    r#"(['"][^"']*KEY[0-9]*['"]\s*:\s*u?['"])[^"']*(['"])"#,
    r#"(['"][^'"]*KEY[0-9]*['"]\s*,\s*'--?[A-z]+'\s*,\s*u?['"])[^"']*(['"])"#,
    r#"(KEY[0-9]*\s*--?[A-z]+\s*)\S+(\s*)"#,
];
/// A pattern that keeps what precedes the secret in one group.
const PRECEDED: &str = r#"(KEY[0-9]*\s*[=]\s*)[^\s^'"]+"#;
/// A pattern whose match is cut back to its first group (quoted values with quotes inside).
const WILDCARD: &str = r#"(['"][^"']*KEY[0-9]*['"]\s*:\s*u?['"].*['"])[^"']*(['"])"#;

/// The compiled patterns of one key, in the order they are applied.
struct KeyPatterns {
    surrounded: Vec<Regex>,
    preceded: Regex,
    wildcard: Regex,
}

impl KeyPatterns {
    fn compile(key: &str) -> KeyPatterns {
        let regex = |pattern: &str| {
            Regex::new(&format!("(?is){}", pattern.replace("KEY", key)))
                .expect("the masking patterns are valid")
        };
        KeyPatterns {
            surrounded: SURROUNDED.iter().map(|p| regex(p)).collect(),
            preceded: regex(PRECEDED),
            wildcard: regex(WILDCARD),
        }
    }
}

/// The patterns of `SANITIZE_KEYS[index]`, compiled the first time they are needed.
fn patterns(index: usize) -> &'static KeyPatterns {
    static COMPILED: [OnceLock<KeyPatterns>; SANITIZE_KEYS.len()] =
        [const { OnceLock::new() }; SANITIZE_KEYS.len()];
    COMPILED[index].get_or_init(|| KeyPatterns::compile(SANITIZE_KEYS[index]))
}

/// `text` with the secrets in it masked, as oslo.utils' `mask_password` masks them:
/// `"'adminPass' : 'aaaaa'"` becomes `"'adminPass' : '***'"`, `password=x y` becomes
/// `password=*** y`. Borrowed when there is nothing to mask. The patterns are oslo's, with
/// `\s` matching ASCII white space.
pub fn mask_text(text: &str) -> Cow<'_, str> {
    let mut masked = Cow::Borrowed(text);
    // Most strings hold no key: a look at their letters or one quick search says so, where
    // finding each key (below) is an overlapping search.
    if !may_hold_a_key(text) || !finder().is_match(text) {
        return masked;
    }
    let found: Vec<usize> = keys_in(text).collect();
    for index in found {
        let key = patterns(index);
        for regex in &key.surrounded {
            replace(&mut masked, regex, &format!("${{1}}{MASK}${{2}}"));
        }
        replace(&mut masked, &key.preceded, &format!("${{1}}{MASK}"));
        replace(&mut masked, &key.wildcard, "${1}");
    }
    masked
}

fn replace(text: &mut Cow<'_, str>, regex: &Regex, with: &str) {
    if let Cow::Owned(replaced) = regex.replace_all(text, with) {
        *text = Cow::Owned(replaced);
    }
}

/// A copy of `dictionary` with its secrets masked, as oslo.utils' `mask_dict_password`
/// masks them (see the module's documentation). Null values stay null: they hide nothing.
pub fn mask_dict(dictionary: &Map<String, Value>) -> Map<String, Value> {
    dictionary
        .iter()
        .map(|(key, value)| (key.clone(), mask_member(key, value).into_owned()))
        .collect()
}

/// The value of `key` in an object, masked.
pub fn mask_member<'v>(key: &str, value: &'v Value) -> Cow<'v, Value> {
    match value {
        Value::Object(members) => Cow::Owned(Value::Object(mask_dict(members))),
        Value::Null => Cow::Borrowed(value),
        _ if is_secret_key(key) => Cow::Owned(Value::String(MASK.to_owned())),
        Value::String(text) => match mask_text(text) {
            Cow::Borrowed(_) => Cow::Borrowed(value),
            Cow::Owned(masked) => Cow::Owned(Value::String(masked)),
        },
        _ => Cow::Borrowed(value),
    }
}

/// The compact JSON text of a member of an object, `key`'s value given as its compact JSON
/// text `json`, masked as [`mask_member`] masks the value itself: borrowed when nothing is
/// masked. Only an object is parsed; a string is unescaped only when it has escapes.
pub fn mask_member_json<'j>(key: &str, json: &'j str) -> Result<Cow<'j, str>, serde_json::Error> {
    Ok(match json.as_bytes().first() {
        Some(b'{') => {
            let value: Value = serde_json::from_str(json)?;
            Cow::Owned(serde_json::to_string(&mask_member(key, &value))?)
        }
        Some(b'n') => Cow::Borrowed(json),
        _ if is_secret_key(key) => Cow::Borrowed(MASK_JSON),
        Some(b'"') => {
            // Compact JSON strings escape only quotes, backslashes and control characters.
            let text: Cow<str> = match json.get(1..json.len() - 1) {
                Some(inner) if !inner.contains('\\') => Cow::Borrowed(inner),
                _ => Cow::Owned(serde_json::from_str::<String>(json)?),
            };
            match mask_text(&text) {
                Cow::Borrowed(_) => Cow::Borrowed(json),
                Cow::Owned(masked) => Cow::Owned(serde_json::to_string(&masked)?),
            }
        }
        _ => Cow::Borrowed(json),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_key_holds_a_hint() {
        for key in SANITIZE_KEYS {
            assert!(
                key.bytes().any(|b| HINTS.contains(&b)),
                "{key} holds none of the hints"
            );
            assert!(may_hold_a_key(&key.to_ascii_uppercase()), "{key}");
        }
        assert!(!may_hold_a_key("req-4ddd738d-c91a-4e95-9cde-e2ee2cebe9b0"));
        assert!(!is_secret_key("domain_id"));
    }

    #[test]
    fn a_key_remembered_is_judged_as_it_was() {
        // Asked twice (the second answer remembered), and past the bound of what is kept.
        for round in 0..2 {
            for i in 0..1500 {
                assert!(is_secret_key(&format!("x{i}_Password")), "{round} {i}");
                assert!(!is_secret_key(&format!("x{i}_user")), "{round} {i}");
            }
            assert!(is_secret_key("auth_token"));
            assert!(!is_secret_key("user_identity"));
            // Longer than what is remembered: judged each time.
            assert!(is_secret_key(&format!("{}password", "x".repeat(100))));
            assert!(!is_secret_key(&"user".repeat(100)));
        }
    }

    #[test]
    fn secret_keys_are_oslos_words_anywhere_in_the_name() {
        for key in [
            "password",
            "auth_token",
            "db_password",
            "AdminPass",
            "X-Auth-Token",
            "secret_key",
            "CHAPPASSWORD",
            "ssl_private_key",
            "cephmonkey",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "user",
            "keystone_endpoint",
            "api_key",
            "key_name",
            "monkey",
            "request_id",
            "project_name",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn strings_have_only_their_secrets_masked() {
        for (text, masked) in [
            ("'adminPass' : 'aaaaa'", "'adminPass' : '***'"),
            ("'admin_pass' : 'aaaaa'", "'admin_pass' : '***'"),
            (r#""password" : "aaaaa""#, r#""password" : "***""#),
            (
                "'original_password' : 'aaaaa'",
                "'original_password' : '***'",
            ),
            (
                "--password d81juxmEW_ --user admin",
                "--password *** --user admin",
            ),
            (
                "mysql://u:p@db?password=hunter2 next",
                "mysql://u:p@db?password=*** next",
            ),
            ("<password>x</password>", "<password>***</password>"),
            ("token = \"abc def\"", "token = \"***\""),
            ("nothing to see", "nothing to see"),
            ("password=h\u{e9}\u{1f680}s next", "password=*** next"),
            (
                "\u{e9}t\u{e9} token=x \u{1f680}",
                "\u{e9}t\u{e9} token=*** \u{1f680}",
            ),
        ] {
            assert_eq!(mask_text(text), masked, "{text}");
        }
        assert!(matches!(mask_text("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn dictionaries_are_masked_as_oslo_masks_them() {
        let context = json!({
            "user": "admin",
            "auth_token": "gAAAA-token",
            "db_password": "pw",
            "token_count": 3,
            "keystone_endpoint": "http://keystone:5000",
            "api_key": "not an oslo word",
            "SecretThing": {"password": "x", "a": 1},
            "roles": ["admin", "member"],
            "connection": "mysql://nova:pw@db/nova?password=s3cret",
            "token_null": null,
        });
        let masked = mask_dict(context.as_object().unwrap());
        assert_eq!(
            Value::Object(masked),
            json!({
                "user": "admin",
                "auth_token": "***",
                "db_password": "***",
                "token_count": "***",
                "keystone_endpoint": "http://keystone:5000",
                "api_key": "not an oslo word",
                "SecretThing": {"password": "***", "a": 1},
                "roles": ["admin", "member"],
                "connection": "mysql://nova:pw@db/nova?password=***",
                "token_null": null,
            })
        );
    }
}
