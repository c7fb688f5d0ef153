//! The two editions in step: `docs/zh/src` has a Chinese page for every
//! English page of `docs/src`, listed in the same order; each records the
//! English version it translates, and keeps the English page's code blocks,
//! pictures, link targets and outline (see `src/translation.rs`); and each
//! introduction links to the other edition under its title.
//!
//! While pages are still being translated, `every_english_page_is_translated`
//! fails and lists them; the other checks look at the pages that exist.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use book_tests::translation::{EN_SRC, ZH_SRC, editions, page_parity, record_problems};
use book_tests::{fail_on, is_edition_link, links, links_and_images};
use test_support::workspace_root;

/// The pages `SUMMARY.md` lists in `src`, in order.
fn listed(src: &Path) -> Vec<String> {
    let summary = std::fs::read_to_string(src.join("SUMMARY.md"))
        .unwrap_or_else(|e| panic!("{}/SUMMARY.md: {e}", src.display()));
    links(&summary).into_iter().map(|(_, t)| t).collect()
}

fn en_src() -> PathBuf {
    workspace_root().join(EN_SRC)
}

fn zh_src() -> PathBuf {
    workspace_root().join(ZH_SRC)
}

/// The English pages whose Chinese page exists.
fn translated() -> Vec<String> {
    listed(&en_src())
        .into_iter()
        .filter(|p| zh_src().join(p).is_file())
        .collect()
}

#[test]
fn both_summaries_list_the_same_pages_in_the_same_order() {
    let (en, zh) = (listed(&en_src()), listed(&zh_src()));
    assert_eq!(
        zh, en,
        "{ZH_SRC}/SUMMARY.md must list the pages of {EN_SRC}/SUMMARY.md, with the same file \
         names, in the same order (only the titles are translated)"
    );
}

#[test]
fn every_english_page_is_translated() {
    let en = listed(&en_src());
    let missing: Vec<&String> = en.iter().filter(|p| !zh_src().join(p).is_file()).collect();
    assert!(
        missing.is_empty(),
        "{} of the {} pages are not translated yet: {}\nEach one is {ZH_SRC}/PAGE, with the \
         English page's file name; its first line records the English version it follows \
         (`cargo run -p book-tests --bin zh-sync -- PAGE` writes it once the page is done).",
        missing.len(),
        en.len(),
        missing
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
}

#[test]
fn every_translation_records_the_english_version_it_follows() {
    let mut problems = BTreeMap::new();
    for page in translated() {
        let english = std::fs::read(en_src().join(&page)).expect("English page");
        let chinese = std::fs::read_to_string(zh_src().join(&page)).expect("Chinese page");
        problems.insert(
            format!("{ZH_SRC}/{page}"),
            record_problems(&page, &english, &chinese),
        );
    }
    fail_on(problems);
}

#[test]
fn every_translation_keeps_the_code_pictures_links_and_headings() {
    let root = workspace_root();
    let mut problems = BTreeMap::new();
    for page in translated() {
        let found = page_parity(&root, &page).unwrap_or_else(|e| vec![e]);
        problems.insert(format!("{ZH_SRC}/{page}"), found);
    }
    fail_on(problems);
}

/// The introduction of each edition links to the other's on the line under
/// its title, with a link that works on the built site (the Chinese
/// edition is built into `zh/` of the English one).
#[test]
fn each_introduction_links_to_the_other_edition_under_its_title() {
    const INTRO: &str = "ch00-introduction.md";
    let root = workspace_root();
    let all = editions(&root);
    let mut problems = BTreeMap::new();
    for (edition, want) in [
        (&all[0], "zh/ch00-introduction.md"),
        (&all[1], "../ch00-introduction.md"),
    ] {
        let path = edition.src_dir.join(INTRO);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // not translated yet: every_english_page_is_translated says so
        };
        let mut found = Vec::new();
        let title = text.lines().position(|l| l.starts_with("# "));
        let under = title.and_then(|t| {
            text.lines()
                .enumerate()
                .skip(t + 1)
                .find(|(_, l)| !l.trim().is_empty())
        });
        let to_other: Vec<(usize, String)> = links_and_images(&text)
            .into_iter()
            .filter(|(_, t, _)| is_edition_link(t, &path, edition, &all))
            .map(|(line, t, _)| (line, t))
            .collect();
        match under {
            Some((i, line)) if line.contains(&format!("]({want})")) => {
                if to_other.len() != 1 {
                    found.push(format!(
                        "links to the other edition {} times, {to_other:?}; once is enough",
                        to_other.len()
                    ));
                }
                let _ = i;
            }
            _ => found.push(format!(
                "the first line under the title should link to the other edition with \
                 `({want})` (see the other edition's introduction for the form)"
            )),
        }
        problems.insert(
            path.strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string(),
            found,
        );
    }
    fail_on(problems);
}
