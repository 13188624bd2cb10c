//! The two programs from start to end: parse the arguments, build the configuration, run the
//! command, and turn its outcome into an exit code ([`super::exit`]).

use super::exit;
use super::listen::ListenArgs;
use super::notify::NotifyArgs;
use crate::listen::{print, timeline, top};
use crate::notify::send;
use std::io::{self, BufWriter, IsTerminal};
use std::process::ExitCode;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

/// `oslo-notify`: publish OpenStack notifications as oslo.messaging does.
pub fn oslo_notify() -> ExitCode {
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

/// `oslo-listen`: print OpenStack notifications as they arrive, or running figures of them.
pub fn oslo_listen() -> ExitCode {
    let args = match exit::parse_args::<ListenArgs>("oslo-listen") {
        Ok(args) => args,
        Err(code) => return code,
    };
    if let Some(printed) = args.install.write::<ListenArgs>(&mut io::stdout().lock()) {
        return exit::finish("oslo-listen", printed);
    }
    // The number of the signal that asks us to stop (0: none yet).
    let signal = Arc::new(AtomicUsize::new(0));
    let result = [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ]
    .into_iter()
    .try_for_each(|number| {
        let value = usize::try_from(number).unwrap_or(usize::MAX);
        signal_hook::flag::register_usize(number, Arc::clone(&signal), value).map(drop)
    })
    .map_err(anyhow::Error::from)
    .and_then(|()| {
        let terminal = io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        args.into_config(terminal, no_color)
    })
    .and_then(|config| {
        // Not locked for the run: several sources write from threads of their own.
        let mut out = BufWriter::new(io::stdout());
        match &config.top {
            Some(options) => {
                let face = if io::stdout().is_terminal() {
                    top::Face::Screen {
                        hold_stderr: io::stderr().is_terminal(),
                        color: config.printer.color,
                    }
                } else {
                    top::Face::Lines
                };
                top::run(&config, options, face, &mut out, io::stderr(), &signal)
            }
            None if !config.timeline.is_empty() => {
                let width = io::stdout()
                    .is_terminal()
                    .then(|| ratatui::crossterm::terminal::size().ok())
                    .flatten()
                    .map(|(columns, _)| usize::from(columns));
                timeline::run(&config, &mut out, io::stderr(), &signal, width)
            }
            None => print::run(&config, &mut out, io::stderr(), &signal),
        }
    });
    exit::finish("oslo-listen", result)
}
