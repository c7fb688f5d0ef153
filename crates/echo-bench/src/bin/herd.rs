//! herd: what each of `epoll-threads`' balance modes costs per connection.
//!
//! For each mode in turn (interleaved over the rounds), it starts
//! `epoll-threads --threads 4 --balance MODE --stats`, opens connections one
//! after another (each open for a millisecond, then closed, then a
//! millisecond's pause, so the loops are asleep when the next one comes),
//! stops the server with SIGTERM and reads its `--stats` lines. Per
//! connection: how many times the loop threads went to sleep (every wake-up
//! costs one), how often the listener was reported to a loop, and how often
//! such a report found nobody left to accept; and how evenly the connections
//! spread over the loops (largest share ÷ smallest).
//!
//! ```text
//! cargo build --release -p epoll-threads -p echo-bench
//! target/release/herd
//! target/release/herd --connections 2000 --rounds 7
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use clap::Parser;
use echo_bench::stats::Summary;
use echo_common::{exit_with_error, parse_args};
use test_support::ServerProcess;
use test_support::bin_path;
use test_support::server::ServerCommand;

/// Measures the thundering herd of epoll-threads' balance modes.
#[derive(Parser)]
#[command(name = "herd")]
struct Args {
    /// Connections per run
    #[arg(long, default_value_t = 500)]
    connections: usize,
    /// Runs per mode, interleaved; the table shows medians (min–max)
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Event loops
    #[arg(long, default_value_t = 4)]
    threads: usize,
}

const MODES: [&str; 3] = ["shared", "exclusive", "reuseport"];

/// One run's figures, per connection.
#[derive(Debug, Default, Clone, Copy)]
struct Run {
    sleeps: f64,
    reports: f64,
    empty: f64,
    spread: f64,
}

fn main() {
    let args: Args = parse_args();
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); MODES.len()];
    for round in 1..=args.rounds {
        for (i, mode) in MODES.iter().enumerate() {
            let run = measure(mode, &args).unwrap_or_else(|e| exit_with_error(e));
            eprintln!(
                "round {round} {mode}: {:.2} sleeps, {:.2} listener reports, {:.2} empty per connection; spread {:.1}",
                run.sleeps, run.reports, run.empty, run.spread
            );
            runs[i].push(run);
        }
    }
    println!(
        "{} loops, {} connections one after another, {} rounds; medians (min–max) per connection",
        args.threads, args.connections, args.rounds
    );
    println!();
    println!(
        "| --balance | thread wake-ups | listener reports | reports with nobody to accept | largest ÷ smallest share |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (mode, runs) in MODES.iter().zip(&runs) {
        let cell = |f: fn(&Run) -> f64| {
            Summary::of(&runs.iter().map(f).collect::<Vec<_>>()).map_or("–".into(), |s| {
                format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max)
            })
        };
        println!(
            "| {mode} | {} | {} | {} | {} |",
            cell(|r| r.sleeps),
            cell(|r| r.reports),
            cell(|r| r.empty),
            cell(|r| r.spread)
        );
    }
}

fn measure(mode: &str, args: &Args) -> Result<Run, String> {
    let threads = args.threads.to_string();
    let mut server: ServerProcess = ServerCommand::new(bin_path("epoll-threads"))
        .args(["--threads", &threads, "--balance", mode, "--stats"])
        .arg("--quiet")
        .start()?;
    thread::sleep(Duration::from_millis(200));
    for _ in 0..args.connections {
        let c = TcpStream::connect(server.addr()).map_err(|e| format!("connect: {e}"))?;
        thread::sleep(Duration::from_millis(1));
        drop(c);
        thread::sleep(Duration::from_millis(1));
    }
    thread::sleep(Duration::from_millis(200));
    server
        .signal(libc::SIGTERM)
        .map_err(|e| format!("SIGTERM: {e}"))?;
    if server.wait_exit(Duration::from_secs(10)).is_none() {
        return Err(format!("--balance {mode}: still running after SIGTERM"));
    }
    server.wait_for_line(|l| l.starts_with("stopped by"), Duration::from_secs(2));
    let mut accepted = Vec::new();
    let mut run = Run::default();
    for line in server.lines() {
        let Some(rest) = line.strip_prefix("loop ") else {
            continue;
        };
        // "loop 0: accepted A; the listener was reported R times, E of them
        // with nobody left to accept; the thread slept S times"
        let numbers: Vec<f64> = rest
            .split(|c: char| !c.is_ascii_digit())
            .filter(|w| !w.is_empty())
            .filter_map(|w| w.parse().ok())
            .collect();
        let [_, a, r, e, s] = numbers[..] else {
            return Err(format!("cannot read the stats line {line:?}"));
        };
        accepted.push(a);
        run.reports += r;
        run.empty += e;
        run.sleeps += s;
    }
    if accepted.len() != args.threads {
        return Err(format!(
            "--balance {mode}: {} stats lines for {} loops",
            accepted.len(),
            args.threads
        ));
    }
    let n = args.connections as f64;
    run.sleeps /= n;
    run.reports /= n;
    run.empty /= n;
    let (min, max) = accepted
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &a| (lo.min(a), hi.max(a)));
    run.spread = if min > 0.0 { max / min } else { f64::INFINITY };
    Ok(run)
}
