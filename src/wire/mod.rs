//! The wire format, with no I/O: the notification message itself (envelope 2.0 and bare
//! 1.0), JSON written byte for byte as Python writes it, and versioned objects made readable.

pub mod envelope;
pub mod pyjson;
pub mod versioned;
mod words;
