//! bench-suite: runs the experiments of the benchmarks page against the
//! release binaries next to it and writes their JSON results.
//! `scripts/bench.sh` builds everything, runs this, then `bench-render`.
//!
//! ```text
//! cargo build --release --workspace
//! target/release/bench-suite --quick --out target/bench-quick/results
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::path::PathBuf;

use clap::Parser;
use echo_bench::suite::{Plan, Suite};
use echo_common::{exit_with_error, parse_args};

/// Runs the benchmark experiments and writes JSON results.
#[derive(Parser)]
#[command(name = "bench-suite")]
struct Args {
    /// The short plan (a couple of minutes) instead of the full one
    #[arg(long)]
    quick: bool,
    /// A plan of seconds, for tests
    #[arg(long, conflicts_with = "quick")]
    smoke: bool,
    /// Where the JSON files go
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Where the server binaries are (default: next to this program)
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Only these experiments (1 idle, 2 throughput, 3 idle CPU, 4 memory,
    /// 5 system calls, 6 select-cost, 7 io_uring, 8 read size), comma-separated
    #[arg(long, value_delimiter = ',')]
    only: Vec<u32>,
    /// The command line to record on the page (default: this one)
    #[arg(long)]
    command: Option<String>,
}

fn main() {
    let args: Args = parse_args();
    let plan = if args.smoke {
        Plan::smoke()
    } else if args.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    let bin_dir = args.bin_dir.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("target/release"))
    });
    if let Some(bad) = args.only.iter().find(|&&e| !(1..=8).contains(&e)) {
        exit_with_error(format_args!(
            "--only: there is no experiment {bad} (1 to 8)"
        ));
    }
    let _ = echo_common::raise_fd_limit();
    let command = args
        .command
        .clone()
        .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" "));
    let mut suite = Suite::new(plan, &bin_dir, &args.out);
    suite.only = args.only.clone();
    if let Err(e) = suite.run_all(&command) {
        exit_with_error(e);
    }
}
