//! `zh-sync PAGE.md...`: records, on the first line of each Chinese page
//! `docs/zh/src/PAGE.md`, the version of the English page `docs/src/PAGE.md`
//! it now follows (`<!-- 译自 docs/src/PAGE.md fnv1a64:HASH -->`). Run it
//! after bringing a translation up to date; `cargo test -p book-tests`
//! fails when an English page changes and its record no longer matches.
//! It refuses a page whose code blocks, pictures, links or headings still
//! differ from the English page's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use book_tests::translation::{EN_SRC, ZH_SRC, page_parity, record_line, with_record};

const USAGE: &str =
    "usage: zh-sync PAGE.md... (file names of docs/src, e.g. ch01-blocking-threaded.md)

Writes the translation record on the first line of each docs/zh/src/PAGE.md:
the FNV-1a 64 hash of docs/src/PAGE.md as it is now. Run it once the Chinese
page says what the English page says; a page whose code blocks, pictures,
links or headings differ from the English page's is not recorded.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if args.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut failed = false;
    for arg in &args {
        if let Err(e) = sync(&root, arg) {
            eprintln!("error: {e}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Records the English version that the Chinese page named by `arg` follows.
fn sync(root: &Path, arg: &str) -> Result<(), String> {
    // Accept `PAGE.md`, `docs/src/PAGE.md` or `docs/zh/src/PAGE.md`.
    let page = PathBuf::from(arg)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md") && n != "SUMMARY.md")
        .ok_or(format!("`{arg}` is not a page (PAGE.md)"))?;
    let english_path = root.join(EN_SRC).join(&page);
    let chinese_path = root.join(ZH_SRC).join(&page);
    let english = std::fs::read(&english_path)
        .map_err(|e| format!("{EN_SRC}/{page}: {e} (no such English page)"))?;
    let chinese = std::fs::read_to_string(&chinese_path)
        .map_err(|e| format!("{ZH_SRC}/{page}: {e} (translate the page first)"))?;
    let problems = page_parity(root, &page)?;
    if !problems.is_empty() {
        return Err(format!(
            "{ZH_SRC}/{page} not recorded: it still differs from {EN_SRC}/{page}:\n  {}",
            problems.join("\n  ")
        ));
    }
    let record = record_line(&page, &english);
    let fresh = with_record(&chinese, &record);
    if fresh != chinese {
        std::fs::write(&chinese_path, fresh).map_err(|e| format!("{ZH_SRC}/{page}: {e}"))?;
    }
    println!("{ZH_SRC}/{page}: {record}");
    Ok(())
}
