//! `oslo-listen`: print OpenStack notifications as they arrive.

fn main() -> std::process::ExitCode {
    oslo_notify::cli::oslo_listen()
}
