//! `oslo-notify`: publish OpenStack notifications as oslo.messaging does.

fn main() -> std::process::ExitCode {
    oslo_notify::cli::oslo_notify()
}
