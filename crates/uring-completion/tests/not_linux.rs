//! On systems without io_uring the server must say so, not pretend.
#![cfg(not(target_os = "linux"))]

use assert_cmd::Command;
use predicates::prelude::*;

#[test]
fn the_server_says_io_uring_is_linux_only() {
    Command::new(env!("CARGO_BIN_EXE_uring-completion"))
        .args(["--host", "127.0.0.1", "--port", "0"])
        .timeout(std::time::Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: io_uring is Linux-only"));
}
