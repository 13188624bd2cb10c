//! The command line of both tools: their arguments (clap derive) and the conversion into the
//! plain configuration structs the commands run on (`NotifyArgs` -> `SendConfig`,
//! `ListenArgs` -> `ListenConfig`, both with the shared `ConnectionArgs` of `args`), their
//! man pages (`man`), their exit codes ([`exit`]), and the programs themselves
//! ([`oslo_notify`], [`oslo_listen`]), which the binaries call.

mod args;
pub mod exit;
mod listen;
mod man;
mod notify;
mod programs;

pub use programs::{oslo_listen, oslo_notify};
