//! The whole suite against every chapter's server, one test per chapter so a
//! failure names it. Run `cargo build --workspace` first (`cargo test
//! --workspace` does); `CONFORMANCE_FULL=1` uses the full sizes.

use conformance::{Kind, Sizes, Summary, Target};
use test_support::bin_path;

/// Runs every check against `bin args...` and fails listing the failures.
fn suite(bin: &str, args: &[&str], kind: Kind) {
    run_all(bin, args, Target::new(bin_path(bin), kind).args(args));
}

/// Like [`suite`], for a server that stops cleanly on SIGINT and SIGTERM:
/// the opt-in `shutdown` check runs too.
fn suite_with_clean_stop(bin: &str, args: &[&str], kind: Kind, loops: usize) {
    let target = Target::new(bin_path(bin), kind)
        .args(args)
        .clean_stop(true)
        .loops(loops);
    let summary = run_all(bin, args, target);
    assert_eq!(summary.passed(), conformance::CHECKS.len() + 1);
    assert!(summary.get("shutdown").is_some_and(|o| o.passed));
}

/// Runs every check for `target` and fails listing the failures.
fn run_all(bin: &str, args: &[&str], target: Target) -> Summary {
    let name = target.command_line();
    let summary = conformance::run(&target, &Sizes::from_env(), &[], |outcome| {
        println!("{bin} {}: {outcome}", args.join(" "));
    })
    .unwrap();
    let failed: Vec<String> = summary
        .outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(ToString::to_string)
        .collect();
    assert!(
        failed.is_empty(),
        "{name}: {}\n{}",
        summary.totals(),
        failed.join("\n")
    );
    assert_eq!(summary.passed(), conformance::checks_for(&target).count());
    summary
}

#[test]
fn blocking_threaded() {
    suite("blocking-threaded", &[], Kind::Threaded);
}

#[test]
fn busy_nonblocking() {
    suite("busy-nonblocking", &[], Kind::Busy);
}

#[test]
fn select_stdin() {
    suite("select-stdin", &[], Kind::Select);
}

#[test]
fn select_queue() {
    suite("select-queue", &[], Kind::Select);
}

#[test]
fn poll_queue() {
    suite("poll-queue", &[], Kind::Poll);
}

#[test]
fn epoll_edge() {
    suite("epoll-edge", &[], Kind::Epoll);
}

#[test]
fn epoll_edge_level_triggered() {
    suite("epoll-edge", &["--level"], Kind::Epoll);
}

/// Two loops: as many as the machines this book is tested on have cores.
/// With more loops than cores, which stream runs is the scheduler's choice,
/// and one can get several times another's share: the fairness check would
/// blame the server for it. Told the number, it allows for the floods being
/// split unevenly between the loops.
const LOOPS: usize = 2;

#[test]
fn epoll_threads_reuseport() {
    suite_with_clean_stop(
        "epoll-threads",
        &["--threads", &LOOPS.to_string(), "--balance", "reuseport"],
        Kind::Epoll,
        LOOPS,
    );
}

#[test]
fn epoll_threads_exclusive() {
    suite_with_clean_stop(
        "epoll-threads",
        &["--threads", &LOOPS.to_string(), "--balance", "exclusive"],
        Kind::Epoll,
        LOOPS,
    );
}

#[test]
fn epoll_threads_shared() {
    suite_with_clean_stop(
        "epoll-threads",
        &["--threads", &LOOPS.to_string(), "--balance", "shared"],
        Kind::Epoll,
        LOOPS,
    );
}

/// Skipped, with a note, where the kernel refuses io_uring: the server then
/// exits at once with one line saying why, and no check could run.
#[test]
fn uring_completion() {
    let out = std::process::Command::new(bin_path("uring-completion"))
        .args(["--host", "127.0.0.1", "--port", "0", "--quiet"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::BufRead;
            let mut first = String::new();
            if let Some(stderr) = child.stderr.take() {
                std::io::BufReader::new(stderr).read_line(&mut first)?;
            }
            let _ = child.kill();
            let _ = child.wait();
            Ok(first)
        })
        .unwrap();
    if out.starts_with("error: io_uring is not available") {
        eprintln!("skipped: {out}");
        return;
    }
    suite("uring-completion", &[], Kind::Epoll);
}
