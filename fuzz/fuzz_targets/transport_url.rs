//! Fuzzes the transport URL parser and the redaction of passwords in messages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oslo_notify::transport_url::{redact, TransportUrl};

fuzz_target!(|text: &str| {
    let _ = redact(text);
    if let Ok(url) = TransportUrl::parse(text) {
        // What is displayed parses again to the same hosts.
        let shown = url.to_string();
        let again = TransportUrl::parse(&shown).expect("a displayed URL parses");
        assert_eq!(again.hosts.len(), url.hosts.len());
    }
});
