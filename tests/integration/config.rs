//! `--config-file` with a service's own oslo.config file, against the real broker: what it
//! sets, what flags and env override, and how a bad file is reported.

use crate::common;
use crate::common::{listen_with_url, notify_with_url, scratch, transport_url, Broker};
use amiquip::FieldTable;

/// Writes `text` to a fresh file and returns its path.
fn conf_file(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{}.conf", common::unique("nova")));
    std::fs::write(&path, text).unwrap();
    path
}

/// A nova.conf-like file: the first host of the transport URL does not answer, the second
/// is the test broker.
fn nova_conf(exchange: &str, t1: &str, t2: &str, extra: &str) -> String {
    let good = transport_url();
    let good_host = good.trim_start_matches("rabbit://").trim_end_matches('/');
    format!(
        "[DEFAULT]\n\
         debug = true\n\
         transport_url = rabbit://guest:guest@127.0.0.1:1,{good_host}/\n\
         control_exchange = {exchange}\n\
         \n\
         [oslo_messaging_notifications]\n\
         driver = messagingv2\n\
         topics = {t1},{t2}\n\
         \n\
         [oslo_messaging_rabbit]\n\
         amqp_durable_queues = true\n\
         heartbeat_timeout_threshold = 30\n\
         {extra}\n\
         [database]\n\
         connection = mysql+pymysql://nova:secret@db/nova\n"
    )
}

