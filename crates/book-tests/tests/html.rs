//! The book as mdBook builds it: every `--flag` a page writes must reach
//! the reader intact, not as `–flag` (see `src/html.rs`), in both editions.
//!
//! Needs mdBook at the pinned version. Without it the tests say so and
//! pass, so that `cargo test --workspace` works on a machine that has
//! never built the book; `.ci/run` installs mdBook and runs these tests with
//! `BOOK_HTML_REQUIRED=1`, which turns a missing mdBook into a failure.

use std::path::{Path, PathBuf};

use book_tests::html::{build_book, check_html, mdbook_for_test};
use test_support::workspace_root;

/// Builds the book in `book_root` (its pages in `src`, named `label` in
/// messages) and checks every page's flags in what mdBook made of it.
fn check_built_book(book_root: &Path, src: &Path, label: &str) {
    let Some(mdbook) = mdbook_for_test() else {
        return;
    };
    let out = std::env::temp_dir().join(format!(
        "book-tests-html-{}-{}",
        label.replace('/', "-"),
        std::process::id()
    ));
    // mdBook refuses to build a book with a page missing; say which.
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).unwrap_or_default();
    let missing: Vec<String> = book_tests::links(&summary)
        .into_iter()
        .map(|(_, page)| page)
        .filter(|page| !src.join(page).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "{label}/SUMMARY.md lists {} page(s) that do not exist yet (not translated yet?), so \
         mdBook cannot build the book: {}",
        missing.len(),
        missing.join(", ")
    );
    if let Err(e) = build_book(&mdbook, book_root, &out) {
        panic!("{e}");
    }

    let mut problems = Vec::new();
    let mut flags_checked = 0;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(src)
        .unwrap_or_else(|e| panic!("{label}: {e}"))
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
                .map(|p| format!("{label}/{name}.md: {p}")),
        );
    }
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        flags_checked > 50,
        "only {flags_checked} flags found in the pages of {label}: is the scan broken?"
    );
    assert!(
        problems.is_empty(),
        "{} problem(s) in the built book:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_built_book_keeps_every_flag_intact() {
    let root = workspace_root();
    check_built_book(&root.join("docs"), &root.join("docs/src"), "docs/src");
}

#[test]
fn the_built_chinese_book_keeps_every_flag_intact() {
    let root = workspace_root();
    check_built_book(
        &root.join("docs/zh"),
        &root.join("docs/zh/src"),
        "docs/zh/src",
    );
}
