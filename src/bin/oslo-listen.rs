//! `oslo-listen`: print OpenStack notifications as they arrive.

use clap::Parser;
use oslo_notify::cli::ListenArgs;
use oslo_notify::{exit, listen};
use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn main() -> ExitCode {
    let args = ListenArgs::parse();
    if let Some(printed) = args.install.write::<ListenArgs>(&mut io::stdout().lock()) {
        return exit::finish("oslo-listen", printed);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = Arc::clone(&stop);
    let result = ctrlc::set_handler(move || on_signal.store(true, Ordering::Relaxed))
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            let terminal = io::stdout().is_terminal();
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            args.into_config(terminal, no_color)
        })
        .and_then(|config| {
            let mut out = io::BufWriter::new(io::stdout().lock());
            listen::run(&config, &mut out, io::stderr(), &stop)
        });
    exit::finish("oslo-listen", result)
}
