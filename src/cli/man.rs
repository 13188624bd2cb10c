//! The man pages: clap_mangen's sections for what clap knows (name, description, options,
//! version), with a synopsis that shows each option's value, and the sections a man page is
//! read for that clap has no place for: EXAMPLES (kept as written: not re-wrapped, not
//! hyphenated), EXIT STATUS, ENVIRONMENT and FILES.

use std::io::{self, Write};

/// What a tool's man page says beyond its arguments.
#[derive(Debug, Clone, Copy)]
pub struct Manual {
    /// The examples, as `--help` shows them (a first `Examples:` line, then indented lines).
    pub examples: &'static str,
    /// The exit codes, as `--help` shows them (a first `Exit codes:` line).
    pub exit_codes: &'static str,
    /// Environment variables and what each does.
    pub environment: &'static [(&'static str, &'static str)],
    /// Files and what each is.
    pub files: &'static [(&'static str, &'static str)],
}

/// A tool whose man page can be written.
pub trait HasManual {
    /// What its man page says beyond its arguments.
    const MANUAL: Manual;
}

/// `text` for roff: backslashes and hyphens escaped, and a line starting with a dot or a
/// quote kept as text.
pub fn escape(text: &str) -> String {
    text.lines()
        .map(|line| {
            let escaped = line.replace('\\', "\\e").replace('-', "\\-");
            if escaped.starts_with('.') || escaped.starts_with('\'') {
                format!("\\&{escaped}")
            } else {
                escaped
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lines of a `--help` block after its heading, de-indented by two columns.
fn block(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .collect();
    lines.join("\n")
}

/// The synopsis: the tool's usage lines (`override_usage`, else one built from its
/// arguments), every option with its value.
fn synopsis(command: &clap::Command, out: &mut dyn Write) -> io::Result<()> {
    let name = command.get_name();
    writeln!(out, ".SH SYNOPSIS")?;
    // Usage lines written for the tool say it best: each way to call it, values named.
    if let Some(usage) = command.get_overridden_usage() {
        writeln!(out, ".nf")?;
        for line in usage.to_string().lines() {
            let line = escape(line.trim());
            let rest = line.strip_prefix(&escape(name)).unwrap_or(&line);
            writeln!(out, "\\fB{}\\fR{rest}", escape(name))?;
        }
        return writeln!(out, ".fi");
    }
    let mut words = Vec::new();
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        if arg.is_positional() {
            continue;
        }
        let flag = match (arg.get_short(), arg.get_long()) {
            (Some(short), Some(long)) => {
                format!("\\fB\\-{short}\\fR|\\fB\\-\\-{}\\fR", escape(long))
            }
            (None, Some(long)) => format!("\\fB\\-\\-{}\\fR", escape(long)),
            (Some(short), None) => format!("\\fB\\-{short}\\fR"),
            (None, None) => continue,
        };
        let takes = arg.get_num_args().is_some_and(|n| n.takes_values());
        let value = arg
            .get_value_names()
            .and_then(|names| names.first())
            .filter(|_| takes)
            .map(|v| format!(" \\fI{}\\fR", escape(v)))
            .unwrap_or_default();
        words.push(format!("[{flag}{value}]"));
    }
    let positionals: Vec<String> = command
        .get_positionals()
        .map(|arg| {
            let value = arg
                .get_value_names()
                .and_then(|names| names.first())
                .map_or_else(|| arg.get_id().to_string(), ToString::to_string);
            if arg.is_last_set() {
                format!("[\\fB\\-\\-\\fR \\fI{}\\fR ...]", escape(&value))
            } else if arg.is_required_set() {
                format!("\\fI{}\\fR", escape(&value))
            } else {
                format!("[\\fI{}\\fR]", escape(&value))
            }
        })
        .collect();
    // Not hyphenated: a value name cut in two reads as two.
    writeln!(
        out,
        ".nh\n\\fB{}\\fR {} {}\n.hy",
        escape(name),
        words.join(" "),
        positionals.join(" ")
    )
}

/// Writes the man page of `command` with `manual`'s sections.
pub fn render(command: clap::Command, manual: &Manual, out: &mut dyn Write) -> io::Result<()> {
    let mut command = command;
    command.build();
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    synopsis(&command, out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    writeln!(out, ".SH EXAMPLES\n.nf")?;
    writeln!(out, "{}", escape(&block(manual.examples)))?;
    writeln!(out, ".fi")?;
    writeln!(out, ".SH \"EXIT STATUS\"\n.nf")?;
    writeln!(out, "{}", escape(&block(manual.exit_codes)))?;
    writeln!(out, ".fi")?;
    for (title, entries) in [("ENVIRONMENT", manual.environment), ("FILES", manual.files)] {
        writeln!(out, ".SH {title}")?;
        for (name, what) in entries {
            writeln!(out, ".TP\n\\fB{}\\fR\n{}", escape(name), escape(what))?;
        }
    }
    man.render_version_section(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_escapes() {
        assert_eq!(escape("a-b \\n"), "a\\-b \\en");
        assert_eq!(escape(".TH x\n'q"), "\\&.TH x\n\\&'q");
    }

    #[test]
    fn blocks_lose_their_heading_and_indent() {
        assert_eq!(block("Examples:\n  a b\n      c\n\nd"), "a b\n    c\n\nd");
    }
}
