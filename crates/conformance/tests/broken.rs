//! The checks can fail: each one against a server with the fault it exists
//! to catch (`broken-echo --fault NAME`), and the same server without the
//! fault passes them all, the opt-in `shutdown` check included.

use conformance::{Kind, Outcome, Sizes, Target};

const BROKEN: &str = env!("CARGO_BIN_EXE_broken-echo");

fn broken(fault: &str) -> Target {
    Target::new(BROKEN, Kind::Threaded).args(["--fault", fault])
}

/// Runs `check` against the server with `fault`, expects it to fail, and
/// returns the outcome for more assertions.
fn fails(check: &str, fault: &str) -> Outcome {
    let c = conformance::check(check).unwrap();
    let outcome = c.run(&broken(fault), &Sizes::quick());
    println!("--fault {fault}: {outcome}");
    assert!(
        !outcome.passed,
        "{check} passed against --fault {fault}: {outcome}"
    );
    assert!(outcome.reason.is_some());
    outcome
}

fn reason(o: &Outcome) -> &str {
    o.reason.as_deref().unwrap_or_default()
}

#[test]
fn integrity_catches_a_lost_byte() {
    let o = fails("integrity", "drop-bytes");
    assert!(
        o.reason
            .unwrap()
            .contains("differs from what was sent at byte 65535")
    );
}

#[test]
fn half_close_catches_a_close_before_the_echo_is_out() {
    let o = fails("half-close", "close-on-eof");
    assert_eq!(o.figure, "192 KiB of 200 KiB back, then end-of-file");
}

#[test]
fn reset_catches_a_server_that_dies_with_the_connection() {
    let o = fails("reset", "exit-on-reset");
    assert!(reason(&o).contains("the server has exited"));
}

#[test]
fn slow_reader_catches_unbounded_buffering() {
    let o = fails("slow-reader", "no-backpressure");
    assert!(reason(&o).contains("backpressure"), "{o}");
}

#[test]
fn many_connections_catches_a_server_that_stops_accepting() {
    let o = fails("many-connections", "stop-accepting");
    assert!(o.figure.contains("connect"), "{o}");
}

#[test]
fn churn_catches_leaked_descriptors() {
    let o = fails("churn", "leak-fds");
    assert!(reason(&o).contains("leaks"), "{o}");
}

#[test]
fn stop_continue_catches_a_fatal_interrupted_wait() {
    let o = fails("stop-continue", "die-after-stop");
    assert!(reason(&o).contains("Interrupted system call"), "{o}");
}

#[test]
fn out_of_fds_catches_a_spinning_accept() {
    let o = fails("out-of-fds", "spin-on-emfile");
    assert!(reason(&o).contains("spins"), "{o}");
}

#[test]
fn idle_cost_catches_a_server_that_never_sleeps() {
    let o = fails("idle-cost", "busy-idle");
    assert!(reason(&o).contains("idle server should sleep"), "{o}");
    // The same server, declared busy, is reported and not failed.
    let busy = Target::new(BROKEN, Kind::Busy).args(["--fault", "busy-idle"]);
    let o = conformance::idle_cost(&busy, &Sizes::quick());
    assert!(o.passed, "{o}");
    assert!(o.figure.contains("reported, not judged"), "{o}");
}

#[test]
fn bad_arguments_catches_a_panic() {
    let o = fails("bad-arguments", "panic-on-bad-args");
    assert!(reason(&o).starts_with("port in use:"), "{o}");
}

#[test]
fn fairness_catches_a_client_that_holds_the_server() {
    let o = fails("fairness", "greedy");
    assert!(reason(&o).starts_with("the ping p99 "), "{o}");
    assert!(o.figure.starts_with("ping p50 "), "{o}");
}

/// Saying the server runs several loops loosens only the share ratio: a
/// client that holds the server still fails it.
#[test]
fn fairness_with_loops_still_catches_a_client_that_holds_the_server() {
    let c = conformance::check("fairness").unwrap();
    let o = c.run(&broken("greedy").loops(2), &Sizes::quick());
    println!("--fault greedy, 2 loops: {o}");
    assert!(!o.passed, "{o}");
    assert!(reason(&o).starts_with("the ping p99 "), "{o}");
}

#[test]
fn urgent_catches_a_lost_urgent_byte() {
    let o = fails("urgent", "no-oob-inline");
    assert!(o.figure.starts_with("0 of 8 rounds"), "{o}");
    assert!(
        reason(&o).starts_with("rounds 1, 2, 3, 4, 5, 6, 7, 8: \"abdef\" came back;"),
        "{o}"
    );
    assert!(reason(&o).contains("SO_OOBINLINE"), "{o}");
}

#[test]
fn trickle_catches_a_buffer_per_read() {
    let o = fails("trickle", "pinned-buffers");
    assert!(
        reason(&o).starts_with("the server's memory grew by "),
        "{o}"
    );
}

#[test]
fn shutdown_catches_resets_at_the_stop() {
    let o = fails("shutdown", "reset-on-stop");
    assert!(o.figure.starts_with("SIGTERM: exit 0 in "), "{o}");
    assert!(
        reason(&o).starts_with("SIGTERM: idle client 1: the server reset the connection"),
        "{o}"
    );
}

#[test]
fn shutdown_says_when_the_signal_killed_the_server() {
    // A chapter that stops the old way, as most do.
    let target = Target::new(test_support::bin_path("blocking-threaded"), Kind::Threaded);
    let o = conformance::shutdown(&target, &Sizes::quick());
    assert!(!o.passed, "{o}");
    assert!(o.figure.starts_with("SIGTERM: killed by SIGTERM;"), "{o}");
    assert!(
        reason(&o).starts_with("SIGTERM: the server was killed by SIGTERM"),
        "{o}"
    );
}

#[test]
fn without_its_fault_the_server_passes_every_check() {
    let target = Target::new(BROKEN, Kind::Threaded).clean_stop(true);
    let summary = conformance::run(&target, &Sizes::quick(), &[], |o| println!("{o}")).unwrap();
    assert_eq!(summary.failed(), 0, "{:#?}", summary.outcomes);
    assert_eq!(summary.passed(), conformance::CHECKS.len() + 1);
    assert!(summary.get("shutdown").is_some());
}

#[test]
fn a_server_that_does_not_start_fails_every_check_with_the_reason() {
    let target = Target::new("/nonexistent/server", Kind::Poll);
    let o = conformance::half_close(&target, &Sizes::quick());
    assert!(!o.passed);
    assert!(reason(&o).contains("cannot start"), "{}", o.figure);
}

#[test]
fn a_server_that_never_starts_up_fails_fast() {
    // `true` exits at once without a startup line: every check fails with
    // that reason, without waiting for a startup timeout in each.
    let target = Target::new("true", Kind::Poll);
    let start = std::time::Instant::now();
    let summary = conformance::run(&target, &Sizes::quick(), &[], |_| {}).unwrap();
    assert!(start.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(summary.failed(), conformance::CHECKS.len());
    let o = summary.get("churn").unwrap();
    assert!(reason(o).contains("printed no startup line"), "{o}");
    let o = summary.get("bad-arguments").unwrap();
    assert!(reason(o).starts_with("unknown flag: exit status 0"), "{o}");
}
