//! The whole suite against every chapter's server, one test per chapter so a
//! failure names it. Run `cargo build --workspace` first (`cargo test
//! --workspace` does); `CONFORMANCE_FULL=1` uses the full sizes.

use conformance::{Kind, Sizes, Target};
use test_support::bin_path;

/// Runs every check against `bin args...` and fails listing the failures.
fn suite(bin: &str, args: &[&str], kind: Kind) {
    let target = Target::new(bin_path(bin), kind).args(args);
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
    assert_eq!(summary.passed(), conformance::CHECKS.len());
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
