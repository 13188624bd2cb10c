//! Fuzzes the envelope parser: any bytes, as a body, must give a notification or an error,
//! a notification decoded must encode again to a body that decodes to the same, and reading
//! the body as a `Message` (payload and context kept as text) must agree with decoding it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oslo_notify::envelope::{decode, Message};

fuzz_target!(|body: &[u8]| {
    let decoded = decode(body);
    match (&decoded, Message::read(body)) {
        (Ok(decoded), Ok(read)) => assert_eq!(read.notification(), &decoded.notification),
        (Err(decoded), Err(read)) => assert_eq!(&read, decoded),
        (decoded, read) => panic!("decode gave {decoded:?}, Message::read {read:?}"),
    }
    if let Ok(decoded) = decoded {
        let again = decoded
            .notification
            .encode(decoded.format, decoded.unique_id.as_deref().unwrap_or(""))
            .expect("a decoded notification encodes");
        let back = decode(&again).expect("what we encode decodes");
        assert_eq!(back.notification, decoded.notification);
    }
});
