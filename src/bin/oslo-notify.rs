//! `oslo-notify`: publish OpenStack notifications as oslo.messaging does.

use oslo_notify::cli::NotifyArgs;
use oslo_notify::{exit, send};
use std::io::{self, BufWriter};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match exit::parse_args::<NotifyArgs>("oslo-notify") {
        Ok(args) => args,
        Err(code) => return code,
    };
    if let Some(printed) = args.install.write::<NotifyArgs>(&mut io::stdout().lock()) {
        return exit::finish("oslo-notify", printed);
    }
    let result = args.into_config(io::stdin().lock()).and_then(|config| {
        let mut out = BufWriter::new(io::stdout().lock());
        send::run(&config, io::stdin(), &mut out, io::stderr())
    });
    exit::finish("oslo-notify", result)
}