/// Runs oslo-notify with no OSLO_TRANSPORT_URL, so that the file's URL counts.
fn notify(args: &[&str]) -> common::Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_oslo-notify"));
    let output = command
        .args(args)
        .env_remove("OSLO_TRANSPORT_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    common::Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn a_nova_conf_sets_url_exchange_topics_driver_and_durability() {
    let (mut broker, exchange, t1) = scratch();
    let t2 = broker.topic_name();
    let file = conf_file(&nova_conf(&exchange, &t1, &t2, ""));
    let path = file.to_str().unwrap();
    let run = notify(&[
        "--config-file",
        path,
        "info",
        "compute.instance.exists",
        "{}",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    for topic in [&t1, &t2] {
        let queue = format!("{topic}.info");
        let got = broker.drain(&queue);
        assert_eq!(got.len(), 1, "{queue}");
        assert_eq!(got[0].exchange, exchange);
        assert!(got[0].text().starts_with(r#"{"oslo.version": "2.0""#));
        assert!(
            broker.queue_is(&queue, true, FieldTable::default()),
            "amqp_durable_queues"
        );
    }
    assert!(broker.exchange_is(&exchange, true));

    // A later file wins; flags win over files.
    let later = conf_file("[oslo_messaging_notifications]\ndriver = messaging\n");
    let other = broker.topic_name();
    let run = notify(&[
        "--config-file",
        path,
        "--config-file",
        later.to_str().unwrap(),
        "--topic",
        &other,
        "error",
        "e",
        "[1]",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let got = broker.drain(&format!("{other}.error"));
    assert_eq!(got.len(), 1);
    assert!(
        got[0].text().starts_with(r#"{"message_id": "#),
        "messaging driver: format 1.0"
    );
    assert!(
        !broker.queue_exists(&format!("{t1}.error")),
        "--topic replaced the file's topics"
    );
    std::fs::remove_file(file).unwrap();
    std::fs::remove_file(later).unwrap();
}

#[test]
fn rabbit_quorum_queue_in_the_file_makes_quorum_queues() {
    let (mut broker, exchange, t1) = scratch();
    let t2 = broker.topic_name();
    let pool = common::unique("pool-conf");
    broker.forget_queue(&pool);
    let file = conf_file(&nova_conf(
        &exchange,
        &t1,
        &t2,
        "rabbit_quorum_queue = true\n",
    ));
    let path = file.to_str().unwrap();
    let run = notify(&[
        "--config-file",
        path,
        "error",
        "compute.instance.exists",
        "{}",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    for topic in [&t1, &t2] {
        let queue = format!("{topic}.error");
        assert!(
            broker.queue_is(&queue, true, common::quorum()),
            "{queue} is a quorum queue"
        );
        assert_eq!(broker.drain(&queue).len(), 1, "{queue}");
    }
    let run = listen_with_url(
        &transport_url(),
        &["--config-file", path, "--pool", &pool, "--timeout", "3"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        broker.queue_is(&pool, true, common::quorum()),
        "the pool queue is a quorum queue"
    );
    std::fs::remove_file(file).unwrap();
}

#[test]
fn env_and_flags_win_over_the_file() {
    let (mut broker, exchange, topic) = scratch();
    // A file whose URL cannot work: the env's must be the one used.
    let file = conf_file(&format!(
        "[DEFAULT]\ntransport_url = rabbit://guest:hunter2@127.0.0.1:1/\ncontrol_exchange = {exchange}\n"
    ));
    let path = file.to_str().unwrap();
    let run = notify_with_url(
        &transport_url(),
        &["--config-file", path, "--topic", &topic, "info", "e", "{}"],
        b"",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(broker.drain(&format!("{topic}.info")).len(), 1);

    let run = notify(&[
        "--config-file",
        path,
        "--topic",
        &topic,
        "--timeout",
        "1",
        "info",
        "e",
        "{}",
    ]);
    assert_eq!(run.code, 3, "the file's URL is used without env: {run:?}");
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);

    let flag_exchange = broker.exchange_name();
    let run = notify(&common::route_args(
        &flag_exchange,
        &topic,
        &[
            "--config-file",
            path,
            "--transport-url",
            &transport_url(),
            "info",
            "e",
            "{}",
        ],
    ));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        broker.drain(&format!("{topic}.info"))[0].exchange,
        flag_exchange
    );
    std::fs::remove_file(file).unwrap();
}

#[test]
fn oslo_listen_reads_the_same_file() {
    let (broker, exchange, t1) = scratch();
    let mut broker: Broker = broker;
    let t2 = broker.topic_name();
    let file = conf_file(&nova_conf(&exchange, &t1, &t2, ""));
    let path = file.to_str().unwrap();
    let args = [
        "--config-file",
        path,
        "--json",
        "--count",
        "2",
        "--timeout",
        "60",
    ];
    let (child, stderr) = common::spawn_watched(env!("CARGO_BIN_EXE_oslo-listen"), None, &args);
    common::await_line(&stderr, "listening on");
    let run = notify(&["--config-file", path, "warn", "from.config", "{}"]);
    assert_eq!(run.code, 0, "{run:?}");
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let keys: Vec<String> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["routing_key"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(keys, [format!("{t1}.warn"), format!("{t2}.warn")]);
    std::fs::remove_file(file).unwrap();
}

#[test]
fn noop_drivers_and_bad_files_exit_2_naming_the_place() {
    let file = conf_file("[oslo_messaging_notifications]\ndriver = noop\n");
    let run = notify(&["--config-file", file.to_str().unwrap(), "info", "e", "{}"]);
    assert_eq!(run.code, 2, "{run:?}");
    run.assert_said("notifications are off");
    assert!(
        run.stderr
            .contains("[oslo_messaging_notifications] driver = noop"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(file).unwrap();

    let bad = conf_file("[oslo_messaging_rabbit]\namqp_durable_queues = sometimes\n");
    let bad_path = bad.to_str().unwrap().to_owned();
    let cases = [
        (
            vec!["--config-file", "/nonexistent/nova.conf"],
            "config file /nonexistent/nova.conf: cannot be read",
        ),
        (
            vec!["--config-file", &bad_path],
            "[oslo_messaging_rabbit] amqp_durable_queues (line 2): \"sometimes\" is not a boolean",
        ),
    ];
    for (args, message) in cases {
        for run in [
            notify(&[&args[..], &["info", "e", "{}"]].concat()),
            listen_with_url(&transport_url(), &args),
        ] {
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            assert!(run.stderr.contains(message), "{}", run.stderr);
        }
    }
    std::fs::remove_file(bad).unwrap();
}

/// A misspelt option falls back to the default, as in oslo.config; `-v` names it.
#[test]
fn verbose_names_a_misspelt_option() {
    let file = std::env::temp_dir().join(crate::common::unique("typo.conf"));
    std::fs::write(&file, "[DEFAULT]\ncontrol_exchang = nova\n").unwrap();
    let path = file.display().to_string();
    let url = "rabbit://guest:guest@127.0.0.1:1/";
    for verbose in [true, false] {
        let mut args = vec![
            "--config-file",
            &path,
            "--timeout",
            "1",
            "info",
            "a.b",
            "{}",
        ];
        if verbose {
            args.insert(0, "-v");
        }
        let run = crate::common::notify_with_url(url, &args, b"");
        assert_eq!(run.code, 3, "{run:?}");
        let named = format!(
            "oslo-notify: {path} line 2: [DEFAULT] control_exchang is not read: did you mean \
             control_exchange?"
        );
        assert_eq!(
            run.stderr.lines().any(|l| l == named),
            verbose,
            "{}",
            run.stderr
        );
    }
    std::fs::remove_file(&file).unwrap();
}
