//! What installing the tools needs: completion scripts that the shells load, and man pages,
//! both generated from the argument definitions.

use std::process::Command;

const TOOLS: [(&str, &str); 2] = [
    ("oslo-notify", env!("CARGO_BIN_EXE_oslo-notify")),
    ("oslo-listen", env!("CARGO_BIN_EXE_oslo-listen")),
];

fn printed(binary: &str, args: &[&str]) -> String {
    let output = Command::new(binary).args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
    assert!(output.stderr.is_empty(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn bash_loads_the_completion_script_and_completes_options() {
    for (name, binary) in TOOLS {
        let script = printed(binary, &["--completions", "bash"]);
        // Load it, then ask the completion function what follows `--transport`.
        let check = format!(
            "{script}\ncomplete -p {name}\nCOMP_WORDS=({name} --transport); COMP_CWORD=1; \
             $(complete -p {name} | sed -E 's/.*-F ([^ ]+).*/\\1/') {name} --transport {name}; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let output = Command::new("bash").args(["-c", &check]).output().unwrap();
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{name}: {output:?}");
        assert!(said.contains(&format!(" {name}\n")), "{name}: {said}");
        assert!(said.contains("--transport-url"), "{name}: {said}");
    }
}

#[test]
fn zsh_and_fish_scripts_name_every_option() {
    for (name, binary) in TOOLS {
        for shell in ["zsh", "fish"] {
            let script = printed(binary, &["--completions", shell]);
            for option in ["transport-url", "config-file", "ssl-ca-file", "insecure"] {
                assert!(script.contains(option), "{name} {shell}: no {option}");
            }
        }
        assert!(printed(binary, &["--completions", "zsh"]).starts_with(&format!("#compdef {name}")));
    }
}

#[test]
fn man_pages_are_roff_with_every_option() {
    for (name, binary) in TOOLS {
        let page = printed(binary, &["--man"]);
        assert!(page.contains(&format!(".TH {name} 1")), "{name}: {page}");
        for option in ["transport\\-url", "ssl\\-ca\\-file", "completions"] {
            assert!(page.contains(option), "{name}: no {option}");
        }
        for section in [
            ".SH SYNOPSIS",
            ".SH EXAMPLES\n.nf\n",
            ".SH \"EXIT STATUS\"\n.nf\n",
            ".SH ENVIRONMENT",
            "\\fBOSLO_TRANSPORT_URL\\fR",
            ".SH FILES",
        ] {
            assert!(page.contains(section), "{name}: no {section:?}");
        }
        // Examples kept as written, hyphens escaped so that none is taken for a hyphenation.
        assert!(
            page.contains("\n\\-\\-json") || page.contains(" \\-\\-json"),
            "{name}"
        );
    }
    // Values in the synopsis.
    let listen = printed(TOOLS[1].1, &["--man"]);
    assert!(listen.contains("[\\fB\\-t\\fR|\\fB\\-\\-topic\\fR \\fITOPIC\\fR]"));
    let notify = printed(TOOLS[0].1, &["--man"]);
    assert!(notify.contains("\\fBoslo\\-notify\\fR [OPTIONS] PRIORITY EVENT_TYPE [PAYLOAD]"));
    if std::process::Command::new("man")
        .arg("--version")
        .output()
        .is_ok()
    {
        // What a person reads: the example lines as in --help, one per line.
        let file = std::env::temp_dir().join(crate::common::unique("page.1"));
        std::fs::write(&file, &listen).unwrap();
        let shown = Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        std::fs::remove_file(&file).unwrap();
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(
            text.contains("oslo-listen --pool audit-log --json >> audit.jsonl\n"),
            "{text}"
        );
    }
}

#[test]
fn help_and_version_never_show_a_password_from_the_environment() {
    for (name, binary) in TOOLS {
        for flag in ["--help", "-h", "--version"] {
            let output = Command::new(binary)
                .arg(flag)
                .env("OSLO_TRANSPORT_URL", "rabbit://nova:hunter2@ctl1:5672/nova")
                .output()
                .unwrap();
            assert!(output.status.success(), "{name} {flag}: {output:?}");
            let text = String::from_utf8_lossy(&output.stdout);
            assert!(!text.contains("hunter2"), "{name} {flag}: {text}");
        }
        let version = printed(binary, &["--version"]);
        assert_eq!(
            version.trim(),
            format!("{name} {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

/// Runs `binary args` with its stdout a pipe whose reader has already gone (`| head -0`).
fn into_closed_pipe(binary: &str, args: &[&str]) -> std::process::Output {
    let mut child = Command::new(binary)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

/// `--completions SHELL | head -1`, `--man | head`, `--help | head`: a closed pipe ends every
/// output path quietly, with exit 0 and nothing on stderr.
#[test]
fn every_output_path_ends_quietly_on_a_closed_pipe() {
    for (name, binary) in TOOLS {
        for args in [
            &["--completions", "bash"][..],
            &["--completions", "zsh"],
            &["--completions", "fish"],
            &["--completions", "elvish"],
            &["--completions", "powershell"],
            &["--man"],
            &["--help"],
            &["--version"],
        ] {
            // The reader may or may not be gone before the first write: run it a few times.
            for _ in 0..5 {
                let output = into_closed_pipe(binary, args);
                assert_eq!(output.status.code(), Some(0), "{name} {args:?}: {output:?}");
                assert!(output.stderr.is_empty(), "{name} {args:?}: {output:?}");
            }
        }
    }
}

/// Argument errors are one line in the tools' own form with exit 2, as every other error.
#[test]
fn argument_errors_are_one_line_with_exit_2() {
    let cases: [(&str, &[&str], &str); 5] = [
        (
            TOOLS[1].1,
            &["--timeout", "-1"],
            "oslo-listen: error: invalid value '-1' for '--timeout <SECONDS>': \"-1\" is not a positive number of seconds (see --help)",
        ),
        (
            TOOLS[1].1,
            &["--frob"],
            "oslo-listen: error: unexpected argument '--frob' found (see --help)",
        ),
        (
            TOOLS[0].1,
            &["info"],
            "oslo-notify: error: the following required arguments were not provided: <EVENT_TYPE> (see --help)",
        ),
        (
            TOOLS[0].1,
            &["loud", "x.y", "{}"],
            "oslo-notify: error: unknown priority \"loud\"",
        ),
        (
            TOOLS[0].1,
            &["info", "", "{}"],
            "oslo-notify: error: the event type is empty",
        ),
    ];
    for (binary, args, said) in cases {
        let output = Command::new(binary)
            .args(args)
            .env("OSLO_TRANSPORT_URL", "rabbit://guest:guest@127.0.0.1:1/")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with(said), "{args:?}: {stderr}");
    }
}

#[test]
fn help_shows_the_environment_once_and_each_tools_own_exit_codes() {
    let notify = printed(TOOLS[0].1, &["--help"]);
    let listen = printed(TOOLS[1].1, &["--help"]);
    for help in [&notify, &listen] {
        assert_eq!(
            help.matches("[env: OSLO_TRANSPORT_URL").count(),
            1,
            "{help}"
        );
    }
    assert!(notify.contains("Usage: oslo-notify [OPTIONS] PRIORITY EVENT_TYPE [PAYLOAD]"));
    assert!(notify.contains("130/143  stopped by SIGINT/SIGTERM during --lines"));
    assert!(
        !notify.contains("--fail-on") && !notify.contains("COMMAND"),
        "{notify}"
    );
    assert!(listen.contains("5  --fail-on") && listen.contains("6  -- COMMAND"));
    // The short flags people reach for.
    for flag in [
        "-t, --topic",
        "-e, --exchange",
        "-c, --count",
        "-f, --format",
        "-j, --json",
    ] {
        assert!(listen.contains(flag), "{flag}: {listen}");
    }
    for flag in ["-t, --topic", "-e, --exchange"] {
        assert!(notify.contains(flag), "{flag}: {notify}");
    }
}

/// What bash offers after a word, from the tool's own completion script.
fn bash_completes(name: &str, binary: &str, words: &[&str]) -> Vec<String> {
    let script = printed(binary, &["--completions", "bash"]);
    let line = words.join(" ");
    let check = format!(
        "{script}\nCOMP_WORDS=({name} {line} ''); COMP_CWORD={}; \
         $(complete -p {name} | sed -E 's/.*-F ([^ ]+).*/\\1/') {name} '' {}; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words.len() + 1,
        words.last().unwrap_or(&name),
    );
    let output = Command::new("bash").args(["-c", &check]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn completions_offer_the_values_of_options_and_the_priorities() {
    let (notify, listen) = (TOOLS[0], TOOLS[1]);
    let priorities = [
        "audit", "debug", "info", "warn", "error", "critical", "sample",
    ];
    let offered = bash_completes(listen.0, listen.1, &["--priority"]);
    assert_eq!(offered, priorities, "--priority");
    let offered = bash_completes(listen.0, listen.1, &["--format"]);
    assert_eq!(
        offered,
        ["pretty", "json", "payload", "raw", "none"],
        "--format"
    );
    let offered = bash_completes(listen.0, listen.1, &["--by"]);
    assert_eq!(
        offered,
        [
            "event_type",
            "publisher_id",
            "priority",
            "exchange",
            "source"
        ],
        "--by"
    );
    let offered = bash_completes(listen.0, listen.1, &["--completions"]);
    assert!(offered.contains(&"zsh".to_owned()), "{offered:?}");
    // oslo-notify's first word: the priorities among what is offered.
    let offered = bash_completes(notify.0, notify.1, &[]);
    for priority in priorities {
        assert!(offered.contains(&priority.to_owned()), "{offered:?}");
    }
}
