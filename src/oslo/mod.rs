//! OpenStack's conventions, with no I/O: transport URLs, the services' own configuration
//! files (oslo.config), secrets masked as oslo.utils masks them, and where notifications
//! travel (exchanges, routing keys, the queues each way of listening reads).

pub mod config;
pub mod mask;
pub mod topology;
pub mod transport_url;
