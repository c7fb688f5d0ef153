//! bench-render: turns the suite's JSON results into the benchmarks page
//! (tables, verdicts) and its SVG charts, and, with `--zh-page`, into the
//! Chinese edition's page too, in the same run.
//!
//! ```text
//! target/release/bench-render --results bench-results \
//!     --page docs/src/benchmarks.md --img docs/src/img \
//!     --zh-page docs/zh/src/benchmarks.md
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::path::{Path, PathBuf};

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
    /// Also write the Chinese edition's page here (the same figures and
    /// charts; its first line records the English page written with it)
    #[arg(long, value_name = "PATH")]
    zh_page: Option<PathBuf>,
}

/// Writes `text` to `path`, making its directory if need be.
fn write_page(path: &Path, text: &str) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| exit_with_error(format_args!("{}: {e}", dir.display())));
    }
    std::fs::write(path, text)
        .unwrap_or_else(|e| exit_with_error(format_args!("{}: {e}", path.display())));
}

fn main() {
    let args: Args = parse_args();
    let results = Results::load(&args.results).unwrap_or_else(|e| exit_with_error(e));
    let page = render::render(&results, render::TEMPLATE, &args.img)
        .unwrap_or_else(|e| exit_with_error(e));
    // Both pages are made before either is written, so a failure leaves
    // neither edition ahead of the other.
    let zh = args.zh_page.as_ref().map(|path| {
        let text = render::render_zh(&results, render::TEMPLATE_ZH, &page)
            .unwrap_or_else(|e| exit_with_error(e));
        (path, text)
    });
    write_page(&args.page, &page);
    eprintln!(
        "wrote {} and the charts in {}",
        args.page.display(),
        args.img.display()
    );
    if let Some((path, text)) = zh {
        write_page(path, &text);
        eprintln!("wrote {}", path.display());
    }
}
