//! The book as mdBook builds it: every `--flag` a page writes must reach
//! the reader intact, not as `–flag` (see `src/html.rs`).
//!
//! Needs mdBook at the pinned version. Without it the test says so and
//! passes, so that `cargo test --workspace` works on a machine that has
//! never built the book; `.ci/run` installs mdBook and runs this test with
//! `BOOK_HTML_REQUIRED=1`, which turns a missing mdBook into a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use book_tests::html::{MDBOOK_VERSION, check_html};
use test_support::workspace_root;

/// The install command `.ci/run` uses, for the messages below.
const INSTALL: &str = "cargo install mdbook --version 0.5.4 --locked --no-default-features \
                       --features search";

/// The pinned mdBook: `$MDBOOK`, then cargo's bin folder, then `PATH`.
fn mdbook() -> Result<PathBuf, String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("MDBOOK") {
        candidates.push(p.into());
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    if let Some(home) = cargo_home {
        candidates.push(home.join("bin/mdbook"));
    }
    candidates.push("mdbook".into());
    let mut seen = Vec::new();
    for c in candidates {
        match Command::new(&c).arg("--version").output() {
            Ok(out) => {
                let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if version == format!("mdbook v{MDBOOK_VERSION}") {
                    return Ok(c);
                }
                seen.push(format!("{} is {version}", c.display()));
            }
            Err(_) => seen.push(format!("no {}", c.display())),
        }
    }
    Err(format!(
        "no mdBook {MDBOOK_VERSION} ({}); install it with `{INSTALL}`",
        seen.join(", ")
    ))
}

#[test]
fn the_built_book_keeps_every_flag_intact() {
    let mdbook = match mdbook() {
        Ok(m) => m,
        Err(why) if std::env::var_os("BOOK_HTML_REQUIRED").is_some() => {
            panic!("BOOK_HTML_REQUIRED is set, but: {why}")
        }
        Err(why) => {
            eprintln!("skipped: the built book is not checked: {why}");
            return;
        }
    };
    let root = workspace_root();
    let out = std::env::temp_dir().join(format!("book-tests-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let build = Command::new(&mdbook)
        .arg("build")
        .arg(root.join("docs"))
        .arg("--dest-dir")
        .arg(&out)
        .output()
        .expect("run mdbook");
    assert!(
        build.status.success(),
        "`mdbook build docs` failed: {}\n{}",
        build.status,
        String::from_utf8_lossy(&build.stderr)
    );

    let src = root.join("docs/src");
    let mut problems = Vec::new();
    let mut flags_checked = 0;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&src)
        .expect("docs/src")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter(|p| !p.ends_with("SUMMARY.md"))
        .collect();
    pages.sort();
    for page in &pages {
        let markdown = std::fs::read_to_string(page).expect("read page");
        let name = page.file_stem().expect("page name").to_string_lossy();
        let built = out.join(format!("{name}.html"));
        let Ok(html) = std::fs::read_to_string(&built) else {
            problems.push(format!("{name}.md: mdBook built no {}", built.display()));
            continue;
        };
        flags_checked += book_tests::html::flags(&markdown).values().sum::<usize>();
        problems.extend(
            check_html(&markdown, &html)
                .into_iter()
                .map(|p| format!("docs/src/{name}.md: {p}")),
        );
    }
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        flags_checked > 50,
        "only {flags_checked} flags found in the pages: is the scan broken?"
    );
    assert!(
        problems.is_empty(),
        "{} problem(s) in the built book:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
