//! The integration tests, one crate: the built tools and the library against a real
//! RabbitMQ (the local one, or nodes and clusters of a test's own), and the reference Python
//! oslo.messaging as a peer. `common` holds what they share.
//!
//! `scripts/test.sh` runs them all: `cargo test` for the default set, then the interop
//! matrix (`-- --ignored interop::`) and the cluster failover tests, the library's among
//! them (`-- --ignored --nocapture --test-threads 1 cluster:: library::`).

mod common;

mod acks;
mod cluster;
mod config;
mod docs;
mod endpoint;
mod faults;
mod install;
mod interop;
mod large;
mod layout;
mod library;
mod listen;
mod metrics;
mod network;
mod notify;
mod properties;
mod replay;
mod soak;
mod sources;
mod timeline;
mod tls;
mod top;
mod wait;
mod wire_fixtures;
