//! Fuzzes the envelope parser: any bytes, as a body, must give a notification or an error,
//! and a notification decoded must encode again to a body that decodes to the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oslo_notify::envelope::decode;

fuzz_target!(|body: &[u8]| {
    if let Ok(decoded) = decode(body) {
        let again = decoded
            .notification
            .encode(decoded.format, decoded.unique_id.as_deref().unwrap_or(""))
            .expect("a decoded notification encodes");
        let back = decode(&again).expect("what we encode decodes");
        assert_eq!(back.notification, decoded.notification);
    }
});
