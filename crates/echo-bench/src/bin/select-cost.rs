//! select-cost: how long 100,000 calls of `select`, `poll` and `epoll_wait`
//! take with N descriptors watched and one of them ready, in the manner of
//! the classic table in *The Linux Programming Interface* (section 63.4.5).
//!
//! ```text
//! cargo run --release -p echo-bench --bin select-cost
//! cargo run --release -p echo-bench --bin select-cost -- --sizes 10,100 --rounds 3
//! ```
//!
//! Large N are timed with fewer calls (at most `--budget` descriptor visits
//! per measurement) and scaled to `--calls`; the table says how many calls
//! were really made.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use clap::Parser;
use echo_bench::cost::{self, CostReport, Mechanism};
use echo_bench::stats::Summary;
use echo_common::{exit_with_error, parse_args};

/// Times select, poll and epoll_wait over N descriptors with one ready.
#[derive(Parser)]
#[command(name = "select-cost")]
struct Args {
    /// The numbers of descriptors to watch, comma-separated
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000,10000")]
    sizes: Vec<usize>,
    /// The number of calls every figure is given for
    #[arg(long, default_value_t = 100_000)]
    calls: u64,
    /// At most this many descriptor visits (calls × N) per measurement of
    /// select or poll; larger N are timed with fewer calls and scaled up
    #[arg(long, default_value_t = 20_000_000)]
    budget: u64,
    /// Repetitions, interleaved; the table shows medians
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Print the samples as one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

fn main() {
    let args: Args = parse_args();
    if args.sizes.is_empty() || args.sizes.contains(&0) || args.rounds == 0 || args.calls == 0 {
        exit_with_error("--sizes, --rounds and --calls must be positive");
    }
    let needed: u64 = args.sizes.iter().map(|&n| n as u64).sum::<u64>() + 64;
    let limit = echo_common::raise_fd_limit().unwrap_or(0);
    if limit < needed {
        exit_with_error(format_args!(
            "these sizes need {needed} descriptors at once, but the limit is {limit} (ulimit -n)"
        ));
    }
    let report = cost::run(&args.sizes, args.calls, args.budget, args.rounds, |s| {
        if !args.json && echo_bench::stderr_is_terminal() {
            eprint!(
                "\r{:>10} N={:<6} {:>8.3} s   ",
                s.mechanism.name(),
                s.n,
                s.scaled_s
            );
        }
    })
    .unwrap_or_else(|e| exit_with_error(e));
    if !args.json && echo_bench::stderr_is_terminal() {
        eprint!("\r{:60}\r", "");
    }
    if args.json {
        match serde_json::to_string(&report) {
            Ok(line) => println!("{line}"),
            Err(e) => exit_with_error(e),
        }
    } else {
        print!("{}", table(&report));
    }
}

fn table(r: &CostReport) -> String {
    let mut out = format!(
        "CPU seconds for {} calls, one descriptor of N ready (median of {} rounds, min-max)\n",
        r.calls_nominal, r.rounds
    );
    out += &format!(
        "{:>7}  {:>24}  {:>24}  {:>24}\n",
        "N", "select", "poll", "epoll_wait"
    );
    for &n in &r.sizes {
        out += &format!("{n:>7}");
        for m in Mechanism::ALL {
            let samples: Vec<f64> = r
                .samples
                .iter()
                .filter(|s| s.mechanism == m && s.n == n)
                .map(|s| s.scaled_s)
                .collect();
            let calls = r
                .samples
                .iter()
                .find(|s| s.mechanism == m && s.n == n)
                .map_or(0, |s| s.calls);
            let cell = match Summary::of(&samples) {
                Some(s) if calls < r.calls_nominal => {
                    format!("{} (x{})", s.fmt(3), r.calls_nominal / calls)
                }
                Some(s) => s.fmt(3),
                None => "-".into(),
            };
            out += &format!("  {cell:>24}");
        }
        out += "\n";
    }
    out += "(xK: timed with 1/K of the calls and scaled up)\n";
    out
}
