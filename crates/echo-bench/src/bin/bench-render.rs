//! bench-render: turns the suite's JSON results into the benchmarks page
//! (tables, verdicts) and its SVG charts.
//!
//! ```text
//! target/release/bench-render --results bench-results \
//!     --page docs/src/benchmarks.md --img docs/src/img
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::path::PathBuf;

use clap::Parser;
use echo_bench::render::{self, Results};
use echo_common::{exit_with_error, parse_args};

/// Renders the benchmarks page and charts from JSON results.
#[derive(Parser)]
#[command(name = "bench-render")]
struct Args {
    /// The directory of the suite's JSON files
    #[arg(long, default_value = "bench-results")]
    results: PathBuf,
    /// The page to write
    #[arg(long, default_value = "docs/src/benchmarks.md")]
    page: PathBuf,
    /// The directory for the SVG charts (the page links them as img/...)
    #[arg(long, default_value = "docs/src/img")]
    img: PathBuf,
}

fn main() {
    let args: Args = parse_args();
    let results = Results::load(&args.results).unwrap_or_else(|e| exit_with_error(e));
    let page = render::render(&results, render::TEMPLATE, &args.img)
        .unwrap_or_else(|e| exit_with_error(e));
    if let Some(dir) = args.page.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| exit_with_error(format_args!("{}: {e}", dir.display())));
    }
    std::fs::write(&args.page, page)
        .unwrap_or_else(|e| exit_with_error(format_args!("{}: {e}", args.page.display())));
    eprintln!(
        "wrote {} and the charts in {}",
        args.page.display(),
        args.img.display()
    );
}
