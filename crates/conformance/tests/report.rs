//! The binary's report: one line per check, then `N passed, N failed`, and
//! the exit status.

use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;

const SUITE: &str = env!("CARGO_BIN_EXE_conformance");
const BROKEN: &str = env!("CARGO_BIN_EXE_broken-echo");

fn suite(args: &[&str]) -> assert_cmd::assert::Assert {
    Command::new(SUITE)
        .args(args)
        .timeout(Duration::from_secs(120))
        .assert()
}

fn stdout_lines(assert: &assert_cmd::assert::Assert) -> Vec<String> {
    String::from_utf8_lossy(&assert.get_output().stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_passing_server_gets_a_line_per_check_and_the_totals() {
    let server = test_support::bin_path("select-queue");
    let server = server.to_str().unwrap();
    let assert = suite(&[
        "--server-cmd",
        server,
        "--kind",
        "select",
        "--only",
        "half-close,bad-arguments",
    ])
    .success();
    let lines = stdout_lines(&assert);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert!(lines[0].starts_with(&format!(
        "conformance: {server} (kind select), quick sizes, seed "
    )));
    assert!(
        lines[1].starts_with("PASS  half-close        200 KiB back, then end-of-file, in "),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2],
        "PASS  bad-arguments     4 cases: one error line each, exit status 2, 2, 1, 1"
    );
    assert!(lines[3].starts_with("ran in "));
    assert_eq!(lines[4], "2 passed, 0 failed");
}

#[test]
fn a_failing_check_says_why_and_the_exit_status_is_1() {
    let assert = suite(&[
        "--server-cmd",
        &format!("{BROKEN} --fault drop-bytes"),
        "--kind",
        "threaded",
        "--only",
        "bad-arguments,integrity",
        "--seed",
        "7",
    ])
    .code(1);
    let lines = stdout_lines(&assert);
    assert!(
        lines[0].contains("--fault drop-bytes (kind threaded), quick sizes, seed 7,"),
        "{lines:#?}"
    );
    // The suite's order, whatever the order of --only.
    assert!(
        lines[1].starts_with(
            "FAIL  integrity         0 of 50 x 1 MiB echoed -- connection 1: the echo differs"
        ),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("PASS  bad-arguments "));
    assert_eq!(lines.last().unwrap(), "1 passed, 1 failed");
}

#[test]
fn an_unknown_check_is_a_usage_error() {
    suite(&["--server-cmd", BROKEN, "--kind", "poll", "--only", "speed"])
        .code(2)
        // The error alone: no report header before it.
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::starts_with(
            "error: no check is called 'speed'; the checks are: integrity, half-close,",
        ));
}

#[test]
fn a_server_binary_that_does_not_exist_says_to_build_the_servers() {
    for missing in ["target/debug/no-such-server", "no-such-server-anywhere"] {
        suite(&["--server-cmd", missing, "--kind", "poll"])
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::function(|err: &str| {
                let lines: Vec<&str> = err.lines().collect();
                lines.len() == 1
                    && lines[0].starts_with(&format!("error: {missing} does not exist"))
                    && lines[0].contains("`cargo build --workspace`")
            }));
    }
}

#[test]
fn help_lists_the_checks_and_the_kinds() {
    suite(&["--help"]).success().stdout(
        predicate::str::contains("many-connections")
            .and(predicate::str::contains(
                "[possible values: select, poll, epoll, threaded, busy]",
            ))
            .and(predicate::str::contains("CONFORMANCE_FULL")),
    );
}

#[test]
fn the_shutdown_check_needs_clean_stop() {
    suite(&[
        "--server-cmd",
        BROKEN,
        "--kind",
        "threaded",
        "--only",
        "shutdown",
    ])
    .code(2)
    .stdout(predicate::str::is_empty())
    .stderr(
        predicate::str::starts_with("error: the shutdown check is for servers that stop cleanly")
            .and(predicate::str::contains("pass --clean-stop")),
    );
}

#[test]
fn with_clean_stop_the_shutdown_check_runs_last() {
    let assert = suite(&[
        "--server-cmd",
        BROKEN,
        "--kind",
        "threaded",
        "--clean-stop",
        "--only",
        "shutdown,bad-arguments",
    ])
    .success();
    let lines = stdout_lines(&assert);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert!(lines[1].starts_with("PASS  bad-arguments "), "{}", lines[1]);
    assert!(
        lines[2].starts_with("PASS  shutdown          SIGTERM: exit 0 in "),
        "{}",
        lines[2]
    );
    assert!(lines[2].contains("; SIGINT: exit 0 in "), "{}", lines[2]);
    assert_eq!(lines[4], "2 passed, 0 failed");
}

#[test]
fn help_lists_the_opt_in_check_and_its_flag() {
    suite(&["--help"])
        .success()
        .stdout(
            predicate::str::contains("--clean-stop").and(predicate::str::contains(
                "shutdown          (with --clean-stop)",
            )),
        );
}
