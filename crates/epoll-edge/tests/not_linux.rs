//! On systems without epoll the server must say so, not pretend.
#![cfg(not(target_os = "linux"))]

use assert_cmd::Command;
use predicates::prelude::*;

#[test]
fn the_server_says_epoll_is_linux_only() {
    Command::new(env!("CARGO_BIN_EXE_epoll-edge"))
        .args(["--host", "127.0.0.1", "--port", "0"])
        .timeout(std::time::Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: epoll is Linux-only"));
}
